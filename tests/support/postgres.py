"""The PostgreSQL tier: the shared server on 127.0.0.1:5432, a database per test cloned from a
migrated template."""

from __future__ import annotations

import os
from typing import Any

import psycopg

POSTGRES_ADMIN_URL = os.environ.get(
    "SEECODES_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def admin_connection() -> psycopg.Connection[Any]:
    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)


def database_url(name: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
