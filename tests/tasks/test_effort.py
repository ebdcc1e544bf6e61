"""The v1 effort formula against hand-computed cases."""

from __future__ import annotations

import pytest

from seecodes.tasks.effort import WEIGHTS, Activity, effort_units


def _activity(**fields: object) -> Activity:
    values: dict[str, object] = {
        "human_active_ms": 0,
        "loc_added": 0,
        "loc_removed": 0,
        "changed_files_count": 0,
        "architecture_change": False,
        "logic_change": False,
        "specification_ui_change": False,
    }
    values.update(fields)
    return Activity(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # The contract's example: 7 min × 1.8 + 39 × 0.18 + 2 × 3 + 14 (logic) = 39.62.
        (
            {
                "human_active_ms": 420_000,
                "loc_added": 28,
                "loc_removed": 11,
                "changed_files_count": 2,
                "logic_change": True,
            },
            40,
        ),
        ({}, 0),
        ({"human_active_ms": 60_000}, 2),  # 1.8
        ({"human_active_ms": 900_000}, 27),  # 15 min × 1.8 = 27
        ({"loc_added": 100, "loc_removed": 50}, 27),  # 150 × 0.18 = 27
        ({"changed_files_count": 7}, 21),
        ({"architecture_change": True}, 24),
        ({"specification_ui_change": True}, 10),
        (
            {"architecture_change": True, "logic_change": True, "specification_ui_change": True},
            48,
        ),
        # Half up, exactly: 25 × 0.18 = 4.5 → 5 (binary floats and round() would give 4).
        ({"loc_added": 25}, 5),
        ({"human_active_ms": 150_000}, 5),  # 2.5 min × 1.8 = 4.5 → 5
        ({"loc_added": 24}, 4),  # 4.32
        ({"human_active_ms": 149_999}, 4),  # 4.49997
    ],
)
def test_effort_units_match_hand_computed_values(fields: dict[str, object], expected: int) -> None:
    assert effort_units(_activity(**fields)) == expected


def test_weights_are_the_contracts() -> None:
    assert WEIGHTS == {
        "activeMinute": 1.8,
        "locChanged": 0.18,
        "changedFile": 3,
        "architectureBonus": 24,
        "logicBonus": 14,
        "specificationUiBonus": 10,
    }
