"""Action catalogues and drawings: ``gridoracle actions`` and ``gridoracle actions show``.

:func:`write_catalogue` takes a :class:`CatalogueRequest` (the grid, the file to write and the
options of :class:`~gridoracle.actions.strategies.Selection`), makes the environment, chooses the
actions (:func:`~gridoracle.actions.strategies.choose_actions`) and saves them.
:func:`show_actions` takes a :class:`ShowRequest` and draws each unitary action of an Oracle4Grid
file on the grid (:func:`gridoracle.actions.show.show_actions`). Both check their options before
the environment is loaded, and close it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gridoracle.progress import SILENT, Progress

if TYPE_CHECKING:
    from gridoracle.actions.model import CatalogueAction
    from gridoracle.actions.show import ShownAction

__all__ = [
    "CatalogueReport",
    "CatalogueRequest",
    "ShowReport",
    "ShowRequest",
    "show_actions",
    "write_catalogue",
]


@dataclass(frozen=True)
class CatalogueRequest:
    """The catalogue to write (see :func:`write_catalogue`).

    Attributes
    ----------
    env : str
        Environment name (see ``gridoracle envs``) or folder.
    out : Path
        Catalogue file to write (JSON, replaced atomically); its folder must exist.
    kind : {"topology", "line", "all"}, optional
        Default: ``topology``, or every action of ``from_file``.
    substations : str or sequence of int, optional
        Substation ids, or their list as text (``"4,5,11"``).
    busiest, per_substation, most_lines, limit : int, optional
        See :func:`gridoracle.actions.strategies.select_actions`.
    seed : int
        Seed of the ``per_substation`` and ``limit`` draws.
    from_file : Path, optional
        Start from the actions of this file instead of the grid's catalogue.
    """

    env: str
    out: Path
    kind: str | None = None
    substations: str | Sequence[int] | None = None
    busiest: int | None = None
    per_substation: int | None = None
    most_lines: int | None = None
    limit: int | None = None
    seed: int = 0
    from_file: Path | None = None


@dataclass(frozen=True)
class CatalogueReport:
    """What :func:`write_catalogue` wrote.

    Attributes
    ----------
    path : Path
        The catalogue file.
    actions : list of CatalogueAction
        The actions written, ``donothing`` first.
    available : int
        Size of the catalogue they were chosen from.
    counts : dict of str to int
        Number of actions of each kind (kinds with none left out).
    env_label : str
        The environment's label, as the file records it.
    """

    path: Path
    actions: list[CatalogueAction]
    available: int
    counts: dict[str, int]
    env_label: str


def write_catalogue(request: CatalogueRequest, progress: Progress = SILENT) -> CatalogueReport:
    """Choose the actions of ``request`` on its grid and write them to ``request.out``.

    The options and the output file are checked before the environment is loaded. The file's
    ``extra`` records the options, the source file's format and hash, and the size of the
    catalogue chosen from. Same request, same file, byte for byte.

    Raises
    ------
    InvalidOption
        An option out of its range (the error's ``param`` names it).
    OutputError
        An output file that cannot be written.
    EnvironmentNotFound, ActionFileError
        An unknown environment, an unreadable ``from_file``.
    """
    from gridoracle.actions import (
        Selection,
        check_output_file,
        choose_actions,
        count_kinds,
        save_catalogue,
    )
    from gridoracle.grid import env_label, make_env

    selection = Selection(
        kind=request.kind,  # type: ignore[arg-type]  # Selection checks it
        substations=_substation_ids(request.substations),
        busiest=request.busiest,
        per_substation=request.per_substation,
        most_lines=request.most_lines,
        limit=request.limit,
        seed=request.seed,
        from_file=request.from_file,
    )
    out = check_output_file(request.out)  # fail before the environment is loaded
    progress.stage(f"loading {request.env}")
    environment = make_env(request.env)
    try:
        progress.stage("choosing the actions")
        chosen = choose_actions(selection, environment)
        label = env_label(request.env)
        save_catalogue(out, chosen.actions, env_name=label, grid=environment, extra=chosen.extra)
    finally:
        environment.close()
    return CatalogueReport(
        path=out,
        actions=chosen.actions,
        available=chosen.available,
        counts=count_kinds(chosen.actions),
        env_label=label,
    )


def _substation_ids(substations: str | Sequence[int] | None) -> tuple[int, ...] | None:
    """Substation ids given as ids or as the text of a list (``"4,5,11"``)."""
    from gridoracle.actions import parse_ids

    if isinstance(substations, str):
        return parse_ids(substations)
    return None if substations is None else tuple(substations)


@dataclass(frozen=True)
class ShowRequest:
    """The unitary actions to draw (see :func:`show_actions`).

    Attributes
    ----------
    env : str
        Environment name or folder.
    actions_file : Path
        Unitary actions in any of Oracle4Grid's three formats.
    out : Path, optional
        Folder of the drawings; default ``results/actions_show/<actions file stem>``.
    chronic : int or str
        Chronic index or name whose first observation is used.
    seed : int, optional
        Seed of the environment's reset.
    """

    env: str
    actions_file: Path
    out: Path | None = None
    chronic: int | str = 0
    seed: int | None = 0


@dataclass(frozen=True)
class ShowReport:
    """What :func:`show_actions` found and wrote.

    Attributes
    ----------
    records : list of ShownAction
        One per unitary action, in file order.
    folder : Path
        The folder of the drawings and of ``actions.csv``.
    """

    records: list[ShownAction]
    folder: Path


def show_actions(request: ShowRequest, progress: Progress = SILENT) -> ShowReport:
    """Judge and draw each unitary action of ``request.actions_file`` on its grid.

    ``progress`` gets a stage while the environment loads, then ``advance(done, total, name)``
    before each drawing.

    Raises
    ------
    EnvironmentNotFound, ActionFileError, InvalidOption, OutputError
        See :func:`gridoracle.actions.show.show_actions`.
    """
    from gridoracle.actions.show import default_out
    from gridoracle.actions.show import show_actions as _show_actions
    from gridoracle.grid import make_env

    folder = request.out if request.out is not None else default_out(request.actions_file)
    progress.stage("loading the environment")
    environment = make_env(request.env)
    try:
        records = _show_actions(
            environment,
            request.actions_file,
            out=folder,
            chronic=request.chronic,
            seed=request.seed,
            progress=progress,
        )
    finally:
        environment.close()
    return ShowReport(records=records, folder=folder)
