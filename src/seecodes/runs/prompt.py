"""The prompt template: every uploaded file, then the user's instruction.

Files go in the order they were declared, each fenced with its name so the model can refer to it;
the instruction comes last, where models weigh it most. Start counts tokens over exactly this text,
so the estimate and the real input agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SYSTEM = (
    "You are SeeCodes, an assistant working on one Jira issue inside a developer's IDE. "
    "The user message holds the files the developer attached, then their instruction. "
    "Answer with the requested text only, in Markdown unless the instruction asks otherwise."
)

DEFAULT_INSTRUCTION = "Work through the attached files and produce the result they ask for."


@dataclass(frozen=True, slots=True)
class Prompt:
    system: str
    user: str

    @property
    def text(self) -> str:
        return f"{self.system}\n\n{self.user}"


def build_prompt(files: Sequence[tuple[str, str]], instruction: str | None) -> Prompt:
    parts = [f'<file name="{name}">\n{content}\n</file>' for name, content in files]
    parts.append(f"<instruction>\n{(instruction or '').strip() or DEFAULT_INSTRUCTION}\n</instruction>")
    return Prompt(system=SYSTEM, user="\n\n".join(parts))
