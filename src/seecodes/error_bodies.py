"""The bodies of error answers: the envelope every non-2xx response has, and the typed extras some
errors add to it (`SeecodesError.extras`). Wire models only; the hierarchy is `seecodes.errors`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorEnvelope(BaseModel):
    """The shape every non-2xx body has. The document gives each status its own model
    (`error_model`), whose `error` lists the codes that status can carry."""

    model_config = ConfigDict(
        json_schema_extra={"example": {"ok": False, "error": "not_found", "detail": "…"}}
    )

    # No defaults: nothing builds these models (envelopes are built by SeecodesError.envelope),
    # and a field without one is `required` in the document.
    ok: Literal[False]
    error: str = Field(description="A stable code to branch on; `detail` is for people.")
    detail: str = Field(description="One sentence saying what went wrong and what to do.")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='Where the problem is, e.g. `["body", "progress"]`.')
    msg: str
    type: str = Field(description="Pydantic's error type, e.g. `missing`, `string_too_long`.")


class FieldErrors(BaseModel):
    fields: list[FieldError] = Field(
        description="One entry per invalid input; the input itself is never echoed."
    )


class RetryAfter(BaseModel):
    retryAfterSeconds: int = Field(description="The same figure as the Retry-After header.")


class MissingUploads(BaseModel):
    missing: list[str] = Field(description="The declared files not uploaded yet.")


class CreditShortfall(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"requiredCredits": 120, "availableCredits": 20, "shortfall": 100}}
    )

    requiredCredits: int = Field(description="What the run's estimate reserves.")
    availableCredits: int = Field(description="The installation's balance less its open reservations.")
    shortfall: int = Field(description="requiredCredits − availableCredits.")


class BudgetOverrun(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "budgetScope": "project",
                "projectId": "AUTH",
                "month": "2026-12",
                "monthlyCredits": 500,
                "spentCredits": 430,
                "reservedCredits": 40,
                "requiredCredits": 60,
            }
        }
    )

    budgetScope: Literal["installation", "project"] = Field(
        description="Which budget refused: the installation's, or one of its Jira projects'."
    )
    projectId: str | None = Field(description="The project of a project budget; null for the installation's.")
    month: str = Field(description="The budget's calendar month (UTC), YYYY-MM.")
    monthlyCredits: int = Field(description="The budget's limit for the month.")
    spentCredits: int = Field(description="Credits charged by settled runs this month.")
    reservedCredits: int = Field(description="Credits held by runs not settled yet.")
    requiredCredits: int = Field(description="What the run's estimate reserves.")
