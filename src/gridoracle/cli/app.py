"""The ``gridoracle`` command line: thin, it parses, calls the library and prints with Rich.

User errors (:class:`gridoracle.errors.GridOracleError`) become one red line and exit code 2.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from gridoracle.errors import GridOracleError, InvalidOption

app = typer.Typer(
    name="gridoracle",
    help="Fast, cross-checked answers about topology actions on grid2op power grids.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

console = Console()
err_console = Console(stderr=True)


# options shared by split, train and compare (the gap's default is DEFAULT_GAP of
# gridoracle.dataset.split, written here so that the CLI starts without importing numpy)
_SPLIT_BY_OPTION = typer.Option(
    "chronic",
    "--split-by",
    help="chronic: whole chronics held out; time: the last --test-fraction of every chronic "
    "held out, --gap steps left out before it (datasets with one chronic).",
)
_GAP_OPTION = typer.Option(
    12, "--gap", help="Split by time: steps left out between training and test states."
)


def _test_side(split_by: str, test_fraction: float, chronics: list[int]) -> str:
    """How the test set of a split is described in the output of train and compare."""
    from gridoracle.dataset.split import format_chronics

    if split_by == "time":
        return f"the last {test_fraction:g} of chronic(s) {format_chronics(chronics)}"
    return f"test chronic(s) {format_chronics(chronics)}"


# --- commands are added below this line (one function per verb) ---------------------------------

# `gridoracle actions` is a group: its callback writes the catalogue when no subcommand is given,
# so that subcommands (e.g. `gridoracle actions show`) can be added to it.
actions_app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.add_typer(actions_app, name="actions")


@actions_app.callback(invoke_without_command=True)
def actions_cmd(
    ctx: typer.Context,
    env: str | None = typer.Option(
        None,
        "--env",
        help="Environment name (see `gridoracle envs`) or folder.",
        show_default=False,
    ),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="topology: every unitary substation topology; line: disconnection and "
        "reconnection of every line; all: both. donothing is always first. "
        "Default: topology, or every action of the --from file.",
        show_default=False,
    ),
    substations: str | None = typer.Option(
        None,
        "--substations",
        help="Only the topologies of these substations (ids such as 4,5,11), and the line "
        "actions of lines with an end at one of them.",
        show_default=False,
    ),
    busiest: int | None = typer.Option(
        None,
        "--busiest",
        help="As --substations with the N substations of most elements (ties: lower id).",
        show_default=False,
    ),
    per_substation: int | None = typer.Option(
        None,
        "--per-substation",
        help="At most K topologies per substation, drawn with --seed.",
        show_default=False,
    ),
    most_lines: int | None = typer.Option(
        None,
        "--most-lines",
        help="Only the N topologies that put the most line ends on bus 2 or higher (ties: "
        "catalogue order); line actions are kept.",
        show_default=False,
    ),
    from_file: Path | None = typer.Option(
        None,
        "--from",
        help="Start from the actions of this file (a gridoracle catalogue, or an Oracle4Grid "
        "reference, parser1 or parser2 file) instead of the grid's catalogue.",
        show_default=False,
    ),
    limit: int | None = typer.Option(
        None,
        "--limit",
        help="Keep this many actions, donothing included, drawn with --seed, after the other "
        "options (default: all of them).",
        show_default=False,
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the --per-substation and --limit draws."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Catalogue file to write (JSON, replaced atomically); its folder must exist.",
        show_default=False,
    ),
) -> None:
    """Write the action catalogue of an environment: candidate actions with stable names.

    Names: `donothing`, `sub-<sub id>-<k>`, `line-<line id>-off`, `line-<line id>-on`.

    k numbers the unitary topologies of a substation in grid2op's enumeration order.

    Each action comes with the grid2op dict that plays it. Same options, same file, byte for byte.

    Big grids: these options compose, applied in this order; donothing is always kept (added
    first when a --from file has none) and the output keeps the catalogue's order:

    - `--from FILE`: start from a file's actions instead of the grid's catalogue (Oracle4Grid
      substation actions keep their names `sub-<sub id>-<k>`, k = position in the file; line
      actions become `line-<id>-off`/`-on`; an action repeating an earlier one is kept once).
    - `--kind`: keep one kind of actions.
    - `--substations 4,5,11` or `--busiest N`: the topologies acting only on those
      substations, and the line actions of lines with an end there.
    - `--per-substation K`: at most K topologies per substation, drawn with `--seed`.
    - `--most-lines N`: the N topologies with the most line ends on bus 2 or higher.
    - `--limit N`: N actions in all, drawn with `--seed`.

    `--per-substation` and `--most-lines` leave line actions as they are. The file's `extra`
    records the options.

    Use the file with `gridoracle generate --actions-file`.

    Example: gridoracle actions --env l2rpn_case14_sandbox --limit 50 --seed 0 --out actions.json

    Example: gridoracle actions --env l2rpn_wcci_2022_dev --busiest 20 --per-substation 50
    --out actions118.json
    """
    if ctx.invoked_subcommand is not None:
        return
    from gridoracle.actions import (
        ACTION_SETS,
        busiest_substations,
        check_output_file,
        count_kinds,
        enumerate_actions,
        load_action_source,
        parse_ids,
        save_catalogue,
        select_actions,
    )
    from gridoracle.grid import env_label, make_env

    if env is None:
        raise InvalidOption("missing --env: the environment to list actions of (see envs)")
    if out is None:
        raise InvalidOption("missing --out: the catalogue file to write (e.g. actions.json)")
    if kind is not None and kind not in ACTION_SETS:
        raise InvalidOption(f"--kind {kind!r} is not one of {', '.join(ACTION_SETS)}")
    for value, option in (
        (busiest, "--busiest"),
        (per_substation, "--per-substation"),
        (most_lines, "--most-lines"),
        (limit, "--limit"),
    ):
        if value is not None and value < 1:
            raise InvalidOption(f"{option} must be at least 1, got {value}")
    if seed < 0:
        raise InvalidOption(f"--seed must be a non-negative integer, got {seed}")
    if substations is not None and busiest is not None:
        raise InvalidOption(
            "--substations and --busiest cannot be combined: give the substations or their number"
        )
    sub_ids = parse_ids(substations, "--substations") if substations is not None else None
    check_output_file(out)  # fail before the environment is loaded

    environment = make_env(env)
    try:
        extra: dict[str, Any] = {}
        if from_file is not None:
            source = load_action_source(from_file, environment)
            catalogue = select_actions(source.actions, environment, kind=kind)  # type: ignore[arg-type]
            extra["from"] = {
                "file": str(from_file),
                "format": source.format,
                "sha256": source.sha256,
            }
        else:
            catalogue = enumerate_actions(environment, kind or "topology")  # type: ignore[arg-type]
        chosen = select_actions(
            catalogue,
            environment,
            substations=sub_ids,
            busiest=busiest,
            per_substation=per_substation,
            most_lines=most_lines,
            limit=limit,
            seed=seed,
        )
        drawn = limit is not None or per_substation is not None
        extra.update(
            {
                "kind": kind or ("all" if from_file is not None else "topology"),
                "limit": limit,
                "seed": seed if drawn else None,
                "available": len(catalogue),
            }
        )
        if sub_ids is not None:
            extra["substations"] = list(sub_ids)
        if busiest is not None:
            extra["busiest"] = busiest
            extra["substations"] = sorted(busiest_substations(environment, busiest))
        if per_substation is not None:
            extra["per_substation"] = per_substation
        if most_lines is not None:
            extra["most_lines"] = most_lines
        save_catalogue(out, chosen, env_name=env_label(env), grid=environment, extra=extra)
    finally:
        environment.close()
    counts = ", ".join(f"{n} {k}" for k, n in count_kinds(chosen).items())
    of_total = f" of {len(catalogue)}" if len(chosen) < len(catalogue) else ""
    origin = f" from {from_file}" if from_file is not None else ""
    console.print(
        f"wrote {len(chosen)}{of_total} actions ({counts}) for {env_label(env)}{origin} to {out}",
        highlight=False,
        soft_wrap=True,
    )


@actions_app.command("show")
def actions_show_cmd(
    env: str = typer.Option(
        ..., "--env", help="Environment name (see `gridoracle envs`) or folder."
    ),
    actions: Path = typer.Option(
        ..., "--actions", help="Unitary actions (Oracle4Grid reference, parser1 or parser2 JSON)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder of the drawings (default: results/actions_show/<actions file stem>).",
        show_default=False,
    ),
    chronic: str = typer.Option(
        "0", "--chronic", help="Chronic index or name whose first observation is used."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No status line while drawing."),
) -> None:
    """Draw each unitary action of an action file on the grid and report its validity.

    Each action is simulated on the first observation of the chronic (time step 0).

    Validity: ok, diverges, no effect (topology and line status unchanged) or illegal.

    Writes `<out>/<action name>.png` (the grid after the action, the acted asset in magenta).

    Also writes `<out>/actions.csv`: name, kind, asset, validity, max rho before and after.

    Example: gridoracle actions show --env rte_case14_realistic --actions reference.json
    """
    import contextlib

    from rich.table import Table

    from gridoracle.actions.show import default_out, show_actions

    folder = out if out is not None else default_out(actions)
    show_status = not quiet and err_console.is_terminal
    status_cm = err_console.status("loading the environment") if show_status else None

    def progress(done: int, total: int, name: str) -> None:
        if status_cm is not None and name:
            status_cm.update(f"drawing {name} ({done + 1}/{total})")

    with status_cm if status_cm is not None else contextlib.nullcontext():
        records = show_actions(env, actions, out=folder, chronic=chronic, progress=progress)

    colours = {"ok": "green", "diverges": "red", "no effect": "yellow", "illegal": "red"}
    table = Table(title=f"Unitary actions of {actions.name} (chronic {chronic}, t0)")
    table.add_column("name")
    table.add_column("asset")
    table.add_column("validity")
    table.add_column("max rho after", justify="right")
    for rec in records:
        after = "n/a" if rec.max_rho_after != rec.max_rho_after else f"{rec.max_rho_after:.3f}"
        table.add_row(
            escape(rec.name),
            rec.asset,
            f"[{colours.get(rec.validity, 'white')}]{rec.validity}[/]",
            after,
        )
    if records:
        table.caption = f"max rho before: {records[0].max_rho_before:.3f}"
    console.print(table)
    console.print(f"outputs: {folder}", highlight=False, soft_wrap=True)


@app.command("envs")
def envs_cmd(
    envs: list[str] | None = typer.Argument(
        None,
        help="Environment names or folders to describe; default: every offline environment.",
        show_default=False,
        metavar="ENV",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON list (one object per environment) instead of a table."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No status line while loading."),
) -> None:
    """List the environments usable offline (grid2op's shipped test data): grid size and chronics.

    Any name listed works as --env of the other commands; so does an environment folder's path.

    Each environment is loaded to read its facts (about half a minute for all of them).

    An environment that fails to load is listed with its error.

    Example: gridoracle envs l2rpn_case14_sandbox rte_case14_realistic --json
    """
    import contextlib
    import json
    from dataclasses import asdict, fields

    from rich import box
    from rich.table import Table
    from rich.text import Text

    from gridoracle.grid import EnvFacts, load_env_facts, offline_env_names

    targets = list(envs) if envs else offline_env_names()
    results: list[tuple[str, EnvFacts | None, str | None]] = []
    show_status = not quiet and err_console.is_terminal
    status_cm = err_console.status("loading environments") if show_status else None
    with status_cm if status_cm is not None else contextlib.nullcontext():
        for done, target in enumerate(targets):
            if status_cm is not None:
                status_cm.update(f"loading {target} ({done + 1}/{len(targets)})")
            try:
                results.append((target, load_env_facts(target), None))
            except GridOracleError as exc:
                if envs:  # a name or folder the user typed: their error, one red line
                    raise
                results.append((target, None, str(exc)))
            except Exception as exc:  # listed with its error, not a traceback over the table
                message = (str(exc).strip().splitlines() or [""])[0]
                results.append((target, None, f"{type(exc).__name__}: {message}"[:200]))

    if as_json:
        records = []
        for target, facts, error in results:  # same keys in every record; null when unknown
            record: dict[str, object] = dict.fromkeys(f.name for f in fields(EnvFacts))
            if facts is not None:
                record.update(asdict(facts))
            record["name"] = target
            record["error"] = error
            records.append(record)
        typer.echo(json.dumps(records, indent=2))
        return

    any_error = any(error is not None for _, _, error in results)
    table = Table(
        title="Environments" if envs else "Offline environments (grid2op test data)",
        caption="subs: substations, gens: generators, steps: steps per chronic (min–max)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("name", overflow="fold")
    for header in ("subs", "lines", "gens", "loads", "chronics", "steps"):
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    if any_error:
        table.add_column("error", style="red", overflow="fold")
    for target, facts, error in results:
        cells: list[str | Text]
        if facts is None:
            cells = [Text(target), *["-"] * 6]
        else:
            cells = [
                Text(target),
                str(facts.n_sub),
                str(facts.n_line),
                str(facts.n_gen),
                str(facts.n_load),
                str(facts.n_chronics),
                facts.steps_summary(),
            ]
        if any_error:
            cells.append(Text(error or ""))
        table.add_row(*cells)
    console.print(table)


@app.command("split")
def split_cmd(
    data: str = typer.Option(
        ..., "--data", help="Dataset folder (or an output folder holding exactly one dataset)."
    ),
    test_chronics: str | None = typer.Option(
        None,
        "--test-chronics",
        help="Chronics of the test set, comma-separated (e.g. 2,3 or 0-3); "
        "default: drawn with --test-fraction and --seed.",
    ),
    test_fraction: float = typer.Option(
        0.25, "--test-fraction", help="Share of chronics drawn for the test set, in (0, 1)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the test chronics draw."),
    split_by: str = _SPLIT_BY_OPTION,
    gap: int = _GAP_OPTION,
) -> None:
    """Split a dataset into train and test and print the counts of each side.

    By chronic (default): no chronic is on both sides (rows of one episode are correlated). By
    time: the end of every chronic is the test set, with a gap of --gap steps before it.

    Example: gridoracle split --data data/ --test-chronics 2
    """
    from pathlib import Path

    from rich.table import Table

    from gridoracle.dataset import load, split
    from gridoracle.dataset.split import format_chronics, parse_chronic_list, split_summary

    chosen = parse_chronic_list(test_chronics) if test_chronics is not None else None
    ds = load(Path(data))
    train, test = split(
        ds, by=split_by, test_chronics=chosen, test_fraction=test_fraction, seed=seed, gap=gap
    )
    if split_by == "time":
        how = f"last {test_fraction:g} of every chronic, gap {gap} steps"
    elif chosen is not None:
        how = f"test chronics {format_chronics(chosen)}"
    else:
        how = f"test fraction {test_fraction:g}, seed {seed}"
    table = Table(
        title=f"{ds.path.name}: split by {split_by} ({how})",
        caption="targets: (state, action) pairs with a finite max rho; share > 1.0 of those",
    )
    table.add_column("set")
    table.add_column("chronics")
    table.add_column("rows", justify="right")
    table.add_column("targets", justify="right")
    table.add_column("share > 1.0", justify="right")
    for rec in split_summary(train, test):
        share = rec["share_above_1"]
        table.add_row(
            rec["set"],
            format_chronics(rec["chronics"]),
            f"{rec['rows']:,}",
            f"{rec['targets']:,}",
            "n/a" if share != share else f"{share:.2%}",
        )
    console.print(table)


@app.command("generate")
def generate_cmd(
    env: str = typer.Option(
        "l2rpn_case14_sandbox", "--env", help="Environment name (see `gridoracle envs`) or folder."
    ),
    chronics: str = typer.Option(
        "all", "--chronics", help="Chronics to play: 0,1,2 or 0-2 or all, or chronic names."
    ),
    max_steps: int = typer.Option(575, "--max-steps", help="States per chronic at most."),
    actions: int | None = typer.Option(
        None, "--actions", help="Sample this many actions (do nothing included) [default: 100]."
    ),
    actions_file: Path | None = typer.Option(
        None, "--actions-file", help="Use the catalogue written by `gridoracle actions`."
    ),
    horizon: int = typer.Option(
        0, "--horizon", help="0: same injections (simulate time_step=0); 1: next-step forecast."
    ),
    targets: str = typer.Option("max", "--targets", help="max: max rho; full: also every rho."),
    engine: str = typer.Option(
        "batched", "--engine", help="batched (lightsim2grid) or reference (grid2op simulate)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of episode resets and action sampling."),
    out: Path = typer.Option(Path("data"), "--out", help="Root folder of datasets."),
    force: bool = typer.Option(False, "--force", help="Regenerate even if cached."),
    workers: int | None = typer.Option(
        None, "--workers", help="Local worker processes [default: number of cores]."
    ),
    chunk_actions: int = typer.Option(
        50, "--chunk-actions", help="Actions per chunk (unit of work and of resumption)."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Run on this Dask cluster (tcp://HOST:PORT); shared --out."
    ),
    dask_workers: int | None = typer.Option(
        None, "--dask-workers", help="Run on a Dask LocalCluster of N processes."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Build the dataset: grid state features -> max rho after each candidate action.

    For every state visited by a do-nothing agent and every action, the target is the max line
    loading after applying the action to the state. Cached by configuration; an interrupted run
    resumes from its finished chunks.

    Example: gridoracle generate --env l2rpn_case14_sandbox --chronics 0,1,2 --max-steps 575
    --actions 100 --horizon 0 --out data/
    """
    from gridoracle.dataset.generate import generate

    if actions is not None and actions_file is not None:
        raise InvalidOption("--actions and --actions-file: give one or the other, not both")
    n_actions = 100 if actions is None and actions_file is None else actions
    with _progress(quiet, "simulating") as advance:
        report = generate(
            env,
            chronics=chronics,
            max_steps=max_steps,
            horizon=horizon,
            n_actions=n_actions,
            actions_file=actions_file,
            seed=seed,
            targets=targets,
            engine=engine,
            out=out,
            force=force,
            workers=workers,
            chunk_actions=chunk_actions,
            scheduler=scheduler,
            dask_workers=dask_workers,
            progress=advance,
        )
    _print_generate_report(report)


@app.command("oracle")
def oracle_cmd(
    env: str = typer.Option(..., "--env", help="Environment name or folder."),
    chronic: str = typer.Option(..., "--chronic", help="Chronic index or name (one)."),
    actions: Path = typer.Option(
        ..., "--actions", help="Unitary actions (Oracle4Grid reference, parser1 or parser2 JSON)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Settings: Oracle4Grid's config.ini as is, or a .toml file."
    ),
    max_depth: int | None = typer.Option(
        None, "--max-depth", help="Most unitary actions combined."
    ),
    max_iter: int | None = typer.Option(None, "--max-iter", help="Timesteps of the episode."),
    nb_process: int | None = typer.Option(None, "--nb-process", help="Processes (parallel work)."),
    best_path_type: str | None = typer.Option(
        None, "--best-path-type", help="longest (maximise the reward) or shortest."
    ),
    n_best_topos: int | None = typer.Option(
        None, "--n-best-topos", help="Most played topologies of the best path given a KPI."
    ),
    reward_significant_digit: int | None = typer.Option(
        None, "--reward-significant-digit", help="Decimals kept of the rewards in the graph."
    ),
    replay_reward_rel_tolerance: float | None = typer.Option(
        None, "--replay-reward-rel-tolerance", help="Relative tolerance of the replayed reward."
    ),
    output: Path | None = typer.Option(
        None, "--output", help="Root of the outputs [default: output_path, else results/oracle]."
    ),
    seed: int = typer.Option(0, "--seed", help="Environment seed."),
    reward: str = typer.Option("oracle", "--reward", help="oracle (OracleL2RPNReward) or l2rpn."),
    export_graph: bool = typer.Option(
        False, "--export-graph", help="Also write the graph as GraphML and edge_list.csv."
    ),
    no_replay: bool = typer.Option(False, "--no-replay", help="Skip step 6 (replay)."),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="Solve the reward table on this Dask cluster (tcp://HOST:PORT); replaces "
        "--nb-process.",
    ),
    dask_workers: int | None = typer.Option(
        None, "--dask-workers", help="Solve the reward table on a Dask LocalCluster of N processes."
    ),
    force: bool = typer.Option(
        False, "--force", help="Solve every reward chunk again (ignore the output's .cache)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No step messages."),
) -> None:
    """The Oracle: the best achievable trajectory of combined topology actions on one episode.

    Reads Oracle4Grid's inputs as they are (action files in its three formats, config.ini) and
    writes `<output>/scenario_<chronic>/<actions file stem>/`: reward_df.csv, kpis.csv,
    best_path.json, best_path_no_overload.json, graph.png, topology counts, replay_logs/ and
    summary.json.

    The reward table (step 2) is solved in chunks of combined actions: locally (--nb-process)
    or on Dask (--scheduler, --dask-workers). Finished chunks are kept in the output's .cache: an
    interrupted run resumes there, a repeated one reuses them (--force solves them again).

    Example: gridoracle oracle --env rte_case14_realistic --chronic 0
    --actions examples/actions/rte_case14_realistic/reference.json --config examples/config.ini
    """
    from gridoracle.oracle.config import read_config
    from gridoracle.oracle.pipeline import run_oracle
    from gridoracle.parallel import Backend

    settings, config_warnings = read_config(config)
    settings = settings.merge(
        {
            "max_depth": max_depth,
            "max_iter": max_iter,
            "nb_process": nb_process,
            "best_path_type": best_path_type,
            "n_best_topos": n_best_topos,
            "reward_significant_digit": reward_significant_digit,
            "replay_reward_rel_tolerance": replay_reward_rel_tolerance,
            "output_path": None if output is None else str(output),
        }
    )
    for message in config_warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)
    Backend.from_options(workers=None, scheduler=scheduler, dask_workers=dask_workers)
    say = (
        (lambda text: None)
        if quiet or not err_console.is_terminal
        else (lambda text: err_console.print(f"[dim]{escape(text)}[/dim]", highlight=False))
    )
    report = run_oracle(
        env,
        chronic,
        actions,
        settings,
        out=output,
        seed=seed,
        reward=reward,
        export_graph=export_graph,
        do_replay=not no_replay,
        progress=say,
        scheduler=scheduler,
        dask_workers=dask_workers,
        resume=not force,
    )
    _print_oracle_report(report)


