"""End-to-end pipelines: the figures of a dataset and its models, and ``gridoracle run``.

:func:`make_plots` draws every figure of :mod:`gridoracle.plots` for a dataset and trained models.
:func:`run_pipeline` is the whole demo on one environment: generate the dataset, split it by
chronic, train and evaluate the model zoo, draw the figures, optionally run the Oracle on one
chronic, and write ``<out>/report.html``.

Everything is cached, so that a second run with the same options takes seconds: the dataset by its
configuration (see :func:`gridoracle.dataset.generate.generate`), the trained models by the key
written to ``<out>/run.json`` (dataset config hash, models, seed, test chronics and versions).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridoracle import plots
from gridoracle.errors import InvalidOption
from gridoracle.parallel import SERIAL, Backend
from gridoracle.progress import SILENT
from gridoracle.progress import Progress as ProgressReporter
from gridoracle.report import ReportFigure

if TYPE_CHECKING:
    from gridoracle.dataset.generate import GenerateReport
    from gridoracle.dataset.reader import Dataset
    from gridoracle.models.persist import Predictor
    from gridoracle.oracle.pipeline import OracleReport

__all__ = [
    "DEFAULT_ENV",
    "RUN_FILE",
    "RunReport",
    "RunRequest",
    "figure_rows",
    "make_plots",
    "run",
    "run_pipeline",
]

log = logging.getLogger(__name__)

DEFAULT_ENV = "l2rpn_case14_sandbox"
RUN_FILE = "run.json"
"""The record of a run under its output folder; also the cache key of its trained models."""

_CACHE_VERSION = 1

Progress = Callable[[str], None]


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------


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
    from gridoracle.dataset.split import format_chronics

    available = ds.chronics
    digest = ds.manifest.get("config_hash")

    def training(p: Predictor) -> dict[str, Any]:
        same = (p.metadata.get("dataset") or {}).get("config_hash") == digest
        return (p.metadata.get("training") or {}) if same and digest else {}

    if test_chronics is None and models:
        from gridoracle.models.evaluate import recorded_time_split

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
    unknown = [c for c in wanted if c not in available]
    if unknown or not wanted:
        raise InvalidOption(
            f"test chronic(s) {unknown or wanted} not in dataset {ds.path.name}: "
            f"available {format_chronics(available)}"
        )
    for name, predictor in models.items():
        seen = sorted(set(training(predictor).get("train_chronics") or []) & set(wanted))
        if seen:
            raise InvalidOption(
                f"model {name} was trained on chronic(s) {format_chronics(seen)} of these "
                f"test rows: pass --test-chronics among the chronics it did not see"
            )
    test = ds.select(ds.meta["chronic"].isin(wanted).to_numpy())
    return test, wanted


def _baseline_predictions(
    test: Dataset, models: Mapping[str, Predictor]
) -> dict[str, pd.DataFrame]:
    """Do nothing (always chooses ``donothing``) and the per-action mean saved with a model."""
    from gridoracle.models.evaluate import DONOTHING

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
    from gridoracle.io import atomic_write_json

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
    importances, method = plots.feature_importances(
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
    progress: Progress | None = None,
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
    progress : callable, optional
        Called with a short text before each figure.

    Returns
    -------
    list of ReportFigure
        The files written, with captions, in report order.
    """
    from gridoracle.dataset.split import format_chronics
    from gridoracle.models.evaluate import per_state_decisions

    say = progress or (lambda text: None)
    folder = Path(out)
    models = dict(models or {})
    detail_names = list(models) if detail is None else [d for d in detail if d in models]
    for predictor in models.values():
        predictor.check_dataset(ds)
    env = str((ds.manifest.get("config") or {}).get("env") or ds.path.name)
    test, chosen = figure_rows(ds, models, test_chronics)
    where = f"test chronic{'s' if len(chosen) > 1 else ''} {format_chronics(chosen)}"
    figures: list[ReportFigure] = []

    say("figure: max rho per action")
    figures.append(
        ReportFigure(
            plots.plot_max_rho_distribution(
                ds.Y, folder / "data_max_rho_distribution.png", status=ds.status, label=env
            ),
            f"Distribution of max rho after each action over every state of {env} (all "
            "chronics), and how often each action diverges or is illegal.",
            "Dataset",
        )
    )
    heat_chronic = chosen[0] if chronic is None else int(chronic)
    say(f"figure: heat map of chronic {heat_chronic}")
    figures.append(
        ReportFigure(
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
    )
    if not models:
        return figures

    truth = test.Y
    predictions = {name: p.predict(test.X)[truth.columns] for name, p in models.items()}
    for name in detail_names:
        label = f"{name}, {where}"
        say(f"figures of model {name}")
        figures.append(
            ReportFigure(
                plots.plot_error_boxplot(
                    truth,
                    predictions[name],
                    folder / f"{name}_error_boxplot.png",
                    worst=worst,
                    label=label,
                ),
                f"{name}: prediction error of the {worst} actions with the largest RMSE ({where}).",
                "Models",
            )
        )
        figures.append(
            ReportFigure(
                plots.plot_pred_vs_true(
                    truth,
                    predictions[name],
                    folder / f"{name}_pred_vs_true.png",
                    label=label,
                    seed=seed,
                ),
                f"{name}: predicted against true max rho, every (state, action) pair of {where}.",
                "Models",
            )
        )
        if name == "mean":
            continue  # a constant prediction: no feature matters
        importances, method = _importances(
            models[name],
            test,
            folder / f"{name}_feature_importance.json",
            rows=importance_rows,
            seed=seed,
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
    say("figure: regret CDF")
    curves = {**predictions, **_baseline_predictions(test, models)}
    regrets = {
        name: per_state_decisions(truth, pred)["regret"].to_numpy() for name, pred in curves.items()
    }
    figures.append(
        ReportFigure(
            plots.plot_regret_cdf(regrets, folder / "regret_cdf.png", label=where),
            "Regret of the action each model chooses (the lowest predicted max rho): true max rho "
            "of that action minus the best one, with the penalty of the evaluation for a chosen "
            f"action that diverges ({where}).",
            "Models",
        )
    )
    return figures


# --------------------------------------------------------------------------------------------------
# The whole pipeline
# --------------------------------------------------------------------------------------------------


@dataclass
class RunReport:
    """What :func:`run_pipeline` did and where it wrote it."""

    dataset: Path
    generate: GenerateReport
    test_chronics: list[int]
    leaderboard: pd.DataFrame
    best_model: str
    model_paths: dict[str, Path]
    metrics: dict[str, dict[str, Any]]
    figures: list[ReportFigure]
    report_path: Path
    run_path: Path
    models_cached: bool
    oracle: OracleReport | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.timings.values()))


