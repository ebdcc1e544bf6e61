"""The operator CLI: `seecodes serve | migrate | worker | demo | admin … | jira …`.

Each group lives in the module of its resource; this module only names them. A command's module
is imported when that command runs (or when a help page lists it), so `seecodes admin credits
grant` loads what granting needs and not the server, the run engine or the Jira connector.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import ClassVar, NamedTuple

import typer
from typer import _click as click  # typer vendors click: its groups take these types
from typer.core import TyperGroup


class Entry(NamedTuple):
    module: str  # under seecodes.cli
    attribute: str  # the module's typer.Typer
    command: str | None = None  # one command of that Typer; None: the whole Typer is the group


class LazyGroup(TyperGroup):
    """A group whose entries are found in their modules on first use."""

    entries: ClassVar[Mapping[str, Entry]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *self.entries]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.entries.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        group = typer.main.get_group(getattr(import_module(f"seecodes.cli.{entry.module}"), entry.attribute))
        if entry.command is not None:
            return group.get_command(ctx, entry.command)
        group.name = cmd_name
        return group


class RootGroup(LazyGroup):
    entries = {
        "serve": Entry("server", "commands", "serve"),
        "migrate": Entry("server", "commands", "migrate"),
        "worker": Entry("server", "commands", "worker"),
        "demo": Entry("server", "commands", "demo"),
        "jira": Entry("jira", "jira_commands"),
    }


class AdminGroup(LazyGroup):
    entries = {
        "forge-token": Entry("credentials", "admin_commands", "forge-token"),
        "backup": Entry("fleet", "admin_commands", "backup"),
        "restore": Entry("fleet", "admin_commands", "restore"),
        "permits": Entry("credentials", "permit_commands"),
        "enrollment-token": Entry("credentials", "enrollment_commands"),
        "credits": Entry("installations", "credit_commands"),
        "budgets": Entry("installations", "budget_commands"),
        "approvals": Entry("approvals", "approval_commands"),
        "webhooks": Entry("webhooks", "webhook_commands"),
        "metrics": Entry("installations", "metric_commands"),
        "installations": Entry("installations", "installation_commands"),
        "workers": Entry("fleet", "worker_commands"),
        "token": Entry("credentials", "token_commands"),
    }


app = typer.Typer(
    cls=RootGroup, help="SeeCodes execution engine: server and operator commands.", no_args_is_help=True
)
app.add_typer(
    typer.Typer(
        cls=AdminGroup, help="Operator commands against the configured database.", no_args_is_help=True
    ),
    name="admin",
)
