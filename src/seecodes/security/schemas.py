from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from seecodes.kit.schemas import Hint, JiraId, RequestBody, ResponseBody
from seecodes.kit.validation import bounded_document
from seecodes.security.launch_codes import LAUNCH_CODE_PATTERN

MAX_CONTEXT_DOCUMENT_BYTES = 256 * 1024

LaunchCodeValue = Annotated[str, StringConstraints(pattern=LAUNCH_CODE_PATTERN)]


class RequestKeyResponse(ResponseBody):
    ok: Literal[True] = True
    requestKey: str = Field(examples=["sc_jira_req_…"])
    expiresAt: int = Field(description="Epoch seconds.", examples=[1735689600])


class TaskBinding(RequestBody):
    projectId: JiraId = Field(examples=["AUTH"])
    taskId: JiraId = Field(examples=["AUTH-128"])
    userAccountId: JiraId | None = Field(
        default=None,
        examples=["557058:abcd"],
        description="Defaults to the FIT's principal; must equal it when the FIT carries one.",
    )
    cloudIdHint: Hint | None = None
    siteUrlHint: Hint | None = None


class VscodeLinkRequest(TaskBinding):
    expirationDays: int = Field(default=1, ge=1, le=14, description="Launch code lifetime in days (1–14).")
    jiraContext: dict[str, Any] | None = Field(default=None, description="Stored for GET /v1/tasks/context.")
    initialTaiDoc: dict[str, Any] | None = Field(
        default=None, description="Editor boot state, served as initialTai."
    )

    @field_validator("jiraContext", "initialTaiDoc")
    @classmethod
    def _bounded(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return bounded_document(value, max_bytes=MAX_CONTEXT_DOCUMENT_BYTES, name="document")  # type: ignore[no-any-return]


class VscodeLinkResponse(ResponseBody):
    ok: Literal[True] = True
    launchCode: str = Field(examples=["sc_launch_…"])
    vscodeUrl: str = Field(
        examples=["vscode://eprojac.seecodes-task-runner/project/AUTH/task/AUTH-128?code=sc_launch_…"]
    )
    httpsUrl: str = Field(examples=["https://seecodes.example.com/v1/launch?p=AUTH&t=AUTH-128&c=sc_launch_…"])
    expiresAt: int = Field(description="Epoch seconds.")


class TaskPermitRequest(TaskBinding):
    pass


class PermitResponse(ResponseBody):
    ok: Literal[True] = True
    cloudId: str | None = Field(description="The Jira site id (UUID).")
    installationId: str = Field(description="The installation ARI.")
    projectId: str
    taskId: str
    permit: str
    expiresAt: int = Field(description="Epoch seconds.")


class LaunchExchangeRequest(RequestBody):
    code: LaunchCodeValue
    projectId: JiraId
    taskId: JiraId


class LegacyConnectRequest(RequestBody):
    cloudId: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9:_/.-]+$")]
    enrollmentToken: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="One-time token from `seecodes admin enrollment-token create --cloud-id …`."
    )


class LegacyConnectResponse(ResponseBody):
    ok: Literal[True] = True
    apiKey: str
    linkSecret: str


class RequestKeyRequest(BaseModel):
    """Whatever the Jira App sends (`{}` as the contract shows); nothing in it is read. An object
    rather than a nullable free-form value, so a generated client that sends no body sends none."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})
