"""Installation metrics reported by the Jira App: every report kept, the newest is current."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.installations import metrics_repository as repository
from seecodes.installations.metrics_schemas import InstanceMetricsReport
from seecodes.installations.service import check_hints
from seecodes.kit.clock import Clock
from seecodes.models import Installation, InstanceMetric

MAX_HISTORY = 1000


async def record(
    session: AsyncSession, clock: Clock, *, installation: Installation, report: InstanceMetricsReport
) -> InstanceMetric:
    check_hints(installation, report.cloudIdHint, report.siteUrlHint)
    metric = InstanceMetric(
        installation_id=installation.id,
        installed_users_count=report.installedUsersCount,
        source=report.source,
        created_at=clock.utcnow(),
    )
    await repository.add(session, metric)
    return metric


async def history(session: AsyncSession, installation_id: str, *, limit: int = 1) -> list[InstanceMetric]:
    """What operators see: the newest report first."""
    return await repository.history(session, installation_id, limit=min(max(limit, 1), MAX_HISTORY))
