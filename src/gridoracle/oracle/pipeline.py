"""The Oracle, steps 0 to 6, and what it writes.

0. inputs: environment, chronic, unitary actions (three formats), settings;
1. combinations up to ``max_depth``, filtered at t0 (divergence, no effect);
2. reward table, every combined action held over the episode (batched engine);
3. transitions under the game rules;
4. best paths, with and without overload (dynamic programming);
5. KPIs with Oracle4Grid's order check;
6. replay of both paths under real rules.

Outputs go to ``<output>/scenario_<chronic>/<actions file stem>/``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridoracle.errors import InvalidOption
from gridoracle.oracle.best_path import BestPath
from gridoracle.oracle.config import OracleConfig
from gridoracle.oracle.replay import ReplayResult
from gridoracle.oracle.rewards import RewardTable
from gridoracle.parallel import Backend

log = logging.getLogger(__name__)


@dataclass
class OracleReport:
    """Everything the Oracle found, and where it wrote it."""

    folder: Path
    config: OracleConfig
    chronic: int
    names: list[str]
    table: RewardTable
    best: BestPath
    best_no_overload: BestPath
    kpis: pd.DataFrame
    filtered: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    replays: list[ReplayResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def path_names(self, best: BestPath) -> list[str]:
        return [self.names[i] for i in best.path]


@contextmanager
def _timed(timings: dict[str, float], label: str) -> Iterator[None]:
    """Add the time spent in the block to ``timings[label]`` (a label may be timed twice)."""
    tick = time.perf_counter()
    try:
        yield
    finally:
        timings[label] = timings.get(label, 0.0) + time.perf_counter() - tick


def scenario_label(given: str | int) -> str:
    """``scenario_<chronic>``: the index or name the user gave, as Oracle4Grid names it."""
    return f"scenario_{given}"


def write_figures(
    rewards: np.ndarray,
    names: list[str],
    best: list[int],
    best_no_overload: list[int],
    overload: np.ndarray,
    n_best: int,
    folder: Path,
) -> None:
    """graph.png and the two topology counts of the best paths."""
    from gridoracle.oracle.outputs import plot_graph, plot_topology_count

    plot_graph(rewards, names, best, best_no_overload, overload, folder / "graph.png")
    for path, title, file in (
        (best, "Most played topologies of the best path", "best_path_topologies_count.png"),
        (
            best_no_overload,
            "Most played topologies of the best path without overload",
            "best_path_no_overload_topologies_count.png",
        ),
    ):
        plot_topology_count([names[i] for i in path], n_best, title, folder / file)


def _start_figures(*args: Any) -> Callable[[], None]:
    """Draw the figures in a forked process; the returned callable waits (and re-raises).

    Where fork is not available they are drawn here, at once.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in mp.get_all_start_methods():
        write_figures(*args)
        return lambda: None
    pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork"))
    future = pool.submit(write_figures, *args)

    def wait() -> None:
        try:
            future.result()
        finally:
            pool.shutdown()

    return wait


