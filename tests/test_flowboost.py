"""The pooled boosted model on DC physics: its inputs against the DC flows, and the model."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from gridoracle.dataset import Dataset
from gridoracle.errors import InvalidOption
from gridoracle.models import load as load_model
from gridoracle.models import make_model, train
from gridoracle.models.flowboost import FlowBoostRegressor
from gridoracle.models.metrics import decision_metrics
from gridoracle.models.topology import context_for_dataset
from gridoracle.models.zoo import fill_targets

CASE14 = "l2rpn_case14_sandbox"
#: small enough to fit in seconds on the 25-step fixture
FAST = {"max_iter": 60, "max_leaf_nodes": 15}


@pytest.fixture(scope="module")
def variants(case14_variants) -> Dataset:
    """case14 chronic states 0-2 (25 steps), each also in 1 other topology and with 1 line out,
    10 actions; without its lines' rho: the model needs max rho only."""
    return dataclasses.replace(case14_variants, rho=None, rho_lines=None)


@pytest.fixture(scope="module")
def context(variants):
    return context_for_dataset(variants)


def _split(ds: Dataset) -> tuple[Dataset, Dataset]:
    chronic = ds.meta["chronic"]
    return ds.select(chronic.isin([0, 1]).to_numpy()), ds.select(chronic.eq(2).to_numpy())


@pytest.fixture(scope="module")
def fitted(variants, context) -> FlowBoostRegressor:
    train_ds, _ = _split(variants)
    model = FlowBoostRegressor(random_state=0, **FAST)
    return model.fit(train_ds.X.to_numpy(np.float64), fill_targets(train_ds.Y), context=context)


