"""GET /v1/models: the contract's shape, no credential, only models that can run here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from seecodes.app import create_app
from seecodes.runs.catalog import CatalogError
from seecodes.runs.providers.local import local_model_problem
from tests.support.app import make_settings, runtime_of
from tests.support.forge import FakeForge

CONTRACT_EXAMPLE = """
[[models]]
id = "strict light"
name = "strict light"
max_context = 100000
description = "Fast, high-context strict tasks"
pricing = { base = 12.5, per_token = 0.0006 }
[models.provider]
kind = "openai"
model = "some-model"
base_url = "http://127.0.0.1:9/v1"

[[models]]
id = "keyed"
max_context = 4096
pricing = { base = 1, per_token = 0 }
[models.provider]
kind = "openai"
model = "other"
api_key_env = "SEECODES_TEST_MODELS_ROUTE_KEY"
"""

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def api(forge: FakeForge, tmp_path: Path, sqlite_url: str) -> Client:
    @asynccontextmanager
    async def client(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(make_settings(forge, tmp_path, sqlite_url, **overrides))
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield http
        finally:
            await runtime_of(app).close()

    return client


async def test_lists_the_catalog_in_the_contracts_shape_without_a_credential(
    api: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models_file = tmp_path / "models.toml"
    models_file.write_text(CONTRACT_EXAMPLE)
    monkeypatch.setenv("SEECODES_TEST_MODELS_ROUTE_KEY", "sk-route-test")

    async with api(models_file=models_file) as http:
        response = await http.get("/v1/models")

    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "models": [
            {
                "id": "strict light",
                "name": "strict light",
                "maxContext": 100000,
                "description": "Fast, high-context strict tasks",
                "pricing": {"base": 12.5, "per_token": 0.0006},
            },
            {
                "id": "keyed",
                "name": "keyed",
                "maxContext": 4096,
                "description": "",
                "pricing": {"base": 1.0, "per_token": 0.0},
            },
        ],
    }
    assert "sk-route-test" not in response.text


async def test_a_model_whose_key_is_not_set_is_not_offered(
    api: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models_file = tmp_path / "models.toml"
    models_file.write_text(CONTRACT_EXAMPLE)
    monkeypatch.delenv("SEECODES_TEST_MODELS_ROUTE_KEY", raising=False)

    async with api(models_file=models_file) as http:
        models = (await http.get("/v1/models")).json()["models"]

    assert [model["id"] for model in models] == ["strict light"]


async def test_built_in_catalog_offers_the_hosted_tiers_once_their_keys_are_set(
    api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")

    async with api() as http:
        models = (await http.get("/v1/models")).json()["models"]

    expected = (
        ["strict", "strict deep"] if local_model_problem() else ["strict light", "strict", "strict deep"]
    )
    assert [model["id"] for model in models] == expected


async def test_bad_models_file_stops_the_app_naming_file_and_field(api: Client, tmp_path: Path) -> None:
    models_file = tmp_path / "models.toml"
    models_file.write_text(CONTRACT_EXAMPLE.replace("max_context = 4096", "max_context = -1"))

    with pytest.raises(CatalogError, match=r'models\.toml: models\[1\] \("keyed"\)\.max_context'):
        async with api(models_file=models_file):
            pass


async def test_the_route_is_documented_in_openapi(api: Client) -> None:
    async with api() as http:
        spec = (await http.get("/openapi.json")).json()

    operation = spec["paths"]["/v1/models"]["get"]
    assert operation["summary"] == "Read the model catalog"
    assert operation["security"] == []  # public, said explicitly
