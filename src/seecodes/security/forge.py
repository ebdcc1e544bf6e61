"""Forge invocation token (FIT) verification.

Rules: RS256 only, `kid` required and resolved through the JWKS, `iss` is
"forge/invocation-token", `aud` equals the configured app ARI exactly (a string, not a list that
merely contains it), exp/nbf/iat within a 10 s leeway. Identity is read from the verified claims
only; request bodies may narrow it, never widen it.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import jwt

from seecodes.errors import InvalidForgeToken
from seecodes.kit.clock import Clock
from seecodes.kit.logging import get_logger

_log = get_logger("seecodes.security.forge")

FIT_ISSUER = "forge/invocation-token"
FIT_ALGORITHM = "RS256"
FIT_LEEWAY_SECONDS = 10
INSTALLATION_ARI_PREFIX = "ari:cloud:ecosystem::installation/"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID_RE = re.compile(rf"^{_UUID}$")
_API_BASE_URL_RE = re.compile(rf"^https://api\.atlassian\.com/ex/jira/({_UUID})$")


def installation_ari(value: str) -> str:
    """Lifecycle events carry a bare UUID, FITs carry the ARI; we key everything by the ARI."""
    return INSTALLATION_ARI_PREFIX + value if _UUID_RE.match(value) else value


def jira_cloud_id_from_api_base_url(api_base_url: str | None) -> str | None:
    """The only apiBaseUrl shape we trust with a token: https://api.atlassian.com/ex/jira/<uuid>."""
    match = _API_BASE_URL_RE.match(api_base_url or "")
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class ForgeIdentity:
    installation_id: str
    app_id: str
    cloud_id: str | None
    site_url: str | None
    principal: str  # "" for app-level invocations, which carry no principal
    environment_type: str | None
    license_active: bool | None
    capability_set: str | None
    api_base_url: str | None


class JwksKeys:
    """Signing keys by kid, fetched from a URL or file and cached.

    An unknown kid triggers a refetch, but at most once per cool-down, so a flood of tokens with
    random kids cannot turn into a flood of requests to Atlassian.
    """

    def __init__(self, source: str, *, cache_seconds: int, cooldown_seconds: int, clock: Clock) -> None:
        self._source = source
        self._cache_seconds = cache_seconds
        self._cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._failing = False
        self._lock = asyncio.Lock()

    @classmethod
    def from_document(cls, document: dict[str, Any], clock: Clock) -> JwksKeys:
        keys = cls("", cache_seconds=10**9, cooldown_seconds=10**9, clock=clock)
        keys._keys = _parse_jwks(document)
        keys._fetched_at = clock.now()
        return keys

    @property
    def failing(self) -> bool:
        """The last fetch of the key set failed (the keys from before it are still used)."""
        return self._failing

    async def key_for(self, kid: str) -> Any | None:
        if self._needs_refresh(kid):
            async with self._lock:
                # Re-check: whoever held the lock may just have fetched what we need.
                if self._needs_refresh(kid):
                    await self._refresh()
        return self._keys.get(kid)

    def _needs_refresh(self, kid: str) -> bool:
        if self._fetched_at is None:
            return True
        age = self._clock.now() - self._fetched_at
        if age >= self._cache_seconds:
            return True
        return bool(self._source) and kid not in self._keys and age >= self._cooldown_seconds

    async def _refresh(self) -> None:
        try:
            document = await _load_jwks(self._source)
            self._keys = _parse_jwks(document)
        except (OSError, httpx.HTTPError, ValueError) as error:
            # Keep the keys we have: a JWKS outage must not reject tokens signed by known keys. It
            # is logged once per incident (when fetching starts failing), not once per attempt.
            if not self._failing:
                _log.warning(
                    "forge_jwks_fetch_failed",
                    source=self._source,
                    error_type=type(error).__name__,
                    reason=str(error)[:300],
                    keys_kept=len(self._keys),
                )
            self._failing = True
        else:
            if self._failing:
                _log.info("forge_jwks_fetch_recovered", source=self._source, keys=len(self._keys))
            self._failing = False
        finally:
            # Stamped after the attempt, so nobody treats a fetch in progress as done.
            self._fetched_at = self._clock.now()