def _print_oracle_report(report: Any) -> None:
    from rich.table import Table

    kpis = Table(title="KPIs", title_justify="left")
    kpis.add_column("indicator")
    kpis.add_column("reward", justify="right")
    for name, value in report.kpis.itertuples(index=False):
        kpis.add_row(str(name), "n/a" if value != value else f"{value:,.4f}")
    console.print(kpis)
    for label, found in (
        ("best path", report.best),
        ("best path without overload", report.best_no_overload),
    ):
        names = report.path_names(found)
        if not names:
            console.print(f"{label}: none", highlight=False)
            continue
        runs: list[tuple[str, int, int]] = []
        for t, name in enumerate(names):
            if runs and runs[-1][0] == name:
                runs[-1] = (name, runs[-1][1], t)
            else:
                runs.append((name, t, t))
        steps = ", ".join(f"{n} (t{a}-t{b})" if a != b else f"{n} (t{a})" for n, a, b in runs)
        console.print(f"{label} ({found.reward:,.4f}): {steps}", highlight=False, soft_wrap=True)
    for result in report.replays:
        state = "game over" if result.game_over else "survived"
        console.print(
            f"replay of the {result.label}: {state} {result.steps_survived}/"
            f"{result.steps_planned} steps, reward {result.reward:,.4f} (expected "
            f"{result.expected_reward:,.4f})",
            highlight=False,
            soft_wrap=True,
        )
    if report.filtered:
        shown = ", ".join(f"{name} ({reason})" for name, reason in report.filtered[:10])
        more = (
            f" and {len(report.filtered) - 10} more (summary.json)"
            if len(report.filtered) > 10
            else ""
        )
        console.print(f"filtered at t0: {shown}{more}", highlight=False, soft_wrap=True)
    for message in report.warnings:
        err_console.print(
            f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True
        )
    timings = ", ".join(f"{k} {v:.2f} s" for k, v in report.timings.items())
    console.print(f"time: {timings}", highlight=False, soft_wrap=True)
    console.print(f"outputs: {report.folder}", highlight=False, soft_wrap=True)


