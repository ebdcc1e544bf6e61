"""Wire format of installation metrics the Jira App reports."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from seecodes.kit.schemas import Hint, RequestBody

MAX_INSTALLED_USERS = 10_000_000


class InstanceMetricsReport(RequestBody):
    installedUsersCount: int = Field(strict=True, ge=0, le=MAX_INSTALLED_USERS, examples=[17])
    source: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
    ] = Field(examples=["forge-hourly-sync"], description="Which Jira App job reported the figure.")
    cloudIdHint: Hint | None = None
    siteUrlHint: Hint | None = None
