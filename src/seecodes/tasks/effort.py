"""The retrospective effort formula, version v1 (the contract's `formula` block carries the same weights).

effortUnits = round(activeMinutes × 1.8 + locChanged × 0.18 + filesChanged × 3
                    + 24·architecture + 14·logic + 10·specificationUi)

with activeMinutes = humanActiveMs / 60000, locChanged = locAdded + locRemoved and
filesChanged = changedFilesCount. Rounding is half up and computed in integers, so one input gives
the same units everywhere (in binary floats 0.18 × 25 lands just below 4.5 and would round down).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

FORMULA_VERSION: Final = "v1"
WEIGHTS: dict[str, float] = {
    "activeMinute": 1.8,
    "locChanged": 0.18,
    "changedFile": 3,
    "architectureBonus": 24,
    "logicBonus": 14,
    "specificationUiBonus": 10,
}

MS_PER_MINUTE = 60_000


def _hundredths(name: str) -> int:
    return int(Decimal(str(WEIGHTS[name])) * 100)


# Every term is counted in 1/(100 × 60000) of a unit: hundredths of the weight, milliseconds.
_DENOMINATOR = 100 * MS_PER_MINUTE


@dataclass(frozen=True, slots=True)
class Activity:
    human_active_ms: int
    loc_added: int
    loc_removed: int
    changed_files_count: int
    architecture_change: bool
    logic_change: bool
    specification_ui_change: bool


def effort_units(activity: Activity) -> int:
    per_minute = (
        (activity.loc_added + activity.loc_removed) * _hundredths("locChanged")
        + activity.changed_files_count * _hundredths("changedFile")
        + activity.architecture_change * _hundredths("architectureBonus")
        + activity.logic_change * _hundredths("logicBonus")
        + activity.specification_ui_change * _hundredths("specificationUiBonus")
    )
    numerator = activity.human_active_ms * _hundredths("activeMinute") + per_minute * MS_PER_MINUTE
    return (numerator + _DENOMINATOR // 2) // _DENOMINATOR
