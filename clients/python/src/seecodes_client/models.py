"""Wire models, generated from the server's OpenAPI document by clients/python/generate.py: do not edit."""

#   filename:  openapi.json

from __future__ import annotations
from typing import Annotated, Any, Literal
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
)


class TaskAgeMinutes(RootModel[int]):
    root: Annotated[
        int, Field(examples=[105], ge=0, le=5270400, title="Taskageminutes")
    ]


class LocTotal(RootModel[int]):
    root: Annotated[
        int,
        Field(
            description="locAdded + locRemoved; computed when omitted.",
            examples=[39],
            ge=0,
            le=2000000,
            title="Loctotal",
        ),
    ]


class ChangedFile(RootModel[str]):
    root: Annotated[
        str, Field(max_length=1024, min_length=1, pattern="^[^\\x00-\\x1f\\x7f]+$")
    ]


class ChangedFilesCount(RootModel[int]):
    root: Annotated[
        int,
        Field(
            description="At least the number of distinct changedFiles (the list may be cut short); that number when omitted.",
            examples=[2],
            ge=0,
            le=100000,
            title="Changedfilescount",
        ),
    ]


class ProjectId(RootModel[str]):
    root: Annotated[
        str,
        Field(
            description="Optional; when sent it must be the permit's project.",
            max_length=128,
            min_length=1,
            pattern="^[A-Za-z0-9][A-Za-z0-9_.:\\-]*$",
            title="Projectid",
        ),
    ]


class TaskId(RootModel[str]):
    root: Annotated[
        str,
        Field(
            description="Optional; when sent it must be the permit's task.",
            max_length=128,
            min_length=1,
            pattern="^[A-Za-z0-9][A-Za-z0-9_.:\\-]*$",
            title="Taskid",
        ),
    ]


class ActivitySnapshotIn(BaseModel):
    """
    One short window of human work on the permit's task.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    windowStartedAt: Annotated[
        AwareDatetime,
        Field(examples=["2026-04-04T10:00:00.000Z"], title="Windowstartedat"),
    ]
    windowEndedAt: Annotated[
        AwareDatetime,
        Field(
            description="After windowStartedAt, at most 6 hours later, and not in the future.",
            examples=["2026-04-04T10:15:00.000Z"],
            title="Windowendedat",
        ),
    ]
    taskStartedAt: Annotated[
        AwareDatetime | None,
        Field(examples=["2026-04-04T08:30:00.000Z"], title="Taskstartedat"),
    ] = None
    taskAgeMinutes: Annotated[
        TaskAgeMinutes | None, Field(examples=[105], title="Taskageminutes")
    ] = None
    humanActiveMs: Annotated[
        int,
        Field(
            description="At most the window's length.",
            examples=[420000],
            ge=0,
            title="Humanactivems",
        ),
    ]
    locAdded: Annotated[int, Field(examples=[28], ge=0, le=1000000, title="Locadded")]
    locRemoved: Annotated[
        int, Field(examples=[11], ge=0, le=1000000, title="Locremoved")
    ]
    locTotal: Annotated[
        LocTotal | None,
        Field(
            description="locAdded + locRemoved; computed when omitted.",
            examples=[39],
            title="Loctotal",
        ),
    ] = None
    changedFiles: Annotated[
        list[ChangedFile] | None,
        Field(
            examples=[["src/auth.ts", "src/routes.tsx"]],
            max_length=500,
            title="Changedfiles",
        ),
    ] = None
    changedFilesCount: Annotated[
        ChangedFilesCount | None,
        Field(
            description="At least the number of distinct changedFiles (the list may be cut short); that number when omitted.",
            examples=[2],
            title="Changedfilescount",
        ),
    ] = None
    architectureChange: Annotated[bool | None, Field(title="Architecturechange")] = (
        False
    )
    logicChange: Annotated[bool | None, Field(title="Logicchange")] = False
    specificationUiChange: Annotated[
        bool | None, Field(title="Specificationuichange")
    ] = False
    projectId: Annotated[
        ProjectId | None,
        Field(
            description="Optional; when sent it must be the permit's project.",
            title="Projectid",
        ),
    ] = None
    taskId: Annotated[
        TaskId | None,
        Field(
            description="Optional; when sent it must be the permit's task.",
            title="Taskid",
        ),
    ] = None


class ActivitySnapshotResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    stored: Annotated[
        bool,
        Field(
            description="false when this task, user and window were stored before (a retry); timestamp and effortUnits are then the stored snapshot's.",
            title="Stored",
        ),
    ]
    timestamp: Annotated[
        str,
        Field(
            description="The snapshot's windowEndedAt, UTC.",
            examples=["2026-04-04T10:15:00.000000Z"],
            title="Timestamp",
        ),
    ]
    effortUnits: Annotated[
        int,
        Field(
            description="By the v1 formula (see GET /v1/jira/team-competition).",
            examples=[40],
            title="Effortunits",
        ),
    ]


class Reason(RootModel[str]):
    root: Annotated[
        str,
        Field(
            description="Shown in the run's log; a rejection's reason is its error.",
            max_length=500,
            title="Reason",
        ),
    ]


class ApprovalDecisionRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    decision: Annotated[Literal["approved", "rejected"], Field(title="Decision")]
    reason: Annotated[
        Reason | None,
        Field(
            description="Shown in the run's log; a rejection's reason is its error.",
            title="Reason",
        ),
    ] = None


class ApprovalItem(BaseModel):
    """
    A run waiting for a decision (`POST /v1/jira/approvals/{runId}`).
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    runId: Annotated[str, Field(title="Runid")]
    projectId: Annotated[str, Field(title="Projectid")]
    taskId: Annotated[str, Field(title="Taskid")]
    userAccountId: Annotated[
        str,
        Field(
            description="Who started the run (the permit's Jira account).",
            title="Useraccountid",
        ),
    ]
    model: Annotated[str, Field(title="Model")]
    estimatedInputTokens: Annotated[int, Field(title="Estimatedinputtokens")]
    estimatedCredits: Annotated[int, Field(title="Estimatedcredits")]
    requestedAt: Annotated[str, Field(title="Requestedat")]
    expiresAt: Annotated[
        str,
        Field(description="Undecided by then, the run is rejected.", title="Expiresat"),
    ]


class ApprovalListResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    items: Annotated[list[ApprovalItem], Field(title="Items")]
    nextCursor: Annotated[str | None, Field(title="Nextcursor")]


class BadGatewayError(BaseModel):
    """
    The error envelope of an HTTP 502 answer.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[False], Field(title="Ok")]
    error: Annotated[
        Literal["jira_request_refused", "jira_unavailable", "ticket_generation_failed"],
        Field(
            description="A stable code to branch on; `detail` is for people.",
            title="Error",
        ),
    ]
    detail: Annotated[
        str,
        Field(
            description="One sentence saying what went wrong and what to do.",
            title="Detail",
        ),
    ]


class BoardItem(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    source: Annotated[
        Literal["snapshot", "task_run", "vscode"],
        Field(
            description="snapshot: an activity snapshot; task_run: a settled run of a task without snapshots (run fallback); vscode: an accepted telemetry event of a task with neither.",
            title="Source",
        ),
    ]
    projectId: Annotated[str, Field(title="Projectid")]
    taskId: Annotated[str, Field(title="Taskid")]
    userAccountId: Annotated[str, Field(title="Useraccountid")]
    timestamp: Annotated[
        str,
        Field(description="When the item ended (ISO 8601, UTC).", title="Timestamp"),
    ]
    windowStartedAt: Annotated[str, Field(title="Windowstartedat")]
    windowEndedAt: Annotated[str, Field(title="Windowendedat")]
    humanActiveMs: Annotated[int, Field(title="Humanactivems")]
    locAdded: Annotated[int, Field(title="Locadded")]
    locRemoved: Annotated[int, Field(title="Locremoved")]
    locTotal: Annotated[int, Field(title="Loctotal")]
    changedFiles: Annotated[list[str], Field(title="Changedfiles")]
    changedFilesCount: Annotated[int, Field(title="Changedfilescount")]
    architectureChange: Annotated[bool, Field(title="Architecturechange")]
    logicChange: Annotated[bool, Field(title="Logicchange")]
    specificationUiChange: Annotated[bool, Field(title="Specificationuichange")]
    effortUnits: Annotated[int, Field(title="Effortunits")]
    runId: Annotated[
        str | None, Field(description="task_run items: the run.", title="Runid")
    ]
    eventType: Annotated[
        str | None,
        Field(description="vscode items: the event's type.", title="Eventtype"),
    ]


class MonthlyCredits(RootModel[int]):
    root: Annotated[
        int,
        Field(
            description="The installation's limit per calendar month (UTC); null: none.",
            ge=0,
            le=1000000000000,
            title="Monthlycredits",
        ),
    ]


class AlertThreshold(RootModel[int]):
    root: Annotated[
        int, Field(description="Percent of the monthly limit.", ge=1, le=1000)
    ]


class ApprovalThreshold(RootModel[int]):
    root: Annotated[
        int,
        Field(
            description="A `start` estimated at this many credits or more does not queue: the run waits in `awaiting_approval`, reserving nothing, until the Jira App or an operator decides (`/v1/jira/approvals`). null: no gate.",
            ge=0,
            le=1000000000000,
            title="Approvalthreshold",
        ),
    ]


class BudgetUsage(BaseModel):
    """
    One budget in `GET /v1/jira/usage`.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    scope: Annotated[Literal["installation", "project"], Field(title="Scope")]
    projectId: Annotated[
        str | None,
        Field(
            description="The project of a project budget; null for the installation's.",
            title="Projectid",
        ),
    ]
    month: Annotated[str, Field(title="Month")]
    monthlyCredits: Annotated[int, Field(title="Monthlycredits")]
    mode: Annotated[Literal["alert", "stop"], Field(title="BudgetMode")]
    spent: Annotated[int, Field(title="Spent")]
    reserved: Annotated[int, Field(title="Reserved")]
    remaining: Annotated[int, Field(title="Remaining")]
    thresholdsCrossed: Annotated[list[int], Field(title="Thresholdscrossed")]


