"""``gridoracle train``, ``evaluate`` and ``compare``: models of the zoo on a dataset's split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridoracle.cli import render
from gridoracle.cli.options import (
    DEFAULT_GAP,
    TEST_CHRONICS_HELP,
    ConfigHash,
    Data,
    DataHorizon,
    Gap,
    Quiet,
    Seed,
    SplitBy,
    TestFraction,
    chronic_list,
    dataset_folder,
    out_option,
    test_chronics_option,
)
from gridoracle.cli.progress import terminal_progress

TestChronics = Annotated[str | None, test_chronics_option(TEST_CHRONICS_HELP)]


def held_out(split_by: str, test_fraction: float, chronics: list[int]) -> str:
    """How the test side of a split is described in the output of train and compare."""
    if split_by == "time":
        return f"the last {test_fraction:g} of chronic(s) {render.chronics(chronics)}"
    return f"test chronic(s) {render.chronics(chronics)}"


def train_cmd(
    data: Data,
    horizon: DataHorizon = None,
    config_hash: ConfigHash = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="mean, ridge, random_forest, extra_trees, hist_gradient_boosting, mlp, "
            "line_flows, line_flows_trees, topology_flows, flow_boost (or action_conditioned) "
            "[default: line_flows; "
            "random_forest on a dataset generated without --targets full].",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        out_option("Model folder to write [default: models/MODEL].", show_default=False),
    ] = None,
    test_chronics: TestChronics = None,
    test_fraction: TestFraction = 0.25,
    seed: Seed = 0,
    split_by: SplitBy = "chronic",
    gap: Gap = DEFAULT_GAP,
    quiet: Quiet = False,
) -> None:
    """Train a model of the zoo on the training chronics of a dataset and save it.

    The dataset is split by chronic (or by time, --split-by time); the model sees the training
    side only. Targets of diverged or illegal pairs are learned as max rho 2.0 (ranked last).

    Without --model: line_flows (per-line linear models, the best of the cross-validation on the
    training chronics, see README), or random_forest when the dataset holds max rho only.

    Writes model.joblib and metadata.json (features, actions, dataset hash, split, seed, versions)
    into the --out folder.

    Example: gridoracle train --data data/ --model extra_trees --test-chronics 2
    """
    from gridoracle.pipelines.models import TrainRequest, train

    request = TrainRequest(
        data=dataset_folder(data, horizon, config_hash),
        model=model,
        out=out,
        test_chronics=chronic_list(test_chronics),
        test_fraction=test_fraction,
        seed=seed,
        split_by=split_by,
        gap=gap,
    )
    with terminal_progress(quiet) as progress:
        result = train(request, progress)
    render.trained(
        result, result.name, data, held_out(split_by, test_fraction, result.test_chronics)
    )


def evaluate_cmd(
    model: Annotated[Path, typer.Option(help="Model folder (written by gridoracle train).")],
    data: Data,
    horizon: DataHorizon = None,
    config_hash: ConfigHash = None,
    test_chronics: Annotated[
        str | None,
        test_chronics_option(
            "Chronics to evaluate on [default: the model's test chronics on its own dataset, "
            "every chronic on another one]."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        out_option(
            "Metrics file to write [default: metrics.json in the model folder].",
            show_default=False,
        ),
    ] = None,
    record: Annotated[
        bool | None,
        typer.Option(
            "--record/--no-record",
            help="Record the summary in the model's metadata.json [default: only without --out].",
            show_default=False,
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Evaluate a model on test chronics: regression and decision quality, beside two baselines.

    Regression: RMSE, MAE, R² on the pairs with a finite max rho.

    Decisions (choosing the action of lowest predicted max rho): top-1 accuracy, mean and p95
    regret, top-k recall; overload (max rho above 1) precision, recall and F1 per pair.

    Baselines: do nothing, and the per-action mean of the training targets.

    Writes metrics.json (per-action metrics included). Without --out (or with --record) it also
    records the summary in the model's metadata.json; with --out the model folder is left as it is.

    On another dataset of the model's environment, the chronics it was trained on are refused,
    and by default it is evaluated on the others.

    Example: gridoracle evaluate --model models/extra_trees --data data/
    """
    from gridoracle.pipelines.models import EvaluateRequest, evaluate

    request = EvaluateRequest(
        model=model,
        data=dataset_folder(data, horizon, config_hash),
        test_chronics=chronic_list(test_chronics),
        out=out,
        record=record,
    )
    with terminal_progress(quiet) as progress:
        metrics = evaluate(request, progress)
    render.evaluation(metrics)


def compare_cmd(
    data: Data,
    horizon: DataHorizon = None,
    config_hash: ConfigHash = None,
    models: Annotated[
        str, typer.Option(help="all (the zoo), or names such as ridge,extra_trees.")
    ] = "all",
    out: Annotated[
        Path, out_option("Folder of the model folders and leaderboard.csv/json.")
    ] = Path("models"),
    test_chronics: TestChronics = None,
    test_fraction: TestFraction = 0.25,
    seed: Seed = 0,
    split_by: SplitBy = "chronic",
    gap: Gap = DEFAULT_GAP,
    quiet: Quiet = False,
) -> None:
    """Train and evaluate several models on one split and print one leaderboard.

    Rows: each model and the baselines (do nothing, per-action mean), sorted by mean regret on the
    test chronics. Columns: RMSE, MAE, R², top-1 accuracy, mean and p95 regret, top-5 recall,
    overload F1, training seconds and prediction µs per state (batch).

    Writes one folder per model, leaderboard.csv and leaderboard.json into the --out folder.

    Example: gridoracle compare --data data/ --test-chronics 2
    """
    from gridoracle.pipelines.models import CompareRequest, compare, parse_model_list

    request = CompareRequest(
        data=dataset_folder(data, horizon, config_hash),
        models=parse_model_list(models),  # an unknown name fails before the dataset is read
        out=out,
        test_chronics=chronic_list(test_chronics),
        test_fraction=test_fraction,
        seed=seed,
        split_by=split_by,
        gap=gap,
    )
    with terminal_progress(quiet, "training and evaluating") as progress:
        result = compare(request, progress)
    render.compared(result, held_out(split_by, test_fraction, result.test_chronics))
