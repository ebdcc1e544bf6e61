"""Every ORM class, imported here so Alembic and the app see one metadata."""

from seecodes.models.activity import ActivityDaily, ActivitySnapshot
from seecodes.models.budgets import BudgetAlert, CreditBudget
from seecodes.models.credentials import EnrollmentToken, JiraRequestKey, LaunchCode, ShareLink, TaskPermit
from seecodes.models.credits import CreditLedgerEntry
from seecodes.models.index import ProjectIndex, ProjectIndexEntry
from seecodes.models.installation import Installation
from seecodes.models.jira import (
    ExecutionTicket,
    JiraConnection,
    JiraForgeToken,
    JiraIssueSync,
    JiraOAuthState,
)
from seecodes.models.metrics import InstanceMetric
from seecodes.models.operators import OperatorToken
from seecodes.models.run import Run, RunEvent, UsageItem
from seecodes.models.task import ProgressReport, TaskContext
from seecodes.models.telemetry import TelemetryEvent
from seecodes.models.webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ActivityDaily",
    "ActivitySnapshot",
    "BudgetAlert",
    "CreditBudget",
    "CreditLedgerEntry",
    "EnrollmentToken",
    "ExecutionTicket",
    "Installation",
    "InstanceMetric",
    "JiraConnection",
    "JiraForgeToken",
    "JiraIssueSync",
    "JiraOAuthState",
    "JiraRequestKey",
    "LaunchCode",
    "OperatorToken",
    "ProgressReport",
    "ProjectIndex",
    "ProjectIndexEntry",
    "Run",
    "RunEvent",
    "ShareLink",
    "TaskContext",
    "TaskPermit",
    "TelemetryEvent",
    "UsageItem",
    "WebhookDelivery",
    "WebhookEndpoint",
]
