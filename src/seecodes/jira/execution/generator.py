"""Execution tickets drafted by a model, for documents not in checklist form.

The prompt below is the whole contract with the model: JSON only, in one shape. The answer is
validated (shape, lengths, priorities) before anything is stored; an answer that does not validate
stores nothing and fails the request with `ticket_generation_failed`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from seecodes.config import Settings
from seecodes.errors import ContextTooLarge, TicketGenerationFailed
from seecodes.jira.execution.checklist import MAX_TICKETS, DraftTicket, clean_labels
from seecodes.runs.catalog import Catalog, ModelSpec
from seecodes.runs.providers import build_provider
from seecodes.runs.providers.base import ModelProvider, ProviderError, TextDelta, Usage
from seecodes.runs.tokens import count_tokens

PROMPT_VERSION = 1
SYSTEM_PROMPT = """You turn a planning document into execution tickets for Jira.

Answer with one JSON object and nothing else (no prose, no Markdown fence), exactly this shape:
{"tickets": [{"title": "...", "description": "...", "priority": "P1", "labels": ["..."]}]}

Rules:
- One ticket per independently deliverable piece of work, in the document's order; at most 50.
- title: an imperative summary, at most 120 characters.
- description: Markdown; what to do and how to tell it is done. Use only what the document says.
- priority: "P0" (blocking, do first), "P1" (high), "P2" (normal), "P3" (low), or null when the
  document gives no hint.
- labels: 0 to 5 short lowercase words or words-joined-by-hyphens, no spaces, no "#".
- Never invent requirements the document does not state."""

# Characters per token is ~4 for English; 3 keeps a margin for code and other languages.
CHARS_PER_TOKEN = 3

ProviderFactory = Callable[[ModelSpec, Settings], ModelProvider]


class _DraftedTicket(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    description: Annotated[str, StringConstraints(max_length=20_000)] = ""
    priority: Literal["P0", "P1", "P2", "P3"] | None = None
    labels: list[Annotated[str, StringConstraints(max_length=255)]] = Field(
        default_factory=list, max_length=20
    )


class _Drafted(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tickets: list[_DraftedTicket] = Field(min_length=1, max_length=MAX_TICKETS)


def user_prompt(document: str) -> str:
    return f"The document:\n\n{document}"


@dataclass(frozen=True, slots=True)
class Drafted:
    tickets: list[DraftTicket]
    usage: Usage


def drafting_model(catalog: Catalog, settings: Settings, document: str) -> ModelSpec:
    """The model that drafts, once the document is known to fit it."""
    spec = catalog.usable(settings.jira_ticket_model or catalog.default.id)
    budget = (spec.max_context - spec.max_output_tokens) * CHARS_PER_TOKEN - len(SYSTEM_PROMPT)
    if len(document) > budget:
        raise ContextTooLarge(
            f"The document is too long for model {spec.id!r}; split it, or write it as a checklist."
        )
    return spec


def prompt_tokens(document: str) -> int:
    return count_tokens(f"{SYSTEM_PROMPT}\n\n{user_prompt(document)}")


async def draft_with_model(
    spec: ModelSpec, settings: Settings, document: str, *, provider_factory: ProviderFactory | None = None
) -> Drafted:
    try:
        provider = (provider_factory or build_provider)(spec, settings)
    except ProviderError as error:
        raise TicketGenerationFailed(f"The model could not be reached: {error.reason}") from None
    parts: list[str] = []
    usage: Usage | None = None
    try:
        async for event in provider.stream(
            SYSTEM_PROMPT, user_prompt(document), max_output_tokens=spec.max_output_tokens
        ):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, Usage):
                usage = event
    except ProviderError as error:
        raise TicketGenerationFailed(f"The model failed: {error.reason}") from None
    finally:
        await provider.close()
    answer = "".join(parts)
    counted = usage or Usage(input_tokens=prompt_tokens(document), output_tokens=count_tokens(answer))
    return Drafted(parse_answer(answer), counted)


def parse_answer(answer: str) -> list[DraftTicket]:
    """The model's JSON, validated; a ```json fence or text around the object is tolerated."""
    text = answer.strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    elif not text.startswith("{") and "{" in text:
        text = text[text.index("{") : text.rindex("}") + 1]
    try:
        drafted = _Drafted.model_validate(json.loads(text))
    except (ValueError, ValidationError) as error:
        summary = "not JSON" if isinstance(error, json.JSONDecodeError) else "not in the required shape"
        raise TicketGenerationFailed(f"The model's answer was {summary}; nothing was stored.") from None
    return [
        DraftTicket(
            title=ticket.title,
            description=ticket.description.strip(),
            priority=ticket.priority,
            labels=clean_labels(ticket.labels),
        )
        for ticket in drafted.tickets
    ]
