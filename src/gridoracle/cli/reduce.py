"""``gridoracle actions reduce``: the actions of a dataset that are best, or nearly, somewhere."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gridoracle.cli import render
from gridoracle.cli.options import (
    ConfigHash,
    Data,
    DataHorizon,
    Quiet,
    chronic_list,
    dataset_folder,
)
from gridoracle.cli.progress import terminal_progress

if TYPE_CHECKING:
    from gridoracle.pipelines.reduce import ReduceReport


def actions_reduce_cmd(
    data: Data,
    keep: Annotated[int, typer.Option(help="Actions to keep, donothing included.")],
    out: Annotated[
        Path,
        typer.Option(
            help="Catalogue file to write (JSON, replaced atomically); its folder must exist."
        ),
    ],
    margin: Annotated[
        float,
        typer.Option(help="An action covers a state when its max rho is within this of the best."),
    ] = 0.01,
    chronics: Annotated[
        str | None,
        typer.Option(
            help="Cover the states of these chronics only (e.g. the training ones) [default: all].",
            show_default=False,
        ),
    ] = None,
    horizon: DataHorizon = None,
    config_hash: ConfigHash = None,
    quiet: Quiet = False,
) -> None:
    """Keep the actions that are best, or within --margin of the best, in some state of a dataset.

    A greedy set cover over the dataset's states: donothing first, then each time the action
    that covers the most states not yet covered; once every state is covered, the action that
    lowers the regret of the best kept action most. The catalogue keeps the dataset's order and
    records the cover in its extra; gridoracle generate --actions-file reads it.

    Prints what share of the states keeps an action within each margin of the best, and the
    mean regret of the best kept action against the whole catalogue.

    Example: gridoracle actions reduce --data data/ --keep 20 --out results/reduced.json
    """
    from gridoracle.pipelines.reduce import ReduceRequest, reduce_catalogue

    request = ReduceRequest(
        data=dataset_folder(data, horizon, config_hash),
        out=out,
        keep=keep,
        margin=margin,
        chronics=chronic_list(chronics),
    )
    with terminal_progress(quiet) as progress:
        report = reduce_catalogue(request, progress)
    _print_reduced(report)


def _print_reduced(report: ReduceReport) -> None:
    """The kept actions, the coverage at each margin and the regret of the best kept action."""
    r = report.reduction
    render.line(
        f"kept {len(r.kept)} of {report.available} actions for {report.env_label} "
        f"(states of chronic(s) {render.chronics(report.chronics)}): {report.path}"
    )
    if len(r.kept) < min(report.keep, report.available):
        render.line("(each state's best action is among them: more would change nothing)")
    render.line(f"share of the {r.states:,} states whose best kept action is within m of the best:")
    table = Table(box=None)
    table.add_column("margin m", justify="right")
    table.add_column("share of states", justify="right")
    for m, share in r.coverage.items():
        table.add_row(m, render.cell(share, ".2%"))
    render.stdout().print(table)
    render.line(
        f"within --margin {r.margin:g}: {render.cell(r.covered, '.2%')} of the states; regret of "
        f"the best kept action: mean {r.mean_regret:.5f}, max {r.max_regret:.4f}"
    )