def test_rows_hold_the_dc_physics_of_every_line(variants, context, fitted):
    """Each pair's row: carry, shift, DC after, DC before and rho of every line (line order),
    recomputed here by hand from the DC flows; do nothing leaves DC after = DC before and
    shift = rho."""
    X = variants.X.to_numpy(np.float64)[:7]
    rows, islanded = fitted._rows(X)
    n_line = context.grid.n_line
    n_actions = context.n_actions
    assert rows.shape == (7 * n_actions, 5 * n_line + 4) and rows.dtype == np.float32
    flows, isl = context.flows(X)
    np.testing.assert_array_equal(islanded, isl)
    m2r = context.grid.mw_to_rho
    own = np.nan_to_num(context.own_flows(X))
    rho = X[:, context.rho_cols]
    r, a = 3, 4
    p_a = np.nan_to_num(flows[r, a])
    q2 = np.maximum((rho[r] / m2r) ** 2 - own[r] ** 2, 0.0)
    expected = np.concatenate([
        np.sqrt(p_a**2 + q2) * m2r,
        rho[r] + np.abs(p_a) * m2r - np.abs(own[r]) * m2r,
        np.abs(p_a) * m2r,
        np.abs(own[r]) * m2r,
        rho[r],
    ])  # fmt: skip
    row = rows.reshape(7, n_actions, -1)[r, a]
    np.testing.assert_allclose(row[: 5 * n_line], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(row[5 * n_line : 5 * n_line + 3],
                               [expected[:n_line].max(), expected[n_line:2 * n_line].max(),
                                expected[2 * n_line:3 * n_line].max()], rtol=1e-6)  # fmt: skip
    assert row[-1] == a
    noop = variants.action_names.index("donothing")
    block = rows.reshape(7, n_actions, -1)[:, noop, : 5 * n_line].reshape(7, 5, n_line)
    np.testing.assert_allclose(block[:, 2], block[:, 3], atol=1e-5)
    np.testing.assert_allclose(block[:, 1], rho, atol=1e-5)


def test_top_lines_keeps_the_highest_lines_with_their_ids(variants, context):
    train_ds, _ = _split(variants)
    X = train_ds.X.to_numpy(np.float64)
    model = FlowBoostRegressor(top_lines=3, random_state=0, **FAST)
    model.fit(X, fill_targets(train_ds.Y), context=context)
    full = FlowBoostRegressor(random_state=0, **FAST).fit(X[:5], fill_targets(train_ds.Y)[:5],
                                                          context=context)  # fmt: skip
    n_line = context.grid.n_line
    rows, _ = model._rows(X[:5])
    every, _ = full._rows(X[:5])
    assert rows.shape[1] == 3 * 6 + 4
    slots = rows[:, :18].reshape(-1, 3, 6)
    carry, shift = every[:, :n_line], every[:, n_line : 2 * n_line]
    key = np.maximum(carry, shift)
    ids = slots[:, :, 5].astype(int)
    np.testing.assert_array_equal(ids[:, 0], np.argmax(key, axis=1))
    np.testing.assert_allclose(slots[:, :, 0], np.take_along_axis(carry, ids, axis=1))
    assert (np.diff(np.take_along_axis(key, ids, axis=1), axis=1) <= 1e-6).all()
    assert np.isfinite(model.predict(X[:5])).all()


def test_predicts_held_out_states_better_than_the_mean(variants, context, fitted):
    """On the held-out chronic (other topologies and lines out included): closer to the truth
    and a lower regret than the per-action mean; islanded pairs predicted unsafe."""
    train_ds, test = _split(variants)
    X = test.X.to_numpy(np.float64)
    pred = fitted.predict(X)
    assert pred.shape == test.Y.shape and np.isfinite(pred).all()
    mean = np.tile(fill_targets(train_ds.Y).mean(axis=0), (len(test), 1))
    truth = test.Y.to_numpy()
    ok = np.isfinite(truth)
    assert np.abs(pred - truth)[ok].mean() < 0.5 * np.abs(mean - truth)[ok].mean()
    assert (
        decision_metrics(truth, pred)["mean_regret"] < decision_metrics(truth, mean)["mean_regret"]
    )
    _flows, islanded = context.flows(X)
    assert islanded.any()
    assert (pred[islanded] == fitted.unsafe_value).all()


def test_predictions_do_not_depend_on_the_batch_or_the_chunk(variants, fitted):
    X = variants.X.to_numpy(np.float64)
    whole = fitted.predict(X)
    fitted.set_params(chunk=7)
    try:
        np.testing.assert_array_equal(fitted.predict(X), whole)
    finally:
        fitted.set_params(chunk=2000)
    ones = np.concatenate([fitted.predict(X[i : i + 1]) for i in range(0, len(X), 17)])
    np.testing.assert_array_equal(ones, whole[::17])


def test_same_seed_same_model_and_a_sample_of_states(variants, context):
    train_ds, _ = _split(variants)
    X, Y = train_ds.X.to_numpy(np.float64), fill_targets(train_ds.Y)
    a = FlowBoostRegressor(random_state=3, max_states=40, **FAST).fit(X, Y, context=context)
    b = FlowBoostRegressor(random_state=3, max_states=40, **FAST).fit(X, Y, context=context)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    c = FlowBoostRegressor(random_state=4, max_states=40, **FAST).fit(X, Y, context=context)
    assert not np.array_equal(a.predict(X), c.predict(X))


def test_trained_through_train_on_a_max_only_dataset_saved_and_loaded(variants, tmp_path):
    assert variants.rho is None  # max rho only: no --targets full needed
    folder = tmp_path / "flow_boost"
    result = train(variants, "flow_boost", test_chronics=[2], out=folder, params=FAST)
    assert result.model.metadata["model"] == "flow_boost"
    loaded = load_model(folder)
    X = result.test.X
    np.testing.assert_array_equal(loaded.predict(X).to_numpy(), result.model.predict(X).to_numpy())
    est = pickle.loads(pickle.dumps(result.model.estimator))
    assert est.context_.grid._cache == {} and est.context_._per_state == {}


def test_zoo_builds_it_and_bad_inputs_are_refused(context):
    model = make_model("flow_boost", seed=5, max_iter=10)
    assert isinstance(model, FlowBoostRegressor)
    assert (model.max_iter, model.random_state, model.top_lines) == (10, 5, None)
    with pytest.raises(InvalidOption, match="alpha"):
        make_model("flow_boost", alpha=3.0)
    with pytest.raises(ValueError, match="context"):
        FlowBoostRegressor().fit(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="top_lines"):
        FlowBoostRegressor(top_lines=0).fit(
            np.zeros((3, 2)), np.zeros((3, context.n_actions)), context=context
        )
    with pytest.raises(ValueError, match="actions"):
        FlowBoostRegressor().fit(np.zeros((3, 2)), np.zeros((3, 1)), context=context)
