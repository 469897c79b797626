"""``gridoracle agents evaluate``: do nothing, greedy, random-k and screening-k vs the Oracle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from gridoracle.cli import render
from gridoracle.cli.options import Env, Quiet, Seed, out_option, workers_option
from gridoracle.cli.progress import terminal_progress

Chronics = Annotated[
    str,
    typer.Option(help="Chronics to play: an index, a list or range (1,2 or 0-2), names, or all."),
]
Model = Annotated[
    Path,
    typer.Option(
        help="Model folder written by `gridoracle train` (its actions are the catalogue)."
    ),
]
KList = Annotated[str, typer.Option("--k", help="Actions simulated by random-k and screening-k.")]
Threshold = Annotated[float, typer.Option(help="Max rho from which the agents act.")]
Recover = Annotated[
    float | None,
    typer.Option(
        help="Below this max rho (at most --threshold), greedy, random-k and screening-k return "
        "a substation to the episode's initial topology when its simulation stays below the "
        "threshold [default: never].",
        show_default=False,
    ),
]
MaxSteps = Annotated[
    int | None,
    typer.Option(
        help="Steps per episode at most [default: the whole chronic].", show_default=False
    ),
]
Workers = Annotated[
    int | None,
    workers_option(
        "Local processes, one (agent, chronic) episode each [default: 1, so that decision "
        "times are measured without other episodes competing for the cores]."
    ),
]
NoOracle = Annotated[bool, typer.Option("--no-oracle", help="Do not run the Oracle.")]
Force = Annotated[
    bool,
    typer.Option("--force", help="Play every episode and the Oracle again (ignore finished ones)."),
]
Out = Annotated[Path, out_option("Output folder (results, episodes, figures, report.html).")]


def agents_evaluate_cmd(
    env: Env,
    chronics: Chronics,
    model: Model,
    out: Out,
    k: KList = "1,5,10,20",
    threshold: Threshold = 0.95,
    recover: Recover = None,
    max_steps: MaxSteps = None,
    seed: Seed = 0,
    workers: Workers = None,
    no_oracle: NoOracle = False,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Play do nothing, greedy, random-k and screening-k in grid2op's Runner, beside the Oracle.

    Every agent plays every chronic once (grid2op's Runner, seeded from --seed and the chronic:
    the same seeds for every agent), scored with L2RPNReward. The Oracle (depth 1 over the
    model's catalogue, reward L2RPNReward) runs on the same chronics and its best path is replayed
    under the real rules. Writes OUT/results.csv, results.json, summary.json, survival.png,
    max_rho.png, calls_vs_survival.png, report.html, the Runner's episode folders under
    OUT/episodes/<agent>/ (grid2viz reads them) and the Oracle's under OUT/oracle/. A rerun skips
    finished episodes of the same configuration (--force plays them again). With --recover R
    the simulating agents also return to the initial topology when max rho is below R (the
    recoveries and their simulate calls are columns of results.csv).

    Example: gridoracle agents evaluate --env l2rpn_case14_sandbox --chronics 2
    --model results/models/line_flows --k 1,5,10,20 --out results/agents
    """
    from gridoracle.pipelines.agents import AgentsRequest, evaluate_agents, parse_k_list
    from gridoracle.pipelines.backend import Backend

    request = AgentsRequest(
        env=env,
        chronics=chronics,
        model=model,
        out=out,
        k=parse_k_list(k),
        threshold=threshold,
        max_steps=max_steps,
        seed=seed,
        oracle=not no_oracle,
        force=force,
        recover=recover,
    )
    backend = Backend.from_options(workers=1 if workers is None else workers)
    with terminal_progress(quiet) as progress:
        report = evaluate_agents(request, backend, progress)
    _print_report(report)


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.{digits}f}"


#: the table's columns: header and justification
COLUMNS: tuple[tuple[str, str], ...] = (
    ("agent", "left"),
    ("chronic", "right"),
    ("steps", "right"),
    ("reward", "right"),
    ("acting", "right"),
    ("calls/acting", "right"),
    ("ms/acting", "right"),
    ("reward gap", "right"),
    ("steps gap", "right"),
)


def _print_report(report: Any) -> None:
    """The results table (one row per agent and chronic), then where the files are.

    Steps are survived of the episode's length; gaps are the Oracle's minus the agent's; calls
    and milliseconds are per acting step (the recoveries of --recover left out: their count and
    calls have a column of their own). Not on a terminal (a log), the table is 120 columns wide
    (140 with --recover) rather than cut to 80.
    """
    table = Table(title="Agents: steps survived, L2RPN reward, gap to the Oracle", box=box.SIMPLE)
    recovering = report.summary.get("config", {}).get("recover") is not None
    columns = list(COLUMNS)
    if recovering:  # recoveries played (and their simulate calls), after the acting steps
        columns.insert(5, ("recov (calls)", "right"))
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in report.rows:
        decision = r["decision_s_per_acting_step"]
        recoveries = [f"{r['recovery_steps']:,} ({r['recovery_calls']:,})"] if recovering else []
        table.add_row(
            r["agent"],
            str(r["chronic"]),
            f"{r['steps']}/{r['max_steps']}",
            _number(r["reward"]),
            _number(r["acting_steps"]),
            *recoveries,
            _number(r["calls_per_acting_step"]),
            "-" if decision is None else f"{1000 * decision:.2f}",
            _number(r["reward_gap"]),
            _number(r["steps_gap"]),
        )
    console = render.stdout()
    if not console.is_terminal:  # the recoveries' column needs 20 more
        console.width = max(console.width, 140 if recovering else 120)
    console.print(table)
    render.warnings(report.warnings)
    bounds = {(r["chronic"], r["oracle_path"], r["oracle_steps"]) for r in report.rows}
    for chronic, path, steps in sorted(bounds, key=lambda b: b[0]):
        if path is not None:
            console.print(
                f"gaps on chronic {chronic}: to the Oracle's {path} replayed ({steps} steps; "
                "the replayed path that survives longest, then of the highest reward)",
                highlight=False,
            )
    console.print(
        f"{report.ran} episode(s) played, {report.reused} reused; "
        f"{report.oracle_ran} Oracle run(s), {report.oracle_reused} reused",
        highlight=False,
    )
    console.print(f"results: {report.out / 'results.csv'}", highlight=False, soft_wrap=True)
    if report.report_path is not None:
        console.print(f"report: {report.report_path}", highlight=False, soft_wrap=True)
