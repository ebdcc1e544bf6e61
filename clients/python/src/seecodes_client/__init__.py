"""seecodes_client: the Jira App and IDE protocols of a seecodes server, sync and async.

from seecodes_client import Ide, JiraApp

with JiraApp("https://seecodes.example.com", fit=get_fit) as jira:
    link = jira.launch_link("AUTH", "AUTH-128")
with Ide.exchange("https://seecodes.example.com", link.httpsUrl) as ide:
    run = ide.run({"list.md": b"- [ ] ..."}, prompt="do the list")
    ide.wait(run.runId)
    print(ide.output(run.runId))
"""

from seecodes_client._protocol import Launch, RunEvent
from seecodes_client.errors import (
    ChainLost,
    ExchangeOutcomeUnknown,
    InsufficientCredits,
    LaunchCodeRefused,
    SeecodesError,
)
from seecodes_client.ide import AsyncIde, Ide
from seecodes_client.jira import AsyncJiraApp, JiraApp

__all__ = [
    "AsyncIde",
    "AsyncJiraApp",
    "ChainLost",
    "ExchangeOutcomeUnknown",
    "Ide",
    "InsufficientCredits",
    "JiraApp",
    "Launch",
    "LaunchCodeRefused",
    "RunEvent",
    "SeecodesError",
]
