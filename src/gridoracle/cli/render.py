"""What the commands print: one renderer per table or report, Rich on stdout.

Each renderer takes what a pipeline returned and prints it; none computes anything. Warnings go
to stderr (yellow), tables and summaries to stdout. A table too wide for a pipe or a log file is
printed whole rather than cut to 80 columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from gridoracle.pipelines.actions import CatalogueReport, ShowReport
    from gridoracle.pipelines.envs import EnvListing
    from gridoracle.pipelines.generate import GenerateReport
    from gridoracle.pipelines.models import CompareResult, TrainResult
    from gridoracle.pipelines.oracle import OracleReport
    from gridoracle.pipelines.run import RunReport

#: a leaderboard's columns: key in the leaderboard → (header, number format; "" for text)
LEADERBOARD_COLUMNS: dict[str, tuple[str, str]] = {
    "model": ("model", ""),
    "rmse": ("RMSE", ".4f"),
    "mae": ("MAE", ".4f"),
    "r2": ("R²", ".3f"),
    "top1_accuracy": ("top-1", ".1%"),
    "mean_regret": ("mean\nregret", ".4f"),
    "p95_regret": ("p95\nregret", ".4f"),
    "top5_recall": ("top-5\nrecall", ".1%"),
    "top10_recall": ("top-10\nrecall", ".1%"),
    "screened5_regret": ("regret\nscreen 5", ".4f"),
    "dangerous_mean_regret": ("regret\ndanger", ".4f"),
    "overload_f1": ("overload\nF1", ".3f"),
    "train_seconds": ("train\ns", ".2f"),
    "predict_us_per_state": ("µs per\nstate", ".3g"),
}
#: the rows of ``gridoracle evaluate``, by part of the record: (label, key, number format)
EVALUATION_ROWS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "regression": (("RMSE", "rmse", ".4f"), ("MAE", "mae", ".4f"), ("R²", "r2", ".3f")),
    "decision": (
        ("top-1 accuracy", "top1_accuracy", ".1%"),
        ("mean regret", "mean_regret", ".4f"),
        ("p95 regret", "p95_regret", ".4f"),
        ("top-5 recall", "top5_recall", ".1%"),
        ("top-10 recall", "top10_recall", ".1%"),
        ("top-20 recall", "top20_recall", ".1%"),
        ("regret, best of top 5 simulated", "screened5_regret", ".4f"),
        ("regret, best of top 10 simulated", "screened10_regret", ".4f"),
        ("unsafe choices", "unsafe_choice_rate", ".1%"),
    ),
    "dangerous": (
        ("dangerous (do nothing > 0.9)", "states", ",.0f"),
        ("  mean regret", "mean_regret", ".4f"),
        ("  top-5 recall", "top5_recall", ".1%"),
        ("  regret, top 5 simulated", "screened5_regret", ".4f"),
    ),
    "non_reference": (
        ("states in other topologies", "states", ",.0f"),
        ("  mean regret", "mean_regret", ".4f"),
        ("  top-10 recall", "top10_recall", ".1%"),
    ),
    "overload": (
        ("overload precision", "precision", ".3f"),
        ("overload recall", "recall", ".3f"),
        ("overload F1", "f1", ".3f"),
    ),
}
_VALIDITY_COLOURS = {"ok": "green", "diverges": "red", "no effect": "yellow", "illegal": "red"}
_WIDE = 170


def stdout() -> Console:
    """The console of results (stdout)."""
    return Console()


def stderr() -> Console:
    """The console of errors, warnings and progress (stderr)."""
    return Console(stderr=True)


def line(text: str) -> None:
    """One line of plain text on stdout (no markup, no highlighting, never wrapped)."""
    stdout().print(text, markup=False, highlight=False, soft_wrap=True)


#: a warning longer than this is cut at a list separator on the terminal (the outputs' own
#: record of it, e.g. summary.json, keeps it whole)
WARNING_CHARS = 600


def warnings(messages: Iterable[str], *, whole_in: str = "") -> None:
    """Each message as one yellow ``warning:`` line on stderr; one longer than
    :data:`WARNING_CHARS` (a list of hundreds of actions) is cut after its last ``, `` before
    the limit, with ``whole_in`` named as where it is whole."""
    err = stderr()
    for message in messages:
        if whole_in and len(message) > WARNING_CHARS:
            cut = message.rfind(", ", 0, WARNING_CHARS)
            cut = cut if cut > 0 else WARNING_CHARS
            message = f"{message[:cut]}, ... (the whole line in {whole_in})"
        err.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True)


def cell(value: Any, fmt: str) -> str:
    """A number for a table cell; ``n/a`` for a missing one (None or NaN)."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return format(float(value), fmt)


