"""``gridoracle agents evaluate`` (issue 14): the Runner's episodes against hand-run ones, the CLI
end to end (files, figures, report, workers 1 vs 2), resume and --force, bad inputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridoracle.cli import main
from gridoracle.pipelines.agents import (
    ORACLE_PATHS,
    RESULT_COLUMNS,
    RESULT_FILE,
    TIMING_COLUMNS,
    AgentSpec,
    _run_episode_unit,
    _Task,
    build_agent,
    episode_seeds,
    oracle_bound,
)
from gridoracle.pipelines.generate import GenerateRequest, generate
from gridoracle.pipelines.models import TrainRequest, train

CASE14 = "l2rpn_case14_sandbox"
CHRONIC = 1
STEPS = 30
#: low enough for the agents to act on most steps of chronic 1 (max rho about 0.8-0.9)
THRESHOLD = 0.5


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """ridge on case14 chronic 0 (25 states, 12 actions), its catalogue stored by train."""
    root = tmp_path_factory.mktemp("agents_model")
    report = generate(
        GenerateRequest(CASE14, chronics="0,2", max_steps=25, n_actions=12, out=root / "data")
    )
    folder = root / "ridge"
    train(TrainRequest(report.path, model="ridge", out=folder, test_chronics=[2]))
    return folder


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _evaluate(model: Path, out: Path, *extra: str) -> list[str]:
    return [
        *["agents", "evaluate", "--env", CASE14, "--chronics", str(CHRONIC)],
        *["--model", str(model), "--k", "2", "--threshold", str(THRESHOLD)],
        *["--max-steps", str(STEPS), "--out", str(out), "--quiet", *extra],
    ]


# ------------------------------------------------------------------------ Runner vs hand-run


def _hand_run(
    spec: AgentSpec,
    model: Path,
    threshold: float = THRESHOLD,
    recover: float | None = None,
    steps_at_most: int = STEPS,
    chronic: int = CHRONIC,
) -> dict:
    """The episode played by hand: env.reset with the task's seed, env.step(agent.act(...))."""
    from grid2op.Reward import L2RPNReward

    from gridoracle.grid import make_env

    env_seed, agent_seed = episode_seeds(0, chronic)
    env = make_env(CASE14, reward_class=L2RPNReward)
    try:
        agent = build_agent(spec, env.action_space, str(model), threshold, recover=recover)
        options = {"time serie id": chronic, "max step": steps_at_most}
        obs = env.reset(seed=env_seed, options=options)
        agent.seed(agent_seed)
        agent.reset(obs)
        reward, done, steps = 0.0, False, 0
        rewards, actions, max_rho = [], [], []
        while not done:
            act = agent.act(obs, reward, done)
            actions.append(act.to_vect())
            obs, reward, done, info = env.step(act)
            steps += 1
            rewards.append(float(reward))
            failed = done and bool(info.get("exception"))
            max_rho.append(None if failed else float(np.max(obs.rho)))
        counters = (
            (agent.simulate_calls, agent.acting_steps) if hasattr(agent, "summary") else (0, 0)
        )
        recoveries = (
            (agent.recovery_calls, agent.recovery_steps) if hasattr(agent, "summary") else (0, 0)
        )
        return {
            "recoveries": recoveries,
            "steps": steps - int(max_rho[-1] is None),
            "runner_steps": steps,
            "reward": float(np.sum(rewards)),
            "actions": np.array(actions),
            "max_rho": max_rho,
            "counters": counters,
        }
    finally:
        env.close()


