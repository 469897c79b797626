"""Benchmark: the Oracle, gridoracle against a reference implementation of Oracle4Grid's approach.

Run on demand (not part of the test suite)::

    python benchmarks/bench_oracle.py                       # rte_case14_realistic, 400 steps
    nice python benchmarks/bench_oracle.py --max-iter 8064  # the whole chronic (~4 min, 13 GB)
    python benchmarks/bench_oracle.py --max-iter 8064 --no-reference   # gridoracle alone
    pip install --no-deps --target /tmp/o4g_site oracle4grid   # the real Oracle4Grid 1.0.6, apart
    nice python benchmarks/bench_oracle.py --oracle4grid-site /tmp/o4g_site   # ... run it too

Both sides run on the same inputs (the example actions of Oracle4Grid's own integration case,
max_depth 3, chronic 0), each in a child process of this one (same run, same machine), which
reports its times; this process measures each child's whole life and peak memory (``wait4``'s
``ru_maxrss``). Each side first imports what it uses (grid2op, lightsim2grid, pandas, matplotlib,
networkx, gridoracle: "imports"), then runs its steps 0-6, timed: "end to end" is that run, less
the imports. The sides share what Oracle4Grid also does the same way (making the environment,
combinations and the filter at t0, the KPI formulas) and differ where Oracle4Grid spends its time:

- rewards: one grid2op Runner per combined action (reference) vs the reconnect-only episode read
  from the chronics and the batched engine (gridoracle);
- graph + best path: the networkx graph of T x N^2 edges and its longest / Bellman-Ford path,
  with and without overload (reference) vs the vectorized dynamic programming (gridoracle);
- replay: grid2op's Runner with the replay agent and ``path_save`` (reference: a second
  environment) vs the same agent stepping the Oracle's environment and writing the same episode
  folder and steps.csv (gridoracle);
- outputs: gridoracle writes everything ``gridoracle oracle`` writes (tables, paths, figures,
  summary); the reference writes only the Runner's logs.

With ``--oracle4grid-site PATH`` the real Oracle4Grid (``oracle4grid.core.oracle.load_and_run``,
installed without its dependencies in PATH: its metadata pins scipy<=1.6) runs too, in a third
child with ``PYTHONPATH=PATH``, on the same inputs and config (max_depth, max_iter, best_path_type,
nb_process 1, debug off, no seeds), timed the same way; its files are untouched, the child only
aliases three modules that moved since grid2op 1.8 and adapts ``Runner.run_one_episode``'s return
for its replay (:func:`_oracle4grid_compat`). Its best paths must equal gridoracle's (names, in
order) and its KPIs agree within 1e-6 relative (it sums in float32 under numpy 2), else exit 1.

gridoracle keeps the backend as loaded from grid.json in a cache (``GRIDORACLE_GRID_CACHE``, see
``gridoracle.grid.grid_cache_folder``): every side here uses a fresh one of this run, so gridoracle
runs twice, first with it empty ("first run, grid cache cold": it loads the grid through pandapower
and writes the cache, as the first run after an install or an upgrade does), then as every later
run does (the timed run the ratios are of). ``--no-grid-cache`` turns it off (one run).

It prints each step's time, the ratios, the peak memory, and checks that the best paths are
identical (exit status 1 if not). On a shared machine the CPU time of the same run (less the
imports) is printed too: it varies less with the other jobs than wall time. Targets (issue 16):
end to end >= 20x at 400 steps and >= 30x at 8064, peak memory of gridoracle <= 1 GB at 8064.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STEPS = (
    "0 inputs",
    "1 combinations",
    "2 rewards",
    "3+4 graph and best paths",
    "5 kpis",
    "outputs",
    "6 replay",
)


def _imports() -> float:
    """Import what both sides use (timed): what 'end to end less the imports' leaves out."""
    tick = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import grid2op.Episode
        import grid2op.Runner  # noqa: F401
        import matplotlib.pyplot  # noqa: F401
        import networkx  # noqa: F401
        import pandas  # noqa: F401

        import gridoracle.oracle.graph_export
        import gridoracle.oracle.outputs
        import gridoracle.pipelines.oracle  # noqa: F401
    return time.perf_counter() - tick


def _config(args: argparse.Namespace) -> Any:
    from gridoracle.oracle.config import OracleConfig

    return OracleConfig(
        max_depth=args.max_depth,
        max_iter=args.max_iter,
        best_path_type=args.kind,
        replay_reward_rel_tolerance=1e-4,
    )


def gridoracle_side(args: argparse.Namespace) -> dict[str, Any]:
    """``run_oracle`` as ``gridoracle oracle`` runs it, timed."""
    from gridoracle.pipelines.oracle import OracleRequest, run_oracle

    tick = time.perf_counter()
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as out:
        warnings.simplefilter("ignore")
        report = run_oracle(
            OracleRequest(args.env, args.chronic, args.actions, _config(args), out=Path(out))
        )
    total = time.perf_counter() - tick
    times = dict(report.timings)
    times["3+4 graph and best paths"] = times.pop("3 transitions", 0.0) + times.pop(
        "4 best paths", 0.0
    )
    return {
        "times": times,
        "total": total,
        "n_actions": len(report.names),
        "n_steps": report.table.n_steps,
        "states": report.table.source,
        "best": report.path_names(report.best),
        "best_no_overload": report.path_names(report.best_no_overload),
        "reward": report.best.reward,
        "replays": [r.to_dict() for r in report.replays],
        "kpis": dict(report.kpis.itertuples(index=False)),
    }


def reference_side(args: argparse.Namespace) -> dict[str, Any]:
    """Oracle4Grid's approach, step by step, timed."""
    import numpy as np
    from grid2op.Runner import Runner

    from gridoracle.actions.combine import combinations, filter_at_t0
    from gridoracle.actions.parse import load_unitary_actions
    from gridoracle.oracle.core.best_path import best_unconstrained
    from gridoracle.oracle.core.kpis import compute_kpis
    from gridoracle.oracle.graph_export import build_graph, reference_best_path, without_overload
    from gridoracle.oracle.sim.env import make_oracle_env
    from gridoracle.oracle.sim.replay import OracleReplayAgent
    from gridoracle.oracle.sim.rewards import drop_incomplete, reference_reward_table

    config, chronic, seed = _config(args), args.chronic, 0
    times: dict[str, float] = {}
    begin = tick = time.perf_counter()
    warnings.simplefilter("ignore")
    env = make_oracle_env(args.env, rules="simulation")
    unitary, _ = load_unitary_actions(args.actions, env)
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
    real = make_oracle_env(args.env, rules="replay")
    dicts = [actions[i].grid2op for i in keep]
    for found in (path, path_no):
        if not found:
            continue
        obs = real.reset(seed=seed, options={"time serie id": chronic})
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
    steps = np.arange(len(path))
    return {
        "times": times,
        "total": time.perf_counter() - begin,
        "n_steps": table.n_steps,
        "best": [table.names[i] for i in path],
        "best_no_overload": [table.names[i] for i in path_no],
        "reward": float(table.rewards[steps, path].sum()) if path else float("nan"),
    }


