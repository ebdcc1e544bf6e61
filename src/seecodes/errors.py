"""The error hierarchy and the one envelope every non-2xx response uses.

Services raise these; one handler in app.py renders them. HTTP 401 is reserved for a missing or
invalid FIT or permit, because Forge's bridge reads 401 as "the token could not be verified".
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from seecodes.error_bodies import (
    BudgetOverrun,
    CreditShortfall,
    ErrorEnvelope,
    FieldError,
    FieldErrors,
    MissingUploads,
    RetryAfter,
)


class SeecodesError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_detail: ClassVar[str] = "The request could not be processed."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        super().__init__(self.detail)

    def extras(self) -> BaseModel | None:
        """Fields this error adds to the envelope. An override's return annotation is what the
        OpenAPI document shows, so what is sent and what is documented have one source."""
        return None

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.code, "detail": self.detail}
        extras = self.extras()
        if extras is not None:
            body.update(extras.model_dump(mode="json"))
        return body


# -- 401: the bearer credential itself ----------------------------------------------------------
class Unauthenticated(SeecodesError):
    status_code = 401
    code = "unauthenticated"
    default_detail = "A valid bearer credential is required."


class InvalidForgeToken(Unauthenticated):
    code = "invalid_forge_token"
    default_detail = "The Forge invocation token could not be verified."


class InvalidPermit(Unauthenticated):
    code = "invalid_permit"
    default_detail = "The task permit is missing, invalid, expired or revoked."


# -- 403: a valid caller that may not do this ---------------------------------------------------
class Forbidden(SeecodesError):
    status_code = 403
    code = "forbidden"
    default_detail = "This credential does not allow the request."


class RequestKeyRejected(Forbidden):
    code = "request_key_invalid"
    default_detail = "The Jira request key is unknown; bootstrap with POST /v1/jira/request-key."


class RequestKeyMissing(RequestKeyRejected):
    code = "request_key_missing"
    default_detail = "X-SeeCodes-Jira-Request-Key is required; bootstrap with POST /v1/jira/request-key."


class RequestKeyExpired(RequestKeyRejected):
    code = "request_key_expired"
    default_detail = "The Jira request key has expired; bootstrap with POST /v1/jira/request-key."


class RequestKeyReplayed(RequestKeyRejected):
    code = "request_key_replayed"
    default_detail = "The Jira request key was already used; its chain is revoked. Bootstrap with POST /v1/jira/request-key."


class RequestKeyMismatch(RequestKeyRejected):
    code = "request_key_mismatch"
    default_detail = "The Jira request key belongs to another installation or user; its chain is revoked."


class LaunchCodeRejected(Forbidden):
    code = "launch_code_invalid"
    default_detail = "The launch code is unknown."


class LaunchCodeExpired(LaunchCodeRejected):
    code = "launch_code_expired"
    default_detail = "The launch code has expired; open the task from Jira again."


class LaunchCodeReplayed(LaunchCodeRejected):
    code = "launch_code_replayed"
    default_detail = "The launch code was already exchanged; the permit it minted is revoked."


class LaunchCodeMismatch(LaunchCodeRejected):
    code = "launch_code_mismatch"
    default_detail = "The launch code was minted for another project or task."


class PermitScopeMismatch(Forbidden):
    code = "permit_scope_mismatch"
    default_detail = "The task permit is bound to another project or task."


class HintMismatch(Forbidden):
    code = "hint_mismatch"
    default_detail = "cloudIdHint or siteUrlHint names a site this credential does not belong to."


class CloudIdMismatch(Forbidden):
    code = "cloud_id_mismatch"
    default_detail = "An event names a cloudId other than the task permit's site."


class PrincipalMismatch(Forbidden):
    code = "principal_mismatch"
    default_detail = "userAccountId must be the Jira user who invoked the app."


class InstallationInactive(Forbidden):
    code = "installation_inactive"
    default_detail = "This installation is not active."


class EnrollmentRejected(Forbidden):
    code = "enrollment_token_invalid"
    default_detail = "The enrollment token is unknown, expired, used, or issued for another site."


class StorageUrlRejected(Forbidden):
    code = "storage_url_invalid"
    default_detail = "The storage URL is not valid: its signature does not match what it asks for."


class StorageUrlExpired(StorageUrlRejected):
    code = "storage_url_expired"
    default_detail = "The storage URL has expired; ask for a new one."


class InstanceKeyRejected(Unauthenticated):
    code = "invalid_instance_key"
    default_detail = "X-Cloud-Id and X-Instance-Key do not match an enrolled installation."


# -- 404 / 409 / 410 / 413 / 422 / 429 / 503 -------------------------------------------------------
class NotFound(SeecodesError):
    status_code = 404
    code = "not_found"
    default_detail = "Not found."


class ObjectNotFound(NotFound):
    code = "object_not_found"
    default_detail = "Nothing is stored under this key."


class ContextNotFound(NotFound):
    # The contract spells this error exactly so; first-party clients match on it.
    code = "Context not found"
    default_detail = "No Jira task context was stored for this project and task."


class TelemetryDisabled(SeecodesError):
    status_code = 410
    code = "telemetry_ingestion_disabled"
    # The contract's sentence, word for word: the live service answers exactly this.
    default_detail = (
        "Direct VS Code telemetry ingestion is disabled until an authenticated sender contract "
        "with replay protection and rate limits is finalized."
    )


class PayloadTooLarge(SeecodesError):
    status_code = 413
    code = "payload_too_large"
    default_detail = "The request body is larger than this server accepts."


class UploadTooLarge(PayloadTooLarge):
    # Same code as the body-limit middleware's 413: a client sees one error for one cause.
    default_detail = "The file is larger than the per-file upload limit."


class InvalidInput(SeecodesError):
    status_code = 422
    code = "validation_error"
    default_detail = "The request is not valid."


class RequestValidationFailed(InvalidInput):
    """The request's parameters or body do not match the operation's schema (FastAPI's check)."""

    def __init__(self, fields: list[FieldError]) -> None:
        super().__init__()
        self.fields = fields

    def extras(self) -> FieldErrors:
        return FieldErrors(fields=self.fields)


class RateLimited(SeecodesError):
    status_code = 429
    code = "rate_limited"
    default_detail = "Too many requests for this credential; retry after the Retry-After seconds."


class TooManyStreams(RateLimited):
    code = "too_many_streams"
    default_detail = "Too many open event streams for this permit or installation; close one or retry later."


class InvalidObjectKey(InvalidInput):
    code = "invalid_object_key"
    default_detail = "The storage key is not a valid relative path."


class UnknownModel(InvalidInput):
    code = "unknown_model"
    default_detail = "This server offers no model by that name; GET /v1/models lists them."


class ModelUnavailable(InvalidInput):
    code = "model_unavailable"
    default_detail = "The model is listed but cannot run on this server right now."


class ServiceUnavailable(SeecodesError):
    status_code = 503
    code = "service_unavailable"
    default_detail = "A backing service is unavailable; retry shortly."


class AtCapacity(ServiceUnavailable):
    """Shed before any work was done (kit/admission.py): retrying after Retry-After is safe."""

    default_detail = "The server is at capacity; nothing was done. Retry after the Retry-After seconds."

    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(headers={"Retry-After": str(retry_after_seconds)})

    def extras(self) -> RetryAfter:
        return RetryAfter(retryAfterSeconds=self.retry_after_seconds)


# -- runs ----------------------------------------------------------------------------------------
class RunNotFound(NotFound):
    # Also the answer for another task's run: no existence oracle across tasks.
    code = "run_not_found"
    default_detail = "No run with this id exists for the permit's task."


class RunConflict(SeecodesError):
    status_code = 409
    code = "run_conflict"
    default_detail = "The run is not in a state that allows this."


class RunAlreadyStarted(RunConflict):
    code = "run_already_started"
    default_detail = "The run has already been started."


class ShareLinkNotFound(NotFound):
    # Unknown, expired, revoked, or another run's: one answer, so a link reveals nothing else.
    code = "share_link_not_found"
    default_detail = "This share link does not exist, has expired or was revoked."


class WebhookNotFound(NotFound):
    # Also the answer for another installation's endpoint.
    code = "webhook_not_found"
    default_detail = "No webhook endpoint with this id exists for this installation."


class WebhookAddressRefused(InvalidInput):
    code = "webhook_address_refused"
    default_detail = (
        "This URL cannot receive webhooks: it must be https:// and resolve only to public addresses."
    )


class TooManyWebhooks(SeecodesError):
    status_code = 409
    code = "too_many_webhooks"
    default_detail = "The installation has as many webhook endpoints as it may; remove one first."


class RunNotAwaitingApproval(RunConflict):
    code = "run_not_awaiting_approval"
    default_detail = "The run is not awaiting approval: it was decided, cancelled or never gated."


class RunAlreadyFinished(RunConflict):
    code = "run_already_finished"
    default_detail = "The run has already settled."


class RunInputsFrozen(RunConflict):
    code = "run_inputs_frozen"
    default_detail = "The run has started: its uploads are fixed; init a new run to change them."


class TooManyUnstartedRuns(RunConflict):
    code = "too_many_unstarted_runs"
    default_detail = (
        "The installation has too many runs that were initialized and never started; start or cancel some."
    )


class RunNotStarted(RunConflict):
    code = "run_not_started"
    default_detail = "The run was never started; start it instead of rerunning it."


class RunNotSucceeded(RunConflict):
    code = "run_not_succeeded"
    default_detail = "The run has no output: it has not succeeded."


class RunArtifactsPurged(SeecodesError):
    status_code = 410
    code = "run_artifacts_purged"
    default_detail = "The run's output and logs were deleted by the retention setting."


class UploadsIncomplete(RunConflict):
    code = "uploads_incomplete"

    def __init__(self, missing: list[str]) -> None:
        super().__init__("Upload every declared file before starting: missing " + ", ".join(missing) + ".")
        self.missing = missing

    def extras(self) -> MissingUploads:
        return MissingUploads(missing=self.missing)


class InsufficientCredits(SeecodesError):
    status_code = 402
    code = "insufficient_credits"

    def __init__(self, *, required: int, available: int) -> None:
        self.required, self.available = required, available
        super().__init__(
            f"The run needs {required} credits and {available} are available: {required - available} short."
        )

    def extras(self) -> CreditShortfall:
        return CreditShortfall(
            requiredCredits=self.required,
            availableCredits=self.available,
            shortfall=self.required - self.available,
        )


class BudgetExceeded(SeecodesError):
    status_code = 402
    code = "budget_exceeded"
    default_detail = "The run's estimate would pass a monthly credit budget set to stop runs."

    def __init__(self, overrun: BudgetOverrun) -> None:
        self.overrun = overrun
        name = f"project {overrun.projectId}'s" if overrun.projectId is not None else "the installation's"
        super().__init__(
            f"The run needs {overrun.requiredCredits} credits; {name} budget for {overrun.month} is "
            f"{overrun.monthlyCredits}, with {overrun.spentCredits} spent and {overrun.reservedCredits} "
            "reserved. Nothing was reserved."
        )

    def extras(self) -> BudgetOverrun:
        return self.overrun


class ContextTooLarge(InvalidInput):
    code = "context_too_large"
    default_detail = "The uploads and prompt exceed the model's context window."


class StorageQuotaExceeded(SeecodesError):
    status_code = 413
    code = "storage_quota_exceeded"
    default_detail = "The installation's stored run inputs would pass its storage quota."


class IndexFull(SeecodesError):
    status_code = 413
    code = "index_full"
    default_detail = "The project's index holds as many files as it may."


class UploadedFileTooLarge(InvalidInput):
    code = "upload_too_large"
    default_detail = "An uploaded file is larger than the per-file upload limit."


# -- Jira connector ------------------------------------------------------------------------------
class InvalidOperatorToken(Unauthenticated):
    code = "invalid_operator_token"
    default_detail = "The operator token is unknown or revoked."


class InstallationMismatch(Forbidden):
    code = "installation_mismatch"
    default_detail = "The Jira App may manage its own installation only."


class InstallationNotFound(NotFound):
    code = "installation_not_found"
    default_detail = "No installation with this id exists."


class NoActiveIntegration(NotFound):
    code = "no_active_integration"
    default_detail = "This installation has no active Jira connection; connect it first."


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    default_detail = "No execution ticket with this id exists for the installation."


class JiraSiteChoice(SeecodesError):
    status_code = 409
    code = "jira_site_choice_invalid"
    default_detail = "No pending Jira site choice for this installation has this cloudId."


class JiraReauthorizationRequired(SeecodesError):
    status_code = 409
    code = "jira_reauthorization_required"
    default_detail = "Atlassian refused the stored grant; the connection is now disconnected. Connect again."


class JiraTokenRefused(JiraReauthorizationRequired):
    default_detail = (
        "Atlassian refused the connection's token, and a refresh would not fix it (a scope the grant "
        "lacks, or a token refused right after its refresh); connect again."
    )


class JiraNotConfigured(ServiceUnavailable):
    code = "jira_not_configured"
    default_detail = "The Jira connector is not configured on this server (SEECODES_JIRA_* settings)."


class JiraUnavailable(SeecodesError):
    status_code = 502
    code = "jira_unavailable"
    default_detail = "Jira Cloud did not answer; retry shortly."


class JiraRequestRefused(SeecodesError):
    status_code = 502
    code = "jira_request_refused"
    default_detail = "Jira Cloud refused the request."


class JiraRateLimited(ServiceUnavailable):
    code = "jira_rate_limited"
    default_detail = "Jira Cloud is rate limiting this site; retry after the Retry-After seconds."


class TicketGenerationFailed(SeecodesError):
    status_code = 502
    code = "ticket_generation_failed"
    default_detail = "The model did not produce valid tickets; nothing was stored."


# The name each status's error model has in the document (and so in generated clients).
_MODEL_NAMES = {
    400: "BadRequestError",
    401: "UnauthenticatedError",
    402: "PaymentRequiredError",
    403: "ForbiddenError",
    404: "NotFoundError",
    409: "ConflictError",
    410: "GoneError",
    413: "PayloadTooLargeError",
    422: "ValidationFailedError",
    429: "TooManyRequestsError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
}
# Answered with a Retry-After header: a client waits that long before it tries again.
RETRY_AFTER_STATUSES = frozenset({429, 503})


def _all_errors() -> list[type[SeecodesError]]:
    found: list[type[SeecodesError]] = []
    pending: list[type[SeecodesError]] = [SeecodesError]
    while pending:
        error = pending.pop()
        found.append(error)
        pending.extend(error.__subclasses__())
    return found


def _extras_model(error: type[SeecodesError]) -> type[BaseModel] | None:
    model = get_type_hints(error.extras).get("return")
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _omit_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


@cache
def error_model(status: int) -> type[BaseModel]:
    """The envelope as status `status` sends it: `error` is one of that status's codes, and every
    extra field one of its errors adds is typed (required when all of them add it)."""
    errors = sorted(
        (error for error in _all_errors() if error.status_code == status), key=lambda error: error.code
    )
    codes = list(dict.fromkeys(error.code for error in errors))
    extras = [_extras_model(error) for error in errors]
    envelope = ErrorEnvelope.model_fields
    fields: dict[str, Any] = {
        "ok": (Literal[False], ...),
        "error": (Literal[tuple(codes)], Field(description=envelope["error"].description)),
        "detail": (str, Field(description=envelope["detail"].description)),
    }
    for extras_model in dict.fromkeys(extra for extra in extras if extra is not None):
        for name, info in extras_model.model_fields.items():
            if all(extra is extras_model for extra in extras):
                fields[name] = (info.annotation, Field(description=info.description))
            else:
                # Sent by some of the status's codes only: absent, never null, for the others.
                fields[name] = (
                    info.annotation,
                    Field(default=None, description=info.description, json_schema_extra=_omit_default),
                )
    first = errors[0]
    example: dict[str, Any] = {"ok": False, "error": first.code, "detail": first.default_detail}
    first_extras = _extras_model(first)
    if first_extras is not None:
        schema_extra = first_extras.model_config.get("json_schema_extra")
        extra_example = schema_extra.get("example") if isinstance(schema_extra, dict) else None
        if isinstance(extra_example, dict):
            example.update(extra_example)
    model: type[BaseModel] = create_model(
        _MODEL_NAMES.get(status, f"Error{status}"),
        __config__=ConfigDict(json_schema_extra={"example": example}),
        __doc__=f"The error envelope of an HTTP {status} answer.",
        **fields,
    )
    return model


def responses(*errors: type[SeecodesError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: each status its errors can answer, with that status's
    error model and the codes this route can send."""
    documented: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = documented.setdefault(
            error.status_code, {"model": error_model(error.status_code), "description": ""}
        )
        codes = entry["description"].split(", ") if entry["description"] else []
        if f"`{error.code}`" not in codes:
            codes.append(f"`{error.code}`")
        entry["description"] = ", ".join(codes)
    return documented
