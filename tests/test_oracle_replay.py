"""Replay under real rules: a feasible path gets the reward the table promised; an infeasible
one (two substations at once) is reported."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from gridoracle.engine.batched import BatchedEngine
from gridoracle.oracle.sim.env import make_oracle_env
from gridoracle.oracle.sim.replay import replay
from gridoracle.oracle.sim.rewards import reward_table


@pytest.fixture(scope="module")
def setup():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = make_oracle_env("rte_case14_realistic", rules="simulation")
        engine = BatchedEngine(sim)
        real = make_oracle_env("rte_case14_realistic", rules="replay")
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
    with caplog.at_level("INFO"):
        result = replay(real, [actions[2].grid2op] * 8, expected, 0, rel_tolerance=1e-4)
    assert result.warnings and "expected reward" in result.warnings[0]
    # returned to the caller (the CLI prints them once as "warning:" lines), logged only at INFO
    assert "expected reward" in caplog.text
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_a_line_disconnected_again_is_not_a_second_line_change(tmp_path):
    """sub-3-1_line-4-5 then sub-3-1_line-4-5_line-17-6 is one line change for the Oracle; the
    replay must play it as one for grid2op's rules too (line 4 is already off)."""
    from gridoracle.actions.combine import combinations
    from gridoracle.actions.parse import load_unitary_actions
    from gridoracle.oracle.sim.env import use_replay_parameters

    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_oracle_env("l2rpn_case14_sandbox")
    engine = BatchedEngine(env)
    unitary, _ = load_unitary_actions(
        root / "examples/actions/l2rpn_case14_sandbox/reference.json", env
    )
    combos = {c.name: c for c in combinations(unitary, 3)}
    names = ["sub-3-1_line-4-5", "sub-3-1_line-4-5_line-17-6"]
    actions = [SimpleNamespace(name=n, grid2op=combos[n].grid2op_dict()) for n in names]
    table = reward_table(env, engine, actions, chronic=0, max_iter=8, seed=0)
    path = [0] * 4 + [1] * 4
    expected = float(sum(table.rewards[t, j] for t, j in enumerate(path)))
    use_replay_parameters(env)
    result = replay(env, [actions[j].grid2op for j in path], expected, 0, rel_tolerance=1e-6)
    env.close()
    assert result.steps_survived == 8 and not result.warnings


def test_the_replay_logs_are_grid2ops_episode_format(setup, tmp_path):
    """Issue 16 §3: replay_logs/<path>/grid2op is what grid2op's Runner writes with path_save for
    the same agent: EpisodeData.from_disk reads it, with the actions and rewards of steps.csv,
    and its files and arrays are the Runner's (rewards within float32; the Runner's env is another
    instance of the same environment)."""
    import json

    import pandas as pd
    from grid2op.Episode import EpisodeData
    from grid2op.Runner import Runner

    from gridoracle.oracle.sim.replay import EPISODE_FOLDER, OracleReplayAgent

    real, actions, table = setup
    path = [actions[1].grid2op] * 5 + [actions[0].grid2op] * 3
    expected = float(sum(table.rewards[t, j] for t, j in enumerate([1] * 5 + [0] * 3)))
    logs = tmp_path / "best_path"
    replay(real, path, expected, 0, rel_tolerance=1e-4, logs=logs)
    replay(real, path, expected, 0, rel_tolerance=1e-4, logs=logs)  # replaces the first
    assert sorted(p.name for p in logs.iterdir()) == [EPISODE_FOLDER, "steps.csv"]
    name = real.chronics_handler.get_name()
    episode = EpisodeData.from_disk(logs / EPISODE_FOLDER, name)
    steps = pd.read_csv(logs / "steps.csv")
    assert len(episode.actions) == len(episode.rewards) == len(steps) == 8
    assert len(episode.observations) == 9
    for t in range(8):
        played = episode.actions[t].as_serializable_dict()
        assert json.loads(json.dumps(played, sort_keys=True)) == json.loads(steps["played"][t])
    np.testing.assert_allclose(episode.rewards, steps["reward"], rtol=1e-6)
    # the Runner with the same agent and path_save
    obs = real.reset(seed=0, options={"time serie id": 0})
    agent = OracleReplayAgent(real.action_space, path, obs.topo_vect, obs.line_status)
    runner = Runner(**real.get_params_for_runner(), agentClass=None, agentInstance=agent)
    runner.run(nb_episode=1, max_iter=8, episode_id=[0], env_seeds=[0], path_save=tmp_path / "r")
    ours = sorted(p.relative_to(logs / EPISODE_FOLDER) for p in (logs / EPISODE_FOLDER).rglob("*"))
    assert ours == sorted(p.relative_to(tmp_path / "r") for p in (tmp_path / "r").rglob("*"))
    theirs = EpisodeData.from_disk(tmp_path / "r", name)
    np.testing.assert_allclose(episode.rewards, theirs.rewards, rtol=1e-6)
    for t in range(8):
        assert episode.actions[t] == theirs.actions[t]
    np.testing.assert_allclose(
        episode.observations[8].rho, theirs.observations[8].rho, rtol=1e-5, atol=1e-6
    )
    meta = json.loads((logs / EPISODE_FOLDER / name / "episode_meta.json").read_text())
    assert meta["nb_timestep_played"] == 8 and meta["env_seed"] == 0


def test_the_agent_on_arrays_plays_what_grid2ops_action_sums_play(tmp_path):
    """OracleReplayAgent.act sums the path's set-only actions on arrays; act_generic with
    grid2op's action sums is the reference: the same action at every step of a replay that
    changes topology, disconnects lines (one under maintenance), reconnects and falls back."""
    from gridoracle.oracle.sim.env import use_replay_parameters
    from gridoracle.oracle.sim.episode import reset_episode
    from gridoracle.oracle.sim.replay import OracleReplayAgent

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_oracle_env("l2rpn_case14_sandbox")
    try:
        space = env.action_space
        topo = space.get_all_unitary_topologies_set(space)
        pieces = [
            {},
            topo[20].as_serializable_dict(),
            (topo[20] + topo[60]).as_serializable_dict(),
            {"set_line_status": [[3, -1]]},
            (topo[60] + space({"set_line_status": [[7, -1]]})).as_serializable_dict(),
            topo[3].as_serializable_dict(),
        ]
        rng = np.random.default_rng(0)
        path = [pieces[int(i)] for i in rng.integers(0, len(pieces), 40)]
        use_replay_parameters(env)
        obs = reset_episode(env, 0, 0, len(path))
        fast = OracleReplayAgent(space, path, obs.topo_vect, obs.line_status)
        generic = OracleReplayAgent(space, path, obs.topo_vect, obs.line_status)
        fast.reset(obs)
        generic.reset(obs)
        fallbacks = 0
        for _ in path:
            a, b = fast.act(obs, 0.0), generic.act_generic(obs, 0.0)
            assert a == b
            obs, _, done, _ = env.step(a)
            fallbacks = fast.fallbacks
            if done:
                break
        assert fast.fallbacks == generic.fallbacks and fallbacks > 0
    finally:
        env.close()
