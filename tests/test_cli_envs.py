"""The ``gridoracle envs`` command."""

from __future__ import annotations

import importlib.resources
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridoracle import grid
from gridoracle.cli import app, main
from gridoracle.errors import EnvironmentNotFound
from gridoracle.grid import EnvFacts

CASE14 = "l2rpn_case14_sandbox"
runner = CliRunner()


def test_envs_help_has_an_example() -> None:
    result = runner.invoke(app, ["envs", "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert "--json" in result.output


def test_envs_json_for_one_env() -> None:
    result = runner.invoke(app, ["envs", CASE14, "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["name"] for r in records] == [CASE14]
    record = records[0]
    assert record["error"] is None
    assert record["n_sub"] == 14
    assert record["n_chronics"] == len(record["steps_per_chronic"]) == 3
    assert all(steps > 0 for steps in record["steps_per_chronic"])


def test_envs_table_for_one_env() -> None:
    result = runner.invoke(app, ["envs", CASE14])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith(CASE14))
    assert row.split()[1:] == ["14", "20", "6", "11", "3", "575"]


def test_envs_accepts_an_environment_folder() -> None:
    folder = Path(str(importlib.resources.files("grid2op") / "data" / "rte_case5_example"))
    result = runner.invoke(app, ["envs", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["name"] == str(folder)
    assert (record["n_sub"], record["error"]) == (5, None)


def test_envs_refuses_a_folder_that_is_not_an_env(tmp_path: Path) -> None:
    result = runner.invoke(app, ["envs", str(tmp_path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, EnvironmentNotFound)
    assert str(tmp_path) in str(result.exception)


def test_envs_unknown_env_is_one_red_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["envs", "no_such_env", "--json"])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert "no_such_env" in lines[0] and CASE14 in lines[0]


def test_envs_lists_a_failing_env_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = EnvFacts(CASE14, 14, 20, 6, 11, 2, [288, 575], 2)

    def fake_load(name: str) -> EnvFacts:
        if name == "broken_env":
            raise RuntimeError("power flow diverged\nsecond line of detail")
        return facts

    monkeypatch.setattr(grid, "offline_env_names", lambda: [CASE14, "broken_env"])
    monkeypatch.setattr(grid, "load_env_facts", fake_load)

    result = runner.invoke(app, ["envs", "--json"])
    assert result.exit_code == 0, result.output
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert records[CASE14]["error"] is None
    assert records[CASE14]["steps_per_chronic"] == [288, 575]
    assert records["broken_env"]["error"] == "RuntimeError: power flow diverged"
    assert records["broken_env"]["n_sub"] is None

    result = runner.invoke(app, ["envs"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "RuntimeError: power flow diverged" in result.stdout
    assert "288–575" in result.stdout


def test_envs_output_is_clean_in_a_subprocess() -> None:
    """No warning from grid2op or lightsim2grid on stderr, valid JSON alone on stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "gridoracle.cli", "envs", CASE14, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)[0]["n_sub"] == 14


@pytest.mark.slow
def test_envs_lists_every_offline_env() -> None:
    result = runner.invoke(app, ["envs", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["name"] for r in records] == grid.offline_env_names()
    assert [r["name"] for r in records if r["error"]] == []
    by_name = {r["name"]: r for r in records}
    assert by_name[CASE14]["n_sub"] == 14
    assert by_name["rte_case118_example"]["n_sub"] == 118
