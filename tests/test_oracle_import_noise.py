"""Importing the Oracle's and the engines' modules prints nothing, whatever comes first.

grid2op warns at import time that numba cannot be loaded; gridoracle.grid imports it under a
guard. Each import runs in a fresh interpreter with every warning shown (``-W default``), so the
warning would be seen if any of these modules imported grid2op before the guard.
"""

from __future__ import annotations

import os
import subprocess
import sys

MODULES = (
    "gridoracle.oracle.sim.replay",  # and agents, episode: all of oracle.sim
    "gridoracle.pipelines.oracle",  # imports gridoracle.engine first
    "gridoracle.engine.batched",  # lightsim2grid imports grid2op
    "gridoracle.engine.unitary",
)


def test_importing_an_oracle_module_first_prints_nothing():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    procs = {
        module: subprocess.Popen(
            [sys.executable, "-W", "default", "-c", f"import {module}; import grid2op"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for module in MODULES
    }
    for module, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert out == "" and err == "", f"import {module} printed: {err or out}"


def test_the_warning_is_there_to_be_silenced():
    # the check above can fail: imported on its own, grid2op prints the warning (numba is not
    # installed here); if numba ever is, there is nothing to silence and this is skipped
    import importlib.util

    import pytest

    if importlib.util.find_spec("numba") is not None:
        pytest.skip("numba is installed: grid2op does not warn")
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import grid2op.Backend.pandaPowerBackend"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Numba cannot be loaded" in done.stderr
