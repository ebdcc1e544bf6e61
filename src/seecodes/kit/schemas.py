"""Wire-format building blocks shared by every domain's schemas."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

# Jira project keys, issue keys and account ids as the contract shows them: "AUTH", "AUTH-128",
# "557058:abcd…". Stored and compared exactly (case-sensitive).
JiraId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
]
Hint = Annotated[str, StringConstraints(max_length=255)]


def holds_unstorable_text(data: Any) -> bool:
    """Whether a parsed JSON value holds a string no database can store: one with U+0000, or with
    a lone surrogate (valid JSON escapes, but not encodable as UTF-8). Keys count too."""
    try:
        # Fast path: orjson refuses lone surrogates, and writes NUL back as the escape \u0000.
        if b"\\u0000" not in orjson.dumps(data):
            return False
    except TypeError:
        pass  # a lone surrogate, or an integer beyond 64 bits: walk to find out
    pending = [data]
    while pending:  # iterative: nesting depth is the client's choice
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value or (not value.isascii() and not _encodable(value)):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class RequestBody(BaseModel):
    """Request bodies refuse unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        # PostgreSQL stores no U+0000 in text or JSONB, and neither database takes a lone
        # surrogate: refused here (422) on both rather than failing at the INSERT (500).
        if holds_unstorable_text(data):
            raise ValueError("strings must be UTF-8 text without the NUL character (U+0000)")
        return data


class ResponseBody(BaseModel):
    # The server always sends every field, defaults included: the document marks them `required`,
    # so a generated client types `ok` as `true`, not `true | Unset`.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)
