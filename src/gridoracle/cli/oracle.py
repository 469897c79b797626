"""``gridoracle oracle``: the best achievable trajectory of combined actions on one episode."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gridoracle.cli import render
from gridoracle.cli.options import (
    DaskWorkers,
    Env,
    Quiet,
    Scheduler,
    out_option,
    workers_option,
)
from gridoracle.cli.progress import terminal_progress

Chronic = Annotated[str, typer.Option(help="Chronic index or name (one).")]
UnitaryActions = Annotated[
    Path,
    typer.Option(
        "--actions",
        "--actions-file",
        help="Unitary actions: Oracle4Grid reference, parser1 or parser2 JSON, or a catalogue "
        "of `gridoracle actions`.",
    ),
]
#: the panel of ``--help`` holding --config and Oracle4Grid's settings (a table of its own: the
#: longest option names fit in 80 columns)
SETTINGS_PANEL = "Oracle4Grid settings"
Config = Annotated[
    Path | None,
    typer.Option(
        help="Oracle4Grid's config.ini as is, or a .toml file; the options below replace its "
        "values.",
        show_default=False,
        rich_help_panel=SETTINGS_PANEL,
    ),
]
#: Oracle4Grid's settings that are options too (``max_depth``: ``--max-depth``); each replaces
#: the value of --config
SETTINGS_HELP = {
    "max_depth": "Most unitary actions combined.",
    "max_iter": "Timesteps of the episode.",
    "best_path_type": "longest (maximise the reward) or shortest (minimise it).",
    "n_best_topos": "Most played topologies of the best path given a KPI.",
    "reward_significant_digit": "Decimals kept of the rewards in the graph.",
    "replay_reward_rel_tolerance": "Tolerance (relative) of the replayed reward.",
    "combine": "exact (simulate every combined action) or superposition (screen them by "
    "superposition of their unitary parts, simulate only those that can reach the best path).",
}
#: the settings' defaults without --config: those of ``gridoracle.oracle.config.OracleConfig``
#: (tests/test_oracle_cli.py checks that they agree), written here so that the CLI starts
#: without importing numpy
SETTINGS_DEFAULTS = {
    "max_depth": "1",
    "max_iter": "400",
    "best_path_type": "longest",
    "n_best_topos": "2",
    "reward_significant_digit": "5",
    "replay_reward_rel_tolerance": "1e-07",
    "combine": "exact",
}
NoOpponent = Annotated[
    bool,
    typer.Option(
        "--no-opponent",
        help="Make the environment without its opponent: no attack, no multiverse, so that "
        "--combine superposition applies. Departs from Oracle4Grid, which always runs the "
        "opponent's multiverse when the environment has one. Changes nothing on an environment "
        "without opponent. [default: --config's no_opponent, else off]",
        show_default=False,
        rich_help_panel=SETTINGS_PANEL,
    ),
]
NbProcess = Annotated[
    int | None,
    workers_option(
        "Local processes of the reward table [default: nb_process of --config, else 1].",
        "--nb-process",
    ),
]
OutputPath = Annotated[
    Path | None,
    out_option(
        "Root of the outputs [default: output_path of --config, else results/oracle].",
        "--output",
        show_default=False,
    ),
]
Reward = Annotated[str, typer.Option(help="oracle (OracleL2RPNReward) or l2rpn.")]
ExportGraph = Annotated[
    bool, typer.Option("--export-graph", help="Also write the graph as GraphML and edge_list.csv.")
]
NoReplay = Annotated[bool, typer.Option("--no-replay", help="Skip step 6 (replay).")]
OracleSeed = Annotated[
    int,
    typer.Option(
        "--seed",
        help="Environment seed of every run (grid2op's Runner env_seeds=[N], Oracle4Grid's "
        "env_seed N): with an opponent, it decides the attacks.",
    ),
]
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Solve every reward chunk, and with an opponent every main and multiverse run, "
        "again (ignore the output's .cache).",
    ),
]


def _setting(name: str) -> Any:
    """The option of an Oracle4Grid setting: ``--max-depth`` for ``max_depth``."""
    return typer.Option(
        "--" + name.replace("_", "-"),
        help=f"{SETTINGS_HELP[name]} [default: --config's, else {SETTINGS_DEFAULTS[name]}]",
        show_default=False,
        rich_help_panel=SETTINGS_PANEL,
    )


def oracle_cmd(
    env: Env,
    chronic: Chronic,
    actions: UnitaryActions,
    config: Config = None,
    max_depth: Annotated[int | None, _setting("max_depth")] = None,
    max_iter: Annotated[int | None, _setting("max_iter")] = None,
    workers: NbProcess = None,
    best_path_type: Annotated[str | None, _setting("best_path_type")] = None,
    n_best_topos: Annotated[int | None, _setting("n_best_topos")] = None,
    reward_significant_digit: Annotated[int | None, _setting("reward_significant_digit")] = None,
    replay_reward_rel_tolerance: Annotated[
        float | None, _setting("replay_reward_rel_tolerance")
    ] = None,
    combine: Annotated[str | None, _setting("combine")] = None,
    no_opponent: NoOpponent = False,
    out: OutputPath = None,
    seed: OracleSeed = 0,
    reward: Reward = "oracle",
    export_graph: ExportGraph = False,
    no_replay: NoReplay = False,
    scheduler: Scheduler = None,
    dask_workers: DaskWorkers = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """The Oracle: the best achievable trajectory of combined topology actions on one episode.

    Reads Oracle4Grid's inputs as they are (action files in its three formats, config.ini), or
    a catalogue written by `gridoracle actions`, and
    writes `<out>/<env>/scenario_<chronic>/<actions file stem>/`: reward_df.csv, kpis.csv,
    best_path.json, best_path_no_overload.json, graph.png, topology counts, replay_logs/ and
    summary.json.

    On an environment with an opponent (e.g. rte_case14_opponent) the runs hold it, as
    Oracle4Grid does: the attack windows are re-simulated per attack seen (its multiverse), the
    best path goes through them, and two robust paths (best worst case and best expected value
    over the attacks seen) are reported beside it; --seed decides the attacks. --no-opponent
    makes the environment without it instead (not an Oracle4Grid option); only then is
    --combine superposition used on such an environment.

    Oracle4Grid's names are accepted too: `--output` for `--out`, `--nb-process` for `--workers`,
    `--actions-file` for `--actions`.

    The reward table (step 2) is solved in chunks of combined actions: locally (--workers) or on
    Dask (--scheduler, --dask-workers, which replace --workers). Finished chunks are kept in the
    output's .cache: an interrupted run resumes there, a repeated one reuses them (--force solves
    them again).

    Example: gridoracle oracle --env rte_case14_realistic --chronic 0
    --actions examples/actions/rte_case14_realistic/reference.json --config examples/config.ini
    """
    from gridoracle.pipelines.backend import Backend
    from gridoracle.pipelines.oracle import OracleRequest, read_config, run_oracle

    settings, config_warnings = read_config(config)
    settings = settings.merge(
        {
            "max_depth": max_depth,
            "max_iter": max_iter,
            "nb_process": workers,
            "best_path_type": best_path_type,
            "n_best_topos": n_best_topos,
            "reward_significant_digit": reward_significant_digit,
            "replay_reward_rel_tolerance": replay_reward_rel_tolerance,
            "combine": combine,
            "no_opponent": True if no_opponent else None,
            "output_path": None if out is None else str(out),
        }
    )
    render.warnings(config_warnings)
    backend = Backend.from_options(
        workers=settings.nb_process, scheduler=scheduler, dask_workers=dask_workers
    )
    request = OracleRequest(
        env=env,
        chronic=chronic,
        actions_file=actions,
        settings=settings,
        out=out,
        seed=seed,
        reward=reward,
        export_graph=export_graph,
        replay=not no_replay,
        resume=not force,
    )
    with terminal_progress(quiet) as progress:
        report = run_oracle(request, backend, progress)
    render.oracle_report(report)
