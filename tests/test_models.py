"""The model zoo, training on the training chronics only, persistence and model/dataset mismatch."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from gridoracle.dataset import Dataset, load
from gridoracle.errors import DatasetError, InvalidOption, ModelError, ModelMismatch
from gridoracle.models import (
    ALL_MODEL_NAMES,
    MODEL_NAMES,
    UNSAFE_RHO,
    ActionConditionedRegressor,
    Predictor,
    fill_targets,
    make_model,
    train,
)
from gridoracle.models import load as load_model
from gridoracle.models.persist import METADATA_FILE, MODEL_FILE
from gridoracle.pipelines.generate import GenerateRequest, generate

CASE14 = "l2rpn_case14_sandbox"
# small enough for every zoo model to train in about a second
FAST = {
    "random_forest": {"n_estimators": 10},
    "extra_trees": {"n_estimators": 10},
    "hist_gradient_boosting": {"max_iter": 10, "n_jobs": 1},
    "mlp": {"hidden_layer_sizes": (16,), "max_iter": 50},
    "action_conditioned": {"max_iter": 20},
    "flow_boost": {"max_iter": 20, "max_leaf_nodes": 7},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Dataset:
    """case14, chronics 0-2, 20 states each, 8 actions (donothing first), every line's rho."""
    out = tmp_path_factory.mktemp("tiny")
    report = generate(
        GenerateRequest(
            CASE14, chronics="0,1,2", max_steps=20, n_actions=8, targets="full", out=out
        )
    )
    return load(report.path)


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    """extra_trees trained on chronics 0-1 and saved."""
    folder = tmp_path_factory.mktemp("models") / "extra_trees"
    return train(tiny, "extra_trees", out=folder, test_chronics=[2], params=FAST["extra_trees"])


# ------------------------------------------------------------------------------------------ zoo


def test_zoo_names():
    assert MODEL_NAMES == (
        "mean",
        "ridge",
        "random_forest",
        "extra_trees",
        "hist_gradient_boosting",
        "mlp",
        "line_flows",
        "line_flows_trees",
        "topology_flows",
        "flow_boost",
    )
    assert "action_conditioned" in ALL_MODEL_NAMES
    assert "action_conditioned" not in MODEL_NAMES


def test_unknown_model_names_the_value_and_the_allowed_ones():
    with pytest.raises(InvalidOption) as exc:
        make_model("xgboost")
    message = str(exc.value)
    assert "'xgboost'" in message
    assert all(name in message for name in MODEL_NAMES)


def test_unknown_parameter_is_refused():
    with pytest.raises(InvalidOption, match="n_trees"):
        make_model("random_forest", n_trees=3)
    with pytest.raises(InvalidOption, match="seed"):
        make_model("extra_trees", random_state=3)


def test_seed_and_params_reach_the_estimator():
    model = make_model("random_forest", seed=7, n_estimators=5)
    assert (model.random_state, model.n_estimators, model.max_depth) == (7, 5, 12)
    mlp = make_model("mlp", seed=3)
    assert mlp.regressor.named_steps["mlp"].random_state == 3
    hgb = make_model("hist_gradient_boosting", seed=4, max_iter=7)
    assert (hgb.estimator.random_state, hgb.estimator.max_iter) == (4, 7)


def test_fill_targets_replaces_nan_only():
    y = np.array([[0.5, np.nan], [np.inf, 1.5]])
    filled = fill_targets(y)
    assert filled.tolist() == [[0.5, UNSAFE_RHO], [UNSAFE_RHO, 1.5]]
    assert np.isnan(y[0, 1])  # a copy


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # mlp: 50 epochs
@pytest.mark.parametrize("name", ALL_MODEL_NAMES)
def test_every_model_trains_and_predicts_one_column_per_action(tiny, name):
    result = train(tiny, name, test_chronics=[2], params=FAST.get(name))
    test = result.test
    pred = result.model.predict(test.X)
    assert isinstance(pred, pd.DataFrame)
    assert list(pred.columns) == tiny.action_names
    assert pred.index.equals(test.X.index)
    assert pred.shape == (len(test), len(tiny.action_names))
    assert pred.dtypes.eq(np.float64).all()
    assert np.isfinite(pred.to_numpy()).all()
    assert result.train_chronics == [0, 1] and result.test_chronics == [2]
    assert (result.train_rows, result.test_rows) == (40, 20)
    assert result.train_seconds >= 0 and result.path is None


