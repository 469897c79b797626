"""Benchmark: superposition of unitary topology changes (``--combine superposition``).

Run on demand (not part of the test suite)::

    python benchmarks/bench_superposition.py error                 # error table (a few minutes)
    python benchmarks/bench_superposition.py agree  --env l2rpn_neurips_2020_track1 \\
        --actions A.json --depth 2 --steps 864                     # exact vs superposition
    python benchmarks/bench_superposition.py scale  --env ... --actions ... --depth 3 --steps 864

error
    On random combined actions (depth 2 and 3, distinct assets) of a grid's unitary actions, at a
    few steps of chronic 0's reconnect-only episode: the superposed flows against a power flow of
    the combined topology itself (the same lightsim2grid solver), in DC (max |delta P| in MW:
    the theorem is exact there) and in AC (margin reward and max rho, as the Oracle scores them).
    Combinations that superposition does not use (flagged) and those whose own power flow
    islands the grid are counted, not scored.
agree
    ``gridoracle oracle`` with ``--combine exact`` then ``--combine superposition`` on the same
    inputs, each in a child process (wall time and peak memory from ``/usr/bin/time``): the best
    paths and kpis.csv compared byte for byte, and the rows of the superposition run's
    reward_df.csv (its exactly simulated actions) with exact's. ``--no-opponent`` is passed to
    both runs (an environment with an opponent is otherwise simulated exactly in both),
    ``--workers`` as the CLI's when above 1; ``--keep DIR`` keeps both runs' outputs in
    ``DIR/exact`` and ``DIR/superposition``.
scale
    ``gridoracle oracle --combine superposition`` alone (exact is out of reach there), timed with
    its peak memory and its step timings from summary.json.
rules
    Combinations, transition rules (sparse, from the neighbourhoods) and the two best path
    searches (random rewards) over every combined action of ``--actions`` at ``--depth``:
    seconds, transitions, CSR size.
rate
    The screening alone: CPU seconds per (combination, step) of :func:`screen` on ``--combos``
    random combinations of ``--depth`` over ``--steps`` steps.
table
    The Oracle's steps 1-4 with ``--combine superposition`` in this process, each piece timed
    (wall and CPU seconds, peak memory): combinations, :func:`superposed_reward_table` (its own
    split: exact unitary actions, states, basis, screen, exact candidates, path rounds), then
    the pipeline's transitions and two best path searches on the table it returns.
    ``--no-opponent`` makes the environment without its opponent as ``gridoracle oracle
    --no-opponent`` does (l2rpn_neurips_2020_track1 has one, and with an opponent
    ``gridoracle oracle`` simulates every combination exactly);
    ``--margin`` as ``superposed_reward_table``'s; ``--workers`` screening threads (the exact
    simulations run in this process); ``--graph-limit`` as ``superposed_reward_table``'s
    (default :data:`GRAPH_CELLS` over the steps).

The machine's load (1-minute load average) is printed with every figure: other jobs share it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load() -> float:
    return float(os.getloadavg()[0])


def error_table(env_name: str, actions_file: str, n_combos: int, steps: int, seed: int) -> list:
    """Rows of the error table for one grid (see the module docstring)."""
    from gridoracle.actions.combine import CombinedAction
    from gridoracle.actions.oracle_input import load_oracle_actions
    from gridoracle.engine.batched import BatchedEngine
    from gridoracle.engine.unitary import FlowSolver
    from gridoracle.oracle.core.margins import margin_reward
    from gridoracle.oracle.sim import superposition as sup
    from gridoracle.oracle.sim.env import make_oracle_env
    from gridoracle.oracle.sim.episode import episode_states

    env = make_oracle_env(env_name, "oracle")
    engine = BatchedEngine(env)
    solver = FlowSolver(env)
    found = episode_states(env, 0, steps, 0, engine=engine)
    states = found.states
    assert states is not None
    unitary, _, _ = load_oracle_actions(Path(actions_file), env)
    rng = np.random.default_rng(seed)
    limit = engine.thermal_limit
    at = sorted({0, len(states) // 2, len(states) - 1})
    rows = []
    tick = time.perf_counter()
    bases = {
        dc: sup.unitary_basis(env, engine, states, unitary, dc=dc, solver=solver)
        for dc in (True, False)
    }
    basis_s = time.perf_counter() - tick
    for depth in (2, 3):
        every = (
            [
                list(c)
                for c in itertools.combinations(range(len(unitary)), depth)
                if len({unitary[i].asset for i in c}) == depth
            ]
            if len(unitary) <= 40
            else None
        )
        picked: list[list[int]] = []
        if every is not None:
            chosen = rng.permutation(len(every))[:n_combos]
            picked = [every[i] for i in sorted(chosen)]
        seen: set[tuple[int, ...]] = set()
        while every is None and len(picked) < n_combos:
            idx = sorted(rng.choice(len(unitary), depth, replace=False).tolist())
            if len({unitary[i].asset for i in idx}) < depth or tuple(idx) in seen:
                continue
            seen.add(tuple(idx))
            picked.append(idx)
        parts = np.asarray(picked, dtype=np.int64)
        combos = [CombinedAction.of([unitary[i] for i in p]) for p in picked]
        dc_err, r_err, rho_err, flagged, islanded, diverged = [], [], [], 0, 0, 0
        screened = sup.screen(bases[False], parts, limit)
        for step in at:
            p_dc, _, ok_dc = sup.superposed_flows(bases[True], parts, step)
            for m, combo in enumerate(combos):
                topo = engine.resulting_topology(
                    combo, states.topo_vect[step], states.prev_topo[step], states.line_status[step]
                )
                # held as the Oracle holds it: lines the environment cut stay out
                status = np.asarray(env.action_space(combo.grid2op).line_set_status)
                off = ~states.line_status[step] & (status != 1)
                topo[engine.line_or_pos[off]] = -1
                topo[engine.line_ex_pos[off]] = -1
                if engine.islanded(topo):
                    islanded += 1
                    continue
                if ok_dc[m]:
                    exact_dc = solver.solve(topo, states, np.array([step]), dc=True)
                    if exact_dc.converged[0]:
                        dc_err.append(float(np.abs(exact_dc.p_or[0] - p_dc[m]).max()))
                if not screened.ok[step, m]:
                    flagged += 1
                    continue
                exact = solver.solve(topo, states, np.array([step]))
                if not exact.converged[0]:
                    diverged += 1
                    continue
                reward = float(margin_reward(exact.a_or[0], limit))
                r_err.append(abs(reward - float(screened.rewards[step, m])))
                p, q, _ = sup.superposed_flows(bases[False], parts[m : m + 1], step)
                base = bases[False].base
                s0 = np.hypot(base.p_or[step], base.q_or[step])
                ratio = np.where(s0 > 1e-9, base.a_or[step] / np.maximum(s0, 1e-9), 0.0)
                rho = np.hypot(p[0], q[0]) * ratio / limit
                rho_err.append(abs(float(rho.max()) - float((exact.a_or[0] / limit).max())))
        rows.append(
            {
                "grid": env_name,
                "unitary": len(unitary),
                "depth": depth,
                "pairs": len(combos) * len(at),
                "islanded": islanded,
                "flagged": flagged,
                "diverged": diverged,
                "scored": len(r_err),
                "dc_max_dp_mw": max(dc_err) if dc_err else float("nan"),
                "ac_reward_max": max(r_err) if r_err else float("nan"),
                "ac_reward_median": float(np.median(r_err)) if r_err else float("nan"),
                "ac_reward_p95": float(np.percentile(r_err, 95)) if r_err else float("nan"),
                "ac_maxrho_max": max(rho_err) if rho_err else float("nan"),
                "ac_maxrho_median": float(np.median(rho_err)) if rho_err else float("nan"),
                "reward_scale": float(limit.size),
                "basis_s": basis_s,
            }
        )
    env.close()
    return rows


def _oracle(args: list[str], out: Path) -> dict[str, Any]:
    """One ``gridoracle oracle`` in a child process: wall seconds, peak memory, summary."""
    cmd = ["/usr/bin/time", "-f", "MAXRSS_KB %M", sys.executable, "-m", "gridoracle.cli"]
    cmd += ["oracle", *args, "--out", str(out), "--no-replay", "--quiet"]
    load = _load()
    tick = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - tick
    rss = [line for line in done.stderr.splitlines() if line.startswith("MAXRSS_KB")]
    if done.returncode != 0:
        raise SystemExit(
            f"oracle failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    folders = [p.parent for p in out.rglob("summary.json")]
    summary = json.loads((folders[0] / "summary.json").read_text())
    return {
        "wall_s": wall,
        "peak_gb": int(rss[-1].split()[1]) / 2**20 if rss else float("nan"),
        "load": load,
        "folder": folders[0],
        "summary": summary,
    }


def _same_rows(exact: Path, superposed: Path) -> dict[str, Any]:
    """Whether every row of the superposition run's reward_df.csv (its exactly simulated
    actions) is exact's row of the same action and timestep, value for value."""
    import pandas as pd

    rows = pd.read_csv(superposed / "reward_df.csv")
    reference = pd.read_csv(exact / "reward_df.csv")
    both = rows.merge(
        reference, on=["name", "timestep"], how="left", suffixes=("", "_exact"), indicator=True
    )
    missing = int((both["_merge"] == "left_only").sum())
    same = [
        bool(((both[c] == both[f"{c}_exact"]) | (both[c].isna() & both[f"{c}_exact"].isna())).all())
        for c in ("reward", "overload_reward")
    ]
    return {
        "actions": int(rows["name"].nunique()),
        "rows": len(rows),
        "missing_in_exact": missing,
        "rewards_equal": same[0],
        "overload_equal": same[1],
    }


