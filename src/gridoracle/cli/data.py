"""``gridoracle generate`` (the action-outcome dataset) and ``gridoracle split`` (its two sides)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from gridoracle.cli import render
from gridoracle.cli.options import (
    DEFAULT_ENV,
    DEFAULT_GAP,
    TEST_CHRONICS_HELP,
    ConfigHash,
    DaskWorkers,
    Data,
    DataHorizon,
    Env,
    Gap,
    Quiet,
    Scheduler,
    Seed,
    SplitBy,
    TestFraction,
    Workers,
    chronic_list,
    dataset_folder,
    optional,
    out_option,
    test_chronics_option,
)
from gridoracle.cli.progress import terminal_progress
from gridoracle.errors import InvalidOption


def generate_cmd(
    env: Env = DEFAULT_ENV,
    chronics: Annotated[
        str, typer.Option(help="Chronics to play: 0,1,2 or 0-2 or all, or chronic names.")
    ] = "all",
    max_steps: Annotated[int, typer.Option(help="States per chronic at most.")] = 575,
    actions: Annotated[
        int | None,
        optional("Sample this many actions (do nothing included) [default: 100]."),
    ] = None,
    actions_file: Annotated[
        Path | None,
        optional("Use the catalogue written by `gridoracle actions`."),
    ] = None,
    horizon: Annotated[
        int, typer.Option(help="0: same injections (simulate time_step=0); 1: next-step forecast.")
    ] = 0,
    targets: Annotated[str, typer.Option(help="max: max rho; full: also every rho.")] = "max",
    engine: Annotated[
        str, typer.Option(help="batched (lightsim2grid) or reference (grid2op simulate).")
    ] = "batched",
    seed: Seed = 0,
    out: Annotated[Path, out_option("Root folder of datasets.")] = Path("data"),
    force: Annotated[bool, typer.Option("--force", help="Regenerate even if cached.")] = False,
    workers: Workers = None,
    chunk_actions: Annotated[
        int, typer.Option(help="Actions per chunk (unit of work and of resumption).")
    ] = 50,
    states: Annotated[
        str,
        typer.Option(
            help="Where the states come from: episode (do nothing until game over), chronic "
            "(every step of the chronic, reference topology, no cascade), random-topology or "
            "greedy (episodes of a policy that changes the topology)."
        ),
    ] = "episode",
    topologies: Annotated[
        int,
        typer.Option(
            help="Each state also in this many other topologies (one or two catalogue actions)."
        ),
    ] = 0,
    outages: Annotated[
        int, typer.Option(help="Each state also with this many single lines out (N-1).")
    ] = 0,
    variant_pool: Annotated[
        int,
        typer.Option(
            help="Topology combinations drawn per chronic, among which each state takes its "
            "--topologies (more: more topologies to learn from)."
        ),
    ] = 32,
    keep_no_op: Annotated[
        bool,
        typer.Option(
            "--keep-no-op",
            help="Keep the actions that change nothing on the reference topology (the first "
            "chronic's first observation: e.g. sub-k-0, every element on bus 1) and those of the "
            "same effect as an earlier one (a line end alone on a bus = that line off, for a "
            "line without charging). By default they are left out and listed, as the Oracle "
            "lists and drops actions without effect; donothing stays, and states outside the "
            "reference topology (--states random-topology, greedy, --topologies, --outages) "
            "keep every action.",
        ),
    ] = False,
    scheduler: Scheduler = None,
    dask_workers: DaskWorkers = None,
    quiet: Quiet = False,
) -> None:
    """Build the dataset: grid state features -> max rho after each candidate action.

    For every state (see --states; by default those a do-nothing agent visits) and every action,
    the target is the max line loading after applying the action to the state. Cached by
    configuration; an interrupted run resumes from its finished chunks.

    With `--scheduler`, the cluster's workers write the chunks into `--out`: a folder they all
    see.

    Example: gridoracle generate --env l2rpn_case14_sandbox --chronics 0,1,2 --max-steps 575
    --actions 100 --horizon 0 --out data/
    """
    from gridoracle.pipelines.backend import Backend
    from gridoracle.pipelines.generate import GenerateRequest, generate

    if actions is not None and actions_file is not None:
        raise InvalidOption("--actions and --actions-file: give one or the other, not both")
    backend = Backend.from_options(workers=workers, scheduler=scheduler, dask_workers=dask_workers)
    request = GenerateRequest(
        env=env,
        chronics=chronics,
        max_steps=max_steps,
        horizon=horizon,
        n_actions=100 if actions is None and actions_file is None else actions,
        actions_file=actions_file,
        seed=seed,
        targets=targets,
        engine=engine,
        out=out,
        force=force,
        chunk_actions=chunk_actions,
        states=states,
        topologies=topologies,
        outages=outages,
        variant_pool=variant_pool,
        keep_no_op=keep_no_op,
    )
    with terminal_progress(quiet, "simulating") as progress:
        report = generate(request, backend, progress)
    # the dataset is complete: a Ctrl-C while its summary prints would only turn a finished run
    # into exit code 130
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        render.generate_report(report)
    finally:
        signal.signal(signal.SIGINT, previous)


def split_cmd(
    data: Data,
    horizon: DataHorizon = None,
    config_hash: ConfigHash = None,
    test_chronics: Annotated[str | None, test_chronics_option(TEST_CHRONICS_HELP)] = None,
    test_fraction: TestFraction = 0.25,
    seed: Seed = 0,
    split_by: SplitBy = "chronic",
    gap: Gap = DEFAULT_GAP,
) -> None:
    """Split a dataset into train and test and print the counts of each side.

    By chronic (default): no chronic is on both sides (rows of one episode are correlated). By
    time: the end of every chronic is the test set, with a gap of --gap steps before it.

    Example: gridoracle split --data data/ --test-chronics 2
    """
    from gridoracle.pipelines.datasets import load, split, split_summary

    chosen = chronic_list(test_chronics)
    ds = load(dataset_folder(data, horizon, config_hash))
    train, test = split(
        ds, by=split_by, test_chronics=chosen, test_fraction=test_fraction, seed=seed, gap=gap
    )
    if split_by == "time":
        how = f"last {test_fraction:g} of every chronic, gap {gap} steps"
    elif chosen is not None:
        how = f"test chronics {render.chronics(chosen)}"
    else:
        how = f"test fraction {test_fraction:g}, seed {seed}"
    render.split_table(f"{ds.path.name}: split by {split_by} ({how})", split_summary(train, test))