@pytest.mark.parametrize(
    "spec",
    [AgentSpec("greedy", "greedy"), AgentSpec("random_2", "random", 2)],
    ids=["greedy", "random_2"],
)
def test_the_runner_plays_the_episode_a_hand_run_plays(spec, model, tmp_path):
    from grid2op.Episode import EpisodeData

    env_seed, agent_seed = episode_seeds(0, CHRONIC)
    folder = tmp_path / "episodes" / spec.name
    task = _Task(
        CASE14, CHRONIC, "0001", spec, str(model), THRESHOLD, STEPS, env_seed, agent_seed,
        str(folder), "key",
    )  # fmt: skip
    record = _run_episode_unit(task)
    hand = _hand_run(spec, model)
    assert record["steps"] == hand["steps"] and record["runner_steps"] == hand["runner_steps"]
    assert record["reward"] == pytest.approx(hand["reward"], abs=1e-6)
    # the Runner's own cumulated reward (summed in float32) says the same, to float32 precision
    assert record["runner_cum_reward"] == pytest.approx(hand["reward"], rel=1e-6)
    assert record["max_rho"] == pytest.approx(hand["max_rho"], abs=1e-9)
    assert (record["simulate_calls"], record["acting_steps"]) == hand["counters"]
    assert record["acting_steps"] > 0  # the threshold makes it act: the test compares decisions
    # the episode folder is grid2op's format: EpisodeData reads it back, with the same actions
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left
    episode = EpisodeData.from_disk(str(folder), "0001")
    played = np.array([a.to_vect() for a in episode.actions])[: hand["runner_steps"]]
    np.testing.assert_array_equal(played, hand["actions"])
    assert json.loads((folder / "0001" / RESULT_FILE).read_text())["reward"] == record["reward"]


def test_a_game_over_s_step_is_played_not_survived(tmp_path):
    # an agent that isolates load 0 at its 5th step: the Runner counts 5 steps, 4 survived
    from grid2op.Agent import BaseAgent
    from grid2op.Reward import L2RPNReward

    from gridoracle.grid import make_env
    from gridoracle.pipelines.agents import _episode_record, _runner_class

    class Isolating(BaseAgent):
        def reset(self, obs):
            self.n = 0

        def act(self, obs, reward, done=False):
            self.n += 1
            return self.action_space({"set_bus": {"loads_id": [(0, 2)]} if self.n == 5 else {}})

    env = make_env(CASE14, reward_class=L2RPNReward)
    try:
        agent = Isolating(env.action_space)
        runner = _runner_class()(
            **env.get_params_for_runner(), agentClass=None, agentInstance=agent
        )
        result = runner.run(
            nb_episode=1, episode_id=[CHRONIC], env_seeds=[1], agent_seeds=[2], max_iter=STEPS,
            add_detailed_output=True,
        )[0]  # fmt: skip
        spec = AgentSpec("isolating", "do_nothing")
        task = _Task(CASE14, CHRONIC, "0001", spec, "", 0.5, STEPS, 1, 2, str(tmp_path), "k")
        record = _episode_record(task, result, runner.agent, env, 0.0)
        obs = env.reset(seed=1, options={"time serie id": CHRONIC, "max step": STEPS})
        agent.reset(obs)
        rewards, done = [], False
        while not done:
            obs, reward, done, info = env.step(agent.act(obs, 0.0))
            rewards.append(float(reward))
    finally:
        env.close()
    assert info["exception"] and len(rewards) == 5
    assert (record["runner_steps"], record["steps"], record["game_over"]) == (5, 4, True)
    assert record["max_rho"][-1] is None and all(v > 0 for v in record["max_rho"][:-1])
    assert record["reward"] == pytest.approx(sum(rewards), abs=1e-6)


def test_the_oracle_replay_scores_the_runner_s_reward(model, tmp_path):
    # the Oracle's replayed reward is the same quantity as the Runner's: L2RPNReward summed over
    # the steps of an episode reset the same way; a do-nothing path replayed gives do nothing's
    from gridoracle.oracle.sim.env import make_oracle_env, use_replay_parameters
    from gridoracle.oracle.sim.replay import replay

    env_seed, agent_seed = episode_seeds(0, CHRONIC)
    spec = AgentSpec("do_nothing", "do_nothing")
    task = _Task(
        CASE14, CHRONIC, "0001", spec, str(model), THRESHOLD, STEPS, env_seed, agent_seed,
        str(tmp_path / "dn"), "key",
    )  # fmt: skip
    record = _run_episode_unit(task)
    env = use_replay_parameters(make_oracle_env(CASE14, "l2rpn"))
    try:
        result = replay(env, [{}] * STEPS, record["reward"], CHRONIC, seed=env_seed)
    finally:
        env.close()
    assert result.steps_survived == record["steps"] == STEPS
    assert result.reward == pytest.approx(record["reward"], abs=1e-6)


