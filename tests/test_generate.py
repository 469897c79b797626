"""gridoracle generate: dataset content, cache, resume, corruption, determinism, workers, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataset_helpers import dataset_files as _files
from dataset_helpers import generate
from gridoracle.cli import main
from gridoracle.dataset import load
from gridoracle.errors import GridOracleError
from gridoracle.pipelines import generate as generate_module

SMALL = dict(
    env="l2rpn_case14_sandbox",
    chronics="0,1",
    max_steps=12,
    n_actions=10,
    chunk_actions=4,
    workers=1,
)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    return generate(out=out, **SMALL)


def test_dataset_content_matches_the_engine_and_grid2op(small):
    ds = load(small.path)
    assert len(ds) == 24 and sorted(set(ds.meta["chronic"])) == [0, 1]
    assert list(ds.meta["step"][:12]) == list(range(12))
    # 10 actions drawn, of which sub-8-0 (every element on bus 1) changes nothing: left out
    assert ds.Y.shape == (24, 9) and list(ds.Y.columns)[0] == "donothing"
    assert "sub-8-0" not in ds.Y.columns
    for prefix in (
        "gen_p_",
        "gen_q_",
        "gen_v_",
        "load_p_",
        "load_q_",
        "line_status_",
        "rho_",
        "topo_",
    ):
        assert any(c.startswith(prefix) for c in ds.X.columns), prefix
    for col in ("time_of_day", "day_of_week"):
        assert col in ds.X.columns
    # do nothing at horizon 0 leaves the state as it is: its max rho is the state's own max rho
    rho_cols = [c for c in ds.X.columns if c.startswith("rho_")]
    np.testing.assert_allclose(ds.Y["donothing"], ds.X[rho_cols].max(axis=1), atol=1e-4)
    # diverged / illegal pairs are NaN with a status, never 0
    bad = ds.status.to_numpy() != 0
    assert np.isnan(ds.Y.to_numpy()[bad]).all()
    assert not np.isnan(ds.Y.to_numpy()[~bad]).any()
    manifest = ds.manifest
    assert manifest["complete"] and manifest["config"]["horizon"] == 0
    assert {"gridoracle", "grid2op", "lightsim2grid"} <= set(manifest["versions"])
    summary = small.summary
    assert summary["rows"] == 24 and summary["actions"] == 9 and summary["pairs"] == 216
    assert summary["actions_requested"] == 10
    assert summary["distinct_actions"] == {"no_op": ["sub-8-0"], "merged": [], "cut_off": []}


def test_features_are_the_observation_values(small):
    from gridoracle.grid import make_env

    ds = load(small.path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_env("l2rpn_case14_sandbox")
    obs = env.reset(seed=0, options={"time serie id": 1})
    for _ in range(3):
        obs, *_ = env.step(env.action_space())
    row = ds.X[(ds.meta["chronic"] == 1) & (ds.meta["step"] == 3)].iloc[0]
    np.testing.assert_allclose([row[f"gen_p_{i}"] for i in range(env.n_gen)], obs.gen_p)
    np.testing.assert_allclose([row[f"load_q_{i}"] for i in range(env.n_load)], obs.load_q)
    np.testing.assert_allclose([row[f"rho_{i}"] for i in range(env.n_line)], obs.rho)
    assert [row[f"topo_{i}"] for i in range(env.dim_topo)] == list(obs.topo_vect)
    assert row["day_of_week"] == obs.day_of_week
    env.close()


def test_same_command_is_a_cache_hit_that_simulates_nothing(small, monkeypatch):
    def boom(unit):
        raise AssertionError("a cache hit must not simulate")

    monkeypatch.setattr(generate_module, "run_unit", boom)
    again = generate(out=small.path.parent, **SMALL)
    assert again.cache_hit and again.units_run == 0 and again.path == small.path
    assert again.summary == small.summary


def test_force_regenerates_identically_and_other_config_gets_its_own_folder(small, tmp_path):
    before = _files(small.path)
    forced = generate(out=small.path.parent, force=True, **SMALL)
    assert not forced.cache_hit and forced.units_run == 2 + 2 * 3
    assert _files(forced.path) == before
    other = generate(out=small.path.parent, **{**SMALL, "max_steps": 5})
    assert other.path != small.path and other.path.parent == small.path.parent


def test_workers_give_byte_identical_results(small, tmp_path):
    parallel = generate(out=tmp_path, **{**SMALL, "workers": 2})
    assert _files(parallel.path) == _files(small.path)


def test_corrupted_chunk_is_detected_and_regenerated(small, tmp_path, caplog):
    copy = generate(out=tmp_path, **SMALL)
    expected = _files(copy.path)
    chunk = sorted((copy.path / "targets").rglob("*.parquet"))[1]
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(GridOracleError):
        load(copy.path)
    with caplog.at_level("WARNING"):
        again = generate(out=tmp_path, **SMALL)
    assert not again.cache_hit and again.units_run == 1
    assert chunk.name in caplog.text
    assert _files(again.path) == expected


def test_full_targets_store_every_rho(tmp_path):
    report = generate(out=tmp_path, targets="full", **{**SMALL, "chronics": "0", "n_actions": 3})
    ds = load(report.path)
    assert ds.rho is not None
    for name in ds.Y.columns:
        rho = np.asarray(ds.rho[name], dtype=np.float64)
        assert rho.shape == (12, 20)
        ok = ds.status[name].to_numpy() == 0
        np.testing.assert_allclose(rho[ok].max(axis=1), ds.Y[name].to_numpy()[ok], atol=1e-5)


def test_horizon_one_and_reference_engine_agree_with_batched(tmp_path):
    common = {**SMALL, "chronics": "1", "max_steps": 6, "n_actions": 8}
    fast = load(generate(out=tmp_path, horizon=1, **common).path)
    slow = load(generate(out=tmp_path, horizon=1, engine="reference", **common).path)
    assert "fc_load_p_0" in fast.X.columns
    pd.testing.assert_frame_equal(fast.status, slow.status)
    np.testing.assert_allclose(fast.Y.to_numpy(), slow.Y.to_numpy(), atol=1e-4)


def _cli(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--env", "no_such_env"], "no_such_env"),
        (["--env", "/no/such/folder"], "/no/such/folder"),
        (["--chronics", "7"], "7"),
        (["--actions", "0"], "--actions"),
        (["--horizon", "3"], "--horizon"),
        (["--workers", "0"], "--workers"),
        (["--targets", "some"], "--targets"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, needle, capsys, tmp_path):
    base = ["generate", "--max-steps", "3", "--actions", "3", "--out", str(tmp_path), "--quiet"]
    code, _out, err = _cli(base + args, capsys)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err
    assert not list(tmp_path.rglob("manifest.json"))  # nothing that looks like a dataset


def test_bad_actions_file_and_unwritable_output(capsys, tmp_path):
    bad = tmp_path / "actions.json"
    bad.write_text("{not json")
    code, _, err = _cli(
        [
            "generate",
            "--max-steps",
            "3",
            "--actions-file",
            str(bad),
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ],
        capsys,
    )
    assert code == 2 and str(bad) in err and len(err.strip().splitlines()) == 1
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    code, _, err = _cli(
        [
            "generate",
            "--max-steps",
            "3",
            "--actions",
            "3",
            "--out",
            str(blocker / "sub"),
            "--quiet",
        ],
        capsys,
    )
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_generate_prints_the_summary(capsys, tmp_path):
    args = [
        "generate",
        "--chronics",
        "0",
        "--max-steps",
        "4",
        "--actions",
        "4",
        "--out",
        str(tmp_path),
        "--workers",
        "1",
        "--quiet",
    ]
    main(args)  # returns normally on success
    out = capsys.readouterr().out
    assert str(tmp_path) in out
    for needle in (
        "rows",
        "actions",
        "share of targets > 1.0",
        "game over",
        "wall time",
        "pairs per second",
    ):
        assert needle in out


def _generate_cmd(out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gridoracle.cli",
        "generate",
        "--env",
        "l2rpn_case14_sandbox",
        "--chronics",
        "0,1",
        "--max-steps",
        "10",
        "--actions",
        "12",
        "--chunk-actions",
        "2",
        "--engine",
        "reference",
        "--workers",
        "1",
        "--out",
        str(out),
        "--quiet",
    ]


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_run_resumes_to_identical_bytes(tmp_path, sig):
    """Kill a run once some chunks are done; the same command completes it, byte-identical."""
    whole = tmp_path / "whole"
    subprocess.run(_generate_cmd(whole), check=True, capture_output=True)
    (reference,) = [p.parent for p in whole.rglob("manifest.json")]
    cut = tmp_path / "cut"
    # SIGINT as a terminal delivers it: a test run started in the background (nohup, &) hands
    # its children SIGINT ignored, and Python then keeps it ignored
    proc = subprocess.Popen(
        _generate_cmd(cut),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_sigint_default,
    )
    deadline = time.monotonic() + 120
    registered = 0
    while time.monotonic() < deadline and proc.poll() is None:
        manifests = list(cut.rglob("manifest.json"))
        if manifests:
            try:
                registered = len(json.loads(manifests[0].read_text())["chunks"])
            except (json.JSONDecodeError, OSError):
                registered = 0
            if registered >= 4:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode != 0
    if sig == signal.SIGINT:
        assert "Traceback" not in err and "interrupted" in err
    (folder,) = [p.parent for p in cut.rglob("manifest.json")]
    assert not json.loads((folder / "manifest.json").read_text())["complete"]
    with pytest.raises(GridOracleError):
        load(folder)  # half a dataset never loads as if it were complete
    done = subprocess.run(_generate_cmd(cut), check=True, capture_output=True, text=True)
    assert "computed" in done.stdout
    assert _files(folder) == _files(reference)
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_non_tty_output_has_no_progress_bar(capsys, tmp_path):
    """Without a terminal the progress bar stays off (clean logs), even without --quiet."""
    main(
        [
            "generate",
            "--chronics",
            "0",
            "--max-steps",
            "3",
            "--actions",
            "3",
            "--out",
            str(tmp_path),
            "--workers",
            "1",
        ]
    )
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "pairs" in captured.out