@contextmanager
def _progress(quiet: bool, label: str) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar on a terminal (none with --quiet or when output is not a TTY)."""
    if quiet or not err_console.is_terminal:
        yield lambda done, total: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pairs"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def _print_generate_report(report: Any) -> None:
    from rich.table import Table

    s = report.summary
    console.print(f"dataset: {report.path}", soft_wrap=True, highlight=False)
    table = Table(show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row(
        "cache",
        "hit (nothing simulated)"
        if report.cache_hit
        else f"{report.units_run} chunks computed, {report.units_reused} reused",
    )
    table.add_row("rows (states)", f"{s.get('rows', 0):,}")
    table.add_row("actions", f"{s.get('actions', 0):,}")
    table.add_row("pairs", f"{s.get('pairs', 0):,}")
    table.add_row("share of targets > 1.0", f"{s.get('share_above_1', 0.0):.2%}")
    table.add_row("diverged / game over", f"{s.get('game_over', 0):,}")
    table.add_row("illegal", f"{s.get('illegal', 0):,}")
    table.add_row("wall time", f"{report.wall_seconds:.1f} s")
    if report.pairs_computed:
        table.add_row("pairs per second", f"{report.pairs_per_second:,.0f}")
    console.print(table)


@app.command("plot")
def plot_cmd(
    data: Path = typer.Option(..., "--data", help="Dataset folder (or the folder holding one)."),
    model: list[Path] | None = typer.Option(
        None,
        "--model",
        help="Model folder (gridoracle train); repeat for several models.",
        metavar="<path>",
        show_default=False,
    ),
    out: Path = typer.Option(Path("results/plots"), "--out", help="Folder of the PNG files."),
    test_chronics: str | None = typer.Option(
        None,
        "--test-chronics",
        help="Rows of the model figures, e.g. 2 or 2,3 [default: the first model's test "
        "chronics, or every chronic without a model].",
        show_default=False,
    ),
    chronic: int | None = typer.Option(
        None,
        "--chronic",
        help="Chronic of the heat map [default: the first test chronic].",
        show_default=False,
    ),
    worst: int = typer.Option(20, "--worst", help="Actions in the error box plots."),
    seed: int = typer.Option(0, "--seed", help="Seed of the subsamples (scatter, permutation)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
) -> None:
    """Draw the figures of a dataset and of trained models (PNG, titled and labelled).

    Dataset: max rho per action (distribution) and a heat map of max rho per action over one
    chronic. Each model: error box plots of the worst actions, predicted vs true, top-20 feature
    importances (permutation importance when the model has none). All models: the regret CDF beside
    the do-nothing and per-action-mean baselines.

    Example: gridoracle plot --data data/ --model results/models/extra_trees --out results/plots
    """
    from gridoracle.dataset import load
    from gridoracle.dataset.split import parse_chronic_list
    from gridoracle.models import load as load_model
    from gridoracle.pipelines.figures import make_plots

    if worst < 1:
        raise InvalidOption(f"--worst must be at least 1, got {worst}")
    chosen = parse_chronic_list(test_chronics) if test_chronics is not None else None
    ds = load(data)
    predictors: dict[str, Any] = {}
    for folder in model or []:
        predictor = load_model(folder)
        name = predictor.name if predictor.name not in predictors else Path(folder).name
        if name in predictors:
            raise InvalidOption(f"--model {folder}: a model named {name!r} is already given")
        predictors[name] = predictor
    say = _say(quiet)
    figures = make_plots(
        ds,
        out,
        models=predictors,
        test_chronics=chosen,
        chronic=chronic,
        worst=worst,
        seed=seed,
        progress=say,
    )
    console.print(f"{len(figures)} figures written to {out}:", highlight=False, soft_wrap=True)
    for fig in figures:
        console.print(f"  {escape(str(fig.path))}", highlight=False, soft_wrap=True)


@app.command("run")
def run_cmd(
    env: str = typer.Option(
        "l2rpn_case14_sandbox", "--env", help="Environment name (see `gridoracle envs`) or folder."
    ),
    chronics: str = typer.Option("all", "--chronics", help="Chronics of the dataset: all, 0-2."),
    max_steps: int = typer.Option(575, "--max-steps", help="States per chronic at most."),
    actions: int = typer.Option(100, "--actions", help="Actions of the dataset (do nothing too)."),
    models: str = typer.Option("all", "--models", help="all, or names such as ridge,extra_trees."),
    test_chronics: str | None = typer.Option(
        None,
        "--test-chronics",
        help="Chronics held out for testing [default: the last one].",
        show_default=False,
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the dataset, the models, the figures."),
    out: Path = typer.Option(
        Path("results"), "--out", help="Models, figures, Oracle outputs and report.html."
    ),
    data_out: Path = typer.Option(Path("data"), "--data-out", help="Root folder of datasets."),
    workers: int | None = typer.Option(
        None, "--workers", help="Processes of the generation [default: number of cores]."
    ),
    oracle_actions: Path | None = typer.Option(
        None,
        "--oracle-actions",
        help="Also run the Oracle with these unitary actions (Oracle4Grid formats).",
        show_default=False,
    ),
    oracle_chronic: str = typer.Option("0", "--oracle-chronic", help="The Oracle's chronic."),
    oracle_config: Path | None = typer.Option(
        None,
        "--oracle-config",
        help="The Oracle's settings (config.ini or .toml).",
        show_default=False,
    ),
    oracle_max_iter: int | None = typer.Option(
        None,
        "--oracle-max-iter",
        help="The Oracle's episode length [default: --max-steps].",
        show_default=False,
    ),
    force: bool = typer.Option(False, "--force", help="Retrain the models even if cached."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
) -> None:
    """The whole pipeline: generate, split by chronic, train and evaluate the zoo, figures, report.

    Ends with the leaderboard (test chronics) and the path of OUT/report.html (OUT: --out), one
    page that opens offline. With --oracle-actions it also runs the Oracle on one chronic and puts
    its KPIs in the report. Cached: the dataset by its configuration, the models by dataset,
    models, seed and test chronics (see OUT/run.json); a second run takes seconds.

    Example: gridoracle run --oracle-actions examples/actions/l2rpn_case14_sandbox/reference.json
    --oracle-config examples/config.ini
    """
    from gridoracle.dataset.split import parse_chronic_list
    from gridoracle.pipelines.run import run_pipeline

    chosen = parse_chronic_list(test_chronics) if test_chronics is not None else None
    if max_steps < 1:
        raise InvalidOption(f"--max-steps must be at least 1, got {max_steps}")
    report = run_pipeline(
        env=env,
        chronics=chronics,
        max_steps=max_steps,
        n_actions=actions,
        models=models,
        test_chronics=chosen,
        seed=seed,
        out=out,
        data_out=data_out,
        workers=workers,
        oracle_actions=oracle_actions,
        oracle_chronic=oracle_chronic,
        oracle_config=oracle_config,
        oracle_max_iter=oracle_max_iter,
        force=force,
        progress=_say(quiet),
    )
    _print_run_report(report)


def _say(quiet: bool) -> Callable[[str], None]:
    """Progress lines on stderr (dim), none with --quiet."""
    import time

    if quiet:
        return lambda text: None
    start = time.perf_counter()

    def say(text: str) -> None:
        elapsed = time.perf_counter() - start
        err_console.print(f"[dim]{elapsed:6.1f} s  {escape(text)}[/dim]", highlight=False)

    return say


def _print_run_report(report: Any) -> None:
    from rich import box
    from rich.table import Table

    from gridoracle.dataset.split import format_chronics

    board = report.leaderboard
    table = Table(
        title=f"Leaderboard: test chronic(s) {format_chronics(report.test_chronics)}, "
        "sorted by mean regret",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    columns = [
        ("model", "model", None),
        ("kind", "kind", None),
        ("rmse", "RMSE", ".4f"),
        ("r2", "R²", ".3f"),
        ("top1_accuracy", "top-1", ".1%"),
        ("mean_regret", "mean\nregret", ".4f"),
        ("p95_regret", "p95\nregret", ".4f"),
        ("top5_recall", "top-5\nrecall", ".1%"),
        ("overload_f1", "overload\nF1", ".3f"),
        ("train_seconds", "train\ns", ".1f"),
        ("predict_us_per_state", "µs per\nstate", ".1f"),
    ]
    present = [c for c in columns if c[0] in board.columns]
    for _, label, fmt in present:
        table.add_column(label, justify="left" if fmt is None else "right", no_wrap=True)
    for rec in board.to_dict(orient="records"):
        cells = []
        for key, _, fmt in present:
            value = rec.get(key)
            if fmt is None:
                cells.append(escape(str(value)))
            elif value is None or value != value:
                cells.append("n/a")
            else:
                cells.append(format(float(value), fmt))
        style = "bold green" if rec.get("model") == report.best_model else None
        table.add_row(*cells, style=style)
    # a pipe or a log file gets the whole table rather than 80 columns of ellipses
    out = console if console.is_terminal else Console(width=max(console.width, 120))
    out.print(table)
    cached = "reused (cached)" if report.models_cached else "trained in this run"
    console.print(
        f"best model: {report.best_model} (highlighted); models {cached}", highlight=False
    )
    if report.oracle is not None:
        kpis = {str(k): float(v) for k, v in report.oracle.kpis.itertuples(index=False)}
        shown = ", ".join(f"{k}: {v:,.2f}" for k, v in list(kpis.items())[:3])
        console.print(f"oracle (chronic {report.oracle.chronic}): {shown}", highlight=False)
        console.print(f"oracle outputs: {report.oracle.folder}", highlight=False, soft_wrap=True)
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items())
    console.print(
        f"time: {timings}; total {report.total_seconds:.1f} s", highlight=False, soft_wrap=True
    )
    console.print(f"report: {report.report_path}", highlight=False, soft_wrap=True)


_TEST_CHRONICS_HELP = (
    "Chronics of the test set, comma-separated (e.g. 2 or 2,3); "
    "default: drawn with --test-fraction and --seed."
)


@app.command("train")
def train_cmd(
    data: str = typer.Option(
        ..., "--data", help="Dataset folder (or an output folder holding exactly one dataset)."
    ),
    model: str = typer.Option(
        "random_forest",
        "--model",
        help="mean, ridge, random_forest, extra_trees, hist_gradient_boosting, mlp "
        "(or action_conditioned).",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Model folder to write [default: models/MODEL].", show_default=False
    ),
    test_chronics: str | None = typer.Option(
        None, "--test-chronics", help=_TEST_CHRONICS_HELP, show_default=False
    ),
    test_fraction: float = typer.Option(
        0.25, "--test-fraction", help="Share of chronics held out, in (0, 1)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the split draw and of the model."),
    split_by: str = _SPLIT_BY_OPTION,
    gap: int = _GAP_OPTION,
) -> None:
    """Train a model of the zoo on the training chronics of a dataset and save it.

    The dataset is split by chronic (or by time, --split-by time); the model sees the training
    side only. Targets of
    diverged or illegal pairs are learned as max rho 2.0 (ranked last).

    Writes model.joblib and metadata.json (features, actions, dataset hash, split, seed, versions)
    into the --out folder.

    Example: gridoracle train --data data/ --model extra_trees --test-chronics 2
    """
    from gridoracle.dataset.split import format_chronics, parse_chronic_list
    from gridoracle.models.train import train

    chosen = parse_chronic_list(test_chronics) if test_chronics is not None else None
    folder = out if out is not None else Path("models") / model
    result = train(
        Path(data),
        model,
        out=folder,
        test_chronics=chosen,
        test_fraction=test_fraction,
        seed=seed,
        split_by=split_by,
        gap=gap,
    )
    held_out = _test_side(split_by, test_fraction, result.test_chronics)
    console.print(
        f"trained {model} on chronic(s) {format_chronics(result.train_chronics)} "
        f"({result.train_rows:,} states) in {result.train_seconds:.1f} s; {held_out} "
        f"({result.test_rows:,} states) held out",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"model: {result.path}", highlight=False, soft_wrap=True)
    console.print(
        f"next: gridoracle evaluate --model {result.path} --data {data}",
        highlight=False,
        soft_wrap=True,
    )


def _cell(value: Any, fmt: str) -> str:
    """A number for a table cell; n/a for a missing one."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return format(float(value), fmt)


