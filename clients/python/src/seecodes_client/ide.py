"""The IDE's side: a task permit, got by exchanging a launch code exactly once, and the runs.

`Ide.exchange(base_url, link)` spends the code. It is never retried: a second exchange of the same
code is refused and revokes the permit the first one minted, so if no answer comes back the
client raises `ExchangeOutcomeUnknown` instead of trying again.

A run: `create_run` declares the files and uploads each to its signed URL, `start` queues it,
`wait` polls until it settles, `follow` reads its events and resumes after a cut with
`Last-Event-ID`, so no event is missed or repeated.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import httpx

from seecodes_client import models
from seecodes_client._protocol import (
    SETTLED,
    EventParser,
    Launch,
    RunEvent,
    checked,
    json_or_none,
    resume_headers,
)
from seecodes_client.errors import ExchangeOutcomeUnknown, LaunchCodeRefused, SeecodesError

StatusCallback = Callable[[models.RunStatusDocument], None]


def _exchange_body(link: str | Launch) -> dict[str, str]:
    launch = link if isinstance(link, Launch) else Launch.parse(link)
    return {"code": launch.code, "projectId": launch.project_id, "taskId": launch.task_id}


def _exchanged(response: httpx.Response) -> models.PermitResponse:
    try:
        return models.PermitResponse.model_validate(checked(response).json())
    except LaunchCodeRefused as refused:
        if refused.code == "launch_code_replayed":
            refused.detail += " (this code was exchanged before; that permit is now revoked)"
        raise


def _init_body(files: Mapping[str, bytes], model: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"files": list(files)}
    if model is not None:
        body["model"] = model
    return body


def _follow_up_body(prompt: str, model: str | None) -> dict[str, Any]:
    return {"userPrompt": prompt, **({"model": model} if model is not None else {})}


def _start_body(prompt: str | None, model: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if prompt is not None:
        body["userPrompt"] = prompt
    if model is not None:
        body["model"] = model
    return body


class Ide:
    """Synchronous IDE session bound to one permit (one project and task)."""

    def __init__(
        self,
        base_url: str,
        permit: models.PermitResponse,
        *,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.permit = permit
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._auth = {"Authorization": f"Bearer {permit.permit}"}

    @classmethod
    def exchange(cls, base_url: str, link: str | Launch, *, timeout: float = 30.0) -> Ide:
        """Exchange a launch link (or code) for its permit, once."""
        http = httpx.Client(base_url=base_url, timeout=timeout)
        try:
            response = http.post("/v1/security/launch-exchange", json=_exchange_body(link))
        except httpx.TransportError as error:
            http.close()
            raise ExchangeOutcomeUnknown(str(error)) from error
        except BaseException:
            http.close()
            raise
        try:
            return cls(base_url, _exchanged(response), http=http)
        except SeecodesError:
            http.close()
            raise

    def __enter__(self) -> Ide:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def project_id(self) -> str:
        return self.permit.projectId

    @property
    def task_id(self) -> str:
        return self.permit.taskId

    def call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        """Any IDE operation by method and path, with the permit; raises `SeecodesError`."""
        return checked(
            self._http.request(method, path, headers=self._auth, json=json_or_none(json), params=params)
        )

    # -- the task -------------------------------------------------------------------------------
    def context(self) -> models.TaskContextResponse:
        return models.TaskContextResponse.model_validate(self.call("GET", "/v1/tasks/context").json())

    def save_progress(self, document: models.ProgressDocument | dict[str, Any]) -> None:
        self.call("POST", f"/v1/tasks/{self.task_id}/progress", json=document)

    def progress(self) -> models.ProgressResponse:
        answer = self.call("GET", f"/v1/tasks/{self.task_id}/progress", params={"projectId": self.project_id})
        return models.ProgressResponse.model_validate(answer.json())

    def save_snapshot(
        self, snapshot: models.ActivitySnapshotIn | dict[str, Any]
    ) -> models.ActivitySnapshotResponse:
        answer = self.call("POST", "/v1/tasks/activity-snapshot", json=snapshot)
        return models.ActivitySnapshotResponse.model_validate(answer.json())

    def query_index(self, items: list[dict[str, str]]) -> models.IndexQueryResponse:
        answer = self.call("POST", f"/v1/projects/{self.project_id}/indexes/query", json={"items": items})
        return models.IndexQueryResponse.model_validate(answer.json())

    def upsert_index(self, upsert: models.IndexUpsert | dict[str, Any]) -> models.IndexUpsertResponse:
        answer = self.call("POST", f"/v1/projects/{self.project_id}/indexes/upsert", json=upsert)
        return models.IndexUpsertResponse.model_validate(answer.json())

    # -- runs -----------------------------------------------------------------------------------
    def create_run(self, files: Mapping[str, bytes], *, model: str | None = None) -> str:
        """Declare the files, upload each to its signed URL (as given), and answer the run id."""
        created = models.InitRunResponse.model_validate(
            self.call("POST", "/v1/tasks/init", json=_init_body(files, model)).json()
        )
        for name, data in files.items():
            checked(self._http.put(created.uploads[name], content=data))
        return created.runId

    def start(
        self, run_id: str, *, prompt: str | None = None, model: str | None = None
    ) -> models.StartRunResponse:
        answer = self.call("POST", f"/v1/tasks/{run_id}/start", json=_start_body(prompt, model))
        return models.StartRunResponse.model_validate(answer.json())

    def run(
        self, files: Mapping[str, bytes], *, prompt: str | None = None, model: str | None = None
    ) -> models.StartRunResponse:
        return self.start(self.create_run(files, model=model), prompt=prompt)

    def status(self, run_id: str) -> models.RunStatusDocument:
        return models.RunStatusResponse.model_validate(self.call("GET", f"/v1/tasks/{run_id}").json()).status

    def wait(
        self,
        run_id: str,
        *,
        on_status: StatusCallback | None = None,
        poll: float = 0.5,
        timeout: float = 600.0,
    ) -> models.RunStatusDocument:
        """Poll until the run settles; `on_status` hears every status change."""
        deadline, seen = time.monotonic() + timeout, None
        while True:
            status = self.status(run_id)
            if status.status != seen and on_status is not None:
                on_status(status)
            seen = status.status
            if status.status in SETTLED:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} is still {status.status} after {timeout:.0f} s")
            time.sleep(poll)

    def follow(self, run_id: str, *, last_event_id: int = 0, reconnects: int = 20) -> Iterator[RunEvent]:
        """Every event of the run until `end`, resuming after a cut or a stream's end."""
        parser = EventParser(last_id=last_event_id)
        failures = 0
        while True:
            try:
                with self._http.stream(
                    "GET",
                    f"/v1/tasks/{run_id}/events",
                    headers=resume_headers(self._auth, parser),
                    timeout=None,
                ) as response:
                    if not response.is_success:
                        response.read()
                        checked(response)
                    for line in response.iter_lines():
                        event = parser.feed(line)
                        if event is not None:
                            failures = 0
                            yield event
                            if event.kind == "end":
                                return
            except httpx.TransportError:
                failures += 1
                if failures > reconnects:
                    raise
            time.sleep((parser.retry_ms or 1000) / 1000)  # the server's advice

    def output(self, run_id: str) -> str:
        return self.call("GET", f"/v1/tasks/{run_id}/output").text

    def logs(self, run_id: str) -> str:
        return self.call("GET", f"/v1/tasks/{run_id}/logs").text

    def cancel(self, run_id: str) -> models.CancelRunResponse:
        return models.CancelRunResponse.model_validate(self.call("POST", f"/v1/tasks/{run_id}/cancel").json())

    def rerun(self, run_id: str) -> models.StartRunResponse:
        return models.StartRunResponse.model_validate(self.call("POST", f"/v1/tasks/{run_id}/rerun").json())

    def runs(self) -> models.RunListResponse:
        return models.RunListResponse.model_validate(self.call("GET", "/v1/tasks/runs").json())

    def follow_up(self, run_id: str, prompt: str, *, model: str | None = None) -> models.StartRunResponse:
        """A new run on a succeeded one's inputs and output, with a new instruction."""
        answer = self.call("POST", f"/v1/tasks/{run_id}/continue", json=_follow_up_body(prompt, model))
        return models.StartRunResponse.model_validate(answer.json())

    def share(self, run_id: str) -> models.ShareLinkResponse:
        """A read-only link to the run; its URL is shown only in this answer."""
        return models.ShareLinkResponse.model_validate(self.call("POST", f"/v1/tasks/{run_id}/share").json())

    def revoke_shares(self, run_id: str) -> int:
        answer = models.RevokedShareLinks.model_validate(
            self.call("DELETE", f"/v1/tasks/{run_id}/share").json()
        )
        return answer.revoked


