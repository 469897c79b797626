"""The Oracle pipeline, steps 0 to 6, and what it writes: ``gridoracle oracle``.

0. inputs: environment, chronic, unitary actions (Oracle4Grid's three formats or a gridoracle
   catalogue), settings;
1. combinations up to ``max_depth``, filtered at t0 (divergence, no effect);
2. reward table, every combined action held over the episode (batched engine, on the
   reconnect-only episode read from the chronics: :mod:`gridoracle.oracle.sim.episode`);
3. transitions under the game rules;
4. best paths, with and without overload (dynamic programming);
5. KPIs with Oracle4Grid's order check;
6. replay of both paths under real rules, in the one environment of the run; its logs are
   ``replay_logs/<path>/steps.csv`` and grid2op's episode folder ``replay_logs/<path>/grid2op``.

Outputs go to ``<output>/<environment>/scenario_<chronic>/<actions file stem>/`` (see
:func:`output_folder`; Oracle4Grid's layout below the environment). :func:`run_oracle` takes an
:class:`OracleRequest`, a :class:`~gridoracle.parallel.Backend` (where the reward table's chunks
are solved; the rest runs here) and a :class:`~gridoracle.progress.Progress` (a ``stage`` per
Oracle step, ``advance`` per chunk of the reward table).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridoracle.actions.combine import CombinedAction, combinations, filter_at_t0
from gridoracle.actions.oracle_input import load_oracle_actions
from gridoracle.actions.parse import UnitaryAction
from gridoracle.engine.batched import BatchedEngine
from gridoracle.errors import InvalidOption, OutputError
from gridoracle.grid import env_label, resolve_chronics
from gridoracle.io import check_writable, versions
from gridoracle.oracle.config import OracleConfig, read_config
from gridoracle.oracle.core.best_path import BestPath, best_paths, best_unconstrained
from gridoracle.oracle.core.kpis import MSG_DONOTHING, compute_kpis
from gridoracle.oracle.core.transitions import TransitionRules, allowed_transitions
from gridoracle.oracle.core.universes import (
    UniversePath,
    UniverseTable,
    best_universe_path,
    drawn_value,
    robust_path,
    robust_values,
    universe_frame,
)
from gridoracle.oracle.outputs import path_document, write_csv, write_figures, write_json
from gridoracle.oracle.sim.env import (
    has_opponent,
    make_oracle_env,
    oracle_env_name,
    use_replay_parameters,
)
from gridoracle.oracle.sim.episode import reset_episode
from gridoracle.oracle.sim.multiverse import (
    MainRuns,
    main_runs,
    opponent_settings,
    resimulate,
)
from gridoracle.oracle.sim.replay import ReplayResult, replay
from gridoracle.oracle.sim.rewards import RewardTable, drop_incomplete, reward_table
from gridoracle.oracle.sim.superposition import SuperposedTable, superposed_reward_table
from gridoracle.parallel import SERIAL, Backend
from gridoracle.progress import SILENT, Progress

__all__ = [
    "OracleConfig",
    "OracleReport",
    "OracleRequest",
    "output_folder",
    "read_config",
    "run_oracle",
    "scenario_label",
]

#: the two best paths: label in messages, and the stem of their files
_PATHS: tuple[tuple[str, str], ...] = (
    ("best path", "best_path"),
    ("best path without overload", "best_path_no_overload"),
)


@dataclass(frozen=True)
class OracleRequest:
    """What the Oracle runs on (see :func:`run_oracle`).

    Attributes
    ----------
    env : str
        Environment name or folder.
    chronic : int or str
        Chronic index or name (one).
    actions_file : Path
        Unitary actions in any of Oracle4Grid's three formats, or a ``gridoracle actions``
        catalogue (see :mod:`gridoracle.actions.oracle_input`).
    settings : OracleConfig
        Oracle4Grid's settings (max_depth, max_iter, best_path_type, ...).
    out : Path, optional
        Root of the outputs; default ``settings.output_path`` or ``results/oracle``.
    seed : int, optional
        Environment seed of every run.
    reward : {"oracle", "l2rpn"}
        The reward of the table.
    export_graph : bool
        Also write Oracle4Grid's graph (GraphML) and edge_list.csv (builds the networkx graph).
    replay : bool
        Replay both paths under real rules (step 6).
    resume : bool
        Keep every finished chunk of the reward table in ``<folder>/.cache`` and reuse those of
        the same inputs (False: solve everything again).
    """

    env: str
    chronic: str | int
    actions_file: Path
    settings: OracleConfig
    out: Path | None = None
    seed: int | None = 0
    reward: str = "oracle"
    export_graph: bool = False
    replay: bool = True
    resume: bool = True


@dataclass
class OracleReport:
    """Everything the Oracle found, and where it wrote it."""

    folder: Path
    config: OracleConfig
    chronic: int
    names: list[str]
    table: RewardTable
    best: BestPath | UniversePath
    best_no_overload: BestPath | UniversePath
    kpis: pd.DataFrame
    filtered: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    replays: list[ReplayResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    opponent: OpponentReport | None = None

    def opponent_rows(self) -> list[tuple[str, list[str], float, float]]:
        """With an opponent: each path's label, action names, worst-case and expected values
        (the robust paths' definitions, :mod:`gridoracle.oracle.core.universes`); else []."""
        if self.opponent is None or not self.opponent.universes.windows:
            return []
        labels = {stem: label for label, stem in _PATHS} | {s: lb for _, lb, s in ROBUST_PATHS}
        rows = []
        for found, stem in _all_paths(self):
            worst, expected = robust_values(self.opponent.universes, found.path)
            rows.append((labels[stem], self.path_names(found), worst, expected))
        return rows

    def path_names(self, best: BestPath | UniversePath) -> list[str]:
        """The action names along ``best`` (its :meth:`BestPath.names` over this run's names)."""
        return best.names(self.names)


#: the robust paths (environments with an opponent): criterion, label, stem of their files
ROBUST_PATHS: tuple[tuple[str, str, str], ...] = (
    ("worst", "robust path (worst case)", "robust_path_worst_case"),
    ("expected", "robust path (expected)", "robust_path_expected"),
)
#: the robust paths' KPI rows
MSG_ROBUST = {
    "worst": "Robust path: best worst case over the attacks seen",
    "expected": "Robust path: best expected value over the attacks seen",
}


@dataclass
class OpponentReport:
    """What the Oracle found on an environment with an opponent.

    Attributes
    ----------
    settings : dict
        The opponent's configuration (class, cooldown, duration, budget, lines attacked).
    runs : MainRuns
        The main runs, every action simulated (the attacks they saw).
    full : UniverseTable
        Main and multiverse rows of every action simulated.
    universes : UniverseTable
        Main and multiverse rows of the actions in the graph.
    n_multiverse : int
        Multiverse runs simulated.
    robust : dict of str to UniversePath
        The robust paths by criterion (``"worst"``, ``"expected"``); empty for the shortest
        path type (they maximise) and when no attack came.
    """

    settings: dict[str, Any]
    runs: MainRuns
    full: UniverseTable
    universes: UniverseTable
    n_multiverse: int
    robust: dict[str, UniversePath] = field(default_factory=dict)


def scenario_label(given: str | int) -> str:
    """``scenario_<chronic>``: the index or name the user gave, as Oracle4Grid names it."""
    return f"scenario_{given}"


def output_folder(root: str | Path, env: str, chronic: str | int, actions_file: str | Path) -> Path:
    """Where the Oracle writes: ``<root>/<environment label>/scenario_<chronic>/<stem>``.

    The environment label is :func:`gridoracle.grid.env_label`'s (the name, or a folder's base
    name), so that two environments' outputs of the same chronic and actions file name do not
    overwrite each other; below it, Oracle4Grid's layout.

    Examples
    --------
    >>> output_folder("out", "rte_case14_realistic", 0, "examples/reference.json").as_posix()
    'out/rte_case14_realistic/scenario_0/reference'
    """
    return Path(root) / env_label(env) / scenario_label(chronic) / Path(actions_file).stem


def run_oracle(
    request: OracleRequest, backend: Backend = SERIAL, progress: Progress = SILENT
) -> OracleReport:
    """Run the Oracle (steps 0-6) and write its outputs.

    Parameters
    ----------
    request : OracleRequest
        The inputs and settings.
    backend : Backend
        Where the reward table (step 2) is solved. A serial backend leaves it to
        ``settings.nb_process`` local processes, as Oracle4Grid's ``nb_process`` does; a Dask
        backend ignores ``nb_process``. The rest of the Oracle runs here.
    progress : Progress
        ``stage`` at each step, ``advance(done, total, "combined actions")`` during step 2.

    Returns
    -------
    OracleReport
    """
    timings: dict[str, float] = {}
    _prepare_output(_output_folder(request))  # before any work: nothing runs for nothing
    with _timed(timings, "0 inputs"):
        progress.stage("0 - environment and unitary actions")
        opponent = not request.settings.no_opponent
        sim_env = make_oracle_env(oracle_env_name(request.env, opponent=opponent), request.reward)
    try:
        return _run(request, sim_env, _table_backend(request.settings, backend), progress, timings)
    finally:
        sim_env.close()


@contextmanager
def _timed(timings: dict[str, float], label: str) -> Iterator[None]:
    """Add the time spent in the block to ``timings[label]`` (a label may be timed twice)."""
    tick = time.perf_counter()
    try:
        yield
    finally:
        timings[label] = timings.get(label, 0.0) + time.perf_counter() - tick


def _table_backend(settings: OracleConfig, backend: Backend) -> Backend:
    """``backend``, or for a serial one the local processes of ``settings.nb_process``."""
    if backend.kind == "serial":
        return Backend.from_options(workers=settings.nb_process)
    return backend


@dataclass
class _Episode:
    """What steps 0 and 1 found: the chronic, the actions, where the outputs go; warnings."""

    chronic: int
    folder: Path
    unitary: list[UnitaryAction]
    warnings: list[str]
    actions_format: str
    combos: list[CombinedAction] = field(default_factory=list)
    actions: list[CombinedAction] = field(default_factory=list)  # kept at t0
    filtered: list[tuple[str, str]] = field(default_factory=list)
    superposition: SuperposedTable | None = None  # --combine superposition


def _run(
    request: OracleRequest,
    sim_env: Any,
    backend: Backend,
    progress: Progress,
    timings: dict[str, float],
) -> OracleReport:
    settings = request.settings
    with _timed(timings, "0 inputs"):
        engine = BatchedEngine(sim_env)  # built first: its voltages do not depend on later runs
        episode = _read_inputs(request, sim_env)
    with _timed(timings, "1 combinations"):
        progress.stage("1 - combinations and filters at t0")
        _combine(episode, settings, sim_env, request.seed)
    with _timed(timings, "2 rewards"):
        progress.stage(
            f"2 - rewards of {len(episode.actions)} combined actions over {settings.max_iter} steps"
        )
        opponent = has_opponent(sim_env)
        if opponent:
            runs, full_universes = _opponent_rewards(request, episode, sim_env, backend, progress)
            full_table = runs.table
        elif settings.combine == "superposition":
            full_table = _superposed_rewards(request, episode, sim_env, engine, backend, progress)
        else:
            full_table = _rewards(request, episode, sim_env, engine, backend, progress)
    episode.warnings += _steps_warnings(settings.max_iter, full_table)
    keep, drop_warnings = drop_incomplete(full_table.played, full_table.names)
    episode.warnings += drop_warnings
    table = full_table if len(keep) == len(full_table.names) else full_table.select(keep)
    overload = table.overload_flags()
    # --combine superposition hands back complete runs only, often searched already
    found = episode.superposition
    searched = found is not None and found.table is table and found.paths is not None
    with _timed(timings, "3 transitions"):
        progress.stage("3 - transitions under the game rules")
        if searched:
            assert found is not None
            rules = found.rules
        else:
            rules = allowed_transitions(table.names, max_sub=1, max_line=1)
    opponent_report = None
    with _timed(timings, "4 best paths"):
        progress.stage("4 - best paths")
        best: BestPath | UniversePath
        best_no: BestPath | UniversePath
        if opponent:
            opponent_report = OpponentReport(
                opponent_settings(sim_env),
                runs,
                full_universes,
                full_universes.select(keep),
                int(sum(np.isfinite(b).any(axis=1).sum() for b in full_universes.multi_rewards)),
            )
            best, best_no = _universe_paths(opponent_report, rules, settings)
        elif searched:
            assert found is not None and found.paths is not None
            best, best_no = found.paths
        else:
            best, best_no = best_paths(
                table.rewards,
                rules,
                overload,
                kind=settings.best_path_type,
                significant_digits=settings.significant_digit,
            )
    with _timed(timings, "5 kpis"):
        progress.stage("5 - indicators")
        kpis = _kpis(table, best, best_no, settings, opponent_report)
    episode.warnings += _worse_than_donothing(kpis, best, settings.best_path_type)
    report = OracleReport(
        episode.folder,
        settings,
        episode.chronic,
        table.names,
        table,
        best,
        best_no,
        kpis,
        episode.filtered,
        episode.warnings,
        opponent=opponent_report,
    )
    dicts = [episode.actions[i].grid2op for i in keep]
    with _timed(timings, "outputs"):
        written = None if found is None else found.written  # superposed columns are not
        _write_tables(report, full_table if written is None else written, dicts)
        if request.export_graph:
            _export_graph(report, rules, overload)
    with _timed(timings, "6 replay"):
        if request.replay:
            progress.stage("6 - replay under real rules")
            _replay_paths(report, sim_env, dicts, request.seed)
    with _timed(timings, "outputs"):
        _draw_figures(report, overload)
    report.timings = timings
    _write_summary(report, request, backend, episode, full_table)
    return report


def _read_inputs(request: OracleRequest, sim_env: Any) -> _Episode:
    """Step 0: the chronic (one) and the unitary actions; where the outputs go."""
    chronics = resolve_chronics(sim_env, str(request.chronic))
    if len(chronics) != 1:
        raise InvalidOption(
            f"chronic {request.chronic}: give one chronic, not {len(chronics)}", param="chronic"
        )
    unitary, warnings, fmt = load_oracle_actions(request.actions_file, sim_env)
    if not unitary:
        raise InvalidOption(f"actions file {str(request.actions_file)!r}: no unitary action in it")
    folder = _output_folder(request)
    return _Episode(chronics[0], folder, unitary, list(warnings), fmt)


def _env_name(request: OracleRequest) -> str:
    """The environment as :func:`make_oracle_env` makes it, here and in every worker: a folder
    by its absolute path, without its opponent with ``no_opponent`` (then the name differs, and
    so do the caches' keys holding it)."""
    env = request.env
    name = str(Path(env).resolve()) if Path(env).exists() else env
    return oracle_env_name(name, opponent=not request.settings.no_opponent)


def _output_folder(request: OracleRequest) -> Path:
    """Where the outputs of ``request`` go: under ``out``, else the settings' ``output_path``."""
    root = Path(request.out or request.settings.output_path or "results/oracle")
    return output_folder(root, request.env, request.chronic, request.actions_file)


def _prepare_output(folder: Path) -> None:
    """Fail first if the output folder cannot be made: its nearest existing ancestor must be a
    folder where a file can be written (nothing is created here)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a folder")
        check_writable(existing)
    except OSError as exc:
        raise OutputError(
            f"cannot write the Oracle's outputs in {folder}: {exc.strerror or exc}"
        ) from None


def _combine(episode: _Episode, settings: OracleConfig, sim_env: Any, seed: int | None) -> None:
    """Step 1: the combinations of the unitary actions, filtered at t0."""
    episode.combos = combinations(episode.unitary, settings.max_depth)
    if settings.combine == "superposition":
        if not has_opponent(sim_env):  # filtered at t0 where simulated exactly (step 2)
            episode.actions = list(episode.combos)
            return
        episode.warnings.append(
            "combine superposition: not used with an opponent (its attacks change the "
            "topology per run); every combined action is simulated exactly (--no-opponent "
            "makes the environment without it)"
        )
    # the reset the reward table makes (step 2: only the rows of max_iter steps are read)
    first = reset_episode(sim_env, episode.chronic, seed, settings.max_iter)
    kept, episode.filtered = filter_at_t0(episode.combos, sim_env, episode.chronic, seed, obs=first)
    if episode.filtered:
        episode.warnings.append(f"{len(episode.filtered)} combined action(s) filtered at t0")
    episode.actions = list(kept)


def _rewards(
    request: OracleRequest,
    episode: _Episode,
    sim_env: Any,
    engine: BatchedEngine,
    backend: Backend,
    progress: Progress,
) -> RewardTable:
    """Step 2: the reward table of every combined action, cached under the output folder."""
    return reward_table(
        sim_env,
        engine,
        episode.actions,
        episode.chronic,
        request.settings.max_iter,
        request.seed,
        reward=request.reward,
        backend=backend,
        progress=progress,
        env_name=_env_name(request),
        cache=episode.folder / ".cache" if request.resume else None,
    )


def _superposed_rewards(
    request: OracleRequest,
    episode: _Episode,
    sim_env: Any,
    engine: BatchedEngine,
    backend: Backend,
    progress: Progress,
) -> RewardTable:
    """Step 2 with ``--combine superposition``: screened, exact where it can matter."""
    settings = request.settings
    found = superposed_reward_table(
        sim_env,
        engine,
        episode.actions,
        episode.chronic,
        settings.max_iter,
        request.seed,
        kind=settings.best_path_type,
        significant_digits=settings.significant_digit,
        reward=request.reward,
        backend=backend,
        progress=progress,
        env_name=_env_name(request),
        cache=episode.folder / ".cache" if request.resume else None,
    )
    episode.superposition = found
    episode.actions = found.actions
    episode.filtered = found.filtered
    episode.warnings += found.dropped  # its table holds the complete runs only
    if found.filtered:
        episode.warnings.append(f"{len(found.filtered)} combined action(s) filtered at t0")
    stats = found.stats
    episode.warnings.append(
        f"combine superposition: {stats['n_exact']} of {len(found.actions)} combined actions "
        f"simulated exactly ({stats['n_flagged']} not superposable, {stats['n_candidates']} "
        f"within {stats['margin']:g} of a step's best, {stats['n_added_for_paths']} for the "
        "paths); the others' rewards are superposed and left out of reward_df.csv"
        + (
            f"; {stats['n_ended_islanded_unsimulated']} end early unsimulated (their topology "
            "islands the grid at some step)"
            if stats.get("n_ended_islanded_unsimulated")
            else ""
        )
    )
    return found.table


def _kpis(
    table: RewardTable,
    best: BestPath | UniversePath,
    best_no: BestPath | UniversePath,
    settings: OracleConfig,
    opponent: OpponentReport | None = None,
) -> pd.DataFrame:
    """Step 5: Oracle4Grid's indicators, with their order check.

    With an opponent, do nothing and "<topo> then do nothing" sum the main rows only, the paths
    their nodes (multiverse ones included), the unconstrained bound the best reward at each
    timestep over every row; the robust paths' values are two more rows.
    """
    kind = settings.best_path_type
    if opponent is None:
        unconstrained = best_unconstrained(table.rewards, kind)
        path_rewards = None
        extra: list[tuple[str, float]] = []
    else:
        unconstrained = float(np.sum(opponent.universes.best_per_timestep(kind)))
        path_rewards = (best.reward, best_no.reward)
        extra = [(MSG_ROBUST[c], found.reward) for c, found in opponent.robust.items()]
    return compute_kpis(
        table.rewards,
        table.names,
        best.path,
        best_no.path,
        settings.n_best_topos,
        settings.significant_digit,
        unconstrained,
        kind=kind,
        path_rewards=path_rewards,
        extra=extra,
    )


def _steps_warnings(max_iter: int, table: RewardTable) -> list[str]:
    """One line when the episode has fewer steps than asked (summary.json has both counts)."""
    if table.n_steps >= max_iter:
        return []
    why = table.stopped or "the reconnect-only run stops there"
    return [f"max_iter {max_iter}: {table.n_steps} steps run ({why})"]


def _worse_than_donothing(
    kpis: pd.DataFrame, best: BestPath | UniversePath, kind: str
) -> list[str]:
    """One line when the best path sums less reward than doing nothing (shortest does that).

    A longest path cannot: doing nothing is a path, and the KPIs' order check stops it.
    """
    rows = dict(kpis.itertuples(index=False))
    donothing = float(rows.get(MSG_DONOTHING, float("nan")))
    if not best.path or np.isnan(donothing) or best.reward >= donothing:
        return []
    return [
        f"best_path_type {kind}: the best path's reward {best.reward:,.4f} is worse than doing "
        f"nothing's {donothing:,.4f} (shortest minimises the reward; longest maximises it)"
    ]


def _write_tables(
    report: OracleReport, full_table: RewardTable, dicts: Sequence[dict[str, Any]]
) -> None:
    """reward_df.csv (every action simulated), kpis.csv and the two best_path*.json."""
    folder, kind = report.folder, report.config.best_path_type
    folder.mkdir(parents=True, exist_ok=True)
    opponent = report.opponent
    if opponent is None:
        write_csv(full_table.to_frame(), folder / "reward_df.csv")
    else:
        runs = opponent.runs
        frame = universe_frame(
            opponent.full, runs.table.names, runs.table.played.tolist(), runs.attack_text
        )
        write_csv(frame, folder / "reward_df.csv")
    write_csv(report.kpis, folder / "kpis.csv")
    rewards = report.table.rewards
    for found, stem in _all_paths(report):
        document = path_document(found.path, report.names, dicts, rewards, found.reward, kind)
        if isinstance(found, UniversePath):
            _universe_document(document, found, report)
        write_json(document, folder / f"{stem}.json")
    written = {stem for _, stem in _all_paths(report)}
    for _, _, stem in ROBUST_PATHS:  # an earlier run's robust paths are not this run's
        if stem not in written:
            (folder / f"{stem}.json").unlink(missing_ok=True)


def _export_graph(report: OracleReport, rules: TransitionRules, overload: np.ndarray) -> None:
    """Oracle4Grid's graph as GraphML and edge_list.csv (``--export-graph``)."""
    from gridoracle.oracle.graph_export import build_graph, build_universe_graph, export_graph

    if report.opponent is not None:
        graph = build_universe_graph(
            report.opponent.universes,
            report.names,
            rules,
            significant_digits=report.config.significant_digit,
        )
    else:
        graph = build_graph(
            report.table.rewards,
            report.names,
            rules,
            overload=overload,
            significant_digits=report.config.significant_digit,
        )
    export_graph(graph, report.folder)


def _draw_figures(report: OracleReport, overload: np.ndarray) -> None:
    """graph.png and the topology counts (drawn here, after the replay: about 0.3 s of CPU, each
    figure drawn once); with an opponent's windows, universes.png."""
    if report.opponent is not None and report.opponent.universes.windows:
        from gridoracle.oracle.outputs import plot_universes

        attacks = report.best.attacks if isinstance(report.best, UniversePath) else []
        drawn = [
            ("best path", report.best.path, attacks, "orange"),
            *(
                (label, report.opponent.robust[c].path, [], colour)
                for (c, label, _), colour in zip(ROBUST_PATHS, ("white", "magenta"), strict=True)
                if c in report.opponent.robust
            ),
        ]
        plot_universes(
            report.opponent.universes, report.names, drawn, report.folder / "universes.png"
        )
    write_figures(
        report.table.rewards,
        report.names,
        report.best.path,
        report.best_no_overload.path,
        overload,
        report.config.n_best_topos,
        report.folder,
    )


def _replay_paths(
    report: OracleReport, sim_env: Any, dicts: Sequence[dict[str, Any]], seed: int | None
) -> None:
    """Step 6: replay both best paths under real rules (the same path is replayed once)."""
    real_env = use_replay_parameters(sim_env)  # applied at the replay's reset
    done: dict[tuple[float, ...], ReplayResult] = {}
    labels = {stem: label for label, stem in _PATHS} | {s: lb for _, lb, s in ROBUST_PATHS}
    for found, stem in _all_paths(report):
        label = labels[stem]
        if not found.path:
            continue
        expected = found.reward
        if report.opponent is not None:  # with the attacks the main runs met (robust paths)
            expected = drawn_value(report.opponent.universes, found.path)
        key = (*found.path, expected)
        if key in done:  # the same path and expected reward: same replay
            earlier = done[key]
            result = dataclasses.replace(
                earlier,
                label=label,
                warnings=[w.replace(earlier.label, label, 1) for w in earlier.warnings],
            )
        else:
            result = replay(
                real_env,
                [dicts[i] for i in found.path],
                expected,
                report.chronic,
                seed=seed,
                rel_tolerance=report.config.replay_reward_rel_tolerance,
                label=label,
                names=report.path_names(found),
                logs=report.folder / "replay_logs" / stem,
            )
            done[key] = result
        report.replays.append(result)
        report.warnings += result.warnings


def _write_summary(
    report: OracleReport,
    request: OracleRequest,
    backend: Backend,
    episode: _Episode,
    full_table: RewardTable,
) -> None:
    """summary.json: the inputs, the counts, both paths, the replays, warnings and timings."""
    write_json(
        {
            "env": request.env,
            "chronic": report.chronic,
            "chronic_given": str(request.chronic),
            "actions_file": str(request.actions_file),
            "actions_format": episode.actions_format,
            "config": report.config.to_dict(),
            "steps": {"requested": report.config.max_iter, "run": full_table.n_steps},
            "episode_states": full_table.source,
            "seed": request.seed,
            "reward": request.reward,
            "versions": versions(),
            "n_unitary": len(episode.unitary),
            "n_combined": len(episode.combos),
            "superposition": None if episode.superposition is None else episode.superposition.stats,
            "n_simulated": len(episode.actions),
            "n_in_graph": len(report.names),
            "n_reused": full_table.reused,
            "scheduler": backend.scheduler,
            "dask_workers": backend.dask_workers,
            "filtered": [{"action": a, "reason": r} for a, r in report.filtered],
            "best_path": {"value": report.best.reward, "actions": report.path_names(report.best)},
            "best_path_no_overload": {
                "value": report.best_no_overload.reward,
                "actions": report.path_names(report.best_no_overload),
            },
            "opponent": None if report.opponent is None else _opponent_summary(report),
            "replays": [r.to_dict() for r in report.replays],
            "warnings": report.warnings,
            "seconds": report.timings,
        },
        report.folder / "summary.json",
    )


# --------------------------------------------------------------------------------------------
# opponents (Oracle4Grid's multiverse): see gridoracle.oracle.core.universes and
# gridoracle.oracle.sim.multiverse


def _opponent_rewards(
    request: OracleRequest, episode: _Episode, sim_env: Any, backend: Backend, progress: Progress
) -> tuple[MainRuns, UniverseTable]:
    """Step 2 with an opponent: the main runs (grid2op, the opponent active), then every
    (window, attack, action) the main runs did not simulate, re-simulated with that attack;
    both as units on ``backend`` (local processes with ``nb_process``, or Dask), each finished
    run kept in ``<folder>/.cache`` (reused when resuming)."""
    options: dict[str, Any] = {
        "backend": backend,
        "env_name": _env_name(request),
        "reward": request.reward,
        "cache": episode.folder / ".cache" if request.resume else None,
    }
    seed, chronic = request.seed, episode.chronic
    max_iter = request.settings.max_iter
    runs = main_runs(sim_env, episode.actions, chronic, max_iter, seed, progress, **options)
    universes = resimulate(sim_env, episode.actions, runs, chronic, seed, progress, **options)
    return runs, universes


def _universe_paths(
    opponent: OpponentReport, rules: TransitionRules, settings: OracleConfig
) -> tuple[UniversePath, UniversePath]:
    """Step 4 with an opponent: the best paths through the universes, and the robust ones."""
    found = [
        best_universe_path(
            opponent.universes,
            rules,
            kind=settings.best_path_type,
            without_overload=without,
            significant_digits=settings.significant_digit,
        )
        for without in (False, True)
    ]
    if settings.best_path_type == "longest" and opponent.universes.windows:
        for criterion, _, _ in ROBUST_PATHS:
            opponent.robust[criterion] = robust_path(opponent.universes, rules, criterion)
    return found[0], found[1]


def _all_paths(report: OracleReport) -> list[tuple[BestPath | UniversePath, str]]:
    """The paths written and replayed: both best paths, then the robust ones (opponent)."""
    paths: list[tuple[BestPath | UniversePath, str]] = [
        (report.best, _PATHS[0][1]),
        (report.best_no_overload, _PATHS[1][1]),
    ]
    if report.opponent is not None:
        for criterion, _, stem in ROBUST_PATHS:
            if criterion in report.opponent.robust:
                paths.append((report.opponent.robust[criterion], stem))
    return paths


def _universe_document(document: dict[str, Any], found: UniversePath, report: OracleReport) -> None:
    """A path document with an opponent: each step's node (its attack, whether re-simulated)
    and the node's reward; a robust path also its worst-case and expected values."""
    nodes = found.node_names(report.names)
    for step, node, attack, multi, reward in zip(
        document["steps"], nodes, found.attacks, found.multiverse, found.rewards, strict=True
    ):
        step.update(node=node, attack_id=attack, multiverse=multi, reward=float(reward))
    if report.opponent is not None and found.path:
        worst, expected = robust_values(report.opponent.universes, found.path)
        document["worst_case"], document["expected"] = worst, expected


def _opponent_summary(report: OracleReport) -> dict[str, Any]:
    """summary.json's ``opponent``: its settings, the windows, the universes, the robust paths
    and the worst-case and expected values of every path."""
    opponent = report.opponent
    assert opponent is not None
    names = opponent.runs.table.names
    windows = []
    for window in opponent.full.windows:
        windows.append(
            {
                "begin": window.begin,
                "end": window.end,
                "attacks": [
                    {
                        "attack_id": a,
                        "lines": opponent.runs.attacks.get(a, []),
                        "attacked_in_main_run": [
                            names[y] for y in np.flatnonzero(window.native[k]).tolist()
                        ],
                    }
                    for k, a in enumerate(window.attacks)
                ],
            }
        )
    values = {}
    for found, stem in _all_paths(report):
        worst, expected = robust_values(opponent.universes, found.path)
        values[stem] = {
            "reward": found.reward,
            "worst_case": worst,
            "expected": expected,
            "as_drawn": drawn_value(opponent.universes, found.path) if found.path else None,
        }
    return {
        "settings": opponent.settings,
        "windows": windows,
        "n_multiverse_runs": opponent.n_multiverse,
        "paths": values,
    }
