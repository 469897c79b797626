"""The whole demo, ``gridoracle run``: generate → split → train → evaluate → figures → report.

:func:`run` takes a :class:`RunRequest`, a :class:`~gridoracle.parallel.Backend` (where the
dataset's units run) and a :class:`~gridoracle.progress.Progress` (a ``stage`` at the start and end
of each step, the generation's ``advance``). It generates the dataset, splits it by chronic, trains
and evaluates the model zoo, draws the figures (:mod:`gridoracle.pipelines.figures`), optionally
runs the Oracle on one chronic (:mod:`gridoracle.pipelines.oracle`), and writes
``<out>/report.html``.

Everything is cached, so that a second run with the same options takes seconds: the dataset by its
configuration (see :func:`gridoracle.pipelines.generate.generate`), the trained models by the key
written to ``<out>/run.json`` (dataset config hash, models, seed, test chronics and versions),
each model folder checked against that key before it is reused (another command, such as
``compare``, may have trained into it); the leaderboard is made again from the models reused.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gridoracle.dataset.reader import Dataset
from gridoracle.dataset.reader import load as load_dataset
from gridoracle.dataset.split import split_summary
from gridoracle.errors import InvalidOption
from gridoracle.io import atomic_write_json
from gridoracle.models.evaluate import METRICS_FILE
from gridoracle.models.leaderboard import leaderboard, write_leaderboard
from gridoracle.models.persist import Predictor, read_metadata
from gridoracle.models.persist import load as load_model
from gridoracle.models.zoo import parse_model_list
from gridoracle.parallel import SERIAL, Backend
from gridoracle.pipelines.figures import make_plots
from gridoracle.pipelines.generate import GenerateReport, GenerateRequest, generate
from gridoracle.pipelines.models import CompareRequest, compare
from gridoracle.pipelines.oracle import OracleReport, OracleRequest, read_config, run_oracle
from gridoracle.progress import SILENT, Progress
from gridoracle.report import (
    ReportFigure,
    dataset_summary,
    find_oracle_results,
    read_agents_section,
    write_report,
)

__all__ = ["DEFAULT_ENV", "RUN_FILE", "RunReport", "RunRequest", "run", "run_pipeline"]

log = logging.getLogger(__name__)

DEFAULT_ENV = "l2rpn_case14_sandbox"
RUN_FILE = "run.json"
"""The record of a run under its output folder; also the cache key of its trained models."""


@dataclass(frozen=True)
class RunRequest:
    """The whole demo's options (see :func:`run`).

    Attributes
    ----------
    env : str
        Environment name or folder.
    chronics : str
        Chronics of the dataset (``"all"``, ``"0,1,2"``, ``"0-2"``).
    max_steps : int
        States per chronic at most.
    n_actions : int
        Actions of the dataset (do nothing included).
    models : "all", str or sequence of str
        Models of the zoo to train (see :func:`gridoracle.models.zoo.parse_model_list`).
    test_chronics : sequence of int, optional
        Chronics held out for testing; default: the last chronic of the dataset.
    seed : int
        Seed of the dataset, the models and the figures.
    out : Path
        Output folder: ``models/``, ``plots/``, ``oracle/``, ``report.html`` and ``run.json``.
    data_out : Path
        Root folder of datasets.
    oracle_actions : Path, optional
        Unitary actions of the Oracle (any Oracle4Grid format); no Oracle without it (and no
        Oracle section in the report: earlier Oracle outputs are not this run's).
    oracle_chronic : int or str
        The Oracle's chronic.
    oracle_config : Path, optional
        The Oracle's settings (config.ini or .toml).
    oracle_max_iter : int, optional
        The Oracle's episode length; default ``max_steps``.
    force : bool
        Retrain the models even when the cache matches (the dataset cache is kept).
    """

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


@dataclass
class RunReport:
    """What :func:`run` did and where it wrote it."""

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


def run(request: RunRequest, backend: Backend = SERIAL, progress: Progress = SILENT) -> RunReport:
    """Generate → split → train → evaluate → figures → (Oracle) → report, cached.

    ``backend`` runs the dataset's units; ``progress`` gets a ``stage`` per step and the
    generation's ``advance``.

    Returns
    -------
    RunReport

    Raises
    ------
    GridOracleError
        Any user error of the steps (unknown environment or model, bad chronics, ...).
    """
    if request.max_steps < 1:
        raise InvalidOption(
            f"max_steps must be at least 1, got {request.max_steps}", param="max_steps"
        )
    return run_pipeline(request, backend, progress)


def run_pipeline(
    request: RunRequest, backend: Backend = SERIAL, progress: Progress = SILENT
) -> RunReport:
    """The steps of :func:`run` (which checks ``max_steps`` first), each timed in ``run.json``."""
    names = _check_request(request)
    out = Path(request.out)
    steps = _Steps(progress)
    with steps("generate"):
        generated = generate(_generate_request(request), backend, progress)
    with steps("load and split"):
        ds = load_dataset(generated.path)
        chosen = [ds.chronics[-1]] if request.test_chronics is None else request.test_chronics
        train_ds, test_ds = ds.split(by="chronic", test_chronics=list(chosen))
        split = split_summary(train_ds, test_ds)
    key = _cache_key(ds, names, request.seed, test_ds.chronics)
    cached = None if request.force else _cached_models(out, key, names)
    with steps("models (cached)" if cached else "train and evaluate"):
        if cached is not None:
            paths, records, predictors = cached
            # this run's leaderboard, from this run's models (not what another command left)
            board = leaderboard(names, records)
            write_leaderboard(board, out / "models", _split_record(ds, key))
        else:
            board, paths, records = _train_models(ds, names, test_ds.chronics, request, progress)
            predictors = {name: load_model(paths[name]) for name in names}
        ranked = [str(m) for m in board["model"] if m in names]  # best first
        best = next((m for m in ranked if m != "mean"), ranked[0] if ranked else names[0])
    with steps("figures"):
        figures = make_plots(
            ds,
            out / "plots",
            models=predictors,
            detail=[best],
            test_chronics=test_ds.chronics,
            seed=request.seed,
            progress=_Indented(progress),
        )
    oracle_report = None
    if request.oracle_actions is not None:
        with steps("oracle"):
            oracle_report = _run_oracle(request, out / "oracle", _Indented(progress))
    report_path = out / "report.html"
    with steps("report"):
        metrics = {name: _metrics_for_report(records[name]) for name in names}
        _write_report(
            report_path,
            request,
            ds,
            test_ds.chronics,
            split,
            board,
            best,
            metrics,
            figures,
            cached=cached is not None,
            oracle=oracle_report,
        )
    report = RunReport(
        dataset=ds.path,
        generate=generated,
        test_chronics=test_ds.chronics,
        leaderboard=board,
        best_model=best,
        model_paths={name: paths[name] for name in names},
        metrics=metrics,
        figures=figures,
        report_path=report_path,
        run_path=out / RUN_FILE,
        models_cached=cached is not None,
        oracle=oracle_report,
        timings=steps.timings,
    )
    atomic_write_json(report.run_path, _run_record(report, key, out))
    return report


def _check_request(request: RunRequest) -> list[str]:
    """The models of ``request``, after checking the options that fail before any work."""
    names = parse_model_list(request.models)
    if request.n_actions < 2:
        raise InvalidOption(
            f"n_actions {request.n_actions}: need at least 2 actions to choose from",
            param="n_actions",
        )
    if request.oracle_actions is not None and not Path(request.oracle_actions).is_file():
        raise InvalidOption(
            f"oracle_actions {request.oracle_actions}: no such file", param="oracle_actions"
        )
    return names


def _generate_request(request: RunRequest) -> GenerateRequest:
    """The dataset of a run: every line's rho too (the default model, ``line_flows``, learns each
    line's flow); the generation's other options keep their defaults."""
    return GenerateRequest(
        request.env,
        chronics=request.chronics,
        max_steps=request.max_steps,
        n_actions=request.n_actions,
        targets="full",
        seed=request.seed,
        out=Path(request.data_out),
    )


def _run_record(report: RunReport, key: dict[str, Any], out: Path) -> dict[str, Any]:
    """``run.json``: the cache key of the models and where everything of the run is."""
    return {
        "key": key,
        "dataset": str(report.dataset),
        "leaderboard_csv": str(out / "models" / "leaderboard.csv"),
        "models": {name: str(path) for name, path in report.model_paths.items()},
        "best_model": report.best_model,
        "report": str(report.report_path),
        "figures": [str(f.path) for f in report.figures],
        "oracle": None if report.oracle is None else str(report.oracle.folder),
        "seconds": report.timings,
    }


class _Steps:
    """Times named steps and reports them through ``progress.stage``."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.progress.stage(f"{name} ...")
        start = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - start
        self.progress.stage(f"{name}: {self.timings[name]:.1f} s")


class _Indented:
    """The stages of a sub-step, indented under the step's own line; advances as they are."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def stage(self, text: str) -> None:
        self.progress.stage(f"  {text}")

    def advance(self, done: int, total: int, label: str = "") -> None:
        self.progress.advance(done, total, label)


class _TrainingLines(_Indented):
    """A model comparison's ``advance`` (before each model) as one indented stage line."""

    def advance(self, done: int, total: int, label: str = "") -> None:
        self.progress.stage(f"  training {label} ({done + 1}/{total})")


def _train_models(
    ds: Dataset,
    names: Sequence[str],
    test_chronics: Sequence[int],
    request: RunRequest,
    progress: Progress,
) -> tuple[pd.DataFrame, dict[str, Path], dict[str, dict[str, Any]]]:
    """Train and evaluate ``names`` on the test chronics: leaderboard, model folders, records."""
    from threadpoolctl import threadpool_limits

    # One BLAS thread: the MLP's small matrix products gain nothing from more, and BLAS
    # threads that spin while another process holds a core made its fit 13x slower on a
    # busy 2-core machine (60 s instead of 4.7 s). Trees and boosting keep their threads.
    with threadpool_limits(limits=1, user_api="blas"):
        result = compare(
            CompareRequest(
                ds,
                names,
                out=Path(request.out) / "models",
                test_chronics=list(test_chronics),
                seed=request.seed,
            ),
            _TrainingLines(progress),
        )
    return result.leaderboard, result.model_paths, result.results


_CACHE_VERSION = 1
"""Version of the models' cache key in ``run.json`` (a new one retrains)."""


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


def _split_record(ds: Dataset, key: Mapping[str, Any]) -> dict[str, Any]:
    """The split ``leaderboard.json`` records (as :func:`~gridoracle.pipelines.models.compare`)."""
    return {
        "dataset": {"path": str(ds.path), "config_hash": key["dataset_config_hash"]},
        "test_chronics": key["test_chronics"],
        "split_by": "chronic",
        "gap": None,
        "seed": key["seed"],
    }


def _stale(name: str, metadata: Mapping[str, Any], metrics: Mapping[str, Any], key: Any) -> str:
    """Why a model folder is not the model ``key`` needs (``""`` when it is)."""
    training = metadata.get("training") or {}
    checks = {
        "model": (metadata.get("model"), name),
        "dataset": ((metadata.get("dataset") or {}).get("config_hash"), key["dataset_config_hash"]),
        "seed": (training.get("seed"), key["seed"]),
        "test chronics": (training.get("test_chronics"), key["test_chronics"]),
        "split": ((training.get("split") or {}).get("by", "chronic"), "chronic"),
        "scikit-learn": ((metadata.get("versions") or {}).get("scikit-learn"), key["scikit-learn"]),
        "metrics' model": (metrics.get("model"), name),
        "metrics' dataset": (
            (metrics.get("dataset") or {}).get("config_hash"),
            key["dataset_config_hash"],
        ),
        "metrics' test chronics": (metrics.get("test_chronics"), key["test_chronics"]),
    }
    return ", ".join(what for what, (found, wanted) in checks.items() if found != wanted)


def _cached_models(
    out: Path, key: dict[str, Any], names: Sequence[str]
) -> tuple[dict[str, Path], dict[str, dict[str, Any]], dict[str, Predictor]] | None:
    """The model folders, metrics and models of a previous run with the same key, if every one
    is still the model this run needs (another command may have trained into the folder)."""
    try:
        record = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
        if record.get("key") != key:
            return None
        paths = {name: Path(record["models"][name]) for name in names}
        metrics, predictors = {}, {}
        for name, path in paths.items():
            metadata = read_metadata(path)  # exists, right format
            metrics[name] = json.loads((path / METRICS_FILE).read_text(encoding="utf-8"))
            stale = _stale(name, metadata, metrics[name], key)
            if stale:
                log.info("cached model %s not reused: its %s differ from this run's", name, stale)
                return None
            predictors[name] = load_model(path)  # and the model file is the one recorded
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    except Exception as exc:  # a model folder that no longer loads: retrain
        log.info("cached models not reused: %s", exc)
        return None
    return paths, metrics, predictors


def _metrics_for_report(record: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar metrics of a model's evaluation record (per-action ones stay in the file)."""
    results = record.get("results") or {}
    entry = results.get("model") or {}
    reg = {k: v for k, v in (entry.get("regression") or {}).items() if k != "per_action"}
    timing = record.get("timing") or {}
    return {"regression": reg, "decision": entry.get("decision") or {}, "timing": timing}


def _run_oracle(request: RunRequest, out: Path, progress: Progress) -> OracleReport:
    """The Oracle on ``request.oracle_chronic``, its outputs under ``out``."""
    assert request.oracle_actions is not None
    settings, warnings = read_config(request.oracle_config)
    for message in warnings:
        log.warning("%s", message)
    max_iter = request.oracle_max_iter or request.max_steps
    settings = settings.merge({"max_iter": max_iter, "output_path": str(out)})
    oracle_request = OracleRequest(
        request.env,
        request.oracle_chronic,
        Path(request.oracle_actions),
        settings,
        out=out,
        seed=request.seed,
    )
    return run_oracle(oracle_request, SERIAL, progress)


def _write_report(
    path: Path,
    request: RunRequest,
    ds: Dataset,
    test_chronics: Sequence[int],
    split: list[dict[str, Any]],
    board: pd.DataFrame,
    best: str,
    metrics: dict[str, dict[str, Any]],
    figures: list[ReportFigure],
    *,
    cached: bool,
    oracle: OracleReport | None,
) -> None:
    """``report.html``: the dataset, the split, the leaderboard, the figures and the Oracle.

    Only what this run produced or verified: the Oracle's section holds this run's Oracle
    outputs, none without an Oracle in this run (earlier ones under ``<out>/oracle`` are not
    shown as this run's).
    """
    out = Path(request.out)
    names = list(metrics)
    env_label = str((ds.manifest.get("config") or {}).get("env") or request.env)
    # `gridoracle agents evaluate --out <out>/agents` (a separate command): shown when present
    agents = read_agents_section(out / "agents")
    write_report(
        path,
        title=f"gridoracle: {env_label}",
        subtitle=f"dataset {ds.path.name}; test chronic(s) {', '.join(map(str, test_chronics))}",
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
        oracle=[] if oracle is None else find_oracle_results(oracle.folder, env=env_label),
        agents=agents,
        notes=[
            f"Models: {', '.join(names)}, seed {request.seed}; folders under {out / 'models'}.",
            (
                "Cached models reused (each checked against this run's dataset, seed and test "
                "chronics)."
                if cached
                else "Models trained in this run."
            ),
            *([] if oracle is not None else ["No Oracle in this run (no Oracle actions given)."]),
            *(
                []
                if agents is None
                else [
                    f"Agents: the results found in {out / 'agents'}, written by gridoracle "
                    "agents evaluate (not by this run)."
                ]
            ),
        ],
    )
