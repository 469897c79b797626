"""The Oracle end to end from the CLI, on Oracle4Grid's own integration case.

rte_case14_realistic, chronic 0, Oracle4Grid's test actions (examples/), max_iter 6, max_depth 3.
Oracle4Grid's integration tests expect, for the longest path, ``line-4-3`` at every step with and
without overload; for the shortest path (grid2op's L2RPNReward, 2 significant digits)
``sub-5-2`` then ``sub-1-1_sub-5-2``, and ``sub-1-1`` without overload. Since grid2op 1.10 the
Runner gives L2RPNReward's minimum on the last step, so every action ties there: the last step
is not compared for the shortest path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from gridoracle.cli import main

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = ROOT / "examples" / "actions" / "rte_case14_realistic" / "reference.json"
BASE = [
    "oracle",
    "--env",
    "rte_case14_realistic",
    "--chronic",
    "0",
    "--actions",
    str(ACTIONS),
    "--max-depth",
    "3",
    "--max-iter",
    "6",
    "--quiet",
]


def _run(args, capsys):
    main(args)
    return capsys.readouterr()


def _path(folder: Path, name: str) -> list[str]:
    return [s["action"] for s in json.loads((folder / name).read_text())["steps"]]


def test_longest_path_end_to_end(tmp_path, capsys):
    out = _run(
        [*BASE, "--best-path-type", "longest", "--output", str(tmp_path), "--export-graph"], capsys
    )
    folder = tmp_path / "rte_case14_realistic" / "scenario_0" / "reference"
    for name in (
        "reward_df.csv",
        "kpis.csv",
        "best_path.json",
        "best_path_no_overload.json",
        "graph.png",
        "best_path_topologies_count.png",
        "best_path_no_overload_topologies_count.png",
        "summary.json",
        "graph.graphml",
        "edge_list.csv",
    ):
        assert (folder / name).is_file(), name
    assert _path(folder, "best_path.json") == ["line-4-3"] * 6
    assert _path(folder, "best_path_no_overload.json") == ["line-4-3"] * 6
    reward_df = pd.read_csv(folder / "reward_df.csv")
    assert reward_df["name"].nunique() == 12 and len(reward_df) == 72
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["n_combined"] == 12 and summary["config"]["max_depth"] == 3
    assert {"grid2op", "lightsim2grid", "gridoracle"} <= set(summary["versions"])
    assert all(r["steps_survived"] == 6 for r in summary["replays"])
    kpis = pd.read_csv(folder / "kpis.csv")
    assert "Best possible path with game rules" in set(kpis.iloc[:, 0])
    assert "Best possible path with game rules" in out.out and "line-4-3" in out.out
    assert "worse than doing nothing" not in out.err
    assert any((folder / "replay_logs").rglob("*"))
    # the table's episode is read from the chronics; the replay is also grid2op's episode format
    from grid2op.Episode import EpisodeData

    assert summary["episode_states"] == "chronics"
    episode = EpisodeData.from_disk(folder / "replay_logs" / "best_path" / "grid2op", "000")
    replayed = pd.read_csv(folder / "replay_logs" / "best_path" / "steps.csv")
    assert len(episode.rewards) == len(replayed) == 6
    assert episode.rewards.tolist() == pytest.approx(replayed["reward"].tolist(), rel=1e-6)


def test_shortest_path_as_oracle4grid(tmp_path, capsys):
    captured = _run(
        [
            *BASE,
            "--best-path-type",
            "shortest",
            "--reward",
            "l2rpn",
            "--reward-significant-digit",
            "2",
            "--output",
            str(tmp_path),
            "--no-replay",
        ],
        capsys,
    )
    folder = tmp_path / "rte_case14_realistic" / "scenario_0" / "reference"
    assert _path(folder, "best_path.json")[:5] == ["sub-5-2"] + ["sub-1-1_sub-5-2"] * 4
    assert _path(folder, "best_path_no_overload.json")[:5] == ["sub-1-1"] * 5
    # issue 12 item 7: a "best" path worse than doing nothing is said, in one line
    said = [line for line in captured.err.splitlines() if "worse than doing nothing" in line]
    assert len(said) == 1 and said[0].startswith("warning: best_path_type shortest"), captured.err
    assert "longest" in said[0]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--max-depth", "0"], "max_depth"),
        (["--best-path-type", "middle"], "best_path_type"),
        (["--chronic", "99"], "99"),
    ],
)
def test_bad_settings_are_one_line_exit_2(extra, needle, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main([*BASE, "--output", str(tmp_path), *extra])
    err = capsys.readouterr().err
    assert info.value.code == 2 and needle in err and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1


def test_bad_config_file_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "config.ini"
    bad.write_text("[DEFAULT]\nmax_iter = many\n")
    with pytest.raises(SystemExit) as info:
        main([*BASE, "--config", str(bad), "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "max_iter" in err and len(err.strip().splitlines()) == 1


def test_two_environments_do_not_share_an_output_folder(tmp_path, capsys):
    """Issue 12 item 6: ``<output>/<env>/scenario_<chronic>/<stem>``: the demo's
    l2rpn_case14_sandbox outputs and the README's rte_case14_realistic ones (both actions files
    are named reference.json) no longer overwrite each other."""
    for env in ("l2rpn_case14_sandbox", "rte_case14_realistic"):
        actions = ROOT / "examples" / "actions" / env / "reference.json"
        args = ["oracle", "--env", env, "--chronic", "0", "--actions", str(actions)]
        _run([*args, "--max-iter", "3", "--no-replay", "--quiet", "--out", str(tmp_path)], capsys)
    for env in ("l2rpn_case14_sandbox", "rte_case14_realistic"):
        folder = tmp_path / env / "scenario_0" / "reference"
        assert json.loads((folder / "summary.json").read_text())["env"] == env
        assert (folder / "kpis.csv").is_file()
    assert not (tmp_path / "scenario_0").exists()
    # an environment given as a folder is labelled by the folder's name
    from gridoracle.pipelines.oracle import output_folder

    out = output_folder(tmp_path, "/data/my envs/case 14/", 3, Path("a/b/mine.json"))
    assert out == tmp_path / "case_14" / "scenario_3" / "mine"


def test_a_max_iter_beyond_the_chronic_says_what_was_run(tmp_path, capsys, monkeypatch):
    """Issue 12 item 9: max_iter 100000 on an 8064-step chronic ran 8063 steps while
    summary.json said 100000. Here the chronic is cut to 5 steps (``set_max_iter``)."""
    import gridoracle.pipelines.oracle as pipeline

    made = pipeline.make_oracle_env

    def short_chronic(env, reward="oracle"):
        sim_env = made(env, reward)
        sim_env.set_max_iter(5)
        return sim_env

    monkeypatch.setattr(pipeline, "make_oracle_env", short_chronic)
    out = _run([*BASE[:-5], "--max-iter", "8", "--quiet", "--output", str(tmp_path)], capsys)
    folder = tmp_path / "rte_case14_realistic" / "scenario_0" / "reference"
    summary = json.loads((folder / "summary.json").read_text())
    run = summary["steps"]["run"]
    assert summary["steps"] == {"requested": 8, "run": run} and 0 < run < 8
    assert summary["config"]["max_iter"] == 8
    said = [line for line in out.err.splitlines() if "max_iter 8" in line]
    assert len(said) == 1 and said[0].startswith("warning:"), out.err
    assert f"{run} steps" in said[0] and "end of the chronic" in said[0], said
    assert any(f"max_iter 8: {run} steps" in w for w in summary["warnings"])
    assert len(pd.read_csv(folder / "reward_df.csv")["timestep"].unique()) == run
