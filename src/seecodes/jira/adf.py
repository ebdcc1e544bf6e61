"""Atlassian Document Format: the progress comment, ticket descriptions from Markdown, and the
progress entity property kept within Jira's 32,768-character limit."""

from __future__ import annotations

import json
import re
from typing import Any

from seecodes.kit.clock import iso_utc
from seecodes.models import ProgressReport

PROPERTY_KEY = "seecodes-progress"
# Atlassian's description limits the property's request body to 32,768 bytes (its prose says
# characters; the stricter reading wins): counted as the UTF-8 bytes of the JSON we send.
PROPERTY_MAX_BYTES = 32_768
COMMENT_MAX_CHARS = 32_000  # Jira's comment limit is 32,767 characters; keep a margin for its own wrapping
COMMENT_ITEMS_PER_SECTION = 25
COMMENT_LOG_LINES = 10
_SECTIONS = (("ready", "Ready"), ("left", "Left"), ("risks", "Risks"))
_INLINE = re.compile(
    r"\*\*(?P<bold>[^*]+)\*\*|`(?P<code>[^`]+)`|\[(?P<label>[^\]]+)\]\((?P<href>https?://[^)\s]+)\)"
)

Node = dict[str, Any]


def doc(content: list[Node]) -> Node:
    return {"type": "doc", "version": 1, "content": content or [paragraph("")]}


def text(value: str, marks: list[Node] | None = None) -> Node:
    node: Node = {"type": "text", "text": value}
    if marks:
        node["marks"] = marks
    return node


def paragraph(value: str | list[Node]) -> Node:
    content = inline(value) if isinstance(value, str) else value
    return {"type": "paragraph", "content": content} if content else {"type": "paragraph"}


def heading(value: str, level: int) -> Node:
    return {"type": "heading", "attrs": {"level": level}, "content": inline(value) or [text(" ")]}


def bullet_list(items: list[str]) -> Node:
    return {
        "type": "bulletList",
        "content": [{"type": "listItem", "content": [paragraph(item)]} for item in items],
    }


def ordered_list(items: list[str]) -> Node:
    return {
        "type": "orderedList",
        "content": [{"type": "listItem", "content": [paragraph(item)]} for item in items],
    }


def code_block(lines: list[str]) -> Node:
    body = "\n".join(lines)
    return {"type": "codeBlock", "content": [text(body)]} if body else {"type": "codeBlock"}


def inline(value: str) -> list[Node]:
    """**bold**, `code` and [links](https://…); everything else is plain text. Empty text nodes are
    invalid ADF, so none is produced."""
    nodes: list[Node] = []
    position = 0
    for match in _INLINE.finditer(value):
        if match.start() > position:
            nodes.append(text(value[position : match.start()]))
        if match.group("bold"):
            nodes.append(text(match.group("bold"), [{"type": "strong"}]))
        elif match.group("code"):
            nodes.append(text(match.group("code"), [{"type": "code"}]))
        else:
            nodes.append(
                text(match.group("label"), [{"type": "link", "attrs": {"href": match.group("href")}}])
            )
        position = match.end()
    if position < len(value):
        nodes.append(text(value[position:]))
    return nodes


# Jira's summary is plain text of at most 255 characters.
SUMMARY_MAX_CHARS = 255
_EMPHASIS = re.compile(r"(?<![\w*])\*(?P<star>[^*\s][^*]*)\*(?!\w)|(?<!\w)_(?P<under>[^_\s][^_]*)_(?!\w)")


def plain_summary(markdown: str) -> str:
    """A ticket title as Jira shows a summary: inline Markdown (bold, emphasis, code, links)
    rendered to its text, one line, at most 255 characters."""
    rendered = "".join(node["text"] for node in inline(" ".join(markdown.split())))
    rendered = _EMPHASIS.sub(lambda match: match.group("star") or match.group("under"), rendered)
    return _clip(rendered, SUMMARY_MAX_CHARS)


