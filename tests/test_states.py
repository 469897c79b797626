"""States that agents meet (generate --states / --topologies / --outages) against grid2op.

Every row built without an observation (chronic states, topology variants, N-1 states) is
checked against an observation reached in grid2op in the same state: ``env.reset`` at the step
before (``init ts``), then one ``env.step`` playing the row's base actions (or its line
disconnection) with the rules relaxed (two substations, two lines a step). Tolerances: the
features within 1e-4 (observations are float32), every status equal and max rho within 1e-4 of
``obs.simulate(a, time_step=h)`` at horizons 0 and 1.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dataset_helpers import dataset_files, generate
from gridoracle.actions.enumerate import enumerate_actions, sample_actions
from gridoracle.dataset import load
from gridoracle.dataset.features import features_from_observations
from gridoracle.dataset.sources import (
    VARIANT_POOL,
    _variant_pool,
    build_states,
    check_source,
    do_nothing_episode,
)
from gridoracle.dataset.units import GenerateConfig
from gridoracle.engine.base import STATUS_OK
from gridoracle.engine.batched import BatchedEngine
from gridoracle.engine.reference import ReferenceEngine
from gridoracle.engine.states import states_from_observations
from gridoracle.errors import GridOracleError
from gridoracle.grid import make_env

ENV = "l2rpn_case14_sandbox"
TOL = 1e-4
FEATURES = ("gen_p", "gen_q", "gen_v", "load_p", "load_q", "rho", "line_status", "topo")


def _make(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_env(ENV, **kw)


@pytest.fixture(scope="module")
def env():
    e = _make()
    yield e
    e.close()


@pytest.fixture(scope="module")
def relaxed():
    """The same grid with rules that let one step play two substations and two lines."""
    from grid2op.Parameters import Parameters

    param = Parameters()
    param.MAX_SUB_CHANGED = 2
    param.MAX_LINE_STATUS_CHANGED = 2
    e = _make(param=param)
    yield e
    e.close()


@pytest.fixture(scope="module")
def catalogue(env):
    return sample_actions(enumerate_actions(env, "topology"), 25, seed=4)


def _observation(relaxed, catalogue, chronic, step, base_actions, line_out):
    """An observation of ``relaxed`` in the state of a row, or None if grid2op cascaded there."""
    space = relaxed.action_space
    obs = relaxed.reset(seed=0, options={"time serie id": chronic, "init ts": step - 1})
    act = space()
    by_name = {a.name: a for a in catalogue}
    for name in filter(None, base_actions.split("+")):
        act = act + space(dict(by_name[name].grid2op))
    if line_out >= 0:
        act = act + space({"set_line_status": [(line_out, -1)]})
    obs, _r, done, info = relaxed.step(act)
    assert not info["is_illegal"] and not done
    return obs


def _check_rows(env, relaxed, catalogue, states, rows, chronic, horizon):
    engine = BatchedEngine(env)
    observations = []
    kept = []
    for r in rows:
        meta = states.meta.iloc[r]
        obs = _observation(
            relaxed,
            catalogue,
            chronic,
            int(states.batch.steps[r]),
            meta.base_actions,
            int(meta.line_out),
        )
        if not np.array_equal(obs.topo_vect, states.frame.filter(like="topo_").iloc[r]):
            continue  # grid2op's protections cut a line in that step: another state
        observations.append(obs)
        kept.append(r)
    assert len(kept) >= len(rows) // 2
    for prefix in FEATURES:
        attr = "topo_vect" if prefix == "topo" else prefix
        got = states.frame.filter(regex=f"^{prefix}_\\d+$").iloc[kept].to_numpy(float)
        want = np.array([getattr(o, attr) for o in observations], dtype=float)
        np.testing.assert_allclose(got, want, atol=TOL, err_msg=prefix)
    if horizon == 1:
        got = states.frame.filter(regex=r"^fc_load_p_\d+$").iloc[kept].to_numpy(float)
        want = np.array([o.get_forecasted_inj(1)[2] for o in observations])
        np.testing.assert_allclose(got, want, atol=TOL)
    ref_states = states_from_observations(observations, states.batch.steps[kept], horizon)
    ref = ReferenceEngine(relaxed).evaluate(ref_states, catalogue)
    fast = engine.evaluate(states.batch.select(kept), catalogue)
    np.testing.assert_array_equal(fast.status, ref.status)
    ok = ref.status == STATUS_OK
    np.testing.assert_allclose(fast.max_rho[ok], ref.max_rho[ok], atol=TOL)
    return ref


@pytest.mark.parametrize("horizon", [0, 1])
def test_chronic_states_variants_and_outages_agree_with_grid2op(env, relaxed, catalogue, horizon):
    engine = BatchedEngine(env)
    states = build_states(
        env,
        engine,
        source="chronic",
        chronic=1,
        max_steps=30,
        seed=0,
        horizon=horizon,
        actions=catalogue,
        topologies=2,
        outages=1,
    )
    source = states.meta.state_source.to_numpy()
    assert (source == "chronic").sum() == 30
    assert (source == "chronic+outage").sum() > 20
    assert (source == "chronic+topology").sum() > 40
    variants = np.flatnonzero(source == "chronic+topology")
    assert any("+" in states.meta.base_actions[i] for i in variants)  # some use two actions
    assert (states.meta.line_out[source == "chronic+outage"] >= 0).all()
    topo = states.frame.filter(like="topo_").to_numpy()
    assert (topo[variants] == 2).any(axis=1).all()  # other topologies than the reference
    picks = [2, 11, 25]
    rows = [
        int(np.flatnonzero((source == s) & (states.batch.steps == p))[0])
        for s in ("chronic", "chronic+topology", "chronic+outage")
        for p in picks
    ]
    ref = _check_rows(env, relaxed, catalogue, states, rows, 1, horizon)
    assert (ref.status != STATUS_OK).any() and (ref.status == STATUS_OK).any()


def test_trajectories_change_the_topology_and_agree_with_simulate(env, catalogue):
    engine = BatchedEngine(env)
    for source, steps in (("random-topology", 60), ("greedy", 8)):
        states = build_states(
            env,
            engine,
            source=source,
            chronic=0,
            max_steps=steps,
            seed=3,
            horizon=0,
            actions=catalogue,
        )
        topo = states.frame.filter(like="topo_").to_numpy()
        assert (topo == 2).any(), source  # the policy left the reference topology
        assert states.batch.observations is not None
        rows = np.flatnonzero((topo == 2).any(axis=1))[:3]
        batch = states.batch.select(rows)
        ref = ReferenceEngine(env).evaluate(batch, catalogue)
        fast = engine.evaluate(batch, catalogue)
        np.testing.assert_array_equal(fast.status, ref.status)
        ok = ref.status == STATUS_OK
        np.testing.assert_allclose(fast.max_rho[ok], ref.max_rho[ok], atol=TOL)
    again = build_states(
        env,
        engine,
        source="random-topology",
        chronic=0,
        max_steps=60,
        seed=3,
        horizon=0,
        actions=catalogue,
    )
    first = build_states(
        env,
        engine,
        source="random-topology",
        chronic=0,
        max_steps=60,
        seed=3,
        horizon=0,
        actions=catalogue,
    )
    assert again.frame.equals(first.frame)  # seeded: the same trajectory


def test_chronic_rows_are_the_do_nothing_observations(env):
    """Without a cascade, the chronic state of a step is the do-nothing episode's observation."""
    engine = BatchedEngine(env)
    chronic = build_states(
        env, engine, source="chronic", chronic=0, max_steps=15, seed=0, horizon=0
    )
    episode = build_states(
        env, engine, source="episode", chronic=0, max_steps=15, seed=0, horizon=0
    )
    np.testing.assert_allclose(
        chronic.frame.to_numpy(float), episode.frame.to_numpy(float), atol=TOL
    )


