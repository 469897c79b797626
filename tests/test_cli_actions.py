"""`gridoracle actions`: writes the catalogue; bad input is one line and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gridoracle.actions import load_catalogue
from gridoracle.cli import main
from gridoracle.grid import make_env

CASE14 = "l2rpn_case14_sandbox"
SCRIPT = Path(sys.executable).with_name("gridoracle")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def env14():
    env = make_env(CASE14)
    yield env
    env.close()


def test_writes_a_sampled_catalogue_deterministically(tmp_path, capsys, env14):
    out = tmp_path / "actions.json"
    args = ["actions", "--env", CASE14, "--kind", "topology", "--limit", "11", "--seed", "3"]
    code, stdout, stderr = run([*args, "--out", str(out)], capsys)
    assert code == 0, stderr
    assert stdout.strip() == (
        f"wrote 11 of 179 actions (1 donothing, 10 topology) for {CASE14} to {out}"
    )
    actions = load_catalogue(out, env14)
    assert [a.name for a in actions][0] == "donothing" and len(actions) == 11
    first = out.read_bytes()
    data = json.loads(first)
    assert data["env"] == CASE14
    assert data["extra"] == {"available": 179, "kind": "topology", "limit": 11, "seed": 3}

    code, _, _ = run([*args, "--out", str(out)], capsys)  # again: same bytes
    assert code == 0 and out.read_bytes() == first
    other = tmp_path / "other.json"
    code, _, _ = run([*args[:-1], "4", "--out", str(other)], capsys)
    assert code == 0
    assert [a.name for a in load_catalogue(other, env14)] != [a.name for a in actions]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_writes_every_action_of_kind_all(tmp_path, capsys, env14):
    out = tmp_path / "all.json"
    code, stdout, _ = run(["actions", "--env", CASE14, "--kind", "all", "--out", str(out)], capsys)
    assert code == 0
    assert "wrote 219 actions (1 donothing, 178 topology, 20 line_off, 20 line_on)" in stdout
    assert len(load_catalogue(out, env14)) == 219


def _assert_one_line_error(code: int, stderr: str, *words: str) -> None:
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--kind", "lines"], ["--kind", "'lines'"]),
        (["--limit", "0"], ["--limit", "at least 1"]),
        (["--limit", "-3"], ["--limit"]),
        (["--seed", "-1"], ["--seed"]),
    ],
    ids=["kind", "limit-0", "limit-negative", "seed"],
)
def test_bad_options(tmp_path, capsys, extra, words):
    out = tmp_path / "a.json"
    code, _, err = run(["actions", "--env", CASE14, *extra, "--out", str(out)], capsys)
    _assert_one_line_error(code, err, *words)
    assert not out.exists()


def test_unwritable_outputs(tmp_path, capsys):
    afile = tmp_path / "file"
    afile.write_text("x")
    cases = [
        (Path("/nonexistent-gridoracle-root") / "sub" / "a.json", "does not exist"),
        (tmp_path / "missing" / "a.json", "does not exist"),
        (tmp_path, "is a folder"),
        (afile / "a.json", "not a folder"),
    ]
    for out, words in cases:
        code, _, err = run(["actions", "--env", CASE14, "--out", str(out)], capsys)
        _assert_one_line_error(code, err, str(out), words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_read_only_folder(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    if os.geteuid() == 0:  # root may write anyway: the code asks os.access, so answer as for a user
        real_access = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode, **kw: Path(p) != folder and real_access(p, mode, **kw)
        )
    try:
        code, _, err = run(["actions", "--env", CASE14, "--out", str(folder / "a.json")], capsys)
        _assert_one_line_error(code, err, "not writable")
    finally:
        folder.chmod(0o700)


def test_missing_options_and_unknown_env(tmp_path, capsys):
    code, _, err = run(["actions", "--out", str(tmp_path / "a.json")], capsys)
    _assert_one_line_error(code, err, "--env")
    code, _, err = run(["actions", "--env", CASE14], capsys)
    _assert_one_line_error(code, err, "--out")
    code, _, err = run(
        ["actions", "--env", "no_such_env", "--out", str(tmp_path / "a.json")], capsys
    )
    _assert_one_line_error(code, err, "no_such_env")
    assert not (tmp_path / "a.json").exists()


def test_help_has_an_example(capsys):
    code, out, _ = run(["actions", "--help"], capsys)
    assert code == 0
    assert "Example: gridoracle actions --env" in out
    for option in ("--env", "--kind", "--limit", "--seed", "--out"):
        assert option in out


@pytest.mark.skipif(not SCRIPT.exists(), reason="gridoracle script not installed next to python")
def test_installed_script_reports_errors_in_one_line(tmp_path):
    proc = subprocess.run(
        [
            str(SCRIPT),
            "actions",
            "--env",
            CASE14,
            "--limit",
            "0",
            "--out",
            str(tmp_path / "a.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --limit must be at least 1, got 0"
    assert proc.stdout == ""
