"""Benchmark: (state, action) pairs per second, batched engine vs the naive obs.simulate loop.

Run on demand (not part of the test suite)::

    python benchmarks/bench_generate.py            # case14, horizon 0
    python benchmarks/bench_generate.py --big      # also the 118-bus l2rpn_wcci_2022_dev
    python benchmarks/bench_generate.py --memory   # also a full 118-bus generate run's peak memory
    python benchmarks/bench_generate.py --chronic  # generate --states chronic end to end (issue 13)

In one run and on the same states and actions it times:
- naive: ``obs.simulate(action, time_step=h)`` for every pair, as the seed solution does (on a
  subset of the states, since it is slow; its rate is per pair so the subset does not bias it);
- batched: :class:`gridoracle.engine.batched.BatchedEngine` on every state of the chronic;
and prints pairs per second, the speedup, and the max |Δ max rho| between both on the common
pairs (with the number of pairs whose status differs, which should be 0).

With ``--chronic`` it times instead, in one run, the whole ``generate --states chronic`` pipeline
in this process (every chronic, every step, the catalogue's first ``--chronic-actions`` actions;
the imports are done before the clock starts: process start-up excluded; the environment is
made inside, as the command does) against the naive ``obs.simulate(a, time_step=0)`` loop on
observations of evenly spread chronic states (``env.reset`` at that step) with the same actions,
and checks the dataset's max rho against the naive loop on those pairs. Targets (issue 13):
>= 150x on l2rpn_case14_sandbox, >= 35x on rte_case118_example.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from gridoracle.actions.enumerate import enumerate_actions, sample_actions
from gridoracle.dataset.units import do_nothing_episode
from gridoracle.engine.base import STATUS_OK
from gridoracle.engine.batched import BatchedEngine
from gridoracle.engine.reference import ReferenceEngine
from gridoracle.engine.states import states_from_observations
from gridoracle.grid import make_env


def bench_env(
    name: str, steps: int, n_actions: int, naive_states: int, horizon: int, repeats: int
) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_env(name)
    batched = BatchedEngine(env)  # built first: its initial voltages are the env's first state
    reference = ReferenceEngine(env)
    actions = sample_actions(enumerate_actions(env, "topology"), n_actions, seed=0)
    observations, step_ids = do_nothing_episode(env, 0, steps, 0, horizon)
    states = states_from_observations(observations, step_ids, horizon)
    # naive loop on evenly spread states
    pick = np.unique(np.linspace(0, len(states) - 1, min(naive_states, len(states))).astype(int))
    subset = states.select(pick)
    tick = time.perf_counter()
    ref = reference.evaluate(subset, actions)
    naive_s = time.perf_counter() - tick
    naive_rate = ref.status.size / naive_s
    best = float("inf")
    for _ in range(repeats):
        tick = time.perf_counter()
        fast = batched.evaluate(states, actions)
        best = min(best, time.perf_counter() - tick)
    fast_rate = fast.status.size / best
    common = fast.max_rho[pick]
    both_ok = (ref.status == STATUS_OK) & (fast.status[pick] == STATUS_OK)
    delta = float(np.abs(common[both_ok] - ref.max_rho[both_ok]).max()) if both_ok.any() else 0.0
    env.close()
    return {
        "env": name,
        "states": len(states),
        "actions": len(actions),
        "naive_pairs": int(ref.status.size),
        "naive_pairs_per_s": naive_rate,
        "batched_pairs": int(fast.status.size),
        "batched_pairs_per_s": fast_rate,
        "speedup": fast_rate / naive_rate,
        "max_abs_delta_max_rho": delta,
        "status_mismatches": int((ref.status != fast.status[pick]).sum()),
        "cascades_share": fast.n_cascade / fast.status.size,
    }


class _SolverClock:
    """Seconds spent in lightsim2grid's computers (``compute`` and ``compute_flows``) during a
    block, summed over the engine's threads (so it can exceed the wall time with threads)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()

    def __enter__(self) -> _SolverClock:
        self._solve, self._read = BatchedEngine._solve, BatchedEngine._read_flows
        clock = self

        def timed(method):
            def wrapper(*args, **kwargs):
                tick = time.perf_counter()
                try:
                    return method(*args, **kwargs)
                finally:
                    with clock._lock:
                        clock.seconds += time.perf_counter() - tick

            return wrapper

        BatchedEngine._solve = timed(self._solve)  # type: ignore[method-assign]
        BatchedEngine._read_flows = timed(self._read)  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        BatchedEngine._solve = self._solve  # type: ignore[method-assign]
        BatchedEngine._read_flows = self._read  # type: ignore[method-assign]