@app.command("evaluate")
def evaluate_cmd(
    model: Path = typer.Option(..., "--model", help="Model folder (written by gridoracle train)."),
    data: str = typer.Option(
        ..., "--data", help="Dataset folder with the model's features and actions."
    ),
    test_chronics: str | None = typer.Option(
        None,
        "--test-chronics",
        help="Chronics to evaluate on [default: the model's test chronics on its own dataset, "
        "every chronic on another one].",
        show_default=False,
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Metrics file to write [default: metrics.json in the model folder].",
        show_default=False,
    ),
) -> None:
    """Evaluate a model on test chronics: regression and decision quality, beside two baselines.

    Regression: RMSE, MAE, R² on the pairs with a finite max rho.

    Decisions (choosing the action of lowest predicted max rho): top-1 accuracy, mean and p95
    regret, top-k recall; overload (max rho above 1) precision, recall and F1 per pair.

    Baselines: do nothing, and the per-action mean of the training targets.

    Writes metrics.json (per-action metrics included) and records the summary in metadata.json.

    Example: gridoracle evaluate --model models/extra_trees --data data/
    """
    from rich.table import Table

    from gridoracle.dataset.split import format_chronics, parse_chronic_list
    from gridoracle.models.evaluate import evaluate

    chosen = parse_chronic_list(test_chronics) if test_chronics is not None else None
    record = evaluate(model, Path(data), test_chronics=chosen, out=out)
    results = record["results"]
    columns = [
        (key, label)
        for key, label in (
            ("model", record["model"]),
            ("mean", "per-action mean"),
            ("donothing", "do nothing"),
        )
        if results.get(key) is not None
    ]
    table = Table(
        title=f"{record['model']} on test chronic(s) {format_chronics(record['test_chronics'])} "
        f"({record['states']:,} states, {record['actions']} actions)",
        title_justify="left",
    )
    table.add_column("metric")
    for _, label in columns:
        table.add_column(escape(label), justify="right")
    rows = [
        ("RMSE", "regression", "rmse", ".4f"),
        ("MAE", "regression", "mae", ".4f"),
        ("R²", "regression", "r2", ".3f"),
        ("top-1 accuracy", "decision", "top1_accuracy", ".1%"),
        ("mean regret", "decision", "mean_regret", ".4f"),
        ("p95 regret", "decision", "p95_regret", ".4f"),
        ("top-5 recall", "decision", "top5_recall", ".1%"),
        ("top-10 recall", "decision", "top10_recall", ".1%"),
        ("unsafe choices", "decision", "unsafe_choice_rate", ".1%"),
        ("overload precision", "overload", "precision", ".3f"),
        ("overload recall", "overload", "recall", ".3f"),
        ("overload F1", "overload", "f1", ".3f"),
    ]
    for label, part, key, fmt in rows:
        cells = []
        for name, _ in columns:
            entry = results[name]
            section = entry["decision"]["overload"] if part == "overload" else entry[part]
            cells.append(_cell(section.get(key), fmt))
        table.add_row(label, *cells)
    console.print(table)
    per_action = results["model"]["regression"]["per_action"]
    ranked = sorted(
        ((v["rmse"], k) for k, v in per_action.items() if v["rmse"] == v["rmse"]), reverse=True
    )
    if ranked:
        worst = ", ".join(f"{escape(k)} ({v:.3f})" for v, k in ranked[:5])
        console.print(f"largest RMSE: {worst}", highlight=False, soft_wrap=True)
    timing = record["timing"]
    console.print(
        f"prediction: {timing['predict_us_per_state']:.1f} µs per state in a batch, "
        f"{timing['predict_us_single_state']:.0f} µs for one state",
        highlight=False,
    )
    if record["metrics_path"]:
        console.print(f"metrics: {record['metrics_path']}", highlight=False, soft_wrap=True)


