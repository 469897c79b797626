"""Oracle4Grid's KPIs and their order check."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest

from gridoracle.errors import GridOracleError, OracleOrderError
from gridoracle.oracle.core import kpis as kpis_module
from gridoracle.oracle.core.best_path import best_path, best_path_no_overload, best_unconstrained
from gridoracle.oracle.core.kpis import (
    MSG_DONOTHING,
    MSG_GAMERULES,
    MSG_GAMERULES_NO_OL,
    MSG_NOGAMERULE,
    check_kpi_order,
    compute_kpis,
    most_frequent,
)
from gridoracle.oracle.core.transitions import allowed_transitions

# sub-1-0 -> sub-2-1 changes two substations: not allowed in one step
NAMES = ["sub-1-0", "sub-2-1", "donothing-0"]
REWARDS = np.array(
    [
        [1.0, 2.0, 0.5],
        [3.0, 1.0, 1.5],
        [3.0, 1.0, 1.5],
        [0.5, 2.5, 1.5],
    ]
)
FLAGS = np.ones_like(REWARDS, dtype=np.int8)
FLAGS[1, 0] = 0


def brute_force(rewards: np.ndarray, flags: np.ndarray | None) -> tuple[float, list[int]]:
    """Best path by enumerating every sequence of actions."""
    rules = allowed_transitions(NAMES)
    allowed = rules.dense()
    best: tuple[float, list[int]] = (-np.inf, [])
    for path in itertools.product(range(len(NAMES)), repeat=len(rewards)):
        if not rules.from_init[path[0]]:
            continue
        if not all(allowed[x, y] for x, y in itertools.pairwise(path)):
            continue
        if flags is not None and any(flags[t, y] == 0 for t, y in enumerate(path)):
            continue
        value = sum(rewards[t, y] for t, y in enumerate(path))
        if value > best[0]:
            best = (value, list(path))
    return best


def test_kpis_on_hand_computed_table() -> None:
    rules = allowed_transitions(NAMES)
    best = best_path(REWARDS, rules)
    no_overload = best_path_no_overload(REWARDS, rules, FLAGS)
    # by hand: 1 + 3 + 3 + 1.5, and 2 + 1.5 + 3 + 1.5 avoiding sub-1-0 at t1; the sub-1-0 ->
    # sub-2-1 jump (2 + 3 + 3 + 2.5) is forbidden
    assert (best.reward, best.path) == (8.5, [0, 0, 0, 2]) == brute_force(REWARDS, None)
    assert (no_overload.reward, no_overload.path) == (8.0, [1, 2, 0, 2])
    assert brute_force(REWARDS, FLAGS) == (8.0, [1, 2, 0, 2])
    assert best_unconstrained(REWARDS) == 2.0 + 3.0 + 3.0 + 2.5

    table = compute_kpis(REWARDS, NAMES, best, no_overload, 1, 2)
    assert list(table.columns) == ["Indicator name", "Reward value"]
    assert table.values.tolist() == [
        [MSG_NOGAMERULE, 10.5],
        [MSG_GAMERULES, 8.5],
        [MSG_GAMERULES_NO_OL, 8.0],
        ["sub-1-0 then do nothing", 1.0 + 3.0 + 3.0 + 0.5],
        [MSG_DONOTHING, 0.5 + 1.5 + 1.5 + 1.5],
    ]
    # n_best_topos=None: every topology of the best path (Oracle4Grid 1.0.6's behaviour)
    every = compute_kpis(REWARDS, NAMES, best.path, no_overload.path, None, 2)
    assert every["Indicator name"].tolist()[-3:] == [
        "sub-1-0 then do nothing",
        MSG_DONOTHING,  # a tie keeps the insertion order
        "donothing-0 then do nothing",
    ]
    assert every["Reward value"].iloc[-1] == 5.0


def test_kpis_missing_paths_and_do_nothing() -> None:
    table = compute_kpis(REWARDS, NAMES, [0, 0, 0, 2], [], 2, 2)
    values = dict(table.values.tolist())
    assert np.isnan(values[MSG_GAMERULES_NO_OL])
    assert table["Indicator name"].iloc[-1] == MSG_GAMERULES_NO_OL  # NaN last
    assert values["donothing-0 then do nothing"] == 5.0
    without_donothing = compute_kpis(REWARDS[:, :2], NAMES[:2], [0, 0, 0, 0], [], 0, 2)
    values = dict(without_donothing.values.tolist())
    assert np.isnan(values[MSG_DONOTHING]) and values[MSG_GAMERULES] == 7.5
    assert not any(name.endswith("then do nothing") for name in values)


def test_shortest_kpis_sort_ascending() -> None:
    rules = allowed_transitions(NAMES)
    shortest = best_path(REWARDS, rules, kind="shortest")
    table = compute_kpis(REWARDS, NAMES, shortest, [], 1, 2, kind="shortest")
    values = table["Reward value"].tolist()
    assert values[:-1] == sorted(values[:-1])  # the last is the NaN no-overload path
    assert dict(table.values.tolist())[MSG_NOGAMERULE] == 0.5 + 1.0 + 1.0 + 0.5


def test_order_errors_name_both_kpis() -> None:
    # a path below do nothing (0.5 + 1 + 1 + 1.5 = 4 < 5)
    with pytest.raises(OracleOrderError) as info:
        compute_kpis(REWARDS, NAMES, [2, 1, 1, 2], [], 1, 2)
    message = str(info.value)
    assert f"'{MSG_DONOTHING}' = 5.0" in message and f"'{MSG_GAMERULES}' = 4.0" in message
    assert "\n" not in message and isinstance(info.value, GridOracleError)
    # best path above the unconstrained bound
    with pytest.raises(
        OracleOrderError, match=f"'{MSG_GAMERULES}' = 8.5 is above '{MSG_NOGAMERULE}'"
    ):
        compute_kpis(REWARDS, NAMES, [0, 0, 0, 2], [], 1, 2, unconstrained=8.0)
    # path without overload above the best path
    with pytest.raises(OracleOrderError, match=f"'{MSG_GAMERULES_NO_OL}' = 8.5 is above"):
        compute_kpis(REWARDS, NAMES, [1, 2, 0, 2], [0, 0, 0, 2], 1, 2)
    # every violation on the one line
    with pytest.raises(OracleOrderError) as info:
        check_kpi_order(9.0, 8.0, 8.5, 7.0)
    assert str(info.value).count(" is above ") == 3
    # no check when asked not to
    compute_kpis(REWARDS, NAMES, [2, 1, 1, 2], [], 1, 2, check_order=False)


def test_order_check_rounds_and_reverses_for_shortest() -> None:
    check_kpi_order(10.004, 10.0, 9.0, 11.0, significant_digits=2)
    with pytest.raises(OracleOrderError):
        check_kpi_order(10.01, 10.0, 9.0, 11.0, significant_digits=2)
    with pytest.raises(OracleOrderError):
        check_kpi_order(10.004, 10.0, 9.0, 11.0, significant_digits=None)
    check_kpi_order(12.0, 10.0, 11.0, 9.0, kind="shortest")
    with pytest.raises(OracleOrderError, match="is below"):
        check_kpi_order(9.0, 10.0, 11.0, 9.5, kind="shortest")
    check_kpi_order(float("nan"), float("nan"), float("nan"), 3.0)


def test_long_episode_sums_in_float64() -> None:
    # Oracle4Grid sums path KPIs in float32 under numpy 2 (at 2016 steps its own order check
    # raised): here a best path that takes the best action of every step equals the
    # unconstrained bound to the last bit
    rng = np.random.default_rng(0)
    rewards = rng.uniform(15.0, 20.0, size=(2016, 3)).astype(np.float32).astype(np.float64)
    rewards[:, 1] -= 10.0  # sub-2-1 is never the best: the best actions follow each other
    found = best_path(rewards, allowed_transitions(NAMES))
    assert found.path == rewards.argmax(axis=1).tolist()
    table = compute_kpis(rewards, NAMES, found, found, 3, 2)
    values = dict(table.values.tolist())
    assert values[MSG_GAMERULES] == values[MSG_NOGAMERULE] == best_unconstrained(rewards)
    assert values[MSG_GAMERULES] == pytest.approx(float(np.sum(rewards.max(axis=1))), abs=0)


def test_most_frequent() -> None:
    assert most_frequent([2, 0, 0, 2, 1, 1, 1], 2) == [1, 2]
    assert most_frequent([2, 0, 0, 2, 1, 1, 1], None) == [1, 2, 0]
    assert most_frequent([], 3) == []
    assert most_frequent([4, 4], 0) == []
    with pytest.raises(ValueError):
        most_frequent([1], -1)


def test_doctests() -> None:
    result = doctest.testmod(kpis_module)
    assert result.attempted > 0 and result.failed == 0