def bench_chronic(
    name: str,
    n_actions: int,
    naive_states: int,
    workers: int,
    max_steps: int,
    solver_threads: int | None = None,
) -> dict[str, float]:
    """``generate --states chronic`` end to end against the naive loop, in one run.

    ``solver_threads`` None keeps the pipeline's choice
    (:func:`gridoracle.dataset.units.solver_threads`); a number forces it.
    """
    import gridoracle.dataset.units as units
    from gridoracle.dataset import load
    from gridoracle.grid import resolve_chronics
    from gridoracle.parallel import Backend
    from gridoracle.pipelines.generate import GenerateRequest, generate

    chosen = units.solver_threads
    if solver_threads is not None:
        units.solver_threads = lambda: solver_threads  # type: ignore[assignment]
    threads = units.solver_threads() if workers == 1 else 1
    with tempfile.TemporaryDirectory() as out, _SolverClock() as clock:
        tick = time.perf_counter()
        report = generate(
            GenerateRequest(
                name,
                chronics="all",
                max_steps=max_steps,
                n_actions=n_actions,
                states="chronic",
                out=Path(out),
                chunk_actions=max(n_actions, 1),
            ),
            Backend.from_options(workers=workers),
        )
        wall = time.perf_counter() - tick
        units.solver_threads = chosen  # type: ignore[assignment]
        ds = load(report.path)
        size = sum(p.stat().st_size for p in report.path.rglob("*") if p.is_file())
    pairs = int(report.summary["pairs"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_env(name)
    chronics = resolve_chronics(env, "all")
    actions = [SimpleAction(a["name"], a["grid2op"]) for a in ds.actions]
    reference = ReferenceEngine(env)
    rows = np.unique(np.linspace(1, len(ds) - 1, naive_states).astype(int))
    observations = []
    for r in rows:
        chronic, step = int(ds.meta["chronic"][r]), int(ds.meta["step"][r])
        assert chronic in chronics
        options = {"time serie id": chronic}
        obs = env.reset(seed=0, options={**options, "init ts": step} if step else options)
        observations.append(obs)
    states = states_from_observations(observations, ds.meta["step"].to_numpy()[rows], 0)
    tick = time.perf_counter()
    ref = reference.evaluate(states, actions)
    naive_s = time.perf_counter() - tick
    env.close()
    naive_rate = ref.status.size / naive_s
    fast_rate = pairs / wall
    got = ds.Y.to_numpy()[rows]
    got_status = ds.status.to_numpy()[rows]
    both = (ref.status == STATUS_OK) & (got_status == STATUS_OK)
    return {
        "env": name,
        "states": len(ds),
        "actions": len(actions),
        "workers": workers,
        "solver_threads": threads,
        "solver_s": clock.seconds,
        "naive_pairs": int(ref.status.size),
        "naive_us_per_pair": 1e6 / naive_rate,
        "generate_pairs": pairs,
        "generate_wall_s": wall,
        "generate_us_per_pair": 1e6 / fast_rate,
        "speedup": fast_rate / naive_rate,
        "max_abs_delta_max_rho": float(np.abs(got[both] - ref.max_rho[both]).max()),
        "status_mismatches": int((got_status != ref.status).sum()),
        "bytes_on_disk": size,
    }


class SimpleAction:
    """An action as the engines read it (name and grid2op dict)."""

    def __init__(self, name: str, grid2op: dict) -> None:
        self.name = name
        self.grid2op = grid2op


def peak_memory_run(env: str, steps: int, n_actions: int, workers: int) -> dict[str, float]:
    """Run ``gridoracle generate`` in a child process; report its peak resident memory."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            sys.executable,
            "-m",
            "gridoracle.cli",
            "generate",
            "--env",
            env,
            "--chronics",
            "0",
            "--max-steps",
            str(steps),
            "--actions",
            str(n_actions),
            "--out",
            out,
            "--quiet",
            "--workers",
            str(workers),
        ]
        tick = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - tick
        size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "env": env,
        "steps": steps,
        "actions": n_actions,
        "workers": workers,
        "wall_s": wall,
        "peak_rss_gib": usage.ru_maxrss / 2**20,
        "bytes_on_disk": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="also the 118-bus grid")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="118-bus generate, 288 steps x 1000 actions: peak memory",
    )
    parser.add_argument("--horizon", type=int, default=0)
    parser.add_argument("--steps", type=int, default=575)
    parser.add_argument("--actions", type=int, default=100)
    parser.add_argument("--naive-states", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--chronic", action="store_true", help="generate --states chronic end to end (issue 13)"
    )
    parser.add_argument("--chronic-actions", type=int, default=178)
    parser.add_argument("--chronic-max-steps", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--solver-threads",
        default="auto,1",
        help="with --chronic: comma-separated solver thread counts to time, 'auto' for the "
        "pipeline's own choice (default: auto,1, the default and single-threaded)",
    )
    args = parser.parse_args()
    if args.chronic:
        envs = ["l2rpn_case14_sandbox"] + (["rte_case118_example"] if args.big else [])
        counts = [None if t == "auto" else int(t) for t in args.solver_threads.split(",")]
        chronic = [
            bench_chronic(
                e, args.chronic_actions, args.naive_states, args.workers, args.chronic_max_steps, t
            )
            for e in envs
            for t in counts
        ]
        load = os.getloadavg()[0]
        print(
            f"generate --states chronic, {os.cpu_count()} cores, --workers {args.workers}, "
            f"load average {load:.2f} at the end"
        )
        for r in chronic:
            print(
                f"{r['env']:22} {r['states']:>6} states x {r['actions']:>4} actions, "
                f"{r['solver_threads']} solver thread(s): "
                f"{r['generate_wall_s']:.2f} s, {r['generate_us_per_pair']:.2f} us/pair "
                f"(solver {1e6 * r['solver_s'] / r['generate_pairs']:.2f} us/pair, "
                f"{r['solver_s']:.2f} s = {100 * r['solver_s'] / r['generate_wall_s']:.0f} % "
                f"of the wall), {r['bytes_on_disk'] / 2**20:.1f} MiB | "
                f"naive {r['naive_us_per_pair']:.0f} us/pair ({r['naive_pairs']} pairs) | "
                f"speedup {r['speedup']:.1f}x | max|dmaxrho| {r['max_abs_delta_max_rho']:.1e}, "
                f"status diff {r['status_mismatches']}"
            )
        if args.json:
            args.json.write_text(json.dumps(chronic, indent=2))
        return
    results = [
        bench_env(
            "l2rpn_case14_sandbox",
            args.steps,
            args.actions,
            args.naive_states,
            args.horizon,
            args.repeats,
        )
    ]
    if args.big:
        results.append(
            bench_env(
                "l2rpn_wcci_2022_dev",
                min(args.steps, 288),
                args.actions,
                max(5, args.naive_states // 4),
                args.horizon,
                1,
            )
        )
    print(f"horizon {args.horizon}, {os.cpu_count()} cores, one process")
    header = (
        f"{'env':24} {'states':>6} {'actions':>7} {'naive pairs/s':>14} "
        f"{'batched pairs/s':>16} {'speedup':>8} {'max|dmaxrho|':>13} {'status diff':>11}"
    )
    print(header)
    for r in results:
        print(
            f"{r['env']:24} {r['states']:>6} {r['actions']:>7} {r['naive_pairs_per_s']:>14,.0f} "
            f"{r['batched_pairs_per_s']:>16,.0f} {r['speedup']:>7.1f}x "
            f"{r['max_abs_delta_max_rho']:>13.2e} {r['status_mismatches']:>11}"
        )
    if args.memory:
        mem = peak_memory_run("l2rpn_wcci_2022_dev", 288, 1000, 1)
        results.append(mem)
        print(
            f"118-bus generate 288 steps x 1000 actions, 1 worker: {mem['wall_s']:.0f} s, "
            f"peak RSS {mem['peak_rss_gib']:.2f} GiB, {mem['bytes_on_disk'] / 2**20:.1f} MiB"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