def test_predict_keeps_the_index_and_reorders_columns(trained):
    X = trained.test.X
    shuffled = X[X.columns[::-1]].set_axis(range(100, 100 + len(X)), axis=0)
    pred = trained.model.predict(shuffled)
    assert list(pred.index) == list(range(100, 100 + len(X)))
    np.testing.assert_array_equal(pred.to_numpy(), trained.model.predict(X).to_numpy())
    from_array = trained.model.predict(X.to_numpy())
    assert isinstance(from_array.index, pd.RangeIndex)
    np.testing.assert_array_equal(from_array.to_numpy(), pred.to_numpy())


def test_mean_model_learns_from_the_training_chronics_only(tiny):
    result = train(tiny, "mean", test_chronics=[1])
    train_rows = tiny.select(tiny.meta["chronic"].isin([0, 2]).to_numpy())
    expected = fill_targets(train_rows.Y).mean(axis=0)
    np.testing.assert_allclose(result.model.estimator.constant_.ravel(), expected)
    pred = result.model.predict(result.test.X).to_numpy()
    np.testing.assert_allclose(pred, np.tile(expected, (len(result.test), 1)))


def test_nan_targets_are_learned_as_unsafe(tiny):
    # an action that diverged in every training state is predicted at the unsafe value
    y = tiny.Y.copy()
    y[tiny.action_names[1]] = np.nan
    ds = dataclasses.replace(tiny, Y=y)
    result = train(ds, "extra_trees", test_chronics=[2], params=FAST["extra_trees"])
    pred = result.model.predict(result.test.X)
    np.testing.assert_allclose(pred[tiny.action_names[1]], UNSAFE_RHO)


def test_action_conditioned_regressor_contract():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    Y = np.column_stack([X[:, 0], 2 * X[:, 1], np.zeros(60)])
    model = ActionConditionedRegressor(max_iter=50, random_state=0)
    assert model.get_params()["max_iter"] == 50  # __init__ stores parameters only
    assert model.fit(X, Y) is model
    assert (model.n_outputs_, model.n_features_in_) == (3, 3)
    pred = model.predict(X)
    assert pred.shape == (60, 3)
    # it learns which action is which: the per-action error is far below the targets' spread
    assert np.sqrt(np.mean((pred - Y) ** 2, axis=0)).max() < 0.5 * Y[:, 1].std()
    with pytest.raises(ValueError, match="max_bins"):
        ActionConditionedRegressor(max_bins=2).fit(X, Y)