def _oracle4grid_compat() -> list[str]:
    """Let Oracle4Grid 1.0.6 run on today's grid2op / lightsim2grid (its files untouched).

    It was written for grid2op 1.8 and lightsim2grid 0.7: three modules it imports moved
    (``grid2op.Action.DontAct``, ``grid2op.Reward.BaseReward``, ``lightsim2grid.LightSimBackend``:
    the last one never existed, so it silently fell back to PandaPower) and
    ``Runner.run_one_episode`` returns 6 values since grid2op 1.10.2 (its replay unpacks 4;
    grid2op's own calls, which pass ``add_nb_highres_sim``, are left alone).
    This process aliases the modules and gives its replay the 4 values it unpacks. What it
    changed is returned (printed in the report).
    """
    import grid2op.Action.dontAct
    import grid2op.Reward.baseReward
    import lightsim2grid.lightSimBackend
    from grid2op.Runner import Runner

    aliases = {
        "grid2op.Action.DontAct": grid2op.Action.dontAct,
        "grid2op.Reward.BaseReward": grid2op.Reward.baseReward,
        "lightsim2grid.LightSimBackend": lightsim2grid.lightSimBackend,
    }
    for name, module in aliases.items():
        sys.modules.setdefault(name, module)
    one_episode = Runner.run_one_episode

    def run_one_episode_4(self: Any, *args: Any, **kwargs: Any) -> Any:
        res = one_episode(self, *args, **kwargs)  # id, name, reward, steps, max steps, episode
        if "add_nb_highres_sim" in kwargs or not kwargs.get("detailed_output"):
            return res  # grid2op's own call (Runner.run) or not Oracle4Grid's replay
        return res[1], res[2], res[3], res[5]  # grid2op < 1.10.2: name, reward, steps, episode

    Runner.run_one_episode = run_one_episode_4  # type: ignore[method-assign]
    return [
        *(f"{k} -> {v.__name__}" for k, v in aliases.items()),
        "Runner.run_one_episode: 4 values",
    ]