def chronics(ids: Iterable[int]) -> str:
    """Chronic ids the short way: ``0-3,7``."""
    from gridoracle.pipelines.datasets import format_chronics

    return format_chronics(list(ids))


def _print_wide(table: Table) -> None:
    out = stdout()
    # a pipe or a log file gets the whole table rather than 80 columns of ellipses
    (out if out.is_terminal else Console(width=max(out.width, _WIDE))).print(table)


# -- actions and environments ----------------------------------------------------------------------


def catalogue_written(report: CatalogueReport, source: Path | None) -> None:
    """``wrote N of M actions (...) for ENV from FILE to OUT``."""
    counts = ", ".join(f"{n} {kind}" for kind, n in report.counts.items())
    chosen = len(report.actions)
    of_total = f" of {report.available}" if chosen < report.available else ""
    origin = f" from {source}" if source is not None else ""
    stdout().print(
        f"wrote {chosen}{of_total} actions ({counts}) for {report.env_label}{origin} "
        f"to {report.path}",
        highlight=False,
        soft_wrap=True,
    )
    if report.distinct is not None:
        d = report.distinct
        distinct_actions(d.no_ops, d.merged, d.cut_off, "the file's extra")


def distinct_actions(
    no_ops: Sequence[str],
    merged: Sequence[tuple[str, Sequence[str]]],
    cut_off: Sequence[str],
    where: str,
) -> None:
    """The no-op actions left out, one line per group merged (``kept <- merged, ...``), and the
    actions kept that cut a load, generator or shunt off the grid."""
    out = stdout()
    if no_ops:
        out.print(
            f"left out {len(no_ops)} action(s) that change nothing on the reference topology: "
            f"{_some(no_ops)}",
            highlight=False,
            soft_wrap=True,
        )
    if merged:
        n_left = sum(len(names) for _, names in merged)
        out.print(
            f"merged {len(merged)} group(s) of identical effect ({n_left} action(s) left out, "
            f"all listed in {where}):",
            highlight=False,
            soft_wrap=True,
        )
        for kept, names in merged[:_MAX_GROUPS]:
            out.print(f"  {kept} <- {_some(names)}", highlight=False, soft_wrap=True)
        if len(merged) > _MAX_GROUPS:
            out.print(f"  ... and {len(merged) - _MAX_GROUPS} more", highlight=False)
    if cut_off:
        out.print(
            f"kept {len(cut_off)} action(s) that cut a load, generator or shunt off the grid "
            f"(a game over in grid2op): {_some(cut_off)}",
            highlight=False,
            soft_wrap=True,
        )


_MAX_GROUPS = 30
_MAX_NAMES = 20


def _some(names: Sequence[str]) -> str:
    """Up to 20 names joined by commas, then how many more."""
    text = ", ".join(names[:_MAX_NAMES])
    return text if len(names) <= _MAX_NAMES else f"{text}, ... ({len(names) - _MAX_NAMES} more)"


def shown_actions(report: ShowReport, actions_file: Path, chronic: str) -> None:
    """The validity and max rho after each drawn action, and the folder of the drawings."""
    table = Table(title=f"Unitary actions of {actions_file.name} (chronic {chronic}, t0)")
    for header in ("name", "asset", "validity"):
        table.add_column(header)
    table.add_column("max rho after", justify="right")
    for rec in report.records:
        colour = _VALIDITY_COLOURS.get(rec.validity, "white")
        table.add_row(
            escape(rec.name),
            rec.asset,
            f"[{colour}]{rec.validity}[/]",
            cell(rec.max_rho_after, ".3f"),
        )
    if report.records:
        table.caption = f"max rho before: {report.records[0].max_rho_before:.3f}"
    out = stdout()
    out.print(table)
    out.print(f"outputs: {report.folder}", highlight=False, soft_wrap=True)


def envs_json(listings: Sequence[EnvListing]) -> None:
    """A JSON list, one object per environment (same keys in each, null when unknown)."""
    import typer

    typer.echo(json.dumps([listing.record() for listing in listings], indent=2))