class ConflictError(BaseModel):
    """
    The error envelope of an HTTP 409 answer.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[False], Field(title="Ok")]
    error: Annotated[
        Literal[
            "jira_reauthorization_required",
            "jira_site_choice_invalid",
            "run_already_finished",
            "run_already_started",
            "run_conflict",
            "run_inputs_frozen",
            "run_not_awaiting_approval",
            "run_not_started",
            "run_not_succeeded",
            "too_many_unstarted_runs",
            "too_many_webhooks",
            "uploads_incomplete",
        ],
        Field(
            description="A stable code to branch on; `detail` is for people.",
            title="Error",
        ),
    ]
    detail: Annotated[
        str,
        Field(
            description="One sentence saying what went wrong and what to do.",
            title="Detail",
        ),
    ]
    missing: Annotated[
        list[str] | None,
        Field(description="The declared files not uploaded yet.", title="Missing"),
    ] = None


class ConnectResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    authUrl: Annotated[
        str,
        Field(
            description="Open in a browser; Atlassian asks the user for consent.",
            title="Authurl",
        ),
    ]
    state: Annotated[
        str,
        Field(
            description="One-time, valid 10 minutes; the callback consumes it.",
            title="State",
        ),
    ]
    expiresAt: Annotated[int, Field(description="Epoch seconds.", title="Expiresat")]


class EventResult(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    requestId: Annotated[str, Field(title="Requestid")]
    status: Annotated[Literal["accepted", "replayed"], Field(title="Status")]


class FieldError(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    loc: Annotated[
        list[str | int],
        Field(
            description='Where the problem is, e.g. `["body", "progress"]`.',
            title="Loc",
        ),
    ]
    msg: Annotated[str, Field(title="Msg")]
    type: Annotated[
        str,
        Field(
            description="Pydantic's error type, e.g. `missing`, `string_too_long`.",
            title="Type",
        ),
    ]


class Model(RootModel[str]):
    root: Annotated[
        str,
        Field(
            description="The parent's model when omitted.",
            max_length=100,
            min_length=1,
            title="Model",
        ),
    ]


class FollowUpRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    userPrompt: Annotated[
        str,
        Field(
            examples=["now add the migration notes"],
            max_length=100000,
            min_length=1,
            title="Userprompt",
        ),
    ]
    model: Annotated[
        Model | None,
        Field(description="The parent's model when omitted.", title="Model"),
    ] = None


class ForbiddenError(BaseModel):
    """
    The error envelope of an HTTP 403 answer.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[False], Field(title="Ok")]
    error: Annotated[
        Literal[
            "cloud_id_mismatch",
            "enrollment_token_invalid",
            "forbidden",
            "hint_mismatch",
            "installation_inactive",
            "installation_mismatch",
            "launch_code_expired",
            "launch_code_invalid",
            "launch_code_mismatch",
            "launch_code_replayed",
            "permit_scope_mismatch",
            "principal_mismatch",
            "request_key_expired",
            "request_key_invalid",
            "request_key_mismatch",
            "request_key_missing",
            "request_key_replayed",
            "storage_url_expired",
            "storage_url_invalid",
        ],
        Field(
            description="A stable code to branch on; `detail` is for people.",
            title="Error",
        ),
    ]
    detail: Annotated[
        str,
        Field(
            description="One sentence saying what went wrong and what to do.",
            title="Detail",
        ),
    ]


class ForgeTokenResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    kept: Annotated[
        bool,
        Field(
            description="False when the token was not kept (expired, or apiBaseUrl not trusted).",
            title="Kept",
        ),
    ]
    expiresAt: Annotated[int | None, Field(title="Expiresat")]


