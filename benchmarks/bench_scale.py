"""Benchmark: speed, memory and cost at 118-bus scale (l2rpn_wcci_2022_dev, 288 steps).

Run on demand (not part of the test suite)::

    python benchmarks/bench_scale.py --quick                 # 100 actions, few steps (< 1 min)
    python benchmarks/bench_scale.py                         # 288 steps x 1000 actions
    python benchmarks/bench_scale.py --workers 1,4,16 --dask-workers 16 --json scale.json
    python benchmarks/bench_scale.py --only engine,oracle    # some sections only

It measures, in one run, three things (say which one you quote):

(a) generate: the real command path, ``gridoracle.pipelines.generate.generate`` on chronic 0 with
    ``max_steps=288`` and 1000 sampled topology actions, once per ``--workers`` count (local
    processes; 1 is serial) and once per ``--dask-workers`` count (a Dask LocalCluster), each in a
    fresh child process writing to a fresh folder. The do-nothing episode of this chronic is game
    over after 67 steps with protections on, so the dataset has 67 states, not 288. It reports
    wall seconds, states, pairs, pairs per second, the speedup against the first run, the peak
    resident memory (see :class:`MemorySampler`: the child's own, the largest of its worker
    processes, and the whole process tree), and checks that every dataset is byte-identical to
    the first one (all files but ``runs.jsonl``).
(b) engine: the batched engine alone on the 287 states of the Oracle's reconnect-only run
    (overflow disconnection off: it reaches the end of the chronic), 1000 topology actions, one
    process, in chunks of ``--chunk-actions``; pairs per second, pairs per hour per core, and the
    naive reference (``obs.simulate`` per pair, on a few states x actions of the same sets) timed
    in the same run for the speedup, with the max |delta max rho| on the common pairs.
(c) oracle: ``run_oracle`` on chronic 0 with the example actions
    (``examples/actions/l2rpn_wcci_2022_dev/reference.json``), max_depth 2, max_iter 288,
    longest path, without resume; serially (nb_process 1) and per ``--dask-workers`` count, each
    in a child process. It reports total seconds, seconds per Oracle step (total / steps), each
    step's seconds per timestep, and the reward-table seconds per (timestep x combined action).

Every child's wall time excludes the Python and grid2op imports (it starts after them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ENV = "l2rpn_wcci_2022_dev"
ACTIONS_FILE = ROOT / "examples/actions/l2rpn_wcci_2022_dev/reference.json"
MARK = "BENCH_SCALE_RESULT "
GIB = 2**20  # /proc gives KiB


def _load() -> float:
    return float(os.getloadavg()[0])


def _status_kib(pid: int | str, keys: tuple[str, ...]) -> dict[str, int]:
    """``VmRSS`` / ``VmHWM`` (KiB) of a process from ``/proc/<pid>/status`` (empty if gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in keys:
                    out[key] = int(line.split()[1])
    except OSError:
        pass
    return out


def _descendants(root: int) -> list[int]:
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [root]
    while frontier:
        frontier = [p for p, pp in parent.items() if pp in frontier]
        found += frontier
    return found


class MemorySampler:
    """Peak resident memory of this process (exact) and of its descendants (sampled).

    Reads ``/proc`` (Linux) every ``interval`` seconds in a thread: the peak ``VmHWM`` of the
    largest descendant seen (worker processes, the Oracle's figure process) and the peak of the
    summed ``VmRSS`` of this process and its descendants (the run's footprint; forked workers
    count the pages they share with their parent, so this sum overstates it). ``getrusage`` is
    not used: a process started with fork + exec inherits its parent's ``ru_maxrss`` on Linux.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.children_hwm: dict[int, int] = {}
        self.tree_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        total = _status_kib(os.getpid(), ("VmRSS",)).get("VmRSS", 0)
        for pid in _descendants(os.getpid()):
            status = _status_kib(pid, ("VmRSS", "VmHWM"))
            total += status.get("VmRSS", 0)
            hwm = status.get("VmHWM", 0)
            self.children_hwm[pid] = max(self.children_hwm.get(pid, 0), hwm)
        self.tree_peak = max(self.tree_peak, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def result(self) -> dict[str, float]:
        own = _status_kib("self", ("VmHWM",)).get("VmHWM", 0)
        return {
            "peak_rss_gib": own / GIB,
            "worker_peak_rss_gib": max(self.children_hwm.values(), default=0) / GIB,
            "tree_peak_rss_gib": max(self.tree_peak, own) / GIB,
            "processes_seen": len(self.children_hwm),
        }


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "runs.jsonl"
    }


# -- children (one process per measured run) ------------------------------------------------------


def child_generate(spec: dict[str, Any]) -> dict[str, Any]:
    """One ``generate`` run in this (fresh) process."""
    from gridoracle.parallel import Backend
    from gridoracle.pipelines.generate import GenerateRequest, generate

    tick = time.perf_counter()
    with MemorySampler() as memory:
        request = GenerateRequest(
            ENV,
            chronics="0",
            max_steps=spec["max_steps"],
            n_actions=spec["n_actions"],
            out=Path(spec["out"]),
            chunk_actions=spec["chunk_actions"],
        )
        backend = Backend.from_options(
            workers=spec.get("workers"), dask_workers=spec.get("dask_workers")
        )
        report = generate(request, backend)
    wall = time.perf_counter() - tick
    return {
        "wall_s": wall,
        "states": int(report.summary["rows"]),
        "actions": int(report.summary["actions"]),
        "pairs": int(report.pairs_computed),
        "pairs_per_s": report.pairs_computed / wall,
        "path": str(report.path),
        **memory.result(),
    }


def child_oracle(spec: dict[str, Any]) -> dict[str, Any]:
    """One ``run_oracle`` run in this (fresh) process."""
    from gridoracle.oracle.config import OracleConfig
    from gridoracle.parallel import Backend
    from gridoracle.pipelines.oracle import OracleRequest, run_oracle

    config = OracleConfig(
        max_depth=spec["max_depth"],
        max_iter=spec["max_iter"],
        best_path_type="longest",
        nb_process=1,
    )
    tick = time.perf_counter()
    with MemorySampler() as memory:
        request = OracleRequest(
            ENV, 0, Path(spec["actions_file"]), config, out=Path(spec["out"]), resume=False
        )
        report = run_oracle(request, Backend.from_options(dask_workers=spec.get("dask_workers")))
    wall = time.perf_counter() - tick
    summary = json.loads((report.folder / "summary.json").read_text())
    return {
        "wall_s": wall,
        "steps": report.table.n_steps,
        "n_combined": int(summary["n_combined"]),
        "n_simulated": int(summary["n_simulated"]),
        "n_in_graph": int(summary["n_in_graph"]),
        "timings": dict(report.timings),
        "best_path": report.path_names(report.best),
        "best_reward": float(report.best.reward),
        **memory.result(),
    }


CHILDREN = {"generate": child_generate, "oracle": child_oracle}


def run_child(task: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``task`` in a fresh Python process; return its result (and the load around it)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", task, json.dumps(spec)]
    load_before = _load()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"child {task} {spec} failed:\n{done.stderr[-4000:]}")
    line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith(MARK))
    result: dict[str, Any] = json.loads(line[len(MARK) :])
    result["load_before"] = load_before
    result["load_after"] = _load()
    return result


# -- (a) generate ---------------------------------------------------------------------------------


def bench_generate(args: argparse.Namespace) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    modes = [("local", w) for w in args.workers] + [("dask", w) for w in args.dask_workers]
    with tempfile.TemporaryDirectory() as tmp:
        reference: dict[str, bytes] | None = None
        for i, (mode, n) in enumerate(modes):
            spec = {
                "max_steps": args.steps,
                "n_actions": args.actions,
                "chunk_actions": args.chunk_actions,
                "out": str(Path(tmp) / f"run{i}"),
                "workers" if mode == "local" else "dask_workers": n,
            }
            r = run_child("generate", spec)
            files = _files(Path(r.pop("path")))
            if reference is None:
                reference = files
            r["identical"] = files == reference
            r["mode"] = "serial" if mode == "local" and n == 1 else mode
            r["workers"] = n
            r["speedup"] = r["pairs_per_s"] / (runs[0]["pairs_per_s"] if runs else r["pairs_per_s"])
            runs.append(r)
            print(f"  generate {r['mode']} x{n}: {r['wall_s']:.1f} s", flush=True)
    return runs


def print_generate(runs: list[dict[str, Any]]) -> None:
    print(
        f"{'mode':8} {'workers':>7} {'wall s':>8} {'states':>6} {'pairs':>8} {'pairs/s':>9} "
        f"{'speedup':>8} {'parent GiB':>10} {'worker GiB':>10} {'tree GiB':>8} {'identical':>9} "
        f"{'load':>5}"
    )
    for r in runs:
        worker = f"{r['worker_peak_rss_gib']:10.2f}" if r["processes_seen"] else "         -"
        print(
            f"{r['mode']:8} {r['workers']:>7} {r['wall_s']:8.1f} {r['states']:>6} "
            f"{r['pairs']:>8,} {r['pairs_per_s']:>9,.0f} {r['speedup']:>7.2f}x "
            f"{r['peak_rss_gib']:>10.2f} {worker} {r['tree_peak_rss_gib']:>8.2f} "
            f"{r['identical']!s:>9} {r['load_before']:5.2f}"
        )
    print(
        "  parent GiB: peak RSS of the process calling generate(); worker GiB: the largest peak"
        " RSS of\n  one of its worker processes (local pool: forked, so it counts the pages it"
        " shares with\n  the parent; dask: spawned); tree GiB: peak of the summed RSS of the"
        " parent and its\n  workers (sampled every 0.1 s; counts shared pages once per process)."
        " load: 1-min load\n  average before the run (this benchmark's own previous run"
        " included)."
    )


# -- (b) engine -----------------------------------------------------------------------------------


def bench_engine(args: argparse.Namespace) -> dict[str, Any]:
    from gridoracle.actions.enumerate import enumerate_actions, sample_actions
    from gridoracle.engine.base import STATUS_OK
    from gridoracle.engine.batched import BatchedEngine
    from gridoracle.engine.reference import ReferenceEngine
    from gridoracle.engine.states import states_from_observations
    from gridoracle.oracle.sim.env import make_oracle_env
    from gridoracle.oracle.sim.rewards import base_run

    load_before = _load()
    tick = time.perf_counter()
    env = make_oracle_env(ENV)
    engine = BatchedEngine(env)  # built right after make: its voltages are the env's first state
    setup_s = time.perf_counter() - tick
    tick = time.perf_counter()
    observations, why = base_run(env, 0, args.steps, 0)
    states = states_from_observations(observations, range(1, len(observations) + 1), horizon=0)
    episode_s = time.perf_counter() - tick
    actions = sample_actions(enumerate_actions(env, "topology"), args.actions, seed=0)
    chunk_s: list[float] = []
    parts = []
    for start in range(0, len(actions), args.chunk_actions):
        tick = time.perf_counter()
        parts.append(engine.evaluate(states, actions[start : start + args.chunk_actions]))
        chunk_s.append(time.perf_counter() - tick)
    batched_s = float(sum(chunk_s))
    max_rho = np.concatenate([p.max_rho for p in parts], axis=1)
    status = np.concatenate([p.status for p in parts], axis=1)
    cascades = sum(p.n_cascade for p in parts)
    pairs = int(status.size)
    # naive reference on evenly spread states and the first actions of the same sample
    pick = np.unique(np.linspace(0, len(states) - 1, args.naive_states).astype(int))
    naive_actions = actions[: args.naive_actions]
    tick = time.perf_counter()
    ref = ReferenceEngine(env).evaluate(states.select(pick), naive_actions)
    naive_s = time.perf_counter() - tick
    env.close()
    common_rho = max_rho[np.ix_(pick, np.arange(len(naive_actions)))]
    common_status = status[np.ix_(pick, np.arange(len(naive_actions)))]
    both_ok = (ref.status == STATUS_OK) & (common_status == STATUS_OK)
    delta = float(np.abs(common_rho[both_ok] - ref.max_rho[both_ok]).max()) if both_ok.any() else 0
    rate = pairs / batched_s
    naive_rate = ref.status.size / naive_s
    return {
        "states": len(states),
        "episode_end": why or "max_iter reached",
        "actions": len(actions),
        "chunk_actions": args.chunk_actions,
        "pairs": pairs,
        "setup_s": setup_s,
        "episode_s": episode_s,
        "batched_s": batched_s,
        "chunk_s_min": min(chunk_s),
        "chunk_s_max": max(chunk_s),
        "pairs_per_s": rate,
        "pairs_per_hour_per_core": rate * 3600,
        "naive_pairs": int(ref.status.size),
        "naive_s": naive_s,
        "naive_pairs_per_s": naive_rate,
        "speedup_vs_naive": rate / naive_rate,
        "max_abs_delta_max_rho": delta,
        "status_mismatches": int((ref.status != common_status).sum()),
        "ok_share": float((status == STATUS_OK).mean()),
        "cascades_share": cascades / pairs,
        "peak_rss_gib": _status_kib("self", ("VmHWM",)).get("VmHWM", 0) / GIB,
        "load_before": load_before,
        "load_after": _load(),
    }


def print_engine(e: dict[str, Any]) -> None:
    print(
        f"{e['states']} states ({e['episode_end']}) x {e['actions']} actions = {e['pairs']:,} "
        f"pairs, chunks of {e['chunk_actions']} actions, one process"
    )
    print(f"{'':34} {'pairs':>9} {'seconds':>9} {'pairs/s':>9}")
    print(f"{'naive obs.simulate':34} {e['naive_pairs']:>9,} {e['naive_s']:9.2f} "
          f"{e['naive_pairs_per_s']:9,.0f}")  # fmt: skip
    print(f"{'batched engine':34} {e['pairs']:>9,} {e['batched_s']:9.2f} {e['pairs_per_s']:9,.0f}")
    print(
        f"speedup {e['speedup_vs_naive']:.1f}x; pairs per hour per core "
        f"{e['pairs_per_hour_per_core']:,.0f}; chunk {e['chunk_s_min']:.2f}-"
        f"{e['chunk_s_max']:.2f} s"
    )
    print(
        f"max |d max rho| vs naive {e['max_abs_delta_max_rho']:.1e} on the common pairs, "
        f"{e['status_mismatches']} status mismatches; ok {e['ok_share']:.1%}, cascades "
        f"{e['cascades_share']:.1%}; env + engine {e['setup_s']:.1f} s, reconnect-only run "
        f"{e['episode_s']:.1f} s; peak RSS {e['peak_rss_gib']:.2f} GiB"
    )


# -- (c) oracle -----------------------------------------------------------------------------------


def bench_oracle(args: argparse.Namespace) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    first_path: list[str] = []
    modes: list[tuple[str, int | None]] = [("serial", None)]
    modes += [("dask", n) for n in args.dask_workers]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (mode, n) in enumerate(modes):
            spec = {
                "max_depth": 2,
                "max_iter": args.steps,
                "actions_file": str(args.oracle_actions),
                "out": str(Path(tmp) / f"run{i}"),
                "dask_workers": n,
            }
            r = run_child("oracle", spec)
            r["mode"], r["workers"] = mode, n or 1
            steps = r["steps"]
            r["s_per_step"] = r["wall_s"] / steps
            r["rewards_s_per_step_action"] = r["timings"]["2 rewards"] / (steps * r["n_simulated"])
            path = r.pop("best_path")  # 1 name per step: compared, not kept in the JSON
            first_path = path if not runs else first_path
            r["same_best_path"] = path == first_path
            runs.append(r)
            print(f"  oracle {mode} x{r['workers']}: {r['wall_s']:.1f} s", flush=True)
    return runs


def print_oracle(runs: list[dict[str, Any]]) -> None:
    first = runs[0]
    print(
        f"chronic 0, max_depth 2, {first['n_combined']} combined actions, {first['n_simulated']} "
        f"simulated, {first['n_in_graph']} in the graph, {first['steps']} steps, longest"
    )
    heads = " ".join(f"{r['mode'] + ' x' + str(r['workers']):>22}" for r in runs)
    print(f"{'step (s, s per timestep)':26} {heads}")
    labels = list(first["timings"])
    for label in labels:
        seconds = [r["timings"].get(label, 0.0) for r in runs]
        cells = " ".join(
            f"{s:10.2f} {s / r['steps']:11.4f}" for s, r in zip(seconds, runs, strict=True)
        )
        print(f"{label:26} {cells}")
    print(f"{'total':26} " + " ".join(f"{r['wall_s']:10.2f} {r['s_per_step']:11.4f}" for r in runs))
    for r in runs:
        print(
            f"{r['mode']} x{r['workers']}: {r['s_per_step'] * 1000:.1f} ms per Oracle step, reward"
            f" table {r['rewards_s_per_step_action'] * 1e6:.0f} us per (step x combined action),"
            f" peak RSS {r['peak_rss_gib']:.2f} GiB (largest other process "
            f"{r['worker_peak_rss_gib']:.2f}, tree {r['tree_peak_rss_gib']:.2f}), same best path"
            f" {r['same_best_path']}, load "
            f"{r['load_before']:.2f}"
        )


# -- main -----------------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _summary(results: dict[str, Any]) -> list[str]:
    lines = []
    for r in results.get("generate", []):
        lines.append(
            f"generate {r['mode']} x{r['workers']}: {r['pairs_per_s']:,.0f} pairs/s "
            f"({r['states']} states x {r['actions']} actions, {r['wall_s']:.1f} s), "
            f"{r['speedup']:.2f}x, peak RSS {r['peak_rss_gib']:.2f} GiB"
            + (f" + worker {r['worker_peak_rss_gib']:.2f} GiB" if r["mode"] != "serial" else "")
            + f" (tree {r['tree_peak_rss_gib']:.2f} GiB)"
            + f", identical {r['identical']}"
        )
    if "engine" in results:
        e = results["engine"]
        lines.append(
            f"engine serial: {e['pairs_per_s']:,.0f} pairs/s ({e['states']} states x "
            f"{e['actions']} actions), {e['pairs_per_hour_per_core']:,.0f} pairs/hour/core, "
            f"{e['speedup_vs_naive']:.0f}x the naive {e['naive_pairs_per_s']:,.0f} pairs/s"
        )
    for r in results.get("oracle", []):
        lines.append(
            f"oracle {r['mode']} x{r['workers']}: {r['wall_s']:.1f} s, "
            f"{r['s_per_step'] * 1000:.1f} ms per step ({r['steps']} steps, {r['n_simulated']} "
            f"combined actions), rewards {r['rewards_s_per_step_action'] * 1e6:.0f} us per "
            f"(step x action), peak RSS {r['peak_rss_gib']:.2f} GiB (tree "
            f"{r['tree_peak_rss_gib']:.2f} GiB)"
        )
    return lines


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = CHILDREN[sys.argv[2]](json.loads(sys.argv[3]))
        print(MARK + json.dumps(result), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 actions, 24 steps (< 1 min)")
    parser.add_argument("--steps", type=int, help="max steps / max_iter (default 288)")
    parser.add_argument("--actions", type=int, help="actions of (a) and (b) (default 1000)")
    parser.add_argument("--chunk-actions", type=int, default=50)
    parser.add_argument(
        "--workers", type=_ints, default=[1, 2], help="local process counts of (a), 1 = serial"
    )
    parser.add_argument(
        "--dask-workers", type=_ints, default=[2], help="LocalCluster sizes of (a) and (c)"
    )
    parser.add_argument("--naive-states", type=int, help="states of the naive run (default 5)")
    parser.add_argument("--naive-actions", type=int, help="actions of the naive run (default 50)")
    parser.add_argument("--oracle-actions", type=Path, default=ACTIONS_FILE)
    parser.add_argument(
        "--only", default="generate,engine,oracle", help="sections to run, comma-separated"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    quick = args.quick
    args.steps = args.steps or (24 if quick else 288)
    args.actions = args.actions or (100 if quick else 1000)
    args.naive_states = args.naive_states or (2 if quick else 5)
    args.naive_actions = args.naive_actions or (20 if quick else 50)
    if 1 not in args.workers:
        args.workers = [1, *args.workers]  # the serial run is the reference of the others
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - {"generate", "engine", "oracle"}
    if unknown:
        parser.error(f"--only: unknown section(s) {sorted(unknown)}")
    results: dict[str, Any] = {
        "machine": {
            "cores": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "load_at_start": list(os.getloadavg()),
        },
        "settings": {
            "env": ENV,
            "chronic": 0,
            "steps": args.steps,
            "actions": args.actions,
            "chunk_actions": args.chunk_actions,
            "workers": args.workers,
            "dask_workers": args.dask_workers,
            "quick": quick,
        },
    }
    tick = time.perf_counter()
    print(
        f"{ENV}, chronic 0, {args.steps} steps, {args.actions} actions, {os.cpu_count()} cores, "
        f"load {results['machine']['load_at_start'][0]:.2f}",
        flush=True,
    )
    if "generate" in sections:
        results["generate"] = bench_generate(args)
    if "engine" in sections:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results["engine"] = bench_engine(args)
        print("  engine done", flush=True)
    if "oracle" in sections:
        results["oracle"] = bench_oracle(args)
    results["machine"]["load_at_end"] = list(os.getloadavg())
    results["total_s"] = time.perf_counter() - tick
    if "generate" in results:
        print("\n(a) generate, the command path (do-nothing with protections: game over early)")
        print_generate(results["generate"])
    if "engine" in results:
        print("\n(b) batched engine on the Oracle's reconnect-only states")
        print_engine(results["engine"])
    if "oracle" in results:
        print("\n(c) Oracle")
        print_oracle(results["oracle"])
    results["summary"] = _summary(results)
    print(f"\nsummary ({results['total_s']:.0f} s in all, load {_load():.2f} at the end)")
    for line in results["summary"]:
        print("  " + line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    failed = [r for r in results.get("generate", []) if not r["identical"]]
    if failed:
        raise SystemExit("datasets differ between runs: " + ", ".join(r["mode"] for r in failed))


if __name__ == "__main__":
    main()
