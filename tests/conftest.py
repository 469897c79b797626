"""Shared pytest fixtures: environments are made once per session (making one costs ~1 s)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# gridoracle.grid is imported before anything else imports grid2op: it keeps grid2op's import-time
# warning about numba out of the test output.
from gridoracle.grid import GRID_CACHE_ENV, make_env

if TYPE_CHECKING:
    from grid2op.Environment import Environment

    from gridoracle.dataset import Dataset


def pytest_configure(config: pytest.Config) -> None:
    """The tests keep their grid cache (see ``gridoracle.grid``) in a folder of their own.

    They start cold, so both the cached and the uncached loading run, and they leave the user's
    ``~/.cache`` alone. A ``GRIDORACLE_GRID_CACHE`` already set (e.g. ``off``) is kept.
    """
    if GRID_CACHE_ENV not in os.environ:
        folder = tempfile.mkdtemp(prefix="gridoracle-test-grids-")
        os.environ[GRID_CACHE_ENV] = folder  # CLI subprocesses inherit it
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the folder holding pyproject.toml)."""
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def env_case14() -> Iterator[Environment]:
    """``l2rpn_case14_sandbox`` on lightsim2grid, seeded 0; shared: set_id + reset before use."""
    env = make_env("l2rpn_case14_sandbox", seed=0)
    yield env
    env.close()


@pytest.fixture(scope="session")
def env_rte14() -> Iterator[Environment]:
    """``rte_case14_realistic`` on lightsim2grid, seeded 0; shared: set_id + reset before use."""
    env = make_env("rte_case14_realistic", seed=0)
    yield env
    env.close()


def _case14_variants(
    tmp_path_factory: pytest.TempPathFactory, label: str, **options: Any
) -> Dataset:
    from gridoracle.dataset import load
    from gridoracle.pipelines.generate import GenerateRequest, generate

    config: dict[str, Any] = dict(chronics="0,1,2", max_steps=25, n_actions=10, targets="full",
                                  states="chronic", topologies=1, outages=1)  # fmt: skip
    config.update(options)
    report = generate(
        GenerateRequest("l2rpn_case14_sandbox", out=tmp_path_factory.mktemp(label), **config)
    )
    return load(report.path)


@pytest.fixture(scope="session")
def case14_variants(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """case14 chronic states 0-2 (25 steps), each also in 1 other topology and with 1 line out,
    10 actions, every line's rho (the topology models' tests)."""
    return _case14_variants(tmp_path_factory, "variants")


@pytest.fixture(scope="session")
def case14_variants_wider(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The states of ``case14_variants``' chronics and steps, each in 2 other topologies drawn
    from a pool of 2 combinations a chronic: other training data for the same states."""
    return _case14_variants(tmp_path_factory, "wider", topologies=2, variant_pool=2)
