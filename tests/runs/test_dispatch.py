"""Fair dispatch (runs.service): an installation's slots, and which one a run takes."""

from __future__ import annotations

from seecodes.runs.service import dispatch_key, installation_slots, least_loaded


def test_an_installation_gets_the_model_concurrency_unless_capped() -> None:
    assert installation_slots(None, 0, 4) == 4  # no cap anywhere: what the model allows
    assert installation_slots(None, 2, 4) == 2  # the deployment's default cap
    assert installation_slots(3, 2, 4) == 3  # its own cap wins over the default
    assert installation_slots(9, 0, 4) == 4  # never past the model's concurrency
    assert installation_slots(None, 0, 0) == 1


def test_a_run_takes_the_least_loaded_slot_so_it_never_waits_behind_its_own_below_the_cap() -> None:
    assert least_loaded({}, 4) == 0
    assert least_loaded({0: 1}, 4) == 1
    assert least_loaded({0: 1, 1: 1, 2: 1, 3: 1}, 4) == 0
    assert least_loaded({0: 2, 1: 1, 2: 2, 3: 1}, 4) == 1
    # Slots past a lowered cap are not chosen again.
    assert least_loaded({0: 3, 5: 0}, 2) == 1


def test_the_partition_names_the_installation_and_the_slot() -> None:
    assert dispatch_key("ari:cloud:ecosystem::installation/x", 2) == "ari:cloud:ecosystem::installation/x#2"
