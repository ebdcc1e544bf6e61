"""The board's arithmetic: median (half up) and relative effort."""

from __future__ import annotations

import pytest

from seecodes.analytics.board import median_half_up, relative
from seecodes.analytics.repository import event_effort_units


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([7], 7),
        ([30, 10, 20], 20),
        ([10, 20], 15),
        ([10, 21], 16),  # 15.5 rounds half up
        ([0, 0, 0, 0], 0),
        ([12, 30, 50, 60, 100, 124], 55),
    ],
)
def test_median_half_up(values: list[int], expected: int | None) -> None:
    assert median_half_up(values) == expected


@pytest.mark.parametrize(
    ("raw", "baseline", "expected"),
    [(72, 72, 100.0), (100, 55, 181.8), (0, 55, 0.0), (10, None, None), (10, 0, None)],
)
def test_relative_effort_is_raw_over_baseline_times_100(
    raw: int, baseline: int | None, expected: float | None
) -> None:
    assert relative(raw, baseline) == expected


def test_a_telemetry_event_is_worth_two_active_minutes() -> None:
    assert event_effort_units() == 4  # round(2 × 1.8 = 3.6)
