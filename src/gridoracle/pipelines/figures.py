"""Every figure of a dataset and its models: ``gridoracle plot``.

:func:`plot` takes a :class:`PlotRequest` (folders, not loaded objects) and a
:class:`~gridoracle.progress.Progress`; :func:`make_plots` is the same on a loaded dataset and
models (what ``gridoracle run`` calls). The figures themselves are drawn by :mod:`gridoracle.plots`;
this module chooses the rows (:func:`figure_rows`), predicts, computes (and caches) the feature
importances and the regrets, and captions each figure for the report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridoracle import plots
from gridoracle.dataset.reader import Dataset
from gridoracle.dataset.split import check_chronics_in, format_chronics
from gridoracle.errors import InvalidOption
from gridoracle.io import atomic_write_json
from gridoracle.models.evaluate import recorded_time_split, same_environment
from gridoracle.models.importance import feature_importances
from gridoracle.models.metrics import DONOTHING, per_state_decisions
from gridoracle.models.persist import Predictor
from gridoracle.progress import SILENT, Progress
from gridoracle.report import ReportFigure

__all__ = ["PlotRequest", "figure_rows", "make_plots", "plot"]


@dataclass(frozen=True)
class PlotRequest:
    """The figures to draw (see :func:`plot`).

    Attributes
    ----------
    data : str or Path
        A dataset folder.
    out : Path
        Folder of the PNG files.
    models : sequence of path
        Model folders written by ``gridoracle train``.
    test_chronics : sequence of int, optional
        Rows of the model figures; default: the first model's test chronics, or every chronic.
    chronic : int, optional
        Chronic of the heat map; default: the first test chronic.
    worst : int
        Actions in the error box plots.
    seed : int
        Seed of the subsamples (scatter, permutation importance).
    """

    data: str | Path
    out: Path = Path("results/plots")
    models: Sequence[str | Path] = ()
    test_chronics: Sequence[int] | None = None
    chronic: int | None = None
    worst: int = 20
    seed: int = 0


def plot(request: PlotRequest, progress: Progress = SILENT) -> list[ReportFigure]:
    """Load the dataset and models of ``request`` and draw every figure; the figures written.

    Raises
    ------
    InvalidOption
        ``worst`` below 1, two models of the same name, a chronic not in the dataset (checked
        before any figure is drawn).
    """
    from gridoracle.dataset.reader import load
    from gridoracle.models.persist import load as load_model

    if request.worst < 1:
        raise InvalidOption(f"worst must be at least 1, got {request.worst}", param="worst")
    ds = load(request.data)
    predictors: dict[str, Predictor] = {}
    for folder in request.models:
        predictor = load_model(folder)
        name = predictor.name if predictor.name not in predictors else Path(folder).name
        if name in predictors:
            raise InvalidOption(
                f"model {folder}: a model named {name!r} is already given", param="model"
            )
        predictors[name] = predictor
    return make_plots(
        ds,
        request.out,
        models=predictors,
        test_chronics=request.test_chronics,
        chronic=request.chronic,
        worst=request.worst,
        seed=request.seed,
        progress=progress,
    )


def figure_rows(
    ds: Dataset, models: Mapping[str, Predictor], test_chronics: Sequence[int] | None
) -> tuple[Dataset, list[int]]:
    """The rows to draw model figures on, the same for every model.

    ``test_chronics`` when given; else the test chronics recorded by the first model when it was
    trained on this dataset (same config hash); else every chronic.

    Raises
    ------
    InvalidOption
        If a chronic is not in the dataset, or a model was trained on one of the chosen chronics.
    """
    available = ds.chronics
    digest = ds.manifest.get("config_hash")

    def training(p: Predictor) -> dict[str, Any]:
        same = (p.metadata.get("dataset") or {}).get("config_hash") == digest
        return (p.metadata.get("training") or {}) if same and digest else {}

    def trained_on(p: Predictor) -> set[int]:
        """The chronics of this environment the model saw, on this dataset or another one."""
        same = bool(digest) and (p.metadata.get("dataset") or {}).get("config_hash") == digest
        if same_environment(p, ds, same) is None:
            return set()
        return {int(c) for c in (p.metadata.get("training") or {}).get("train_chronics") or []}

    if test_chronics is None and models:
        specs = {name: training(p).get("split") or {"by": "chronic"} for name, p in models.items()}
        timed = [name for name, spec in specs.items() if spec.get("by") == "time"]
        if timed:
            first_name = timed[0]
            differ = [n for n, spec in specs.items() if spec != specs[first_name]]
            if differ:
                raise InvalidOption(
                    f"models {first_name} and {differ[0]} were trained on different splits of "
                    f"dataset {ds.path.name}: draw them separately"
                )
            rows = recorded_time_split(training(models[first_name]), ds)
            assert rows is not None
            test = ds.select(rows)
            return test, test.chronics
    if test_chronics is not None:
        wanted = sorted({int(c) for c in test_chronics})
    elif models:
        first = training(next(iter(models.values())))
        wanted = sorted(int(c) for c in first.get("test_chronics") or available)
    else:
        wanted = list(available)
    if test_chronics is None and models and not training(next(iter(models.values()))):
        seen_by_any = set().union(*(trained_on(p) for p in models.values()))
        wanted = [c for c in wanted if c not in seen_by_any]  # another dataset: the unseen ones
    check_chronics_in(ds, wanted, allow_empty=False)
    for name, predictor in models.items():
        seen = sorted(trained_on(predictor) & set(wanted))
        if seen:
            raise InvalidOption(
                f"model {name} was trained on chronic(s) {format_chronics(seen)} of these "
                f"test rows: choose test chronics among the chronics it did not see"
            )
    test = ds.select(ds.meta["chronic"].isin(wanted).to_numpy())
    return test, wanted


def _baseline_predictions(
    test: Dataset, models: Mapping[str, Predictor]
) -> dict[str, pd.DataFrame]:
    """Do nothing (always chooses ``donothing``) and the per-action mean saved with a model."""
    out: dict[str, pd.DataFrame] = {}
    names = test.action_names
    if DONOTHING in names:
        pred = np.ones((len(test), len(names)))
        pred[:, names.index(DONOTHING)] = 0.0
        out["donothing (baseline)"] = pd.DataFrame(pred, columns=names)
    if "mean" not in models:
        for predictor in models.values():
            if predictor.baseline is not None:
                X = test.X[predictor.feature_names].to_numpy(dtype=np.float64)
                values = np.asarray(predictor.baseline.predict(X), dtype=np.float64)
                out["mean (baseline)"] = pd.DataFrame(
                    values.reshape(len(test), -1), columns=predictor.action_names
                )[names]
                break
    return out


def _importances(
    predictor: Predictor, test: Dataset, cache: Path, *, rows: int, seed: int
) -> tuple[pd.Series, str]:
    """Feature importances of a model on the test rows, cached in ``cache`` (JSON).

    Permutation importance predicts thousands of shuffled rows (a minute for a slow model): the
    result is kept next to the figure with the key it was computed for (the model file's SHA-256,
    the dataset, the rows, the seed) and reused while the key matches.
    """
    from gridoracle import __version__

    entries = [e for e in (predictor.metadata.get("files") or {}).values() if isinstance(e, dict)]
    key: dict[str, Any] = {
        "model_sha256": entries[0].get("sha256") if entries else None,
        "dataset_config_hash": test.manifest.get("config_hash"),
        "chronics": test.chronics,
        "rows": int(rows),
        "repeats": 2,
        "seed": int(seed),
        "gridoracle": __version__,
    }
    if key["model_sha256"] is not None:
        try:
            saved = json.loads(cache.read_text(encoding="utf-8"))
            if saved.get("key") == key:
                values = pd.Series(saved["importances"], name="importance", dtype=float)
                return values.sort_values(ascending=False), str(saved["method"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    importances, method = feature_importances(
        predictor, test.X, test.Y, n_samples=rows, n_repeats=2, seed=seed
    )
    if key["model_sha256"] is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            cache,
            {"key": key, "method": method, "importances": importances.to_dict()},
        )
    return importances, method


def make_plots(
    ds: Dataset,
    out: str | Path,
    *,
    models: Mapping[str, Predictor] | None = None,
    detail: Sequence[str] | None = None,
    test_chronics: Sequence[int] | None = None,
    chronic: int | None = None,
    worst: int = 20,
    seed: int = 0,
    importance_rows: int = 200,
    progress: Progress = SILENT,
) -> list[ReportFigure]:
    """Draw every figure of a dataset and its models into the folder ``out``.

    Data figures: the distribution of max rho per action (every row) and the heat map of one
    chronic. Model figures, on the test rows (see :func:`figure_rows`): error box plots, predicted
    vs true and top-20 feature importances of each model in ``detail``, and one regret CDF of
    every model beside the do-nothing and per-action-mean baselines.

    Parameters
    ----------
    ds : Dataset
        The dataset (every chronic).
    out : str or Path
        Folder of the PNG files (created if needed).
    models : mapping of str to Predictor, optional
        Trained models by name (see :func:`gridoracle.models.load`).
    detail : sequence of str, optional
        Models that get the three per-model figures; default: all of ``models``.
    test_chronics : sequence of int, optional
        Rows of the model figures (default: the first model's test chronics).
    chronic : int, optional
        Chronic of the heat map; default: the first test chronic.
    worst : int, default 20
        Actions in the error box plots.
    seed : int, default 0
        Seed of subsamples (scatter, permutation importance).
    importance_rows : int, default 200
        Rows of the permutation importance (models without importances of their own). The result
        is cached next to the figure (``<model>_feature_importance.json``) for the same model
        file, rows and seed.
    progress : Progress, optional
        A ``stage`` with a short text before each figure.

    Returns
    -------
    list of ReportFigure
        The files written, with captions, in report order.

    Raises
    ------
    InvalidOption
        A test or heat-map chronic not in ``ds``, a model trained on a test chronic, ``worst``
        below 1: all checked before the first figure is drawn.
    """
    folder = Path(out)
    models = dict(models or {})
    detail_names = list(models) if detail is None else [d for d in detail if d in models]
    for predictor in models.values():
        predictor.check_dataset(ds)
    env = str((ds.manifest.get("config") or {}).get("env") or ds.path.name)
    test, chosen = figure_rows(ds, models, test_chronics)
    heat_chronic = chosen[0] if chronic is None else int(chronic)
    _check_drawable(ds, heat_chronic, worst)  # every input checked before the first figure
    figures = _data_figures(ds, folder, env, heat_chronic, progress)
    if not models:
        return figures
    where = f"test chronic{'s' if len(chosen) > 1 else ''} {format_chronics(chosen)}"
    truth = test.Y
    predictions = {name: p.predict(test.X)[truth.columns] for name, p in models.items()}
    for name in detail_names:
        progress.stage(f"figures of model {name}")
        figures += _model_figures(name, truth, predictions[name], folder, where, worst, seed)
        if name == "mean":
            continue  # a constant prediction: no feature matters
        cache = folder / f"{name}_feature_importance.json"
        importances, method = _importances(
            models[name], test, cache, rows=importance_rows, seed=seed
        )
        figures.append(
            ReportFigure(
                plots.plot_feature_importances(
                    importances,
                    folder / f"{name}_feature_importance.png",
                    label=name,
                    method=method,
                ),
                f"{name}: the 20 most important features ({method}).",
                "Models",
            )
        )
    progress.stage("figure: regret CDF")
    curves = {**predictions, **_baseline_predictions(test, models)}
    figures.append(_regret_figure(truth, curves, folder, where))
    return figures


def _check_drawable(ds: Dataset, chronic: int, worst: int) -> None:
    """Raise :class:`InvalidOption` for a heat-map chronic not in ``ds`` or ``worst`` below 1."""
    if chronic not in ds.chronics:
        raise InvalidOption(
            f"chronic {chronic} is not in dataset {ds.path.name}: available "
            f"{format_chronics(ds.chronics)}",
            param="chronic",
        )
    if worst < 1:
        raise InvalidOption(f"worst must be at least 1, got {worst}", param="worst")


def _data_figures(
    ds: Dataset, folder: Path, env: str, heat_chronic: int, progress: Progress
) -> list[ReportFigure]:
    """The distribution of max rho per action (every row) and the heat map of one chronic."""
    progress.stage("figure: max rho per action")
    distribution = ReportFigure(
        plots.plot_max_rho_distribution(
            ds.Y, folder / "data_max_rho_distribution.png", status=ds.status, label=env
        ),
        f"Distribution of max rho after each action over every state of {env} (all "
        "chronics), and how often each action diverges or is illegal.",
        "Dataset",
    )
    progress.stage(f"figure: heat map of chronic {heat_chronic}")
    heatmap = ReportFigure(
        plots.plot_rho_heatmap(
            ds.Y,
            ds.meta,
            heat_chronic,
            folder / f"data_heatmap_chronic_{heat_chronic}.png",
            label=env,
        ),
        f"Max rho after each action at each step of chronic {heat_chronic}.",
        "Dataset",
    )
    return [distribution, heatmap]


def _model_figures(
    name: str,
    truth: pd.DataFrame,
    pred: pd.DataFrame,
    folder: Path,
    where: str,
    worst: int,
    seed: int,
) -> list[ReportFigure]:
    """The error box plot and the predicted-vs-true scatter of one model."""
    label = f"{name}, {where}"
    boxplot = ReportFigure(
        plots.plot_error_boxplot(
            truth, pred, folder / f"{name}_error_boxplot.png", worst=worst, label=label
        ),
        f"{name}: prediction error of the {worst} actions with the largest RMSE ({where}).",
        "Models",
    )
    scatter = ReportFigure(
        plots.plot_pred_vs_true(
            truth, pred, folder / f"{name}_pred_vs_true.png", label=label, seed=seed
        ),
        f"{name}: predicted against true max rho, every (state, action) pair of {where}.",
        "Models",
    )
    return [boxplot, scatter]


def _regret_figure(
    truth: pd.DataFrame, curves: Mapping[str, pd.DataFrame], folder: Path, where: str
) -> ReportFigure:
    """One regret CDF of every model and baseline."""
    regrets = {
        name: per_state_decisions(truth, pred)["regret"].to_numpy() for name, pred in curves.items()
    }
    return ReportFigure(
        plots.plot_regret_cdf(regrets, folder / "regret_cdf.png", label=where),
        "Regret of the action each model chooses (the lowest predicted max rho): true max rho "
        "of that action minus the best one, with the penalty of the evaluation for a chosen "
        f"action that diverges ({where}).",
        "Models",
    )
