"""The Oracle pipeline, steps 0 to 6, and what it writes: ``gridoracle oracle``.

:func:`run_oracle` takes an :class:`OracleRequest`, a :class:`~gridoracle.parallel.Backend` (where
the reward table's chunks are solved; the rest runs here) and a
:class:`~gridoracle.progress.Progress` (a ``stage`` per Oracle step, ``advance`` per chunk of the
reward table).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gridoracle.oracle.config import OracleConfig, read_config
from gridoracle.oracle.pipeline import OracleReport
from gridoracle.parallel import SERIAL, Backend
from gridoracle.progress import SILENT, Progress

__all__ = ["OracleConfig", "OracleReport", "OracleRequest", "read_config", "run_oracle"]


@dataclass(frozen=True)
class OracleRequest:
    """What the Oracle runs on (see :func:`run_oracle`).

    Attributes
    ----------
    env : str
        Environment name or folder.
    chronic : int or str
        Chronic index or name (one).
    actions_file : Path
        Unitary actions in any of Oracle4Grid's three formats.
    settings : OracleConfig
        Oracle4Grid's settings (max_depth, max_iter, best_path_type, ...).
    out : Path, optional
        Root of the outputs; default ``settings.output_path`` or ``results/oracle``.
    seed : int, optional
        Environment seed of every run.
    reward : {"oracle", "l2rpn"}
        The reward of the table.
    export_graph : bool
        Also write Oracle4Grid's graph (GraphML) and edge_list.csv (builds the networkx graph).
    replay : bool
        Replay both paths under real rules (step 6).
    resume : bool
        Keep every finished chunk of the reward table in ``<folder>/.cache`` and reuse those of
        the same inputs (False: solve everything again).
    """

    env: str
    chronic: str | int
    actions_file: Path
    settings: OracleConfig
    out: Path | None = None
    seed: int | None = 0
    reward: str = "oracle"
    export_graph: bool = False
    replay: bool = True
    resume: bool = True


def run_oracle(
    request: OracleRequest, backend: Backend = SERIAL, progress: Progress = SILENT
) -> OracleReport:
    """Run the Oracle (steps 0-6) and write its outputs.

    ``backend`` solves the reward table (step 2); a serial backend uses
    ``settings.nb_process`` local processes, as Oracle4Grid's ``nb_process`` does.
    """
    from gridoracle.oracle.pipeline import run_oracle as _run_oracle

    return _run_oracle(
        request.env,
        request.chronic,
        request.actions_file,
        request.settings,
        out=request.out,
        seed=request.seed,
        reward=request.reward,
        export_graph=request.export_graph,
        do_replay=request.replay,
        progress=progress.stage,
        scheduler=backend.scheduler,
        dask_workers=backend.dask_workers,
        resume=request.resume,
    )
