"""ProviderError reasons: the provider's own status and message, bounded, and never a key.

Providers echo credentials back in errors ("Incorrect API key provided: sk-ab**…yz"); a reason is
stored on the run and shown to the user, so whatever looks like a key is cut out first.
"""

from __future__ import annotations

import re

from pydantic import SecretStr

from seecodes.runs.providers.base import ProviderError

MAX_REASON_CHARS = 300
_KEY_LIKE = re.compile(r"\b(sk)-[A-Za-z0-9_*.\-]{6,}")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


def redact(text: str, key: SecretStr | None) -> str:
    secret = key.get_secret_value() if key else ""
    if len(secret) >= 4:
        text = text.replace(secret, "[redacted]")
    text = _KEY_LIKE.sub(lambda match: match.group(1) + "-[redacted]", text)
    return _BEARER.sub(r"\1[redacted]", text)


def _bounded(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_REASON_CHARS else flat[: MAX_REASON_CHARS - 1] + "…"


def status_error(status: int, message: str, key: SecretStr | None) -> ProviderError:
    """'provider returned 429: Rate limit reached'."""
    detail = _bounded(redact(message, key)) or "no message"
    return ProviderError(f"provider returned {status}: {detail}", status=status)


def reported_error(message: str, key: SecretStr | None) -> ProviderError:
    """An error the provider sent inside an already started stream."""
    return ProviderError(
        f"provider reported an error: {_bounded(redact(message, key)) or 'no message'}", kind="stream"
    )


def timeout_error(seconds: float) -> ProviderError:
    return ProviderError(f"provider did not answer within {seconds:g} s", kind="timeout")


def connection_error(error: BaseException, key: SecretStr | None) -> ProviderError:
    cause = error.__cause__ or error
    detail = _bounded(redact(f"{type(cause).__name__}: {cause}", key))
    return ProviderError(f"could not reach the provider: {detail}", kind="connection")
