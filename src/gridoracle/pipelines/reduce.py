"""A reduced action catalogue from a dataset's targets: ``gridoracle actions reduce``.

:func:`reduce_catalogue` keeps the actions that are best, or within a margin of the best, in some
state of a dataset (a greedy set cover, see :mod:`gridoracle.models.reduce`; do nothing always
kept) and writes them as a catalogue file that ``gridoracle generate --actions-file`` reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gridoracle.dataset.reader import Dataset
from gridoracle.dataset.split import format_chronics
from gridoracle.errors import DatasetError, InvalidOption
from gridoracle.models.reduce import Reduction, reduce_actions
from gridoracle.models.train import as_dataset
from gridoracle.progress import SILENT, Progress

__all__ = ["ReduceReport", "ReduceRequest", "reduce_catalogue"]


@dataclass(frozen=True)
class ReduceRequest:
    """The catalogue to reduce (see :func:`reduce_catalogue`).

    Attributes
    ----------
    data : str, Path or Dataset
        A dataset whose actions and targets are used.
    out : Path
        Catalogue file to write (JSON, replaced atomically); its folder must exist.
    keep : int
        Actions to keep, do nothing included.
    margin : float
        An action covers a state when its max rho there is within this of the best.
    chronics : sequence of int, optional
        The chronics whose states are covered (e.g. the training chronics); default all.
    """

    data: str | Path | Dataset
    out: Path
    keep: int
    margin: float = 0.01
    chronics: Sequence[int] | None = None


@dataclass(frozen=True)
class ReduceReport:
    """What :func:`reduce_catalogue` wrote.

    Attributes
    ----------
    path : Path
        The catalogue file.
    reduction : Reduction
        The cover: kept actions (greedy order), coverage at each margin, regret of the best kept.
    available : int
        Actions of the dataset.
    keep : int
        Actions asked for (fewer are kept when they already hold each state's best action).
    chronics : list of int
        The chronics whose states were covered.
    env_label : str
    """

    path: Path
    reduction: Reduction
    available: int
    chronics: list[int]
    env_label: str
    keep: int


def _check(request: ReduceRequest) -> None:
    keep = request.keep
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise InvalidOption(f"keep {keep!r}: expected a positive integer", param="keep")
    margin = request.margin
    if not isinstance(margin, int | float) or not math.isfinite(margin) or margin < 0:
        raise InvalidOption(f"margin {margin!r}: expected a number >= 0", param="margin")


def reduce_catalogue(request: ReduceRequest, progress: Progress = SILENT) -> ReduceReport:
    """Keep ``request.keep`` actions of the dataset that cover its states; write the catalogue.

    The catalogue lists the kept actions in the dataset's order (do nothing first); its
    ``extra`` records the dataset, the options, the greedy order, the coverage and the regret.
    Same dataset and options, same file.

    Raises
    ------
    InvalidOption
        ``keep`` below 1 or above the dataset's actions, a negative margin, unknown chronics.
    DatasetError
        A missing dataset, or one whose states all diverged.
    OutputError
        An output file that cannot be written.
    """
    from gridoracle.actions import check_output_file, save_catalogue
    from gridoracle.actions.model import CatalogueAction
    from gridoracle.grid import env_label, make_env

    _check(request)
    out = check_output_file(request.out)  # before any work
    progress.stage("loading the dataset")
    ds = as_dataset(request.data)
    if request.keep > len(ds.action_names):
        raise InvalidOption(
            f"keep {request.keep}: dataset {ds.path} has {len(ds.action_names)} actions",
            param="keep",
        )
    if request.chronics is not None:
        wanted = sorted({int(c) for c in request.chronics})
        unknown = [c for c in wanted if c not in ds.chronics]
        if unknown or not wanted:
            raise InvalidOption(
                f"chronics {unknown or wanted} not in dataset {ds.path.name}: available "
                f"{format_chronics(ds.chronics)}",
                param="chronics",
            )
        ds = ds.select(ds.meta["chronic"].isin(wanted).to_numpy())
    progress.stage("covering the states")
    reduction = reduce_actions(
        ds.Y.to_numpy(dtype=np.float64), ds.action_names, request.keep, margin=request.margin
    )
    if reduction.states == 0:
        raise DatasetError(f"dataset {ds.path}: no state has an action that did not diverge")
    env = str((ds.manifest.get("config") or {}).get("env") or "")
    if not env:
        raise DatasetError(f"dataset {ds.path}: its manifest names no environment")
    chosen = set(reduction.kept)
    actions = [CatalogueAction.from_json(a) for j, a in enumerate(ds.actions) if j in chosen]
    extra = {
        "reduced_from": {
            "dataset": ds.path.name,
            "config_hash": ds.manifest.get("config_hash"),
            "chronics": ds.chronics,
            "actions": len(ds.action_names),
        },
        "keep": request.keep,
        **reduction.to_json(),
    }
    progress.stage(f"loading {env}")
    environment = make_env(env)
    try:
        label = env_label(env)
        save_catalogue(out, actions, env_name=label, grid=environment, extra=extra)
    finally:
        environment.close()
    return ReduceReport(
        path=out,
        reduction=reduction,
        available=len(ds.action_names),
        chronics=ds.chronics,
        env_label=label,
        keep=request.keep,
    )
