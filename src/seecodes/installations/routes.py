from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from seecodes.deps import ReadSessionDep
from seecodes.errors import HintMismatch, responses
from seecodes.installations import service
from seecodes.installations.schemas import InstanceResponse
from seecodes.openapi import JIRA_APP
from seecodes.security.deps import REQUEST_KEY_ERRORS, JiraAppCaller

router = APIRouter(tags=[JIRA_APP])


@router.get(
    "/v1/instances/me",
    operation_id="getInstance",
    description="The calling installation: its status, licence, billing mode and credits.",
    summary="Read installation state",
    responses=responses(*REQUEST_KEY_ERRORS, HintMismatch),
)
async def read_installation(
    session: ReadSessionDep,
    caller: JiraAppCaller,
    cloudIdHint: Annotated[str | None, Query(max_length=255)] = None,
    siteUrlHint: Annotated[str | None, Query(max_length=255)] = None,
) -> InstanceResponse:
    service.check_hints(caller.installation, cloudIdHint, siteUrlHint)
    return InstanceResponse.of(await service.describe(session, caller.installation))