def test_training_is_deterministic(tiny):
    a = train(tiny, "random_forest", test_chronics=[2], seed=3, params=FAST["random_forest"])
    b = train(tiny, "random_forest", test_chronics=[2], seed=3, params=FAST["random_forest"])
    c = train(tiny, "random_forest", test_chronics=[2], seed=4, params=FAST["random_forest"])
    pa, pb, pc = (r.model.predict(r.test.X).to_numpy() for r in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(pa, pc)


def test_split_drawn_from_the_seed(tiny):
    result = train(tiny, "mean", test_fraction=0.34, seed=0)
    assert len(result.test_chronics) == 1
    assert sorted(result.train_chronics + result.test_chronics) == [0, 1, 2]
    assert result.model.metadata["training"]["test_fraction"] == 0.34


def test_train_errors(tiny, tmp_path):
    with pytest.raises(InvalidOption, match="unknown model"):
        train(tmp_path / "nowhere", "gbm")  # the name is checked before the dataset
    with pytest.raises(DatasetError, match="does not exist"):
        train(tmp_path / "nowhere", "mean")
    with pytest.raises(InvalidOption, match="not in dataset"):
        train(tiny, "mean", test_chronics=[7])
    with pytest.raises(InvalidOption, match="all the chronics"):
        train(tiny, "mean", test_chronics=[0, 1, 2])
    with pytest.raises(InvalidOption, match="seed"):
        train(tiny, "mean", seed=-1)
    one = tiny.select(tiny.meta["chronic"].eq(0).to_numpy())
    with pytest.raises(DatasetError, match="at least 2"):
        train(one, "mean")


# ---------------------------------------------------------------------------------- persistence


def test_saved_model_round_trip(trained, tiny):
    folder = trained.path
    assert (folder / MODEL_FILE).is_file() and (folder / METADATA_FILE).is_file()
    loaded = load_model(folder)
    assert isinstance(loaded, Predictor)
    X = tiny.X
    np.testing.assert_array_equal(loaded.predict(X).to_numpy(), trained.model.predict(X).to_numpy())
    np.testing.assert_array_equal(
        loaded.baseline.predict(X.to_numpy()), trained.model.baseline.predict(X.to_numpy())
    )
    assert loaded.feature_names == list(tiny.X.columns)
    assert loaded.action_names == tiny.action_names
    # the file or the metadata can be named instead of the folder
    assert load_model(folder / MODEL_FILE).name == load_model(folder / METADATA_FILE).name
    # and so can its catalogue
    assert load_model(folder / "actions.json").action_names == tiny.action_names


def test_metadata_records_what_is_needed_to_reuse_the_model(trained, tiny):
    meta = json.loads((trained.path / METADATA_FILE).read_text())
    assert meta["model"] == "extra_trees"
    assert meta["features"] == list(tiny.X.columns)
    assert meta["actions"] == tiny.action_names
    assert meta["dataset"]["config_hash"] == tiny.manifest["config_hash"]
    assert meta["dataset"]["path"] == str(tiny.path)
    training = meta["training"]
    assert training["seed"] == 0
    assert (training["train_chronics"], training["test_chronics"]) == ([0, 1], [2])
    assert training["nan_target_fill"] == UNSAFE_RHO
    assert meta["params"] == {"n_estimators": 10}
    assert {"gridoracle", "scikit-learn", "numpy"} <= set(meta["versions"])
    assert len(meta["files"][MODEL_FILE]["sha256"]) == 64


def test_load_errors_are_one_line(trained, tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "missing")
    with pytest.raises(ModelError, match=r"no metadata\.json"):
        load_model(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    data = bytearray((trained.path / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / MODEL_FILE).write_bytes(bytes(data))
    (copy / METADATA_FILE).write_bytes((trained.path / METADATA_FILE).read_bytes())
    with pytest.raises(ModelError, match="corrupted") as exc:
        load_model(copy)
    assert "\n" not in str(exc.value)
    (copy / MODEL_FILE).unlink()
    with pytest.raises(ModelError, match="missing"):
        load_model(copy)
    (copy / METADATA_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="cannot read model metadata"):
        load_model(copy)
    (copy / METADATA_FILE).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ModelError, match="not gridoracle model metadata"):
        load_model(copy)


def test_features_mismatch_names_what_differs(trained):
    X = trained.test.X
    model = load_model(trained.path)
    with pytest.raises(ModelMismatch, match=r"lacks 1 of its features \(rho_3\)"):
        model.predict(X.drop(columns=["rho_3"]))
    with pytest.raises(ModelMismatch, match=r"has 1 it was not trained on \(extra\)"):
        model.predict(X.assign(extra=1.0))
    with pytest.raises(ModelMismatch, match="shape"):
        model.predict(X.to_numpy()[:, :-1])


def test_dataset_mismatch_names_what_differs(trained, tiny):
    model = load_model(trained.path)
    model.check_dataset(tiny)  # its own dataset
    renamed = tiny.Y.rename(columns={tiny.action_names[2]: "sub-99-0"})
    other_actions = dataclasses.replace(tiny, Y=renamed)
    with pytest.raises(ModelMismatch) as exc:
        model.check_dataset(other_actions)
    message = str(exc.value)
    assert f"lacks 1 of its actions ({tiny.action_names[2]})" in message
    assert "has 1 others (sub-99-0)" in message
    other_features = dataclasses.replace(tiny, X=tiny.X.rename(columns={"gen_p_0": "gen_p_x"}))
    with pytest.raises(ModelMismatch, match="gen_p_0"):
        model.check_dataset(other_features)
