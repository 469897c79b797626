"""Does the default model choose well? Issue 13's decision targets, measured end to end.

Run on demand (minutes; datasets are generated once under --root and reused)::

    .venv/bin/python benchmarks/bench_decision.py [--only case14,topo,pool,sandbox,case118]

Scenarios (every dataset from ``--states chronic``: every step of the chronics, do-nothing
topology, full targets), each scored by :func:`gridoracle.models.evaluate` on held-out states,
for the model ``gridoracle train`` fits without ``--model``, beside the per-action mean and do
nothing:

``case14``
    rte_case14_realistic, 100 unitary topologies sampled (do nothing included; generate leaves
    out those that change nothing or repeat another: 88 remain), train on chronic 0 (all 8,064
    steps) and test on chronic 1, then the reverse. Targets: mean regret <= 0.002 and
    top-5 recall >= 0.99 on all and on dangerous states (do-nothing max rho > 0.9); regret after
    screening the top 5 by exact simulation <= 0.0005.
``topo``
    The same with ``--topologies 2 --outages 1`` (each state also in 2 other topologies and with
    one line out): on the held-out chronic's non-reference states, top-10 recall >= 0.95 and
    regret <= 0.005. The default model, ``topology_flows`` (the DC flows of each state's
    topology after each action as inputs) and ``flow_boost`` (one boosted model over every pair
    on the same physics) are cross-validated on the training chronic (2 blocks of steps, the
    other topologies dealt out to the folds: ``group_by="topology"``; ``--no-cv`` skips it),
    then each is trained with its family's best CV row, scored and timed. Measured (2 cores):
    CV picks ``flow_boost`` (every line) on both chronics; held out, on non-reference states,
    regret 0.026 / 0.015 and top-10 recall 0.924 / 0.948 (``topology_flows`` 0.054 / 0.047 and
    0.941 / 0.852), 4.6 ms a state: missed.
``pool``
    The same held-out states, for ``flow_boost`` trained on states of more topologies:
    ``generate --variant-pool`` 32 (the default, the ``topo`` dataset), 256 or 2048 topology
    combinations drawn per chronic (the candidates, fixed before any was scored). The pool is
    chosen on the training chronic only, on the folds of ``topo``'s cross-validation
    (``select_model(..., fit_data=)``): each fold's states of the ``topo`` dataset are predicted
    by a model fitted on the pool's dataset, on the fold's training steps and in none of the
    fold's own topologies. The chosen pool's model is then trained on the whole training
    chronic and scored on the test chronic's states of the ``topo`` dataset, also split by
    whether their topology is among the training ones (a larger pool covers more of the
    topologies an agent reaches). Measured (2 cores): CV regret 0.0138 / 0.0119 / 0.0118 on
    chronic 0 and 0.0152 / 0.0096 / 0.0089 on chronic 1 for pools 32 / 256 / 2048: 2048 on
    both; held out, non-reference regret 0.021 / 0.013, top-10 recall 0.947 / 0.956: the
    recall target met from chronic 1 only, the regret target missed.
``sandbox``
    l2rpn_case14_sandbox, 100 actions, train on chronics 0-1, test on 2: the table, printed.
``case118``
    rte_case118_example: a first dataset of ``--actions-118`` sampled actions on the first 6,048
    steps only (max targets) is reduced to 200 actions by ``actions reduce``; the 200 are
    generated with full targets on all steps; train on the first 6,048, test on the last 2,014.

Latency: predicting every action of one state (a batch of one, median over 200 test states)
against the targets (< 30 µs on case14, < 150 µs on 118 buses) and against one AC power flow of
lightsim2grid measured in the same run (flat start, Newton-Raphson).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from gridoracle.dataset import load
from gridoracle.dataset.sources import VARIANT_POOL
from gridoracle.models import evaluate, train
from gridoracle.models.metrics import decision_metrics, state_subsets
from gridoracle.models.selection import select_model, topology_keys
from gridoracle.models.train import DEFAULT_MODEL
from gridoracle.models.zoo import default_params
from gridoracle.pipelines.generate import GenerateRequest, generate
from gridoracle.pipelines.reduce import ReduceRequest, reduce_catalogue

ROWS = (
    ("states", "states", ",.0f"),
    ("mean regret", "mean_regret", ".5f"),
    ("top-1", "top1_accuracy", ".3f"),
    ("top-5 recall", "top5_recall", ".4f"),
    ("top-10 recall", "top10_recall", ".4f"),
    ("top-20 recall", "top20_recall", ".4f"),
    ("regret, screen 5", "screened5_regret", ".6f"),
    ("regret, screen 10", "screened10_regret", ".6f"),
)
SUBSETS = (("all", None), ("dangerous", "dangerous"), ("non-reference", "non_reference"))


def _gen(root: Path, workers: int, **kw: Any) -> Any:
    t = time.perf_counter()
    report = generate(
        GenerateRequest(out=root, states="chronic", targets=kw.pop("targets", "full"), **kw),
        backend=_backend(workers),
    )
    print(f"  dataset {report.path.name} ({time.perf_counter() - t:.0f} s)", flush=True)
    return load(report.path)


def _backend(workers: int) -> Any:
    from gridoracle.parallel import Backend

    return Backend.from_options(workers=workers)


def _section(entry: dict[str, Any], subset: str | None) -> dict[str, Any]:
    if subset is None:
        return entry["decision"]
    return (entry.get("subsets") or {}).get(subset) or {}


def _fmt(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return format(value, fmt)


def print_table(title: str, record: dict[str, Any]) -> None:
    """The decision metrics of the model and both baselines on every subset."""
    results = record["results"]
    names = [n for n in ("model", "mean", "donothing") if results.get(n) is not None]
    label = {"model": record["model"], "mean": "mean", "donothing": "donothing"}
    print(f"\n{title}")
    head = f"  {'':<14}{'metric':<20}" + "".join(f"{label[n]:>14}" for n in names)
    print(head)
    for subset_label, subset in SUBSETS:
        if subset is not None and subset not in (results["model"].get("subsets") or {}):
            continue
        for row_label, key, fmt in ROWS:
            cells = "".join(
                f"{_fmt(_section(results[n], subset).get(key), fmt):>14}" for n in names
            )
            print(f"  {subset_label:<14}{row_label:<20}{cells}")
            subset_label = ""


def latency_us(predictor: Any, X: np.ndarray, n: int = 200) -> float:
    """Median wall time of predicting every action of one state (a batch of one)."""
    est = predictor.estimator
    rows = [X[i : i + 1].copy() for i in range(min(n, len(X)))]
    for r in rows[:20]:
        est.predict(r)
    times = []
    for r in rows:
        t = time.perf_counter()
        est.predict(r)
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e6


def power_flow_us(env_name: str, n: int = 200) -> float:
    """One AC power flow of lightsim2grid's grid model (flat start), median of ``n``."""
    from gridoracle.grid import make_env

    env = make_env(env_name)
    try:
        env.reset()
        grid = env.backend._grid.copy()
        flat = np.full(len(np.asarray(env.backend.V)), 1.04, dtype=complex)
        times = []
        for _ in range(n):
            t = time.perf_counter()
            grid.ac_pf(flat, 10, 1e-8)
            times.append(time.perf_counter() - t)
    finally:
        env.close()
    return float(np.median(times)) * 1e6


