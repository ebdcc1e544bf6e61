"""Who may manage an installation's connector, with the Forge system token kept on the way in."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from seecodes.deps import RuntimeDep
from seecodes.jira.tokens import remember_forge_token
from seecodes.security.operators import InstallationManager, InstallationManagerCaller


async def jira_manager(runtime: RuntimeDep, manager: InstallationManagerCaller) -> InstallationManager:
    """An operator for any installation, or the Jira App for its own; when Forge attached the app
    system token to the Jira App's request, it is kept (encrypted) for later writes."""
    if manager.identity is not None and manager.forge_system_token:
        await remember_forge_token(runtime, manager.identity, manager.forge_system_token)
    return manager


JiraManagerCaller = Annotated[InstallationManager, Depends(jira_manager)]
