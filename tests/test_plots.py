"""Figures (gridoracle.plots): each writes a non-trivial PNG on tiny data; helpers are exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridoracle import plots
from gridoracle.errors import InvalidOption
from gridoracle.models import importance

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, *, min_colours: int = 20) -> None:
    """``path`` is a PNG with real content: decodable, not blank, many colours."""
    from matplotlib.image import imread

    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 150 and image.shape[1] > 150
    pixels = image.reshape(-1, image.shape[2])
    assert pixels.std() > 0.05, "the figure is (almost) blank"
    assert len(np.unique(pixels, axis=0)) >= min_colours
    assert not list(path.parent.glob(f".{path.name}.*.tmp")), "temporary file left behind"


@pytest.fixture(scope="module")
def tiny() -> dict[str, pd.DataFrame]:
    """12 states of 2 chronics x 6 actions, with a diverged pair, and a noisy prediction."""
    rng = np.random.default_rng(0)
    names = ["donothing", "sub-1-0", "sub-1-1", "sub-3-2", "line-4-off", "sub-5-7"]
    base = np.array([0.9, 0.8, 1.1, 0.95, 1.3, 0.7])
    y = base + rng.normal(0, 0.1, size=(12, 6))
    y[3, 4] = np.nan  # diverged
    status = np.zeros((12, 6), dtype=np.int8)
    status[3, 4] = 1
    Y = pd.DataFrame(y, columns=names)
    P = pd.DataFrame(np.nan_to_num(y, nan=1.0) + rng.normal(0, 0.05, size=y.shape), columns=names)
    meta = pd.DataFrame({"chronic": np.repeat([0, 1], 6), "step": np.tile(np.arange(6), 2)})
    return {"Y": Y, "P": P, "meta": meta, "status": pd.DataFrame(status, columns=names)}


def test_error_boxplot(tmp_path: Path, tiny: dict[str, pd.DataFrame]) -> None:
    out = plots.plot_error_boxplot(tiny["Y"], tiny["P"], tmp_path / "err.png", worst=4, label="m")
    assert out == tmp_path / "err.png"
    assert_png(out)


def test_error_boxplot_rejects_bad_input(tmp_path: Path, tiny: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(InvalidOption, match="worst"):
        plots.plot_error_boxplot(tiny["Y"], tiny["P"], tmp_path / "e.png", worst=0)
    with pytest.raises(ValueError, match="shape"):
        plots.plot_error_boxplot(tiny["Y"], tiny["P"].iloc[:3], tmp_path / "e.png")
    with pytest.raises(ValueError, match="no finite target"):
        plots.plot_error_boxplot(tiny["Y"] * np.nan, tiny["P"], tmp_path / "e.png")
    assert not (tmp_path / "e.png").exists()


def test_pred_vs_true_scatter_and_hexbin(tmp_path: Path, tiny: dict[str, pd.DataFrame]) -> None:
    assert_png(plots.plot_pred_vs_true(tiny["Y"], tiny["P"], tmp_path / "few.png", label="m"))
    rng = np.random.default_rng(1)
    t = pd.DataFrame(rng.uniform(0.5, 1.5, size=(600, 6)))
    p = t + rng.normal(0, 0.05, size=t.shape)
    assert_png(plots.plot_pred_vs_true(t, p, tmp_path / "many.png", max_points=3000))


def test_pred_vs_true_prints_the_leaderboards_r2_and_defines_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12 item 12: the R² of the figure is the leaderboard's, and the figure says what it is.

    Two actions of very different levels: the R² around one grand mean (0.99 here) is not the
    leaderboard's R² around each action's own mean (about 0.75).
    """
    from gridoracle.models.metrics import regression_metrics

    rng = np.random.default_rng(2)
    t = pd.DataFrame({"a": rng.normal(0.5, 0.05, 200), "b": rng.normal(1.5, 0.05, 200)})
    t.iloc[3, 1] = np.nan  # a diverged pair: left out of both
    p = t.fillna(2.0) + rng.normal(0, 0.025, size=t.shape)
    expected = regression_metrics(t, p)
    texts: list[str] = []
    save = plots.save_figure

    def keep_texts(fig, path):  # type: ignore[no-untyped-def]
        from matplotlib.text import Text

        texts.extend(x.get_text() for x in fig.findobj(Text))
        return save(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep_texts)
    assert_png(plots.plot_pred_vs_true(t, p, tmp_path / "r2.png", label="m"), min_colours=5)
    shown = "\n".join(texts)
    assert f"R² {expected['r2']:.4f}" in shown, shown
    assert f"RMSE {expected['rmse']:.4f}" in shown, shown
    assert "its action's mean" in shown and "as in the leaderboard" in shown, shown


