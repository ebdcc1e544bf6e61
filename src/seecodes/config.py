"""The one Settings object. Nothing else in the code base reads the environment."""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import limits
from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the value a production start refuses
DEV_FORGE_APP_ID = "ari:cloud:ecosystem::app/00000000-0000-4000-8000-00000000dev0"
PRODUCTION_FORGE_JWKS_URL = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class StorageBackend(StrEnum):
    LOCAL = "local"  # a directory; the API serves HMAC-signed, expiring URLs itself
    S3 = "s3"  # any S3-compatible store with real presigned URLs


class RunExecution(StrEnum):
    IN_PROCESS = "in_process"  # the API process executes runs (one process, the embedded default)
    WORKERS = "workers"  # API processes only enqueue; `seecodes worker` processes execute


class SettingsError(RuntimeError):
    """The configuration cannot be used; the message says which setting and why."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEECODES_", extra="ignore", frozen=True)

    # -- deployment ---------------------------------------------------------------------------
    env: Environment = Environment.DEV
    var_dir: Path = Path("./var")
    database_url: str = ""  # empty: SQLite file under var_dir
    # Per process: with N workers a host holds up to N × (pool + overflow) connections.
    database_pool_size: int = Field(default=5, ge=1, le=100)
    database_max_overflow: int = Field(default=5, ge=0, le=100)
    # Bounds on waiting for the database, after which the request answers 503: an unreachable or
    # silent server would otherwise hold each request until the kernel gives up on the connect.
    database_connect_timeout_seconds: int = Field(default=5, ge=1, le=300)
    database_pool_timeout_seconds: float = Field(default=10, gt=0, le=300)
    public_base_url: str = "http://127.0.0.1:8080"
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # -- Forge (Jira App) authentication --------------------------------------------------------
    forge_jwks_url: str = ""  # empty in dev: a local dev key pair under var_dir is trusted
    forge_app_id: str = ""
    forge_jwks_cache_seconds: int = Field(default=3600, ge=60, le=86400)
    forge_jwks_refetch_cooldown_seconds: int = Field(default=30, ge=1, le=3600)

    # -- credentials we issue -------------------------------------------------------------------
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    request_key_ttl_seconds: int = Field(default=300, ge=10, le=3600)
    permit_ttl_seconds: int = Field(default=86400, ge=60, le=30 * 86400)
    enrollment_token_ttl_seconds: int = Field(default=86400, ge=60, le=30 * 86400)

    # -- IDE launch -----------------------------------------------------------------------------
    extension_id: str = Field(default="eprojac.seecodes-task-runner", pattern=r"^[a-z0-9-]+\.[a-z0-9-]+$")
    launch_baseurl_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # -- compatibility bridge (seed 000) --------------------------------------------------------
    legacy_bridge_enabled: bool = False

    # -- analytics, telemetry and rate limits ---------------------------------------------------
    # Off: POST /v1/jira/telemetry/events answers 410 with the contract's sentence.
    telemetry_ingestion_enabled: bool = False
    # Per task permit, in `limits` notation ("60/minute", "1000/hour"); a batch is one request.
    telemetry_rate_limit: str = "60/minute"
    # Events older than this (or more than 5 minutes ahead) are refused: they would rewrite history.
    telemetry_max_event_age_days: int = Field(default=7, ge=1, le=365)
    # Rate-limit counters shared by every process; empty: counted in each process's memory.
    redis_url: SecretStr | None = None

    # -- object storage (run uploads and artifacts) ----------------------------------------------
    storage_backend: StorageBackend = StorageBackend.LOCAL
    storage_dir: Path | None = None  # local backend; empty: var_dir / "storage"
    storage_bucket: str = Field(default="seecodes-runs", min_length=3, max_length=63)
    s3_endpoint_url: str | None = None  # empty: AWS; set for MinIO, SeaweedFS, R2, …
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    upload_url_ttl_seconds: int = Field(default=900, ge=30, le=7 * 86400)
    download_url_ttl_seconds: int = Field(default=3600, ge=30, le=7 * 86400)
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=5 * 1024**3)
    uploads_retention_hours: float = Field(default=48, ge=0, le=24 * 365)
    # A run never started: cancelled and its uploads deleted after this long.
    unstarted_runs_expire_hours: float = Field(default=24, ge=0.01, le=24 * 365)
    # A run awaiting approval this long undecided is rejected (checked every 10 minutes).
    approval_expire_hours: float = Field(default=24, ge=0.01, le=24 * 365)
    # How long a read-only share link to a run opens it (POST /v1/tasks/{runId}/share).
    share_link_ttl_hours: float = Field(default=24, ge=0.01, le=24 * 90)
    # Per installation: runs initialized and not started yet (init beyond it is 409), and bytes of
    # uploaded input held for started runs until their uploads are purged (start beyond it is 413).
    max_unstarted_runs: int = Field(default=200, ge=1, le=100_000)
    # Progress versions kept per task (the newest always); older ones are pruned every 10 minutes.
    max_progress_versions: int = Field(default=100, ge=1, le=100_000)
    # Files one project's shared index may hold; an upsert past it is 413.
    max_index_entries_per_project: int = Field(default=1_000_000, ge=100, le=100_000_000)
    storage_quota_bytes: int = Field(default=1024**3, ge=1024, le=1024**5)
    artifacts_retention_days: float = Field(default=0, ge=0, le=3650)  # 0: output and logs kept

    # -- retention (the retention sweep, every minute: seecodes/retention) -------------------------
    # Expired task permits (revoked or not) stay listable (`admin permits list --all`) this long, and
    # spent or expired enrollment tokens beside them; then both are deleted.
    expired_credentials_retention_days: float = Field(default=30, ge=0, le=3650)
    # Accepted telemetry events feed the team board's VS Code items; older ones are deleted (never
    # before SEECODES_TELEMETRY_MAX_EVENT_AGE_DAYS + 1 day, while their requestId still refuses replays).
    telemetry_retention_days: float = Field(default=400, ge=1, le=3650)
    # Finished run-engine workflows (DBOS's own tables: status, inputs, outputs, steps) are deleted
    # this long after they ended; pending, enqueued and delayed ones never are.
    run_engine_retention_days: float = Field(default=7, gt=0, le=3650)

    # -- HTTP limits `seecodes serve` enforces before any route runs (kit/http_server.py) ---------
    http_max_header_bytes: int = Field(default=64 * 1024, ge=4096, le=1024 * 1024)
    http_max_headers: int = Field(default=100, ge=10, le=1000)
    http_header_timeout_seconds: float = Field(default=10, ge=0.1, le=600)
    # Longest pause while a request body is still arriving.
    http_body_timeout_seconds: float = Field(default=30, ge=0.1, le=3600)
    # Open connections per process; beyond it uvicorn answers 503 at once.
    http_max_connections: int = Field(default=1000, ge=10, le=100_000)
    # Requests one process works on at once (event streams and health checks aside); one more
    # waits at most the admission wait for a slot, then is answered 503 with Retry-After.
    http_max_in_flight: int = Field(default=32, ge=1, le=100_000)
    http_admission_wait_seconds: float = Field(default=0.1, ge=0, le=30)

    # -- runs -----------------------------------------------------------------------------------
    models_file: Path | None = None  # TOML model catalog; empty: the built-in catalog
    run_execution: RunExecution = RunExecution.IN_PROCESS
    run_engine_database_url: str = ""  # DBOS system database; empty: var_dir/dbos.sqlite or database_url
    run_queue_poll_seconds: float = Field(default=0.05, ge=0.005, le=10)
    run_timeout_seconds: float = Field(default=600, ge=1, le=24 * 3600)
    # At most this many runs of one installation execute at once on a model (0: up to the model's
    # own concurrency). An installation's own cap (`seecodes admin installations concurrency`) wins.
    run_installation_concurrency: int = Field(default=0, ge=0, le=10_000)
    # Server-sent event streams (GET /v1/tasks/{runId}/events), counted per API process: beyond
    # these a new stream is 429 with Retry-After; after the lifetime a stream closes and the client
    # resumes with Last-Event-ID.
    run_events_per_permit: int = Field(default=4, ge=1, le=1000)
    run_events_per_installation: int = Field(default=64, ge=1, le=100_000)
    run_events_max_seconds: float = Field(default=300, ge=1, le=24 * 3600)
    provider_max_retries: int = Field(default=3, ge=0, le=10)
    # Longest wait for a provider to answer a request or send the stream's next chunk.
    provider_timeout_seconds: float = Field(default=120, ge=0.1, le=3600)
    # llama.cpp threads for the embedded model. 1: on a busy 2-core host, 2 threads ran 5–14× slower.
    local_model_threads: int = Field(default=1, ge=1, le=64)
    worker_id: str = Field(default="worker-1", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # A worker that has not beaten for this long is taken for dead: a live worker takes over its
    # unfinished runs. Too short, and a worker stalled that long has its runs executed twice.
    worker_liveness_timeout_seconds: float = Field(default=30, ge=1, le=3600)
    # A `seecodes worker` serves no HTTP, so the metrics of the runs it executes (durations, provider
    # calls, credits, Jira writes) are on an endpoint of its own: GET http://HOST:PORT/metrics. 0: off.
    # One port per worker on a host; loopback by default, like /metrics it needs no credential.
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    worker_metrics_host: str = Field(default="127.0.0.1", min_length=1)

    # -- Jira connector (OAuth 2.0 3LO app, Forge system token, progress write-back) ---------------
    jira_client_id: str = ""  # the 3LO app's client id, from developer.atlassian.com/console/myapps
    jira_client_secret: SecretStr = SecretStr("")
    # The callback registered on the 3LO app, exactly; empty: {public_base_url}/v1/integrations/jira/callback
    jira_redirect_uri: str = ""
    # Where the browser lands after the callback (?jira=connected|choose_site|error&reason=…);
    # empty: {public_base_url}/v1/integrations/jira/done, a plain page of ours.
    jira_post_connect_url: str = ""
    # Fernet keys (Fernet.generate_key()), comma-separated: the first encrypts, every one decrypts.
    # Empty outside production: a key derived from SEECODES_SECRET_KEY.
    jira_encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    jira_auth_base_url: str = "https://auth.atlassian.com"  # authorize and token endpoints
    jira_api_base_url: str = "https://api.atlassian.com"  # accessible-resources and /ex/jira/<cloudId>
    jira_http_timeout_seconds: float = Field(default=10, ge=1, le=120)
    # Progress POSTs for one issue within this window become one write.
    jira_debounce_seconds: float = Field(default=10, ge=0, le=3600)
    jira_max_retries: int = Field(default=5, ge=0, le=20)  # 429 / 5xx retries of one write
    jira_max_retry_after_seconds: float = Field(default=300, ge=1, le=24 * 3600)  # longer: give up
    jira_ticket_model: str = ""  # catalog model that drafts execution tickets; empty: the default
    # Model drafts of execution tickets per installation (each is charged like a run).
    jira_ticket_drafts_rate_limit: str = "10/minute"
    # How long /v1/execution/generate waits for a model draft (Forge gives a request 25 s); after
    # it the answer says the batch is pending, and the draft still lands in it.
    jira_draft_wait_seconds: float = Field(default=20, ge=0.1, le=600)

    # -- outbound webhooks (issue 15 §3) ----------------------------------------------------------
    # Hosts a webhook endpoint may be on even though they resolve to loopback, private, link-local
    # or reserved addresses ("host" or "host:port", comma-separated): an in-house receiver, a test's.
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # One attempt: connect, send, and read the answer (of which at most 64 KiB is read).
    webhook_timeout_seconds: float = Field(default=10, ge=0.1, le=60)
    # Waits between the attempts of one delivery, in seconds, comma-separated: one attempt more
    # than there are waits. The default follows the Standard Webhooks guidance (5 s to 10 h).
    webhook_retry_seconds: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0], max_length=20
    )
    # Failed attempts in a row (over every delivery) after which an endpoint is disabled until its
    # owner enables it again.
    webhook_disable_after_failures: int = Field(default=15, ge=1, le=10_000)
    # Settled deliveries (delivered or failed) are kept in the delivery log this long.
    webhook_delivery_retention_days: float = Field(default=30, ge=0.01, le=3650)

    @field_validator("previous_secret_keys", "jira_encryption_keys", mode="before")
    @classmethod
    def _split_secret_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("launch_baseurl_allowlist", mode="before")
    @classmethod
    def _split_url_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_host_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_retry_seconds", mode="before")
    @classmethod
    def _split_number_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_retry_seconds")
    @classmethod
    def _bounded_waits(cls, value: list[float]) -> list[float]:
        if any(not 0 <= wait <= 7 * 86400 for wait in value):
            raise ValueError("every wait must be between 0 and 604800 seconds")
        return value

    @field_validator("telemetry_rate_limit", "jira_ticket_drafts_rate_limit")
    @classmethod
    def _parseable_rate_limit(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError as error:
            raise ValueError(f"not a rate limit like '60/minute': {value!r}") from error
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _postgres_scheme(cls, value: str) -> str:
        # Heroku, libpq and most hosting panels write postgres://; SQLAlchemy only knows postgresql://.
        if value.startswith("postgres://"):
            return "postgresql://" + value.removeprefix("postgres://")
        return value

    @field_validator("public_base_url", "jira_auth_base_url", "jira_api_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("jira_encryption_keys")
    @classmethod
    def _fernet_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            try:
                Fernet(key.get_secret_value().encode())
            except ValueError as error:
                raise ValueError("every SEECODES_JIRA_ENCRYPTION_KEYS entry must be a Fernet key") from error
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env is not Environment.PRODUCTION:
            return self
        problems = []
        if _is_placeholder(self.secret_key):
            problems.append("SEECODES_SECRET_KEY is a placeholder or shorter than 32 characters")
        for position, previous in enumerate(self.previous_secret_keys, start=1):
            if _is_placeholder(previous):
                problems.append(
                    f"SEECODES_PREVIOUS_SECRET_KEYS entry {position} is a placeholder or shorter than 32 characters"
                )
        if not self.forge_app_id:
            problems.append("SEECODES_FORGE_APP_ID is empty")
        if not self.forge_jwks_url.startswith("https://"):
            problems.append("SEECODES_FORGE_JWKS_URL must be an https URL in production")
        if not self.database_url:
            problems.append("SEECODES_DATABASE_URL must be set in production")
        if "public_base_url" not in self.model_fields_set:
            # Outside production `serve` follows the address it serves; behind a proxy only the
            # operator knows the origin that IDEs and browsers reach.
            problems.append("SEECODES_PUBLIC_BASE_URL must be set in production (the origin clients reach)")
        if self.jira_client_id and not self.jira_client_secret.get_secret_value():
            problems.append("SEECODES_JIRA_CLIENT_SECRET is empty while SEECODES_JIRA_CLIENT_ID is set")
        if self.jira_client_id and not self.jira_encryption_keys:
            problems.append("SEECODES_JIRA_ENCRYPTION_KEYS is empty while SEECODES_JIRA_CLIENT_ID is set")
        if problems:
            raise SettingsError("refusing to start in production: " + "; ".join(problems))
        return self

    # -- derived values -------------------------------------------------------------------------
    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def embedded_database_path(self) -> Path:
        """The embedded default's SQLite file (used when SEECODES_DATABASE_URL is empty)."""
        return self.var_dir / "seecodes.db"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.embedded_database_path.as_posix()}"

    @property
    def effective_forge_app_id(self) -> str:
        """Outside production an unset app id means the dev app that `admin forge-token` signs for."""
        if self.forge_app_id:
            return self.forge_app_id
        if self.env is Environment.DEV:
            return DEV_FORGE_APP_ID
        raise SettingsError("SEECODES_FORGE_APP_ID is empty; only dev may run without it")

    @property
    def jira_callback_url(self) -> str:
        return self.jira_redirect_uri or f"{self.public_base_url}/v1/integrations/jira/callback"

    @property
    def jira_done_url(self) -> str:
        return self.jira_post_connect_url or f"{self.public_base_url}/v1/integrations/jira/done"

    @property
    def uses_dev_forge_key(self) -> bool:
        return not self.forge_jwks_url and self.env is Environment.DEV

    @property
    def dev_forge_key_path(self) -> Path:
        return self.var_dir / "dev-forge-key.pem"

    @property
    def dev_secret_key_path(self) -> Path:
        return self.var_dir / "dev-secret-key"

    @property
    def uses_dev_secret(self) -> bool:
        """Outside production an unset (placeholder) secret means the random one kept under var/."""
        return _is_placeholder(self.secret_key) and self.env is not Environment.PRODUCTION

    @property
    def local_storage_dir(self) -> Path:
        return self.storage_dir or self.var_dir / "storage"

    def signing_secrets(self) -> list[bytes]:
        """Current secret first; previous ones still verify what they signed until they expire.
        A placeholder never verifies anything (production refuses to start with one)."""
        previous = [
            s.get_secret_value().encode() for s in self.previous_secret_keys if not _is_placeholder(s)
        ]
        return [self.secret_key_bytes(), *previous]

    def secret_key_bytes(self) -> bytes:
        """Outside production an unset (placeholder) secret is replaced by a random one kept under
        var/, so no environment signs with a value anyone can read in this repository."""
        if self.uses_dev_secret:
            return _dev_secret(self.dev_secret_key_path)
        return self.secret_key.get_secret_value().encode()


