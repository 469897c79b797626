"""Does screening-10 play as well as the greedy expert, for a fraction of its simulations? Issue 14.

Run on demand (not part of the test suite; the first run generates the data and trains the
models under ``--work``, a rerun reuses them and the finished episodes)::

    .venv/bin/python benchmarks/bench_agent.py [--cases case14,sandbox] [--max-steps N]

Everything goes through the CLI that users run (``gridoracle generate``, ``train``, ``agents
evaluate``, each a subprocess with ``--quiet``), per case:

``case14``
    rte_case14_realistic, 100 unitary topologies sampled with seed 0 (do nothing included;
    generate leaves out the 12 that change nothing or repeat another: 88 remain; the choice of
    ``benchmarks/bench_decision.py``), every step of chronics 0 and 1 (``--states chronic``, full
    targets); ``train`` on chronic 0 only (``--test-chronics 1``); the agents and the Oracle
    play chronic 1, the whole month (8,064 steps).
``sandbox``
    l2rpn_case14_sandbox, the same 100 sampled topologies, chronics 0-2; train on 0-1, play 2.

``--states``, ``--topologies``, ``--outages`` and ``--model`` are handed to ``generate`` and
``train``. The default (chronic states, the model ``train`` fits without ``--model``:
``line_flows``) was chosen on rte_case14_realistic's training chronic 0 only, by the length
of screening-10's episode there (a hand loop of ``gridoracle.agent`` from ``env.reset(seed=0)``,
env.step calls, a game over's step included; greedy: all 8,064): line_flows on chronic states
4,843; the same at
horizon 1 3,111; on ``--states greedy`` 4,838, ``random-topology`` 3,403, ``--topologies 2
--outages 1`` 984; ``topology_flows`` on chronic states 3,272, on ``--topologies 2 --outages
1`` 1,096, on greedy states 1,096. None survives as long as greedy there.

``--catalogue distinct`` replaces the 100 sampled topologies with every distinct unitary
topology of the grid (``gridoracle actions --kind topology --distinct``, then ``generate
--actions-file``): 126 actions on rte_case14_realistic, 154 on the sandbox (do nothing
included), so that k = 10 (11 calls with do nothing) is under 10 % of greedy's calls; with 88
actions it cannot be (11 / 88).

``--select`` chooses the data source and the model on the training chronics only (chronic 0 of
rte_case14_realistic, chronics 0 and 1 of the sandbox), among ``--candidates`` (default: the
data sources ``chronic``, ``chronic-t2`` (``--topologies 2``) and ``greedy`` (``--states
greedy``) x the models ``line_flows`` and ``topology_flows``), by this rule, fixed before any
held-out chronic was played with this catalogue:

1. greedy plays each training chronic (a hand loop from ``env.reset(seed=0)``); on each of its
   acting steps, each candidate's screened-10 set (the 10 legal actions it predicts lowest) is
   scored against greedy's exhaustive simulation: regret = the lowest simulated max rho in the
   set (do nothing and a reconnection included) minus greedy's; recall = on the steps where
   greedy's choice improves on do nothing, the share where it is in the set (a step where the
   set and do nothing find no finite max rho while greedy does is charged a regret of 1.0: so
   the code did from the first run; the table also shows the mean without those steps and
   their count);
2. screening-10 with each candidate plays each training chronic (same loop);
3. chosen: first the candidates whose screening-10 survives as long as greedy on every
   training chronic; among them (or among all, if none does) the lowest mean regret, then the
   highest recall, then the order of ``--candidates``.

The survival of one episode is a single, noisy outcome (on chronic 0 with the 88 sampled
actions, line_flows lasted 4,843 steps and topology_flows 3,272, but on chronic 1 line_flows
died at 4,837 and topology_flows survived); regret and recall pool every state greedy acts on.

Measured (``--catalogue distinct --select --workers 2``, 2 shared cores). The selection, run
first with the candidates ``chronic:line_flows,chronic:topology_flows`` and then with the six
of the default (that second run came after the first one's chronic-1 results were seen; the
rule is the same), on rte_case14_realistic chronic 0, where greedy itself dies at step 3,306
(with 126 actions; with the 88 sampled it survived all 8,064) after acting on 256 steps (79
where an action improves on do nothing)::

    candidate                  regret@10  finite  none  recall@10  screening-10 steps
    chronic:line_flows            0.0522  0.0137    10      13.9%  1268
    chronic:topology_flows        0.0714  0.0012    18      60.8%  2418
    chronic-t2:line_flows         0.0695  0.0116    15       8.9%  4839 (>= greedy)  chosen
    chronic-t2:topology_flows     0.0613  0.0029    15      62.0%  2400
    greedy:line_flows             0.0830  0.0177    17      19.0%  3262
    greedy:topology_flows         0.0833  0.0056    20      50.6%  3123

(of the first two, chronic:line_flows was chosen by the lower regret). On chronic 1, every
model's screening-10 dies between steps 4,719 and 5,289 while greedy survives all 8,064
(chronic-t2:line_flows 4,721; chronic:line_flows 4,719; chronic:topology_flows, not chosen,
5,289): with line_flows greedy and screening-10 part at step 4,699 (the same state: same
actions before), where greedy plays sub-4-12, outside screening-10's 10 (or it would have
played it); with topology_flows at step 4,728 (greedy sub-3-11, screening-10 do nothing);
screening-20 survives 8,064 with chronic:line_flows and
chronic:topology_flows (5,417 with chronic-t2:line_flows). Calls: 2.7-7.6 % of greedy's
(11.0 / 126.0 per acting step); decision time 9-18x (episodes), 7.5-10.8x CPU on the same 30
states. The sandbox's training chronics 0-1 never reach max rho 0.95 (greedy never acts):
regret and recall are undefined there, every candidate survives both (575 steps), and the
rule falls to the order: chronic:line_flows; on chronic 2 screening-10 survives 575 as greedy
does, with 11.0 of 154.0 calls per acting step (7.1 %) but 33 / 308 = 10.7 % over the episode
(it acts on 3 steps, greedy on 2). The Oracle (depth 1) has no path without overload on
rte_case14_realistic chronic 1, and its best path replayed dies at step 1,381 (plan 132,429):
the gap to it is negative for every agent but do nothing and random-10; on the sandbox both
paths are the same and survive (9,576 against greedy's 9,263).

Rerun with the candidates ``chronic:flow_boost`` and ``chronic-t2:flow_boost`` added (the
pooled boosted model on DC physics, :mod:`gridoracle.models.flowboost`; added after every
earlier candidate's chronic-1 results were seen; the rule and the six others' rows unchanged)::

    chronic:flow_boost            0.0726  0.0024    18      62.0%  4844 (>= greedy)
    chronic-t2:flow_boost         0.0137  0.0060     2      70.9%  2539

chronic-t2:flow_boost ranks best by far (regret@10 0.014 against 0.052-0.083, a set without a
finite max rho on 2 of greedy's 256 acting steps against 10-20), but its screening-10 dies on
chronic 0 at step 2,539, before greedy's 3,306: the rule keeps chronic-t2:line_flows. Played on
chronic 1 for information only (``--topologies 2 --model flow_boost``; not chosen, so not a
result of the rule): screening-10 survives all 8,064 steps (reward 127,067 against greedy's
128,053; screening-20 8,064, screening-5 5,306, screening-1 4,836), with 11.0 of 126.0 calls
per acting step but 12.7 % of greedy's over the episode (it acts on 108 steps, greedy on 74),
and 5.0x greedy's CPU time on the same 30 states: its prediction takes 10.7 ms a state (the 300
trees of scikit-learn's HistGradientBoostingRegressor, ~20 us a tree for 126 rows).

Rerun once more with one candidate added, ``chronic-t2-p2048:flow_boost`` (``-pN``: generate
``--variant-pool N``; the pool that bench_decision.py's ``pool`` scenario chose by CV on training
chronic 0, written down before any agent played), the rule and the others' rows unchanged::

    chronic-t2-p2048:flow_boost   0.0900  0.0002    23      62.0%  2526

It ranks worse on greedy's acting steps of chronic 0 than the pool-32 model (0.090 against
0.014); probably because greedy's states there are in a few of the pool-32 model's training
topologies, while the larger pool's 12,000 sampled states spread over 1,920 (not checked). Its
screening-10 dies at step 2,526: the rule keeps chronic-t2:line_flows, and chronic 1 was not
played for it.

Printed per case: per agent (do nothing, greedy, random-k and screening-k for k = 1, 5, 10, 20,
the Oracle) steps survived, L2RPN reward, acting steps, simulate calls per acting step, decision
time per acting step, and the gap to the Oracle; then the targets, per chronic, with their
ratios: screening-10 survives at least as many steps as greedy; its simulate calls are at most
10 % of greedy's (over the episode; per acting step printed beside it); greedy's decision time
per acting step is at least 5x screening-10's. The decision times of the table come from
episodes played one after the other (the machine's load may differ between them); a paired
measurement follows (``--paired`` acting steps of the greedy's episode, on which both agents
decide on the same observation, wall and CPU time): where a greedy step's time goes
(simulate calls x time per call) and the ratio on identical states, checked too (CPU).

``--recover R`` (``none`` or a max rho) plays greedy, random-k and screening-k with
``agents evaluate --recover R``: below max rho R, with no line to reconnect, they return a
substation to the episode's initial topology when its simulation stays below the threshold
(:mod:`gridoracle.agent.agents`). ``--recover-candidates none,0.7,0.8,0.9`` chooses R per case
on the training chronics only, by this rule, written before any held-out chronic was played with
a recovery:

1. greedy and screening-10, both with the candidate R, play each training chronic (the hand
   loop of ``screening_steps``: ``env.reset(seed=0)``, env.step calls, a game over's step
   included);
2. chosen: first the R whose screening-10 survives at least as many steps as greedy (with the
   same R) on every training chronic; among them (or among all, if none does) the fewest
   simulate calls of screening-10 summed over the training chronics (its recoveries' included);
   then the smaller R (``none``, never recovering, counts as the smallest);
3. where no candidate simulates a single recovery on the training chronics (they cannot be
   told apart: the sandbox's chronics 0-1, where greedy never acts, so the topology never
   leaves the reference), the R chosen on the case before it (case14) is used, and the output
   says so.

Measured (``--catalogue distinct --select --workers 2 --recover-candidates none,0.7,0.8,0.9``,
the model chosen above) on rte_case14_realistic's training chronic 0 (hand loop; steps include
the game over's; calls include the recoveries', in parentheses with the recoveries played)::

    R      greedy steps  calls               screening-10 steps  calls
    none   3306          32,256              4839                3,344          chosen
    0.7    3540          24,207 (15, 8)      3266                1,104 (15, 8)
    0.8    3540          22,083 (33, 19)     3399                1,640 (23, 15)
    0.9    4733          31,692 (472, 79)    4734                3,880 (415, 73)

none and 0.9 keep screening-10 alive as long as greedy; none has fewer calls: R = none, so the
held-out chronic 1 is played as without ``--recover`` (screening-10 4,721 steps, greedy 8,064:
the survival target stays missed). The sandbox's training chronics never leave the reference
topology (greedy never acts there): step 3, case14's R, none. With 0.9 on chronic 0 (the Runner,
``agents evaluate --chronics 0 --recover 0.9``) screening-10 survives 4,733 against greedy's
4,732, but its calls are 12.2 % of greedy's over the episode (3,880 / 31,692: it acts on 315
steps, greedy on 248); a recovery decision takes 7.5 ms (greedy) and 9.9 ms (screening-10).

The held-out chronic is then played once with the chosen R (its own ``agents-...-recover<R>``
folder; the Oracle runs there again). Calls compare every simulate call of the episode, the
recoveries' included. The decision time per acting step leaves the recovery steps out (a step
where a recovery is simulated is not an acting step: max rho is below the threshold); their
time per recovery decision is printed beside it, and the ratio again with every decision (acting
steps and steps where a recovery was simulated) in the mean.

The exit code is 0 whether targets are met or not (PASS/MISS lines say which).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

KS = (1, 5, 10, 20)
#: ``generate --variant-pool``'s default (gridoracle.dataset.sources.VARIANT_POOL, not imported:
#: this script loads gridoracle only where it plays)
VARIANT_POOL = 32
#: ``--select``'s default candidates: data source x model
CANDIDATES = tuple(
    f"{source}:{name}"
    for source in ("chronic", "chronic-t2", "greedy")
    for name in ("line_flows", "topology_flows")
)
TARGET_K = 10


@dataclass(frozen=True)
class Case:
    """One benchmark case: what to generate, train on, and play."""

    env: str
    data_chronics: str
    test_chronics: str
    max_steps: int = 8064
    n_actions: int = 100


@dataclass(frozen=True)
class Source:
    """Where the training states come from (``generate --states/--topologies/--outages``)."""

    states: str = "chronic"
    topologies: int = 0
    outages: int = 0
    variant_pool: int = VARIANT_POOL

    @property
    def tag(self) -> str:
        return self.states + (f"-t{self.topologies}" if self.topologies else "") + (
            f"-o{self.outages}" if self.outages else "") + (
            f"-p{self.variant_pool}" if self.variant_pool != VARIANT_POOL else "")  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    """A data source and a model (``train --model``; None: train's default, line_flows)."""

    source: Source
    model: str | None

    @property
    def label(self) -> str:
        return f"{self.source.tag}:{self.model or 'line_flows'}"

    @classmethod
    def parse(cls, text: str) -> Candidate:
        """``STATES[-tN][-oN][-pN]:MODEL`` (``-pN``: ``generate --variant-pool N``), e.g.
        ``chronic:topology_flows``, ``chronic-t2:ridge``, ``random-topology-t2-p256:flow_boost``."""
        src, _, name = text.partition(":")
        states, counts = src, {"t": 0, "o": 0, "p": VARIANT_POOL}
        while (found := re.fullmatch(r"(.+)-([top])(\d+)", states)) is not None:
            states, counts[found.group(2)] = found.group(1), int(found.group(3))
        source = Source(states, counts["t"], counts["o"], counts["p"])
        return cls(source, None if name in ("", "line_flows") else name)


CASES = {
    "case14": Case("rte_case14_realistic", "0,1", "1"),
    "sandbox": Case("l2rpn_case14_sandbox", "0,1,2", "2"),
}


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("gridoracle")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "gridoracle.cli"]


