"""Combinations whose topology islands the grid at a later step (a line in maintenance): their
run ends there, so ``--combine superposition`` drops them unsimulated; checked against the
exact reward table on l2rpn_neurips_2020_track1, whose chronic 0 takes line 13 out at step 108."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gridoracle.actions.combine import combinations, filter_at_t0
from gridoracle.actions.parse import convert
from gridoracle.engine.batched import BatchedEngine
from gridoracle.oracle.core.best_path import best_paths
from gridoracle.oracle.core.transitions import allowed_transitions
from gridoracle.oracle.sim import superposition as sup
from gridoracle.oracle.sim.rewards import drop_incomplete, reward_table

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = ROOT / "examples/actions/l2rpn_neurips_2020_track1/reference.json"
STEPS = 116  # line 13 is in maintenance from row 108 of chronic 0
MAINTENANCE_LINE = 13


def _env_without_opponent() -> Any:
    from gridoracle.grid import make_env
    from gridoracle.oracle.sim.agents import OracleL2RPNReward, OracleOverloadReward
    from gridoracle.oracle.sim.env import has_opponent, simulation_parameters

    env = make_env(
        "l2rpn_neurips_2020_track1",
        param=simulation_parameters(),
        reward_class=OracleL2RPNReward,
        other_rewards={"overload_reward": OracleOverloadReward},
        opponent_init_budget=0.0,
        opponent_budget_per_ts=0.0,
    )
    assert not has_opponent(env)
    return env


@pytest.fixture(scope="module")
def case() -> Iterator[tuple[Any, BatchedEngine, list[Any]]]:
    env = _env_without_opponent()
    data = json.loads(ACTIONS.read_text())
    # substation 12: load 13 alone with line 13 on bus 2, so it is cut off when line 13 is out
    data["sub"]["12"] = [{"lines_id_bus": [[13, 2], [14, 1], [20, 1]], "loads_id_bus": [[13, 2]]}]
    unitary, _ = convert(data, env)
    yield env, BatchedEngine(env), unitary
    env.close()


def test_islanding_combinations_end_as_the_exact_runs_do(
    case: tuple[Any, BatchedEngine, list[Any]],
) -> None:
    """Every combination dropped as ending at timestep d without a simulation ends there in
    the exact reward table too (played d + 1, reward 0, flag -1); the best paths are those of
    the exact table."""
    env, engine, unitary = case
    combos = combinations(unitary, 2)
    islanding = next(u.name for u in unitary if u.name.startswith("sub-12-"))
    found = sup.superposed_reward_table(env, engine, combos, 0, STEPS, 0, margin=1e9)
    holding = {c.name for c in combos if c.depth == 2 and islanding in c.name.split("_")}
    ended = found.ended
    assert found.stats["n_ended_islanded_unsimulated"] == len(ended) >= len(holding) - 2 > 10
    assert set(ended) <= holding  # (conflicts on substation 12 are simulated)
    assert found.stats["n_flagged"] < len(holding)  # they used to be flagged and simulated
    # the table holds complete runs only; reward_df's table the exact ones; the warning all
    assert (found.table.played == STEPS).all()
    assert not set(ended) & set(found.table.names) and not set(ended) & set(found.written.names)
    assert islanding in found.written.names and islanding not in found.table.names
    assert all(
        f"{name} ({end + 1} of {STEPS} steps)" in found.dropped[0] for name, end in ended.items()
    )
    # every combination superposed is a candidate here (margin): all the others are filtered
    # at t0, so the drops at t0 are exactly the filter's, those made unsimulated (their
    # topology islands the grid at t0: singular in DC, not always in AC) included
    deep = [c for c in combos if c.depth == 2]
    really = dict(filter_at_t0(deep, env, 0, 0)[1])
    ours = {name for name, _ in found.filtered if "_" in name}
    assert ours == set(really) and not set(ended) & set(really)
    assert found.stats["n_islanded_unsimulated"] >= found.stats["n_singular_in_dc"] > 0
    truth = reward_table(env, engine, combos, 0, STEPS, 0)
    col = {n: j for j, n in enumerate(truth.names)}
    for name, end in ended.items():
        j = col[name]
        assert truth.played[j] == end + 1 < STEPS, name
        assert truth.rewards[end, j] == 0.0 and truth.overload[end, j] == -1.0
        assert end >= 100  # the maintenance, not t0
    written = found.written
    for k, name in enumerate(written.names):  # reward_df's columns are the exact runs
        j = col[name]
        assert written.played[k] == truth.played[j]
        np.testing.assert_array_equal(written.rewards[:, k], truth.rewards[:, j])
    keep, _ = drop_incomplete(truth.played, truth.names)
    sub = truth.select(keep)
    rules = allowed_transitions(sub.names, max_sub=1, max_line=1)
    best, best_no = best_paths(sub.rewards, rules, sub.overload_flags())
    assert found.paths is not None
    for exact_path, path in zip((best, best_no), found.paths, strict=True):
        assert [sub.names[i] for i in exact_path.path] == [found.table.names[i] for i in path.path]
        assert exact_path.value == path.value