class ForgeTokenState(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    cloudId: Annotated[str, Field(title="Cloudid")]
    expiresAt: Annotated[str, Field(title="Expiresat")]
    fresh: Annotated[bool, Field(title="Fresh")]


class RunId(RootModel[str]):
    root: Annotated[
        str,
        Field(
            description="Draft from this run's output (the run must have succeeded).",
            max_length=40,
            min_length=1,
            title="Runid",
        ),
    ]


class Markdown(RootModel[str]):
    root: Annotated[
        str,
        Field(
            description="Or draft from this document. A checklist is parsed as is; prose goes to a model.",
            max_length=200000,
            min_length=1,
            title="Markdown",
        ),
    ]


class GenerateRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    runId: Annotated[
        RunId | None,
        Field(
            description="Draft from this run's output (the run must have succeeded).",
            title="Runid",
        ),
    ] = None
    markdown: Annotated[
        Markdown | None,
        Field(
            description="Or draft from this document. A checklist is parsed as is; prose goes to a model.",
            title="Markdown",
        ),
    ] = None


class GoneError(BaseModel):
    """
    The error envelope of an HTTP 410 answer.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[False], Field(title="Ok")]
    error: Annotated[
        Literal["run_artifacts_purged", "telemetry_ingestion_disabled"],
        Field(
            description="A stable code to branch on; `detail` is for people.",
            title="Error",
        ),
    ]
    detail: Annotated[
        str,
        Field(
            description="One sentence saying what went wrong and what to do.",
            title="Detail",
        ),
    ]


class Health(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]


class UpdatedAt(RootModel[int]):
    root: Annotated[
        int,
        Field(
            description="Epoch milliseconds.",
            examples=[1710000000000],
            ge=0,
            le=4102444800000,
            title="Updatedat",
        ),
    ]


class ImportantSymbol(RootModel[str]):
    root: Annotated[str, Field(max_length=256, min_length=1)]


class Dependency(RootModel[str]):
    root: Annotated[
        str, Field(max_length=1024, min_length=1, pattern="^[^\\x00-\\x1f\\x7f]+$")
    ]


class Export(RootModel[str]):
    root: Annotated[str, Field(max_length=256, min_length=1)]


class IndexEntryIn(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    hash: Annotated[
        str,
        Field(
            description="SHA-256 of the file content: 64 lowercase hex digits.",
            examples=[
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            ],
            pattern="^[0-9a-f]{64}$",
            title="Hash",
        ),
    ]
    updatedAt: Annotated[
        UpdatedAt | None,
        Field(
            description="Epoch milliseconds; the server's time when omitted.",
            examples=[1710000000000],
            title="Updatedat",
        ),
    ] = None
    short: Annotated[
        str | None,
        Field(examples=["Authentication helper"], max_length=1000, title="Short"),
    ] = ""
    detailed: Annotated[
        str | None,
        Field(examples=["Longer explainer..."], max_length=20000, title="Detailed"),
    ] = ""
    important_symbols: Annotated[
        list[ImportantSymbol] | None,
        Field(examples=[["AuthGuard"]], max_length=200, title="Important Symbols"),
    ] = None
    dependencies: Annotated[
        list[Dependency] | None,
        Field(examples=[["src/session.ts"]], max_length=500, title="Dependencies"),
    ] = None
    exports: Annotated[
        list[Export] | None,
        Field(examples=[["AuthGuard"]], max_length=200, title="Exports"),
    ] = None


class IndexEntryOut(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    hash: Annotated[str, Field(title="Hash")]
    updatedAt: Annotated[int, Field(title="Updatedat")]
    short: Annotated[str, Field(title="Short")]
    detailed: Annotated[str, Field(title="Detailed")]
    important_symbols: Annotated[list[str], Field(title="Important Symbols")]
    dependencies: Annotated[list[str], Field(title="Dependencies")]
    exports: Annotated[list[str], Field(title="Exports")]


class IndexMatch(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    pathMatched: Annotated[
        bool,
        Field(
            description="true: the entry is the same path's (or, with entry null, the path is indexed with another hash and nothing reusable exists: stale).",
            title="Pathmatched",
        ),
    ]
    hashMatchedPath: Annotated[
        str | None,
        Field(
            description="The path whose entry has the queried hash.",
            title="Hashmatchedpath",
        ),
    ]
    entry: IndexEntryOut | None


class IndexQueryItem(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    path: Annotated[
        str,
        Field(
            examples=["src/auth.ts"],
            max_length=1024,
            min_length=1,
            pattern="^[^\\x00-\\x1f\\x7f]+$",
            title="Path",
        ),
    ]
    hash: Annotated[
        str,
        Field(
            description="SHA-256 of the file content: 64 lowercase hex digits.",
            examples=[
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            ],
            pattern="^[0-9a-f]{64}$",
            title="Hash",
        ),
    ]


class IndexQueryResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    updatedAt: Annotated[
        int | None,
        Field(
            description="Epoch ms of the project's last upsert; null if never indexed.",
            examples=[1710000000000],
            title="Updatedat",
        ),
    ]
    matches: Annotated[
        dict[str, IndexMatch],
        Field(
            description="By queried path. Paths with neither a stored entry nor a reusable hash are absent.",
            title="Matches",
        ),
    ]


class DeletePath(RootModel[str]):
    root: Annotated[
        str, Field(max_length=1024, min_length=1, pattern="^[^\\x00-\\x1f\\x7f]+$")
    ]


class IndexUpsert(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    entries: Annotated[
        dict[
            Annotated[
                str,
                StringConstraints(
                    pattern=r"^[^\x00-\x1f\x7f]+$", min_length=1, max_length=1024
                ),
            ],
            IndexEntryIn,
        ]
        | None,
        Field(description="By path; at most 5000 entries.", title="Entries"),
    ] = None
    deletePaths: Annotated[
        list[DeletePath] | None,
        Field(
            description="At most 5000; deleted in the same transaction as the upsert.",
            examples=[["src/old-auth.ts"]],
            max_length=5000,
            title="Deletepaths",
        ),
    ] = None


class IndexUpsertResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    updatedAt: Annotated[
        int,
        Field(
            description="Epoch ms of this upsert.",
            examples=[1710000000000],
            title="Updatedat",
        ),
    ]
    upserted: Annotated[int, Field(title="Upserted")]
    deleted: Annotated[int, Field(title="Deleted")]
    totalFiles: Annotated[int, Field(title="Totalfiles")]


class Model1(RootModel[str]):
    root: Annotated[
        str,
        Field(examples=["strict light"], max_length=100, min_length=1, title="Model"),
    ]


class File(RootModel[str]):
    root: Annotated[
        str, Field(max_length=128, min_length=1, pattern="^[A-Za-z0-9._ -]+$")
    ]


class InitRunRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    model: Annotated[Model1 | None, Field(examples=["strict light"], title="Model")] = (
        None
    )
    files: Annotated[
        list[File] | None,
        Field(
            description="Plain file names (no path separators, no `..`); at most 20.",
            max_length=20,
            min_length=1,
            title="Files",
        ),
    ] = None


class InitRunResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    runId: Annotated[str, Field(title="Runid")]
    bucket: Annotated[str, Field(title="Bucket")]
    prefix: Annotated[str, Field(title="Prefix")]
    uploads: Annotated[dict[str, str], Field(title="Uploads")]


class CloudIdHint(RootModel[str]):
    root: Annotated[str, Field(max_length=255, title="Cloudidhint")]


class SiteUrlHint(RootModel[str]):
    root: Annotated[str, Field(max_length=255, title="Siteurlhint")]


class InstanceMetricsReport(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    installedUsersCount: Annotated[
        int, Field(examples=[17], ge=0, le=10000000, title="Installeduserscount")
    ]
    source: Annotated[
        str,
        Field(
            description="Which Jira App job reported the figure.",
            examples=["forge-hourly-sync"],
            max_length=64,
            min_length=1,
            pattern="^[A-Za-z0-9][A-Za-z0-9_.:\\-]*$",
            title="Source",
        ),
    ]
    cloudIdHint: Annotated[CloudIdHint | None, Field(title="Cloudidhint")] = None
    siteUrlHint: Annotated[SiteUrlHint | None, Field(title="Siteurlhint")] = None


class InstanceResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    cloudId: Annotated[
        str | None,
        Field(
            description="The Jira site id (UUID). The contract's example shows the ARI here.",
            title="Cloudid",
        ),
    ]
    status: Annotated[
        Literal["active", "suspended", "uninstalled"],
        Field(examples=["active"], title="InstallationStatus"),
    ]
    credits: Annotated[
        int,
        Field(
            description="Available credits: the sum of the installation's ledger.",
            title="Credits",
        ),
    ]
    apiKeyPrefix: Annotated[
        str | None,
        Field(
            description="Prefix of the legacy instance key, when one was issued.",
            title="Apikeyprefix",
        ),
    ]
    updatedAt: Annotated[
        int,
        Field(
            description="Epoch seconds of the last change to the installation's facts.",
            title="Updatedat",
        ),
    ]
    installationId: Annotated[
        str,
        Field(examples=["ari:cloud:ecosystem::installation/…"], title="Installationid"),
    ]
    capabilitySet: Annotated[
        str, Field(examples=["capabilityadvanced"], title="Capabilityset")
    ]
    licenseActive: Annotated[bool, Field(title="Licenseactive")]
    activationSource: Annotated[
        Literal[
            "forge-license", "forge-development", "forge-unlicensed", "legacy-connect"
        ],
        Field(examples=["forge-license"], title="Activationsource"),
    ]
    devModeActive: Annotated[bool, Field(title="Devmodeactive")]
    billingMode: Annotated[
        Literal["forge", "operator"],
        Field(
            description="`forge`: Forge bills the licence; `operator`: this server's operator does.",
            examples=["forge"],
            title="Billingmode",
        ),
    ]
    siteUrl: Annotated[
        str | None, Field(examples=["https://tenant.atlassian.net"], title="Siteurl")
    ]


class JiraIssue(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    cloudId: Annotated[str | None, Field(title="Cloudid")]
    projectKey: Annotated[str | None, Field(title="Projectkey")]
    issueId: Annotated[str, Field(title="Issueid")]
    issueKey: Annotated[str | None, Field(title="Issuekey")]
    url: Annotated[str | None, Field(title="Url")]
    priority: Annotated[str | None, Field(title="Priority")]
    labels: Annotated[list[str] | None, Field(title="Labels")]
    status: Annotated[str | None, Field(title="Status")]
    statusCategory: Annotated[
        str | None,
        Field(description="new, indeterminate or done.", title="Statuscategory"),
    ]
    pushedAt: Annotated[str | None, Field(title="Pushedat")]
    syncedAt: Annotated[str | None, Field(title="Syncedat")]


class JiraProject(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    id: Annotated[str, Field(title="Id")]
    key: Annotated[str, Field(title="Key")]
    name: Annotated[str, Field(title="Name")]


class JiraSite(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    cloudId: Annotated[str, Field(title="Cloudid")]
    name: Annotated[str, Field(title="Name")]
    url: Annotated[str, Field(title="Url")]


class JiraSyncState(BaseModel):
    """
    Where the progress document stands in the Jira issue. Absent (null) when the installation
    has no way to write to Jira (no OAuth connection and no Forge system token).
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    state: Annotated[Literal["synced", "pending", "failed"], Field(title="State")]
    at: Annotated[
        str | None,
        Field(
            description="When it was written (synced) or given up on (failed).",
            title="At",
        ),
    ]
    reason: Annotated[
        str | None,
        Field(
            description="Why it failed; a newer report is tried again.", title="Reason"
        ),
    ]


class LastError(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    reason: Annotated[str, Field(title="Reason")]
    at: Annotated[str, Field(title="At")]


class LaunchExchangeRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    code: Annotated[
        str, Field(pattern="^sc_launch_[A-Za-z0-9_-]{20,100}$", title="Code")
    ]
    projectId: Annotated[
        str,
        Field(
            max_length=128,
            min_length=1,
            pattern="^[A-Za-z0-9][A-Za-z0-9_.:\\-]*$",
            title="Projectid",
        ),
    ]
    taskId: Annotated[
        str,
        Field(
            max_length=128,
            min_length=1,
            pattern="^[A-Za-z0-9][A-Za-z0-9_.:\\-]*$",
            title="Taskid",
        ),
    ]


class LegacyConnectRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    cloudId: Annotated[
        str,
        Field(
            max_length=64, min_length=1, pattern="^[A-Za-z0-9:_/.-]+$", title="Cloudid"
        ),
    ]
    enrollmentToken: Annotated[
        str,
        Field(
            description="One-time token from `seecodes admin enrollment-token create --cloud-id …`.",
            max_length=128,
            min_length=1,
            title="Enrollmenttoken",
        ),
    ]


class LegacyConnectResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    apiKey: Annotated[str, Field(title="Apikey")]
    linkSecret: Annotated[str, Field(title="Linksecret")]


class ModelPricing(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    base: Annotated[
        float,
        Field(description="Credits charged per run.", examples=[12.5], title="Base"),
    ]
    per_token: Annotated[
        float,
        Field(
            description="Credits per input and output token.",
            examples=[0.0006],
            title="Per Token",
        ),
    ]


class MonthBaseline(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    month: Annotated[
        str, Field(description="endDate's month.", examples=["2026-04"], title="Month")
    ]
    taskCount: Annotated[
        int,
        Field(
            description="Tasks with any activity in that month.",
            examples=[18],
            title="Taskcount",
        ),
    ]
    medianEffortUnits: Annotated[
        int | None,
        Field(
            description="Median raw effort of those tasks (half up); null when there are none.",
            examples=[72],
            title="Medianeffortunits",
        ),
    ]


class NotFoundError(BaseModel):
    """
    The error envelope of an HTTP 404 answer.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[False], Field(title="Ok")]
    error: Annotated[
        Literal[
            "Context not found",
            "installation_not_found",
            "no_active_integration",
            "not_found",
            "object_not_found",
            "run_not_found",
            "share_link_not_found",
            "ticket_not_found",
            "webhook_not_found",
        ],
        Field(
            description="A stable code to branch on; `detail` is for people.",
            title="Error",
        ),
    ]
    detail: Annotated[
        str,
        Field(
            description="One sentence saying what went wrong and what to do.",
            title="Detail",
        ),
    ]


class OkResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]


class PayloadTooLargeError(BaseModel):
    """
    The error envelope of an HTTP 413 answer.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[False], Field(title="Ok")]
    error: Annotated[
        Literal["index_full", "payload_too_large", "storage_quota_exceeded"],
        Field(
            description="A stable code to branch on; `detail` is for people.",
            title="Error",
        ),
    ]
    detail: Annotated[
        str,
        Field(
            description="One sentence saying what went wrong and what to do.",
            title="Detail",
        ),
    ]


class PaymentRequiredError(BaseModel):
    """
    The error envelope of an HTTP 402 answer.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[False], Field(title="Ok")]
    error: Annotated[
        Literal["budget_exceeded", "insufficient_credits"],
        Field(
            description="A stable code to branch on; `detail` is for people.",
            title="Error",
        ),
    ]
    detail: Annotated[
        str,
        Field(
            description="One sentence saying what went wrong and what to do.",
            title="Detail",
        ),
    ]
    budgetScope: Annotated[
        Literal["installation", "project"] | None,
        Field(
            description="Which budget refused: the installation's, or one of its Jira projects'.",
            title="Budgetscope",
        ),
    ] = None
    projectId: Annotated[
        str | None,
        Field(
            description="The project of a project budget; null for the installation's.",
            title="Projectid",
        ),
    ] = None
    month: Annotated[
        str | None,
        Field(description="The budget's calendar month (UTC), YYYY-MM.", title="Month"),
    ] = None
    monthlyCredits: Annotated[
        int | None,
        Field(description="The budget's limit for the month.", title="Monthlycredits"),
    ] = None
    spentCredits: Annotated[
        int | None,
        Field(
            description="Credits charged by settled runs this month.",
            title="Spentcredits",
        ),
    ] = None
    reservedCredits: Annotated[
        int | None,
        Field(
            description="Credits held by runs not settled yet.", title="Reservedcredits"
        ),
    ] = None
    requiredCredits: Annotated[
        int | None,
        Field(description="What the run's estimate reserves.", title="Requiredcredits"),
    ] = None
    availableCredits: Annotated[
        int | None,
        Field(
            description="The installation's balance less its open reservations.",
            title="Availablecredits",
        ),
    ] = None
    shortfall: Annotated[
        int | None,
        Field(description="requiredCredits − availableCredits.", title="Shortfall"),
    ] = None


class PermitResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    cloudId: Annotated[
        str | None, Field(description="The Jira site id (UUID).", title="Cloudid")
    ]
    installationId: Annotated[
        str, Field(description="The installation ARI.", title="Installationid")
    ]
    projectId: Annotated[str, Field(title="Projectid")]
    taskId: Annotated[str, Field(title="Taskid")]
    permit: Annotated[str, Field(title="Permit")]
    expiresAt: Annotated[int, Field(description="Epoch seconds.", title="Expiresat")]


class PriorityResult(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    requested: Annotated[
        str,
        Field(
            description="The Jira name P0–P3 maps to (unset: Medium).",
            title="Requested",
        ),
    ]
    applied: Annotated[
        str | None,
        Field(
            description="The priority the issue got; null: Jira's default.",
            title="Applied",
        ),
    ]
    fallback: Annotated[
        bool,
        Field(
            description="True when the project's scheme lacked the requested name.",
            title="Fallback",
        ),
    ]
    note: Annotated[str | None, Field(title="Note")]


class ReadyItem(RootModel[str]):
    root: Annotated[str, Field(max_length=2000)]


class LeftItem(RootModel[str]):
    root: Annotated[str, Field(max_length=2000)]


class Risk(RootModel[str]):
    root: Annotated[str, Field(max_length=2000)]


class Log(RootModel[str]):
    root: Annotated[str, Field(max_length=2000)]


class ProgressDocument(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ready: Annotated[
        list[ReadyItem] | None,
        Field(
            examples=[["Protected-route wrapper is live"]],
            max_length=200,
            title="Ready",
        ),
    ] = None
    left: Annotated[
        list[LeftItem] | None,
        Field(
            examples=[["Callback validation still needs coverage"]],
            max_length=200,
            title="Left",
        ),
    ] = None
    progress: Annotated[
        str,
        Field(
            description='A whole percentage, "0%" to "100%".',
            examples=["67%"],
            pattern="^(100|[1-9]?[0-9])%$",
            title="Progress",
        ),
    ]
    confidence: Annotated[
        Literal["Low", "Medium", "High"], Field(examples=["Medium"], title="Confidence")
    ]
    risks: Annotated[
        list[Risk] | None,
        Field(
            examples=[["Identity provider payload may still change"]],
            max_length=200,
            title="Risks",
        ),
    ] = None
    logs: Annotated[
        list[Log] | None,
        Field(
            examples=[["Recent activity summary line"]], max_length=200, title="Logs"
        ),
    ] = None


class AlertThresholds(RootModel[list[AlertThreshold]]):
    root: Annotated[
        list[AlertThreshold],
        Field(
            description="Percents of the limit to announce; the installation's when omitted.",
            max_length=10,
            title="Alertthresholds",
        ),
    ]


class ProjectBudgetSettings(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    monthlyCredits: Annotated[
        int, Field(examples=[500], ge=0, le=1000000000000, title="Monthlycredits")
    ]
    mode: Annotated[Literal["alert", "stop"] | None, Field(title="BudgetMode")] = (
        "alert"
    )
    alertThresholds: Annotated[
        AlertThresholds | None,
        Field(
            description="Percents of the limit to announce; the installation's when omitted.",
            title="Alertthresholds",
        ),
    ] = None


class ProjectBudgetState(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    spent: Annotated[
        int,
        Field(description="Credits charged by settlements this month.", title="Spent"),
    ]
    reserved: Annotated[
        int,
        Field(description="Credits held by runs not settled yet.", title="Reserved"),
    ]
    remaining: Annotated[
        int | None,
        Field(
            description="Limit − spent − reserved, never below 0; null with no limit.",
            title="Remaining",
        ),
    ]
    thresholdsCrossed: Annotated[
        list[int],
        Field(
            description="Thresholds this budget crossed this month.",
            title="Thresholdscrossed",
        ),
    ]
    monthlyCredits: Annotated[int, Field(title="Monthlycredits")]
    mode: Annotated[Literal["alert", "stop"], Field(title="BudgetMode")]
    alertThresholds: Annotated[list[int], Field(title="Alertthresholds")]


class ProjectsResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    projects: Annotated[list[JiraProject], Field(title="Projects")]
    startAt: Annotated[int, Field(title="Startat")]
    nextStartAt: Annotated[
        int | None,
        Field(
            description="Pass as startAt for more; null after the last project.",
            title="Nextstartat",
        ),
    ]
    total: Annotated[int | None, Field(title="Total")]


class TicketId(RootModel[str]):
    root: Annotated[str, Field(max_length=40, min_length=1, pattern="^[A-Za-z0-9_-]+$")]


class PushRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ticketIds: Annotated[
        list[TicketId], Field(max_length=100, min_length=1, title="Ticketids")
    ]
    projectKey: Annotated[
        str,
        Field(
            examples=["AUTH"],
            max_length=128,
            min_length=1,
            pattern="^[A-Za-z0-9][A-Za-z0-9_]*$",
            title="Projectkey",
        ),
    ]
    issueType: Annotated[
        str | None,
        Field(
            description="The issue type's name in that project.",
            max_length=60,
            min_length=1,
            title="Issuetype",
        ),
    ] = "Task"


class PushResult(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ticketId: Annotated[str, Field(title="Ticketid")]
    outcome: Annotated[
        Literal["created", "already_pushed", "in_progress", "failed"],
        Field(title="Outcome"),
    ]
    issueId: Annotated[str | None, Field(title="Issueid")]
    issueKey: Annotated[str | None, Field(title="Issuekey")]
    url: Annotated[str | None, Field(title="Url")]
    priority: PriorityResult | None
    reason: Annotated[str | None, Field(title="Reason")]


class Readiness(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    degraded: Annotated[
        list[str] | None,
        Field(
            description="Ready, but part of the service is not: runs of these models wait and no live worker serves them.",
            title="Degraded",
        ),
    ] = None


class RequestKeyRequest(BaseModel):
    """
    Whatever the Jira App sends (`{}` as the contract shows); nothing in it is read. An object
    rather than a nullable free-form value, so a generated client that sends no body sends none.
    """

    model_config = ConfigDict(
        extra="ignore",
    )


class RequestKeyResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    requestKey: Annotated[str, Field(examples=["sc_jira_req_…"], title="Requestkey")]
    expiresAt: Annotated[
        int,
        Field(description="Epoch seconds.", examples=[1735689600], title="Expiresat"),
    ]


class RevokedShareLinks(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    revoked: Annotated[
        int,
        Field(
            description="How many live links stopped opening the run.", title="Revoked"
        ),
    ]


class RunStatusDocument(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    status: Annotated[
        Literal[
            "initialized",
            "awaiting_approval",
            "queued",
            "in_process",
            "processing_remote",
            "succeeded",
            "failed",
            "cancelled",
            "rejected",
        ],
        Field(title="RunStatus"),
    ]
    updatedAt: Annotated[str, Field(title="Updatedat")]
    error: Annotated[str | None, Field(title="Error")]
    resultZipUrl: Annotated[str | None, Field(title="Resultzipurl")]


class RunStatusResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    status: RunStatusDocument


class RunSummary(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    runId: Annotated[str, Field(title="Runid")]
    status: Annotated[
        Literal[
            "initialized",
            "awaiting_approval",
            "queued",
            "in_process",
            "processing_remote",
            "succeeded",
            "failed",
            "cancelled",
            "rejected",
        ],
        Field(title="RunStatus"),
    ]
    model: Annotated[str, Field(title="Model")]
    files: Annotated[list[str], Field(title="Files")]
    createdAt: Annotated[str, Field(title="Createdat")]
    updatedAt: Annotated[str, Field(title="Updatedat")]
    error: Annotated[str | None, Field(title="Error")]
    rerunOf: Annotated[str | None, Field(title="Rerunof")]
    parentRunId: Annotated[
        str | None,
        Field(
            description="The run a follow-up continues (`POST …/continue`).",
            title="Parentrunid",
        ),
    ]
    estimatedCredits: Annotated[int | None, Field(title="Estimatedcredits")]
    creditsCharged: Annotated[int | None, Field(title="Creditscharged")]


class RunTelemetry(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    runId: Annotated[str, Field(title="Runid")]
    status: Annotated[
        Literal[
            "initialized",
            "awaiting_approval",
            "queued",
            "in_process",
            "processing_remote",
            "succeeded",
            "failed",
            "cancelled",
            "rejected",
        ],
        Field(title="RunStatus"),
    ]
    model: Annotated[str, Field(title="Model")]
    inputTokens: Annotated[int | None, Field(title="Inputtokens")]
    outputTokens: Annotated[int | None, Field(title="Outputtokens")]
    estimatedInputTokens: Annotated[int | None, Field(title="Estimatedinputtokens")]
    queueMs: Annotated[
        int | None,
        Field(description="From start to claimed by an executor.", title="Queuems"),
    ]
    firstTokenMs: Annotated[
        int | None,
        Field(
            description="From claimed to the model's first token.", title="Firsttokenms"
        ),
    ]
    totalMs: Annotated[
        int | None, Field(description="From start to settled.", title="Totalms")
    ]
    estimatedCredits: Annotated[int | None, Field(title="Estimatedcredits")]
    creditsCharged: Annotated[int | None, Field(title="Creditscharged")]


class ServiceUnavailableError(BaseModel):
    """
    The error envelope of an HTTP 503 answer.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[False], Field(title="Ok")]
    error: Annotated[
        Literal["jira_not_configured", "jira_rate_limited", "service_unavailable"],
        Field(
            description="A stable code to branch on; `detail` is for people.",
            title="Error",
        ),
    ]
    detail: Annotated[
        str,
        Field(
            description="One sentence saying what went wrong and what to do.",
            title="Detail",
        ),
    ]
    retryAfterSeconds: Annotated[
        int | None,
        Field(
            description="The same figure as the Retry-After header.",
            title="Retryafterseconds",
        ),
    ] = None


class ShareLinkResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    url: Annotated[
        str, Field(description="The link; its token is shown only here.", title="Url")
    ]
    expiresAt: Annotated[str, Field(title="Expiresat")]


class SharedRun(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    runId: Annotated[str, Field(title="Runid")]
    projectId: Annotated[str, Field(title="Projectid")]
    taskId: Annotated[str, Field(title="Taskid")]
    status: Annotated[
        Literal[
            "initialized",
            "awaiting_approval",
            "queued",
            "in_process",
            "processing_remote",
            "succeeded",
            "failed",
            "cancelled",
            "rejected",
        ],
        Field(title="RunStatus"),
    ]
    model: Annotated[str, Field(title="Model")]
    createdAt: Annotated[str, Field(title="Createdat")]
    updatedAt: Annotated[str, Field(title="Updatedat")]
    error: Annotated[str | None, Field(title="Error")]
    output: Annotated[
        str | None,
        Field(
            description="Once the run succeeded, unless retention purged it.",
            title="Output",
        ),
    ]
    log: Annotated[
        str | None,
        Field(
            description="The run's log lines; null once retention purged them.",
            title="Log",
        ),
    ]


class Signals(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    architecture: Annotated[
        int,
        Field(description="Items with an architecture change.", title="Architecture"),
    ]
    logic: Annotated[
        int, Field(description="Items with a logic change.", title="Logic")
    ]
    specificationUi: Annotated[
        int,
        Field(
            description="Items with a specification/UI change.", title="Specificationui"
        ),
    ]


class SiteChoice(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    cloudId: Annotated[
        str,
        Field(max_length=64, min_length=1, pattern="^[A-Za-z0-9-]+$", title="Cloudid"),
    ]


class SourceSummary(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    snapshotItems: Annotated[int, Field(title="Snapshotitems")]
    taskRunFallbackItems: Annotated[int, Field(title="Taskrunfallbackitems")]
    vscodeFallbackItems: Annotated[int, Field(title="Vscodefallbackitems")]
    fallbackTaskCount: Annotated[int, Field(title="Fallbacktaskcount")]


class UserPrompt(RootModel[str]):
    root: Annotated[
        str,
        Field(examples=["generate change log"], max_length=100000, title="Userprompt"),
    ]


class StartRunRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    model: Annotated[Model1 | None, Field(examples=["strict light"], title="Model")] = (
        None
    )
    userPrompt: Annotated[
        UserPrompt | None, Field(examples=["generate change log"], title="Userprompt")
    ] = None


class StartRunResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    runId: Annotated[str, Field(title="Runid")]
    status: Annotated[
        Literal[
            "initialized",
            "awaiting_approval",
            "queued",
            "in_process",
            "processing_remote",
            "succeeded",
            "failed",
            "cancelled",
            "rejected",
        ],
        Field(title="RunStatus"),
    ]
    estimatedInputTokens: Annotated[int, Field(title="Estimatedinputtokens")]
    estimatedCredits: Annotated[int, Field(title="Estimatedcredits")]


class StatusResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    connected: Annotated[
        bool,
        Field(
            description="An active OAuth (3LO) connection exists.", title="Connected"
        ),
    ]
    status: Annotated[
        Literal[
            "none",
            "choosing_site",
            "active",
            "reauthorization_required",
            "disconnected",
        ],
        Field(
            description="reauthorization_required: Atlassian refused the tokens in a way a refresh does not fix (see lastError); connect again.",
            title="Status",
        ),
    ]
    connectedAt: Annotated[str | None, Field(title="Connectedat")]
    cloudId: Annotated[str | None, Field(title="Cloudid")]
    siteUrl: Annotated[str | None, Field(title="Siteurl")]
    siteName: Annotated[str | None, Field(title="Sitename")]
    scopes: Annotated[list[str], Field(title="Scopes")]
    pendingSites: Annotated[
        list[JiraSite] | None,
        Field(
            description="Set while the user must choose a site.", title="Pendingsites"
        ),
    ]
    lastError: LastError | None
    disconnectedAt: Annotated[str | None, Field(title="Disconnectedat")]
    disconnectReason: Annotated[str | None, Field(title="Disconnectreason")]
    forgeSystemToken: Annotated[
        ForgeTokenState | None,
        Field(
            description="The Jira App's system token, used for writes when there is no OAuth connection."
        ),
    ]
    writesVia: Annotated[Literal["oauth", "forge"] | None, Field(title="Writesvia")]


class StoredObject(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    key: Annotated[str, Field(title="Key")]
    size: Annotated[int, Field(title="Size")]


class StoredProgress(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    updatedAt: Annotated[
        str, Field(examples=["2026-04-04T12:34:56Z"], title="Updatedat")
    ]
    ready: Annotated[list[str], Field(title="Ready")]
    left: Annotated[list[str], Field(title="Left")]
    progress: Annotated[str, Field(title="Progress")]
    confidence: Annotated[Literal["Low", "Medium", "High"], Field(title="Confidence")]
    risks: Annotated[list[str], Field(title="Risks")]
    logs: Annotated[list[str], Field(title="Logs")]


class TicketIds(RootModel[list[TicketId]]):
    root: Annotated[
        list[TicketId],
        Field(
            description="Omitted: every pushed ticket of the installation (newest 200).",
            max_length=200,
            title="Ticketids",
        ),
    ]


class SyncRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ticketIds: Annotated[
        TicketIds | None,
        Field(
            description="Omitted: every pushed ticket of the installation (newest 200).",
            title="Ticketids",
        ),
    ] = None


class TaskContextResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    context: Annotated[
        dict[str, Any],
        Field(
            examples=[
                {
                    "attachments": [],
                    "descriptionMd": "…",
                    "images": [],
                    "title": "Implement auth flow",
                }
            ],
            title="Context",
        ),
    ]
    initialTai: Annotated[
        dict[str, Any] | None,
        Field(examples=[{"task": {}, "version": 1}], title="Initialtai"),
    ]


class UserAccountId(RootModel[str]):
    root: Annotated[
        str,
        Field(
            description="Defaults to the FIT's principal; must equal it when the FIT carries one.",
            examples=["557058:abcd"],
            max_length=128,
            min_length=1,
            pattern="^[A-Za-z0-9][A-Za-z0-9_.:\\-]*$",
            title="Useraccountid",
        ),
    ]


class TaskPermitRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    projectId: Annotated[
        str,
        Field(
            examples=["AUTH"],
            max_length=128,
            min_length=1,
            pattern="^[A-Za-z0-9][A-Za-z0-9_.:\\-]*$",
            title="Projectid",
        ),
    ]
    taskId: Annotated[
        str,
        Field(
            examples=["AUTH-128"],
            max_length=128,
            min_length=1,
            pattern="^[A-Za-z0-9][A-Za-z0-9_.:\\-]*$",
            title="Taskid",
        ),
    ]
    userAccountId: Annotated[
        UserAccountId | None,
        Field(
            description="Defaults to the FIT's principal; must equal it when the FIT carries one.",
            examples=["557058:abcd"],
            title="Useraccountid",
        ),
    ] = None
    cloudIdHint: Annotated[CloudIdHint | None, Field(title="Cloudidhint")] = None
    siteUrlHint: Annotated[SiteUrlHint | None, Field(title="Siteurlhint")] = None


class TaskSummary(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    projectId: Annotated[str, Field(title="Projectid")]
    taskId: Annotated[str, Field(title="Taskid")]
    source: Annotated[
        Literal["snapshots", "task_run_fallback", "vscode_fallback"],
        Field(title="Source"),
    ]
    itemCount: Annotated[int, Field(title="Itemcount")]
    activeMinutes: Annotated[float, Field(title="Activeminutes")]
    locChanged: Annotated[int, Field(title="Locchanged")]
    filesChanged: Annotated[int, Field(title="Fileschanged")]
    signals: Signals
    rawEffortUnits: Annotated[int, Field(title="Raweffortunits")]
    relativeEffort: Annotated[
        float | None,
        Field(
            description="rawEffortUnits / monthBaseline.medianEffortUnits × 100 (100 = a typical task of the month); null without a baseline.",
            title="Relativeeffort",
        ),
    ]
    contributors: Annotated[
        list[str],
        Field(
            description="userAccountIds, most effort first; at most 50.",
            title="Contributors",
        ),
    ]
    solved: Annotated[
        bool,
        Field(
            description="The task's newest progress document (as of endDate) says 100%.",
            title="Solved",
        ),
    ]
    firstActivityAt: Annotated[str, Field(title="Firstactivityat")]
    lastActivityAt: Annotated[str, Field(title="Lastactivityat")]


class TelemetryEventIn(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    eventType: Annotated[
        str,
        Field(
            examples=["ai.usage"],
            max_length=64,
            min_length=1,
            pattern="^[A-Za-z][A-Za-z0-9_.:\\-]*$",
            title="Eventtype",
        ),
    ]
    cloudId: Annotated[
        str,
        Field(
            description="The permit's site: its cloudId (UUID) or installation ARI.",
            examples=["ari:cloud:ecosystem::installation/…"],
            max_length=255,
            title="Cloudid",
        ),
    ]
    requestId: Annotated[
        str,
        Field(
            description="Accepted once per installation; a repeat is reported as `replayed` and not stored.",
            examples=["1f0d7e2e-5b1c-4f7a-9a51-0d3c2b1a0e9f"],
            max_length=128,
            min_length=1,
            pattern="^[A-Za-z0-9][A-Za-z0-9_.:\\-]*$",
            title="Requestid",
        ),
    ]
    timestamp: Annotated[
        AwareDatetime, Field(examples=["2026-04-04T12:34:56Z"], title="Timestamp")
    ]


class TelemetryResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    accepted: Annotated[int, Field(title="Accepted")]
    replayed: Annotated[int, Field(title="Replayed")]
    results: Annotated[
        list[EventResult],
        Field(description="One per event, in the batch's order.", title="Results"),
    ]


class Ticket(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    id: Annotated[str, Field(title="Id")]
    batchId: Annotated[str, Field(title="Batchid")]
    source: Annotated[Literal["checklist", "ai"], Field(title="Source")]
    runId: Annotated[str | None, Field(title="Runid")]
    position: Annotated[int, Field(title="Position")]
    title: Annotated[str, Field(title="Title")]
    description: Annotated[str, Field(title="Description")]
    priority: Annotated[Literal["P0", "P1", "P2", "P3"] | None, Field(title="Priority")]
    labels: Annotated[list[str], Field(title="Labels")]
    createdAt: Annotated[str, Field(title="Createdat")]
    jira: JiraIssue | None


class TicketsResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    tickets: Annotated[list[Ticket], Field(title="Tickets")]


class TooManyRequestsError(BaseModel):
    """
    The error envelope of an HTTP 429 answer.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[False], Field(title="Ok")]
    error: Annotated[
        Literal["rate_limited", "too_many_streams"],
        Field(
            description="A stable code to branch on; `detail` is for people.",
            title="Error",
        ),
    ]
    detail: Annotated[
        str,
        Field(
            description="One sentence saying what went wrong and what to do.",
            title="Detail",
        ),
    ]


class UnauthenticatedError(BaseModel):
    """
    The error envelope of an HTTP 401 answer.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[False], Field(title="Ok")]
    error: Annotated[
        Literal[
            "invalid_forge_token",
            "invalid_instance_key",
            "invalid_operator_token",
            "invalid_permit",
            "unauthenticated",
        ],
        Field(
            description="A stable code to branch on; `detail` is for people.",
            title="Error",
        ),
    ]
    detail: Annotated[
        str,
        Field(
            description="One sentence saying what went wrong and what to do.",
            title="Detail",
        ),
    ]


class UsageRow(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    timestamp: Annotated[str, Field(title="Timestamp")]
    type: Annotated[str, Field(title="Type")]
    taskId: Annotated[str, Field(title="Taskid")]
    credits: Annotated[int, Field(title="Credits")]
    projectId: Annotated[str, Field(title="Projectid")]
    runId: Annotated[str, Field(title="Runid")]
    model: Annotated[str, Field(title="Model")]
    inputTokens: Annotated[int, Field(title="Inputtokens")]
    outputTokens: Annotated[int, Field(title="Outputtokens")]


class ValidationFailedError(BaseModel):
    """
    The error envelope of an HTTP 422 answer.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[False], Field(title="Ok")]
    error: Annotated[
        Literal[
            "context_too_large",
            "invalid_object_key",
            "model_unavailable",
            "unknown_model",
            "upload_too_large",
            "validation_error",
            "webhook_address_refused",
        ],
        Field(
            description="A stable code to branch on; `detail` is for people.",
            title="Error",
        ),
    ]
    detail: Annotated[
        str,
        Field(
            description="One sentence saying what went wrong and what to do.",
            title="Detail",
        ),
    ]
    fields: Annotated[
        list[FieldError] | None,
        Field(
            description="One entry per invalid input; the input itself is never echoed.",
            title="Fields",
        ),
    ] = None


class VscodeLinkRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    projectId: Annotated[
        str,
        Field(
            examples=["AUTH"],
            max_length=128,
            min_length=1,
            pattern="^[A-Za-z0-9][A-Za-z0-9_.:\\-]*$",
            title="Projectid",
        ),
    ]
    taskId: Annotated[
        str,
        Field(
            examples=["AUTH-128"],
            max_length=128,
            min_length=1,
            pattern="^[A-Za-z0-9][A-Za-z0-9_.:\\-]*$",
            title="Taskid",
        ),
    ]
    userAccountId: Annotated[
        UserAccountId | None,
        Field(
            description="Defaults to the FIT's principal; must equal it when the FIT carries one.",
            examples=["557058:abcd"],
            title="Useraccountid",
        ),
    ] = None
    cloudIdHint: Annotated[CloudIdHint | None, Field(title="Cloudidhint")] = None
    siteUrlHint: Annotated[SiteUrlHint | None, Field(title="Siteurlhint")] = None
    expirationDays: Annotated[
        int | None,
        Field(
            description="Launch code lifetime in days (1–14).",
            ge=1,
            le=14,
            title="Expirationdays",
        ),
    ] = 1
    jiraContext: Annotated[
        dict[str, Any] | None,
        Field(description="Stored for GET /v1/tasks/context.", title="Jiracontext"),
    ] = None
    initialTaiDoc: Annotated[
        dict[str, Any] | None,
        Field(
            description="Editor boot state, served as initialTai.",
            title="Initialtaidoc",
        ),
    ] = None


class VscodeLinkResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    launchCode: Annotated[str, Field(examples=["sc_launch_…"], title="Launchcode")]
    vscodeUrl: Annotated[
        str,
        Field(
            examples=[
                "vscode://eprojac.seecodes-task-runner/project/AUTH/task/AUTH-128?code=sc_launch_…"
            ],
            title="Vscodeurl",
        ),
    ]
    httpsUrl: Annotated[
        str,
        Field(
            examples=[
                "https://seecodes.example.com/v1/launch?p=AUTH&t=AUTH-128&c=sc_launch_…"
            ],
            title="Httpsurl",
        ),
    ]
    expiresAt: Annotated[int, Field(description="Epoch seconds.", title="Expiresat")]


class WebhookRegistration(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    url: Annotated[
        str,
        Field(
            description="Where events are posted: https://, resolving only to public addresses (SEECODES_WEBHOOK_ALLOWED_HOSTS names exceptions).",
            examples=["https://hooks.example.com/seecodes"],
            max_length=2048,
            min_length=8,
            title="Url",
        ),
    ]
    events: Annotated[
        list[
            Literal[
                "run.queued",
                "run.started",
                "run.succeeded",
                "run.failed",
                "run.cancelled",
                "run.awaiting_approval",
                "progress.saved",
                "budget.threshold",
                "approval.requested",
                "approval.decided",
            ]
        ],
        Field(
            description="The events to post; duplicates count once.",
            max_length=10,
            min_length=1,
            title="Events",
        ),
    ]


class WebhookRemoved(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    id: Annotated[str, Field(title="Id")]


class Weights(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    activeMinute: Annotated[float, Field(title="Activeminute")]
    locChanged: Annotated[float, Field(title="Locchanged")]
    changedFile: Annotated[int, Field(title="Changedfile")]
    architectureBonus: Annotated[int, Field(title="Architecturebonus")]
    logicBonus: Annotated[int, Field(title="Logicbonus")]
    specificationUiBonus: Annotated[int, Field(title="Specificationuibonus")]


class ErrorEnvelope(BaseModel):
    """
    The shape every non-2xx body has. The document gives each status its own model
    (`error_model`), whose `error` lists the codes that status can carry.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[False], Field(title="Ok")]
    error: Annotated[
        str,
        Field(
            description="A stable code to branch on; `detail` is for people.",
            title="Error",
        ),
    ]
    detail: Annotated[
        str,
        Field(
            description="One sentence saying what went wrong and what to do.",
            title="Detail",
        ),
    ]


class ApprovalDecisionResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    runId: Annotated[str, Field(title="Runid")]
    status: Annotated[
        Literal[
            "initialized",
            "awaiting_approval",
            "queued",
            "in_process",
            "processing_remote",
            "succeeded",
            "failed",
            "cancelled",
            "rejected",
        ],
        Field(
            description="`queued` once approved, `rejected` once rejected.",
            title="RunStatus",
        ),
    ]


class BudgetSettings(BaseModel):
    """
    The whole budget document: a PUT replaces it, and a field left out takes its default.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    monthlyCredits: Annotated[
        MonthlyCredits | None,
        Field(
            description="The installation's limit per calendar month (UTC); null: none.",
            title="Monthlycredits",
        ),
    ] = None
    mode: Annotated[
        Literal["alert", "stop"] | None,
        Field(
            description="`alert`: runs go on past the limit. `stop`: a start whose estimate would pass it is refused with 402 `budget_exceeded`.",
            title="BudgetMode",
        ),
    ] = "alert"
    alertThresholds: Annotated[
        list[AlertThreshold] | None, Field(max_length=10, title="Alertthresholds")
    ] = None
    projects: Annotated[
        dict[
            Annotated[
                str,
                StringConstraints(
                    pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$",
                    min_length=1,
                    max_length=128,
                ),
            ],
            ProjectBudgetSettings,
        ]
        | None,
        Field(
            description="Budgets of Jira projects by project key, each counted within the installation's.",
            title="Projects",
        ),
    ] = None
    approvalThreshold: Annotated[
        ApprovalThreshold | None,
        Field(
            description="A `start` estimated at this many credits or more does not queue: the run waits in `awaiting_approval`, reserving nothing, until the Jira App or an operator decides (`/v1/jira/approvals`). null: no gate.",
            title="Approvalthreshold",
        ),
    ] = None


class BudgetsResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    spent: Annotated[
        int,
        Field(description="Credits charged by settlements this month.", title="Spent"),
    ]
    reserved: Annotated[
        int,
        Field(description="Credits held by runs not settled yet.", title="Reserved"),
    ]
    remaining: Annotated[
        int | None,
        Field(
            description="Limit − spent − reserved, never below 0; null with no limit.",
            title="Remaining",
        ),
    ]
    thresholdsCrossed: Annotated[
        list[int],
        Field(
            description="Thresholds this budget crossed this month.",
            title="Thresholdscrossed",
        ),
    ]
    ok: Annotated[Literal[True], Field(title="Ok")]
    month: Annotated[
        str,
        Field(
            description="The calendar month (UTC) the figures are for, YYYY-MM.",
            examples=["2026-12"],
            title="Month",
        ),
    ]
    monthlyCredits: Annotated[int | None, Field(title="Monthlycredits")]
    mode: Annotated[Literal["alert", "stop"], Field(title="BudgetMode")]
    alertThresholds: Annotated[list[int], Field(title="Alertthresholds")]
    projects: Annotated[dict[str, ProjectBudgetState], Field(title="Projects")]
    approvalThreshold: Annotated[int | None, Field(title="Approvalthreshold")]


class CancelRunResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    runId: Annotated[str, Field(title="Runid")]
    status: Annotated[
        Literal[
            "initialized",
            "awaiting_approval",
            "queued",
            "in_process",
            "processing_remote",
            "succeeded",
            "failed",
            "cancelled",
            "rejected",
        ],
        Field(title="RunStatus"),
    ]


class Contributor(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    userAccountId: Annotated[str, Field(title="Useraccountid")]
    rawEffortUnits: Annotated[int, Field(title="Raweffortunits")]
    relativeEffort: Annotated[
        float | None,
        Field(
            description="rawEffortUnits / medianEffortUnits × 100.",
            title="Relativeeffort",
        ),
    ]
    teamShare: Annotated[
        float,
        Field(
            description="Percent of the period's effort, 0–100, one decimal.",
            title="Teamshare",
        ),
    ]
    contributedTasks: Annotated[int, Field(title="Contributedtasks")]
    solvedTasks: Annotated[
        int,
        Field(
            description="Contributed tasks that are solved (see TaskSummary.solved).",
            title="Solvedtasks",
        ),
    ]
    activeMinutes: Annotated[float, Field(title="Activeminutes")]
    signals: Signals


class DeliveryItem(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    id: Annotated[
        str,
        Field(
            description="The `webhook-id` header, the same on every attempt.",
            title="Id",
        ),
    ]
    event: Annotated[
        Literal[
            "run.queued",
            "run.started",
            "run.succeeded",
            "run.failed",
            "run.cancelled",
            "run.awaiting_approval",
            "progress.saved",
            "budget.threshold",
            "approval.requested",
            "approval.decided",
        ],
        Field(title="WebhookEvent"),
    ]
    status: Annotated[
        Literal["pending", "delivered", "failed"], Field(title="DeliveryStatus")
    ]
    attempts: Annotated[int, Field(title="Attempts")]
    lastStatusCode: Annotated[
        int | None,
        Field(
            description="The receiver's last HTTP status; null: no answer.",
            title="Laststatuscode",
        ),
    ]
    lastError: Annotated[str | None, Field(title="Lasterror")]
    lastLatencyMs: Annotated[int | None, Field(title="Lastlatencyms")]
    createdAt: Annotated[str, Field(title="Createdat")]
    lastAttemptAt: Annotated[str | None, Field(title="Lastattemptat")]
    nextAttemptAt: Annotated[
        str | None,
        Field(
            description="When a pending delivery is tried again.", title="Nextattemptat"
        ),
    ]
    deliveredAt: Annotated[str | None, Field(title="Deliveredat")]


class DeliveryListResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    items: Annotated[list[DeliveryItem], Field(title="Items")]
    nextCursor: Annotated[str | None, Field(title="Nextcursor")]


class Formula(BaseModel):
    """
    effortUnits = round(activeMinutes × activeMinute + locChanged × locChanged + filesChanged ×
    changedFile + architectureBonus·architecture + logicBonus·logic + specificationUiBonus·specificationUi),
    half up, per item.
    """

    model_config = ConfigDict(
        extra="ignore",
    )
    version: Annotated[Literal["v1"], Field(title="Version")]
    weights: Weights


class GenerateResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    batchId: Annotated[str, Field(title="Batchid")]
    source: Annotated[Literal["checklist", "ai"], Field(title="Source")]
    tickets: Annotated[list[Ticket], Field(title="Tickets")]
    pending: Annotated[
        bool,
        Field(
            description="The model had not answered in time; the tickets land in this batch (GET /v1/execution/tickets?batchId=…) when it does.",
            title="Pending",
        ),
    ]


class IndexQuery(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    items: Annotated[
        list[IndexQueryItem],
        Field(
            description="At most 5000 items, each path once.",
            max_length=5000,
            title="Items",
        ),
    ]


class ModelInfo(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    id: Annotated[
        str,
        Field(
            description="The alias a run names in `model`.",
            examples=["strict light"],
            title="Id",
        ),
    ]
    name: Annotated[str, Field(examples=["strict light"], title="Name")]
    maxContext: Annotated[
        int,
        Field(
            description="Most tokens of uploads and prompt a run may send.",
            examples=[8192],
            title="Maxcontext",
        ),
    ]
    description: Annotated[
        str, Field(examples=["Fast, high-context strict tasks"], title="Description")
    ]
    pricing: ModelPricing


class ModelsResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    models: Annotated[list[ModelInfo], Field(title="Models")]


class ProgressResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    progress: Annotated[
        StoredProgress | None,
        Field(description="null until the IDE has reported progress for the task."),
    ]
    jiraSync: Annotated[
        JiraSyncState | None,
        Field(
            description="The write-back into the Jira issue; absent when the installation has no Jira connection."
        ),
    ] = None


class PushResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    results: Annotated[list[PushResult], Field(title="Results")]


class RunListResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    items: Annotated[list[RunSummary], Field(title="Items")]
    nextCursor: Annotated[str | None, Field(title="Nextcursor")]


class SyncResult(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ticketId: Annotated[str, Field(title="Ticketid")]
    outcome: Annotated[
        Literal["synced", "moved", "not_pushed", "not_found", "failed"],
        Field(title="Outcome"),
    ]
    reason: Annotated[str | None, Field(title="Reason")]
    ticket: Ticket


class TeamCompetitionResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    startDate: Annotated[str, Field(examples=["2026-04-01"], title="Startdate")]
    endDate: Annotated[str, Field(examples=["2026-04-30"], title="Enddate")]
    items: Annotated[
        list[BoardItem],
        Field(description="The newest 500 items of the period.", title="Items"),
    ]
    itemsTruncated: Annotated[bool, Field(title="Itemstruncated")]
    taskSummaries: Annotated[
        list[TaskSummary],
        Field(description="Most effort first; at most 1000.", title="Tasksummaries"),
    ]
    taskSummariesTruncated: Annotated[bool, Field(title="Tasksummariestruncated")]
    contributors: Annotated[
        list[Contributor],
        Field(description="Most effort first; at most 1000.", title="Contributors"),
    ]
    contributorsTruncated: Annotated[bool, Field(title="Contributorstruncated")]
    monthBaseline: MonthBaseline
    formula: Formula
    sourceSummary: SourceSummary


class TelemetryBatch(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    events: Annotated[
        list[TelemetryEventIn], Field(max_length=100, min_length=1, title="Events")
    ]


class UsageResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    items: Annotated[list[UsageRow], Field(title="Items")]
    availableCredits: Annotated[int, Field(title="Availablecredits")]
    budgets: Annotated[
        list[BudgetUsage],
        Field(
            description="This month's budgets with a limit (`PUT /v1/jira/budgets`), the installation's first.",
            title="Budgets",
        ),
    ]


class WebhookCreated(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    id: Annotated[str, Field(title="Id")]
    secret: Annotated[
        str,
        Field(
            description="The signing secret (`whsec_…`, Standard Webhooks): shown only here. Verify `webhook-signature` with it.",
            title="Secret",
        ),
    ]
    url: Annotated[str, Field(title="Url")]
    events: Annotated[
        list[
            Literal[
                "run.queued",
                "run.started",
                "run.succeeded",
                "run.failed",
                "run.cancelled",
                "run.awaiting_approval",
                "progress.saved",
                "budget.threshold",
                "approval.requested",
                "approval.decided",
            ]
        ],
        Field(title="Events"),
    ]


class WebhookSummary(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    id: Annotated[str, Field(title="Id")]
    url: Annotated[str, Field(title="Url")]
    events: Annotated[
        list[
            Literal[
                "run.queued",
                "run.started",
                "run.succeeded",
                "run.failed",
                "run.cancelled",
                "run.awaiting_approval",
                "progress.saved",
                "budget.threshold",
                "approval.requested",
                "approval.decided",
            ]
        ],
        Field(title="Events"),
    ]
    enabled: Annotated[bool, Field(title="Enabled")]
    disabledReason: Annotated[
        str | None,
        Field(
            description="Why it stopped taking events; enable it to resume.",
            title="Disabledreason",
        ),
    ]
    consecutiveFailures: Annotated[int, Field(title="Consecutivefailures")]
    pendingDeliveries: Annotated[int, Field(title="Pendingdeliveries")]
    lastDelivery: DeliveryItem | None
    createdAt: Annotated[str, Field(title="Createdat")]


class SyncResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    results: Annotated[list[SyncResult], Field(title="Results")]


class WebhookListResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    items: Annotated[list[WebhookSummary], Field(title="Items")]


class WebhookResponse(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
    )
    ok: Annotated[Literal[True], Field(title="Ok")]
    webhook: WebhookSummary
