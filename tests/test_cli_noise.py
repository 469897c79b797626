"""A user sees only gridoracle's own lines: no third-party warnings or logs (issue 12, item 10).

Each command runs in a fresh interpreter, as a user runs it, so that import-time warnings
(pandapower's "Numba cannot be loaded", printed when grid2op is imported) are seen.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ORACLE_ACTIONS = EXAMPLES / "actions" / "l2rpn_case14_sandbox" / "reference.json"


def _gridoracle(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    return subprocess.run(
        [sys.executable, "-m", "gridoracle.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


def _foreign_lines(stderr: str) -> list[str]:
    """Lines of stderr that gridoracle did not write (its own: errors, warnings, its tables)."""
    ours = ("error:", "warning:", "interrupted")
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(ours)]


@pytest.mark.parametrize(
    "args",
    [
        ["oracle", "--env", "l2rpn_case14_sandbox", "--chronic", "0", "--actions", "nope.json"],
        ["generate", "--env", "l2rpn_case14_sandbox", "--actions", "0", "--out", "data"],
        ["actions", "--env", "l2rpn_case14_sandbox", "--busiest", "0", "--out", "a.json"],
        # issue 12, item 3: an address without a port was a traceback with exit 1
        ["generate", "--scheduler", "foo", "--actions", "3", "--out", "data"],
        [
            "oracle",
            "--env",
            "l2rpn_case14_sandbox",
            "--chronic",
            "0",
            "--scheduler",
            "foo",
            "--actions",
            str(ORACLE_ACTIONS),
        ],
    ],
    ids=[
        "oracle-missing-file",
        "generate-zero-actions",
        "actions-zero-busiest",
        "generate-scheduler-without-port",
        "oracle-scheduler-without-port",
    ],
)
def test_a_bad_input_prints_one_line_of_gridoracle_and_nothing_else(args, tmp_path):
    done = _gridoracle(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and done.stderr.strip().count("\n") == 0, done.stderr


def test_an_oracle_output_that_cannot_be_written_fails_before_any_work(tmp_path):
    # issue 12, item 3: oracle --out on an unwritable folder was a traceback after the whole run;
    # a file where the folder is expected is unwritable for root too
    (tmp_path / "afile").write_text("x")
    done = _gridoracle(
        *["oracle", "--env", "l2rpn_case14_sandbox", "--chronic", "0"],
        *["--actions", str(ORACLE_ACTIONS), "--max-iter", "5"],
        *["--out", str(tmp_path / "afile" / "out"), "--quiet"],
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: cannot write the Oracle's outputs in ")
    assert done.stderr.strip().count("\n") == 0


@pytest.mark.parametrize(
    "args",
    [
        [
            *["generate", "--env", "l2rpn_case14_sandbox", "--chronics", "0", "--max-steps", "3"],
            *["--actions", "3", "--dask-workers", "1", "--out", "data", "--quiet"],
        ],
        [
            *["oracle", "--env", "l2rpn_case14_sandbox", "--chronic", "0"],
            *["--actions", str(ORACLE_ACTIONS), "--max-iter", "5", "--out", "oracle", "--quiet"],
        ],
    ],
    ids=["generate-on-dask", "oracle"],
)
def test_a_successful_run_prints_no_line_of_another_package(args, tmp_path):
    # Dask's INFO lines, pandapower's Numba warning
    done = _gridoracle(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _foreign_lines(done.stderr) == []


def test_a_ctrl_c_while_the_summary_of_a_complete_dataset_prints_exits_0(tmp_path, monkeypatch):
    # issue 12, item 12: a SIGINT just after the run finished exited 130 for a complete dataset
    import signal

    from gridoracle.cli import data as data_cli
    from gridoracle.cli import main

    shown = data_cli.render.generate_report

    def interrupted_summary(report):
        os.kill(os.getpid(), signal.SIGINT)
        shown(report)

    monkeypatch.setattr(data_cli.render, "generate_report", interrupted_summary)
    args = ["generate", "--env", "l2rpn_case14_sandbox", "--chronics", "0", "--max-steps", "2"]
    args += ["--actions", "2", "--workers", "1", "--out", str(tmp_path / "data"), "--quiet"]
    # Python's own handler, as in a terminal (a test run started in the background, nohup or
    # &, inherits SIGINT ignored, and the os.kill above would then do nothing)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        try:
            main(args)
        except SystemExit as exc:
            assert exc.code in (0, None)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(
    "command",
    [["actions"], ["actions", "show"], ["generate"], ["oracle"], ["run"], ["plot"], ["train"]],
    ids=lambda c: "-".join(c),
)
def test_the_example_files_of_every_help_exist(command, capsys):
    # issue 12, item 12: `actions show --help` named reference.json, which is nowhere
    import re

    from gridoracle.cli import main

    try:
        main([*command, "--help"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    text = " ".join(capsys.readouterr().out.split())
    files = re.findall(r"(examples/\S+?\.(?:json|ini|toml))", text)
    missing = [f for f in files if not (EXAMPLES.parent / f).is_file()]
    assert missing == []
    if command == ["actions", "show"]:
        assert files, "the example names its action file"


def test_a_ctrl_c_during_teardown_after_the_script_finished_is_ignored():
    # issue 12, item 12: a SIGINT while Python tears down, after the command finished (atexit
    # handlers, Dask and grid2op cleanup), printed a KeyboardInterrupt traceback
    code = (
        "import atexit, os, signal, sys\n"
        "sys.argv = ['gridoracle', 'envs']\n"
        "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
        "from gridoracle.cli import main\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "KeyboardInterrupt" not in done.stderr and done.stderr == "", done.stderr
