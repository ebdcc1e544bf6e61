"""The protocol rules, free of I/O, so the sync and async clients share every one of them:
the request-key chain, the launch link, server-sent events, answers to errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from seecodes_client.errors import CHAIN_LOST, SeecodesError

REQUEST_KEY_HEADER = "X-SeeCodes-Jira-Request-Key"
NEXT_REQUEST_KEY_HEADER = "X-SeeCodes-Next-Request-Key"
BOOTSTRAP_PATH = "/v1/jira/request-key"
SETTLED = frozenset({"succeeded", "failed", "cancelled", "rejected"})


def checked(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    raise SeecodesError.of(response)


@dataclass
class Chain:
    """One Jira App request-key chain: the key to send next, and what an answer does to it.

    The caller holds a lock around `headers()` … `observe()`: two calls on one chain must not race,
    since the second would present a key the first already spent and revoke the chain."""

    fit: Callable[[], str]
    key: str | None = None
    rebootstrapped: bool = field(default=False)

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.fit()}"}

    def headers(self) -> dict[str, str]:
        assert self.key is not None
        return {**self.bearer(), REQUEST_KEY_HEADER: self.key}

    def started(self, response: httpx.Response) -> None:
        body = checked(response).json()
        self.key = response.headers.get(NEXT_REQUEST_KEY_HEADER) or str(body["requestKey"])

    def lost(self) -> None:
        """No answer came back: the key may have been spent, and its successor is gone. The next
        call starts a new chain rather than present a key that may be spent (a replay)."""
        self.key = None

    def observe(self, response: httpx.Response, *, first_attempt: bool) -> bool:
        """Take the successor from the answer, errors included. True: the chain is gone and the
        call was refused before it did anything, so start a new chain and send it once more."""
        successor = response.headers.get(NEXT_REQUEST_KEY_HEADER)
        if successor:
            self.key = successor
            return False
        if response.is_success:
            return False
        error = SeecodesError.of(response)
        if error.code in CHAIN_LOST:
            self.key = None
            return first_attempt
        return False


@dataclass(frozen=True)
class Launch:
    """What a launch link carries: the one-time code and the task it opens."""

    code: str
    project_id: str
    task_id: str

    @classmethod
    def parse(cls, link: str) -> Launch:
        """An HTTPS launcher URL (`…/v1/launch?p=&t=&c=`) or an IDE deep link
        (`vscode://<extension>/project/<p>/task/<t>?code=…`, `cursor://…`)."""
        parts = urlsplit(link)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if "c" in query and "p" in query and "t" in query:
            return cls(code=query["c"], project_id=query["p"], task_id=query["t"])
        segments = [unquote(segment) for segment in parts.path.split("/") if segment]
        if "code" in query and len(segments) >= 4 and segments[0] == "project" and segments[2] == "task":
            return cls(code=query["code"], project_id=segments[1], task_id=segments[3])
        raise ValueError(
            "not a seecodes launch link: expected …/v1/launch?p=&t=&c= or …/project/P/task/T?code="
        )


@dataclass(frozen=True)
class RunEvent:
    """One server-sent event of a run: `status`, `log`, `output`, `reset` or `end`."""

    id: int | None  # None for an event without one (`end`)
    kind: str
    data: str

    @property
    def text(self) -> str:
        """The text of a `log` or `output` event; the status of a `status` event."""
        if self.kind in ("log", "output"):
            value = json.loads(self.data)
            return str(value.get("text", "")) if isinstance(value, dict) else ""
        return self.data


@dataclass
class EventParser:
    """The `text/event-stream` format, fed line by line. Remembers the last event id (the resume
    point) and the server's `retry:` advice."""

    last_id: int = 0
    retry_ms: int | None = None
    _kind: str = "message"
    _data: list[str] = field(default_factory=list)
    _id: int | None = None

    def reconnected(self) -> None:
        """A new connection: whatever part of an event the cut one left is void (it comes again)."""
        self._kind, self._data, self._id = "message", [], None

    def feed(self, line: str) -> RunEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: heartbeat or padding
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._kind = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and value.isdigit():
            self._id = int(value)
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> RunEvent | None:
        kind, data, event_id = self._kind, "\n".join(self._data), self._id
        self._kind, self._data, self._id = "message", [], None
        if event_id is None and not data and kind == "message":
            return None
        if event_id is not None:
            if event_id <= self.last_id:
                return None  # already delivered before a reconnect
            self.last_id = event_id
        return RunEvent(id=event_id, kind=kind, data=data)


def resume_headers(bearer: dict[str, str], parser: EventParser) -> dict[str, str]:
    parser.reconnected()
    headers = {**bearer, "Accept": "text/event-stream"}
    if parser.last_id:
        headers["Last-Event-ID"] = str(parser.last_id)
    return headers


def json_or_none(value: Any) -> Any:
    """Pydantic models as the JSON the server wants (aliases, no unset fields); anything else as is."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json", by_alias=True, exclude_none=True) if callable(dump) else value
