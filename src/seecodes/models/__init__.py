"""Every ORM class, imported here so Alembic and the app see one metadata."""

from seecodes.models.credentials import EnrollmentToken, JiraRequestKey, LaunchCode, TaskPermit
from seecodes.models.credits import CreditLedgerEntry
from seecodes.models.installation import Installation
from seecodes.models.task import ProgressReport, TaskContext

__all__ = [
    "CreditLedgerEntry",
    "EnrollmentToken",
    "Installation",
    "JiraRequestKey",
    "LaunchCode",
    "ProgressReport",
    "TaskContext",
    "TaskPermit",
]