# ------------------------------------------------------------------------------ CLI end to end


@pytest.fixture(scope="module")
def evaluated(model, tmp_path_factory):
    """The CLI run once with one worker (the Oracle included)."""
    out = tmp_path_factory.mktemp("agents_eval") / "w1"
    code = main_code(_evaluate(model, out, "--workers", "1"))
    assert code == 0
    return out


def main_code(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_the_cli_writes_every_file_and_row(evaluated):
    out = evaluated
    for name in ("results.csv", "results.json", "summary.json", "report.html"):
        assert (out / name).is_file(), name
    for name in ("survival.png", "max_rho.png", "calls_vs_survival.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    frame = pd.read_csv(out / "results.csv")
    assert list(frame.columns) == list(RESULT_COLUMNS)
    assert frame["agent"].tolist() == ["do_nothing", "greedy", "random_2", "screening_2"]
    required = [c for c in RESULT_COLUMNS if c not in TIMING_COLUMNS and c != "k"]
    required.remove("calls_per_acting_step")  # do nothing never acts
    assert not frame[required].isna().any().any(), frame[required]
    assert (frame["max_steps"] == STEPS).all() and (frame["steps"] <= STEPS).all()
    acting = frame[frame["agent"] != "do_nothing"]
    assert (acting["acting_steps"] > 0).all() and acting["decision_s_per_acting_step"].notna().all()
    # grid2op's agent_exec_times time the whole act call, which holds the agent's own timing
    # (stored in float32: a relative 1e-6 of slack)
    own, grid2op = (
        acting["decision_s_per_acting_step"],
        acting["decision_s_per_acting_step_grid2op"],
    )
    assert (grid2op >= own * (1 - 1e-6)).all(), acting
    # exact call counts: screening-2 and random-2 simulate do nothing and 2 candidates (3 calls)
    # at each acting step here (no reconnection on this chronic), greedy the legal catalogue + 1
    for agent in ("random_2", "screening_2"):
        row = frame[frame["agent"] == agent].iloc[0]
        assert row["simulate_calls"] == 3 * row["acting_steps"]
    greedy = frame[frame["agent"] == "greedy"].iloc[0]
    assert greedy["calls_per_acting_step"] > 3
    # gaps are the Oracle's minus the agent's
    assert np.allclose(frame["reward_gap"], frame["oracle_reward"] - frame["reward"])
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["totals"]) == set(frame["agent"])
    assert summary["config"]["reward"] == "L2RPNReward" and "grid2op" in summary["versions"]
    assert summary["seeds"]["0001"]["env_seed"] == episode_seeds(0, CHRONIC)[0]
    rows = json.loads((out / "results.json").read_text())
    assert [r["agent"] for r in rows] == frame["agent"].tolist()
    html = (out / "report.html").read_text()
    assert '<section id="agents"><h2>Agents</h2>' in html and html.count("<img") == 3
    # gridoracle run's report reads the same section from <out>/agents
    from gridoracle.report import read_agents_section, render_report

    section = read_agents_section(out)
    assert section is not None and len(section.figures) == 3
    assert '<section id="agents">' in render_report(agents=section)
    assert read_agents_section(out / "episodes") is None
    for agent in frame["agent"]:
        assert (out / "episodes" / agent / "0001" / RESULT_FILE).is_file()
        assert (out / "episodes" / agent / "dict_action_space.json").is_file()


#: the columns of the Oracle's results (the two-worker run leaves the Oracle out)
ORACLE_COLUMNS = ["oracle_reward", "oracle_steps", "oracle_path", "reward_gap", "steps_gap"]


def test_the_bound_is_the_replayed_path_that_survives_longest_then_of_highest_reward():
    best, safe = ORACLE_PATHS
    died = {"steps": 1381, "reward": 30_000.0}
    lived = {"steps": 8064, "reward": 120_000.0}
    assert oracle_bound({best: died, safe: lived}) == safe
    assert oracle_bound({best: lived, safe: died}) == best
    richer = {"steps": 8064, "reward": 130_000.0}
    assert oracle_bound({best: lived, safe: richer}) == safe
    assert oracle_bound({best: lived, safe: dict(lived)}) == best  # a tie: the best path
    assert oracle_bound({best: {"steps": None, "reward": None}, safe: died}) == safe
    assert oracle_bound({best: {"steps": None, "reward": None}}) is None


def test_the_oracle_record_holds_both_replayed_paths_and_the_bound(evaluated):
    rows = json.loads((evaluated / "results.json").read_text())
    record = json.loads((evaluated / "oracle" / "result_0001.json").read_text())
    assert set(record["paths"]) == set(ORACLE_PATHS)
    for p in record["paths"].values():
        assert p["steps"] is not None and 0 < p["steps"] <= p["steps_planned"] == STEPS
        assert isinstance(p["value"], float) and isinstance(p["reward"], float)
        # the path as runs of (action, consecutive steps), one a step
        assert sum(n for _, n in p["actions"]) == STEPS
        assert all(a[0] != b[0] for a, b in zip(p["actions"], p["actions"][1:], strict=False))
    assert record["bound"] == oracle_bound(record["paths"])
    chosen = record["paths"][record["bound"]]
    for r in rows:  # every row's Oracle columns are the chosen path's replay
        assert (r["oracle_path"], r["oracle_steps"]) == (record["bound"], chosen["steps"])
        assert r["oracle_reward"] == pytest.approx(chosen["reward"])
        assert r["steps_gap"] == chosen["steps"] - r["steps"]
    summary = json.loads((evaluated / "summary.json").read_text())
    assert "survives the most steps" in summary["config"]["oracle_bound"]


def test_two_workers_give_the_same_results(evaluated, model, tmp_path):
    out = tmp_path / "w2"
    assert main_code(_evaluate(model, out, "--workers", "2", "--no-oracle")) == 0
    drop = [*TIMING_COLUMNS, *ORACLE_COLUMNS]
    one = pd.read_csv(evaluated / "results.csv").drop(columns=drop)
    two = pd.read_csv(out / "results.csv")
    assert two[ORACLE_COLUMNS].isna().all().all()
    pd.testing.assert_frame_equal(one, two.drop(columns=drop))
    for agent in one["agent"]:  # the episodes too (the agents' actions and observations)
        for name in ("actions.npz", "observations.npz", "rewards.npz"):
            a = np.load(evaluated / "episodes" / agent / "0001" / name)
            b = np.load(out / "episodes" / agent / "0001" / name)
            np.testing.assert_array_equal(a["data"], b["data"])


def test_a_rerun_skips_finished_episodes_and_force_plays_them_again(
    evaluated, model, tmp_path, capsys
):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(evaluated, out)
    result = out / "episodes" / "greedy" / "0001" / RESULT_FILE
    before = result.stat().st_mtime_ns
    code, stdout, _ = _cli(_evaluate(model, out), capsys)
    assert code == 0
    assert "0 episode(s) played, 4 reused; 0 Oracle run(s), 1 reused" in stdout
    assert result.stat().st_mtime_ns == before
    assert pd.read_csv(out / "results.csv").equals(pd.read_csv(evaluated / "results.csv"))
    # a finished episode of another configuration (its hash differs) is played again, alone
    other = out / "episodes" / "random_2" / "0001" / RESULT_FILE
    record = json.loads(other.read_text())
    other.write_text(json.dumps({**record, "key": "another configuration"}))
    code, stdout, _ = _cli(_evaluate(model, out, "--no-oracle"), capsys)
    assert code == 0 and "1 episode(s) played, 3 reused" in stdout
    assert json.loads(other.read_text())["key"] == record["key"]
    code, stdout, _ = _cli(_evaluate(model, out, "--no-oracle", "--force"), capsys)
    assert code == 0 and "4 episode(s) played, 0 reused" in stdout
    assert result.stat().st_mtime_ns != before
    assert not [p for p in (out / "episodes" / "greedy").iterdir() if p.name.startswith(".")]


def test_an_interrupted_episode_leaves_nothing_half_written(model, tmp_path, monkeypatch):
    from gridoracle.pipelines import agents as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_publish_episode", interrupted)
    env_seed, agent_seed = episode_seeds(0, CHRONIC)
    folder = tmp_path / "episodes" / "do_nothing"
    spec = AgentSpec("do_nothing", "do_nothing")
    task = _Task(
        CASE14, CHRONIC, "0001", spec, str(model), THRESHOLD, 3, env_seed, agent_seed,
        str(folder), "key",
    )  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        _run_episode_unit(task)
    assert list(folder.iterdir()) == []


# ---------------------------------------------------------------------------------- bad inputs


def _one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert err.startswith("error:") and err.strip().count("\n") == 0, err
    for word in words:
        assert word in err, (word, err)


def test_bad_inputs_are_one_line_and_write_nothing(model, tmp_path, capsys):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "metadata.json").write_text("{not json")
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = tmp_path / "out"
    cases = [
        (["--env", "no_such_env"], "no_such_env"),
        (["--chronics", "7"], "--chronics 7: chronic index 7 is out of range"),
        (["--model", str(tmp_path / "missing")], "does not exist"),
        (["--model", str(corrupt)], str(corrupt)),
        (["--k", "0"], "--k 0: must be at least 1"),
        (["--k", "1,x"], "--k"),
        (["--max-steps", "0"], "--max-steps 0"),
        (["--out", str(afile / "out")], "--out"),
        # the case14 model on a 5-bus grid
        (["--env", "rte_case5_example", "--chronics", "0"], str(model)),
    ]
    for extra, words in cases:
        args = _evaluate(model, out)
        for flag, value in zip(extra[::2], extra[1::2], strict=True):
            args[args.index(flag) + 1] = value
        code, _, err = _cli(args, capsys)
        _one_line_error(code, err, words)
        assert not out.exists(), extra
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "corrupt"]


