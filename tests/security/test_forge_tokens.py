"""DESIGN.md §4 rule 1: every FIT check, each with a token that breaks exactly that check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

from seecodes.kit.clock import Clock
from seecodes.security.forge import JwksKeys
from tests.support.clock import FixedClock
from tests.support.forge import TEST_APP_ID, TEST_KID, FakeForge


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned_claims(forge: FakeForge) -> dict[str, object]:
    return jwt.decode(forge.fit(), options={"verify_signature": False})


async def _bootstrap(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {token}"})


async def test_valid_fit_is_accepted(client: httpx.AsyncClient, forge: FakeForge) -> None:
    response = await _bootstrap(client, forge.fit())

    assert response.status_code == 200
    assert response.json()["requestKey"].startswith("sc_jira_req_")


async def test_missing_bearer_is_401_in_the_envelope(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/jira/request-key")

    assert response.status_code == 401
    assert response.json() == {
        "ok": False,
        "error": "invalid_forge_token",
        "detail": "The Forge invocation token could not be verified.",
    }


async def test_alg_none_is_refused(client: httpx.AsyncClient, forge: FakeForge) -> None:
    header = _b64(json.dumps({"alg": "none", "kid": TEST_KID, "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_unsigned_claims(forge)).encode())

    response = await _bootstrap(client, f"{header}.{payload}.")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_forge_token"


async def test_hs256_signed_with_the_jwks_public_key_is_refused(
    client: httpx.AsyncClient, forge: FakeForge
) -> None:
    # The classic key-confusion attack: use the published RSA public key as an HMAC secret.
    public_pem = forge.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "kid": TEST_KID, "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_unsigned_claims(forge)).encode())
    signature = _b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())

    response = await _bootstrap(client, f"{header}.{payload}.{signature}")

    assert response.status_code == 401


async def test_missing_kid_is_refused(client: httpx.AsyncClient, forge: FakeForge) -> None:
    token = jwt.encode(_unsigned_claims(forge), forge.key, algorithm="RS256")

    response = await _bootstrap(client, token)

    assert response.status_code == 401
    assert "key id" in response.json()["detail"]


async def test_unknown_kid_is_refused(client: httpx.AsyncClient, forge: FakeForge) -> None:
    response = await _bootstrap(client, forge.fit(kid="some-other-key"))

    assert response.status_code == 401


async def test_token_signed_by_another_key_is_refused(client: httpx.AsyncClient, tmp_path: Path) -> None:
    impostor = FakeForge.create(tmp_path)  # same kid, different key

    response = await _bootstrap(client, impostor.fit())

    assert response.status_code == 401


async def test_wrong_issuer_is_refused(client: httpx.AsyncClient, forge: FakeForge) -> None:
    response = await _bootstrap(client, forge.fit(extra_claims={"iss": "someone/else"}))

    assert response.status_code == 401


async def test_audience_of_another_app_is_refused(client: httpx.AsyncClient, forge: FakeForge) -> None:
    response = await _bootstrap(client, forge.fit(app_id="ari:cloud:ecosystem::app/another-app"))

    assert response.status_code == 401


async def test_audience_list_containing_our_app_is_refused(
    client: httpx.AsyncClient, forge: FakeForge
) -> None:
    response = await _bootstrap(client, forge.fit(extra_claims={"aud": [TEST_APP_ID, "other"]}))

    assert response.status_code == 401


async def test_missing_audience_is_refused(client: httpx.AsyncClient, forge: FakeForge) -> None:
    claims = _unsigned_claims(forge)
    del claims["aud"]
    token = jwt.encode(claims, forge.key, algorithm="RS256", headers={"kid": TEST_KID})

    response = await _bootstrap(client, token)

    assert response.status_code == 401


async def test_expired_fit_is_refused_beyond_the_leeway(client: httpx.AsyncClient, forge: FakeForge) -> None:
    issued = int(time.time()) - 60

    response = await _bootstrap(client, forge.fit(now=issued, lifetime=25))  # expired 35 s ago

    assert response.status_code == 401
    assert "expired" in response.json()["detail"].lower()


async def test_fit_within_the_leeway_is_accepted(client: httpx.AsyncClient, forge: FakeForge) -> None:
    issued = int(time.time()) - 30

    response = await _bootstrap(client, forge.fit(now=issued, lifetime=25))  # expired 5 s ago

    assert response.status_code == 200


async def test_fit_not_yet_valid_is_refused(client: httpx.AsyncClient, forge: FakeForge) -> None:
    response = await _bootstrap(client, forge.fit(now=int(time.time()) + 60))

    assert response.status_code == 401


async def test_fit_without_installation_claim_is_refused(client: httpx.AsyncClient, forge: FakeForge) -> None:
    response = await _bootstrap(client, forge.fit(extra_claims={"app": {"id": TEST_APP_ID}}))

    assert response.status_code == 401


async def test_unknown_kid_refetches_the_jwks_at_most_once_per_cooldown(
    tmp_path: Path, forge: FakeForge
) -> None:
    class Counting(JwksKeys):
        fetches = 0

        async def _refresh(self) -> None:
            Counting.fetches += 1
            await super()._refresh()

    keys = Counting(str(forge.jwks_path), cache_seconds=3600, cooldown_seconds=30, clock=Clock())

    assert await keys.key_for(TEST_KID) is not None
    for attempt in range(20):
        assert await keys.key_for(f"random-{attempt}") is None

    assert Counting.fetches == 1


async def test_concurrent_first_lookups_all_wait_for_the_one_fetch(forge: FakeForge) -> None:
    import asyncio

    keys = JwksKeys(str(forge.jwks_path), cache_seconds=3600, cooldown_seconds=30, clock=Clock())

    found = await asyncio.gather(*(keys.key_for(TEST_KID) for _ in range(50)))

    assert all(key is not None for key in found)


async def test_a_jwks_fetch_failure_is_logged_once_per_incident_with_its_reason(
    tmp_path: Path, forge: FakeForge, log_lines: io.StringIO
) -> None:
    missing = tmp_path / "gone.json"
    clock = FixedClock()
    keys = JwksKeys(str(missing), cache_seconds=60, cooldown_seconds=1, clock=clock)
    for attempt in range(5):  # five failed fetches, one incident
        clock.advance(61)
        assert await keys.key_for(f"kid-{attempt}") is None
    failures = [line for line in log_lines.getvalue().splitlines() if "forge_jwks_fetch_failed" in line]
    assert len(failures) == 1
    assert "FileNotFoundError" in failures[0]
    assert "gone.json" in failures[0]

    missing.write_text(forge.jwks_path.read_text())  # the source answers again
    clock.advance(61)
    assert await keys.key_for(TEST_KID) is not None
    assert "forge_jwks_fetch_recovered" in log_lines.getvalue()