class _Steps:
    """Times named steps and reports them through ``progress``."""

    def __init__(self, progress: Progress | None) -> None:
        self.say = progress or (lambda text: None)
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.say(f"{name} ...")
        start = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - start
        self.say(f"{name}: {self.timings[name]:.1f} s")


def _cache_key(
    ds: Dataset, names: Sequence[str], seed: int, test_chronics: Sequence[int]
) -> dict[str, Any]:
    import sklearn

    from gridoracle import __version__

    return {
        "cache_version": _CACHE_VERSION,
        "dataset_config_hash": ds.manifest.get("config_hash"),
        "models": list(names),
        "seed": int(seed),
        "test_chronics": [int(c) for c in test_chronics],
        "gridoracle": __version__,
        "scikit-learn": sklearn.__version__,
    }


def _cached_models(
    out: Path, key: dict[str, Any], names: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, Path], dict[str, dict[str, Any]]] | None:
    """The leaderboard, model folders and metrics of a previous run with the same key, if any."""
    from gridoracle.models.persist import read_metadata

    try:
        record = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
        if record.get("key") != key:
            return None
        board = pd.read_csv(record["leaderboard_csv"])
        paths = {name: Path(record["models"][name]) for name in names}
        metrics = {}
        for name, path in paths.items():
            read_metadata(path)  # exists, right format
            metrics[name] = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, pd.errors.ParserError):
        return None
    except Exception as exc:  # a model folder that no longer loads: retrain
        log.info("cached models not reused: %s", exc)
        return None
    return board, paths, metrics


