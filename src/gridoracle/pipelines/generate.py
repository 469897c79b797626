"""The action-outcome dataset pipeline: ``gridoracle generate``.

:func:`generate` takes a :class:`GenerateRequest` (what to generate), a
:class:`~gridoracle.parallel.Backend` (where the units run) and a
:class:`~gridoracle.progress.Progress` (``advance(pairs_done, pairs_total, "pairs")`` after each
unit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gridoracle.dataset.generate import GenerateReport
from gridoracle.parallel import SERIAL, Backend
from gridoracle.progress import SILENT, Progress

__all__ = ["GenerateReport", "GenerateRequest", "generate"]


@dataclass(frozen=True)
class GenerateRequest:
    """What to generate (see :func:`generate`).

    Attributes
    ----------
    env : str
        Environment name (see ``gridoracle envs``) or folder.
    chronics : str or sequence, optional
        ``"0,1,2"``, ``"0-2"``, ``"all"`` (default) or a list.
    max_steps : int
        States per chronic at most.
    horizon : {0, 1}
        0: same injections (``obs.simulate(a, time_step=0)``); 1: next-step forecast.
    n_actions, actions_file
        Sample this many actions of the catalogue, or read them from a catalogue file.
    seed : int
        Seed of resets and sampling.
    targets : {"max", "full"}
        Also store every line's rho with ``"full"``.
    engine : {"batched", "reference"}
        The fast lightsim2grid engine or grid2op's ``obs.simulate``.
    out : Path
        Root folder; the dataset goes to ``out/<env>-h<horizon>-<config hash>``.
    force : bool
        Regenerate even if a complete dataset exists.
    chunk_actions : int
        Actions per target chunk (the unit of work and of resumption).
    """

    env: str
    chronics: str | Sequence[int | str] | None = None
    max_steps: int = 575
    horizon: int = 0
    n_actions: int | None = 100
    actions_file: Path | None = None
    seed: int = 0
    targets: str = "max"
    engine: str = "batched"
    out: Path = Path("data")
    force: bool = False
    chunk_actions: int = 50


def generate(
    request: GenerateRequest, backend: Backend = SERIAL, progress: Progress = SILENT
) -> GenerateReport:
    """Generate (or reuse) the dataset of ``request`` under ``request.out``.

    Returns
    -------
    GenerateReport
        Where the dataset is, its summary, whether it was a cache hit, timings.
    """
    from gridoracle.dataset.generate import generate as _generate

    return _generate(
        request.env,
        chronics=request.chronics,
        max_steps=request.max_steps,
        horizon=request.horizon,
        n_actions=request.n_actions,
        actions_file=request.actions_file,
        seed=request.seed,
        targets=request.targets,
        engine=request.engine,
        out=request.out,
        force=request.force,
        workers=backend.workers if backend.is_local else None,
        chunk_actions=request.chunk_actions,
        scheduler=backend.scheduler,
        dask_workers=backend.dask_workers,
        progress=lambda done, total: progress.advance(done, total, "pairs"),
    )
