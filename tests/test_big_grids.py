"""The 36- and 118-bus grids end to end from the CLI: actions, generate, compare, oracle.

Each runs the whole 288-step chronic (about 15 s each on 2 cores). l2rpn_wcci_2022_dev ships one
chronic: its models are trained and tested with a split by time.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from gridoracle.actions.combine import combinations
from gridoracle.actions.parse import load_unitary_actions
from gridoracle.cli import main
from gridoracle.grid import make_env

ROOT = Path(__file__).resolve().parents[1]
BIG = ("l2rpn_neurips_2020_track1", "l2rpn_wcci_2022_dev")


def example(env: str) -> Path:
    return ROOT / "examples" / "actions" / env / "reference.json"


@pytest.mark.parametrize("env_name", BIG)
def test_shipped_example_actions_fit_their_grid(env_name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_env(env_name)
    try:
        unitary, problems = load_unitary_actions(example(env_name), env)
    finally:
        env.close()
    assert problems == []
    assert len(unitary) == 14
    assert sum(a.asset_kind == "line" for a in unitary) == 2
    names = [a.name for a in unitary]
    assert len(set(names)) == len(names)
    # 12 topologies on 6-7 substations + 2 lines: about 100 combined actions at depth 2
    assert 90 <= len(combinations(unitary, 2)) <= 105


def _oracle(tmp_path: Path, env: str, steps: int, *extra: str) -> dict:
    main(
        [
            "oracle",
            "--env",
            env,
            "--chronic",
            "0",
            "--actions",
            str(example(env)),
            "--max-depth",
            "2",
            "--max-iter",
            str(steps),
            "--best-path-type",
            "longest",
            "--output",
            str(tmp_path / "oracle"),
            "--quiet",
            *extra,
        ]
    )
    folder = tmp_path / "oracle" / env / "scenario_0" / "reference"
    return json.loads((folder / "summary.json").read_text())


def _models(tmp_path: Path, env: str, steps: int, split: list[str], *select: str) -> dict:
    acts = tmp_path / "actions.json"
    main(["actions", "--env", env, "--kind", "all", *select, "--out", str(acts)])
    main(
        [
            "generate",
            "--env",
            env,
            "--chronics",
            "all",
            "--max-steps",
            str(steps),
            "--actions-file",
            str(acts),
            "--out",
            str(tmp_path / "data"),
            "--quiet",
        ]
    )
    (data,) = (tmp_path / "data").iterdir()
    main(
        [
            "compare",
            "--data",
            str(data),
            "--models",
            "mean,extra_trees",
            "--out",
            str(tmp_path / "models"),
            "--quiet",
            *split,
        ]
    )
    return json.loads((tmp_path / "models" / "leaderboard.json").read_text())


def test_neurips_36_bus_whole_chronic(tmp_path):
    board = _models(
        tmp_path,
        "l2rpn_neurips_2020_track1",
        288,
        ["--test-chronics", "1"],
        "--busiest",
        "10",
        "--per-substation",
        "40",
        "--most-lines",
        "300",
    )
    assert board["test_chronics"] == [1]
    summary = _oracle(tmp_path, "l2rpn_neurips_2020_track1", 288)
    assert len(summary["best_path"]["actions"]) == 288
    (replay,) = [r for r in summary["replays"] if r["label"] == "best path"]
    assert replay["steps_survived"] == 288 and not replay["game_over"]  # under real rules


def test_wcci_118_bus_whole_chronic(tmp_path):
    board = _models(
        tmp_path,
        "l2rpn_wcci_2022_dev",
        288,
        ["--split-by", "time"],
        "--busiest",
        "20",
        "--per-substation",
        "50",
        "--most-lines",
        "300",
    )
    assert board["split_by"] == "time"
    summary = _oracle(tmp_path, "l2rpn_wcci_2022_dev", 288)
    assert summary["n_simulated"] == 100
    # 288 steps: the step that reaches the chronic's last row counts, as in grid2op's Runner
    assert len(summary["best_path"]["actions"]) == 288