@app.command("compare")
def compare_cmd(
    data: str = typer.Option(
        ..., "--data", help="Dataset folder (or an output folder holding exactly one dataset)."
    ),
    models: str = typer.Option(
        "all", "--models", help="all (the zoo), or names such as ridge,extra_trees."
    ),
    out: Path = typer.Option(
        Path("models"), "--out", help="Folder of the model folders and leaderboard.csv/json."
    ),
    test_chronics: str | None = typer.Option(
        None, "--test-chronics", help=_TEST_CHRONICS_HELP, show_default=False
    ),
    test_fraction: float = typer.Option(
        0.25, "--test-fraction", help="Share of chronics held out, in (0, 1)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the split draw and of the models."),
    split_by: str = _SPLIT_BY_OPTION,
    gap: int = _GAP_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No status line while training."),
) -> None:
    """Train and evaluate several models on one split and print one leaderboard.

    Rows: each model and the baselines (do nothing, per-action mean), sorted by mean regret on the
    test chronics. Columns: RMSE, MAE, R², top-1 accuracy, mean and p95 regret, top-5 recall,
    overload F1, training seconds and prediction µs per state (batch).

    Writes one folder per model, leaderboard.csv and leaderboard.json into the --out folder.

    Example: gridoracle compare --data data/ --test-chronics 2
    """
    import contextlib

    from rich import box
    from rich.table import Table

    from gridoracle.dataset.split import parse_chronic_list
    from gridoracle.models.evaluate import compare, parse_model_list

    names = parse_model_list(models)
    chosen = parse_chronic_list(test_chronics) if test_chronics is not None else None
    show_status = not quiet and err_console.is_terminal
    status_cm = err_console.status("loading the dataset") if show_status else None

    def progress(name: str, index: int, total: int) -> None:
        if status_cm is not None:
            status_cm.update(f"training and evaluating {name} ({index + 1}/{total})")

    with status_cm if status_cm is not None else contextlib.nullcontext():
        result = compare(
            Path(data),
            names,
            out=out,
            test_chronics=chosen,
            test_fraction=test_fraction,
            seed=seed,
            progress=progress,
            split_by=split_by,
            gap=gap,
        )
    table = Table(
        title=f"Leaderboard: {_test_side(split_by, test_fraction, result.test_chronics)}, "
        "sorted by mean regret",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    columns = [
        ("model", "model", ""),
        ("rmse", "RMSE", ".4f"),
        ("mae", "MAE", ".4f"),
        ("r2", "R²", ".3f"),
        ("top1_accuracy", "top-1", ".1%"),
        ("mean_regret", "mean\nregret", ".4f"),
        ("p95_regret", "p95\nregret", ".4f"),
        ("top5_recall", "top-5\nrecall", ".1%"),
        ("overload_f1", "overload\nF1", ".3f"),
        ("train_seconds", "train\ns", ".2f"),
        ("predict_us_per_state", "µs per\nstate", ".3g"),
    ]
    for _, label, fmt in columns:
        table.add_column(label, justify="left" if not fmt else "right", no_wrap=True)
    for rec in result.leaderboard.to_dict(orient="records"):
        label = f"{rec['model']} (baseline)" if rec["kind"] == "baseline" else str(rec["model"])
        cells = [escape(label)] + [_cell(rec[key], fmt) for key, _, fmt in columns[1:]]
        table.add_row(*cells)
    # a pipe or a log file gets the whole table rather than 80 columns of ellipses
    printer = console if console.is_terminal else Console(width=max(console.width, 130))
    printer.print(table)
    console.print(f"leaderboard: {result.csv_path}, {result.json_path}", highlight=False)
    console.print(
        f"models: {', '.join(str(p) for p in result.model_paths.values())} (metrics.json in each)",
        highlight=False,
        soft_wrap=True,
    )


INTERRUPTED = 130


def _click_exceptions() -> tuple[type[Exception], ...]:
    """Usage-error classes: click's, and the copy of click that recent Typer versions vendor."""
    classes: list[type[Exception]] = []
    try:
        import click

        classes.append(click.ClickException)
    except ImportError:  # pragma: no cover - Typer without click
        pass
    try:
        from typer._click.exceptions import ClickException as VendoredClickException

        classes.append(VendoredClickException)
    except ImportError:  # pragma: no cover - Typer that uses click itself
        pass
    return tuple(classes)


def _interrupted() -> None:
    err_console.print(
        "[yellow]interrupted[/yellow]: finished work is kept; run the same command again to resume",
        highlight=False,
    )
    sys.exit(INTERRUPTED)


def _flag(param: str) -> str:
    """The option that sets a library parameter: ``dask_workers`` → ``--dask-workers``."""
    return "--" + param.replace("_", "-")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gridoracle`` script: run the app, turn user errors into one line.

    User errors exit 2 with one red line, Ctrl-C exits 130 saying that finished work is kept,
    usage errors keep click's message and code.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        # standalone_mode=False: errors come back to us, and an exit code comes back as a
        # return value (Typer turns Ctrl-C into Exit(130), returned here)
        code = app(args=argv, standalone_mode=False)
    except GridOracleError as exc:
        message = str(exc) if exc.param is None else exc.message_for({exc.param: _flag(exc.param)})
        err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _interrupted()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except _click_exceptions() as exc:  # usage errors: click's message and exit code (2)
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    if code == INTERRUPTED:
        _interrupted()
    if isinstance(code, int) and code != 0:
        sys.exit(code)


if __name__ == "__main__":
    main()
