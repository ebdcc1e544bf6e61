"""The long-lived objects one process needs, built once from Settings and kept on app.state."""

from __future__ import annotations

from dataclasses import dataclass

from seecodes.config import Settings, SettingsError
from seecodes.db import Database
from seecodes.engine import Engine
from seecodes.kit.clock import Clock
from seecodes.runs.catalog import Catalog, load_catalog
from seecodes.runs.storage import ObjectStorage, build_storage
from seecodes.security.dev_keys import jwks_document, load_or_create_private_key
from seecodes.security.forge import ForgeVerifier, JwksKeys
from seecodes.security.permits import PermitCodec


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    db: Database
    forge: ForgeVerifier
    permits: PermitCodec
    engine: Engine
    catalog: Catalog
    storage: ObjectStorage

    async def start(self, *, execute_runs: bool) -> None:
        """execute_runs: this process runs workflows (in-process shape, or a worker); else it only enqueues."""
        await self.storage.ensure_bucket()
        await self.engine.start(self, execute=execute_runs)

    async def close(self) -> None:
        await self.engine.stop()
        await self.storage.close()
        await self.db.dispose()


def build_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    clock = clock or Clock()
    return Runtime(
        settings=settings,
        clock=clock,
        db=Database(
            settings.effective_database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            connect_timeout=settings.database_connect_timeout_seconds,
            pool_timeout=settings.database_pool_timeout_seconds,
        ),
        forge=ForgeVerifier(
            _forge_keys(settings, clock), app_id=settings.effective_forge_app_id, clock=clock
        ),
        permits=PermitCodec(settings.signing_secrets(), clock),
        engine=Engine(settings),
        catalog=load_catalog(settings.models_file),
        storage=build_storage(settings, clock),
    )


def _forge_keys(settings: Settings, clock: Clock) -> JwksKeys:
    if settings.uses_dev_forge_key:
        key = load_or_create_private_key(settings.dev_forge_key_path)
        return JwksKeys.from_document(jwks_document(key), clock)
    if not settings.forge_jwks_url:
        raise SettingsError("SEECODES_FORGE_JWKS_URL is required outside dev")
    return JwksKeys(
        settings.forge_jwks_url,
        cache_seconds=settings.forge_jwks_cache_seconds,
        cooldown_seconds=settings.forge_jwks_refetch_cooldown_seconds,
        clock=clock,
    )
