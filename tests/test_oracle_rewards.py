"""The reward table (batched engine) against Oracle4Grid's way: one grid2op Runner per action.

Tolerance: per-step reward within 1e-4 (observed below 2e-6: the Runner sums in float32),
identical overload flags and run lengths.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from gridoracle.engine.batched import BatchedEngine
from gridoracle.oracle.core.margins import margin_reward, overload_flag
from gridoracle.oracle.sim.env import make_oracle_env
from gridoracle.oracle.sim.rewards import (
    RewardTable,
    _finish_runs,
    reference_reward_table,
    reward_table,
)
from gridoracle.parallel import Backend


@pytest.fixture(scope="module")
def sim_env():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_oracle_env("rte_case14_realistic", rules="simulation")
    engine = BatchedEngine(env)
    yield env, engine
    env.close()


def _actions(env):
    space = env.action_space
    topo = space.get_all_unitary_topologies_set(space)
    acts = [SimpleNamespace(name="donothing-0", grid2op={})]
    acts += [
        SimpleNamespace(name=f"t{k}", grid2op=topo[k].as_serializable_dict()) for k in (3, 20, 60)
    ]
    acts.append(SimpleNamespace(name="line-0", grid2op={"set_line_status": [[0, -1]]}))
    acts.append(SimpleNamespace(name="combo", grid2op=(topo[20] + topo[60]).as_serializable_dict()))
    return acts


def test_reward_table_matches_the_runner(sim_env):
    env, engine = sim_env
    actions = _actions(env)
    fast = reward_table(env, engine, actions, chronic=0, max_iter=6, seed=0)
    ref = reference_reward_table(env, actions, chronic=0, max_iter=6, seed=0)
    np.testing.assert_array_equal(fast.played, ref.played)
    np.testing.assert_allclose(fast.rewards, ref.rewards, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(fast.overload, ref.overload)
    assert (fast.overload == 0).any() or (fast.overload == 1).all()
    frame = fast.to_frame()
    assert list(frame.columns) == ["name", "timestep", "reward", "overload_reward", "node_name"]
    assert len(frame) == int(fast.played.sum()) and frame["node_name"].iloc[1] == "donothing-0_t1"


def test_margin_reward_by_hand():
    amps = np.array([[0.0, 50.0, 300.0]])
    limit = np.array([100.0, 100.0, 100.0])
    expected = 1.0 + (1 - (50 / 100.1) ** 2) + 0.0
    np.testing.assert_allclose(margin_reward(amps, limit), [expected])
    assert overload_flag(amps, limit).tolist() == [0]
    assert overload_flag(amps[:, :2], limit[:2]).tolist() == [1]


def test_a_failed_step_ends_the_run():
    ok = np.ones((5, 2), dtype=bool)
    ok[2, 1] = False
    ok[4, 1] = False
    rewards, overload, played = _finish_runs(ok, np.full((5, 2), 3.0), np.ones((5, 2)))
    table = RewardTable(["a", "b"], rewards, overload, played)
    assert played.tolist() == [5, 3]
    assert rewards[2, 1] == 0.0 and overload[2, 1] == -1.0 and np.isnan(rewards[3:, 1]).all()
    assert table.complete.tolist() == [True, False]


def test_workers_give_the_same_table(sim_env):
    env, engine = sim_env
    actions = _actions(env)
    serial = reward_table(env, engine, actions, chronic=0, max_iter=6, seed=0, chunk=2)
    forked = reward_table(
        env, engine, actions, chronic=0, max_iter=6, seed=0, chunk=2, **_processes(2)
    )
    np.testing.assert_array_equal(serial.rewards, forked.rewards)
    np.testing.assert_array_equal(serial.overload, forked.overload)
    np.testing.assert_array_equal(serial.played, forked.played)


def _processes(workers: int, start_method: str | None = None) -> dict:
    backend = Backend("processes", workers=workers, start_method=start_method)
    return {"backend": backend, "env_name": "rte_case14_realistic"}


def test_spawned_workers_give_the_same_table(sim_env):
    # spawned workers inherit nothing: each unit must carry what rebuilds the environment
    env, engine = sim_env
    actions = _actions(env)
    serial = reward_table(env, engine, actions, chronic=0, max_iter=6, seed=0, chunk=2)
    spawned = reward_table(
        env, engine, actions, chronic=0, max_iter=6, seed=0, chunk=2, **_processes(2, "spawn")
    )
    np.testing.assert_array_equal(serial.rewards, spawned.rewards)
    np.testing.assert_array_equal(serial.overload, spawned.overload)
    np.testing.assert_array_equal(serial.played, spawned.played)


def test_the_long_format_has_one_row_per_step_played():
    rewards = np.arange(12, dtype=np.float64).reshape(4, 3)
    rewards[2:, 1] = np.nan
    table = RewardTable(["a", "b", "c"], rewards, rewards / 10, np.array([4, 2, 4]))
    expected = [
        (name, t, rewards[t, j], rewards[t, j] / 10, f"{name}_t{t}")
        for j, name in enumerate(table.names)
        for t in range(int(table.played[j]))
    ]
    frame = table.to_frame()
    assert list(frame.itertuples(index=False, name=None)) == expected
    assert (
        frame["timestep"].dtype == np.int64
        and len(RewardTable([], rewards[:, :0], rewards[:, :0], np.zeros(0, np.int64)).to_frame())
        == 0
    )
