"""Replay under real rules: a feasible path gets the reward the table promised; an infeasible
one (two substations at once) is reported."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from gridoracle.engine.batched import BatchedEngine
from gridoracle.oracle.replay import make_replay_env, replay
from gridoracle.oracle.rewards import make_simulation_env, reward_table


@pytest.fixture(scope="module")
def setup():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = make_simulation_env("rte_case14_realistic")
        engine = BatchedEngine(sim)
        real = make_replay_env("rte_case14_realistic")
    space = sim.action_space
    topo = space.get_all_unitary_topologies_set(space)
    actions = [
        SimpleNamespace(name="donothing-0", grid2op={}),
        SimpleNamespace(name="one-sub", grid2op=topo[20].as_serializable_dict()),
        SimpleNamespace(name="two-subs", grid2op=(topo[20] + topo[60]).as_serializable_dict()),
    ]
    table = reward_table(sim, engine, actions, chronic=0, max_iter=8, seed=0)
    yield real, actions, table
    sim.close()
    real.close()


def test_feasible_paths_get_the_expected_reward(setup, tmp_path):
    real, actions, table = setup
    for j in (0, 1):
        expected = float(np.sum(table.rewards[:, j]))
        result = replay(
            real,
            [actions[j].grid2op] * 8,
            expected,
            0,
            rel_tolerance=1e-4,
            logs=tmp_path / actions[j].name,
        )
        assert result.steps_survived == 8 and not result.warnings
        assert result.reward == pytest.approx(expected, rel=1e-5)
        assert any((tmp_path / actions[j].name).rglob("*"))  # the Runner's logs


def test_two_substations_at_once_is_reported(setup, caplog):
    real, actions, table = setup
    expected = float(np.sum(table.rewards[:, 2]))
    with caplog.at_level("WARNING"):
        result = replay(real, [actions[2].grid2op] * 8, expected, 0, rel_tolerance=1e-4)
    assert result.warnings and "expected reward" in result.warnings[0]
    assert "expected reward" in caplog.text