def test_generate_chronic_with_variants_is_byte_identical_with_two_workers(tmp_path):
    options = dict(
        chronics="0,1",
        max_steps=6,
        n_actions=8,
        chunk_actions=4,
        states="chronic",
        topologies=1,
        outages=1,
    )
    one = generate(ENV, out=tmp_path / "a", workers=1, **options)
    two = generate(ENV, out=tmp_path / "b", workers=2, **options)
    assert dataset_files(one.path) == dataset_files(two.path)
    ds = load(one.path)
    assert set(ds.meta.state_source) == {"chronic", "chronic+topology", "chronic+outage"}
    assert not {"state_source", "base_actions", "line_out"} & set(ds.X.columns)
    assert one.summary["rows_per_source"]["chronic"] == 12
    assert ds.manifest["config"]["states"] == "chronic"


def test_episode_config_hash_is_unchanged():
    config = GenerateConfig("e", (0,), 5, 0, "max", "batched", 0, 50, ())
    assert set(config.hashed()) == {
        "env",
        "chronics",
        "max_steps",
        "horizon",
        "targets",
        "engine",
        "seed",
        "chunk_actions",
        "actions",
        "n_actions",
        "format",
    }
    other = GenerateConfig("e", (0,), 5, 0, "max", "batched", 0, 50, (), states="chronic")
    assert other.hashed()["states"] == "chronic"
    assert "variant_pool" not in other.hashed()  # the default pool keeps earlier hashes
    wider = GenerateConfig("e", (0,), 5, 0, "max", "batched", 0, 50, (), variant_pool=64)
    assert wider.hashed()["variant_pool"] == 64