def _pieces(args: Any) -> dict[str, Any]:
    """The ``rules`` and ``rate`` sections (see the module docstring)."""
    from gridoracle.actions.combine import combinations
    from gridoracle.actions.oracle_input import load_oracle_actions
    from gridoracle.engine.batched import BatchedEngine
    from gridoracle.oracle.core.best_path import best_paths
    from gridoracle.oracle.core.transitions import allowed_transitions
    from gridoracle.oracle.sim import superposition as sup
    from gridoracle.oracle.sim.env import make_oracle_env
    from gridoracle.oracle.sim.episode import episode_states

    env = make_oracle_env(args.env, "oracle")
    unitary, _, _ = load_oracle_actions(Path(args.actions), env)
    out: dict[str, Any] = {"load": _load()}
    if args.section == "rules":
        tick = time.perf_counter()
        names = [c.name for c in combinations(unitary, args.depth)]
        out["combinations_s"] = time.perf_counter() - tick
        tick = time.perf_counter()
        rules = allowed_transitions(names)
        out["rules_s"] = time.perf_counter() - tick
        csr = rules.allowed
        out["rules_mib"] = (
            (csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes) / 2**20
            if rules.is_sparse
            else csr.nbytes / 2**20
        )
        rng = np.random.default_rng(0)
        rewards = rng.uniform(0, 50, size=(args.steps, len(names)))
        tick = time.perf_counter()
        best_paths(rewards, rules, np.ones(rewards.shape, dtype=np.int8), significant_digits=5)
        out["two_searches_s"] = time.perf_counter() - tick
        out.update(actions=len(names), transitions=rules.n_transitions)
    else:
        engine = BatchedEngine(env)
        found = episode_states(env, 0, args.steps, 0, engine=engine)
        assert found.states is not None
        tick = time.process_time()
        basis = sup.unitary_basis(env, engine, found.states, unitary)
        out["basis_cpu_s"] = time.process_time() - tick
        rng = np.random.default_rng(0)
        picked: list[list[int]] = []
        while len(picked) < args.combos:
            idx = rng.choice(len(unitary), args.depth, replace=False)
            if len({unitary[i].asset for i in idx}) == args.depth:
                picked.append(sorted(idx.tolist()))
        tick = time.process_time()
        sup.screen(basis, np.asarray(picked), engine.thermal_limit)
        cpu = time.process_time() - tick
        out["screen_cpu_us_per_pair"] = cpu / (args.combos * len(found.states)) * 1e6
    env.close()
    print(json.dumps(out))
    return out


