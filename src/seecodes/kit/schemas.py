"""Wire-format building blocks shared by every domain's schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

# Jira project keys, issue keys and account ids as the contract shows them: "AUTH", "AUTH-128",
# "557058:abcd…". Stored and compared exactly (case-sensitive).
JiraId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
]
Hint = Annotated[str, StringConstraints(max_length=255)]


class RequestBody(BaseModel):
    """Request bodies refuse unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ResponseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