def test_variant_pool_sets_how_many_topologies_the_variants_come_from(env, catalogue):
    """A pool of 2 gives at most 2 other topologies; a pool of 64 more than the default's 32,
    and its first draws are the default pool's."""
    engine = BatchedEngine(env)

    def variants(pool: int) -> set[str]:
        states = build_states(
            env,
            engine,
            source="chronic",
            chronic=0,
            max_steps=40,
            seed=0,
            horizon=0,
            actions=catalogue,
            topologies=3,
            variant_pool=pool,
        )
        source = states.meta.state_source.to_numpy()
        return set(states.meta.base_actions.to_numpy()[source == "chronic+topology"])

    assert 1 <= len(variants(2)) <= 2
    default, wide = variants(VARIANT_POOL), variants(64)
    assert len(wide) > len(default)
    rng = lambda: np.random.default_rng([0, 0, 1])  # noqa: E731 (the draws of chronic 0)
    topo_actions = [a for a in catalogue if getattr(a, "kind", "topology") == "topology"]
    small = _variant_pool(engine, topo_actions, rng(), VARIANT_POOL)
    large = _variant_pool(engine, topo_actions, rng(), 64)
    assert large[: len(small)] == small


@pytest.mark.parametrize(
    ("args", "param"),
    [
        (("nope", 0, 0, "batched"), "states"),
        (("chronic", -1, 0, "batched"), "topologies"),
        (("episode", 0, -2, "batched"), "outages"),
        (("chronic", 0, 0, "reference"), "engine"),
        (("episode", 1, 0, "reference"), "engine"),
        (("chronic", 2, 0, "batched", 0), "variant_pool"),
    ],
)
def test_bad_state_options(args, param):
    with pytest.raises(GridOracleError) as info:
        check_source(*args)
    assert info.value.param == param


def test_chronic_maintenance_is_the_episode_s():
    """Lines under maintenance are out, with the remaining maintenance as their cooldown (a
    reconnection is illegal), and at horizon 1 a maintenance starting next step is out, as in a
    grid2op episode (l2rpn_neurips_2020_track1, chronic 0: line 13 from step 108; its opponent,
    which the chronic states do not play, is disarmed)."""
    from grid2op.Opponent import BaseOpponent

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_env("l2rpn_neurips_2020_track1", opponent_class=BaseOpponent)
    try:
        engine = BatchedEngine(env)
        states = build_states(
            env, engine, source="chronic", chronic=0, max_steps=112, seed=0, horizon=1
        )
        observations, steps = do_nothing_episode(env, 0, 112, 0, 1)
        episode = states_from_observations(observations, steps, 1)
        assert len(observations) == 112 and not np.asarray(observations[108].line_status)[13]
        picks = np.arange(100, 112)
        for name in ("topo_vect", "line_status", "cooldown_line", "cooldown_sub"):
            np.testing.assert_array_equal(
                getattr(states.batch, name)[picks], getattr(episode, name)[picks], err_msg=name
            )
        assert states.batch.cooldown_line[108, 13] > 0 and not states.batch.line_status[107, 13]
        want = features_from_observations([observations[i] for i in picks], 1)
        np.testing.assert_allclose(
            states.frame.iloc[picks].to_numpy(float), want.to_numpy(float), atol=TOL
        )
    finally:
        env.close()
