"""What the server refused, as exceptions a caller can branch on by `code`."""

from __future__ import annotations

from typing import Any

import httpx

# The codes after which a Jira App chain is gone and a new one must be started.
CHAIN_LOST = frozenset(
    {"request_key_replayed", "request_key_expired", "request_key_invalid", "request_key_missing"}
)


class SeecodesError(Exception):
    """A non-2xx answer: the server's error envelope, whole.

    `code` is the stable code (`insufficient_credits`, `run_not_found`, …); `detail` the server's
    sentence; `extras` the envelope's other fields (`requiredCredits`, `missing`, `fields`, …).
    """

    def __init__(self, status: int, code: str, detail: str, extras: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.extras = extras or {}
        self.retry_after: float | None = None

    @classmethod
    def of(cls, response: httpx.Response) -> SeecodesError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("ok") is False and isinstance(body.get("error"), str):
            extras = {k: v for k, v in body.items() if k not in ("ok", "error", "detail")}
            error_type = _TYPES.get(body["error"], cls)
            error = error_type(response.status_code, body["error"], str(body.get("detail", "")), extras)
        else:
            text = response.text[:200]
            error = cls(response.status_code, "http_error", text or response.reason_phrase)
        retry_after = response.headers.get("Retry-After")
        if retry_after is not None:
            try:
                error.retry_after = float(retry_after)
            except ValueError:
                error.retry_after = None
        return error


class ChainLost(SeecodesError):
    """The request-key chain is revoked or expired (the session already started a new chain once
    and it was refused again, or the refusal came from a call that must not be repeated)."""


class LaunchCodeRefused(SeecodesError):
    """The launch code cannot be exchanged: replayed (the permit it minted is now revoked),
    expired, unknown, or minted for another task. Open the task from Jira again for a new code."""


class InsufficientCredits(SeecodesError):
    """The run needs more credits than the installation has: `required`, `available`, `shortfall`."""

    @property
    def required(self) -> int:
        return int(self.extras.get("requiredCredits", 0))

    @property
    def available(self) -> int:
        return int(self.extras.get("availableCredits", 0))

    @property
    def shortfall(self) -> int:
        return int(self.extras.get("shortfall", 0))


class ExchangeOutcomeUnknown(Exception):
    """The launch exchange was sent but no answer came back (a timeout, a dropped connection).

    The client does not retry it: if the server did exchange the code, a second exchange would be
    refused and would revoke the permit the first one minted. Open the task from Jira again."""


_TYPES: dict[str, type[SeecodesError]] = {
    **dict.fromkeys(CHAIN_LOST, ChainLost),
    "request_key_mismatch": ChainLost,
    **dict.fromkeys(
        ("launch_code_replayed", "launch_code_expired", "launch_code_invalid", "launch_code_mismatch"),
        LaunchCodeRefused,
    ),
    "insufficient_credits": InsufficientCredits,
}