def _table(args: Any) -> dict[str, Any]:
    """The ``table`` section (see the module docstring)."""
    import resource

    from gridoracle.actions.combine import combinations
    from gridoracle.actions.oracle_input import load_oracle_actions
    from gridoracle.engine.batched import BatchedEngine
    from gridoracle.oracle.core.best_path import best_paths
    from gridoracle.oracle.core.transitions import allowed_transitions
    from gridoracle.oracle.sim import superposition as sup
    from gridoracle.oracle.sim.env import has_opponent, make_oracle_env

    env = make_oracle_env(args.env, "oracle", opponent=not args.no_opponent)
    if has_opponent(env):
        raise SystemExit(f"{args.env} has an opponent: superposition is not used (--no-opponent)")
    engine = BatchedEngine(env)
    unitary, _, _ = load_oracle_actions(Path(args.actions), env)
    out: dict[str, Any] = {"load_before": _load(), "workers": args.workers}
    pieces: dict[str, dict[str, float]] = {}

    def timed(label: str, fn: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn()
        finally:
            pieces[label] = {
                "wall_s": round(time.perf_counter() - wall, 2),
                "cpu_s": round(time.process_time() - cpu, 2),
                "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            }

    combos = timed("combinations", lambda: combinations(unitary, args.depth))
    found = timed(
        "superposed table",
        lambda: sup.superposed_reward_table(
            env,
            engine,
            combos,
            0,
            args.steps,
            0,
            significant_digits=5,
            graph_limit=args.graph_limit,
            screen_workers=args.workers,
            margin=args.margin,
        ),
    )
    table = found.table  # complete runs only
    rules = timed("transitions", lambda: allowed_transitions(table.names))
    flags = table.overload_flags()
    best, best_no = timed(
        "best paths", lambda: best_paths(table.rewards, rules, flags, significant_digits=5)
    )
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    out.update(
        combined=len(combos),
        in_graph=len(table.names),
        pieces=pieces,
        superposition={k: v for k, v in found.stats.items() if k != "not_usable"},
        best_value=best.value,
        best_no_overload_value=best_no.value,
        best_path_exact=bool(all(found.exact[i] for i in best.path)),
        children_cpu_s=round(children.ru_utime + children.ru_stime, 1),
        children_peak_gb=round(children.ru_maxrss / 2**20, 2),
        load_after=_load(),
    )
    env.close()
    print(json.dumps(out, indent=1, default=str))
    return out


def main() -> None:
    from gridoracle.oracle.sim.superposition import DEFAULT_MARGIN

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("section", choices=["error", "agree", "scale", "rules", "rate", "table"])
    parser.add_argument("--env")
    parser.add_argument("--actions")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--steps", type=int, default=288)
    parser.add_argument("--combos", type=int, default=150)
    parser.add_argument("--json")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--graph-limit", type=int, default=None)
    parser.add_argument("--no-opponent", action="store_true")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN)
    parser.add_argument("--keep", help="agree, scale: write the runs' outputs here (kept)")
    parser.add_argument(
        "--grids",
        default="l2rpn_case14_sandbox=examples/actions/l2rpn_case14_sandbox/reference.json",
        help="env=actions,... for the error table",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {"section": args.section, "cpus": os.cpu_count()}
    if args.section in ("rules", "rate"):
        results.update(_pieces(args))
    elif args.section == "table":
        results.update(_table(args))
    elif args.section == "error":
        rows = []
        for item in args.grids.split(","):
            env_name, actions = item.split("=")
            rows += error_table(
                env_name,
                str(ROOT / actions) if not Path(actions).is_absolute() else actions,
                args.combos,
                args.steps,
                0,
            )
        results["rows"] = rows
        keys = [
            "grid",
            "unitary",
            "depth",
            "pairs",
            "islanded",
            "flagged",
            "diverged",
            "scored",
            "dc_max_dp_mw",
            "ac_reward_max",
            "ac_reward_median",
            "ac_reward_p95",
            "ac_maxrho_max",
            "ac_maxrho_median",
            "reward_scale",
        ]
        print("| " + " | ".join(keys) + " |")
        for row in rows:
            print(
                "| "
                + " | ".join(
                    f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k]) for k in keys
                )
                + " |"
            )
    else:
        base = ["--env", args.env, "--chronic", "0", "--actions", args.actions]
        base += ["--max-depth", str(args.depth), "--max-iter", str(args.steps)]
        if args.workers > 1:
            base += ["--workers", str(args.workers)]
        if args.no_opponent:
            base += ["--no-opponent"]
        modes = ["exact", "superposition"] if args.section == "agree" else ["superposition"]
        with tempfile.TemporaryDirectory() as scratch:
            tmp = args.keep or scratch
            runs = {m: _oracle([*base, "--combine", m], Path(tmp) / m) for m in modes}
            for mode, run in runs.items():
                s = run["summary"]
                print(
                    f"{mode}: {run['wall_s']:.1f} s wall (load {run['load']:.1f}), peak "
                    f"{run['peak_gb']:.2f} GB, {s['n_combined']} combined, best "
                    f"{s['best_path']['value']:.4f}; steps "
                    + ", ".join(f"{k} {v:.1f}" for k, v in s["seconds"].items())
                )
                if s.get("superposition"):
                    print(
                        "  superposition:",
                        {k: v for k, v in s["superposition"].items() if k != "not_usable"},
                    )
                results[mode] = {k: v for k, v in run.items() if k != "folder"}
            if args.section == "agree":
                same = {
                    name: (runs["exact"]["folder"] / name).read_text()
                    == (runs["superposition"]["folder"] / name).read_text()
                    for name in ("best_path.json", "best_path_no_overload.json", "kpis.csv")
                }
                print("identical to exact:", same)
                rows = _same_rows(runs["exact"]["folder"], runs["superposition"]["folder"])
                print("superposition's reward_df.csv rows (its exact columns) in exact's:", rows)
                results["reward_df_rows"] = rows
                ratio = runs["exact"]["wall_s"] / runs["superposition"]["wall_s"]
                print(f"exact / superposition wall time: {ratio:.2f}x")
                results["identical"] = same
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