def oracle4grid_side(args: argparse.Namespace) -> dict[str, Any]:
    """The real Oracle4Grid (``oracle4grid.core.oracle.load_and_run``, its steps 0-6), timed.

    Run with ``PYTHONPATH`` = ``--oracle4grid-site``, debug off (it writes nothing), its config
    keys from ``ressources/config.ini`` with this run's values, one process, no seeds (as its CLI).
    Its own per-step prints ("elapsed_time for ... is:") give the step times.
    """
    import contextlib
    import importlib.metadata
    import io
    import re

    from oracle4grid.core.oracle import load_and_run

    config = {
        "max_depth": str(args.max_depth),
        "max_iter": str(args.max_iter),
        "nb_process": "1",
        "best_path_type": args.kind,
        "n_best_topos": "2",
        "reward_significant_digit": None,  # not set: it uses 5, as gridoracle
        "replay_reward_rel_tolerance": "1e-4",
    }
    printed = io.StringIO()
    tick = time.perf_counter()
    quiet = contextlib.redirect_stderr(io.StringIO())  # its progress bars
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed), quiet:
        warnings.simplefilter("ignore")
        best, _, best_no, _, kpis = load_and_run(
            args.env, args.chronic, str(args.actions), False, None, None, config
        )
    total = time.perf_counter() - tick
    found = dict(re.findall(r"elapsed_time for ([a-z_ ]+) is:([0-9.e+-]+)", printed.getvalue()))
    own = {k: float(v) for k, v in found.items()}
    times = {
        "1 combinations": own.get("action generation", 0.0),
        "2 rewards": own.get("simulation", 0.0) + own.get("attack multiversing", 0.0),
        "3+4 graph and best paths": own.get("graph creation", 0.0)
        + own.get("best_path computation", 0.0),
    }
    times["0 inputs, 5 kpis, 6 replay"] = total - sum(times.values())
    names = [a.repr for a in best]
    rows = dict(kpis[["Indicator name", "Reward value"]].itertuples(index=False))
    return {
        "times": times,
        "total": total,
        "n_steps": len(names),
        "best": names,
        "best_no_overload": [a.repr for a in best_no],
        "reward": float(rows.get("Best possible path with game rules", float("nan"))),
        "kpis": {k: float(v) for k, v in rows.items()},
        "version": importlib.metadata.version("oracle4grid"),
    }


