"""Write a sensible unitary action file (Oracle4Grid's reference format) for a big grid.

How the files in ``examples/actions/l2rpn_neurips_2020_track1/`` and
``examples/actions/l2rpn_wcci_2022_dev/`` were made::

    for env in l2rpn_neurips_2020_track1 l2rpn_wcci_2022_dev; do
        python examples/make_actions.py --env $env --out examples/actions/$env/reference.json
    done

A screening, not an optimisation: the Oracle itself then finds what to play when. Candidates are
every unitary topology of the ``--busiest`` substations (most elements) and the disconnection of
every line. Each is held over the Oracle's episode (chronic ``--chronic``, ``--steps`` steps of a
reconnect-only run, overflow disconnection off: what the Oracle's reward table simulates) by the
batched engine, on ``--states`` evenly spread steps. Kept: actions whose power flow converges and
does not island the grid in every screened state, and that lower the mean of the highest line
loading (max rho) against doing nothing; then the ``--per-substation`` best of each substation and
the ``--topologies`` best overall, plus the ``--lines`` best line disconnections. Same options, same
file.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

from gridoracle.actions.enumerate import line_actions, topology_actions
from gridoracle.actions.model import GridLayout
from gridoracle.engine.base import STATUS_OK
from gridoracle.engine.batched import BatchedEngine
from gridoracle.engine.states import states_from_observations
from gridoracle.oracle.sim.env import make_oracle_env
from gridoracle.oracle.sim.rewards import base_run

# reference format key of each grid2op set_bus key (a line is named by its id at either end)
_REFERENCE_KEY = {
    "lines_or_id": "lines_id_bus",
    "lines_ex_id": "lines_id_bus",
    "loads_id": "loads_id_bus",
    "generators_id": "gens_id_bus",
    "storages_id": "storages_id_bus",
}


def reference_entry(set_bus: dict[str, list[list[int]]]) -> dict[str, list[list[int]]]:
    """The reference-format dict of one substation's ``set_bus`` (every element listed)."""
    out: dict[str, list[list[int]]] = {}
    for key, pairs in set_bus.items():
        out.setdefault(_REFERENCE_KEY[key], []).extend([int(e), int(b)] for e, b in pairs)
    return {
        k: sorted(out[k])
        for k in ("lines_id_bus", "loads_id_bus", "gens_id_bus", "storages_id_bus")
        if k in out
    }


def screen(args: argparse.Namespace) -> dict[str, object]:
    env = make_oracle_env(args.env)
    engine = BatchedEngine(env)  # right after make, as the Oracle builds it
    layout = GridLayout.of(env)
    observations, _why = base_run(env, args.chronic, args.steps, 0)
    rows = np.unique(np.linspace(0, len(observations) - 1, args.states).round().astype(int))
    states = states_from_observations([observations[i] for i in rows], rows + 1, horizon=0)
    busiest = sorted(range(layout.n_sub), key=lambda s: (-layout.sub_sizes[s], s))[: args.busiest]
    topologies = [a for a in topology_actions(layout) if int(a.name.split("-")[1]) in busiest]
    lines = [a for a in line_actions(layout) if a.name.endswith("-off")]
    candidates = topologies + lines
    base = engine.evaluate(states, [_DoNothing()], kept=True).max_rho[:, 0]
    result = engine.evaluate(states, candidates, kept=True)
    ok = (result.status == STATUS_OK).all(axis=0)
    gain = np.nanmean(result.max_rho, axis=0) - np.nanmean(base)  # < 0: lowers max rho
    useful = [j for j in np.argsort(gain, kind="stable") if ok[j] and gain[j] < 0]
    chosen_subs: dict[int, list[int]] = {}
    chosen_lines: list[int] = []
    for j in useful:
        name = candidates[j].name
        if name.startswith("sub-"):
            sub = int(name.split("-")[1])
            n_topologies = sum(len(v) for v in chosen_subs.values())
            if len(chosen_subs.get(sub, [])) < args.per_substation and (
                n_topologies < args.topologies
            ):
                chosen_subs.setdefault(sub, []).append(j)
        elif len(chosen_lines) < args.lines:
            chosen_lines.append(j)
    env.close()
    document: dict[str, dict[str, list[dict[str, object]]]] = {"sub": {}, "line": {}}
    for sub in sorted(chosen_subs):
        document["sub"][str(sub)] = [
            reference_entry(candidates[j].grid2op["set_bus"]) for j in chosen_subs[sub]
        ]
    for j in sorted(chosen_lines, key=lambda j: int(candidates[j].name.split("-")[1])):
        document["line"][candidates[j].name.split("-")[1]] = [{"set_line": -1}]
    if not document["line"]:
        del document["line"]
    print(
        f"{args.env}: {len(candidates)} candidates screened on {len(states)} states, "
        f"{len(useful)} converge everywhere and lower the mean max rho "
        f"(do nothing: {np.nanmean(base):.4f}); kept "
        f"{sum(len(v) for v in chosen_subs.values())} topologies, {len(chosen_lines)} lines"
    )
    for j in [*(j for v in chosen_subs.values() for j in v), *chosen_lines]:
        print(f"  {candidates[j].name:>14}  mean max rho {gain[j]:+.4f}")
    return document


class _DoNothing:
    name = "donothing"

    def __init__(self) -> None:
        self.grid2op: dict[str, object] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--chronic", type=int, default=0)
    parser.add_argument("--steps", type=int, default=288)
    parser.add_argument("--states", type=int, default=24)
    parser.add_argument("--busiest", type=int, default=10)
    parser.add_argument("--per-substation", type=int, default=2)
    parser.add_argument("--topologies", type=int, default=12)
    parser.add_argument("--lines", type=int, default=2)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        document = screen(args)
    subs = ",\n".join(
        f'    "{sub}": [\n' + ",\n".join("      " + json.dumps(e) for e in entries) + "\n    ]"
        for sub, entries in document["sub"].items()
    )
    text = '{\n  "sub": {\n' + subs + "\n  }"
    if "line" in document:
        lines = ",\n".join(f'    "{k}": [{{"set_line": -1}}]' for k in document["line"])
        text += ',\n  "line": {\n' + lines + "\n  }"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n}\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
