"""The topology-aware model: its DC flows against lightsim2grid and grid2op, and the model."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from grid2op.Parameters import Parameters

from gridoracle.dataset import Dataset
from gridoracle.dataset.features import features_from_observations
from gridoracle.engine.batched import BatchedEngine
from gridoracle.engine.states import StateBatch
from gridoracle.engine.unitary import FlowSolver
from gridoracle.errors import DatasetError, InvalidOption
from gridoracle.grid import make_env
from gridoracle.models import load as load_model
from gridoracle.models import make_model, train
from gridoracle.models.dcflows import topology_context
from gridoracle.models.metrics import decision_metrics
from gridoracle.models.topology import TopologyFlowRegressor, context_for_dataset
from gridoracle.models.zoo import fill_targets
from gridoracle.pipelines.generate import GenerateRequest, generate

CASE14 = "l2rpn_case14_sandbox"


@pytest.fixture(scope="module")
def variants(case14_variants) -> Dataset:
    """case14 chronic states 0-2 (25 steps), each also in 1 other topology and with 1 line out,
    10 actions, every line's rho (shared with tests/test_flowboost.py)."""
    return case14_variants


@pytest.fixture(scope="module")
def context(variants):
    return context_for_dataset(variants)


class _Action:
    def __init__(self, entry: dict) -> None:
        self.name, self.grid2op = entry["name"], entry["grid2op"]


def _batch(topo: np.ndarray, gen_p: np.ndarray, load_p: np.ndarray) -> StateBatch:
    n_line = 20
    return StateBatch(
        horizon=0,
        steps=np.zeros(1, dtype=np.int64),
        gen_p=gen_p[None],
        gen_v=np.full((1, gen_p.size), 140.0),
        load_p=load_p[None],
        load_q=np.zeros((1, load_p.size)),
        topo_vect=topo[None],
        prev_topo=np.where(topo > 0, topo, 1)[None],
        line_status=np.ones((1, n_line), dtype=bool),
        cooldown_line=np.zeros((1, n_line), dtype=np.int64),
        cooldown_sub=np.zeros((1, 14), dtype=np.int64),
        protection=np.zeros((1, n_line), dtype=np.int64),
    )


def test_dc_flows_equal_lightsim2grid_dc_power_flow_of_the_combined_topology(
    variants, context, env_case14
):
    """Every (state, action) of states in other topologies and with a line out: the combined
    topology is the batched engine's, islanding is its verdict (plus an isolated line, which
    lightsim2grid does not solve), and the flows are lightsim2grid's DC power flow of that
    topology with the row's injections, within 1e-6 MW."""
    X = variants.X.to_numpy(np.float64)
    non_ref = np.flatnonzero(variants.meta["state_source"].to_numpy() != "chronic")
    rows = np.concatenate([[0], non_ref[::4]])
    flows, islanded = context.flows(X[rows])
    engine, solver = BatchedEngine(env_case14), FlowSolver(env_case14)
    g = context.grid
    checked = islands = dangling = 0
    for k, r in enumerate(rows):
        topo = np.rint(X[r, context.topo_cols]).astype(np.int64)
        status = (topo[g.line_or_pos] > 0) & (topo[g.line_ex_pos] > 0)
        after = context.after_actions(topo)
        for j, entry in enumerate(variants.actions):
            ref = engine.resulting_topology(
                _Action(entry), topo, np.where(topo > 0, topo, 1), status
            )
            np.testing.assert_array_equal(after[j], ref)
            batch = _batch(ref, X[r, context.gen_p_cols], X[r, context.load_p_cols])
            if islanded[k, j]:
                assert np.isnan(flows[k, j]).all()
                if not engine.islanded(ref):  # an isolated line: lightsim2grid does not solve it
                    assert not solver.solve(ref, batch, dc=True).converged[0]
                    dangling += 1
                islands += 1
                continue
            assert not engine.islanded(ref)
            dc = solver.solve(ref, batch, dc=True)
            assert dc.converged[0]
            np.testing.assert_allclose(flows[k, j], dc.p_or[0], rtol=0, atol=1e-6)
            checked += 1
    assert checked > 100 and islands > dangling > 0
    # what the generator computed in AC agrees: those pairs diverged (or were a game over)
    assert (variants.status.to_numpy()[rows][islanded] != 0).all()
    assert (X[rows][:, context.status_cols] == 0).any()  # lines out among the rows checked


