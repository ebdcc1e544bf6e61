"""The composition root: builds the process's runtime and wires the parts that must not know each
other. Imported by `app.py` and `cli.py` only (an import-linter contract says so).

* Workflows: importing a `jobs.py` module registers its DBOS workflows; their queues and schedules
  are listed here and handed to the engine when it starts. A new job is one line below.
* After-commit actions recorded by services go to the engine (`Database.dispatch_with`).
* The ports security and tasks define are filled with the Jira connector's implementations, so
  neither of them imports the connector.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.config import Settings, SettingsError
from seecodes.db import Database
from seecodes.engine import Engine
from seecodes.jira import jobs as jira_jobs
from seecodes.jira import tokens as jira_tokens
from seecodes.jira import writeback
from seecodes.kit.clock import Clock
from seecodes.models import ProgressReport
from seecodes.retention import jobs as retention_jobs
from seecodes.runs import jobs as run_jobs
from seecodes.runs.catalog import load_catalog
from seecodes.runs.storage import build_storage
from seecodes.runs.streams import StreamGate
from seecodes.runs.watch import RunWatch
from seecodes.runtime import Runtime, Workflows
from seecodes.security.callers import ignore_forge_token
from seecodes.security.dev_keys import jwks_document, load_or_create_private_key
from seecodes.security.forge import ForgeIdentity, ForgeVerifier, JwksKeys
from seecodes.security.permits import PermitCodec
from seecodes.tasks import jobs as task_jobs
from seecodes.telemetry.limiter import RateLimiter
from seecodes.webhooks import events as webhook_events
from seecodes.webhooks import jobs as webhook_jobs
from seecodes.webhooks.delivery import WebhookSender

WORKFLOWS = Workflows(
    queues=(run_jobs.run_queues, jira_jobs.jira_queues, webhook_jobs.webhook_queues),
    schedules=(
        *run_jobs.SCHEDULES,
        *jira_jobs.SCHEDULES,
        *task_jobs.SCHEDULES,
        *retention_jobs.SCHEDULES,
        *webhook_jobs.SCHEDULES,
    ),
)


def build_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    clock = clock or Clock()
    db = Database(
        settings.effective_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        connect_timeout=settings.database_connect_timeout_seconds,
        pool_timeout=settings.database_pool_timeout_seconds,
    )
    engine = Engine(settings)
    db.dispatch_with(engine)
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    runtime = Runtime(
        settings=settings,
        clock=clock,
        db=db,
        forge=ForgeVerifier(
            _forge_keys(settings, clock), app_id=settings.effective_forge_app_id, clock=clock
        ),
        permits=PermitCodec(settings.signing_secrets(), clock),
        engine=engine,
        catalog=load_catalog(settings.models_file),
        storage=build_storage(settings, clock),
        telemetry_limiter=RateLimiter(
            settings.telemetry_rate_limit, redis_url=redis_url, namespace="telemetry-events"
        ),
        ticket_draft_limiter=RateLimiter(
            settings.jira_ticket_drafts_rate_limit, redis_url=redis_url, namespace="ticket-drafts"
        ),
        streams=StreamGate(
            per_permit=settings.run_events_per_permit, per_installation=settings.run_events_per_installation
        ),
        run_watch=RunWatch(db),
        webhooks=WebhookSender(timeout_seconds=settings.webhook_timeout_seconds),
        forge_tokens=ignore_forge_token,
        workflows=WORKFLOWS,
    )
    _connect_jira(runtime)
    return runtime


def _connect_jira(runtime: Runtime) -> None:
    """The connector's side of the two ports. Each reads the runtime when called, so a test that
    replaces the runtime's settings is seen."""

    async def keep_forge_token(identity: ForgeIdentity, token: str | None) -> None:
        await jira_tokens.capture_forge_token(runtime.db, runtime.clock, runtime.settings, identity, token)

    async def request_writeback(session: AsyncSession, clock: Clock, report: ProgressReport) -> None:
        await writeback.progress_saved(
            session, clock, report, debounce_seconds=runtime.settings.jira_debounce_seconds
        )

    runtime.forge_tokens = keep_forge_token
    runtime.progress_listeners = (request_writeback, webhook_events.progress_saved)


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