def run_cli(args: list[str], what: str) -> str:
    """Run ``gridoracle ARGS --quiet``; print its wall and CPU time; return its stdout."""
    cmd = [*_cli(), *args, "--quiet"]
    print(f"  $ gridoracle {' '.join(args)} --quiet", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    tick = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - tick
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    print(f"    {what}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    return done.stdout


def catalogue_file(case: Case, root: Path, args: argparse.Namespace) -> Path | None:
    """``--catalogue distinct``: every distinct unitary topology of the grid, written by
    ``gridoracle actions --kind topology --distinct`` (None: ``--catalogue sampled``)."""
    if args.catalogue == "sampled":
        return None
    path = root / "actions-distinct.json"
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        run_cli(["actions", "--env", case.env, "--kind", "topology", "--distinct",
                 "--out", str(path)], "actions")  # fmt: skip
    return path


def dataset(case: Case, root: Path, source: Source, workers: int, actions: Path | None) -> Path:
    """Generate (or find in the cache) the case's dataset; its folder."""
    pick = ["--actions", str(case.n_actions)] if actions is None else [
        "--actions-file", str(actions)]  # fmt: skip
    gen = ["generate", "--env", case.env, "--chronics", case.data_chronics,
           "--max-steps", str(case.max_steps), *pick,
           "--states", source.states, "--topologies", str(source.topologies),
           "--outages", str(source.outages), "--variant-pool", str(source.variant_pool),
           "--targets", "full", "--seed", "0",
           "--workers", str(workers), "--out", str(root)]  # fmt: skip
    out = run_cli(gen, "generate")
    for line in out.splitlines():
        if line.startswith("dataset: "):
            return Path(line[len("dataset: ") :].strip())
    raise SystemExit(f"generate printed no 'dataset:' line:\n{out[-2000:]}")


def model(case: Case, data: Path, folder: Path, name: str | None) -> Path:
    """Train the model ``name`` (None: train's default) unless ``folder`` holds it already."""
    manifest = json.loads((data / "manifest.json").read_text())
    meta_file = folder / "metadata.json"
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        same_data = (meta.get("dataset") or {}).get("config_hash") == manifest["config_hash"]
        same_model = name is None or meta.get("model") == name
        if same_data and same_model:
            print(f"  model {folder} ({meta.get('model')}) reused")
            return folder
        shutil.rmtree(folder)
    cmd = ["train", "--data", str(data), "--test-chronics", case.test_chronics,
           "--out", str(folder)]  # fmt: skip
    if name:
        cmd += ["--model", name]
    run_cli(cmd, "train")
    return folder


def evaluate(
    case: Case, model_dir: Path, out: Path, args: argparse.Namespace, recover: float | None = None
) -> list[dict]:
    """``gridoracle agents evaluate`` on the case's test chronics; the rows of results.json."""
    cmd = ["agents", "evaluate", "--env", case.env, "--chronics", case.test_chronics,
           "--model", str(model_dir), "--k", ",".join(str(k) for k in KS), "--seed", "0",
           "--workers", str(args.workers), "--out", str(out)]  # fmt: skip
    if recover is not None:
        cmd += ["--recover", str(recover)]
    if args.max_steps:
        cmd += ["--max-steps", str(args.max_steps)]
    run_cli(cmd, "agents evaluate")
    rows: list[dict] = json.loads((out / "results.json").read_text())
    return rows


def _num(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, fmt)


def _agent_of(rows: list[dict], kind: str, k: int | None = None) -> dict | None:
    for row in rows:
        if row["kind"] == kind and (k is None or row.get("k") == k):
            return row
    return None


def _oracle_plan(out: Path, chronic_name: Any) -> dict[str, Any]:
    """The Oracle's own record of a chronic (its best path's planned value and steps)."""
    path = out / "oracle" / f"result_{chronic_name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def print_table(rows: list[dict], out: Path) -> None:
    """One block per chronic: the agents, the Oracle's replayed best path and its plan.

    ``reward gap`` / ``steps gap``: the Oracle's bound minus the agent (the columns of
    results.csv; the bound: of its best path and best path without overload replayed under the
    real rules, the one that survives longest, then of the highest reward); ``plan gap``: the
    value of the Oracle's best path as planned (its reward table, before the replay under the
    real rules) minus the agent's reward. Both replayed paths follow the agents.
    """
    order = {"do_nothing": 0, "greedy": 1, "random": 2, "screening": 3}
    for chronic in sorted({r["chronic"] for r in rows}):
        part = sorted(
            (r for r in rows if r["chronic"] == chronic),
            key=lambda r: (order.get(r["kind"], 9), r.get("k") or 0),
        )
        first = part[0]
        plan = _oracle_plan(out, first.get("chronic_name"))
        planned = plan.get("best_path_value")
        print(f"\n  chronic {chronic} ({first.get('chronic_name')}), {first['max_steps']} steps")
        print(
            f"  {'agent':<14}{'steps':>7}{'reward':>12}{'acting':>8}{'calls/act':>10}"
            f"{'ms/act':>9}{'recov':>6}{'r.calls':>8}{'r.ms':>6}{'calls':>8}{'reward gap':>12}"
            f"{'steps gap':>10}{'plan gap':>10}"
        )
        for r in part:
            ms = r.get("decision_s_per_acting_step")
            rec = _episode_result(out, r)
            r_ms = rec.get("recovery_s_per_attempt")
            gap = None if planned is None else planned - r["reward"]
            print(
                f"  {r['agent']:<14}{r['steps']:>7}{_num(r['reward'], ',.0f'):>12}"
                f"{r['acting_steps'] or 0:>8}{_num(r['calls_per_acting_step'], '.1f'):>10}"
                f"{_num(None if ms is None else 1e3 * ms, '.1f'):>9}"
                f"{r.get('recovery_steps') or 0:>6}{r.get('recovery_calls') or 0:>8}"
                f"{_num(None if r_ms is None else 1e3 * r_ms, '.1f'):>6}"
                f"{r['simulate_calls'] or 0:>8}{_num(r['reward_gap'], ',.0f'):>12}"
                f"{_num(r['steps_gap'], 'd'):>10}{_num(gap, ',.0f'):>10}"
            )
        for label, p in (plan.get("paths") or {}).items():
            bound = " (the bound of the gaps)" if label == plan.get("bound") else ""
            acts = " -> ".join(f"{name} x{n}" for name, n in p.get("actions") or []) or "none"
            print(
                f"  {'Oracle ' + ('no overload' if 'overload' in label else 'best'):<14}"
                f"{_num(p.get('steps'), 'd'):>7}{_num(p.get('reward'), ',.0f'):>12}"
                f"   {label} replayed{bound}; planned {_num(p.get('value'), ',.0f')} over "
                f"{_num(p.get('steps_planned'), 'd')} steps ({acts})"
            )
        for warning in plan.get("warnings") or []:
            print(f"    Oracle: {warning}")


def _episode_result(out: Path, row: dict) -> dict[str, Any]:
    """The ``gridoracle_result.json`` of one row's episode (its recovery attempts and times)."""
    path = (
        out / "episodes" / str(row["agent"]) / str(row["chronic_name"]) / "gridoracle_result.json"
    )
    return json.loads(path.read_text()) if path.exists() else {}


def _per_decision(out: Path, row: dict) -> float | None:
    """Mean seconds per decision, acting steps and steps where a recovery was simulated alike."""
    rec = _episode_result(out, row)
    acting, attempts = int(row["acting_steps"] or 0), int(rec.get("recovery_attempts") or 0)
    total = (row["decision_s_per_acting_step"] or 0.0) * acting + (
        rec.get("recovery_s_per_attempt") or 0.0) * attempts  # fmt: skip
    return total / (acting + attempts) if acting + attempts else None


class Checks:
    """Target checks: printed as PASS/MISS with the measured ratio, summed up at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, bool]] = []

    def __call__(self, what: str, ok: bool, detail: str) -> None:
        self.rows.append((what, ok))
        print(f"  {'PASS' if ok else 'MISS'} {what}: {detail}")


def check_targets(tag: str, rows: list[dict], checks: Checks, out: Path | None = None) -> None:
    """Issue 14's three targets on every chronic of ``rows`` (``out``: the episodes' folder, for
    the recovery decisions' times)."""
    for chronic in sorted({r["chronic"] for r in rows}):
        part = [r for r in rows if r["chronic"] == chronic]
        greedy = _agent_of(part, "greedy")
        screen = _agent_of(part, "screening", TARGET_K)
        if greedy is None or screen is None:
            print(f"  {tag} chronic {chronic}: greedy or screening-{TARGET_K} missing")
            continue
        where = f"{tag} chronic {chronic}"
        checks(
            f"{where} screening-{TARGET_K} survives >= greedy",
            screen["steps"] >= greedy["steps"],
            f"{screen['steps']} vs {greedy['steps']} steps (ratio "
            f"{screen['steps'] / max(greedy['steps'], 1):.3f}, target >= 1)",
        )
        s_calls, g_calls = screen["simulate_calls"] or 0, greedy["simulate_calls"] or 0
        if not g_calls:
            print(f"  n/a  {where}: greedy never acted (max rho stayed below the threshold): "
                  "calls and decision times not compared")  # fmt: skip
            continue
        share = s_calls / g_calls if g_calls else math.inf
        per_s, per_g = screen["calls_per_acting_step"], greedy["calls_per_acting_step"]
        per = f"; per acting step {per_s:.1f} / {per_g:.1f} = {per_s / per_g:.1%}" if (
            per_s and per_g) else ""  # fmt: skip
        checks(
            f"{where} screening-{TARGET_K} calls <= 10 % of greedy's",
            share <= 0.10,
            f"{s_calls} / {g_calls} calls over the episode = {share:.1%}{per}",
        )
        s_t, g_t = screen["decision_s_per_acting_step"], greedy["decision_s_per_acting_step"]
        ratio = g_t / s_t if (s_t and g_t) else math.nan
        checks(
            f"{where} greedy / screening-{TARGET_K} decision time per acting step >= 5x",
            bool(ratio >= 5.0),
            f"{_num(g_t and 1e3 * g_t, '.1f')} ms / {_num(s_t and 1e3 * s_t, '.1f')} ms = "
            f"{ratio:.1f}x (wall, episodes played one after the other; recovery steps left "
            "out)",
        )
        if out is not None and (greedy.get("recovery_calls") or screen.get("recovery_calls")):
            g_d, s_d = _per_decision(out, greedy), _per_decision(out, screen)
            g_r = _episode_result(out, greedy).get("recovery_s_per_attempt")
            s_r = _episode_result(out, screen).get("recovery_s_per_attempt")
            print(
                f"       recovery decisions: greedy {_num(g_r and 1e3 * g_r, '.2f')} ms, "
                f"screening-{TARGET_K} {_num(s_r and 1e3 * s_r, '.2f')} ms per step where one "
                f"was simulated; every decision counted (acting and recovery steps): "
                f"{_num(g_d and 1e3 * g_d, '.1f')} / {_num(s_d and 1e3 * s_d, '.1f')} ms = "
                f"{(g_d / s_d) if (g_d and s_d) else math.nan:.1f}x"
            )


def _played(folder: Path) -> np.ndarray:
    """The action vectors of one Runner episode folder (rows after a game over are NaN)."""
    with np.load(folder / "actions.npz") as f:
        return np.asarray(f["data"], dtype=np.float64)


def parting(case: Case, model_dir: Path, out: Path, rows: list[dict]) -> None:
    """Where greedy's and screening-10's trajectories part, read from their episode folders.

    Prints the first step where they play different actions (names from the model's
    catalogue; a reconnection or another action is shown as such) and how many of the steps both
    played hold the same action.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from gridoracle.agent import load_catalogue
        from gridoracle.grid import make_env

        env = make_env(case.env)
    space = env.action_space
    catalogue = load_catalogue(model_dir, space)
    vectors = np.array([space(dict(a.grid2op)).to_vect() for a in catalogue], dtype=np.float64)
    names = [a.name for a in catalogue]
    nothing = np.asarray(space({}).to_vect(), dtype=np.float64)
    env.close()

    def name_of(vector: np.ndarray) -> str:
        hits = np.flatnonzero(np.all(np.isclose(vectors, vector, equal_nan=True), axis=1))
        if hits.size:
            return names[int(hits[0])]
        if np.allclose(vector, nothing, equal_nan=True):
            return "do nothing"
        return "another action (a reconnection)"

    for chronic in sorted({r["chronic"] for r in rows}):
        part = [r for r in rows if r["chronic"] == chronic]
        greedy = _agent_of(part, "greedy")
        screen = _agent_of(part, "screening", TARGET_K)
        if greedy is None or screen is None:
            continue
        folder = str(part[0].get("chronic_name"))
        g = _played(out / "episodes" / str(greedy["agent"]) / folder)
        sc = _played(out / "episodes" / str(screen["agent"]) / folder)
        n = min(greedy["steps"], screen["steps"], len(g), len(sc))
        same = np.all(np.isclose(g[:n], sc[:n], equal_nan=True), axis=1)
        differ = np.flatnonzero(~same)
        idle_g = np.all(np.isclose(g[:n], nothing, equal_nan=True), axis=1)
        idle_s = np.all(np.isclose(sc[:n], nothing, equal_nan=True), axis=1)
        acted = np.flatnonzero(~(idle_g & idle_s))
        print(f"  {case.env} chronic {chronic}: greedy and screening-{TARGET_K} play the same "
              f"action on {int(same[acted].sum())} of the {acted.size} steps where either does "
              f"not do nothing (first {n} steps)")  # fmt: skip
        if differ.size:
            t = int(differ[0])
            print(f"    they part at step {t}: greedy plays {name_of(g[t])}, screening-"
                  f"{TARGET_K} {name_of(sc[t])}")  # fmt: skip


def paired(
    case: Case,
    model_dir: Path,
    chronic: int,
    n_acting: int,
    max_steps: int,
    checks: Checks | None = None,
    tag: str = "",
) -> None:
    """Greedy and screening-10 deciding on the same observations, wall and CPU time.

    Greedy plays the chronic (seeded like ``env.reset(seed=0)``); on its first ``n_acting``
    acting steps screening-10 is also asked (its choice is not played). Times: ``perf_counter``
    (wall) and ``thread_time`` (CPU of this thread) around each ``act``; the time of one
    ``obs.simulate`` call measured on the same observations.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from gridoracle.agent import GreedyAgent, ScreeningAgent
        from gridoracle.grid import make_env

        env = make_env(case.env)
    greedy = GreedyAgent(env.action_space, model_dir)
    screen = ScreeningAgent(env.action_space, model_dir, k=TARGET_K)
    obs = env.reset(seed=0, options={"time serie id": chronic})
    greedy.reset(obs)
    screen.reset(obs)
    t: dict[str, list[float]] = {k: [] for k in ("gw", "gc", "sw", "sc", "pw", "pc", "sim")}
    calls = {"g": 0, "s": 0}
    agree = 0
    steps = 0
    while steps < max_steps and len(t["gw"]) < n_acting:
        n = greedy.acting_steps
        w, c = time.perf_counter(), time.thread_time()
        action = greedy.act(obs, 0.0)
        gw, gc = time.perf_counter() - w, time.thread_time() - c
        if greedy.acting_steps > n:
            t["gw"].append(gw)
            t["gc"].append(gc)
            calls["g"] += greedy.records[-1]["calls"]
            w, c = time.perf_counter(), time.thread_time()
            screen.act(obs, 0.0)
            t["sw"].append(time.perf_counter() - w)
            t["sc"].append(time.thread_time() - c)
            calls["s"] += screen.records[-1]["calls"]
            agree += screen.records[-1]["action"] == greedy.records[-1]["action"]
            w, c = time.perf_counter(), time.thread_time()
            screen.predict(obs)
            t["pw"].append(time.perf_counter() - w)
            t["pc"].append(time.thread_time() - c)
            w = time.thread_time()
            obs.simulate(env.action_space({}))
            t["sim"].append(time.thread_time() - w)
        obs, _r, done, _i = env.step(action)
        steps += 1
        if done:
            break
    env.close()
    n = len(t["gw"])
    if n == 0:
        print(f"  paired: greedy did not act in {steps} steps")
        return
    m = {k: 1e3 * float(np.mean(v)) for k, v in t.items()}
    g_calls, s_calls = calls["g"] / n, calls["s"] / n
    print(f"\n  paired, chronic {chronic}: {n} acting steps of greedy's episode (first {steps} "
          f"steps); same observations for both")  # fmt: skip
    print(f"  {'':<22}{'wall ms':>9}{'CPU ms':>9}{'calls':>7}")
    print(f"  {'greedy':<22}{m['gw']:>9.1f}{m['gc']:>9.1f}{g_calls:>7.1f}")
    print(f"  {f'screening-{TARGET_K}':<22}{m['sw']:>9.1f}{m['sc']:>9.1f}{s_calls:>7.1f}")
    print(f"  {'  of which predict':<22}{m['pw']:>9.3f}{m['pc']:>9.3f}")
    print(f"  {'one obs.simulate':<22}{'':>9}{m['sim']:>9.2f}{'':>7}   (do nothing, timed alone)")
    per_g = m["gc"] / g_calls if g_calls else math.nan
    rest = m["sc"] - s_calls * per_g
    print(
        f"  greedy: {g_calls:.1f} calls in {m['gc']:.1f} ms CPU = {per_g:.2f} ms a call; "
        f"screening-{TARGET_K}: {s_calls:.1f} calls x {per_g:.2f} ms = {s_calls * per_g:.1f} ms,"
        f" the rest {rest:.1f} ms CPU (its prediction {m['pc']:.2f} ms)"
    )
    print(f"  ratio greedy / screening-{TARGET_K}: {m['gw'] / m['sw']:.1f}x wall, "
          f"{m['gc'] / m['sc']:.1f}x CPU; same action played on {agree} of {n}")  # fmt: skip
    if checks is not None:
        checks(
            f"{tag} chronic {chronic} greedy / screening-{TARGET_K} decision time, same states",
            m["gc"] / m["sc"] >= 5.0,
            f"{m['gc']:.1f} / {m['sc']:.1f} ms CPU = {m['gc'] / m['sc']:.1f}x, wall "
            f"{m['gw'] / m['sw']:.1f}x, over {n} acting steps (target >= 5x)",
        )


def audit(case: Case, model_dir: Path, chronic: int, max_steps: int) -> None:
    """On the states screening-10 meets, is greedy's choice among the 10 it simulates?

    Screening-10 plays the chronic (``env.reset(seed=0)``, a hand loop); at each of its acting
    steps every legal catalogue action is also simulated (outside the agent, not counted), and
    the exhaustive best that strictly improves on do nothing is looked up in the model's ranking.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from gridoracle.agent import ScreeningAgent
        from gridoracle.grid import make_env

        env = make_env(case.env)
    agent = ScreeningAgent(env.action_space, model_dir, k=TARGET_K)
    obs = env.reset(seed=0, options={"time serie id": chronic})
    agent.reset(obs)
    ranks: list[int] = []
    regrets: list[float] = []
    acting = non_reference = 0
    steps = 0
    while steps < max_steps:
        steps += 1
        n = agent.acting_steps
        action = agent.act(obs, 0.0)
        if agent.acting_steps > n:
            acting += 1
            non_reference += bool(np.any(np.asarray(obs.topo_vect) > 1))
            rec = agent.records[-1]
            legal = agent.legal_candidates(obs)
            sim = {}
            for i in legal:
                s_obs, _r, done, info = obs.simulate(agent._grid2op_action(int(i)), time_step=1)
                bad = done or info.get("exception") or info.get("is_illegal")
                sim[int(i)] = math.inf if bad else float(np.max(s_obs.rho))
            dn = rec["donothing_rho"] if rec["donothing_rho"] is not None else math.inf
            best = min(sim, key=lambda i: (sim[i], i)) if sim else None
            if best is not None and sim[best] < dn:
                pred = np.nan_to_num(agent.predict(obs), nan=np.inf)
                order = sorted(sim, key=lambda i: (pred[i], i))
                ranks.append(order.index(best))
                played = rec["simulated_rho"] if rec["simulated_rho"] is not None else math.inf
                regrets.append(played - sim[best])
        obs, _r, done, _i = env.step(action)
        if done:
            break
    env.close()
    print(
        f"\n  audit, chronic {chronic}: screening-{TARGET_K}'s episode ends after {steps} "
        f"env.step calls (hand loop); it acts on {acting} ({non_reference} with some element "
        "on bus 2)"
    )
    if ranks:
        r = np.asarray(ranks)
        q = np.percentile(r, [25, 50, 75])
        inside = int((r < TARGET_K).sum())
        print(
            f"  on the {r.size} acting steps where some action improves on do nothing, the "
            f"exhaustive best is among the {TARGET_K} simulated on {inside} "
            f"({inside / r.size:.1%}); its rank among the legal actions in the model's "
            f"order (0 first): quartiles {q[0]:.0f} / {q[1]:.0f} / {q[2]:.0f}; mean regret "
            f"of the action played {np.mean(regrets):.4f}"
        )


def _meta_sha(model_dir: Path) -> str:
    import hashlib

    return hashlib.sha256((model_dir / "metadata.json").read_bytes()).hexdigest()[:16]


def _cached(path: Path, key: str, compute: Any) -> dict[str, Any]:
    """``compute()``'s record, kept in ``path`` under ``key`` (a rerun of the same key reads it)."""
    if path.exists():
        record: dict[str, Any] = json.loads(path.read_text())
        if record.get("key") == key:
            return record
    record = {"key": key, **compute()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
    return record


def greedy_states(
    case: Case, models: dict[str, Path], chronic: int, max_steps: int
) -> dict[str, Any]:
    """Greedy plays a training chronic; on each of its acting steps every candidate is scored.

    Greedy (``env.reset(seed=0)``, a hand loop of ``env.step``; its steps counted as in
    :func:`screening_steps`) simulates every legal catalogue action: those values are read from
    its own calls. Per candidate model, on each acting step: its screened-10 set (the 10 legal
    actions of lowest predicted max rho); regret = the best simulated max rho it would have
    found (do nothing and a reconnection included, as the agent simulates them) minus greedy's;
    on the steps where greedy's choice improves on do nothing: whether it is in the set.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from gridoracle.agent import GreedyAgent, ScreeningAgent
        from gridoracle.grid import make_env

        env = make_env(case.env)

    class Recording(GreedyAgent):  # type: ignore[misc]
        seen: list[float]

        def act(self, observation: Any, reward: float, done: bool = False) -> Any:
            self.seen = []
            return super().act(observation, reward, done)

        def _simulate(self, obs: Any, action: Any) -> float:
            value = float(super()._simulate(obs, action))
            self.seen.append(value)
            return value

    first = next(iter(models.values()))
    greedy = Recording(env.action_space, first)
    screens = {label: ScreeningAgent(env.action_space, m, k=TARGET_K) for label, m in
               models.items()}  # fmt: skip
    index = {name: i for i, name in enumerate(greedy.action_names)}
    obs = env.reset(seed=0, options={"time serie id": chronic})
    greedy.reset(obs)
    scores: dict[str, dict[str, list[float]]] = {m: {"regret": [], "hit": []} for m in models}
    acting = improving = 0
    steps = 0
    while steps < max_steps:
        steps += 1
        n = greedy.acting_steps
        action = greedy.act(obs, 0.0)
        if greedy.acting_steps > n:
            acting += 1
            chosen = [index[name] for name in greedy.last_candidates]
            values = np.asarray(greedy.seen[len(greedy.seen) - len(chosen) :], dtype=np.float64)
            base = min(greedy.seen[: len(greedy.seen) - len(chosen)])
            legal = np.asarray(chosen, dtype=np.intp)
            best = min(base, float(values.min())) if values.size else base
            gains = values.size and float(values.min()) < base
            improving += bool(gains)
            for label, screen in screens.items():
                pred = np.nan_to_num(screen.predict(obs)[legal], nan=np.inf)
                top = np.argsort(pred, kind="stable")[:TARGET_K]
                found = min(base, float(values[top].min())) if top.size else base
                if math.isfinite(best):
                    scores[label]["regret"].append(found - best if math.isfinite(found) else 1.0)
                if gains:
                    scores[label]["hit"].append(float(int(np.argmin(values)) in set(top)))
        obs, _r, done, _i = env.step(action)
        if done:
            break
    env.close()
    return {
        "greedy_steps": steps,
        "acting": acting,
        "improving": improving,
        "models": {
            label: {
                "regret": float(np.mean(v["regret"])) if v["regret"] else None,
                "recall": float(np.mean(v["hit"])) if v["hit"] else None,
                "regrets": v["regret"],
                "hits": v["hit"],
            }
            for label, v in scores.items()
        },
    }


def screening_steps(
    case: Case,
    model_dir: Path,
    chronic: int,
    max_steps: int,
    recover: float | None = None,
    kind: str = "screening",
) -> dict[str, Any]:
    """Screening-10's (or greedy's: ``kind``) episode length on a chronic: a hand loop from
    ``env.reset(seed=0)``, ``env.step`` calls counted (the game over's step included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from gridoracle.agent import GreedyAgent, ScreeningAgent
        from gridoracle.grid import make_env

        env = make_env(case.env)
    agent: Any
    if kind == "greedy":
        agent = GreedyAgent(env.action_space, model_dir, recover=recover)
    else:
        agent = ScreeningAgent(env.action_space, model_dir, k=TARGET_K, recover=recover)
    obs = env.reset(seed=0, options={"time serie id": chronic})
    agent.reset(obs)
    steps = 0
    while steps < max_steps:
        steps += 1
        obs, _r, done, _i = env.step(agent.act(obs, 0.0))
        if done:
            break
    env.close()
    return {"steps": steps, "acting": agent.acting_steps, "calls": agent.simulate_calls,
            "recovery_calls": agent.recovery_calls,
            "recovery_steps": agent.recovery_steps}  # fmt: skip


def _parse_recover(text: str) -> float | None:
    token = text.strip().lower()
    return None if token in ("none", "") else float(token)


def _recover_tag(recover: float | None) -> str:
    return "none" if recover is None else f"{recover:g}"


def choose_recover(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rule of ``--recover-candidates`` (the module docstring), on the training rows."""

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (
            not r["survives"],
            r["screen_calls"],
            -1.0 if r["recover"] is None else r["recover"],
        )

    return min(rows, key=key)


def select_recover(
    case: Case,
    root: Path,
    model_dir: Path,
    args: argparse.Namespace,
    previous: dict[str, float | None],
) -> tuple[float | None, str]:
    """R chosen among ``--recover-candidates`` on the training chronics; and how (``previous``:
    the R of the cases run before, the fallback of the rule's step 3)."""
    train = [int(c) for c in case.data_chronics.split(",") if c != case.test_chronics]
    steps = args.max_steps or case.max_steps
    sha = _meta_sha(model_dir)
    cands = [_parse_recover(c) for c in args.recover_candidates.split(",")]
    rows = []
    for recover in cands:
        tag = _recover_tag(recover)
        runs: dict[str, list[dict[str, Any]]] = {"greedy": [], "screening": []}
        for chronic in train:
            for kind in runs:
                tick = time.perf_counter()
                name = f"recover-{kind}-{tag}-c{chronic}-s{steps}.json"
                got = _cached(root / "select" / name, json.dumps({"v": 1, "model": sha}),
                              lambda c=chronic, k=kind, r=recover: screening_steps(
                                  case, model_dir, c, steps, r, k))  # fmt: skip
                runs[kind].append(got)
                print(f"    recover {tag}, chronic {chronic}, {kind}: {got['steps']} steps, "
                      f"{got['acting']} acting, {got['calls']} calls ({got['recovery_calls']} "
                      f"recovery), {got['recovery_steps']} recoveries played "
                      f"({time.perf_counter() - tick:.0f} s)")  # fmt: skip
        g, sc = runs["greedy"], runs["screening"]
        rows.append({
            "recover": recover, "greedy_steps": [x["steps"] for x in g],
            "screen_steps": [x["steps"] for x in sc],
            "survives": all(a["steps"] >= b["steps"] for a, b in zip(sc, g, strict=True)),
            "screen_calls": sum(x["calls"] for x in sc),
            "greedy_calls": sum(x["calls"] for x in g),
            "recovery_calls": sum(x["recovery_calls"] for x in sc + g),
            "screen_recoveries": sum(x["recovery_steps"] for x in sc),
        })  # fmt: skip
    best = choose_recover(rows)
    how = "the rule"
    if previous and not any(r["recovery_calls"] for r in rows):
        before, fallback = next(reversed(previous.items()))
        best = next((r for r in rows if r["recover"] == fallback), best)
        how = (f"no candidate simulated a recovery on the training chronics: the R chosen on "
               f"{before}")  # fmt: skip
    print(f"\n  --recover selection on training chronic(s) {','.join(map(str, train))}")
    print(f"  {'R':<6}{'greedy steps':>14}{'screening-10 steps':>20}{'screening-10 calls':>20}"
          f"{'(recoveries played)':>21}{'greedy calls':>14}")  # fmt: skip
    for r in rows:
        mark = "  <- chosen" if r is best else ""
        print(f"  {_recover_tag(r['recover']):<6}{', '.join(map(str, r['greedy_steps'])):>14}"
              f"{', '.join(map(str, r['screen_steps'])):>20}{r['screen_calls']:>20}"
              f"{r['screen_recoveries']:>21}{r['greedy_calls']:>14}"
              f"{' (>= greedy)' if r['survives'] else ''}{mark}")  # fmt: skip
    print(f"  chosen R = {_recover_tag(best['recover'])} ({how})")
    return best["recover"], how


def choose(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The selection rule (see the module docstring), on the training chronics' rows."""

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        regret = r["regret"] if r["regret"] is not None else math.inf
        recall = r["recall"] if r["recall"] is not None else -math.inf
        return (not r["survives"], regret, -recall, r["order"])

    return min(rows, key=key)


def select(
    case: Case, root: Path, actions: Path | None, args: argparse.Namespace
) -> tuple[Candidate, Path]:
    """Score every ``--candidates`` on the training chronics; the chosen one and its model.

    The table: ``regret@10`` (the rule's; a step where the set and do nothing find no finite
    max rho while greedy does is charged 1.0), ``finite`` (the mean over the other steps),
    ``none`` (the count of those steps), ``recall@10``, screening-10's episode lengths.
    """
    train = [int(c) for c in case.data_chronics.split(",") if c != case.test_chronics]
    steps = args.max_steps or case.max_steps
    cands = [Candidate.parse(c) for c in args.candidates.split(",") if c.strip()]
    models: dict[str, Path] = {}
    cat = "" if actions is None else "distinct-"
    for cand in cands:
        data = dataset(case, root / f"data-{cat}{cand.source.tag}", cand.source, args.workers,
                       actions)  # fmt: skip
        folder = root / f"model-{cat}{cand.source.tag}-{cand.model or 'default'}"
        models[cand.label] = model(case, data, folder, cand.model)
    shas = {label: _meta_sha(m) for label, m in models.items()}
    per: dict[str, dict[str, Any]] = {c.label: {"regret": [], "recall": [], "steps": []}
                                      for c in cands}  # fmt: skip
    greedy_len: dict[int, int] = {}
    g_all: dict[int, dict[str, Any]] = {}
    for chronic in train:
        tick = time.perf_counter()
        g = _cached(root / "select" / f"greedy-c{chronic}-s{steps}.json",
                    json.dumps({"v": 2, **shas}, sort_keys=True),
                    lambda c=chronic: greedy_states(case, models, c, steps))  # fmt: skip
        greedy_len[chronic] = g["greedy_steps"]
        g_all[chronic] = g
        print(f"  select, chronic {chronic}: greedy survives {g['greedy_steps']} steps, acts on "
              f"{g['acting']} ({g['improving']} where some action improves on do nothing); "
              f"{time.perf_counter() - tick:.0f} s")  # fmt: skip
        for label, m in models.items():
            per[label]["regret"].append((g["models"][label]["regret"], g["acting"]))
            per[label]["recall"].append((g["models"][label]["recall"], g["improving"]))
            tick = time.perf_counter()
            sc = _cached(root / "select" / f"screen-{label.replace(':', '-')}-c{chronic}-s{steps}"
                         ".json", shas[label],
                         lambda m=m, c=chronic: screening_steps(case, m, c, steps))  # fmt: skip
            per[label]["steps"].append(sc["steps"])
            print(f"    screening-{TARGET_K} {label}: {sc['steps']} steps "
                  f"({time.perf_counter() - tick:.0f} s)")  # fmt: skip

    def finite(label: str) -> tuple[float | None, int]:
        """Mean regret over the steps where the candidate's set finds a finite max rho, and
        the count of the others (charged 1.0 in ``regret``)."""
        values = [v for c in train for v in g_all[c]["models"][label]["regrets"]]
        kept = [v for v in values if v != 1.0]
        return (float(np.mean(kept)) if kept else None), len(values) - len(kept)

    def pooled(pairs: list[tuple[float | None, int]]) -> float | None:
        got = [(v, n) for v, n in pairs if v is not None and n]
        total = sum(n for _, n in got)
        return sum(v * n for v, n in got) / total if total else None

    rows = []
    for order, cand in enumerate(cands):
        p = per[cand.label]
        rows.append({
            "label": cand.label, "order": order, "regret": pooled(p["regret"]),
            "recall": pooled(p["recall"]), "steps": p["steps"],
            "survives": all(s >= greedy_len[c] for s, c in zip(p["steps"], train, strict=True)),
        })  # fmt: skip
    best = choose(rows)
    print(f"\n  selection on training chronic(s) {','.join(map(str, train))} (greedy: "
          f"{', '.join(str(greedy_len[c]) for c in train)} steps)")  # fmt: skip
    print(f"  {'candidate':<28}{'regret@10':>10}{'finite':>9}{'none':>6}{'recall@10':>10}"
          "  screening-10 steps")  # fmt: skip
    for r in rows:
        mark = "  <- chosen" if r is best else ""
        kept, fails = finite(r["label"])
        print(f"  {r['label']:<28}{_num(r['regret'], '.4f'):>10}{_num(kept, '.4f'):>9}"
              f"{fails:>6}{_num(r['recall'], '.1%'):>10}"
              f"  {', '.join(map(str, r['steps']))}{' (>= greedy)' if r['survives'] else ''}"
              f"{mark}")  # fmt: skip
    chosen = cands[best["order"]]
    return chosen, models[chosen.label]


def run_case(
    name: str, args: argparse.Namespace, checks: Checks, chosen: dict[str, float | None]
) -> None:
    """One case: the model (selected or given), R (selected or given), the evaluation, the
    targets; ``chosen`` collects each case's R (the next case's fallback)."""
    case = CASES[name]
    root = args.work / name
    actions = catalogue_file(case, root, args)
    n_cat = f"{case.n_actions} sampled topologies" if actions is None else (
        f"every distinct unitary topology ({len(json.loads(actions.read_text())['actions'])} "
        "actions, do nothing included)")  # fmt: skip
    print(
        f"\n== {name}: {case.env}, {n_cat}, chronics "
        f"{case.data_chronics}, train without {case.test_chronics}, play {case.test_chronics}"
    )
    cat = "" if actions is None else "distinct-"
    if args.select:
        cand, model_dir = select(case, root, actions, args)
        label = f"{cand.source.tag}-{cand.model or 'default'}"
    else:
        source = Source(args.states, args.topologies, args.outages, args.variant_pool)
        data = dataset(case, root / f"data-{cat}{source.tag}", source, args.workers, actions)
        label = f"{source.tag}-{args.model or 'default'}"
        model_dir = model(case, data, root / f"model-{cat}{label}", args.model)
    meta = json.loads((model_dir / "metadata.json").read_text())
    print(f"  model {model_dir.name}: {meta.get('model')} ({len(meta['actions'])} actions)")
    steps = f"-steps{args.max_steps}" if args.max_steps else ""
    recover = args.recover
    if args.recover_candidates:
        recover, _how = select_recover(case, root, model_dir, args, chosen)
    chosen[name] = recover
    rtag = "" if recover is None else f"-recover{_recover_tag(recover)}"
    out = root / f"agents-{cat}{label}{steps}{rtag}"
    if recover is not None:
        print(f"  agents play with --recover {_recover_tag(recover)}")
    rows = evaluate(case, model_dir, out, args, recover)
    print_table(rows, out)
    print()
    check_targets(name, rows, checks, out)
    parting(case, model_dir, out, rows)
    if args.audit:
        for chronic in sorted({int(r["chronic"]) for r in rows}):
            audit(case, model_dir, chronic, args.max_steps or case.max_steps)
    if args.paired:
        for chronic in sorted({int(r["chronic"]) for r in rows}):
            paired(
                case, model_dir, chronic, args.paired, args.max_steps or case.max_steps,
                checks, name,
            )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gridoracle-bench-agent"),
                        help="data, models and agents' outputs, reused by a rerun")  # fmt: skip
    parser.add_argument("--cases", default="case14,sandbox")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="steps per episode at most (default: the whole chronic)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--catalogue", choices=("sampled", "distinct"), default="sampled",
                        help="sampled: --actions 100 --seed 0; distinct: every distinct unitary "
                        "topology (gridoracle actions --kind topology --distinct)")  # fmt: skip
    parser.add_argument("--select", action="store_true",
                        help="choose data and model among --candidates on the training "
                        "chronics (the module docstring's rule), then evaluate it")  # fmt: skip
    parser.add_argument("--candidates", default=",".join(CANDIDATES),
                        help="STATES[-tN][-oN][-pN]:MODEL,... for --select")  # fmt: skip
    parser.add_argument("--states", default="chronic", help="generate --states")
    parser.add_argument("--topologies", type=int, default=0, help="generate --topologies")
    parser.add_argument("--outages", type=int, default=0, help="generate --outages")
    parser.add_argument("--variant-pool", type=int, default=VARIANT_POOL,
                        help="generate --variant-pool")  # fmt: skip
    parser.add_argument("--model", default=None, help="train --model (default: train's)")
    parser.add_argument("--recover", type=_parse_recover, default=None,
                        help="agents evaluate --recover R (none: never)")  # fmt: skip
    parser.add_argument("--recover-candidates", default=None,
                        help="choose R among these (none,0.7,0.8,0.9) on the training "
                        "chronics, by the module docstring's rule")  # fmt: skip
    parser.add_argument("--paired", type=int, default=30,
                        help="acting steps of the paired timing (0: skip)")  # fmt: skip
    parser.add_argument(
        "--audit",
        action="store_true",
        help="also replay screening-10 and simulate the whole catalogue on its acting steps "
        "(slow): is greedy's choice among its candidates?",
    )
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}: choose among {sorted(CASES)}")
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    checks = Checks()
    chosen: dict[str, float | None] = {}
    for name in cases:
        run_case(name, args, checks, chosen)
    missed = [what for what, ok in checks.rows if not ok]
    print(f"\n{len(checks.rows) - len(missed)} of {len(checks.rows)} targets met")
    for what in missed:
        print(f"  missed: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
