"""P0–P3 → Jira priority: the documented names first, the project's own scheme when it lacks them.

P0→Highest, P1→High, P2→Medium, P3→Low, unset→Medium. A project's priority scheme may not offer
that name ("Highest" is often missing, or the names are "Blocker"/"Critical"/…); then the priority
at the same relative position in the list the issue type's create metadata allows (which Jira
returns in the site's order, highest first) is used, and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JIRA_NAMES = {"P0": "Highest", "P1": "High", "P2": "Medium", "P3": "Low"}
DEFAULT_PRIORITY = "P2"  # unset → Medium


@dataclass(frozen=True, slots=True)
class PriorityChoice:
    requested: str  # the Jira name the mapping asks for
    field: dict[str, str] | None  # what goes into fields.priority; None: leave it to Jira's default
    applied: str | None
    fallback: bool
    note: str | None = None


def choose_priority(priority: str | None, scheme: list[dict[str, Any]] | None) -> PriorityChoice:
    """`scheme`: the project's priorities, highest first; None when they could not be read."""
    level = priority if priority in JIRA_NAMES else DEFAULT_PRIORITY
    wanted = JIRA_NAMES[level]
    if scheme is None:
        # The scheme is unknown: ask by name and let Jira refuse (the push then retries without).
        return PriorityChoice(wanted, {"name": wanted}, wanted, fallback=False)
    options = [entry for entry in scheme if entry.get("id") and entry.get("name")]
    for entry in options:
        if str(entry["name"]).casefold() == wanted.casefold():
            return PriorityChoice(wanted, {"id": str(entry["id"])}, str(entry["name"]), fallback=False)
    if not options:
        return PriorityChoice(
            wanted,
            None,
            None,
            fallback=True,
            note="The issue type's create screen offers no priority; Jira's default applies.",
        )
    rank = int(level[1])  # 0 (highest) … 3 (lowest)
    position = round(rank / 3 * (len(options) - 1))
    chosen = options[position]
    return PriorityChoice(
        wanted,
        {"id": str(chosen["id"])},
        str(chosen["name"]),
        fallback=True,
        note=(
            f"The project's priority scheme has no '{wanted}'; used '{chosen['name']}', "
            f"at the same place in the site's priority order."
        ),
    )