class Checks:
    """Target checks, printed as they are made and summed up at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, bool]] = []

    def __call__(self, what: str, value: float, bound: float, at_most: bool) -> None:
        ok = bool(value <= bound) if at_most else bool(value >= bound)
        sign = "<=" if at_most else ">="
        self.rows.append((f"{what}: {value:.6g} (target {sign} {bound:g})", ok))
        print(f"  {'PASS' if ok else 'FAIL'} {what}: {value:.6g} (target {sign} {bound:g})")


def _train_eval(ds: Any, params: dict[str, Any] | None = None, **split: Any) -> tuple[Any, dict]:
    t = time.perf_counter()
    result = train(ds, DEFAULT_MODEL if params else None, params=params, **split)
    assert result.name == DEFAULT_MODEL, result.name
    fit = time.perf_counter() - t
    record = evaluate(result.model, ds, test_chronics=split.get("test_chronics"))
    print(f"  trained {result.name} on {result.train_rows:,} states in {fit:.1f} s")
    return result, record


def case14(root: Path, workers: int, checks: Checks, pf_us: float) -> None:
    print("\n== rte_case14_realistic, 100 actions, chronic states, train 0 / test 1 and reverse")
    ds = _gen(root, workers, env="rte_case14_realistic", chronics="0,1", max_steps=8064,
              n_actions=100)  # fmt: skip
    for train_c, test_c in ((0, 1), (1, 0)):
        result, record = _train_eval(ds, test_chronics=[test_c])
        print_table(f"train chronic {train_c}, test chronic {test_c}", record)
        dec = record["results"]["model"]["decision"]
        dang = record["results"]["model"]["subsets"]["dangerous"]
        tag = f"case14 test {test_c}"
        checks(f"{tag} mean regret", dec["mean_regret"], 0.002, True)
        checks(f"{tag} top-5 recall", dec["top5_recall"], 0.99, False)
        checks(f"{tag} dangerous mean regret", dang["mean_regret"], 0.002, True)
        checks(f"{tag} dangerous top-5 recall", dang["top5_recall"], 0.99, False)
        checks(f"{tag} regret after screening 5", dec["screened5_regret"], 0.0005, True)
        X = result.test.X[result.model.feature_names].to_numpy(dtype=np.float64)
        us = latency_us(result.model, X)
        print(f"  predict one state: {us:.1f} µs = {us / pf_us:.2f} x one AC power flow "
              f"({pf_us:.1f} µs)")  # fmt: skip
        checks(f"{tag} predict µs per state (batch of 1)", us, 30.0, True)


TOPOLOGY_MODEL = "topology_flows"
BOOST_MODEL = "flow_boost"


def topo(root: Path, workers: int, checks: Checks, pf_us: float, cv: bool = True) -> None:
    print("\n== rte_case14_realistic, --topologies 2 --outages 1, train 0 / test 1 and reverse")
    ds = _gen(root, workers, env="rte_case14_realistic", chronics="0,1", max_steps=8064,
              n_actions=100, topologies=2, outages=1)  # fmt: skip
    base = default_params(TOPOLOGY_MODEL)
    candidates: dict[str, tuple[str, dict[str, Any]]] = {
        f"{DEFAULT_MODEL} (default)": (DEFAULT_MODEL, default_params(DEFAULT_MODEL))
    }
    for alpha in (1.0, 100.0):
        for inter in (False, True):
            candidates[f"{TOPOLOGY_MODEL} alpha={alpha:g} interactions={inter}"] = (
                TOPOLOGY_MODEL,
                {**base, "alpha": alpha, "interactions": inter},
            )
    boost = default_params(BOOST_MODEL)
    for top in (None, 6):
        candidates[f"{BOOST_MODEL} top_lines={top}"] = (BOOST_MODEL, {**boost, "top_lines": top})
    for train_c, test_c in ((0, 1), (1, 0)):
        chosen_params: dict[str, dict[str, Any]] = {}
        if cv:
            # the formulation, the topology model's penalty and interactions, chosen by
            # cross-validation on the training chronic only: 2 blocks of steps (12 steps left
            # out around each), each block's states in half of the other topologies (their
            # states left out of the fold's training: unseen, as most are on another chronic)
            best, table = select_model(
                ds, candidates, test_chronics=[test_c], n_folds=2, group_by="topology"
            )
            print(f"  cross-validation on chronic {train_c} only:")
            print(table.round(5).to_string())
            print(f"  chosen by CV: {best}")
            # each model family is trained with the parameters its own best CV row had
            for label in table.index:
                family = candidates[str(label)][0]
                if family != DEFAULT_MODEL and family not in chosen_params:
                    chosen_params[family] = dict(candidates[str(label)][1])
        for name in (DEFAULT_MODEL, TOPOLOGY_MODEL, BOOST_MODEL):
            t = time.perf_counter()
            chosen = chosen_params.get(name) if name != DEFAULT_MODEL else None
            result = train(ds, name, test_chronics=[test_c], params=chosen)
            fit = time.perf_counter() - t
            record = evaluate(result.model, ds, test_chronics=[test_c])
            print(f"  trained {name} on {result.train_rows:,} states in {fit:.1f} s")
            label = f"{name} {chosen}" if chosen else name
            print_table(f"{label}: train chronic {train_c}, test chronic {test_c}", record)
            X = result.test.X[result.model.feature_names].to_numpy(dtype=np.float64)
            us = latency_us(result.model, X)
            print(f"  {name} predict one state: {us:.1f} µs = {us / pf_us:.2f} x one AC power "
                  f"flow ({pf_us:.1f} µs)")  # fmt: skip
            other = record["results"]["model"]["subsets"]["non_reference"]
            tag = f"topo test {test_c} non-reference {name}"
            checks(f"{tag} top-10 recall", other["top10_recall"], 0.95, False)
            checks(f"{tag} mean regret", other["mean_regret"], 0.005, True)


POOLS = (VARIANT_POOL, 256, 2048)
"""The ``generate --variant-pool`` values the ``pool`` scenario chooses from (fixed beforehand)."""


def _seen_split(result: Any, ds: Any, test_c: int) -> None:
    """The held-out non-reference states split by whether their topology (``base_actions`` and
    ``line_out``) is among the training states' ones: a larger pool covers more of those an
    agent reaches, besides learning more of the physics."""
    test = ds.select(ds.meta["chronic"].to_numpy() == test_c)
    trained = set(topology_keys(result.train))
    keys = topology_keys(test)
    other = state_subsets(test.X, test.Y, test.meta)["non_reference"]
    seen = other & np.isin(keys, sorted(trained))
    pred = result.model.predict(test.X[result.model.feature_names]).to_numpy(dtype=np.float64)
    n_seen, n_all = len(set(keys[seen])), len(set(keys[other]))
    print(f"  non-reference test topologies among the training ones: {n_seen} of {n_all}")
    for label, mask in (("seen in training", seen), ("unseen", other & ~seen)):
        if mask.any():
            dec = decision_metrics(test.Y[mask], pred[mask])
            print(f"    {label:<17} {int(mask.sum()):>6,} states: mean regret "
                  f"{dec['mean_regret']:.5f}, top-10 recall {dec['top10_recall']:.4f}")  # fmt: skip


def pool(root: Path, workers: int, checks: Checks, pf_us: float) -> None:
    print("\n== rte_case14_realistic, flow_boost trained on more topologies (--variant-pool)")
    common = dict(env="rte_case14_realistic", chronics="0,1", max_steps=8064, n_actions=100,
                  topologies=2, outages=1)  # fmt: skip
    ds = _gen(root, workers, **common)
    wide = {VARIANT_POOL: ds}
    for n in POOLS[1:]:
        wide[n] = _gen(root, workers, targets="max", variant_pool=n, **common)
    params = default_params(BOOST_MODEL)
    for train_c, test_c in ((0, 1), (1, 0)):
        # the same folds as topo's cross-validation; pool n's models fitted on its dataset's
        # rows of each fold's training steps, none of the fold's own topologies (for the
        # default pool, its dataset is ds itself: the plain folds)
        rows = {}
        for n, data in wide.items():
            t = time.perf_counter()
            _best, table = select_model(
                ds,
                {f"pool {n}": (BOOST_MODEL, params)},
                test_chronics=[test_c],
                n_folds=2,
                group_by="topology",
                fit_data=data,
            )
            rows[n] = table.iloc[0]
            print(f"  CV on chronic {train_c}, pool {n}: mean regret {rows[n]['mean_regret']:.5f}, "
                  f"non-reference {rows[n]['non_reference_mean_regret']:.5f} (top-10 "
                  f"{rows[n]['non_reference_top10_recall']:.4f}) ({time.perf_counter() - t:.0f} s)",
                  flush=True)  # fmt: skip
        chosen = min(rows, key=lambda n: (rows[n]["mean_regret"], n))
        print(f"  chosen by CV on chronic {train_c}: --variant-pool {chosen}")
        data = wide[chosen]
        t = time.perf_counter()
        result = train(data, BOOST_MODEL, test_chronics=[test_c], params=params)
        print(f"  trained {BOOST_MODEL} on {result.train_rows:,} states of "
              f"{len(set(topology_keys(result.train)))} topologies in "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        record = evaluate(result.model, ds, test_chronics=[test_c])
        print_table(f"{BOOST_MODEL}, pool {chosen}: train chronic {train_c}, test chronic {test_c}",
                    record)  # fmt: skip
        X = ds.select(ds.meta["chronic"].to_numpy() == test_c).X[result.model.feature_names]
        us = latency_us(result.model, X.to_numpy(dtype=np.float64))
        print(f"  {BOOST_MODEL} predict one state: {us:.1f} µs = {us / pf_us:.2f} x one AC power "
              f"flow ({pf_us:.1f} µs)")  # fmt: skip
        _seen_split(result, ds, test_c)
        other = record["results"]["model"]["subsets"]["non_reference"]
        tag = f"pool test {test_c} non-reference {BOOST_MODEL}"
        checks(f"{tag} top-10 recall", other["top10_recall"], 0.95, False)
        checks(f"{tag} mean regret", other["mean_regret"], 0.005, True)


def sandbox(root: Path, workers: int) -> None:
    print("\n== l2rpn_case14_sandbox, 100 actions, chronic states, train 0-1 / test 2")
    ds = _gen(root, workers, env="l2rpn_case14_sandbox", chronics="0,1,2", max_steps=8064,
              n_actions=100)  # fmt: skip
    _result, record = _train_eval(ds, test_chronics=[2])
    print_table("train chronics 0-1, test chronic 2", record)
    # the topology model, its quadratic products and interactions chosen by cross-validation on
    # chronics 0-1 only (one fold per chronic)
    base = default_params(TOPOLOGY_MODEL)
    candidates = {
        f"{TOPOLOGY_MODEL} quadratic={q} interactions={i}": (
            TOPOLOGY_MODEL,
            {**base, "quadratic": q, "interactions": i},
        )
        for q in (base["quadratic"], 0)
        for i in (False, True)
    }
    candidates[f"{DEFAULT_MODEL} (default)"] = (DEFAULT_MODEL, default_params(DEFAULT_MODEL))
    best, table = select_model(ds, candidates, test_chronics=[2])
    print(table.round(5).to_string())
    print(f"  chosen by CV: {best}")
    name, params = candidates[best]
    if name == TOPOLOGY_MODEL:
        result = train(ds, name, test_chronics=[2], params=dict(params))
        record = evaluate(result.model, ds, test_chronics=[2])
        print_table(f"{best}: train chronics 0-1, test chronic 2", record)
        X = result.test.X[result.model.feature_names].to_numpy(dtype=np.float64)
        print(f"  {best} predict one state: {latency_us(result.model, X):.1f} µs")


def case118(root: Path, workers: int, checks: Checks, n_actions: int, pf_us: float) -> None:
    print(f"\n== rte_case118_example: {n_actions} actions on steps 0-6047 → actions reduce 200")
    wide = _gen(root, workers, env="rte_case118_example", chronics="0", max_steps=6048,
                n_actions=n_actions, targets="max")  # fmt: skip
    catalogue = root / f"rte_case118_example-reduced200-of{n_actions}.json"
    red = reduce_catalogue(ReduceRequest(wide, catalogue, keep=200, margin=0.01)).reduction
    print(f"  reduced to {len(red.kept)}: within 0.01 of the best in {red.covered:.2%} of the "
          f"training states, mean regret of the best kept {red.mean_regret:.5f}")  # fmt: skip
    del wide
    ds = _gen(root, workers, env="rte_case118_example", chronics="0", max_steps=8062,
              actions_file=catalogue, n_actions=None)  # fmt: skip
    n_test = len(ds) - 6048
    split = {"split_by": "time", "test_fraction": n_test / len(ds), "gap": 0}
    # 186 lines per action: only the lines that came near the max (line_margin, relative), or
    # fewer inputs per line (components), chosen by cross-validation on the training steps
    # only (2 blocks of steps, 12 steps left out around each); the candidates go from the
    # smallest model to the largest, so that a tie keeps the smaller one
    base = default_params(DEFAULT_MODEL)
    candidates = {
        "line_margin=0.3": ("line_flows", {**base, "line_margin": 0.3}),
        "line_margin=0.5 (default)": ("line_flows", base),
        "components=50": ("line_flows", {**base, "components": 50}),
        "every line": ("line_flows", {**base, "line_margin": None}),
    }
    best, table = select_model(ds, candidates, n_folds=2, **split)
    print(table.round(6).to_string())
    params = candidates[best][1]
    print(f"  chosen by CV: {best}")
    result, record = _train_eval(ds, params=params, **split)
    print_table(f"train steps 0-6047, test the last {n_test}", record)
    X = result.test.X[result.model.feature_names].to_numpy(dtype=np.float64)
    us = latency_us(result.model, X)
    print(f"  predict one state: {us:.1f} µs = {us / pf_us:.2f} x one AC power flow "
          f"({pf_us:.1f} µs)")  # fmt: skip
    checks("case118 predict µs per state (batch of 1)", us, 150.0, True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/gridoracle-bench-decision"))
    parser.add_argument("--only", default="case14,topo,pool,sandbox,case118")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--actions-118", type=int, default=600)
    parser.add_argument(
        "--no-cv",
        action="store_true",
        help="topo: skip the cross-validation on the training chronic",
    )
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    checks = Checks()
    if "case14" in only:
        case14(args.root, args.workers, checks, power_flow_us("rte_case14_realistic"))
    if "topo" in only:
        topo(args.root, args.workers, checks, power_flow_us("rte_case14_realistic"), not args.no_cv)
    if "pool" in only:
        pool(args.root, args.workers, checks, power_flow_us("rte_case14_realistic"))
    if "sandbox" in only:
        sandbox(args.root, args.workers)
    if "case118" in only:
        pf = power_flow_us("rte_case118_example")
        case118(args.root, args.workers, checks, args.actions_118, pf)
    failed = [what for what, ok in checks.rows if not ok]
    print(f"\n{len(checks.rows) - len(failed)} of {len(checks.rows)} targets met")
    for what in failed:
        print(f"  missed: {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
