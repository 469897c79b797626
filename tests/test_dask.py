"""Dask execution of gridoracle generate: byte-identical to the serial run, and a worker killed
mid-run costs only its units."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from dataset_helpers import dataset_files as _files
from dataset_helpers import generate
from gridoracle.parallel import Backend

distributed = pytest.importorskip("distributed")

SMALL = dict(
    env="l2rpn_case14_sandbox",
    chronics="0,1",
    max_steps=10,
    n_actions=16,
    chunk_actions=2,
    engine="reference",
)


def _registered(root: Path) -> int:
    for manifest in root.rglob("manifest.json"):
        try:
            return len(json.loads(manifest.read_text())["chunks"])
        except (json.JSONDecodeError, OSError):
            return 0
    return 0


def test_cluster_run_is_identical_and_survives_a_killed_worker(tmp_path):
    serial = generate(out=tmp_path / "serial", workers=1, **SMALL)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    pids = list(client.run(os.getpid).values())
    killed: list[float] = []

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _registered(tmp_path / "dask") < 4:
            time.sleep(0.01)
        os.kill(pids[0], signal.SIGKILL)
        killed.append(time.monotonic())

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    try:
        killer.start()
        report = generate(out=tmp_path / "dask", scheduler=cluster.scheduler_address, **SMALL)
        finished = time.monotonic()
        killer.join(timeout=5)
    finally:
        client.close()
        cluster.close()
    assert killed and killed[0] < finished, "no worker was killed during the run"
    assert report.units_run == serial.units_run
    assert _files(report.path) == _files(serial.path)


def test_unreachable_scheduler_is_one_line(tmp_path, capsys):
    from gridoracle.cli import main

    with pytest.raises(SystemExit) as info:
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
                "--scheduler",
                "tcp://127.0.0.1:9",
                "--quiet",
            ]
        )
    err = capsys.readouterr().err
    assert info.value.code == 2 and "tcp://127.0.0.1:9" in err and "Traceback" not in err


def test_more_units_than_the_submission_window_all_come_back():
    from gridoracle.parallel import map_units

    units = list(range(-40, 0))  # the window is max(8, 4 x worker threads) = 8 here
    results = dict(map_units(abs, units, Backend.from_options(dask_workers=1)))
    assert results == {u: -u for u in units}


@pytest.mark.parametrize("command", ["generate", "oracle"])
def test_zero_dask_workers_is_one_line_naming_the_option(command, tmp_path, capsys):
    from gridoracle.cli import main

    args = {
        "generate": ["generate", "--actions", "3", "--out", str(tmp_path)],
        "oracle": ["oracle", "--env", "rte_case14_realistic", "--chronic", "0", "--actions", "x"],
    }[command]
    with pytest.raises(SystemExit) as info:
        main([*args, "--dask-workers", "0"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--dask-workers 0: must be at least 1" in err
    assert len(err.strip().splitlines()) == 1