def test_dc_flows_equal_grid2op_dc_environment(env_case14):
    """grid2op itself (ENV_DC): after a bus split and a line disconnection, the flows of the
    observation's topology and injections; 1e-4 MW (the observations are float32)."""
    param = Parameters()
    param.ENV_DC = True
    param.MAX_SUB_CHANGED = 99
    param.MAX_LINE_STATUS_CHANGED = 99
    env = make_env(CASE14, param=param)
    try:
        obs = env.reset()
        columns = list(features_from_observations([obs]).columns)
        split = {"set_bus": {"lines_or_id": [[2, 2], [3, 2]], "loads_id": [[0, 2]]}}
        catalogue = [{"name": "donothing", "grid2op": {}}, {"name": "split", "grid2op": split}]
        ctx = topology_context(env, catalogue, columns)
        for act in (split, {"set_line_status": [[13, -1]]}):
            obs, _reward, done, info = env.step(env.action_space(act))
            assert not done, info["exception"]
            X = features_from_observations([obs])[columns].to_numpy(np.float64)
            flows, islanded = ctx.flows(X)
            assert not islanded[0, 0]
            np.testing.assert_allclose(flows[0, 0], obs.p_or, rtol=0, atol=1e-4)
            assert (obs.topo_vect == 2).any()
        assert not obs.line_status[13] and flows[0, 0, 13] == 0.0
    finally:
        env.close()


def test_unsupported_grids_and_actions_are_refused(env_case14):
    columns = list(features_from_observations([env_case14.reset()]).columns)
    change = [{"name": "c", "grid2op": {"change_bus": {"loads_id": [0]}}}]
    with pytest.raises(ValueError, match="change_"):
        topology_context(env_case14, change, columns)
    with pytest.raises(ValueError, match="no rho_0"):
        topology_context(env_case14, [], [c for c in columns if c != "rho_0"])


class _Ctx:
    n_actions = 1


def _fit(ds: Dataset, context, **params) -> TopologyFlowRegressor:
    train_ds = ds.select(ds.meta["chronic"].isin([0, 1]).to_numpy())
    model = TopologyFlowRegressor(**params)
    return model.fit(
        train_ds.X.to_numpy(np.float64),
        fill_targets(train_ds.Y),
        line_rho=[train_ds.rho[a] for a in train_ds.action_names],
        context=context,
    )


def test_model_predicts_held_out_states_better_than_the_mean(variants, context):
    """On the held-out chronic (other topologies and lines out included), max rho closer to the
    truth and a lower regret than the per-action mean; islanded pairs predicted unsafe."""
    model = _fit(variants, context)
    test = variants.select(variants.meta["chronic"].eq(2).to_numpy())
    X = test.X.to_numpy(np.float64)
    pred = model.predict(X)
    assert pred.shape == test.Y.shape and np.isfinite(pred).all()
    train_ds = variants.select(variants.meta["chronic"].isin([0, 1]).to_numpy())
    mean = np.tile(fill_targets(train_ds.Y).mean(axis=0), (len(test), 1))
    truth = test.Y.to_numpy()
    ok = np.isfinite(truth)
    assert np.abs(pred - truth)[ok].mean() < 0.5 * np.abs(mean - truth)[ok].mean()
    ours, base = decision_metrics(truth, pred), decision_metrics(truth, mean)
    assert ours["mean_regret"] < base["mean_regret"]
    _flows, islanded = context.flows(X)
    assert islanded.any()
    assert (pred[islanded] == model.unsafe_value).all()


def test_fewer_training_states_than_components(variants, context):
    """8 training states and 12 component products asked for: the SVD has 8 components."""
    few = variants.select(np.flatnonzero(variants.meta["chronic"].eq(0).to_numpy())[:8])
    X = few.X.to_numpy(np.float64)
    model = TopologyFlowRegressor(quadratic=12).fit(
        X, fill_targets(few.Y), line_rho=[few.rho[a] for a in few.action_names], context=context
    )
    assert model.proj_ is not None and model.proj_.shape[1] == 8
    assert np.isfinite(model.predict(X)).all()