def _child(side: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run ``side`` in a child process; its report, wall time and peak memory (GB)."""
    command = [sys.executable, __file__, "--side", side, *args.forwarded]
    env = dict(os.environ, GRIDORACLE_GRID_CACHE=args.grid_cache)
    if side == "oracle4grid":
        env["PYTHONPATH"] = os.pathsep.join([str(args.oracle4grid_site), env.get("PYTHONPATH", "")])
    tick = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(command, stdout=out, cwd=ROOT, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - tick
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"the {side} side failed (exit status {proc.returncode})")
    result: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    result["process_wall"] = wall
    result["peak_gb"] = usage.ru_maxrss / 1024**2  # KiB on Linux
    return result


def _print(ours: dict[str, Any], ref: dict[str, Any] | None, args: argparse.Namespace) -> bool:
    print(
        f"{args.env}, chronic {args.chronic}, max_iter {args.max_iter} ({ours['n_steps']} steps, "
        f"states from {ours['states']}), max_depth {args.max_depth}, {ours['n_actions']} combined "
        f"actions in the graph, {args.kind}"
    )
    rt: dict[str, float] = ref["times"] if ref else {}
    print(f"{'step':28} {'reference s':>12} {'gridoracle s':>13} {'ratio':>8}")
    for step in STEPS:
        r, o = rt.get(step, 0.0), ours["times"].get(step, 0.0)
        ratio = f"{r / o:7.1f}x" if o > 0 and r > 0 else "      -"
        print(f"{step:28} {r:12.3f} {o:13.3f} {ratio}")
    rows = [("end to end less imports", "total"), ("  same, CPU time", "cpu")]
    rows += [("imports", "imports")]
    rows += [("whole process", "process_wall"), ("peak memory GB", "peak_gb")]
    for label, key in rows:
        o = ours[key]
        if ref is None:
            print(f"{label:28} {'-':>12} {o:13.3f}")
        else:
            r = ref[key]
            print(f"{label:28} {r:12.3f} {o:13.3f} {r / o:7.1f}x")
    cold = ours.get("cold")
    if cold is not None:
        for label, key in (("first run, grid cache cold", "total"), ("  same, CPU time", "cpu")):
            o = cold[key]
            if ref is None:
                print(f"{label:28} {'-':>12} {o:13.3f}")
            else:
                print(f"{label:28} {ref[key]:12.3f} {o:13.3f} {ref[key] / o:7.1f}x")
    for replayed in ours["replays"]:
        print(
            f"gridoracle replay of the {replayed['label']}: {replayed['steps_survived']} of "
            f"{replayed['steps_planned']} steps survived"
        )
    if ref is None:
        return True
    same = ref["best"] == ours["best"] and ref["best_no_overload"] == ours["best_no_overload"]
    print(
        f"identical best paths: {same}; best path reward {ours['reward']:.4f} "
        f"(reference {ref['reward']:.4f}); steps {ours['n_steps']} (reference {ref['n_steps']})"
    )
    return same


def _print_oracle4grid(
    ours: dict[str, Any], real: dict[str, Any], ref: dict[str, Any] | None
) -> bool:
    """The real Oracle4Grid beside gridoracle (and the reimplementation); True if paths agree."""
    print(f"\nthe real Oracle4Grid {real['version']} (compatibility: {'; '.join(real['compat'])})")
    print(f"{'oracle4grid step':28} {'oracle4grid s':>13}")
    for step, seconds in real["times"].items():
        print(f"{step:28} {seconds:13.3f}")
    print(
        f"{'':28} {'oracle4grid':>12} {'gridoracle':>13} {'ratio':>8}"
        f" {'reference':>12} {'o4g/ref':>8}"
    )
    rows = [("end to end less imports", "total"), ("  same, CPU time", "cpu")]
    rows += [
        ("imports", "imports"),
        ("whole process", "process_wall"),
        ("peak memory GB", "peak_gb"),
    ]
    for label, key in rows:
        r, o = real[key], ours[key]
        line = f"{label:28} {r:12.3f} {o:13.3f} {r / o:7.1f}x"
        if ref is not None:
            line += f" {ref[key]:12.3f} {r / ref[key]:7.1f}x"
        print(line)
    cold = ours.get("cold")
    if cold is not None:
        for label, key in (("first run, grid cache cold", "total"), ("  same, CPU time", "cpu")):
            r, o = real[key], cold[key]
            print(f"{label:28} {r:12.3f} {o:13.3f} {r / o:7.1f}x")
    same = real["best"] == ours["best"] and real["best_no_overload"] == ours["best_no_overload"]
    print(
        f"identical best paths with Oracle4Grid: {same}; its steps {real['n_steps']} "
        f"(gridoracle {ours['n_steps']})"
    )
    worst = 0.0
    print(f"  {'kpi':62} {'oracle4grid':>14} {'gridoracle':>14}")
    for name, value in real["kpis"].items():
        mine = ours["kpis"].get(name, float("nan"))
        if value == value or mine == mine:  # NaN on both sides is agreement
            worst = max(worst, abs(value - mine) / max(abs(value), 1e-12))
        print(f"  kpi {name:58} {value:14.4f} {mine:14.4f}")
    kpis_agree = set(real["kpis"]) == set(ours["kpis"]) and worst <= 1e-6
    print(f"identical KPIs (same names, relative difference {worst:.2e} <= 1e-6): {kpis_agree}")
    return same and kpis_agree


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
    parser.add_argument(
        "--no-reference", action="store_true", help="run gridoracle alone (no ratios)"
    )
    parser.add_argument(
        "--oracle4grid-site",
        type=Path,
        help="also run the real Oracle4Grid, installed (without its dependencies) in this folder: "
        "pip install --no-deps --target PATH oracle4grid",
    )
    parser.add_argument(
        "--no-grid-cache",
        action="store_true",
        help="gridoracle loads the grid through pandapower (GRIDORACLE_GRID_CACHE=off), one run",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--side", choices=["gridoracle", "reference", "oracle4grid"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.side:  # a child: import, run one side, print its report as the last line
        imports = _imports()
        compat: list[str] = []
        if args.side == "oracle4grid":
            tick = time.perf_counter()
            compat = _oracle4grid_compat()
            import oracle4grid.core.oracle  # noqa: F401

            imports += time.perf_counter() - tick
        sides = {"gridoracle": gridoracle_side, "reference": reference_side}
        side = sides.get(args.side, oracle4grid_side)
        cpu = time.process_time()
        result = side(args)
        result["compat"] = compat
        result["cpu"] = time.process_time() - cpu
        result["imports"] = imports
        print(json.dumps(result))
        return
    args.forwarded = [
        *("--env", args.env, "--chronic", str(args.chronic), "--actions", str(args.actions)),
        *("--max-iter", str(args.max_iter), "--max-depth", str(args.max_depth)),
        *("--kind", args.kind),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-grid-cache-") as grids:
        args.grid_cache = "off" if args.no_grid_cache else grids
        cold = None if args.no_grid_cache else _child("gridoracle", args)  # fills the cache
        ours = _child("gridoracle", args)
        if cold is not None:
            ours["cold"] = {k: cold[k] for k in ("total", "cpu", "imports", "process_wall")}
        ref = None if args.no_reference else _child("reference", args)
        same = _print(ours, ref, args)
        real = None
        if args.oracle4grid_site:  # makes its environments with grid2op: no grid cache
            real = _child("oracle4grid", args)
            same = _print_oracle4grid(ours, real, ref) and same
    if args.json:
        results = {"gridoracle": ours, "reference": ref, "oracle4grid": real}
        args.json.write_text(json.dumps(results, indent=2))
    if not same:
        raise SystemExit("best paths differ")


if __name__ == "__main__":
    main()