class AsyncIde:
    """The same session for asyncio."""

    def __init__(
        self,
        base_url: str,
        permit: models.PermitResponse,
        *,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.permit = permit
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._auth = {"Authorization": f"Bearer {permit.permit}"}

    @classmethod
    async def exchange(cls, base_url: str, link: str | Launch, *, timeout: float = 30.0) -> AsyncIde:
        http = httpx.AsyncClient(base_url=base_url, timeout=timeout)
        try:
            response = await http.post("/v1/security/launch-exchange", json=_exchange_body(link))
            return cls(base_url, _exchanged(response), http=http)
        except httpx.TransportError as error:
            await http.aclose()
            raise ExchangeOutcomeUnknown(str(error)) from error
        except BaseException:
            await http.aclose()
            raise

    async def __aenter__(self) -> AsyncIde:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def project_id(self) -> str:
        return self.permit.projectId

    @property
    def task_id(self) -> str:
        return self.permit.taskId

    async def call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        response = await self._http.request(
            method, path, headers=self._auth, json=json_or_none(json), params=params
        )
        return checked(response)

    async def context(self) -> models.TaskContextResponse:
        return models.TaskContextResponse.model_validate((await self.call("GET", "/v1/tasks/context")).json())

    async def save_progress(self, document: models.ProgressDocument | dict[str, Any]) -> None:
        await self.call("POST", f"/v1/tasks/{self.task_id}/progress", json=document)

    async def create_run(self, files: Mapping[str, bytes], *, model: str | None = None) -> str:
        answer = await self.call("POST", "/v1/tasks/init", json=_init_body(files, model))
        created = models.InitRunResponse.model_validate(answer.json())
        for name, data in files.items():
            checked(await self._http.put(created.uploads[name], content=data))
        return created.runId

    async def start(
        self, run_id: str, *, prompt: str | None = None, model: str | None = None
    ) -> models.StartRunResponse:
        answer = await self.call("POST", f"/v1/tasks/{run_id}/start", json=_start_body(prompt, model))
        return models.StartRunResponse.model_validate(answer.json())

    async def status(self, run_id: str) -> models.RunStatusDocument:
        answer = await self.call("GET", f"/v1/tasks/{run_id}")
        return models.RunStatusResponse.model_validate(answer.json()).status

    async def wait(
        self,
        run_id: str,
        *,
        on_status: StatusCallback | None = None,
        poll: float = 0.5,
        timeout: float = 600.0,
    ) -> models.RunStatusDocument:
        deadline, seen = time.monotonic() + timeout, None
        while True:
            status = await self.status(run_id)
            if status.status != seen and on_status is not None:
                on_status(status)
            seen = status.status
            if status.status in SETTLED:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} is still {status.status} after {timeout:.0f} s")
            await asyncio.sleep(poll)

    async def follow(
        self, run_id: str, *, last_event_id: int = 0, reconnects: int = 20
    ) -> AsyncIterator[RunEvent]:
        parser = EventParser(last_id=last_event_id)
        failures = 0
        while True:
            try:
                async with self._http.stream(
                    "GET",
                    f"/v1/tasks/{run_id}/events",
                    headers=resume_headers(self._auth, parser),
                    timeout=None,
                ) as response:
                    if not response.is_success:
                        await response.aread()
                        checked(response)
                    async for line in response.aiter_lines():
                        event = parser.feed(line)
                        if event is not None:
                            failures = 0
                            yield event
                            if event.kind == "end":
                                return
            except httpx.TransportError:
                failures += 1
                if failures > reconnects:
                    raise
            await asyncio.sleep((parser.retry_ms or 1000) / 1000)

    async def output(self, run_id: str) -> str:
        return (await self.call("GET", f"/v1/tasks/{run_id}/output")).text

    async def logs(self, run_id: str) -> str:
        return (await self.call("GET", f"/v1/tasks/{run_id}/logs")).text

    async def cancel(self, run_id: str) -> models.CancelRunResponse:
        answer = await self.call("POST", f"/v1/tasks/{run_id}/cancel")
        return models.CancelRunResponse.model_validate(answer.json())

    async def rerun(self, run_id: str) -> models.StartRunResponse:
        answer = await self.call("POST", f"/v1/tasks/{run_id}/rerun")
        return models.StartRunResponse.model_validate(answer.json())

    async def runs(self) -> models.RunListResponse:
        return models.RunListResponse.model_validate((await self.call("GET", "/v1/tasks/runs")).json())

    async def run(
        self, files: Mapping[str, bytes], *, prompt: str | None = None, model: str | None = None
    ) -> models.StartRunResponse:
        return await self.start(await self.create_run(files, model=model), prompt=prompt)

    async def follow_up(
        self, run_id: str, prompt: str, *, model: str | None = None
    ) -> models.StartRunResponse:
        answer = await self.call("POST", f"/v1/tasks/{run_id}/continue", json=_follow_up_body(prompt, model))
        return models.StartRunResponse.model_validate(answer.json())

    async def share(self, run_id: str) -> models.ShareLinkResponse:
        answer = await self.call("POST", f"/v1/tasks/{run_id}/share")
        return models.ShareLinkResponse.model_validate(answer.json())

    async def revoke_shares(self, run_id: str) -> int:
        answer = await self.call("DELETE", f"/v1/tasks/{run_id}/share")
        return models.RevokedShareLinks.model_validate(answer.json()).revoked

    # -- the task (as the sync session) ---------------------------------------------------------
    async def progress(self) -> models.ProgressResponse:
        answer = await self.call(
            "GET", f"/v1/tasks/{self.task_id}/progress", params={"projectId": self.project_id}
        )
        return models.ProgressResponse.model_validate(answer.json())

    async def save_snapshot(
        self, snapshot: models.ActivitySnapshotIn | dict[str, Any]
    ) -> models.ActivitySnapshotResponse:
        answer = await self.call("POST", "/v1/tasks/activity-snapshot", json=snapshot)
        return models.ActivitySnapshotResponse.model_validate(answer.json())

    async def query_index(self, items: list[dict[str, str]]) -> models.IndexQueryResponse:
        answer = await self.call(
            "POST", f"/v1/projects/{self.project_id}/indexes/query", json={"items": items}
        )
        return models.IndexQueryResponse.model_validate(answer.json())

    async def upsert_index(self, upsert: models.IndexUpsert | dict[str, Any]) -> models.IndexUpsertResponse:
        answer = await self.call("POST", f"/v1/projects/{self.project_id}/indexes/upsert", json=upsert)
        return models.IndexUpsertResponse.model_validate(answer.json())
