"""parallel.py: the Backend, map_units on each backend, workers that die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from gridoracle.errors import InvalidOption
from gridoracle.parallel import SERIAL, Backend, map_units, prime_worker_state, worker_state


def test_backend_from_options():
    assert Backend.from_options(workers=1) == SERIAL
    assert Backend.from_options(workers=3) == Backend("processes", workers=3)
    assert Backend.from_options(dask_workers=2).describe() == "a Dask LocalCluster of 2 processes"
    dask = Backend.from_options(scheduler="tcp://10.0.0.1:8786")
    assert dask.is_dask and not dask.is_local and dask.scheduler == "tcp://10.0.0.1:8786"
    assert Backend.from_options(scheduler="tcp://[::1]:8786").scheduler == "tcp://[::1]:8786"


@pytest.mark.parametrize(
    ("options", "param", "text"),
    [
        ({"workers": 0}, "workers", "workers 0: must be at least 1"),
        ({"dask_workers": 0}, "dask_workers", "dask_workers 0: must be at least 1"),
        ({"scheduler": "foo"}, "scheduler", "scheduler foo: not a scheduler address"),
        ({"scheduler": "tcp://host"}, "scheduler", "expected tcp://HOST:PORT"),
        ({"scheduler": "tcp://h:1", "dask_workers": 2}, "scheduler", "not both"),
    ],
)
def test_bad_options_name_their_parameter(options, param, text):
    with pytest.raises(InvalidOption, match=text) as info:
        Backend.from_options(**options)
    assert info.value.param == param


def test_map_units_gives_every_result_on_each_local_backend():
    units = list(range(-7, 0))
    for backend in (
        SERIAL,
        Backend("processes", workers=2),
        Backend("processes", 2, None, None, "spawn"),
    ):
        assert dict(map_units(abs, units, backend)) == {u: -u for u in units}


def test_worker_state_keeps_one_object_per_process():
    built: list[str] = []

    def build(name: str) -> str:
        built.append(name)
        return name.upper()

    assert worker_state(("t", "a"), lambda: build("a")) == "A"
    assert worker_state(("t", "a"), lambda: build("a")) == "A"
    assert worker_state(("t", "b"), lambda: build("b")) == "B"
    assert built == ["a", "b"]
    prime_worker_state(("t", "c"), "primed")
    assert worker_state(("t", "c"), lambda: build("c")) == "primed"


_SLEEPING_POOL = textwrap.dedent(
    """
    import time
    from gridoracle.parallel import Backend, map_units
    for _ in map_units(time.sleep, [60.0, 60.0], Backend("processes", workers=2)):
        pass
    """
)


def test_local_workers_end_when_their_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", _SLEEPING_POOL])
    try:
        proc = psutil.Process(parent.pid)
        deadline = time.monotonic() + 60
        children: list[psutil.Process] = []
        while time.monotonic() < deadline:
            children = [c for c in proc.children() if c.is_running()]
            if len(children) >= 2:
                break
            time.sleep(0.2)
        assert len(children) >= 2, "the pool's workers never started"
        time.sleep(1.0)  # let them reach their unit
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], f"workers outlived their killed parent: {[p.pid for p in alive]}"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_dask_keeps_its_info_lines_to_itself():
    code = textwrap.dedent(
        """
        import logging
        logging.basicConfig(level=logging.INFO)
        from gridoracle.parallel import Backend, map_units
        print(sorted(r for _, r in map_units(abs, [-1, -2], Backend.from_options(dask_workers=1))))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[1, 2]"
    assert "distributed" not in done.stderr, done.stderr


def test_a_local_cluster_that_does_not_start_names_dask_workers(monkeypatch):
    import distributed

    def refuse(*args, **kwargs):
        raise OSError("no port free")

    monkeypatch.setattr(distributed, "LocalCluster", refuse)
    with pytest.raises(InvalidOption, match="dask_workers 2: the local Dask cluster") as info:
        list(map_units(abs, [-1, -2], Backend.from_options(dask_workers=2)))
    assert info.value.param == "dask_workers" and "None" not in str(info.value)


def test_check_reachable_refuses_an_unreachable_scheduler():
    from gridoracle.parallel import check_reachable

    check_reachable(SERIAL)  # nothing to reach
    with pytest.raises(InvalidOption, match=r"scheduler tcp://127\.0\.0\.1:9: cannot connect"):
        check_reachable(Backend.from_options(scheduler="tcp://127.0.0.1:9"))
