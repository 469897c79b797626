"""``gridoracle run`` (the whole pipeline, cached) and ``gridoracle plot`` (its figures)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridoracle.cli import render
from gridoracle.cli.options import (
    DEFAULT_ENV,
    ConfigHash,
    Data,
    DataHorizon,
    Env,
    Quiet,
    Seed,
    Workers,
    chronic_list,
    dataset_folder,
    optional,
    out_option,
    test_chronics_option,
)
from gridoracle.cli.progress import terminal_progress


def plot_cmd(
    data: Data,
    horizon: DataHorizon = None,
    config_hash: ConfigHash = None,
    model: Annotated[
        list[Path] | None,
        typer.Option(
            help="Model folder (gridoracle train); repeat for several models.",
            metavar="<path>",
            show_default=False,
        ),
    ] = None,
    out: Annotated[Path, out_option("Folder of the PNG files.")] = Path("results/plots"),
    test_chronics: Annotated[
        str | None,
        test_chronics_option(
            "Rows of the model figures, e.g. 2 or 2,3 [default: the first model's test "
            "chronics, or every chronic without a model]."
        ),
    ] = None,
    chronic: Annotated[
        int | None,
        optional("Chronic of the heat map [default: the first test chronic]."),
    ] = None,
    worst: Annotated[int, typer.Option(help="Actions in the error box plots.")] = 20,
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Draw the figures of a dataset and of trained models (PNG, titled and labelled).

    Dataset: max rho per action (distribution) and a heat map of max rho per action over one
    chronic. Each model: error box plots of the worst actions, predicted vs true, top-20 feature
    importances (permutation importance when the model has none). All models: the regret CDF beside
    the do-nothing and per-action-mean baselines.

    Example: gridoracle plot --data data/ --model results/models/extra_trees --out results/plots
    """
    from gridoracle.pipelines.figures import PlotRequest, plot

    request = PlotRequest(
        data=dataset_folder(data, horizon, config_hash),
        out=out,
        models=tuple(model or ()),
        test_chronics=chronic_list(test_chronics),
        chronic=chronic,
        worst=worst,
        seed=seed,
    )
    with terminal_progress(quiet) as progress:
        written = plot(request, progress)
    render.figures(written, out)


def run_cmd(
    env: Env = DEFAULT_ENV,
    chronics: Annotated[str, typer.Option(help="Chronics of the dataset: all, 0-2.")] = "all",
    max_steps: Annotated[int, typer.Option(help="States per chronic at most.")] = 575,
    actions: Annotated[int, typer.Option(help="Actions of the dataset (do nothing too).")] = 100,
    models: Annotated[str, typer.Option(help="all, or names such as ridge,extra_trees.")] = "all",
    test_chronics: Annotated[
        str | None, test_chronics_option("Chronics held out for testing [default: the last one].")
    ] = None,
    seed: Seed = 0,
    out: Annotated[Path, out_option("Models, figures, Oracle outputs and report.html.")] = Path(
        "results"
    ),
    data_out: Annotated[Path, typer.Option(help="Root folder of datasets.")] = Path("data"),
    workers: Workers = None,
    oracle_actions: Annotated[
        Path | None,
        optional("Also run the Oracle with these unitary actions (Oracle4Grid formats)."),
    ] = None,
    oracle_chronic: Annotated[str, typer.Option(help="The Oracle's chronic.")] = "0",
    oracle_config: Annotated[
        Path | None,
        optional("The Oracle's settings (config.ini or .toml)."),
    ] = None,
    oracle_max_iter: Annotated[
        int | None,
        optional("The Oracle's episode length [default: --max-steps]."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Retrain the models even if cached.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """The whole pipeline: generate, split by chronic, train and evaluate the zoo, figures, report.

    Ends with the leaderboard (test chronics) and the path of OUT/report.html (OUT: --out), one
    page that opens offline. With --oracle-actions it also runs the Oracle on one chronic and puts
    its KPIs in the report. Cached: the dataset by its configuration, the models by dataset,
    models, seed and test chronics (see OUT/run.json); a second run takes seconds.

    Example: gridoracle run --oracle-actions examples/actions/l2rpn_case14_sandbox/reference.json
    --oracle-config examples/config.ini
    """
    from gridoracle.pipelines.backend import Backend
    from gridoracle.pipelines.run import RunRequest, run

    request = RunRequest(
        env=env,
        chronics=chronics,
        max_steps=max_steps,
        n_actions=actions,
        models=models,
        test_chronics=chronic_list(test_chronics),
        seed=seed,
        out=out,
        data_out=data_out,
        oracle_actions=oracle_actions,
        oracle_chronic=oracle_chronic,
        oracle_config=oracle_config,
        oracle_max_iter=oracle_max_iter,
        force=force,
    )
    backend = Backend.from_options(workers=workers)
    with terminal_progress(quiet) as progress:
        report = run(request, backend, progress)
    render.run_report(report, f"test chronic(s) {render.chronics(report.test_chronics)}")