def markdown_to_adf(markdown: str) -> Node:
    """The Markdown tickets are written in: headings, bullet / numbered / task lists, fenced code,
    paragraphs. Anything else stays readable as plain text."""
    blocks: list[Node] = []
    lines = markdown.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if not stripped:
            index += 1
        elif stripped.startswith("```"):
            index += 1
            code: list[str] = []
            while index < len(lines) and not lines[index].strip().startswith("```"):
                code.append(lines[index])
                index += 1
            blocks.append(code_block(code))
            index += 1
        elif heading_match := re.match(r"^(#{1,6})\s+(.*)$", stripped):
            blocks.append(heading(heading_match.group(2).strip(), len(heading_match.group(1))))
            index += 1
        elif re.match(r"^[-*+]\s+", stripped):
            items = []
            while index < len(lines) and re.match(r"^\s*[-*+]\s+", lines[index]):
                item = re.sub(r"^\s*[-*+]\s+", "", lines[index])
                items.append(re.sub(r"^\[([ xX])\]\s*", lambda m: "☑ " if m.group(1).strip() else "☐ ", item))
                index += 1
            blocks.append(bullet_list(items))
        elif re.match(r"^\d+[.)]\s+", stripped):
            items = []
            while index < len(lines) and re.match(r"^\s*\d+[.)]\s+", lines[index]):
                items.append(re.sub(r"^\s*\d+[.)]\s+", "", lines[index]))
                index += 1
            blocks.append(ordered_list(items))
        else:
            paragraph_lines = []
            while index < len(lines) and lines[index].strip() and not _starts_block(lines[index].strip()):
                paragraph_lines.append(lines[index].strip())
                index += 1
            blocks.append(paragraph(" ".join(paragraph_lines)))
    return doc(blocks)


def _starts_block(stripped: str) -> bool:
    return bool(stripped.startswith("```") or re.match(r"^(#{1,6}\s|[-*+]\s|\d+[.)]\s)", stripped))


# -- the progress document in Jira ----------------------------------------------------------------
def progress_property(report: ProgressReport) -> dict[str, Any]:
    """The entity property value: the whole document when it fits, else trimmed (logs first, then
    the longest list, from its end) and marked `truncated`, with what was left out counted."""
    value: dict[str, Any] = {
        "version": 1,
        "reportId": report.id,
        "updatedAt": iso_utc(report.created_at),
        "progress": report.progress,
        "confidence": report.confidence,
        "ready": list(report.ready),
        "left": list(report.left),
        "risks": list(report.risks),
        "logs": list(report.logs),
    }
    omitted = {"ready": 0, "left": 0, "risks": 0, "logs": 0}
    while _bytes(value) > PROPERTY_MAX_BYTES:
        name = "logs" if value["logs"] else max(("ready", "left", "risks"), key=lambda n: _bytes(value[n]))
        if not value[name]:
            break
        value[name].pop()
        omitted[name] += 1
        value["truncated"] = True
        value["omitted"] = {key: count for key, count in omitted.items() if count}
    return value


def progress_comment(report: ProgressReport) -> Node:
    items_limit = COMMENT_ITEMS_PER_SECTION
    item_chars = 2000
    while True:
        rendered = _comment(report, items_limit, item_chars)
        if _size(rendered) <= COMMENT_MAX_CHARS or item_chars <= 80:
            return rendered
        items_limit = max(3, items_limit // 2)
        item_chars = max(80, item_chars // 2)


def _comment(report: ProgressReport, items_limit: int, item_chars: int) -> Node:
    content: list[Node] = [
        paragraph(
            [
                text("SeeCodes progress: ", [{"type": "strong"}]),
                text(f"{report.progress} done, confidence {report.confidence}"),
            ]
        ),
        paragraph([text(f"Reported from the IDE at {iso_utc(report.created_at)}.", [{"type": "em"}])]),
    ]
    for name, title in _SECTIONS:
        items: list[str] = list(getattr(report, name))
        if not items:
            continue
        shown = [_clip(item, item_chars) for item in items[:items_limit]]
        if len(items) > items_limit:
            shown.append(f"… and {len(items) - items_limit} more")
        content += [heading(title, 4), _plain_list(shown)]
    if report.logs:
        content += [
            heading("Recent activity", 4),
            _plain_list([_clip(line, item_chars) for line in report.logs[-COMMENT_LOG_LINES:]]),
        ]
    return doc(content)


def _plain_list(items: list[str]) -> Node:
    """Progress lines are the IDE's text, not Markdown: no inline parsing."""
    return {
        "type": "bulletList",
        "content": [
            {"type": "listItem", "content": [paragraph([text(item)] if item else [])]} for item in items
        ],
    }


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _bytes(value: Any) -> int:
    """As httpx sends a `json=` body: compact, not ASCII-escaped, UTF-8."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
