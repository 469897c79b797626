"""``gridoracle oracle`` as a new user meets it: its help, its warnings, its refusals (issue 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gridoracle.cli import app, main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SANDBOX_ACTIONS = EXAMPLES / "actions" / "l2rpn_case14_sandbox" / "reference.json"


def _help(columns: int) -> str:
    result = CliRunner().invoke(app, ["oracle", "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def test_help_is_readable_at_80_columns() -> None:
    """Item 12: no option name is cut (``--replay-reward-rel-tolera…``) at 80 columns."""
    text = _help(80)
    assert "…" not in text, text
    assert "--replay-reward-rel-tolerance" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_help_shows_every_default_of_the_settings() -> None:
    """Item 7: the settings' defaults are in ``--help`` (and longest is the default)."""
    text = " ".join(_help(200).split())
    for option, default in [
        ("--max-depth", "1"),
        ("--max-iter", "400"),
        ("--best-path-type", "longest"),
        ("--n-best-topos", "2"),
        ("--reward-significant-digit", "5"),
        ("--replay-reward-rel-tolerance", "1e-07"),
    ]:
        start = text.index(option)
        shown = text[start : text.index("]", start) + 1]
        assert shown.endswith(f"[default: --config's, else {default}]"), (option, shown)


def test_help_defaults_are_the_settings_defaults() -> None:
    """The help's defaults are written in the CLI (it starts without numpy): they must agree."""
    from gridoracle.cli.oracle import SETTINGS_DEFAULTS
    from gridoracle.oracle.config import OracleConfig

    defaults = OracleConfig()
    for name, shown in SETTINGS_DEFAULTS.items():
        value = defaults.significant_digit if name == "reward_significant_digit" else None
        assert shown == str(getattr(defaults, name) if value is None else value), name


def test_an_unknown_config_key_warns_once(tmp_path: Path) -> None:
    """Item 10: one warning line for an unknown key of --config (it was logged and printed)."""
    config = tmp_path / "config.ini"
    config.write_text("[DEFAULT]\nmax_depth = 1\ndebug = 1\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridoracle.cli",
            "oracle",
            "--env",
            "l2rpn_case14_sandbox",
            "--chronic",
            "0",
            "--actions",
            str(tmp_path / "missing.json"),
            "--config",
            str(config),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if "debug" in line]
    assert len(lines) == 1 and lines[0].startswith("warning:"), done.stderr


@pytest.fixture(scope="module")
def foreign_vector_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A parser2 file whose vector has rte_case14_realistic's length (162), not sandbox's."""
    from gridoracle.grid import make_env

    env = make_env("l2rpn_case14_sandbox")
    try:
        vector = env.action_space({"set_bus": {"loads_id": [[0, 2]]}}).to_vect().tolist()
    finally:
        env.close()
    path = tmp_path_factory.mktemp("foreign") / "foreign.json"
    path.write_text(json.dumps({"sub": {"1": [{"set_configuration": vector[:162]}]}}))
    return path


@pytest.mark.parametrize("verb", [["oracle", "--chronic", "0"], ["actions", "show"]])
def test_a_vector_of_another_grid_is_one_line_exit_2(
    verb: list[str], foreign_vector_file: Path, tmp_path: Path, capsys: Any
) -> None:
    """Item 8: ``oracle`` and ``actions show`` refuse it, naming the action and the asset."""
    args = [*verb, "--env", "l2rpn_case14_sandbox", "--actions", str(foreign_vector_file)]
    with pytest.raises(SystemExit) as info:
        main([*args, "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert "sub-1-0" in err and "substation 1" in err and "162 entries" in err, err
    assert not any(tmp_path.iterdir())