def test_a_read_only_output_folder_is_one_line(model, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    if os.geteuid() == 0:  # root may write anyway: the code asks os.access, so answer as a user
        real_access = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode, **kw: Path(p) != folder and real_access(p, mode, **kw)
        )
    try:
        code, _, err = _cli(_evaluate(model, folder / "out"), capsys)
        _one_line_error(code, err, "--out", "not writable")
    finally:
        folder.chmod(0o700)


@pytest.mark.slow
def test_a_ctrl_c_leaves_finished_episodes_and_no_partial_one(model, tmp_path):
    # a terminal's Ctrl-C: SIGINT to the command and its workers; the rerun resumes
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    args = _evaluate(model, out, "--workers", "2", "--no-oracle")
    args[args.index("--max-steps") + 1] = "200"
    command = [sys.executable, "-c", "from gridoracle.cli import main; main()", *args]
    proc = subprocess.Popen(
        command,
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
        # SIGINT as a terminal delivers it (a run started in the background inherits it ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while not list(out.glob(f"episodes/*/*/{RESULT_FILE}")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not list(out.rglob(".tmp-*")) and not (out / "results.csv").exists()
    finished = list(out.glob("episodes/*/0001"))
    assert finished and all((folder / RESULT_FILE).is_file() for folder in finished)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"{4 - len(finished)} episode(s) played, {len(finished)} reused" in done.stdout


# ------------------------------------------------------------------------ recovery (--recover)

#: on chronic 0, at threshold and recover 0.8, greedy and screening-2 act (max rho about 0.8),
#: then return to the reference topology within 20 steps
RECOVER_AT, RECOVER_STEPS, RECOVER_CHRONIC = 0.8, 20, 0


@pytest.mark.parametrize(
    "spec",
    [AgentSpec("greedy", "greedy"), AgentSpec("screening_2", "screening", 2)],
    ids=["greedy", "screening_2"],
)
def test_the_runner_recovers_as_a_hand_run_does(spec, model, tmp_path):
    """The Runner calls reset with the episode's first observation: the same reference, the
    same recoveries as by hand."""
    env_seed, agent_seed = episode_seeds(0, RECOVER_CHRONIC)
    folder = tmp_path / "episodes" / spec.name
    task = _Task(
        CASE14, RECOVER_CHRONIC, "0000", spec, str(model), RECOVER_AT, RECOVER_STEPS, env_seed,
        agent_seed, str(folder), "key", RECOVER_AT,
    )  # fmt: skip
    record = _run_episode_unit(task)
    hand = _hand_run(spec, model, RECOVER_AT, RECOVER_AT, RECOVER_STEPS, RECOVER_CHRONIC)
    assert (record["simulate_calls"], record["acting_steps"]) == hand["counters"]
    assert (record["recovery_calls"], record["recovery_steps"]) == hand["recoveries"]
    assert record["recovery_steps"] > 0 and record["acting_steps"] > 0  # not vacuous
    assert any(name.startswith("recover-sub-") for name in record["actions_played"])
    assert record["max_rho"] == pytest.approx(hand["max_rho"], abs=1e-9)
    from grid2op.Episode import EpisodeData

    episode = EpisodeData.from_disk(str(folder), "0000")
    played = np.array([a.to_vect() for a in episode.actions])[: hand["runner_steps"]]
    np.testing.assert_array_equal(played, hand["actions"])


def test_recover_through_the_cli(model, tmp_path, capsys):
    out = tmp_path / "recover"
    args = _evaluate(model, out, "--no-oracle", "--recover", str(RECOVER_AT))
    args[args.index("--threshold") + 1] = str(RECOVER_AT)
    args[args.index("--max-steps") + 1] = str(RECOVER_STEPS)
    args[args.index("--chronics") + 1] = str(RECOVER_CHRONIC)
    code, stdout, err = _cli(args, capsys)
    assert code == 0, err
    assert "recov (calls)" in stdout  # the table's column
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["recover"] == RECOVER_AT
    frame = pd.read_csv(out / "results.csv").set_index("agent")
    assert list(frame.reset_index().columns) == list(RESULT_COLUMNS)
    assert frame.loc["do_nothing", "recovery_calls"] == 0
    assert frame.loc["greedy", "recovery_steps"] > 0
    for name, row in frame.iterrows():
        record = json.loads((out / "episodes" / str(name) / "0000" / RESULT_FILE).read_text())
        assert (row["recovery_steps"], row["recovery_calls"]) == (
            record["recovery_steps"],
            record["recovery_calls"],
        )
        assert record["simulate_calls"] >= record["recovery_calls"]
        totals = summary["totals"][str(name)]
        assert totals["recovery_calls"] == record["recovery_calls"]
    # the acting steps' calls per acting step leave the recoveries' out
    greedy = frame.loc["greedy"]
    expected = (greedy["simulate_calls"] - greedy["recovery_calls"]) / greedy["acting_steps"]
    assert greedy["calls_per_acting_step"] == pytest.approx(expected)
    # recover is part of the episodes' configuration: without it they are played again
    plain = args[: args.index("--recover")] + args[args.index("--recover") + 2 :]
    code, _, err = _cli(plain, capsys)
    assert code == 0, err
    again = json.loads((out / "summary.json").read_text())
    assert again["config"]["recover"] is None
    frame = pd.read_csv(out / "results.csv").set_index("agent")
    assert (frame["recovery_calls"] == 0).all()


def test_a_bad_recover_is_one_line_and_writes_nothing(model, tmp_path, capsys):
    out = tmp_path / "out"
    for value in ("0", "-1", "0.6", "nan"):  # the threshold is 0.5
        code, _, err = _cli(_evaluate(model, out, "--recover", value), capsys)
        _one_line_error(code, err, "--recover")
        assert not out.exists(), value
