"""Team competition over a seeded month, computed by hand.

September 2026, installation A (all rows written through the ORM, as the IDE and the run engine
would have left them):

| task   | source          | items                                                   | raw |
|--------|-----------------|---------------------------------------------------------|-----|
| AUTH-1 | snapshots       | A 40 (arch), B 20; also a settled run (ignored)         |  60 |
| AUTH-2 | snapshots       | A 60 + A 40 (logic); also 2 events (ignored)            | 100 |
| AUTH-3 | snapshots       | B 30 (ui)                                               |  30 |
| OPS-1  | snapshots       | A 50                                                    |  50 |
| AUTH-4 | run fallback    | B: 10 min + 2,000 tokens = 18 + 2 = 20;                 | 124 |
|        |                 | B: 45 min → 30 + 90,000 → 50,000 tokens = 54 + 50 = 104;|     |
|        |                 | a cancelled and an unsettled run count for nothing;     |     |
|        |                 | an event (ignored: runs come first)                     |     |
| AUTH-5 | VS Code fallback| A: 3 events × 4                                         |  12 |

Outside the period: an AUTH-2 snapshot on 31 Aug 23:59 and one on 1 Oct 00:00. Installation B
has an AUTH-1 snapshot worth 999 in September.

All projects: efforts 12 30 50 60 100 124 → median (50 + 60) / 2 = 55; team effort 376;
A = 40 + 100 + 50 + 12 = 202 (53.7 %), B = 20 + 30 + 124 = 174 (46.3 %).
Project AUTH: 12 30 60 100 124 → median 60.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from seecodes.models import ActivitySnapshot, ProgressReport, Run, TelemetryEvent
from seecodes.tasks.activity_repository import rebuild_daily
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.forge import (
    CLOUD_A,
    CLOUD_B,
    INSTALLATION_A,
    INSTALLATION_B,
    NEXT_KEY_HEADER,
    SITE_B,
    JiraAppClient,
)

URL = "/v1/jira/team-competition"
A, B = "557058:aaaa-1111", "557058:bbbb-2222"
SEPTEMBER = {"startDate": "2026-09-01", "endDate": "2026-09-30"}


def at(day: int, hour: int = 12, minute: int = 0, month: int = 9) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def snapshot(
    task: str,
    user: str,
    effort: int,
    ended: datetime,
    *,
    installation: str = INSTALLATION_A,
    **flags: Any,
) -> ActivitySnapshot:
    return ActivitySnapshot(
        installation_id=installation,
        project_id=task.split("-")[0],
        task_id=task,
        user_account_id=user,
        window_started_at=ended - timedelta(minutes=15),
        window_ended_at=ended,
        human_active_ms=600_000,
        loc_added=10,
        loc_removed=5,
        loc_total=15,
        changed_files=["src/a.ts"],
        changed_files_count=1,
        architecture_change=flags.get("architecture", False),
        logic_change=flags.get("logic", False),
        specification_ui_change=flags.get("ui", False),
        effort_units=effort,
        created_at=ended,
    )


def run(
    run_id: str,
    task: str,
    user: str,
    status: str,
    *,
    claimed: datetime,
    minutes: float | None,
    tokens: tuple[int, int] = (0, 0),
) -> Run:
    finished = claimed + timedelta(minutes=minutes) if minutes is not None else None
    return Run(
        id=run_id,
        installation_id=INSTALLATION_A,
        project_id=task.split("-")[0],
        task_id=task,
        user_account_id=user,
        model="strict light",
        files=["list.md"],
        storage_prefix=f"runs/{run_id}",
        status=status,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        created_at=claimed - timedelta(minutes=5),
        updated_at=finished or claimed,
        queued_at=claimed - timedelta(minutes=1),
        claimed_at=claimed,
        finished_at=finished,
    )


def event(request_id: str, task: str, user: str, when: datetime) -> TelemetryEvent:
    return TelemetryEvent(
        installation_id=INSTALLATION_A,
        project_id=task.split("-")[0],
        task_id=task,
        user_account_id=user,
        permit_jti="jti-" + request_id,
        request_id=request_id,
        event_type="ai.usage",
        occurred_at=when,
        received_at=when,
    )


def progress(task: str, percent: str, when: datetime) -> ProgressReport:
    return ProgressReport(
        installation_id=INSTALLATION_A,
        project_id=task.split("-")[0],
        task_id=task,
        user_account_id=A,
        ready=[],
        left=[],
        progress=percent,
        confidence="High",
        risks=[],
        logs=[],
        created_at=when,
    )


async def _bootstrap_b(client: httpx.AsyncClient, forge: Any) -> JiraAppClient:
    other = JiraAppClient(
        client, forge, fit_claims={"installation": INSTALLATION_B, "cloud_id": CLOUD_B, "site_url": SITE_B}
    )
    await other.bootstrap()
    return other


@pytest.fixture
async def seeded(app: FastAPI, client: httpx.AsyncClient, jira: JiraAppClient, forge: Any) -> JiraAppClient:
    await jira.bootstrap()  # creates installation A
    await _bootstrap_b(client, forge)
    rows: list[Any] = [
        snapshot("AUTH-1", A, 40, at(3), architecture=True),
        snapshot("AUTH-1", B, 20, at(4)),
        snapshot("AUTH-2", A, 60, at(10)),
        snapshot("AUTH-2", A, 40, at(11), logic=True),
        snapshot("AUTH-3", B, 30, at(12), ui=True),
        snapshot("OPS-1", A, 50, at(20)),
        snapshot("AUTH-2", A, 500, at(31, 23, 59, month=8)),
        snapshot("AUTH-2", A, 700, at(1, 0, 0, month=10)),
        snapshot("AUTH-1", B, 999, at(5), installation=INSTALLATION_B),
        run("run_auth1", "AUTH-1", A, "succeeded", claimed=at(5), minutes=20, tokens=(1000, 1000)),
        run("run_ok", "AUTH-4", B, "succeeded", claimed=at(15), minutes=10, tokens=(1500, 500)),
        run("run_failed", "AUTH-4", B, "failed", claimed=at(16), minutes=45, tokens=(80_000, 10_000)),
        run("run_cancelled", "AUTH-4", B, "cancelled", claimed=at(17), minutes=5),
        run("run_running", "AUTH-4", B, "in_process", claimed=at(18), minutes=None),
        event("e-auth2-1", "AUTH-2", A, at(10)),
        event("e-auth2-2", "AUTH-2", A, at(10, 13)),
        event("e-auth4", "AUTH-4", B, at(15, 13)),
        event("e-auth5-1", "AUTH-5", A, at(21)),
        event("e-auth5-2", "AUTH-5", A, at(22)),
        event("e-auth5-3", "AUTH-5", A, at(23)),
        progress("AUTH-2", "100%", at(25)),
        progress("AUTH-1", "100%", at(24)),
        progress("AUTH-1", "80%", at(26)),  # reopened: the newest report decides
    ]
    async with runtime_of(app).db.transaction() as session:
        session.add_all(rows)
        await session.flush()
        # Written straight to the table, as a bulk load would: derive the daily sums the same way.
        await rebuild_daily(session, INSTALLATION_A)
        await rebuild_daily(session, INSTALLATION_B)
    return jira


async def _board(jira: JiraAppClient, **params: str) -> dict[str, Any]:
    response = await jira.call("GET", URL, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _tasks(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {task["taskId"]: task for task in body["taskSummaries"]}


async def test_raw_effort_per_task_with_both_fallbacks(seeded: JiraAppClient) -> None:
    body = await _board(seeded, **SEPTEMBER)

    efforts = {task: summary["rawEffortUnits"] for task, summary in _tasks(body).items()}
    sources = {task: summary["source"] for task, summary in _tasks(body).items()}
    assert efforts == {"AUTH-1": 60, "AUTH-2": 100, "AUTH-3": 30, "OPS-1": 50, "AUTH-4": 124, "AUTH-5": 12}
    assert sources == {
        "AUTH-1": "snapshots",
        "AUTH-2": "snapshots",
        "AUTH-3": "snapshots",
        "OPS-1": "snapshots",
        "AUTH-4": "task_run_fallback",
        "AUTH-5": "vscode_fallback",
    }
    assert [task["taskId"] for task in body["taskSummaries"]] == [
        "AUTH-4",
        "AUTH-2",
        "AUTH-1",
        "OPS-1",
        "AUTH-3",
        "AUTH-5",
    ]


async def test_month_baseline_is_the_median_task_effort(seeded: JiraAppClient) -> None:
    body = await _board(seeded, **SEPTEMBER)

    assert body["monthBaseline"] == {"month": "2026-09", "taskCount": 6, "medianEffortUnits": 55}
    tasks = _tasks(body)
    assert tasks["AUTH-2"]["relativeEffort"] == 181.8  # 100 / 55
    assert tasks["AUTH-1"]["relativeEffort"] == 109.1
    assert tasks["AUTH-5"]["relativeEffort"] == 21.8


async def test_contributors_have_team_share_and_task_counts(seeded: JiraAppClient) -> None:
    body = await _board(seeded, **SEPTEMBER)

    contributors = {c["userAccountId"]: c for c in body["contributors"]}
    assert [c["userAccountId"] for c in body["contributors"]] == [A, B]
    assert contributors[A]["rawEffortUnits"] == 202
    assert contributors[B]["rawEffortUnits"] == 174
    assert (contributors[A]["teamShare"], contributors[B]["teamShare"]) == (53.7, 46.3)
    assert contributors[A]["relativeEffort"] == 367.3  # 202 / 55
    assert (contributors[A]["contributedTasks"], contributors[B]["contributedTasks"]) == (4, 3)
    assert (contributors[A]["solvedTasks"], contributors[B]["solvedTasks"]) == (1, 0)
    assert contributors[A]["signals"] == {"architecture": 1, "logic": 1, "specificationUi": 0}
    assert contributors[B]["signals"] == {"architecture": 0, "logic": 0, "specificationUi": 1}


async def test_task_summary_sums_its_items(seeded: JiraAppClient) -> None:
    auth1 = _tasks(await _board(seeded, **SEPTEMBER))["AUTH-1"]

    assert auth1 == {
        "projectId": "AUTH",
        "taskId": "AUTH-1",
        "source": "snapshots",
        "itemCount": 2,
        "activeMinutes": 20.0,
        "locChanged": 30,
        "filesChanged": 2,
        "signals": {"architecture": 1, "logic": 0, "specificationUi": 0},
        "rawEffortUnits": 60,
        "relativeEffort": 109.1,
        "contributors": [A, B],
        "solved": False,
        "firstActivityAt": "2026-09-03T11:45:00Z",
        "lastActivityAt": "2026-09-04T12:00:00Z",
    }


async def test_run_fallback_counts_settled_runs_only(seeded: JiraAppClient) -> None:
    body = await _board(seeded, **SEPTEMBER)

    auth4 = _tasks(body)["AUTH-4"]
    run_items = sorted(
        (item for item in body["items"] if item["source"] == "task_run"), key=lambda item: item["runId"]
    )
    assert (auth4["itemCount"], auth4["activeMinutes"], auth4["contributors"]) == (2, 40.0, [B])
    assert [(i["runId"], i["effortUnits"], i["humanActiveMs"]) for i in run_items] == [
        ("run_failed", 104, 1_800_000),
        ("run_ok", 20, 600_000),
    ]
    assert run_items[1]["windowStartedAt"] == "2026-09-15T12:00:00.000000Z"


async def test_source_summary_counts_items_and_fallback_tasks(seeded: JiraAppClient) -> None:
    body = await _board(seeded, **SEPTEMBER)

    assert body["sourceSummary"] == {
        "snapshotItems": 6,
        "taskRunFallbackItems": 2,
        "vscodeFallbackItems": 3,
        "fallbackTaskCount": 2,
    }
    assert len(body["items"]) == 11
    assert body["itemsTruncated"] is False
    assert [item["timestamp"] for item in body["items"]] == sorted(
        (item["timestamp"] for item in body["items"]), reverse=True
    )


async def test_formula_is_the_contracts(seeded: JiraAppClient) -> None:
    body = await _board(seeded, **SEPTEMBER)

    assert body["formula"] == {
        "version": "v1",
        "weights": {
            "activeMinute": 1.8,
            "locChanged": 0.18,
            "changedFile": 3,
            "architectureBonus": 24,
            "logicBonus": 14,
            "specificationUiBonus": 10,
        },
    }


async def test_project_filter_scopes_items_tasks_and_baseline(seeded: JiraAppClient) -> None:
    body = await _board(seeded, projectId="AUTH", **SEPTEMBER)

    assert set(_tasks(body)) == {"AUTH-1", "AUTH-2", "AUTH-3", "AUTH-4", "AUTH-5"}
    assert body["monthBaseline"] == {"month": "2026-09", "taskCount": 5, "medianEffortUnits": 60}
    assert _tasks(body)["AUTH-2"]["relativeEffort"] == 166.7
    assert {item["projectId"] for item in body["items"]} == {"AUTH"}
    assert body["sourceSummary"]["snapshotItems"] == 5


async def test_dates_bound_the_period_by_utc_day(seeded: JiraAppClient) -> None:
    august = await _board(seeded, startDate="2026-08-01", endDate="2026-08-31")
    october_first = await _board(seeded, startDate="2026-10-01", endDate="2026-10-01")

    assert {t["taskId"]: t["rawEffortUnits"] for t in august["taskSummaries"]} == {"AUTH-2": 500}
    assert {t["taskId"]: t["rawEffortUnits"] for t in october_first["taskSummaries"]} == {"AUTH-2": 700}


async def test_part_of_a_month_keeps_the_whole_months_baseline(seeded: JiraAppClient) -> None:
    body = await _board(seeded, startDate="2026-09-10", endDate="2026-09-12")

    assert set(_tasks(body)) == {"AUTH-2", "AUTH-3"}
    assert body["monthBaseline"] == {"month": "2026-09", "taskCount": 6, "medianEffortUnits": 55}
    assert (body["startDate"], body["endDate"]) == ("2026-09-10", "2026-09-12")


async def test_a_single_date_extends_to_its_month(seeded: JiraAppClient) -> None:
    from_start = await _board(seeded, startDate="2026-09-20")
    to_end = await _board(seeded, endDate="2026-09-05")

    assert (from_start["startDate"], from_start["endDate"]) == ("2026-09-20", "2026-09-30")
    assert set(_tasks(from_start)) == {"OPS-1", "AUTH-5"}
    assert (to_end["startDate"], to_end["endDate"]) == ("2026-09-01", "2026-09-05")
    assert set(_tasks(to_end)) == {"AUTH-1"}


async def test_another_installations_data_is_never_visible(
    seeded: JiraAppClient, client: httpx.AsyncClient, forge: Any
) -> None:
    mine = await _board(seeded, **SEPTEMBER)
    theirs = await _board(await _bootstrap_b(client, forge), **SEPTEMBER)

    assert 999 not in {t["rawEffortUnits"] for t in mine["taskSummaries"]}
    assert {t["taskId"]: t["rawEffortUnits"] for t in theirs["taskSummaries"]} == {"AUTH-1": 999}
    assert theirs["sourceSummary"] == {
        "snapshotItems": 1,
        "taskRunFallbackItems": 0,
        "vscodeFallbackItems": 0,
        "fallbackTaskCount": 0,
    }
    assert [c["userAccountId"] for c in theirs["contributors"]] == [B]


async def test_default_period_is_the_current_month(
    jira: JiraAppClient, app: FastAPI, clock: FixedClock
) -> None:
    await jira.bootstrap()
    now = clock.utcnow()
    async with runtime_of(app).db.transaction() as session:
        session.add(snapshot("AUTH-9", A, 33, now - timedelta(seconds=1)))
        await session.flush()
        await rebuild_daily(session, INSTALLATION_A)

    body = await _board(jira)

    first = now.date().replace(day=1)
    assert body["startDate"] == first.isoformat()
    assert body["monthBaseline"] == {"month": now.strftime("%Y-%m"), "taskCount": 1, "medianEffortUnits": 33}
    assert _tasks(body)["AUTH-9"]["relativeEffort"] == 100.0


async def test_an_empty_month_has_no_baseline(jira: JiraAppClient) -> None:
    body = await _board(jira, **SEPTEMBER)

    assert body["monthBaseline"] == {"month": "2026-09", "taskCount": 0, "medianEffortUnits": None}
    assert (body["items"], body["taskSummaries"], body["contributors"]) == ([], [], [])


async def test_matching_hints_are_accepted(seeded: JiraAppClient) -> None:
    body = await _board(
        seeded, cloudIdHint=CLOUD_A, siteUrlHint="https://tenant-a.atlassian.net", **SEPTEMBER
    )

    assert body["monthBaseline"]["taskCount"] == 6


async def test_a_hint_naming_another_site_is_403(seeded: JiraAppClient) -> None:
    response = await seeded.call("GET", URL, params={"cloudIdHint": CLOUD_B})

    assert response.status_code == 403
    assert response.json()["error"] == "hint_mismatch"


async def test_without_request_key_is_refused(client: httpx.AsyncClient, jira: JiraAppClient) -> None:
    await jira.bootstrap()

    response = await client.get(URL, headers={"Authorization": f"Bearer {jira.fit()}"})

    assert response.status_code == 403
    assert response.json()["error"] == "request_key_missing"


@pytest.mark.parametrize(
    "params",
    [
        {"startDate": "2026-13-01"},
        {"startDate": "2026-02-30"},
        {"startDate": "2026/09/01"},
        {"startDate": "1 September"},
        {"endDate": "2026-09-01T00:00:00Z"},
        {"startDate": "2026-09-30", "endDate": "2026-09-01"},
        {"startDate": "2025-01-01", "endDate": "2026-01-02"},
        {"startDate": "1999-12-01"},
        {"endDate": "9999-12-31"},
        {"projectId": "not a key"},
        {"cloudIdHint": "c" * 256},
    ],
)
async def test_bad_dates_and_parameters_are_422_and_keep_the_chain(
    seeded: JiraAppClient, params: dict[str, str]
) -> None:
    response = await seeded.call("GET", URL, params=params)
    after = await seeded.call("GET", URL, params=SEPTEMBER)

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert response.json()["fields"]
    assert response.headers[NEXT_KEY_HEADER]
    assert after.status_code == 200


async def test_empty_date_parameters_mean_not_given(jira: JiraAppClient) -> None:
    body = await _board(jira, startDate="", endDate="")

    assert body["startDate"].endswith("-01")


async def test_the_schema_admits_the_empty_date_parameters(client: httpx.AsyncClient) -> None:
    # Found by the fuzzer: `format: date` alone said `startDate=` was invalid, yet it is accepted.
    spec = (await client.get("/openapi.json")).json()
    parameters = spec["paths"][URL]["get"]["parameters"]

    for name in ("startDate", "endDate"):
        alternatives = next(p for p in parameters if p["name"] == name)["schema"]["anyOf"]
        assert {"type": "string", "format": "date"} in alternatives
        assert any(a.get("maxLength") == 0 for a in alternatives)
