"""Who is calling, as services see it: the verified callers the auth dependencies produce.

No FastAPI here, so services take these types without importing an HTTP module. The dependencies
that build them are in `deps.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from seecodes.models import Installation
from seecodes.security.forge import ForgeIdentity
from seecodes.security.permits import PermitScope

# The header Forge adds to Jira App requests when the app's remote enables appSystemToken.
FORGE_SYSTEM_TOKEN_HEADER = "x-forge-oauth-system"  # noqa: S105 - a header name


class ForgeTokenSink(Protocol):
    """Keeps the app system token Forge attached to a verified Jira App request.

    Security only passes the token on; the connector (filled in by the composition root) decides
    whether and how to keep it. Must never fail the request it rides on."""

    async def __call__(self, identity: ForgeIdentity, token: str | None) -> None: ...


async def ignore_forge_token(identity: ForgeIdentity, token: str | None) -> None:
    """The sink of a runtime without the connector."""


@dataclass(frozen=True, slots=True)
class JiraApp:
    identity: ForgeIdentity
    installation: Installation


@dataclass(frozen=True, slots=True)
class Issuer:
    """A caller allowed to mint launch codes and permits for its installation."""

    installation: Installation
    # The FIT principal when a Jira user invoked the app; None for app-level and legacy callers.
    principal: str | None
    via_legacy_bridge: bool = False


@dataclass(frozen=True, slots=True)
class TaskReader:
    """A caller that may read one task's state: the IDE with its permit, or the Jira App."""

    installation_id: str
    cloud_id: str | None
    permit: PermitScope | None


@dataclass(frozen=True, slots=True)
class InstallationManager:
    """Who manages one installation's Jira connector in this request."""

    installation_id: str
    actor: str  # "operator:<id>" or "jira-app:<principal>", stored for audit
    # Set for the Jira App only: its verified FIT, and the app system token Forge attached, if any.
    identity: ForgeIdentity | None = None
    forge_system_token: str | None = field(default=None, repr=False)
