"""``gridoracle oracle --no-opponent``: the environment made without its opponent.

The reference is grid2op itself: the same environment folder with the opponent taken out of
its config.py (grid2op then makes it with its do-nothing defaults), run without the option.
"""

from __future__ import annotations

import doctest
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridoracle.cli import app
from gridoracle.errors import InvalidOption
from gridoracle.oracle.config import OracleConfig, read_config
from gridoracle.oracle.sim import env as oracle_env
from gridoracle.oracle.sim.env import has_opponent, make_oracle_env, oracle_env_name

ENV = "rte_case14_opponent"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "actions"
ACTIONS = EXAMPLES / ENV / "reference.json"
SANDBOX = "l2rpn_case14_sandbox"
SANDBOX_ACTIONS = EXAMPLES / SANDBOX / "reference.json"
# rte_case14_opponent's first attack (seed 0) is at step 95: 100 steps hold it
STEPS = "100"
TABLES = ("reward_df.csv", "kpis.csv", "best_path.json", "best_path_no_overload.json")


def _oracle(env: str, actions: Path, out: Path, *options: str) -> Path:
    args = ["oracle", "--env", env, "--chronic", "0", "--actions", str(actions)]
    args += ["--max-iter", STEPS, "--seed", "0", "--out", str(out), "--quiet", *options]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out / Path(env).name / "scenario_0" / actions.stem


def _without_opponent_folder(tmp_path: Path) -> Path:
    """rte_case14_opponent's folder with every opponent key taken out of its config.py."""
    folder = tmp_path / "case14_opponent_removed"
    import grid2op

    data = Path(grid2op.__file__).parent / "data" / ENV
    shutil.copytree(data, folder, ignore=shutil.ignore_patterns("__pycache__"))
    config = folder / "config.py"
    text = config.read_text()
    text, n_lists = re.subn(r'\n    "kwargs_opponent": \{.*?\n    \},', "", text, flags=re.S)
    text, n_keys = re.subn(r'\n    "opponent_[a-z_]*": [^\n]*', "", text)
    assert n_keys == 7 and n_lists == 1 and "opponent" not in text.split("config = {")[1]
    config.write_text(text)
    return folder


def test_the_option_makes_the_environment_without_its_opponent() -> None:
    with_it = make_oracle_env(ENV)
    without = make_oracle_env(ENV, opponent=False)
    by_name = make_oracle_env(oracle_env_name(ENV, opponent=False))  # as workers make it
    try:
        assert has_opponent(with_it)
        assert not has_opponent(without) and not has_opponent(by_name)
        obs = without.reset(seed=0, options={"time serie id": 0, "max step": 100})
        for _ in range(99):  # the opponent would cut a line at step 95
            obs, _, done, info = without.step(without.action_space({}))
            assert not done and info["opponent_attack_line"] is None
        assert obs.line_status.all()
    finally:
        for env in (with_it, without, by_name):
            env.close()


def test_spawned_workers_make_the_environment_without_its_opponent() -> None:
    """Workers that do not inherit this process's environment make it from its name: without
    the opponent (with it, its reward table could not be read from the chronics)."""
    import numpy as np

    from gridoracle.actions.combine import combinations
    from gridoracle.actions.oracle_input import load_oracle_actions
    from gridoracle.engine.batched import BatchedEngine
    from gridoracle.oracle.sim.rewards import reward_table
    from gridoracle.parallel import Backend

    name = oracle_env_name(ENV, opponent=False)
    env = make_oracle_env(ENV, opponent=False)  # the workers make theirs from ``name``
    try:
        engine = BatchedEngine(env)
        unitary, _, _ = load_oracle_actions(ACTIONS, env)
        actions = combinations(unitary, 1)
        assert len(actions) > 2
        spawned = Backend(kind="processes", workers=2, start_method="spawn")
        tables = [
            reward_table(env, engine, actions, 0, 8, 0, chunk=2, backend=b, env_name=name)
            for b in (Backend(), spawned)
        ]
    finally:
        env.close()
    assert tables[0].source == "chronics"
    np.testing.assert_array_equal(tables[0].rewards, tables[1].rewards)
    np.testing.assert_array_equal(tables[0].overload, tables[1].overload)