def test_trained_through_train_saved_and_loaded(variants, tmp_path):
    folder = tmp_path / "topology_flows"
    result = train(variants, "topology_flows", test_chronics=[2], out=folder)
    assert result.model.metadata["model"] == "topology_flows"
    loaded = load_model(folder)
    X = result.test.X
    np.testing.assert_array_equal(loaded.predict(X).to_numpy(), result.model.predict(X).to_numpy())
    # the pickled model holds no cache and no grid2op object
    est = pickle.loads(pickle.dumps(result.model.estimator))
    assert est.context_.grid._cache == {} and est.context_._per_state == {}
    one = est.predict(X.to_numpy(np.float64)[:1])
    np.testing.assert_array_equal(one, result.model.predict(X.iloc[:1]).to_numpy())


def test_max_only_dataset_is_refused(tmp_path):
    report = generate(
        GenerateRequest(CASE14, chronics="0,1", max_steps=5, n_actions=4, out=tmp_path)
    )
    with pytest.raises(InvalidOption, match="--targets full"):
        train(report.path, "topology_flows", test_chronics=[1])


def test_zoo_builds_it_with_its_defaults():
    model = make_model("topology_flows", alpha=3.0)
    assert isinstance(model, TopologyFlowRegressor)
    assert (model.alpha, model.cascade, model.interactions) == (3.0, False, True)
    assert make_model("topology_flows").alpha == 100.0
    with pytest.raises(InvalidOption, match="n_estimators"):
        make_model("topology_flows", n_estimators=3)
    with pytest.raises(ValueError, match="shared"):
        TopologyFlowRegressor(shared="all").fit(
            np.zeros((3, 2)), np.zeros((3, 1)), line_rho=np.zeros((3, 1, 1)), context=_Ctx()
        )
    with pytest.raises(ValueError, match="context"):
        TopologyFlowRegressor().fit(
            np.zeros((3, 2)), np.zeros((3, 1)), line_rho=np.zeros((3, 1, 1))
        )


def test_cascade_trips_lines_above_the_hard_threshold(variants, context):
    """With ``cascade``, a pair predicted above the hard threshold is re-solved in DC with the
    tripped lines out: its prediction is that topology's DC max loading, or unsafe if it islands."""
    plain = _fit(variants, context, hard_threshold=0.6)
    tripped = _fit(variants, context, hard_threshold=0.6, cascade=True)
    X = variants.X.to_numpy(np.float64)
    a, b = plain.predict(X), tripped.predict(X)
    changed = np.argwhere(~np.isclose(a, b))
    assert changed.size
    g = context.grid
    r, j = (int(v) for v in changed[0])
    cols = np.flatnonzero(plain.col_action_ == j)
    line_pred = plain._columns(X[r : r + 1])[0][0, cols]
    topo = context.after_actions(np.rint(X[r, context.topo_cols]).astype(np.int8))[j].copy()
    cut = plain.col_line_[cols][line_pred > 0.6]
    inj = context.injections(X[r : r + 1])[0]
    expected = b[r, j]
    while cut.size:
        topo[g.line_or_pos[cut]] = -1
        topo[g.line_ex_pos[cut]] = -1
        M, isl = g.matrix(topo)
        if isl:
            assert expected == tripped.unsafe_value
            return
        rho = np.abs(M @ inj) * g.mw_to_rho
        cut = np.flatnonzero(rho > 0.6)
    assert expected == pytest.approx(float(rho.max()))