def run_oracle(
    env: str,
    chronic: str | int,
    actions_file: Path,
    config: OracleConfig,
    *,
    out: Path | None = None,
    seed: int | None = 0,
    reward: str = "oracle",
    export_graph: bool = False,
    do_replay: bool = True,
    progress: Callable[[str], None] | None = None,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    resume: bool = True,
) -> OracleReport:
    """Run the Oracle (steps 0-6) and write its outputs.

    Parameters
    ----------
    env : str
        Environment name or folder.
    chronic : int or str
        Chronic index or name (one).
    actions_file : Path
        Unitary actions in any of Oracle4Grid's three formats.
    config : OracleConfig
        Settings (max_depth, max_iter, best_path_type, ...).
    out : Path, optional
        Root of the outputs; default ``config.output_path`` or ``results/oracle``.
    seed : int, optional
        Environment seed of every run.
    reward : {"oracle", "l2rpn"}
        The reward of the table.
    export_graph : bool
        Also write Oracle4Grid's graph (GraphML) and edge_list.csv (builds the networkx graph).
    do_replay : bool
        Replay both paths under real rules (step 6).
    progress : callable, optional
        Called with a short text at each step.
    scheduler, dask_workers
        Solve the reward table (step 2) on this Dask cluster (``tcp://host:port``) or on a
        LocalCluster of this many processes; ``config.nb_process`` is then unused. The rest of
        the Oracle runs here.
    resume : bool
        Keep every finished chunk of the reward table in ``<folder>/.cache`` and reuse those
        of the same inputs (an interrupted or repeated run does not solve them again).
    """
    from gridoracle.actions.combine import combinations, filter_at_t0
    from gridoracle.actions.parse import load_unitary_actions
    from gridoracle.engine.batched import BatchedEngine
    from gridoracle.grid import resolve_chronics
    from gridoracle.io import versions
    from gridoracle.oracle.best_path import best_paths, best_unconstrained
    from gridoracle.oracle.kpis import compute_kpis
    from gridoracle.oracle.outputs import path_document, write_csv, write_json
    from gridoracle.oracle.replay import replay, use_replay_parameters
    from gridoracle.oracle.rewards import make_oracle_env, reward_table
    from gridoracle.oracle.transitions import allowed_transitions, drop_incomplete

    say = progress or (lambda text: None)
    timings: dict[str, float] = {}
    warnings: list[str] = []
    # 0 - inputs
    with _timed(timings, "0 inputs"):
        say("0 - environment and unitary actions")
        sim_env = make_oracle_env(env, reward)
        engine = BatchedEngine(sim_env)  # built first: its voltages do not depend on later runs
        chronics = resolve_chronics(sim_env, str(chronic))
        if len(chronics) != 1:
            raise InvalidOption(f"--chronic {chronic}: give one chronic, not {len(chronics)}")
        chronic_id = chronics[0]
        unitary, parse_warnings = load_unitary_actions(actions_file, sim_env)
        warnings += parse_warnings
        if not unitary:
            raise InvalidOption(f"actions file {str(actions_file)!r}: no unitary action in it")
        root = Path(out or config.output_path or "results/oracle")
        folder = root / scenario_label(chronic) / Path(actions_file).stem
    # 1 - combinations
    with _timed(timings, "1 combinations"):
        say("1 - combinations and filters at t0")
        combos = combinations(unitary, config.max_depth)
        kept, filtered = filter_at_t0(combos, sim_env, chronic_id, seed)
        if filtered:
            warnings.append(f"{len(filtered)} combined action(s) filtered at t0")
    actions = list(kept)
    # 2 - rewards
    with _timed(timings, "2 rewards"):
        say(f"2 - rewards of {len(actions)} combined actions over {config.max_iter} steps")
        full_table = reward_table(
            sim_env,
            engine,
            actions,
            chronic_id,
            config.max_iter,
            seed,
            reward=reward,
            backend=Backend.from_options(
                workers=config.nb_process, scheduler=scheduler, dask_workers=dask_workers
            ),
            env_name=str(Path(env).resolve()) if Path(env).exists() else env,
            cache=folder / ".cache" if resume else None,
        )
    names_all = full_table.names
    keep, drop_warnings = drop_incomplete(full_table.played, names_all)
    warnings += drop_warnings
    table = full_table.select(keep)
    names = table.names
    dicts = [actions[i].grid2op for i in keep]
    rewards = table.rewards
    overload = np.nan_to_num(table.overload, nan=-1).astype(np.int8)
    # 3 - transitions
    with _timed(timings, "3 transitions"):
        say("3 - transitions under the game rules")
        rules = allowed_transitions(names, max_sub=1, max_line=1)
    # 4 - best paths
    with _timed(timings, "4 best paths"):
        say("4 - best paths")
        digits = config.significant_digit
        kind = config.best_path_type
        best, best_no = best_paths(rewards, rules, overload, kind=kind, significant_digits=digits)
    # 5 - KPIs
    with _timed(timings, "5 kpis"):
        say("5 - indicators")
        kpis = compute_kpis(
            rewards,
            names,
            best,
            best_no,
            config.n_best_topos,
            digits,
            best_unconstrained(rewards, kind),
            kind=kind,
        )
    report = OracleReport(
        folder, config, chronic_id, names, table, best, best_no, kpis, filtered, warnings
    )
    # outputs of steps 2-5
    with _timed(timings, "outputs"):
        folder.mkdir(parents=True, exist_ok=True)
        write_csv(full_table.to_frame(), folder / "reward_df.csv")
        write_csv(kpis, folder / "kpis.csv")
        write_json(
            path_document(best.path, names, dicts, rewards, best.reward, kind),
            folder / "best_path.json",
        )
        write_json(
            path_document(best_no.path, names, dicts, rewards, best_no.reward, kind),
            folder / "best_path_no_overload.json",
        )
        # the figures are drawn in another process while the replay runs (2 cores here)
        figures = _start_figures(
            rewards, names, best.path, best_no.path, overload, config.n_best_topos, folder
        )
        if export_graph:
            from gridoracle.oracle.graph_export import build_graph
            from gridoracle.oracle.graph_export import export_graph as export

            graph = build_graph(rewards, names, rules, overload=overload, significant_digits=digits)
            export(graph, folder)
    # 6 - replay
    with _timed(timings, "6 replay"):
        if do_replay:
            say("6 - replay under real rules")
            real_env = use_replay_parameters(sim_env)  # applied at the replay's reset
            done: dict[tuple[int, ...], ReplayResult] = {}
            for label, found, file in (
                ("best path", best, "best_path"),
                ("best path without overload", best_no, "best_path_no_overload"),
            ):
                if not found.path:
                    continue
                key = tuple(found.path)
                if key in done:  # the same path: same replay
                    result = dataclasses.replace(
                        done[key],
                        label=label,
                        warnings=[w.replace(done[key].label, label, 1) for w in done[key].warnings],
                    )
                else:
                    result = replay(
                        real_env,
                        [dicts[i] for i in found.path],
                        found.reward,
                        chronic_id,
                        seed=seed,
                        rel_tolerance=config.replay_reward_rel_tolerance,
                        label=label,
                        names=[names[i] for i in found.path],
                        logs=folder / "replay_logs" / file,
                    )
                    done[key] = result
                report.replays.append(result)
                warnings += result.warnings
    with _timed(timings, "outputs"):
        figures()
    sim_env.close()
    report.timings = timings
    write_json(
        {
            "env": env,
            "chronic": chronic_id,
            "chronic_given": str(chronic),
            "actions_file": str(actions_file),
            "config": config.to_dict(),
            "seed": seed,
            "reward": reward,
            "versions": versions(),
            "n_unitary": len(unitary),
            "n_combined": len(combos),
            "n_simulated": len(actions),
            "n_in_graph": len(names),
            "n_reused": full_table.reused,
            "scheduler": scheduler,
            "dask_workers": dask_workers,
            "filtered": [{"action": a, "reason": r} for a, r in filtered],
            "best_path": {"value": best.reward, "actions": report.path_names(best)},
            "best_path_no_overload": {
                "value": best_no.reward,
                "actions": report.path_names(best_no),
            },
            "replays": [r.to_dict() for r in report.replays],
            "warnings": warnings,
            "seconds": report.timings,
        },
        folder / "summary.json",
    )
    return report
