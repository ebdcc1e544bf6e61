"""What seecodes checks, restated for the lean server: permits, FITs, request keys, input rules.

Each rule names where seecodes keeps it (src/seecodes/…); a refusal is the same status, error code
and sentence seecodes answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import orjson
from fastapi import Request
from fastapi.responses import Response

from lean.db import Database, Tx

# -- the rules seecodes applies, restated (src/seecodes/…) ------------------------------------------
PERMIT_TYPE = "sc-permit+jwt"
PERMIT_ISSUER = "seecodes"
PERMIT_AUDIENCE = "seecodes:task-permit"
FIT_ISSUER = "forge/invocation-token"
FIT_LEEWAY_SECONDS = 10
INSTALLATION_ARI_PREFIX = "ari:cloud:ecosystem::installation/"
REQUEST_KEY_PREFIX = "sc_jira_req_"
MAX_PRESENTED_KEY_LENGTH = 128
MAX_REQUEST_KEY_HEADER = 256
MAX_BEARER_LENGTH = 8192
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_HINT_CHARS = 255
MAX_PROGRESS_ITEMS, MAX_PROGRESS_ITEM_CHARS = 200, 2000
MAX_QUERY_ITEMS, MAX_PATH_BYTES = 5000, 1024
MAX_WINDOW = timedelta(hours=6)
CLOCK_SKEW = timedelta(minutes=5)
MAX_LISTED_FILES, MAX_LOC, MAX_FILES_COUNT = 500, 1_000_000, 100_000
MAX_TASK_AGE_MINUTES = 10 * 366 * 24 * 60

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID_RE = re.compile(rf"^{_UUID}$")
_API_BASE_URL_RE = re.compile(rf"^https://api\.atlassian\.com/ex/jira/({_UUID})$")
_JIRA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
RUN_ID = re.compile(r"^run_[a-z0-9]{1,36}$")
_PERCENTAGE = re.compile(r"^(100|[1-9]?[0-9])%$")
_FILE_HASH = re.compile(r"^[0-9a-f]{64}$")
_NO_CONTROL = re.compile(r"^[^\x00-\x1f\x7f]+$")
CONFIDENCES = ("Low", "Medium", "High")
PROGRESS_FIELDS = frozenset({"ready", "left", "progress", "confidence", "risks", "logs"})
SNAPSHOT_FIELDS = frozenset(
    {
        "windowStartedAt",
        "windowEndedAt",
        "taskStartedAt",
        "taskAgeMinutes",
        "humanActiveMs",
        "locAdded",
        "locRemoved",
        "locTotal",
        "changedFiles",
        "changedFilesCount",
        "architectureChange",
        "logicChange",
        "specificationUiChange",
        "projectId",
        "taskId",
    }
)
# Effort formula v1 (tasks/effort.py) in hundredths of a unit, per minute of activity.
_ACTIVE_MINUTE, _LOC, _FILE, _ARCHITECTURE, _LOGIC, _SPECIFICATION_UI = 180, 18, 300, 2400, 1400, 1000
_MS_PER_MINUTE = 60_000
JSON = "application/json"
NEXT_KEY_HEADER = "x-seecodes-next-request-key"
REQUEST_KEY_HEADER = "x-seecodes-jira-request-key"
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


class Refusal(Exception):
    """A non-2xx answer in seecodes' envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        fields: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}
        self.fields = fields

    def response(self) -> Response:
        body: dict[str, Any] = {"ok": False, "error": self.code, "detail": self.detail}
        if self.fields is not None:
            body["fields"] = self.fields
        return Response(orjson.dumps(body), self.status, self.headers, media_type=JSON)


def invalid_permit(detail: str = "The task permit is missing, invalid, expired or revoked.") -> Refusal:
    return Refusal(401, "invalid_permit", detail)


def invalid_fit(detail: str = "The Forge invocation token could not be verified.") -> Refusal:
    return Refusal(401, "invalid_forge_token", detail)


def invalid_input(loc: list[Any], msg: str, kind: str = "value_error") -> Refusal:
    return Refusal(
        422,
        "validation_error",
        "The request is not valid.",
        fields=[{"loc": loc, "msg": msg, "type": kind}],
    )


def scope_mismatch() -> Refusal:
    return Refusal(403, "permit_scope_mismatch", "The task permit is bound to another project or task.")


