"""Wire models of the connector routes (/v1/integrations/jira/…) and the progress sync state."""

from __future__ import annotations

from typing import Annotated, Literal, cast

from pydantic import Field, StringConstraints

from seecodes.jira.service import ConnectionStatus, ProjectPage
from seecodes.kit.clock import iso_utc
from seecodes.kit.schemas import RequestBody, ResponseBody
from seecodes.models import JiraConnection
from seecodes.models.jira import ConnectionState

CloudId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


class ConnectResponse(ResponseBody):
    ok: Literal[True] = True
    authUrl: str = Field(description="Open in a browser; Atlassian asks the user for consent.")
    state: str = Field(description="One-time, valid 10 minutes; the callback consumes it.")
    expiresAt: int = Field(description="Epoch seconds.")


class SiteChoice(RequestBody):
    cloudId: CloudId


class JiraSite(ResponseBody):
    cloudId: str
    name: str
    url: str


class LastError(ResponseBody):
    reason: str
    at: str


class ForgeTokenState(ResponseBody):
    cloudId: str
    expiresAt: str
    fresh: bool


class StatusResponse(ResponseBody):
    ok: Literal[True] = True
    connected: bool = Field(description="An active OAuth (3LO) connection exists.")
    status: Literal["none", "choosing_site", "active", "reauthorization_required", "disconnected"] = Field(
        description="reauthorization_required: Atlassian refused the tokens in a way a refresh does not "
        "fix (see lastError); connect again."
    )
    connectedAt: str | None
    cloudId: str | None
    siteUrl: str | None
    siteName: str | None
    scopes: list[str]
    pendingSites: list[JiraSite] | None = Field(description="Set while the user must choose a site.")
    lastError: LastError | None
    disconnectedAt: str | None
    disconnectReason: str | None
    forgeSystemToken: ForgeTokenState | None = Field(
        description="The Jira App's system token, used for writes when there is no OAuth connection."
    )
    writesVia: Literal["oauth", "forge"] | None

    @classmethod
    def of(cls, found: ConnectionStatus) -> StatusResponse:
        connection, forge = found.connection, found.forge_token
        forge_fresh = forge is not None and forge.expires_at > found.now
        active = connection is not None and connection.is_active
        last_error = None
        if connection is not None and connection.last_error and connection.last_error_at:
            last_error = LastError(reason=connection.last_error, at=iso_utc(connection.last_error_at))
        return cls(
            connected=active,
            status=_status_of(connection),
            connectedAt=iso_utc(connection.connected_at) if connection and connection.connected_at else None,
            cloudId=connection.cloud_id if connection else None,
            siteUrl=connection.site_url if connection else None,
            siteName=connection.site_name if connection else None,
            scopes=connection.scopes.split() if connection else [],
            pendingSites=[
                JiraSite(cloudId=str(site["id"]), name=str(site.get("name") or ""), url=str(site["url"]))
                for site in connection.available_sites or []
            ]
            if connection is not None and connection.status == ConnectionState.CHOOSING_SITE
            else None,
            lastError=last_error,
            disconnectedAt=iso_utc(connection.disconnected_at)
            if connection and connection.disconnected_at
            else None,
            disconnectReason=connection.disconnect_reason if connection else None,
            forgeSystemToken=ForgeTokenState(
                cloudId=forge.cloud_id, expiresAt=iso_utc(forge.expires_at), fresh=forge_fresh
            )
            if forge is not None
            else None,
            writesVia="oauth" if active else "forge" if forge_fresh else None,
        )


class JiraProject(ResponseBody):
    id: str
    key: str
    name: str


class ProjectsResponse(ResponseBody):
    ok: Literal[True] = True
    projects: list[JiraProject]
    startAt: int
    nextStartAt: int | None = Field(description="Pass as startAt for more; null after the last project.")
    total: int | None

    @classmethod
    def of(cls, page: ProjectPage) -> ProjectsResponse:
        return cls(
            projects=[JiraProject(**project) for project in page.projects],
            startAt=page.start_at,
            nextStartAt=page.next_start_at,
            total=page.total,
        )


class ForgeTokenResponse(ResponseBody):
    ok: Literal[True] = True
    kept: bool = Field(description="False when the token was not kept (expired, or apiBaseUrl not trusted).")
    expiresAt: int | None


def _status_of(
    connection: JiraConnection | None,
) -> Literal["none", "choosing_site", "active", "reauthorization_required", "disconnected"]:
    if connection is None:
        return "none"
    if connection.reauthorization_required_at is not None and connection.status == ConnectionState.ACTIVE:
        return "reauthorization_required"
    return cast(Literal["choosing_site", "active", "disconnected"], connection.status)