@pytest.mark.parametrize(("interactions", "shared"), [(False, "state"), (True, "setpoints")])
def test_predictions_do_not_depend_on_the_batch(variants, context, interactions, shared):
    model = _fit(variants, context, interactions=interactions, shared=shared)
    assert model.dc_coef_.shape[0] == (4 if interactions else 2)
    names = variants.X.columns[model.shared_]
    if shared == "setpoints":
        assert all(n.startswith(("gen_p_", "gen_v_", "load_p_", "load_q_")) for n in names)
    else:
        assert any(n.startswith("rho_") for n in names)
    assert not any(n.startswith(("topo_", "line_status_")) for n in names)
    X = variants.X.to_numpy(np.float64)[-30:]
    whole = model.predict(X)
    rows = np.vstack([model.predict(X[i : i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(rows, whole, rtol=0, atol=1e-12)


def test_folds_by_topology_leave_the_validation_topologies_out_of_training(variants):
    """``group_by="topology"``: a fold's validation states in other topologies are in
    topologies none of its training states is in; on one chronic too (blocks of steps)."""
    from gridoracle.models.selection import fold_masks

    key = variants.meta["base_actions"] + "|" + variants.meta["line_out"].astype(str)
    reference = key == "|-1"
    one = variants.select(variants.meta["chronic"].eq(0).to_numpy())
    one_key = one.meta["base_actions"] + "|" + one.meta["line_out"].astype(str)
    for ds, keys in ((variants, key), (one, one_key)):
        folds = fold_masks(ds, n_folds=2, gap=1, group_by="topology")
        assert len(folds) == 2
        for train_mask, valid_mask in folds:
            held = set(keys[valid_mask & (keys != "|-1").to_numpy()])
            assert held and not held & set(keys[train_mask])
            assert not (train_mask & valid_mask).any()
        plain = fold_masks(ds, n_folds=2, gap=1)
        assert all((p[0] >= f[0]).all() for p, f in zip(plain, folds, strict=True))
    assert reference.any()
    with pytest.raises(InvalidOption, match="group_by"):
        fold_masks(variants, n_folds=2, group_by="chronic")


# ------------------------------------------------- cross-validating the training data itself


@pytest.fixture(scope="module")
def wider(case14_variants_wider):
    return case14_variants_wider


def _keys(ds):
    return (ds.meta["base_actions"].astype(str) + "|" + ds.meta["line_out"].astype(str)).to_numpy()


def _where(ds):
    return set(zip(ds.meta["chronic"], ds.meta["step"], strict=True))


def test_fold_masks_on_the_dataset_itself_are_its_training_masks(variants):
    from gridoracle.models.selection import fold_masks, fold_masks_on

    one = variants.select(variants.meta["chronic"].eq(0).to_numpy())
    for ds in (variants, one):
        for group_by in ("topology", None):
            folds = fold_masks(ds, n_folds=2, gap=1, group_by=group_by)
            for mask, (train_mask, _valid) in zip(
                fold_masks_on(ds, ds, folds, group_by), folds, strict=True
            ):
                np.testing.assert_array_equal(mask, train_mask)


def test_fold_masks_on_other_data_keep_the_folds_apart(variants, wider):
    """The rows of another dataset a fold trains on are at its training steps only, and in
    none of its validation topologies."""
    from gridoracle.models.selection import fold_masks, fold_masks_on

    assert len(set(_keys(wider))) != len(set(_keys(variants)))  # other topologies
    one, one_w = (d.select(d.meta["chronic"].eq(0).to_numpy()) for d in (variants, wider))
    for ds, other in ((variants, wider), (one, one_w)):
        folds = fold_masks(ds, n_folds=2, gap=1, group_by="topology")
        for mask, (train_mask, valid_mask) in zip(
            fold_masks_on(ds, other, folds, "topology"), folds, strict=True
        ):
            assert mask.any()
            fit, valid, trained = other.select(mask), ds.select(valid_mask), ds.select(train_mask)
            assert _where(fit) <= _where(trained)
            assert not _where(fit) & _where(valid) - _where(trained)
            held = set(_keys(valid)) - {"|-1"}
            assert held and not held & set(_keys(fit))


def test_cross_validate_on_fit_data(variants, wider):
    """fit_data = the dataset itself gives the plain table; other data gives other scores on
    the same validation states; a catalogue or chronics that differ are refused."""
    from gridoracle.models.selection import CV_COLUMNS, cross_validate, select_model

    candidates = {"mean": ("mean", {}), "lf": ("line_flows", {})}
    options = dict(n_folds=2, gap=1, group_by="topology")
    plain = cross_validate(variants, candidates, **options)
    itself = cross_validate(variants, candidates, fit_data=variants, **options)
    cols = [c for c in CV_COLUMNS if plain[c].notna().all()]
    pd.testing.assert_frame_equal(plain[cols], itself.loc[plain.index, cols])
    other = cross_validate(variants, candidates, fit_data=wider, **options)
    assert not np.allclose(other.loc["lf", cols], plain.loc["lf", cols])
    best, table = select_model(variants, candidates, test_chronics=[2], fit_data=wider)
    assert best in candidates and (table["folds"] == 2).all()
    fewer = variants.select(variants.meta["chronic"].ne(1).to_numpy())
    with pytest.raises(DatasetError, match="training chronics"):
        select_model(variants, candidates, test_chronics=[2], fit_data=fewer)
    renamed = Dataset(**{**wider.__dict__, "Y": wider.Y.rename(columns=lambda c: c + "x")})
    with pytest.raises(DatasetError, match="actions"):
        cross_validate(variants, candidates, fit_data=renamed, **options)