def test_no_opponent_equals_the_environment_without_one(tmp_path: Path) -> None:
    """The run with --no-opponent: no attack, no multiverse, superposition used; the tables
    are those of the same environment made without opponent by its own config.py."""
    ran = _oracle(ENV, ACTIONS, tmp_path / "a", "--no-opponent", "--max-depth", "2")
    folder = _without_opponent_folder(tmp_path)
    reference = _oracle(str(folder), ACTIONS, tmp_path / "b", "--max-depth", "2")
    summary = json.loads((ran / "summary.json").read_text())
    assert summary["opponent"] is None and summary["config"]["no_opponent"] is True
    assert summary["episode_states"] == "chronics"  # not the grid2op run an opponent needs
    assert not (ran / "universes.png").exists()
    assert not list(ran.glob("robust_path_*.json"))
    assert "attack" not in (ran / "reward_df.csv").read_text().splitlines()[0]
    for name in TABLES:
        assert (ran / name).read_bytes() == (reference / name).read_bytes(), name
    # --combine superposition is used on it; its best path equals exact's
    sup = _oracle(ENV, ACTIONS, tmp_path / "c", "--no-opponent", "--max-depth", "2",
                  "--combine", "superposition")  # fmt: skip
    stats = json.loads((sup / "summary.json").read_text())["superposition"]
    assert stats is not None and stats["n_exact"] <= summary["n_simulated"]
    for name in ("best_path.json", "best_path_no_overload.json", "kpis.csv"):
        assert (sup / name).read_bytes() == (ran / name).read_bytes(), name


def test_superposition_with_an_opponent_says_it_is_not_used(tmp_path: Path) -> None:
    args = ["oracle", "--env", ENV, "--chronic", "0", "--actions", str(ACTIONS)]
    args += ["--max-iter", "8", "--out", str(tmp_path), "--combine", "superposition"]
    result = CliRunner().invoke(app, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    line = "combine superposition: not used with an opponent"
    assert sum(line in row for row in result.output.splitlines()) == 1, result.output
    assert "--no-opponent" in " ".join(result.output.split())
    summary = json.loads((tmp_path / ENV / "scenario_0" / "reference" / "summary.json").read_text())
    assert summary["superposition"] is None and summary["opponent"] is not None
    assert any(w.startswith(line) for w in summary["warnings"])


def test_without_opponent_the_option_changes_nothing_but_the_cache_key(tmp_path: Path) -> None:
    """On an environment without opponent: the same tables; the chunks cached without the
    option are not read with it (another key), and those of each are read back by each."""
    first = _oracle(SANDBOX, SANDBOX_ACTIONS, tmp_path, "--max-iter", "12")
    before = {name: (first / name).read_bytes() for name in TABLES}
    second = _oracle(SANDBOX, SANDBOX_ACTIONS, tmp_path, "--max-iter", "12", "--no-opponent")
    assert second == first
    summary = json.loads((second / "summary.json").read_text())
    assert summary["n_reused"] == 0 and summary["config"]["no_opponent"] is True
    assert len([p for p in (first / ".cache").iterdir() if p.is_dir()]) == 2
    for name in TABLES:
        assert (second / name).read_bytes() == before[name], name
    again = _oracle(SANDBOX, SANDBOX_ACTIONS, tmp_path, "--max-iter", "12", "--no-opponent")
    assert json.loads((again / "summary.json").read_text())["n_reused"] == summary["n_simulated"]


def test_the_setting_in_config_files(tmp_path: Path) -> None:
    toml = tmp_path / "settings.toml"
    toml.write_text("no_opponent = true\nmax_depth = 2\n")
    assert read_config(toml) == (OracleConfig(max_depth=2, no_opponent=True), [])
    ini = tmp_path / "config.ini"
    ini.write_text("[DEFAULT]\nno_opponent = Yes\n")
    assert read_config(ini)[0].no_opponent is True
    config = OracleConfig(no_opponent=True)
    toml.write_text(config.to_toml())
    ini.write_text(config.to_ini())
    assert read_config(toml)[0] == config and read_config(ini)[0] == config
    assert "no_opponent = true" in config.to_toml()
    ini.write_text("[DEFAULT]\nno_opponent = maybe\n")
    with pytest.raises(InvalidOption, match=r"no_opponent = 'maybe' is not valid: expected true"):
        read_config(ini)
    assert OracleConfig().merge({"no_opponent": None}).no_opponent is False


def test_doctests() -> None:
    assert doctest.testmod(oracle_env, raise_on_error=True).attempted >= 2