def _metrics_for_report(record: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar metrics of a model's evaluation record (per-action ones stay in the file)."""
    results = record.get("results") or {}
    entry = results.get("model") or {}
    reg = {k: v for k, v in (entry.get("regression") or {}).items() if k != "per_action"}
    timing = record.get("timing") or {}
    return {"regression": reg, "decision": entry.get("decision") or {}, "timing": timing}


def run_pipeline(
    *,
    env: str = DEFAULT_ENV,
    chronics: str = "all",
    max_steps: int = 575,
    n_actions: int = 100,
    models: str | Sequence[str] = "all",
    test_chronics: Sequence[int] | None = None,
    seed: int = 0,
    out: str | Path = "results",
    data_out: str | Path = "data",
    workers: int | None = None,
    oracle_actions: str | Path | None = None,
    oracle_chronic: str | int = 0,
    oracle_config: str | Path | None = None,
    oracle_max_iter: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
    generate_progress: Callable[[int, int], None] | None = None,
) -> RunReport:
    """Generate → split → train → evaluate → figures → (Oracle) → report, cached.

    Parameters
    ----------
    env : str, default "l2rpn_case14_sandbox"
        Environment name or folder.
    chronics : str, default "all"
        Chronics of the dataset (``"all"``, ``"0,1,2"``, ``"0-2"``).
    max_steps : int, default 575
        States per chronic at most.
    n_actions : int, default 100
        Actions of the dataset (do nothing included).
    models : "all", str or sequence of str
        Models of the zoo to train (see :func:`gridoracle.models.evaluate.parse_model_list`).
    test_chronics : sequence of int, optional
        Chronics held out for testing; default: the last chronic of the dataset.
    seed : int, default 0
        Seed of the dataset, the models and the figures.
    out : str or Path, default "results"
        Output folder: ``models/``, ``plots/``, ``oracle/``, ``report.html`` and ``run.json``.
    data_out : str or Path, default "data"
        Root folder of datasets.
    workers : int, optional
        Processes of the dataset generation (default: the number of cores).
    oracle_actions : str or Path, optional
        Unitary actions of the Oracle (any Oracle4Grid format); no Oracle without it. Oracle
        results already under ``<out>/oracle`` for this environment are shown in the report.
    oracle_chronic : int or str, default 0
        The Oracle's chronic.
    oracle_config : str or Path, optional
        The Oracle's settings (config.ini or .toml).
    oracle_max_iter : int, optional
        The Oracle's episode length; default ``max_steps``.
    force : bool, default False
        Retrain the models even when the cache matches (the dataset cache is kept).
    progress : callable, optional
        Called with a short text at the start and end of each step.
    generate_progress : callable, optional
        Progress of the dataset generation, ``(pairs_done, pairs_total)``.

    Returns
    -------
    RunReport

    Raises
    ------
    GridOracleError
        Any user error of the steps (unknown environment or model, bad chronics, ...).
    """
    from gridoracle.dataset import load
    from gridoracle.dataset.generate import generate
    from gridoracle.dataset.split import split_summary
    from gridoracle.io import atomic_write_json
    from gridoracle.models.evaluate import compare, parse_model_list
    from gridoracle.models.persist import load as load_model
    from gridoracle.report import dataset_summary, find_oracle_results, write_report

    names = parse_model_list(models)  # fail on a bad name before any work
    if n_actions < 2:
        raise InvalidOption(f"--actions {n_actions}: need at least 2 actions to choose from")
    if oracle_actions is not None and not Path(oracle_actions).is_file():
        raise InvalidOption(f"--oracle-actions {oracle_actions}: no such file")
    out = Path(out)
    steps = _Steps(progress)

    with steps("generate"):
        generated = generate(
            env,
            chronics=chronics,
            max_steps=max_steps,
            n_actions=n_actions,
            seed=seed,
            out=Path(data_out),
            workers=workers,
            progress=generate_progress,
        )
    with steps("load and split"):
        ds = load(generated.path)
        chosen = [ds.chronics[-1]] if test_chronics is None else list(test_chronics)
        train_ds, test_ds = ds.split(by="chronic", test_chronics=chosen)
        split = split_summary(train_ds, test_ds)

    key = _cache_key(ds, names, seed, test_ds.chronics)
    cached = None if force else _cached_models(out, key, names)
    with steps("models (cached)" if cached else "train and evaluate"):
        if cached is not None:
            board, paths, records = cached
        else:
            from threadpoolctl import threadpool_limits

            # One BLAS thread: the MLP's small matrix products gain nothing from more, and BLAS
            # threads that spin while another process holds a core made its fit 13x slower on a
            # busy 2-core machine (60 s instead of 4.7 s). Trees and boosting keep their threads.
            with threadpool_limits(limits=1, user_api="blas"):
                result = compare(
                    ds,
                    names,
                    out=out / "models",
                    test_chronics=test_ds.chronics,
                    seed=seed,
                    progress=lambda name, i, n: steps.say(f"  training {name} ({i + 1}/{n})"),
                )
            board, paths, records = result.leaderboard, result.model_paths, result.results
        ranked = [str(m) for m in board["model"] if m in names]  # best first
        best = next((m for m in ranked if m != "mean"), ranked[0] if ranked else names[0])
        predictors = {name: load_model(paths[name]) for name in names}
    with steps("figures"):
        figures = make_plots(
            ds,
            out / "plots",
            models=predictors,
            detail=[best],
            test_chronics=test_ds.chronics,
            seed=seed,
            progress=lambda text: steps.say(f"  {text}"),
        )
    oracle_report = None
    if oracle_actions is not None:
        with steps("oracle"):
            oracle_report = _run_oracle(
                env,
                oracle_chronic,
                Path(oracle_actions),
                oracle_config,
                max_iter=oracle_max_iter or max_steps,
                out=out / "oracle",
                seed=seed,
                progress=lambda text: steps.say(f"  {text}"),
            )
    report_path = out / "report.html"
    env_label = str((ds.manifest.get("config") or {}).get("env") or env)
    with steps("report"):
        metrics = {name: _metrics_for_report(records[name]) for name in names}
        write_report(
            report_path,
            title=f"gridoracle: {env_label}",
            subtitle=(
                f"dataset {ds.path.name}; test chronic(s) {', '.join(map(str, test_ds.chronics))}"
            ),
            dataset=dataset_summary(ds.manifest, ds.path),
            split=split,
            leaderboard=board,
            leaderboard_note=(
                "Test chronics only; sorted by mean regret, then RMSE. regret = true max rho of "
                "the action of lowest predicted max rho minus the best true max rho; baselines: "
                "do nothing and the per-action mean of the training targets. Highlighted: the "
                f"best model of the zoo ({best}), whose figures follow. Times measured on this "
                "machine."
            ),
            highlight=best,
            metrics=metrics,
            figures=figures,
            oracle=find_oracle_results(out / "oracle", env=env_label),
            notes=[
                f"Models: {', '.join(names)}, seed {seed}; folders under {out / 'models'}.",
                "Cached models reused." if cached else "Models trained in this run.",
            ],
        )
    record = {
        "key": key,
        "dataset": str(ds.path),
        "leaderboard_csv": str(out / "models" / "leaderboard.csv"),
        "models": {name: str(paths[name]) for name in names},
        "best_model": best,
        "report": str(report_path),
        "figures": [str(f.path) for f in figures],
        "oracle": None if oracle_report is None else str(oracle_report.folder),
        "seconds": steps.timings,
    }
    atomic_write_json(out / RUN_FILE, record)
    return RunReport(
        dataset=ds.path,
        generate=generated,
        test_chronics=test_ds.chronics,
        leaderboard=board,
        best_model=best,
        model_paths=paths,
        metrics=metrics,
        figures=figures,
        report_path=report_path,
        run_path=out / RUN_FILE,
        models_cached=cached is not None,
        oracle=oracle_report,
        timings=steps.timings,
    )


def _run_oracle(
    env: str,
    chronic: str | int,
    actions: Path,
    config_path: str | Path | None,
    *,
    max_iter: int,
    out: Path,
    seed: int,
    progress: Progress,
) -> OracleReport:
    from gridoracle.oracle.config import read_config
    from gridoracle.oracle.pipeline import run_oracle

    settings, warnings = read_config(config_path)
    for message in warnings:
        log.warning("%s", message)
    settings = settings.merge({"max_iter": max_iter, "output_path": str(out)})
    return run_oracle(env, chronic, actions, settings, out=out, seed=seed, progress=progress)


@dataclass(frozen=True)
class RunRequest:
    """The whole demo's options (see :func:`run` and :func:`run_pipeline`)."""

    env: str = DEFAULT_ENV
    chronics: str = "all"
    max_steps: int = 575
    n_actions: int = 100
    models: str | Sequence[str] = "all"
    test_chronics: Sequence[int] | None = None
    seed: int = 0
    out: Path = Path("results")
    data_out: Path = Path("data")
    oracle_actions: Path | None = None
    oracle_chronic: str | int = 0
    oracle_config: Path | None = None
    oracle_max_iter: int | None = None
    force: bool = False


def run(
    request: RunRequest, backend: Backend = SERIAL, progress: ProgressReporter = SILENT
) -> RunReport:
    """Generate → split → train → evaluate → figures → (Oracle) → report, cached.

    ``backend`` runs the dataset's units; ``progress`` gets a ``stage`` per step and the
    generation's ``advance``.
    """
    if request.max_steps < 1:
        raise InvalidOption(
            f"max_steps must be at least 1, got {request.max_steps}", param="max_steps"
        )
    return run_pipeline(
        env=request.env,
        chronics=request.chronics,
        max_steps=request.max_steps,
        n_actions=request.n_actions,
        models=request.models,
        test_chronics=request.test_chronics,
        seed=request.seed,
        out=request.out,
        data_out=request.data_out,
        workers=backend.workers if backend.is_local else None,
        oracle_actions=request.oracle_actions,
        oracle_chronic=request.oracle_chronic,
        oracle_config=request.oracle_config,
        oracle_max_iter=request.oracle_max_iter,
        force=request.force,
        progress=progress.stage,
        generate_progress=lambda done, total: progress.advance(done, total, "pairs"),
    )
