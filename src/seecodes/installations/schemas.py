from __future__ import annotations

from typing import Literal

from pydantic import Field

from seecodes.installations.service import InstallationView, updated_at_epoch
from seecodes.kit.schemas import ResponseBody
from seecodes.models.installation import InstallationStatus

# How the installation came to be: a Forge install (licensed, a development site, or a production
# site without a licence claim), or the legacy bridge.
ActivationSource = Literal["forge-license", "forge-development", "forge-unlicensed", "legacy-connect"]


class InstanceResponse(ResponseBody):
    ok: Literal[True] = True
    cloudId: str | None = Field(
        description="The Jira site id (UUID). The contract's example shows the ARI here."
    )
    status: InstallationStatus = Field(examples=["active"])
    credits: int = Field(description="Available credits: the sum of the installation's ledger.")
    apiKeyPrefix: str | None = Field(description="Prefix of the legacy instance key, when one was issued.")
    updatedAt: int = Field(description="Epoch seconds of the last change to the installation's facts.")
    installationId: str = Field(examples=["ari:cloud:ecosystem::installation/…"])
    capabilitySet: str = Field(examples=["capabilityadvanced"])
    licenseActive: bool
    activationSource: ActivationSource = Field(examples=["forge-license"])
    devModeActive: bool
    billingMode: Literal["forge", "operator"] = Field(
        examples=["forge"],
        description="`forge`: Forge bills the licence; `operator`: this server's operator does.",
    )
    siteUrl: str | None = Field(examples=["https://tenant.atlassian.net"])

    @classmethod
    def of(cls, view: InstallationView) -> InstanceResponse:
        installation = view.installation
        return cls(
            cloudId=installation.cloud_id,
            status=installation.status,
            credits=view.credits,
            apiKeyPrefix=installation.instance_key_prefix,
            updatedAt=updated_at_epoch(installation),
            installationId=installation.id,
            capabilitySet=installation.capability_set or "capabilitystandard",
            # Development installs carry no license claim; Forge does not bill them.
            licenseActive=bool(installation.license_active) or installation.dev_mode_active,
            activationSource=installation.activation_source,
            devModeActive=installation.dev_mode_active,
            billingMode="forge" if installation.activation_source.startswith("forge") else "operator",
            siteUrl=installation.site_url,
        )
