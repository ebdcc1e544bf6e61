"""GET /v1/instances/me: every field of the contract's example, credits from the ledger."""

from __future__ import annotations

from fastapi import FastAPI

from seecodes.installations import service
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.forge import CLOUD_A, INSTALLATION_A, SITE_A, JiraAppClient


async def test_instances_me_has_every_contract_field(jira: JiraAppClient, clock: FixedClock) -> None:
    response = await jira.call(
        "GET", "/v1/instances/me", params={"cloudIdHint": CLOUD_A, "siteUrlHint": SITE_A + "/"}
    )

    body = response.json()
    assert response.status_code == 200
    assert body == {
        "ok": True,
        "cloudId": CLOUD_A,
        "status": "active",
        "credits": 0,
        "apiKeyPrefix": None,
        "updatedAt": int(clock.now()),
        "installationId": INSTALLATION_A,
        "capabilitySet": "capabilitystandard",
        "licenseActive": True,
        "activationSource": "forge-development",
        "devModeActive": True,
        "billingMode": "forge",
        "siteUrl": SITE_A,
    }


async def test_licensed_production_install_reports_its_license(jira: JiraAppClient) -> None:
    jira.fit_claims = {
        "environment_type": "PRODUCTION",
        "license_claim": {"isActive": True, "capabilitySet": "capabilityAdvanced"},
    }

    body = (await jira.call("GET", "/v1/instances/me")).json()

    assert body["licenseActive"] is True
    assert body["capabilitySet"] == "capabilityadvanced"
    assert body["activationSource"] == "forge-license"
    assert body["devModeActive"] is False


async def test_credits_are_the_sum_of_ledger_grants(jira: JiraAppClient, app: FastAPI) -> None:
    await jira.bootstrap()
    runtime = runtime_of(app)
    async with runtime.db.transaction() as session:
        await service.grant_credits(session, runtime.clock, installation_id=INSTALLATION_A, amount=30)
        await service.grant_credits(session, runtime.clock, installation_id=INSTALLATION_A, amount=12)

    body = (await jira.call("GET", "/v1/instances/me")).json()

    assert body["credits"] == 42


async def test_cloud_id_hint_may_be_the_installation_ari(jira: JiraAppClient) -> None:
    response = await jira.call("GET", "/v1/instances/me", params={"cloudIdHint": INSTALLATION_A})

    assert response.status_code == 200