def _is_placeholder(secret: SecretStr) -> bool:
    value = secret.get_secret_value()
    return value == PLACEHOLDER_SECRET or len(value) < 32


def _dev_secret(path: Path) -> bytes:
    """A dev install keeps one random secret on disk so permits survive a restart."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip().encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment; a bad value raises SettingsError naming the variable,
    what it got and what it takes, one line per bad variable."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(_explain(error)) from None


def _explain(error: ValidationError) -> str:
    lines = []
    for problem in error.errors(include_url=False):
        field = str(problem["loc"][0]) if problem["loc"] else ""
        variable = f"SEECODES_{field.upper()}" if field else "the settings"
        got = problem.get("input")
        # Never echo what may be a credential (secrets, keys, tokens, a database URL's password).
        hidden = any(word in field for word in ("secret", "key", "token", "password", "database_url"))
        shown = "" if hidden else f" got {str(got)[:80]!r};"
        lines.append(f"{variable}:{shown} {problem['msg'][0].lower()}{problem['msg'][1:]}")
    return "\n".join(lines)


def provider_api_key(env_name: str) -> SecretStr | None:
    """A model provider's key, read from the variable the model catalog names at the moment of use.

    The catalog holds only the variable's name, so keys can be rotated without editing it.
    """
    value = os.environ.get(env_name, "").strip()
    return SecretStr(value) if value else None


# prometheus_client's own variable: with several uvicorn workers, each process writes its metrics
# to files in this directory, and /metrics aggregates them.
METRICS_MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def metrics_multiprocess_dir() -> str | None:
    return os.environ.get(METRICS_MULTIPROCESS_VARIABLE) or None


def use_metrics_multiprocess_dir(path: Path) -> None:
    """Set before the workers start, so every one of them (and prometheus_client) sees it."""
    os.environ[METRICS_MULTIPROCESS_VARIABLE] = str(path.resolve())
