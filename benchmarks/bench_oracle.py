"""Benchmark: the Oracle, gridoracle against a reference implementation of Oracle4Grid's approach.

Run on demand (not part of the test suite)::

    python benchmarks/bench_oracle.py                       # rte_case14_realistic, 400 steps
    python benchmarks/bench_oracle.py --max-iter 100 --kind shortest

Both sides run in this process on the same inputs (the example actions of Oracle4Grid's own
integration case, max_depth 3, chronic 0) and share what Oracle4Grid also does the same way
(making the environment, combinations and the filter at t0, the KPI formulas). They differ where
Oracle4Grid spends its time:

- rewards: one grid2op Runner per combined action (reference) vs one reconnect-only run and the
  batched engine (gridoracle);
- graph + best path: the networkx graph of T x N^2 edges and its longest / Bellman-Ford path,
  with and without overload (reference) vs the vectorized dynamic programming (gridoracle);
- replay: grid2op's Runner with the replay agent (reference) vs the same agent stepping the
  environment directly (gridoracle), both paths.

It prints each step's time, the ratios, and checks that the best paths are identical.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from gridoracle.actions.combine import combinations, filter_at_t0
from gridoracle.actions.parse import load_unitary_actions
from gridoracle.oracle.config import OracleConfig
from gridoracle.oracle.core.best_path import best_unconstrained
from gridoracle.oracle.core.kpis import compute_kpis
from gridoracle.oracle.graph_export import build_graph, reference_best_path, without_overload
from gridoracle.oracle.sim.env import make_oracle_env
from gridoracle.oracle.sim.replay import OracleReplayAgent
from gridoracle.oracle.sim.rewards import drop_incomplete, reference_reward_table
from gridoracle.pipelines.oracle import OracleRequest, run_oracle

ROOT = Path(__file__).resolve().parents[1]


def reference(
    env_name: str, chronic: int, actions_file: Path, config: OracleConfig, seed: int
) -> dict[str, object]:
    """Oracle4Grid's approach, step by step, timed."""
    from grid2op.Runner import Runner

    times: dict[str, float] = {}
    tick = time.perf_counter()
    env = make_oracle_env(env_name, rules="simulation")
    unitary, _ = load_unitary_actions(actions_file, env)
    times["0 inputs"] = time.perf_counter() - tick
    tick = time.perf_counter()
    kept, _ = filter_at_t0(combinations(unitary, config.max_depth), env, chronic, seed)
    actions = [SimpleNamespace(name=c.name, grid2op=c.grid2op_dict()) for c in kept]
    times["1 combinations"] = time.perf_counter() - tick
    tick = time.perf_counter()
    table = reference_reward_table(env, actions, chronic, config.max_iter, seed)
    times["2 rewards"] = time.perf_counter() - tick
    keep, _ = drop_incomplete(table.played, table.names)
    table = table.select(keep)
    overload = np.nan_to_num(table.overload, nan=-1).astype(np.int8)
    tick = time.perf_counter()
    digits = config.significant_digit
    graph = build_graph(
        table.rewards,
        table.names,
        [a.name for a in np.array(actions)[keep]],
        overload=overload,
        significant_digits=digits,
    )
    best = reference_best_path(graph, config.best_path_type)
    best_no = reference_best_path(without_overload(graph), config.best_path_type)
    times["3+4 graph and best paths"] = time.perf_counter() - tick
    path = best.indices(table.names)
    path_no = best_no.indices(table.names)
    tick = time.perf_counter()
    steps = np.arange(len(path))
    compute_kpis(
        table.rewards,
        table.names,
        path,
        path_no,
        config.n_best_topos,
        digits,
        best_unconstrained(table.rewards, config.best_path_type),
        kind=config.best_path_type,
    )
    times["5 kpis"] = time.perf_counter() - tick
    tick = time.perf_counter()
    real = make_oracle_env(env_name, rules="replay")
    dicts = [actions[i].grid2op for i in keep]
    for found in (path, path_no):
        if not found:
            continue
        real.set_id(chronic)
        obs = real.reset()
        agent = OracleReplayAgent(
            real.action_space, [dicts[i] for i in found], obs.topo_vect, obs.line_status
        )
        runner = Runner(**real.get_params_for_runner(), agentClass=None, agentInstance=agent)
        with tempfile.TemporaryDirectory() as logs:
            runner.run(
                nb_episode=1,
                nb_process=1,
                max_iter=len(found),
                episode_id=[chronic],
                env_seeds=[seed],
                path_save=logs,
            )
    times["6 replay"] = time.perf_counter() - tick
    reward = float(table.rewards[steps, path].sum()) if path else float("nan")
    return {
        "times": times,
        "best": [table.names[i] for i in path],
        "best_no_overload": [table.names[i] for i in path_no],
        "reward": reward,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="rte_case14_realistic")
    parser.add_argument("--chronic", type=int, default=0)
    parser.add_argument(
        "--actions",
        type=Path,
        default=ROOT / "examples/actions/rte_case14_realistic/reference.json",
    )
    parser.add_argument("--max-iter", type=int, default=400)
    parser.add_argument("--max-depth", type=int, default=3)
    parser.add_argument("--kind", default="longest", choices=["longest", "shortest"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    config = OracleConfig(
        max_depth=args.max_depth,
        max_iter=args.max_iter,
        best_path_type=args.kind,
        replay_reward_rel_tolerance=1e-4,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tick = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            report = run_oracle(
                OracleRequest(args.env, args.chronic, args.actions, config, out=Path(out))
            )
        ours_total = time.perf_counter() - tick
        tick = time.perf_counter()
        ref = reference(args.env, args.chronic, args.actions, config, 0)
        ref_total = time.perf_counter() - tick
    ours = dict(report.timings)
    ours["3+4 graph and best paths"] = ours.pop("3 transitions") + ours.pop("4 best paths")
    ref_times: dict[str, float] = ref["times"]  # type: ignore[assignment]
    print(
        f"{args.env}, chronic {args.chronic}, max_iter {args.max_iter}, max_depth "
        f"{args.max_depth}, {len(report.names)} combined actions in the graph, {args.kind}"
    )
    print(f"{'step':28} {'reference s':>12} {'gridoracle s':>13} {'ratio':>8}")
    for step in (
        "0 inputs",
        "1 combinations",
        "2 rewards",
        "3+4 graph and best paths",
        "5 kpis",
        "outputs",
        "6 replay",
    ):
        r, o = ref_times.get(step, 0.0), ours.get(step, 0.0)
        ratio = f"{r / o:7.1f}x" if o > 0 and r > 0 else "      -"
        print(f"{step:28} {r:12.3f} {o:13.3f} {ratio}")
    print(f"{'end to end':28} {ref_total:12.3f} {ours_total:13.3f} {ref_total / ours_total:7.1f}x")
    same = ref["best"] == report.path_names(report.best) and ref[
        "best_no_overload"
    ] == report.path_names(report.best_no_overload)
    print(
        f"identical best paths: {same}; best path reward {report.best.reward:.4f} "
        f"(reference {ref['reward']:.4f})"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "reference": ref_times,
                    "gridoracle": ours,
                    "reference_total": ref_total,
                    "gridoracle_total": ours_total,
                    "identical_paths": same,
                },
                indent=2,
            )
        )
    if not same:
        raise SystemExit("best paths differ")


if __name__ == "__main__":
    main()
