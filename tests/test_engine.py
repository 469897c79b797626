"""The batched engine against grid2op's obs.simulate (the reference), pair by pair.

Tolerance: max rho within 1e-4 (observed: below 1e-6) and identical status (ok / game over /
illegal) on every pair, at horizons 0 and 1, on case14 and on the 36-substation neurips grid.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from gridoracle.engine.base import STATUS_GAME_OVER, STATUS_ILLEGAL, STATUS_OK
from gridoracle.engine.batched import BatchedEngine
from gridoracle.engine.reference import ReferenceEngine
from gridoracle.engine.states import states_from_observations
from gridoracle.grid import make_env

TOL = 1e-4


def _episode(env, chronic: int, n: int, actions=()):
    """Observations of an episode: the given actions first, then do nothing."""
    obs = env.reset(seed=0, options={"time serie id": chronic})
    observations = [obs]
    plan = list(actions)
    while len(observations) < n:
        act = plan.pop(0) if plan else env.action_space()
        obs, _, done, _ = env.step(act)
        if done:
            break
        observations.append(obs)
    return observations


def _actions(env, n_topo: int, seed: int, lines=()):
    topo = env.action_space.get_all_unitary_topologies_set(env.action_space)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(topo), size=min(n_topo, len(topo)), replace=False)
    acts = [SimpleNamespace(name="donothing", grid2op={})]
    acts += [
        SimpleNamespace(name=f"topo-{k}", grid2op=topo[k].as_serializable_dict())
        for k in sorted(chosen)
    ]
    for line in lines:
        acts.append(
            SimpleNamespace(name=f"line-{line}-off", grid2op={"set_line_status": [[line, -1]]})
        )
        acts.append(
            SimpleNamespace(name=f"line-{line}-on", grid2op={"set_line_status": [[line, 1]]})
        )
    return acts


def _compare(env, observations, actions, horizon):
    if horizon == 1:
        observations = observations[:-1]
    states = states_from_observations(observations, range(len(observations)), horizon)
    ref = ReferenceEngine(env).evaluate(states, actions, full=True)
    fast = BatchedEngine(env).evaluate(states, actions, full=True)
    mismatch = np.argwhere(ref.status != fast.status)
    assert mismatch.size == 0, [
        (int(i), actions[j].name, int(ref.status[i, j]), int(fast.status[i, j]))
        for i, j in mismatch[:5]
    ]
    ok = ref.status == STATUS_OK
    assert np.isnan(fast.max_rho[~ok]).all()
    np.testing.assert_allclose(fast.max_rho[ok], ref.max_rho[ok], rtol=0, atol=TOL)
    np.testing.assert_allclose(fast.rho[ok], ref.rho[ok], rtol=0, atol=TOL)
    return ref, fast


@pytest.fixture(scope="module")
def case14():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_env("l2rpn_case14_sandbox")
    yield env
    env.close()


@pytest.fixture(scope="module")
def neurips():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_env("l2rpn_neurips_2020_track1")
    yield env
    env.close()


@pytest.mark.parametrize("horizon", [0, 1])
def test_case14_agrees_with_simulate(case14, horizon):
    observations = _episode(case14, chronic=0, n=8)
    actions = _actions(case14, n_topo=30, seed=horizon, lines=(0, 5, 13))
    ref, fast = _compare(case14, observations, actions, horizon)
    # the sample covers the hard cases: bus splits that island or diverge, and protections
    assert (ref.status == STATUS_GAME_OVER).any()
    assert fast.n_cascade > 0


@pytest.mark.parametrize("horizon", [0, 1])
def test_neurips_agrees_with_simulate(neurips, horizon):
    observations = _episode(neurips, chronic=0, n=4)
    actions = _actions(neurips, n_topo=25, seed=10 + horizon, lines=(2, 46))
    ref, _fast = _compare(neurips, observations, actions, horizon)
    assert (ref.status == STATUS_GAME_OVER).any()  # disconnecting some lines islands a load


@pytest.fixture(scope="module")
def case14_cooldowns():
    from grid2op.Parameters import Parameters

    param = Parameters()
    param.NB_TIMESTEP_COOLDOWN_LINE = 3
    param.NB_TIMESTEP_COOLDOWN_SUB = 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_env("l2rpn_case14_sandbox", param=param)
    yield env
    env.close()


def test_cooldowns_reconnections_and_illegal_actions(case14_cooldowns):
    """After a line is cut and a substation changed, cooldowns make actions illegal, then legal;
    reconnecting a line puts it back on its last buses; two substations at once is illegal."""
    case14 = case14_cooldowns
    space = case14.action_space
    split = space.get_all_unitary_topologies_set(space, sub_id=1)[1]
    first = [space({"set_line_status": [[13, -1]]}), split]
    observations = _episode(case14, chronic=1, n=8, actions=first)
    assert not observations[1].line_status[13]
    assert observations[1].time_before_cooldown_line[13] > 0
    actions = _actions(case14, n_topo=15, seed=3, lines=(13,))
    actions.append(SimpleNamespace(name="sub1", grid2op=split.as_serializable_dict()))
    two_subs = split + space.get_all_unitary_topologies_set(space, sub_id=8)[2]
    actions.append(SimpleNamespace(name="two-subs", grid2op=two_subs.as_serializable_dict()))
    for horizon in (0, 1):
        ref, _ = _compare(case14, observations, actions, horizon)
        names = [a.name for a in actions]
        assert (ref.status[:, names.index("two-subs")] == STATUS_ILLEGAL).all()
        reconnect = ref.status[:, names.index("line-13-on")]
        assert reconnect[1] == STATUS_ILLEGAL and (reconnect == STATUS_OK).any()


def test_divergence_mid_episode_keeps_later_steps(case14):
    """The time-series solver stops at a diverged step; the steps after it are still solved."""
    observations = _episode(case14, chronic=0, n=12)
    states = states_from_observations(observations, range(len(observations)), 0)
    broken = states.select(np.arange(len(states)))
    broken.load_p = broken.load_p.copy()
    broken.load_p[4] *= 40.0  # no power flow solution for this step
    actions = _actions(case14, n_topo=3, seed=5)
    engine = BatchedEngine(case14)
    clean = engine.evaluate(states, actions)
    result = engine.evaluate(broken, actions)
    assert (result.status[4] == STATUS_GAME_OVER).all()
    others = np.arange(len(states)) != 4
    np.testing.assert_array_equal(result.status[others], clean.status[others])
    np.testing.assert_allclose(result.max_rho[others], clean.max_rho[others], atol=1e-9)


def test_states_pickle_without_observations(case14):
    import pickle

    observations = _episode(case14, chronic=0, n=3)
    states = states_from_observations(observations, range(3), 0)
    restored = pickle.loads(pickle.dumps(states))
    assert restored.observations is None
    np.testing.assert_array_equal(restored.gen_p, states.gen_p)
