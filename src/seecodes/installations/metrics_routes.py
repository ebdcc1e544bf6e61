"""Installation-level figures the Jira App reports."""

from __future__ import annotations

from fastapi import APIRouter

from seecodes.deps import RuntimeDep, SessionDep
from seecodes.errors import HintMismatch, InvalidInput, responses
from seecodes.installations import metrics
from seecodes.installations.metrics_schemas import InstanceMetricsReport
from seecodes.openapi import JIRA_APP
from seecodes.security.deps import REQUEST_KEY_ERRORS, JiraAppCaller
from seecodes.tasks.schemas import OkResponse

router = APIRouter(tags=[JIRA_APP])


@router.post(
    "/v1/jira/instance-metrics",
    operation_id="reportInstanceMetrics",
    summary="Report installation metrics",
    description="Stores `installedUsersCount` and `source` with the time received. Every report is "
    "kept; operators see the newest with `seecodes admin metrics show`.",
    responses=responses(*REQUEST_KEY_ERRORS, HintMismatch, InvalidInput),
)
async def report_instance_metrics(
    runtime: RuntimeDep, session: SessionDep, caller: JiraAppCaller, body: InstanceMetricsReport
) -> OkResponse:
    await metrics.record(session, runtime.clock, installation=caller.installation, report=body)
    return OkResponse()
