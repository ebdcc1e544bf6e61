"""The operator CLI: `seecodes serve | migrate | worker | demo | admin … | jira …`.

Each group lives in the module of its resource; this module only assembles them."""

from __future__ import annotations

import typer

from seecodes.cli import credentials, fleet, installations, jira, server

app = typer.Typer(help="SeeCodes execution engine: server and operator commands.", no_args_is_help=True)
admin = typer.Typer(help="Operator commands against the configured database.", no_args_is_help=True)

for command in (server.serve, server.migrate, server.worker, server.demo):
    app.command()(command)
admin.command("forge-token")(credentials.forge_token)
admin.command("backup")(fleet.backup)
admin.command("restore")(fleet.restore)

app.add_typer(admin, name="admin")
admin.add_typer(credentials.permit_commands, name="permits")
admin.add_typer(credentials.enrollment_commands, name="enrollment-token")
admin.add_typer(installations.credit_commands, name="credits")
admin.add_typer(installations.metric_commands, name="metrics")
admin.add_typer(installations.installation_commands, name="installations")
admin.add_typer(fleet.worker_commands, name="workers")
admin.add_typer(credentials.token_commands, name="token")
app.add_typer(jira.jira_commands, name="jira")