# -- settings ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    database_url: str  # sqlite:///path or postgresql://…
    permit_keys: dict[str, bytes]  # kid → secret, the current one first
    jwks_path: Path
    app_id: str
    request_key_ttl: int
    pg_driver: str
    pg_pool_size: int

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        secrets_newest_first = [env["SEECODES_SECRET_KEY"].encode()] + [
            part.strip().encode()
            for part in env.get("SEECODES_PREVIOUS_SECRET_KEYS", "").split(",")
            if len(part.strip()) >= 32
        ]
        jwks = env["SEECODES_FORGE_JWKS_URL"]
        return cls(
            database_url=env["SEECODES_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1),
            permit_keys={_permit_kid(secret): secret for secret in secrets_newest_first},
            jwks_path=Path(jwks.removeprefix("file://")),
            app_id=env["SEECODES_FORGE_APP_ID"],
            request_key_ttl=int(env.get("SEECODES_REQUEST_KEY_TTL_SECONDS", "300")),
            pg_driver=env.get("LEAN_PG_DRIVER", "async"),
            pg_pool_size=int(env.get("LEAN_PG_POOL_SIZE", "5")),
        )


def _permit_kid(secret: bytes) -> str:
    return hashlib.sha256(b"seecodes-permit-kid:" + secret).hexdigest()[:16]


# -- credentials -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Permit:
    jti: str
    installation_id: str
    cloud_id: str | None
    project_id: str
    task_id: str
    user_account_id: str


@dataclass(frozen=True, slots=True)
class Identity:
    installation_id: str
    app_id: str
    cloud_id: str | None
    site_url: str | None
    principal: str
    environment_type: str | None
    license_active: bool | None
    capability_set: str | None


def bearer(request: Request, refusal: Callable[[], Refusal]) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > MAX_BEARER_LENGTH:
        raise refusal()
    return token


class Credentials:
    def __init__(self, config: Config) -> None:
        self._permit_keys = config.permit_keys
        self._app_id = config.app_id
        self._fit_keys = _jwks_keys(json.loads(config.jwks_path.read_text()))

    def permit(self, token: str) -> Permit:
        try:
            header = jwt.get_unverified_header(token)
            secret = self._permit_keys.get(str(header.get("kid")))
            if header.get("typ") != PERMIT_TYPE or header.get("alg") != "HS256" or secret is None:
                raise invalid_permit()
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=PERMIT_AUDIENCE,
                issuer=PERMIT_ISSUER,
                options={"require": ["exp", "iat", "jti", "sub"], "strict_aud": True, "verify_exp": False},
            )
            if int(claims["exp"]) <= time.time():
                raise invalid_permit("The task permit has expired; open the task from Jira again.")
            return Permit(
                jti=str(claims["jti"]),
                installation_id=str(claims["inst"]),
                cloud_id=claims.get("cid"),
                project_id=str(claims["pid"]),
                task_id=str(claims["tid"]),
                user_account_id=str(claims["sub"]),
            )
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as error:
            raise invalid_permit() from error

    def fit(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise invalid_fit("The Forge invocation token is malformed.") from error
        if header.get("alg") != "RS256":
            raise invalid_fit("The Forge invocation token must be signed with RS256.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise invalid_fit("The Forge invocation token has no key id.")
        key = self._fit_keys.get(kid)
        if key is None:
            raise invalid_fit("The Forge invocation token is signed by an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._app_id,
                issuer=FIT_ISSUER,
                leeway=FIT_LEEWAY_SECONDS,
                options={"require": ["exp", "nbf", "iat", "iss", "aud", "jti"], "strict_aud": True},
            )
        except jwt.PyJWTError as error:
            raise invalid_fit(f"The Forge invocation token was refused: {error}.") from error
        return _identity(claims)


def _jwks_keys(document: dict[str, Any]) -> dict[str, Any]:
    keys = {}
    for entry in document.get("keys", []):
        if isinstance(entry, dict) and entry.get("kty") == "RSA" and entry.get("kid"):
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256").key
    return keys


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _identity(claims: dict[str, Any]) -> Identity:
    app = claims.get("app")
    if not isinstance(app, dict):
        raise invalid_fit("The Forge invocation token carries no app claim.")
    installation_id = app.get("installationId")
    if not isinstance(installation_id, str) or not installation_id:
        raise invalid_fit("The Forge invocation token carries no installation id.")
    context = claims.get("context") if isinstance(claims.get("context"), dict) else {}
    api_base = _API_BASE_URL_RE.match(_text(app.get("apiBaseUrl")) or "")
    environment = app.get("environment") if isinstance(app.get("environment"), dict) else {}
    license_claim = app.get("license") if isinstance(app.get("license"), dict) else None
    capability = (license_claim or {}).get("capabilitySet")
    return Identity(
        installation_id=installation_ari(installation_id),
        app_id=str(app.get("id") or ""),
        cloud_id=_text(context.get("cloudId")) or (api_base.group(1) if api_base else None),
        site_url=_text(context.get("siteUrl")),
        principal=_text(claims.get("principal")) or "",
        environment_type=_text(environment.get("type")),
        license_active=bool(license_claim.get("isActive")) if license_claim is not None else None,
        capability_set=capability.lower() if isinstance(capability, str) else None,
    )


def installation_ari(value: str) -> str:
    return INSTALLATION_ARI_PREFIX + value if _UUID_RE.match(value) else value


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def check_permit_row(tx: Tx, permit: Permit) -> None:
    """The jti row binds every claim; revocation and installation status count at once."""
    row = await tx.one(
        "SELECT p.revoked_at, i.status FROM task_permits p JOIN installations i ON i.id = p.installation_id"
        " WHERE p.jti = ? AND p.installation_id = ? AND p.project_id = ? AND p.task_id = ?"
        " AND p.user_account_id = ?",
        (permit.jti, permit.installation_id, permit.project_id, permit.task_id, permit.user_account_id),
    )
    if row is None:
        raise invalid_permit()
    if row[0] is not None:
        raise invalid_permit("The task permit has been revoked.")
    if row[1] != "active":
        raise invalid_permit("The installation this permit belongs to is not active.")


async def issue_request_key(
    db: Database, tx: Tx, chain_id: str, installation_id: str, principal: str, ttl: int
) -> tuple[str, int]:
    key = REQUEST_KEY_PREFIX + secrets.token_urlsafe(32)
    issued_at = int(time.time())
    await tx.run(
        "INSERT INTO jira_request_keys (key_hash, chain_id, installation_id, principal, issued_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            hash_secret(key),
            chain_id,
            installation_id,
            principal,
            db.time(datetime.fromtimestamp(issued_at, UTC)),
            db.time(datetime.fromtimestamp(issued_at + ttl, UTC)),
        ),
    )
    return key, issued_at + ttl


async def request_key_refusal(
    db: Database, tx: Tx, key_hash: str, identity: Identity, now: datetime
) -> Refusal:
    """Why a key did not spend; a replayed or misbound key revokes its chain (committed anyway)."""
    row = await tx.one(
        "SELECT chain_id, installation_id, principal, consumed_at, revoked_at FROM jira_request_keys"
        " WHERE key_hash = ?",
        (key_hash,),
    )
    if row is None:
        return key_refusal("request_key_invalid")
    chain_id, installation_id, principal, consumed_at, revoked_at = row
    stolen = installation_id != identity.installation_id or principal != identity.principal
    if stolen or consumed_at is not None or revoked_at is not None:
        await tx.run(
            "UPDATE jira_request_keys SET revoked_at = ? WHERE chain_id = ? AND revoked_at IS NULL",
            (db.time(now), chain_id),
        )
        return key_refusal("request_key_mismatch" if stolen else "request_key_replayed")
    return key_refusal("request_key_expired")


_KEY_REFUSALS = {
    "request_key_invalid": "The Jira request key is unknown; bootstrap with POST /v1/jira/request-key.",
    "request_key_missing": "X-SeeCodes-Jira-Request-Key is required; bootstrap with POST /v1/jira/request-key.",
    "request_key_expired": "The Jira request key has expired; bootstrap with POST /v1/jira/request-key.",
    "request_key_replayed": "The Jira request key was already used; its chain is revoked. Bootstrap with "
    "POST /v1/jira/request-key.",
    "request_key_mismatch": "The Jira request key belongs to another installation or user; its chain is revoked.",
}


def key_refusal(code: str) -> Refusal:
    return Refusal(403, code, _KEY_REFUSALS[code])


def installation_inactive(headers: dict[str, str] | None = None) -> Refusal:
    return Refusal(403, "installation_inactive", "This installation is not active.", headers=headers)


# -- input -------------------------------------------------------------------------------------------
async def json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise Refusal(413, "payload_too_large", f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise invalid_input(["body"], "JSON decode error", "json_invalid") from error
    # Only a \u0000 escape can put a NUL into a parsed string (seecodes refuses them: 422).
    if b"\\u0000" in raw and "\\u0000" in orjson.dumps(value).decode():
        raise invalid_input(["body"], "strings must be UTF-8 text without the NUL character (U+0000)")
    return value


def body_object(value: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_input(["body"], "Input should be an object", "model_type")
    unknown = value.keys() - allowed
    if unknown:
        raise invalid_input(["body", sorted(unknown)[0]], "Extra inputs are not permitted", "extra_forbidden")
    return value


def jira_id(value: Any, loc: list[Any]) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not _JIRA_ID.match(value):
        raise invalid_input(loc, "not a Jira key or id")
    return value


def string_list(value: Any, loc: list[Any], *, max_items: int, max_chars: int) -> list[str]:
    if not isinstance(value, list) or len(value) > max_items:
        raise invalid_input(loc, f"a list of at most {max_items} strings")
    for item in value:
        if not isinstance(item, str) or len(item) > max_chars:
            raise invalid_input(loc, f"each item a string of at most {max_chars} characters")
    return value


def count(value: Any, loc: list[Any], limit: int | None = None) -> int:
    if type(value) is not int or value < 0 or (limit is not None and value > limit):
        raise invalid_input(loc, "a whole number in range", "int_type")
    return value


def flag(value: Any, loc: list[Any]) -> bool:
    if type(value) is not bool:
        raise invalid_input(loc, "Input should be a valid boolean", "bool_type")
    return value


def aware_time(value: Any, loc: list[Any]) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise invalid_input(loc, "an ISO 8601 time with a time zone", "timezone_aware")
    if not 2000 <= moment.year <= 2100:
        raise invalid_input(loc, "must lie between 2000 and 2100")
    return moment


def index_path(value: Any, loc: list[Any]) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_PATH_BYTES
        or not _NO_CONTROL.match(value)
        or len(value.encode()) > MAX_PATH_BYTES
    ):
        raise invalid_input(loc, f"a path of 1 to {MAX_PATH_BYTES} bytes without control characters")
    return value


def hint(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and len(value) > MAX_HINT_CHARS:
        raise invalid_input(["query", name], f"at most {MAX_HINT_CHARS} characters", "string_too_long")
    return value


def json_response(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), 200, headers, media_type=JSON)


def progress_of(body: dict[str, Any]) -> dict[str, Any]:
    """ProgressDocument's rules (tasks/schemas.py); the confidence stored capitalised."""
    lists = {
        name: string_list(
            body.get(name, []),
            ["body", name],
            max_items=MAX_PROGRESS_ITEMS,
            max_chars=MAX_PROGRESS_ITEM_CHARS,
        )
        for name in ("ready", "left", "risks", "logs")
    }
    progress = body.get("progress")
    if not isinstance(progress, str) or not _PERCENTAGE.match(progress):
        raise invalid_input(["body", "progress"], 'a whole percentage, "0%" to "100%"')
    confidence = body.get("confidence")
    confidence = confidence.strip().capitalize() if isinstance(confidence, str) else confidence
    if confidence not in CONFIDENCES:
        raise invalid_input(["body", "confidence"], "Input should be 'Low', 'Medium' or 'High'")
    return {**lists, "progress": progress, "confidence": confidence}


def activation_source(identity: Identity) -> str:
    if identity.license_active is not None:
        return "forge-license"
    return "forge-development" if identity.environment_type != "PRODUCTION" else "forge-unlicensed"


def site_of(url: str) -> str:
    return url.strip().rstrip("/").lower()


def hint_mismatch(headers: dict[str, str]) -> Refusal:
    return Refusal(
        403,
        "hint_mismatch",
        "cloudIdHint or siteUrlHint names a site this credential does not belong to.",
        headers=headers,
    )


def _optional(body: dict[str, Any], name: str, check: Callable[[Any, list[Any]], Any]) -> Any:
    value = body.get(name)
    return None if value is None else check(value, ["body", name])


def snapshot_of(body: dict[str, Any]) -> dict[str, Any]:
    """ActivitySnapshotIn's rules (tasks/activity_schemas.py), and the effort units of v1."""
    started = aware_time(body.get("windowStartedAt"), ["body", "windowStartedAt"])
    ended = aware_time(body.get("windowEndedAt"), ["body", "windowEndedAt"])
    task_started = _optional(body, "taskStartedAt", aware_time)
    active_ms = count(body.get("humanActiveMs"), ["body", "humanActiveMs"])
    added = count(body.get("locAdded"), ["body", "locAdded"], MAX_LOC)
    removed = count(body.get("locRemoved"), ["body", "locRemoved"], MAX_LOC)
    loc_total = _optional(body, "locTotal", lambda v, loc: count(v, loc, 2 * MAX_LOC))
    files = body.get("changedFiles", [])
    if not isinstance(files, list) or len(files) > MAX_LISTED_FILES:
        raise invalid_input(["body", "changedFiles"], f"at most {MAX_LISTED_FILES} paths")
    for path in files:
        if not isinstance(path, str) or not 1 <= len(path) <= 1024 or not _NO_CONTROL.match(path):
            raise invalid_input(["body", "changedFiles"], "a path without control characters")
    files_count = _optional(body, "changedFilesCount", lambda v, loc: count(v, loc, MAX_FILES_COUNT))
    flags = {
        name: flag(body.get(name, False), ["body", name])
        for name in ("architectureChange", "logicChange", "specificationUiChange")
    }
    window = ended - started
    if window <= timedelta(0):
        raise invalid_input(["body"], "windowEndedAt must be after windowStartedAt")
    if window > MAX_WINDOW:
        raise invalid_input(["body"], f"a window may be at most {MAX_WINDOW} long")
    if active_ms > window / timedelta(milliseconds=1):
        raise invalid_input(["body"], "humanActiveMs cannot exceed the window's length")
    if task_started is not None and task_started > ended:
        raise invalid_input(["body"], "taskStartedAt cannot be after windowEndedAt")
    if loc_total is not None and loc_total != added + removed:
        raise invalid_input(["body"], "locTotal must equal locAdded + locRemoved")
    listed = len(set(files))
    if files_count is not None and files_count < listed:
        raise invalid_input(
            ["body"], "changedFilesCount cannot be less than the number of distinct changedFiles"
        )
    files_count = listed if files_count is None else files_count
    per_minute = (
        (added + removed) * _LOC
        + files_count * _FILE
        + flags["architectureChange"] * _ARCHITECTURE
        + flags["logicChange"] * _LOGIC
        + flags["specificationUiChange"] * _SPECIFICATION_UI
    )
    denominator = 100 * _MS_PER_MINUTE
    units = (active_ms * _ACTIVE_MINUTE + per_minute * _MS_PER_MINUTE + denominator // 2) // denominator
    return {
        "window_started_at": started.astimezone(UTC),
        "window_ended_at": ended.astimezone(UTC),
        "task_started_at": task_started,
        "task_age_minutes": _optional(
            body, "taskAgeMinutes", lambda v, loc: count(v, loc, MAX_TASK_AGE_MINUTES)
        ),
        "human_active_ms": active_ms,
        "loc_added": added,
        "loc_removed": removed,
        "loc_total": added + removed,
        "changed_files": files,
        "changed_files_count": files_count,
        "architecture_change": flags["architectureChange"],
        "logic_change": flags["logicChange"],
        "specification_ui_change": flags["specificationUiChange"],
        "effort_units": units,
        "projectId": _optional(body, "projectId", jira_id),
        "taskId": _optional(body, "taskId", jira_id),
    }


def query_items(body: dict[str, Any]) -> list[tuple[str, str]]:
    raw = body.get("items")
    if not isinstance(raw, list) or len(raw) > MAX_QUERY_ITEMS:
        raise invalid_input(["body", "items"], f"a list of at most {MAX_QUERY_ITEMS} items")
    items = []
    for position, item in enumerate(raw):
        entry = body_object(item, frozenset({"path", "hash"}))
        path = index_path(entry.get("path"), ["body", "items", position, "path"])
        file_hash = entry.get("hash")
        if not isinstance(file_hash, str) or not _FILE_HASH.match(file_hash):
            raise invalid_input(["body", "items", position, "hash"], "64 lowercase hex digits")
        items.append((path, file_hash))
    if len({path for path, _ in items}) != len(items):
        raise invalid_input(["body"], "each path may appear once in items")
    return items