async def _load_jwks(source: str) -> dict[str, Any]:
    parsed = urlparse(source)
    if parsed.scheme in ("http", "https"):
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(source)
            response.raise_for_status()
            document = response.json()
    else:
        path = Path(parsed.path if parsed.scheme == "file" else source)
        document = json.loads(await asyncio.to_thread(path.read_text))
    if not isinstance(document, dict):
        raise ValueError("JWKS document is not an object")
    return document


def _parse_jwks(document: dict[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for entry in document.get("keys", []):
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not entry.get("kid"):
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=FIT_ALGORITHM).key
        except jwt.PyJWTError:
            continue
    return keys


class ForgeVerifier:
    def __init__(self, keys: JwksKeys, *, app_id: str, clock: Clock) -> None:
        self._keys = keys
        self._app_id = app_id
        self._clock = clock

    @property
    def keys_failing(self) -> bool:
        return self._keys.failing

    async def verify(self, token: str) -> ForgeIdentity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidForgeToken("The Forge invocation token is malformed.") from error
        if header.get("alg") != FIT_ALGORITHM:
            raise InvalidForgeToken("The Forge invocation token must be signed with RS256.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidForgeToken("The Forge invocation token has no key id.")
        key = await self._keys.key_for(kid)
        if key is None:
            raise InvalidForgeToken("The Forge invocation token is signed by an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[FIT_ALGORITHM],
                audience=self._app_id,
                issuer=FIT_ISSUER,
                leeway=FIT_LEEWAY_SECONDS,
                options={"require": ["exp", "nbf", "iat", "iss", "aud", "jti"], "strict_aud": True},
                # PyJWT reads the wall clock itself; tests pin time by minting tokens around it.
            )
        except jwt.PyJWTError as error:
            raise InvalidForgeToken(f"The Forge invocation token was refused: {error}.") from error
        return _identity_from_claims(claims)


def _identity_from_claims(claims: dict[str, Any]) -> ForgeIdentity:
    app = claims.get("app")
    if not isinstance(app, dict):
        raise InvalidForgeToken("The Forge invocation token carries no app claim.")
    installation_id = app.get("installationId")
    if not isinstance(installation_id, str) or not installation_id:
        raise InvalidForgeToken("The Forge invocation token carries no installation id.")
    context = _object(claims.get("context"))
    api_base_url = app.get("apiBaseUrl") if isinstance(app.get("apiBaseUrl"), str) else None
    cloud_id = context.get("cloudId") if isinstance(context.get("cloudId"), str) else None
    cloud_id = cloud_id or jira_cloud_id_from_api_base_url(api_base_url)
    environment = _object(app.get("environment"))
    license_claim = app.get("license") if isinstance(app.get("license"), dict) else None
    principal = claims.get("principal")
    return ForgeIdentity(
        installation_id=installation_ari(installation_id),
        app_id=str(app.get("id") or ""),
        cloud_id=cloud_id,
        site_url=context.get("siteUrl") if isinstance(context.get("siteUrl"), str) else None,
        principal=principal if isinstance(principal, str) else "",
        environment_type=environment.get("type") if isinstance(environment.get("type"), str) else None,
        license_active=bool(license_claim.get("isActive")) if license_claim is not None else None,
        capability_set=_capability_set(license_claim),
        api_base_url=api_base_url if jira_cloud_id_from_api_base_url(api_base_url) else None,
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _capability_set(license_claim: dict[str, Any] | None) -> str | None:
    value = (license_claim or {}).get("capabilitySet")
    return value.lower() if isinstance(value, str) else None
