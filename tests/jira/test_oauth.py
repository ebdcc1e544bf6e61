"""OAuth 2.0 (3LO): connect, callback, one-time state, site choice, refresh, disconnect."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from seecodes.config import Settings
from seecodes.errors import JiraNotConfigured
from seecodes.jira import tokens
from seecodes.jira.crypto import cipher_for
from seecodes.models import JiraConnection, JiraOAuthState, OperatorToken
from seecodes.security.operators import revoke_operator_token
from tests.jira.conftest import CALLBACK, OTHER_CLOUD, connect_oauth
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_atlassian import CLIENT_ID, FakeAtlassian
from tests.support.forge import CLOUD_A, INSTALLATION_A, INSTALLATION_B, USER_A, JiraAppClient


async def _connection(app: FastAPI) -> JiraConnection:
    async with runtime_of(app).db.transaction() as session:
        return (
            (await session.execute(select(JiraConnection).order_by(JiraConnection.id.desc())))
            .scalars()
            .first()
        )  # type: ignore[return-value]


async def test_connect_returns_an_authorize_url_with_every_required_parameter(
    installed: JiraAppClient,
) -> None:
    response = await installed.call("POST", "/v1/integrations/jira/connect")

    assert response.status_code == 200
    body = response.json()
    query = httpx.URL(body["authUrl"]).params
    assert query["audience"] == "api.atlassian.com"
    assert query["client_id"] == CLIENT_ID
    assert query["scope"] == "read:jira-work write:jira-work offline_access"
    assert query["redirect_uri"] == CALLBACK
    assert query["response_type"] == "code"
    assert query["prompt"] == "consent"
    assert query["state"] == body["state"]
    assert len(body["state"]) >= 43


async def test_callback_with_one_site_connects_and_redirects(
    client: httpx.AsyncClient, installed: JiraAppClient, atlassian: FakeAtlassian
) -> None:
    answer = await connect_oauth(client, installed, atlassian)
    status = (await installed.call("GET", "/v1/integrations/jira/status")).json()

    assert answer.status_code == 303
    assert (
        answer.headers["location"] == "https://seecodes.example.com/v1/integrations/jira/done?jira=connected"
    )
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert status["connected"] is True
    assert status["cloudId"] == CLOUD_A
    assert status["siteUrl"] == "https://tenant-a.atlassian.net"
    assert status["scopes"] == ["read:jira-work", "write:jira-work", "offline_access"]
    assert status["connectedAt"] is not None
    assert status["writesVia"] == "oauth"


async def test_a_replayed_state_is_refused(
    client: httpx.AsyncClient, installed: JiraAppClient, atlassian: FakeAtlassian
) -> None:
    started = (await installed.call("POST", "/v1/integrations/jira/connect")).json()
    landing = httpx.URL(atlassian.authorize(started["authUrl"]))
    first = await client.get(landing.path, params=dict(landing.params))

    replay = await client.get(landing.path, params=dict(landing.params))

    assert "jira=connected" in first.headers["location"]
    assert replay.headers["location"].endswith("?jira=error&reason=state_invalid")


async def test_an_expired_state_is_refused_and_gone(
    client: httpx.AsyncClient,
    installed: JiraAppClient,
    atlassian: FakeAtlassian,
    clock: FixedClock,
    app: FastAPI,
) -> None:
    started = (await installed.call("POST", "/v1/integrations/jira/connect")).json()
    landing = httpx.URL(atlassian.authorize(started["authUrl"]))
    clock.advance(601)

    answer = await client.get(landing.path, params=dict(landing.params))

    assert answer.headers["location"].endswith("?jira=error&reason=state_expired")
    assert atlassian.count("POST", "^/oauth/token$") == 0  # the code was never exchanged
    async with runtime_of(app).db.transaction() as session:
        assert (await session.execute(select(JiraOAuthState))).first() is None


async def test_an_unknown_state_is_refused(client: httpx.AsyncClient, installed: JiraAppClient) -> None:
    answer = await client.get("/v1/integrations/jira/callback", params={"code": "x", "state": "forged"})

    assert answer.headers["location"].endswith("?jira=error&reason=state_invalid")


async def test_consent_denied_in_the_browser_is_reported(
    client: httpx.AsyncClient, installed: JiraAppClient
) -> None:
    state = (await installed.call("POST", "/v1/integrations/jira/connect")).json()["state"]

    answer = await client.get(
        "/v1/integrations/jira/callback", params={"error": "access_denied", "state": state}
    )

    assert answer.headers["location"].endswith("?jira=error&reason=access_denied")


async def test_a_grant_on_several_sites_waits_for_an_explicit_choice(
    client: httpx.AsyncClient, installed: JiraAppClient, atlassian: FakeAtlassian
) -> None:
    atlassian.grant_sites = [OTHER_CLOUD, CLOUD_A]  # the installation's site is not the first entry

    answer = await connect_oauth(client, installed, atlassian)
    pending = (await installed.call("GET", "/v1/integrations/jira/status")).json()
    wrong = await installed.call("POST", "/v1/integrations/jira/site", json={"cloudId": OTHER_CLOUD})
    chosen = await installed.call("POST", "/v1/integrations/jira/site", json={"cloudId": CLOUD_A})

    assert answer.headers["location"].endswith("?jira=choose_site")
    assert pending["connected"] is False
    assert pending["status"] == "choosing_site"
    assert [site["cloudId"] for site in pending["pendingSites"]] == [OTHER_CLOUD, CLOUD_A]  # no Confluence
    assert wrong.status_code == 409
    assert wrong.json()["error"] == "jira_site_choice_invalid"
    assert chosen.status_code == 200
    assert chosen.json()["connected"] is True
    assert chosen.json()["cloudId"] == CLOUD_A


async def test_a_grant_without_the_installations_site_is_refused(
    client: httpx.AsyncClient, installed: JiraAppClient, atlassian: FakeAtlassian
) -> None:
    atlassian.grant_sites = [OTHER_CLOUD]

    answer = await connect_oauth(client, installed, atlassian)

    assert answer.headers["location"].endswith("?jira=error&reason=site_not_granted")


async def test_tokens_are_not_readable_in_the_database(
    client: httpx.AsyncClient, installed: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI
) -> None:
    await connect_oauth(client, installed, atlassian)

    async with runtime_of(app).db.transaction() as session:
        rows = (await session.execute(text("SELECT * FROM jira_connections"))).all()
    stored = " ".join(str(value) for row in rows for value in row)
    issued = atlassian.tokens_issued()
    connection = await _connection(app)
    cipher = cipher_for(runtime_of(app).settings)

    assert issued
    assert not [token for token in issued if token in stored]
    assert cipher.decrypt(connection.refresh_token_encrypted or "") in issued  # ciphertext, not a hash


async def test_soft_disconnect_keeps_the_row_and_erases_its_tokens(
    connected: JiraAppClient, app: FastAPI
) -> None:
    response = await connected.call("POST", "/v1/integrations/jira/disconnect")
    again = await connected.call("POST", "/v1/integrations/jira/disconnect")

    assert response.status_code == 200
    assert response.json()["connected"] is False
    assert response.json()["status"] == "disconnected"
    assert response.json()["disconnectReason"].startswith("disconnected by jira-app:")
    connection = await _connection(app)
    assert connection.status == "disconnected"
    assert connection.access_token_encrypted is None
    assert connection.refresh_token_encrypted is None
    assert connection.cloud_id == CLOUD_A  # kept for audit
    assert again.status_code == 404
    assert again.json()["error"] == "no_active_integration"


async def test_reconnecting_replaces_the_live_connection(
    client: httpx.AsyncClient, connected: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI
) -> None:
    await connect_oauth(client, connected, atlassian)

    async with runtime_of(app).db.transaction() as session:
        statuses = (
            (await session.execute(select(JiraConnection.status).order_by(JiraConnection.id))).scalars().all()
        )
    assert statuses == ["disconnected", "active"]


async def test_a_stale_access_token_is_refreshed_and_the_new_refresh_token_saved(
    connected: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI, clock: FixedClock
) -> None:
    cipher = cipher_for(runtime_of(app).settings)
    old_refresh = cipher.decrypt((await _connection(app)).refresh_token_encrypted or "")
    clock.advance(3600)
    await connected.bootstrap()  # the request key expired with the hour

    response = await connected.call("GET", "/v1/integrations/jira/projects")

    assert response.status_code == 200
    assert atlassian.refresh_spends == {old_refresh: 1}
    connection = await _connection(app)
    new_refresh = cipher.decrypt(connection.refresh_token_encrypted or "")
    assert new_refresh != old_refresh
    assert atlassian.refresh_tokens[new_refresh][0] is False  # the saved one is the live one
    assert connection.token_generation == 1


async def test_a_401_from_jira_refreshes_once_and_retries(
    connected: JiraAppClient, atlassian: FakeAtlassian
) -> None:
    atlassian.expire_access_tokens()

    response = await connected.call("GET", "/v1/integrations/jira/projects")

    assert response.status_code == 200
    assert sum(atlassian.refresh_spends.values()) == 1
    assert atlassian.count("GET", "/project/search$") == 4  # the refused one, then 3 pages of 2


async def test_invalid_grant_disconnects_with_the_reason(
    connected: JiraAppClient, atlassian: FakeAtlassian, clock: FixedClock
) -> None:
    atlassian.refuse_refresh = True
    clock.advance(3600)
    await connected.bootstrap()
    await connected.bootstrap()  # the request key expired with the hour

    response = await connected.call("GET", "/v1/integrations/jira/projects")
    status = (await connected.call("GET", "/v1/integrations/jira/status")).json()
    after = await connected.call("GET", "/v1/integrations/jira/projects")

    assert response.status_code == 409
    assert response.json()["error"] == "jira_reauthorization_required"
    assert status["connected"] is False
    assert status["status"] == "disconnected"
    assert "invalid_grant" in status["disconnectReason"]
    assert "invalid_grant" in status["lastError"]["reason"]
    assert after.status_code == 404
    assert after.json()["error"] == "no_active_integration"


async def test_two_concurrent_refreshes_spend_the_old_refresh_token_once(
    connected: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI, clock: FixedClock
) -> None:
    runtime = runtime_of(app)
    old_refresh = cipher_for(runtime.settings).decrypt((await _connection(app)).refresh_token_encrypted or "")
    atlassian.refresh_delay = 0.3  # both callers are inside their refresh at the same time
    clock.advance(3600)

    async def fresh_token() -> str:
        async with tokens.http_client(runtime.settings) as http:
            return (
                await tokens.access_for(runtime.db, runtime.clock, runtime.settings, http, INSTALLATION_A)
            ).token

    first, second = await asyncio.gather(fresh_token(), fresh_token())

    assert atlassian.refresh_spends == {old_refresh: 1}
    assert first == second
    assert (await _connection(app)).is_active


async def test_projects_are_paged_through_project_search(connected: JiraAppClient) -> None:
    everything = await connected.call("GET", "/v1/integrations/jira/projects")
    first = await connected.call("GET", "/v1/integrations/jira/projects", params={"limit": 3})
    rest = await connected.call("GET", "/v1/integrations/jira/projects", params={"startAt": 3})

    assert [p["key"] for p in everything.json()["projects"]] == ["API", "AUTH", "MOB", "OPS", "WEB"]
    assert everything.json()["nextStartAt"] is None
    assert everything.json()["total"] == 5
    assert [p["key"] for p in first.json()["projects"]] == ["API", "AUTH", "MOB"]
    assert first.json()["nextStartAt"] == 3
    assert [p["key"] for p in rest.json()["projects"]] == ["OPS", "WEB"]


async def test_without_a_connection_jira_calls_are_404_no_active_integration(
    installed: JiraAppClient,
) -> None:
    response = await installed.call("GET", "/v1/integrations/jira/projects")

    assert response.status_code == 404
    assert response.json() == {
        "ok": False,
        "error": "no_active_integration",
        "detail": response.json()["detail"],
    }


async def test_a_jira_app_cannot_manage_another_installation(installed: JiraAppClient) -> None:
    response = await installed.call(
        "GET", "/v1/integrations/jira/status", params={"installationId": INSTALLATION_B}
    )

    assert response.status_code == 403
    assert response.json()["error"] == "installation_mismatch"


async def test_an_operator_manages_any_installation(
    client: httpx.AsyncClient, installed: JiraAppClient, operator: str
) -> None:
    headers = {"Authorization": f"Bearer {operator}"}

    status = await client.get(
        "/v1/integrations/jira/status", params={"installationId": INSTALLATION_A}, headers=headers
    )
    unknown = await client.get(
        "/v1/integrations/jira/status", params={"installationId": INSTALLATION_B}, headers=headers
    )
    unnamed = await client.get("/v1/integrations/jira/status", headers=headers)
    forged = await client.get(
        "/v1/integrations/jira/status",
        params={"installationId": INSTALLATION_A},
        headers={"Authorization": "Bearer sc_admin_" + "x" * 43},
    )

    assert status.status_code == 200
    assert status.json()["status"] == "none"
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "installation_not_found"
    assert unnamed.status_code == 422
    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_operator_token"


@pytest.mark.parametrize("missing", ["jira_client_id", "jira_client_secret"])
def test_connect_needs_the_3lo_app_settings(missing: str) -> None:
    settings = Settings(
        **{"env": "test", "jira_client_id": "id", "jira_client_secret": "secret", missing: ""}
    )

    with pytest.raises(JiraNotConfigured):
        tokens.require_oauth_app(settings)


async def test_a_revoked_operator_token_is_refused(
    client: httpx.AsyncClient, installed: JiraAppClient, operator: str, app: FastAPI
) -> None:
    headers = {"Authorization": f"Bearer {operator}"}
    params = {"installationId": INSTALLATION_A}
    before = await client.get("/v1/integrations/jira/status", params=params, headers=headers)
    runtime = runtime_of(app)
    async with runtime.db.transaction() as session:
        (token_id,) = (await session.execute(select(OperatorToken.id))).scalars().all()
        await revoke_operator_token(session, runtime.clock, token_id)

    after = await client.get("/v1/integrations/jira/status", params=params, headers=headers)

    assert before.status_code == 200
    assert after.status_code == 401
    assert after.json()["error"] == "invalid_operator_token"


async def test_the_connection_records_who_started_it(
    client: httpx.AsyncClient,
    installed: JiraAppClient,
    atlassian: FakeAtlassian,
    operator: str,
    app: FastAPI,
) -> None:
    started = await client.post(
        "/v1/integrations/jira/connect",
        params={"installationId": INSTALLATION_A},
        headers={"Authorization": f"Bearer {operator}"},
    )
    landing = httpx.URL(atlassian.authorize(started.json()["authUrl"]))
    await client.get(landing.path, params=dict(landing.params))
    by_operator = await _connection(app)
    await connect_oauth(client, installed, atlassian)
    by_app = await _connection(app)

    assert by_operator.connected_by.startswith("operator:")
    assert by_app.connected_by == f"jira-app:{USER_A}"


async def test_a_401_naming_a_scope_spends_no_refresh_token_and_asks_for_a_new_consent(
    connected: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI
) -> None:
    atlassian.scope_refusals.append(r"/project/search$")

    refused = await connected.call("GET", "/v1/integrations/jira/projects")
    status = (await connected.call("GET", "/v1/integrations/jira/status")).json()

    assert refused.status_code == 409
    assert refused.json()["error"] == "jira_reauthorization_required"
    assert sum(atlassian.refresh_spends.values()) == 0
    assert status["status"] == "reauthorization_required"
    assert status["connected"] is False
    assert "scope does not match" in status["lastError"]["reason"]


async def test_a_token_refused_right_after_its_refresh_is_refreshed_only_once(
    connected: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI
) -> None:
    atlassian.reject_every_token = True  # a revoked app: no token works, a refreshed one neither

    first = await connected.call("GET", "/v1/integrations/jira/projects")
    second = await connected.call("GET", "/v1/integrations/jira/projects")
    status = (await connected.call("GET", "/v1/integrations/jira/status")).json()

    assert first.status_code == 409
    assert second.status_code == 409  # nothing is sent with the connection until it is renewed
    assert sum(atlassian.refresh_spends.values()) == 1
    assert status["status"] == "reauthorization_required"
    assert "right after a refresh" in status["lastError"]["reason"]