def envs_table(listings: Sequence[EnvListing], *, given: bool) -> None:
    """The size and chronics of each environment; an error column when one failed to load."""
    any_error = any(listing.error is not None for listing in listings)
    table = Table(
        title="Environments" if given else "Offline environments (grid2op test data)",
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
    for listing in listings:
        facts = listing.facts
        cells: list[str | Text] = [Text(listing.name)]
        if facts is None:
            cells += ["-"] * 6
        else:
            sizes = (facts.n_sub, facts.n_line, facts.n_gen, facts.n_load, facts.n_chronics)
            cells += [*map(str, sizes), facts.steps_summary()]
        if any_error:
            cells.append(Text(listing.error or ""))
        table.add_row(*cells)
    stdout().print(table)


# -- datasets --------------------------------------------------------------------------------------


def split_table(title: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Rows, targets and share above 1.0 of each side of a split."""
    table = Table(
        title=title,
        caption="targets: (state, action) pairs with a finite max rho; share > 1.0 of those",
    )
    table.add_column("set")
    table.add_column("chronics")
    for header in ("rows", "targets", "share > 1.0"):
        table.add_column(header, justify="right")
    for rec in rows:
        share = rec["share_above_1"]
        table.add_row(
            rec["set"],
            chronics(rec["chronics"]),
            f"{rec['rows']:,}",
            f"{rec['targets']:,}",
            "n/a" if share != share else f"{share:.2%}",
        )
    stdout().print(table)


def generate_report(report: GenerateReport) -> None:
    """Where the dataset is, what was computed or reused, its size and speed."""
    s = report.summary
    out = stdout()
    out.print(f"dataset: {report.path}", soft_wrap=True, highlight=False)
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
    out.print(table)
    left = s.get("distinct_actions")
    if left:
        merged = [(group["kept"], group["same_effect"]) for group in left["merged"]]
        distinct_actions(left["no_op"], merged, left["cut_off"], "runs.jsonl")


# -- models ----------------------------------------------------------------------------------------


def trained(result: TrainResult, model: str, data: str, held_out: str) -> None:
    """What was trained on what, what was held out, where the model is, what to run next."""
    line(
        f"trained {model} on chronic(s) {chronics(result.train_chronics)} "
        f"({result.train_rows:,} states) in "
        f"{result.train_seconds:.1f} s; {held_out} ({result.test_rows:,} states) held out"
    )
    line(f"model: {result.path}")
    line(f"next: gridoracle evaluate --model {result.path} --data {data}")


def evaluation(record: Mapping[str, Any]) -> None:
    """The model beside its baselines, metric by metric; its worst actions; its speed."""
    results = record["results"]
    named = (("model", record["model"]), ("mean", "per-action mean"), ("donothing", "do nothing"))
    columns = [(key, label) for key, label in named if results.get(key) is not None]
    table = Table(
        title=f"{record['model']} on test chronic(s) {chronics(record['test_chronics'])} "
        f"({record['states']:,} states, {record['actions']} actions)",
        title_justify="left",
    )
    table.add_column("metric")
    for _, label in columns:
        table.add_column(escape(label), justify="right")
    for part, rows in EVALUATION_ROWS.items():
        for label, key, fmt in rows:
            cells = []
            for name, _ in columns:
                entry = results[name]
                if part in ("dangerous", "non_reference"):
                    section = (entry.get("subsets") or {}).get(part) or {}
                else:
                    section = entry["decision"]["overload"] if part == "overload" else entry[part]
                cells.append(cell(section.get(key), fmt))
            table.add_row(label, *cells)
    out = stdout()
    out.print(table)
    per_action = results["model"]["regression"]["per_action"]
    ranked = sorted(
        ((v["rmse"], k) for k, v in per_action.items() if v["rmse"] == v["rmse"]), reverse=True
    )
    if ranked:
        worst = ", ".join(f"{escape(k)} ({v:.3f})" for v, k in ranked[:5])
        out.print(f"largest RMSE: {worst}", highlight=False, soft_wrap=True)
    timing = record["timing"]
    out.print(
        f"prediction: {timing['predict_us_per_state']:.1f} µs per state in a batch, "
        f"{timing['predict_us_single_state']:.0f} µs for one state",
        highlight=False,
    )
    if record["metrics_path"]:
        line(f"metrics: {record['metrics_path']}")


def leaderboard(board: Any, held_out: str, best: str | None = None) -> None:
    """One leaderboard (``compare`` and ``run``): models and baselines, by mean regret.

    Parameters
    ----------
    board : pandas.DataFrame
        The leaderboard (``gridoracle.pipelines.models.compare``'s, or ``run``'s).
    held_out : str
        The test side, for the title (``test chronic(s) 2``).
    best : str, optional
        A model to highlight (bold green).
    """
    table = Table(
        title=f"Leaderboard: {held_out}, sorted by mean regret",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    present = [(key, *spec) for key, spec in LEADERBOARD_COLUMNS.items() if key in board.columns]
    for _, label, fmt in present:
        table.add_column(label, justify="right" if fmt else "left", no_wrap=True)
    for rec in board.to_dict(orient="records"):
        name = str(rec["model"])
        label = f"{name} (baseline)" if rec.get("kind") == "baseline" else name
        cells = [escape(label) if not fmt else cell(rec.get(key), fmt) for key, _, fmt in present]
        table.add_row(*cells, style="bold green" if best is not None and name == best else None)
    _print_wide(table)


def compared(result: CompareResult, held_out: str) -> None:
    """The leaderboard of ``compare`` and where its files are."""
    leaderboard(result.leaderboard, held_out)
    stdout().print(f"leaderboard: {result.csv_path}, {result.json_path}", highlight=False)
    paths = ", ".join(str(p) for p in result.model_paths.values())
    line(f"models: {paths} (metrics.json in each)")


# -- the Oracle, figures, the whole run ------------------------------------------------------------


def _path_steps(names: Sequence[str]) -> str:
    """``a (t0-t3), b (t4)``: a path's actions, each with the steps it is played."""
    runs = []
    for name, steps in groupby(enumerate(names), key=itemgetter(1)):
        ts = [t for t, _ in steps]
        runs.append((name, ts[0], ts[-1]))
    return ", ".join(f"{n} (t{a}-t{b})" if a != b else f"{n} (t{a})" for n, a, b in runs)


def oracle_report(report: OracleReport) -> None:
    """The KPIs, both best paths, the replays, the actions filtered at t0, timings, outputs."""
    out = stdout()
    kpis = Table(title="KPIs", title_justify="left")
    kpis.add_column("indicator")
    kpis.add_column("reward", justify="right")
    for name, value in report.kpis.itertuples(index=False):
        kpis.add_row(str(name), "n/a" if value != value else f"{value:,.4f}")
    out.print(kpis)
    paths = (("best path", report.best), ("best path without overload", report.best_no_overload))
    for label, found in paths:
        names = report.path_names(found)
        if not names:
            out.print(f"{label}: none", highlight=False)
            continue
        steps = _path_steps(names)
        out.print(f"{label} ({found.reward:,.4f}): {steps}", highlight=False, soft_wrap=True)
    for label, names, worst, expected in report.opponent_rows():  # with an opponent
        steps = _path_steps(names) if names else "none"
        out.print(
            f"{label}: worst case {worst:,.4f}, expected {expected:,.4f} over the attacks seen:"
            f" {steps}",
            highlight=False,
            soft_wrap=True,
        )
    for result in report.replays:
        state = "game over" if result.game_over else "survived"
        line(
            f"replay of the {result.label}: {state} {result.steps_survived}/"
            f"{result.steps_planned} steps, reward {result.reward:,.4f} (expected "
            f"{result.expected_reward:,.4f})"
        )
    if report.filtered:
        shown = ", ".join(f"{name} ({reason})" for name, reason in report.filtered[:10])
        extra = len(report.filtered) - 10
        more = f" and {extra} more (summary.json)" if extra > 0 else ""
        out.print(f"filtered at t0: {shown}{more}", highlight=False, soft_wrap=True)
    warnings(report.warnings, whole_in="summary.json")
    timings = ", ".join(f"{k} {v:.2f} s" for k, v in report.timings.items())
    out.print(f"time: {timings}", highlight=False, soft_wrap=True)
    out.print(f"outputs: {report.folder}", highlight=False, soft_wrap=True)


def figures(written: Sequence[Any], folder: Path) -> None:
    """The figures written (``gridoracle plot``)."""
    out = stdout()
    out.print(f"{len(written)} figures written to {folder}:", highlight=False, soft_wrap=True)
    for fig in written:
        out.print(f"  {escape(str(fig.path))}", highlight=False, soft_wrap=True)


def run_report(report: RunReport, held_out: str) -> None:
    """The leaderboard (best model highlighted), the Oracle's KPIs, timings, the report's path."""
    leaderboard(report.leaderboard, held_out, best=report.best_model)
    out = stdout()
    cached = "reused (cached)" if report.models_cached else "trained in this run"
    out.print(f"best model: {report.best_model} (highlighted); models {cached}", highlight=False)
    if report.oracle is not None:
        kpis = {str(k): float(v) for k, v in report.oracle.kpis.itertuples(index=False)}
        shown = ", ".join(f"{k}: {v:,.2f}" for k, v in list(kpis.items())[:3])
        out.print(f"oracle (chronic {report.oracle.chronic}): {shown}", highlight=False)
        out.print(f"oracle outputs: {report.oracle.folder}", highlight=False, soft_wrap=True)
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items())
    out.print(
        f"time: {timings}; total {report.total_seconds:.1f} s", highlight=False, soft_wrap=True
    )
    out.print(f"report: {report.report_path}", highlight=False, soft_wrap=True)
