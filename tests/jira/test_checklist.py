"""Deterministic parsing of checklist documents, ADF rendering, priority mapping and the model's answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from seecodes.errors import TicketGenerationFailed
from seecodes.jira import adf
from seecodes.jira.execution.checklist import DraftTicket, is_checklist, parse_checklist
from seecodes.jira.execution.generator import parse_answer
from seecodes.jira.priorities import choose_priority
from seecodes.models import ProgressReport

PLAN = """# Auth hardening

Some prose that is not a ticket.

- [ ] [P1] Validate the OAuth callback state #auth #security
  Check **state** expiry and replay.
  labels: backend, api gateway
  - [ ] a nested item stays in the description

  ```
  - [ ] an example in code
  ```
- [x] Done items need no ticket
* [ ] P0: Rotate refresh tokens under a lock
- [ ] Polish the docs priority: p3
## Later
- [ ] Plain item
```
- [ ] fenced example, not a ticket
```
"""


def test_a_checklist_becomes_one_ticket_per_open_top_level_item() -> None:
    tickets = parse_checklist(PLAN)

    assert [ticket.title for ticket in tickets] == [
        "Validate the OAuth callback state",
        "Rotate refresh tokens under a lock",
        "Polish the docs",
        "Plain item",
    ]


def test_priority_labels_and_description_are_read_from_the_item() -> None:
    first = parse_checklist(PLAN)[0]

    assert first == DraftTicket(
        title="Validate the OAuth callback state",
        description="Check **state** expiry and replay.\n- [ ] a nested item stays in the description\n\n```\n- [ ] an example in code\n```",
        priority="P1",
        labels=("auth", "security", "backend", "api-gateway"),
    )


@pytest.mark.parametrize(
    ("title", "priority"),
    [
        ("[P0] Fix", "P0"),
        ("(p2) Fix", "P2"),
        ("**P1** Fix", "P1"),
        ("P3 - Fix", "P3"),
        ("Fix priority=P1", "P1"),
        ("Fix", None),
        ("Fix P12 things", None),
    ],
)
def test_priority_forms(title: str, priority: str | None) -> None:
    (ticket,) = parse_checklist(f"- [ ] {title}")

    assert ticket.priority == priority
    assert ticket.title.startswith("Fix")


def test_a_long_title_is_cut_and_kept_whole_in_the_description() -> None:
    (ticket,) = parse_checklist("- [ ] " + "word " * 80)

    assert len(ticket.title) == 255
    assert ticket.title.endswith("…")
    assert ticket.description.startswith("word word")


def test_prose_and_finished_checklists_are_not_in_checklist_form() -> None:
    assert not is_checklist("We should rotate tokens.\n\n- a plain bullet")
    assert not is_checklist("- [x] all done")
    assert not is_checklist("```\n- [ ] code\n```")
    assert is_checklist(PLAN)


def test_markdown_descriptions_become_adf() -> None:
    document = adf.markdown_to_adf(
        "## Why\nSee [spec](https://example.com/s) and `code`.\n\n- one\n- [x] two\n\n1. first"
    )

    assert document["type"] == "doc"
    assert document["version"] == 1
    kinds = [node["type"] for node in document["content"]]
    assert kinds == ["heading", "paragraph", "bulletList", "orderedList"]
    marks = [node.get("marks") for node in document["content"][1]["content"]]
    assert [{"type": "link", "attrs": {"href": "https://example.com/s"}}] in marks
    assert [{"type": "code"}] in marks
    assert "☑ two" in json.dumps(document, ensure_ascii=False)


def _report(**lists: list[str]) -> ProgressReport:
    return ProgressReport(
        id=7,
        installation_id="i",
        project_id="AUTH",
        task_id="AUTH-1",
        user_account_id="u",
        ready=lists.get("ready", ["done"]),
        left=lists.get("left", []),
        progress="67%",
        confidence="High",
        risks=lists.get("risks", []),
        logs=lists.get("logs", []),
        created_at=datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
    )


def test_the_progress_property_fits_jiras_limit_and_says_what_it_left_out() -> None:
    big = ["x" * 2000] * 200
    value = adf.progress_property(_report(ready=big, left=big, risks=big, logs=big))

    assert (
        len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()) <= adf.PROPERTY_MAX_BYTES
    )
    assert value["truncated"] is True
    assert value["omitted"]["logs"] == 200
    assert value["progress"] == "67%"


def test_a_multibyte_progress_document_stays_under_jiras_limit_in_bytes() -> None:
    """20 items of emoji and Japanese text per list, as the IDE may send them: under 32,768
    characters, but three bytes and more per character in UTF-8."""
    item = ("進捗を確認しました 🚀" * 60)[:1990]
    lists = {name: [item] * 20 for name in ("ready", "left", "risks", "logs")}

    value = adf.progress_property(_report(**lists))

    sent = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(sent) <= adf.PROPERTY_MAX_BYTES
    assert value["truncated"] is True
    assert value["ready"]  # trimmed from the ends, not emptied


def test_a_small_progress_property_is_whole() -> None:
    value = adf.progress_property(_report(ready=["a"], logs=["l"]))

    assert value == {
        "version": 1,
        "reportId": 7,
        "updatedAt": "2026-11-22T12:00:00Z",
        "progress": "67%",
        "confidence": "High",
        "ready": ["a"],
        "left": [],
        "risks": [],
        "logs": ["l"],
    }


def test_the_progress_comment_stays_under_the_comment_limit() -> None:
    big = ["y" * 2000] * 200
    comment = adf.progress_comment(_report(ready=big, left=big, risks=big, logs=big))

    assert len(json.dumps(comment, ensure_ascii=False)) <= adf.COMMENT_MAX_CHARS
    assert "… and" in json.dumps(comment, ensure_ascii=False)


SCHEME = [
    {"id": "1", "name": "Highest"},
    {"id": "2", "name": "High"},
    {"id": "3", "name": "Medium"},
    {"id": "4", "name": "Low"},
]


@pytest.mark.parametrize(
    ("priority", "name"),
    [("P0", "Highest"), ("P1", "High"), ("P2", "Medium"), ("P3", "Low"), (None, "Medium")],
)
def test_priorities_map_to_jira_names(priority: str | None, name: str) -> None:
    choice = choose_priority(priority, SCHEME)

    assert choice.applied == name
    assert choice.fallback is False


def test_a_scheme_without_the_name_falls_back_by_position_and_says_so() -> None:
    scheme = [{"id": "10", "name": "Blocker"}, {"id": "11", "name": "Major"}, {"id": "12", "name": "Minor"}]

    top, bottom = choose_priority("P0", scheme), choose_priority("P3", scheme)

    assert (top.applied, top.field, top.fallback) == ("Blocker", {"id": "10"}, True)
    assert bottom.applied == "Minor"
    assert top.note is not None
    assert "'Highest'" in top.note


def test_the_models_answer_is_validated() -> None:
    fenced = '```json\n{"tickets": [{"title": "Do it", "description": "x", "priority": "P1", "labels": ["a b"]}]}\n```'

    (ticket,) = parse_answer(fenced)

    assert ticket == DraftTicket("Do it", "x", "P1", ("a-b",))
    for bad in ("not json", '{"tickets": []}', '{"tickets": [{"title": "x", "priority": "urgent"}]}', "[]"):
        with pytest.raises(TicketGenerationFailed):
            parse_answer(bad)


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("Fix **the** `login` flow", "Fix the login flow"),
        ("See [the docs](https://example.com/a) and *this* or _that_", "See the docs and this or that"),
        ("Keep snake_case_names and 2*3*4 as written", "Keep snake_case_names and 2*3*4 as written"),
        ("two\nlines", "two lines"),
    ],
)
def test_a_ticket_summary_is_plain_text(title: str, summary: str) -> None:
    assert adf.plain_summary(title) == summary


def test_a_ticket_summary_is_at_most_255_characters() -> None:
    summary = adf.plain_summary("word " * 100)

    assert len(summary) == 255
    assert summary.endswith("…")
