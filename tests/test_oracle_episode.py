"""The reward table's reconnect-only episode read from the chronics, against the one grid2op plays.

On a copy of l2rpn_case14_sandbox whose chronic 0 has maintenance and hazards (the shipped case14
chronics have none), the states read from the chronics equal the observations of the played run in
everything (line statuses, cooldowns, topology, injections) but two things the engine's result
does not depend on or barely does:

- the slack generator's ``gen_p``: the observation has the power flow's value, the chronics the set
  point grid2op gives the backend (the slack's set point does not enter the power flow);
- ``gen_v``: the observation has the voltage after the power flow rounded to float32, which can be
  one float32 ulp off the chronic's set point (what grid2op gives the backend).

The table from the chronics equals today's (the played run's) bit for bit with the played run's
voltages, and within 5e-6 with the set points (observed 1.1e-6); against Oracle4Grid's Runner the
tolerance is the usual 1e-4 (observed 1.5e-6: the Runner keeps rewards in float32).
"""

from __future__ import annotations

import copy
import importlib.resources
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from gridoracle.engine.batched import BatchedEngine
from gridoracle.oracle.sim.env import make_oracle_env
from gridoracle.oracle.sim.episode import END_OF_CHRONIC, base_run, episode_states
from gridoracle.oracle.sim.rewards import _rewards_of, reference_reward_table, reward_table

STEPS = 40
#: (line, first row, last row + 1) of the maintenance and hazards written into chronic 0
MAINTENANCE = [(15, 0, 3), (3, 5, 10), (7, 12, 14), (3, 20, 23), (9, 30, 31)]
HAZARDS = [(10, 8, 11), (3, 34, 36)]


