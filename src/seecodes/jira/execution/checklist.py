"""Execution tickets from a document already in checklist form, parsed deterministically.

The form (GitHub task-list Markdown):

    ## Anything (headings end the item above them; they are not tickets)
    - [ ] [P1] Validate the OAuth callback state #auth #security
      Indented lines under an item are its description (Markdown, dedented).
      labels: backend, api          <- a `labels:` line adds labels and is not kept in the text
      - [ ] a nested task-list item stays in its parent's description
    - [x] Done items are skipped: they need no ticket.

* An item is `-`, `*` or `+`, then `[ ]`, at the smallest indentation any task-list item has.
* Priority: the first `P0`–`P3` written as `[P1]`, `(P1)`, `**P1**`, `P1:` / `P1 -` at the start,
  or `priority: P1` anywhere in the title; it is removed from the title. None found: unset.
* Labels: trailing `#words` of the title, plus `labels:` lines; spaces become `-` (Jira labels
  cannot hold spaces), duplicates are dropped, order is kept.
* A document with no unchecked item is not in checklist form (the AI path drafts it instead).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

MAX_TICKETS = 200
MAX_TITLE = 255
MAX_LABELS = 20
MAX_LABEL_CHARS = 255

_ITEM = re.compile(r"^(?P<indent>[ \t]*)[-*+][ \t]+\[(?P<box>[ xX])\][ \t]+(?P<title>.*\S)[ \t]*$")
_HEADING = re.compile(r"^#{1,6}[ \t]")
_PRIORITY_PATTERNS = (
    re.compile(r"\[(P[0-3])\]", re.IGNORECASE),
    re.compile(r"\((P[0-3])\)", re.IGNORECASE),
    re.compile(r"\*\*(P[0-3])\*\*", re.IGNORECASE),
    re.compile(r"\bpriority[ \t]*[:=]?[ \t]*(P[0-3])\b", re.IGNORECASE),
    re.compile(r"^(P[0-3])(?:[ \t]*[:–—-][ \t]*|[ \t]+)", re.IGNORECASE),
)
_TRAILING_TAGS = re.compile(r"(?:[ \t]+#[\w][\w./-]*)+$")
_LABELS_LINE = re.compile(r"^[ \t]*labels?[ \t]*:[ \t]*(?P<labels>.+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DraftTicket:
    title: str
    description: str
    priority: str | None
    labels: tuple[str, ...]


def is_checklist(markdown: str) -> bool:
    return any(
        (match := _item(line, fenced)) and match.group("box") == " " for line, fenced in _lines(markdown)
    )


def parse_checklist(markdown: str) -> list[DraftTicket]:
    lines = _lines(markdown)
    indents = [
        len(match.group("indent").expandtabs(4)) for line, fenced in lines if (match := _item(line, fenced))
    ]
    if not indents:
        return []
    top = min(indents)
    tickets: list[DraftTicket] = []
    index = 0
    while index < len(lines) and len(tickets) < MAX_TICKETS:
        match = _item(*lines[index])
        if not match or len(match.group("indent").expandtabs(4)) != top:
            index += 1
            continue
        body: list[str] = []
        index += 1
        while index < len(lines) and _belongs_to_item(lines[index][0], top):
            body.append(lines[index][0])
            index += 1
        if match.group("box") == " ":
            tickets.append(_ticket(match.group("title"), body))
    return [ticket for ticket in tickets if ticket.title]


def _item(line: str, fenced: bool) -> re.Match[str] | None:
    return None if fenced else _ITEM.match(line)


def _belongs_to_item(line: str, top: int) -> bool:
    if not line.strip():
        return True  # blank lines inside a description; trailing ones are trimmed later
    indent = len(line) - len(line.lstrip(" \t"))
    return indent > top and not _HEADING.match(line.lstrip())


def _ticket(raw_title: str, body: list[str]) -> DraftTicket:
    title, priority = _take_priority(raw_title.strip())
    labels: list[str] = []
    tags = _TRAILING_TAGS.search(title)
    if tags:
        labels += [tag.lstrip("#") for tag in tags.group(0).split()]
        title = title[: tags.start()].rstrip()
    kept: list[str] = []
    for line in textwrap.dedent("\n".join(body)).split("\n"):
        label_line = _LABELS_LINE.match(line)
        if label_line:
            labels += [part for part in re.split(r"[,;]", label_line.group("labels")) if part.strip()]
        else:
            kept.append(line.rstrip())
    description = "\n".join(kept).strip("\n")
    title = re.sub(r"[ \t]+", " ", title).strip(" -–—:")
    if len(title) > MAX_TITLE:
        description = f"{title}\n\n{description}".strip()
        title = title[: MAX_TITLE - 1].rstrip() + "…"
    return DraftTicket(title=title, description=description, priority=priority, labels=clean_labels(labels))


def _take_priority(title: str) -> tuple[str, str | None]:
    for pattern in _PRIORITY_PATTERNS:
        match = pattern.search(title)
        if match:
            remaining = (title[: match.start()] + " " + title[match.end() :]).strip()
            return remaining, match.group(1).upper()
    return title, None


def clean_labels(labels: list[str]) -> tuple[str, ...]:
    cleaned: list[str] = []
    for label in labels:
        value = re.sub(r"\s+", "-", label.strip().lstrip("#"))[:MAX_LABEL_CHARS]
        if value and value not in cleaned:
            cleaned.append(value)
    return tuple(cleaned[:MAX_LABELS])


def _lines(markdown: str) -> list[tuple[str, bool]]:
    """Each line, and whether it is inside fenced code (where `- [ ]` is an example, not a ticket)."""
    result: list[tuple[str, bool]] = []
    fenced = False
    for line in markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.lstrip().startswith("```"):
            result.append((line, True))
            fenced = not fenced
        else:
            result.append((line, fenced))
    return result