def test_feature_importances_own(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 5)), columns=[f"f{i}" for i in range(5)])
    Y = pd.DataFrame({"a": 2 * X["f3"], "b": X["f3"] - 0.1 * X["f0"]})
    model = make_pipeline(StandardScaler(), RandomForestRegressor(20, random_state=0)).fit(X, Y)
    imp, how = importance.feature_importances(model, X)
    assert "own" in how
    assert imp.index[0] == "f3" and imp.sum() == pytest.approx(1.0)
    assert_png(plots.plot_feature_importances(imp, tmp_path / "imp.png", top=3, method=how))


def test_feature_importances_permutation_is_seeded_and_finds_the_feature() -> None:
    class OnlyF1:  # no fit, no feature_importances_: any object with predict works
        def predict(self, X: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({"a": 3.0 * X["f1"].to_numpy(), "b": np.zeros(len(X))})

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 4)), columns=["f0", "f1", "f2", "f3"])
    Y = OnlyF1().predict(X)
    Y.iloc[0, 1] = np.nan  # NaN targets are skipped, not propagated
    imp, how = importance.feature_importances(OnlyF1(), X, Y, n_samples=50, n_repeats=2, seed=3)
    again, _ = importance.feature_importances(OnlyF1(), X, Y, n_samples=50, n_repeats=2, seed=3)
    assert "shuffled" in how
    assert imp.index[0] == "f1" and imp["f1"] > 1.0
    assert imp.drop("f1").abs().max() == 0.0  # unused features change nothing
    pd.testing.assert_series_equal(imp, again)
    with pytest.raises(ValueError, match="pass Y"):
        importance.feature_importances(OnlyF1(), X)


def test_permutation_importances_batching_does_not_change_values() -> None:
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    w = np.array([1.0, -2.0, 0.5])

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return (frame.to_numpy() @ w)[:, None]

    Y = predict(X)
    one = importance.permutation_importances(predict, X, Y, n_repeats=2, seed=0, batch_rows=30)
    all_ = importance.permutation_importances(predict, X, Y, n_repeats=2, seed=0, batch_rows=10**6)
    np.testing.assert_allclose(one, all_)
    assert np.argmax(one) == 1


def test_permutation_importances_skip_constant_columns() -> None:
    rows_predicted = []

    def predict(frame: pd.DataFrame) -> np.ndarray:
        rows_predicted.append(len(frame))
        return (2.0 * frame["x"].to_numpy() + frame["k"].to_numpy())[:, None]

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=25), "k": np.full(25, 3.0)})
    values = importance.permutation_importances(predict, X, predict(X), n_repeats=3, seed=1)
    assert values[1] == 0.0 and values[0] > 0.5
    assert sum(rows_predicted[1:]) == 25 + 3 * 25  # the base, then x three times; never k


def test_regret_cdf(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    regrets = {
        "good": np.concatenate([np.zeros(30), rng.exponential(0.01, 20)]),
        "bad": rng.exponential(0.2, 50),
        "with nan": np.array([0.0, 0.1, np.nan]),
    }
    assert_png(plots.plot_regret_cdf(regrets, tmp_path / "cdf.png", label="test chronic 1"))
    with pytest.raises(ValueError, match="no model"):
        plots.plot_regret_cdf({}, tmp_path / "none.png")


def test_max_rho_distribution(tmp_path: Path, tiny: dict[str, pd.DataFrame]) -> None:
    out = plots.plot_max_rho_distribution(
        tiny["Y"], tmp_path / "dist.png", status=tiny["status"], label="tiny"
    )
    assert_png(out)
    assert_png(plots.plot_max_rho_distribution(tiny["Y"], tmp_path / "dist2.png"))


def test_rho_heatmap(tmp_path: Path, tiny: dict[str, pd.DataFrame]) -> None:
    assert_png(plots.plot_rho_heatmap(tiny["Y"], tiny["meta"], 1, tmp_path / "heat.png"))
    with pytest.raises(InvalidOption, match="chronic 7"):
        plots.plot_rho_heatmap(tiny["Y"], tiny["meta"], 7, tmp_path / "none.png")


def test_save_figure_creates_folder_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "f.png"
    fig = plots._figure(3, 2)
    fig.add_subplot().plot([0, 1], [1, 0])
    plots.save_figure(fig, target)
    first = target.read_bytes()
    fig = plots._figure(3, 2)
    fig.add_subplot().plot([0, 1], [0, 1], color="red")
    plots.save_figure(fig, target)
    assert target.read_bytes() != first
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.png"]
