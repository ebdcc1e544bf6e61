"""SeeCodes execution engine: Jira Cloud (Forge) ↔ IDE orchestration backend."""

__version__ = "0.1.0"