def _copy_with_outages(root: Path, maintenance, hazards) -> str:
    """l2rpn_case14_sandbox copied under ``root``, chronic 0 with maintenance and hazards."""
    src = Path(str(importlib.resources.files("grid2op") / "data" / "l2rpn_case14_sandbox"))
    dst = root / "case14_outages"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    chronic = dst / "chronics" / "0000"
    n_rows = len(pd.read_csv(chronic / "load_p.csv.bz2", sep=";"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_oracle_env(str(dst))
    names = [str(n) for n in type(env).name_line]
    env.close()
    for file, outages in (("maintenance.csv", maintenance), ("hazards.csv", hazards)):
        table = np.zeros((n_rows, len(names)), dtype=np.int64)
        for line, begin, end in outages:
            table[begin:end, line] = 1
        pd.DataFrame(table, columns=names).to_csv(chronic / file, sep=";", index=False)
    return str(dst)


@pytest.fixture(scope="module")
def outages(tmp_path_factory):
    folder = _copy_with_outages(tmp_path_factory.mktemp("env"), MAINTENANCE, HAZARDS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_oracle_env(folder, rules="simulation")
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
    # line 3 is also in maintenance: the action keeps it off after the maintenance
    acts.append(SimpleNamespace(name="line-3", grid2op={"set_line_status": [[3, -1]]}))
    acts.append(SimpleNamespace(name="line-0", grid2op={"set_line_status": [[0, -1]]}))
    return acts


def test_states_from_the_chronics_are_the_played_ones(outages):
    env, _ = outages
    read = episode_states(env, 0, STEPS, 0, source="chronics")
    played = episode_states(env, 0, STEPS, 0, source="grid2op")
    assert (read.source, played.source) == ("chronics", "grid2op")
    a, b = read.states, played.states
    assert a is not None and b is not None and len(a) == len(b) == STEPS
    assert (~b.line_status).sum() > 10 and (b.cooldown_line > 0).any()  # outages happen
    for name in (
        "steps",
        "topo_vect",
        "prev_topo",
        "line_status",
        "cooldown_line",
        "cooldown_sub",
        "load_p",
        "load_q",
    ):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    others = [g.id for g in env.backend._grid.get_generators() if not g.is_slack]
    np.testing.assert_array_equal(a.gen_p[:, others], b.gen_p[:, others])
    np.testing.assert_allclose(a.gen_v, b.gen_v, rtol=2.4e-7, atol=0)  # one float32 ulp


def test_the_table_from_the_chronics_is_todays_table(outages):
    env, engine = outages
    actions = _actions(env)
    read = reward_table(env, engine, actions, 0, STEPS, 0, source="chronics")
    played = reward_table(env, engine, actions, 0, STEPS, 0, source="grid2op")
    assert (read.source, played.source) == ("chronics", "grid2op")
    np.testing.assert_array_equal(read.played, played.played)
    np.testing.assert_array_equal(read.overload, played.overload)
    np.testing.assert_allclose(read.rewards, played.rewards, rtol=0, atol=5e-6)
    # with the played run's voltages (float32 after the power flow) the table is the same bits
    a = episode_states(env, 0, STEPS, 0, source="chronics").states
    b = episode_states(env, 0, STEPS, 0, source="grid2op").states
    same_voltages = copy.copy(a)
    same_voltages.gen_v = b.gen_v
    for x, y in zip(
        _rewards_of(engine, same_voltages, actions), _rewards_of(engine, b, actions), strict=True
    ):
        np.testing.assert_array_equal(x, y)


def test_the_table_from_the_chronics_matches_the_runner_with_outages(outages):
    env, engine = outages
    actions = [a for a in _actions(env) if a.name in ("donothing-0", "t3", "line-3")]
    fast = reward_table(env, engine, actions, 0, STEPS, 0)
    ref = reference_reward_table(env, actions, 0, STEPS, 0)
    assert fast.source == "chronics"
    np.testing.assert_array_equal(fast.played, ref.played)
    np.testing.assert_array_equal(fast.overload, ref.overload)
    np.testing.assert_allclose(fast.rewards, ref.rewards, rtol=0, atol=1e-4)


def test_a_game_over_of_the_reference_topology_is_played_with_grid2op(tmp_path):
    # line 18 is the only one to bus 7 (a synchronous condenser): its maintenance islands it
    folder = _copy_with_outages(tmp_path, [(18, 10, 13)], [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_oracle_env(folder)
    try:
        engine = BatchedEngine(env)
        found = episode_states(env, 0, 20, 0, engine=engine)
        observations, stopped = base_run(env, 0, 20, 0)
        # the table checks the reference topology on its do-nothing column
        table = reward_table(env, engine, _actions(env)[:3], 0, 20, 0)
    finally:
        env.close()
    assert found.source == "grid2op" and "reference topology fails" in found.why_grid2op
    assert found.stopped == stopped and stopped.startswith("game over")
    assert found.n_steps == len(observations) < 20
    assert table.source == "grid2op" and table.stopped == stopped
    assert table.n_steps == len(observations)


def test_an_opponent_needs_the_grid2op_run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_oracle_env("rte_case14_opponent")
    try:
        found = episode_states(env, 0, 3, 0)
        with pytest.raises(ValueError, match="opponent"):
            episode_states(env, 0, 3, 0, source="chronics")
    finally:
        env.close()
    assert found.source == "grid2op" and found.why_grid2op == "the environment has an opponent"
    assert found.n_steps == 3


def test_the_step_reaching_the_last_row_counts(env_case14):
    # the chronic has 576 rows: reset plays row 0, the 575th step reaches the last row and ends
    # the episode (done, no error); the Runner counts that step and its reward
    env = env_case14
    env.set_id(0)
    env.reset()
    rows = env.chronics_handler.real_data.data.n_
    observations, stopped = base_run(env, 0, rows + 10, 0)
    assert len(observations) == rows - 1 and stopped == END_OF_CHRONIC
    assert base_run(env, 0, rows - 1, 0)[1] == ""


@pytest.fixture(scope="module")
def rte14():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_oracle_env("rte_case14_realistic", rules="simulation")
    yield env, BatchedEngine(env)
    env.close()


def _rte_actions(env):
    space = env.action_space
    topo = space.get_all_unitary_topologies_set(space)
    return [
        SimpleNamespace(name="donothing-0", grid2op={}),
        SimpleNamespace(name="t20", grid2op=topo[20].as_serializable_dict()),
        SimpleNamespace(name="t60", grid2op=topo[60].as_serializable_dict()),
    ]


def test_the_whole_chronic_has_oracle4grids_8064_steps(rte14):
    """Issue 16: Oracle4Grid's table on rte_case14_realistic chronic 0 at max_iter 8064 has 8064
    steps and its do-nothing KPI reads 124,076.90 (gridoracle had 8063 steps, 124,061.83)."""
    env, engine = rte14
    actions = _rte_actions(env)
    table = reward_table(env, engine, actions, 0, 8064, 0)
    assert table.source == "chronics" and table.stopped == ""
    assert table.n_steps == 8064 and table.played.tolist() == [8064] * 3
    assert round(float(table.rewards[:, 0].sum()), 2) == 124076.90
    longer = reward_table(env, engine, actions[:1], 0, 9000, 0)
    assert longer.n_steps == 8064 and longer.stopped == END_OF_CHRONIC


@pytest.mark.slow
def test_the_whole_chronic_matches_the_runner(rte14):
    env, engine = rte14
    actions = _rte_actions(env)
    fast = reward_table(env, engine, actions, 0, 8064, 0)
    ref = reference_reward_table(env, actions, 0, 8064, 0)
    played = reward_table(env, engine, actions, 0, 8064, 0, source="grid2op")
    np.testing.assert_array_equal(fast.played, ref.played)
    np.testing.assert_array_equal(fast.overload, ref.overload)
    np.testing.assert_allclose(fast.rewards, ref.rewards, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(played.played, fast.played)
    np.testing.assert_allclose(played.rewards, fast.rewards, rtol=0, atol=5e-6)


@pytest.mark.slow
def test_random_maintenance_of_the_shipped_l2rpn_wcci_2020():
    """l2rpn_wcci_2020 draws its maintenance at reset from the seed (on the rows the episode
    reads, as the Runner resets it): chronic 0 has lines in maintenance within 1500 steps."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_oracle_env("l2rpn_wcci_2020", rules="simulation")
    try:
        engine = BatchedEngine(env)
        read = episode_states(env, 0, 1500, 0, source="chronics").states
        played = episode_states(env, 0, 1500, 0, source="grid2op").states
        assert read is not None and played is not None and (~played.line_status).any()
        for name in ("line_status", "cooldown_line", "topo_vect", "load_p", "load_q"):
            np.testing.assert_array_equal(getattr(read, name), getattr(played, name))
        actions = [
            SimpleNamespace(name="donothing-0", grid2op={}),
            SimpleNamespace(name="line-3", grid2op={"set_line_status": [[3, -1]]}),
        ]
        fast = reward_table(env, engine, actions, 0, 1500, 0)
        ref = reference_reward_table(env, actions, 0, 1500, 0)
    finally:
        env.close()
    assert fast.source == "chronics"
    np.testing.assert_array_equal(fast.played, ref.played)
    np.testing.assert_array_equal(fast.overload, ref.overload)
    np.testing.assert_allclose(fast.rewards, ref.rewards, rtol=0, atol=1e-4)
