"""Issue 13 §2-§3: per-line flow models, regret after screening, cross-validation on the training
chronics only, and the reduced catalogue's greedy cover."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from gridoracle.dataset import Dataset, load
from gridoracle.errors import InvalidOption
from gridoracle.models import decision_metrics, make_model, train
from gridoracle.models.lineflows import LineFlowRegressor
from gridoracle.models.metrics import state_subsets
from gridoracle.models.reduce import reduce_actions
from gridoracle.models.selection import cross_validate, fold_masks, select_model
from gridoracle.pipelines.generate import GenerateRequest, generate

CASE14 = "l2rpn_case14_sandbox"


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Dataset:
    """case14, chronics 0-2, 20 states each, 8 actions, every line's rho."""
    out = tmp_path_factory.mktemp("full")
    request = GenerateRequest(
        CASE14, chronics="0,1,2", max_steps=20, n_actions=8, targets="full", out=out
    )
    return load(generate(request).path)


# --------------------------------------------------------------------------- line flow models


def _brute_force(
    model: LineFlowRegressor, X: np.ndarray, rho: np.ndarray, quadratic: int = 0
) -> np.ndarray:
    """The max over lines of one ridge regression per (action, line), fitted one by one with
    scikit-learn's Ridge on the standardized varying features (intercept unpenalized), and the
    standardized pairwise products of their first ``quadratic`` principal components."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import Ridge

    keep = X.std(axis=0) > 1e-9
    mu, sd = X[:, keep].mean(axis=0), X[:, keep].std(axis=0)
    Z = (X[:, keep] - mu) / sd
    if quadratic:
        P = PCA(quadratic, svd_solver="full").fit_transform(Z)
        i, j = np.triu_indices(quadratic)
        Q = P[:, i] * P[:, j]
        Z = np.column_stack([Z, (Q - Q.mean(axis=0)) / Q.std(axis=0)])
    out = np.empty((len(X), rho.shape[1]))
    for j in range(rho.shape[1]):
        ok = np.isfinite(rho[:, j, :]).all(axis=1)
        per_line = [
            Ridge(alpha=model.alpha).fit(Z[ok], rho[ok, j, i]).predict(Z)
            for i in range(rho.shape[2])
        ]
        out[:, j] = np.max(per_line, axis=0)
    return out


def test_line_flows_is_the_max_over_lines_of_per_line_ridge_regressions():
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.normal(size=(60, 4)), np.ones(60)])  # a constant feature too
    W = rng.normal(size=(3, 4, 5))  # 3 actions, 5 lines
    rho = np.abs(np.einsum("nf,afl->nal", X[:, :4], W)) + 0.1 * rng.random((60, 3, 5))
    rho[:7, 1, :] = np.nan  # action 1 diverged in 7 states: left out of its models
    y = np.where(np.isnan(rho), np.inf, rho).max(axis=2)
    y[~np.isfinite(y)] = 2.0
    for quadratic in (0, 3):
        model = LineFlowRegressor(alpha=0.5, quadratic=quadratic).fit(X, y, line_rho=rho)
        expected = _brute_force(model, X, rho, quadratic)
        lines = model.line_predictions(X)  # float64
        np.testing.assert_allclose(
            np.column_stack([b.max(axis=1) for b in lines]), expected, rtol=0, atol=1e-9
        )
        # predict works in float32 (half the weights' memory traffic)
        np.testing.assert_allclose(model.predict(X), expected, rtol=0, atol=2e-5)
    # on every principal component, unpenalized: the same least-squares fit as on the features
    plain = LineFlowRegressor(alpha=1e-10).fit(X, y, line_rho=rho)
    rotated = LineFlowRegressor(alpha=1e-10, components=4).fit(X, y, line_rho=rho)
    np.testing.assert_allclose(
        np.column_stack([b.max(axis=1) for b in rotated.line_predictions(X)]),
        np.column_stack([b.max(axis=1) for b in plain.line_predictions(X)]),
        atol=1e-8,
    )
    assert LineFlowRegressor(components=2).fit(X, y, line_rho=rho).coef_.shape[0] == 2
    # the same with the per-action blocks a Dataset holds
    blocks = [rho[:, j, :] for j in range(3)]
    again = LineFlowRegressor(alpha=0.5, quadratic=3).fit(X, y, line_rho=blocks)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_line_flows_residual_trees_add_to_the_linear_part():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    rho = np.abs(X[:, None, :] * [[1.0, 0.5, 0.2], [0.3, 1.0, 0.1]])
    y = rho.max(axis=2) + 0.2 * (X[:, [0]] > 0)  # a step the linear models cannot follow
    linear = LineFlowRegressor().fit(X, y, line_rho=rho)
    both = LineFlowRegressor(residual="extra_trees", random_state=0).fit(X, y, line_rho=rho)
    residual = both.residual_.predict(X)
    np.testing.assert_allclose(both.predict(X), linear.predict(X) + residual, atol=1e-12)
    assert np.abs(both.predict(X) - y).mean() < np.abs(linear.predict(X) - y).mean()


def test_line_flows_needs_every_lines_rho():
    with pytest.raises(ValueError, match="--targets full"):
        LineFlowRegressor().fit(np.ones((3, 2)), np.ones((3, 1)))


def test_train_line_flows_on_a_dataset_and_refuse_it_on_max_only(full, tmp_path):
    result = train(full, "line_flows", test_chronics=[2])
    pred = result.model.predict(result.test.X)
    assert pred.shape == (20, 8) and np.isfinite(pred.to_numpy()).all()
    default = train(full, test_chronics=[2])
    assert default.name == "line_flows"
    assert default.model.metadata["training"]["default"]["model"] == "line_flows"
    max_only = Dataset(**{**full.__dict__, "rho": None, "rho_lines": None})
    with pytest.raises(InvalidOption, match="--targets full") as exc:
        train(max_only, "line_flows", test_chronics=[2])
    assert exc.value.param == "model"
    fallback = train(max_only, test_chronics=[2], params={"n_estimators": 5})
    assert fallback.name == "random_forest"
    assert "--targets full" in fallback.model.metadata["training"]["default"]["reason"]


# ------------------------------------------------------------------------- decision metrics


def test_regret_after_screening_by_hand():
    y_true = np.array(
        [
            [0.50, 0.40, 0.30, 0.90],  # best 0.30 (action 2)
            [0.80, np.nan, 0.70, 0.60],  # best 0.60 (action 3); action 1 diverged
        ]
    )
    y_pred = np.array(
        [
            [0.1, 0.2, 0.9, 0.3],  # order 0, 1, 3, 2
            [0.5, 0.1, 0.9, 0.2],  # order 1, 3, 0, 2
        ]
    )
    m = decision_metrics(y_true, y_pred, k=(1, 2, 3, 4))
    # state 0: top 1 {0} 0.50, top 2 {0,1} 0.40, top 3 {0,1,3} 0.40, top 4 0.30
    # state 1: top 1 {1} diverged: penalty max(2, 0.8) = 2.0; top 2 {1,3} 0.60
    assert m["screened1_regret"] == pytest.approx(((0.5 - 0.3) + (2.0 - 0.6)) / 2)
    assert m["screened1_regret"] == pytest.approx(m["mean_regret"])
    assert m["screened2_regret"] == pytest.approx((0.4 - 0.3) / 2)
    assert m["screened3_regret"] == pytest.approx((0.4 - 0.3) / 2)
    assert m["screened4_regret"] == pytest.approx(0.0)
    assert (m["top2_recall"], m["top4_recall"]) == (0.5, 1.0)


def test_state_subsets_dangerous_and_non_reference():
    X = pd.DataFrame({"topo_0": [1, 1, 2], "line_status_0": [1, 0, 1], "rho_0": [0.95, 0.2, 0.3]})
    Y = pd.DataFrame({"donothing": [0.95, 0.2, 0.91], "a": [0.5, 0.5, 0.5]})
    masks = state_subsets(X, Y)
    assert masks["dangerous"].tolist() == [True, False, True]
    assert masks["non_reference"].tolist() == [False, True, True]
    meta = pd.DataFrame({"chronic": [0, 0, 0], "step": [0, 1, 2], "base_actions": ["", "x", ""]})
    assert state_subsets(X, Y, meta)["non_reference"].tolist() == [False, True, False]


# ------------------------------------------------------------------ cross-validation folds


def test_cross_validation_never_reads_the_test_chronic(full):
    """Poison chronic 2 (NaN features: any fit or prediction on them raises); select_model with
    test chronic 2 must still run, and would fail if a fold held one of its rows."""
    X = full.X.copy().astype(np.float64)
    poisoned = (full.meta["chronic"] == 2).to_numpy()
    X.loc[poisoned, :] = np.nan
    ds = Dataset(**{**full.__dict__, "X": X})
    candidates = {"lf": ("line_flows", {}), "mean": ("mean", {})}
    best, table = select_model(ds, candidates, test_chronics=[2])
    assert best in candidates and set(table.index) == set(candidates)
    assert (table["folds"] == 2).all()  # one fold per training chronic: 0 and 1
    with pytest.raises(ValueError):  # the poison works: the test chronic in the folds fails
        cross_validate(ds, candidates)


def test_time_blocked_folds_leave_a_gap(full):
    one = full.select((full.meta["chronic"] == 0).to_numpy())
    folds = fold_masks(one, n_folds=4, gap=2)
    steps = one.meta["step"].to_numpy()
    assert len(folds) == 4
    covered = np.zeros(len(one), dtype=bool)
    for train_mask, valid_mask in folds:
        assert not (train_mask & valid_mask).any()
        lo, hi = steps[valid_mask].min(), steps[valid_mask].max()
        assert (np.abs(steps[train_mask][:, None] - [lo, hi]).min(axis=1) > 2).all()
        covered |= valid_mask
    assert covered.all()


# ------------------------------------------------------------------------- actions reduce


def _brute_force_cover(Y: np.ndarray, margin: float, size: int, fixed: int) -> int:
    """Most states any set of ``size`` actions holding action ``fixed`` covers within margin."""
    finite = np.isfinite(Y)
    best = np.min(np.where(finite, Y, np.inf), axis=1)
    covers = finite & (best[:, None] + margin + 1e-9 >= Y)
    others = [j for j in range(Y.shape[1]) if j != fixed]
    return max(
        int(covers[:, [fixed, *combo]].any(axis=1).sum())
        for combo in itertools.combinations(others, size - 1)
    )


def test_reduce_cover_against_brute_force():
    rng = np.random.default_rng(5)
    Y = rng.uniform(0.3, 1.0, size=(40, 7))
    Y[rng.random(Y.shape) < 0.1] = np.nan
    names = ["donothing", *[f"a{i}" for i in range(6)]]
    for keep in (1, 2, 3, 4):
        r = reduce_actions(Y, names, keep, margin=0.05)
        assert r.names[0] == "donothing" and len(r.kept) == keep
        finite = np.isfinite(Y)
        best = np.min(np.where(finite, Y, np.inf), axis=1)
        reached = np.min(np.where(finite[:, r.kept], Y[:, r.kept], np.inf), axis=1)
        assert r.covered == pytest.approx(np.mean(reached <= best + 0.05 + 1e-9))
        optimum = _brute_force_cover(Y, 0.05, keep, 0)
        # the greedy cover is within its (1 - 1/e) guarantee of the best cover; on these
        # sizes it reaches it or misses by little
        assert r.covered * len(Y) >= (1 - 1 / np.e) * optimum
        assert r.covered * len(Y) <= optimum
    exact = reduce_actions(Y, names, 2, margin=0.05)
    assert exact.covered * len(Y) == _brute_force_cover(Y, 0.05, 2, 0)  # one greedy step: optimal
    everything = reduce_actions(Y, names, 7, margin=0.0)
    assert everything.mean_regret == pytest.approx(0.0) and everything.coverage["0"] == 1.0


def test_reduce_refuses_bad_options():
    Y = np.ones((2, 3))
    with pytest.raises(ValueError, match="keep"):
        reduce_actions(Y, ["donothing", "a", "b"], 0)
    with pytest.raises(ValueError, match="margin"):
        reduce_actions(Y, ["donothing", "a", "b"], 2, margin=-1)


def test_make_model_line_flows_params():
    model = make_model("line_flows_trees", seed=3, alpha=1.0)
    assert (model.alpha, model.residual, model.random_state) == (1.0, "extra_trees", 3)
    with pytest.raises(InvalidOption, match="n_trees"):
        make_model("line_flows", n_trees=3)


def _run(main, argv, capsys):
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_actions_reduce_writes_a_catalogue_generate_reads(full, tmp_path, capsys):
    from gridoracle.cli.app import main
    from gridoracle.pipelines.generate import GenerateRequest, generate

    out = tmp_path / "reduced.json"
    args = ["actions", "reduce", "--data", str(full.path), "--keep", "3", "--out", str(out)]
    code, printed, _ = _run(
        main, [*args, "--chronics", "0,1", "--margin", "0.02", "--quiet"], capsys
    )
    assert code == 0, printed
    assert "of 8 actions" in printed and "within --margin 0.02" in printed
    record = json.loads(out.read_text())
    names = [a["name"] for a in record["actions"]]
    assert names[0] == "donothing" and 1 <= len(names) <= 3
    assert names == [n for n in full.action_names if n in names]  # the dataset's order
    expected = reduce_actions(
        full.select(full.meta["chronic"].isin([0, 1]).to_numpy()).Y.to_numpy(),
        full.action_names,
        3,
        margin=0.02,
    )
    assert record["extra"]["greedy_order"] == expected.names
    assert record["extra"]["covered"] == pytest.approx(expected.covered)
    again = generate(
        GenerateRequest(CASE14, chronics="0", max_steps=3, actions_file=out, out=tmp_path / "d")
    )
    assert load(again.path).action_names == names
    code, _, err = _run(main, [*args[:-1], str(tmp_path / "x.json"), "--keep", "0"], capsys)
    assert code == 2 and "--keep 0" in err
    assert not (tmp_path / "x.json").exists()


def test_compare_leaves_line_models_out_on_a_max_only_dataset(full, tmp_path):
    from gridoracle.pipelines.models import CompareRequest, compare

    max_only = Dataset(**{**full.__dict__, "rho": None, "rho_lines": None})
    result = compare(
        CompareRequest(max_only, "mean,line_flows", out=tmp_path / "m", test_chronics=[2])
    )
    assert result.skipped == ["line_flows"]
    assert set(result.leaderboard["model"]) == {"mean", "donothing"}
    with pytest.raises(InvalidOption, match="--targets full"):
        compare(CompareRequest(max_only, "line_flows", out=tmp_path / "n", test_chronics=[2]))
    both = compare(CompareRequest(full, "mean,line_flows", out=tmp_path / "o", test_chronics=[2]))
    assert both.skipped == [] and "line_flows" in set(both.leaderboard["model"])
    row = both.leaderboard.set_index("model").loc["line_flows"]
    assert np.isfinite(row["screened5_regret"]) and np.isfinite(row["top10_recall"])


def test_line_flows_residual_boosting_and_bad_residual():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2))
    rho = np.abs(X[:, None, :] * [[1.0, 0.5]])
    params = {"max_iter": 5, "n_jobs": 1}
    model = LineFlowRegressor(residual="hist_gradient_boosting", residual_params=params)
    assert model.fit(X, rho.max(axis=2), line_rho=rho).predict(X).shape == (40, 1)
    with pytest.raises(ValueError, match="residual"):
        LineFlowRegressor(residual="xgboost").fit(X, rho.max(axis=2), line_rho=rho)


def test_line_margin_keeps_the_lines_that_come_near_the_max_relatively():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3))
    rho = np.stack([0.02 + 0.01 * np.abs(X[:, 0]), 0.015 + 0.001 * X[:, 1], 0.001 + 0 * X[:, 2]], 1)
    rho = rho[:, None, :]  # one action, 3 lines; line 2 never above 10 % of the max
    y = rho.max(axis=2)
    model = LineFlowRegressor(line_margin=0.5).fit(X, y, line_rho=rho)
    assert model.lines_[0].tolist() == [0, 1]  # a relative margin: rho here is about 0.02
    full = LineFlowRegressor().fit(X, y, line_rho=rho)
    np.testing.assert_allclose(model.predict(X), full.predict(X), atol=1e-6)


def test_line_flows_with_fewer_states_than_components():
    # 8 states of 20 features: the SVD has 8 components, fewer than the 12 products asked for
    rng = np.random.default_rng(5)
    X = rng.normal(size=(8, 20))
    rho = np.abs(X[:, None, :3] * [[1.0, 0.5, 0.2], [0.3, 1.0, 0.1]])
    y = rho.max(axis=2)
    model = LineFlowRegressor(quadratic=12, components=15).fit(X, y, line_rho=rho)
    assert model.proj_ is not None and model.proj_.shape[1] == 8
    assert model.predict(X).shape == (8, 2)
    np.testing.assert_allclose(model.predict(X), y, atol=0.3)
