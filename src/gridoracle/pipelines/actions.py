"""Action catalogues and drawings: ``gridoracle actions`` and ``gridoracle actions show``.

:func:`write_catalogue` takes a :class:`CatalogueRequest` (the grid, the file to write and a
:class:`~gridoracle.actions.strategies.Selection`, whose making checks the options), makes the
environment, chooses the actions (:func:`~gridoracle.actions.strategies.choose_actions`) and
saves them.
:func:`show_actions` takes a :class:`ShowRequest` and draws each unitary action of an Oracle4Grid
file on the grid (:func:`gridoracle.actions.show.show_actions`). Both check their options before
the environment is loaded, and close it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gridoracle.actions.strategies import Selection, parse_ids
from gridoracle.progress import SILENT, Progress

if TYPE_CHECKING:
    from gridoracle.actions.effects import DistinctActions
    from gridoracle.actions.model import CatalogueAction
    from gridoracle.actions.show import ShownAction

__all__ = [
    "CatalogueReport",
    "CatalogueRequest",
    "Selection",
    "ShowReport",
    "ShowRequest",
    "parse_ids",
    "show_actions",
    "write_catalogue",
]


@dataclass(frozen=True)
class CatalogueRequest:
    """The catalogue to write (see :func:`write_catalogue`).

    Attributes
    ----------
    env : str
        The grid: an environment name (see ``gridoracle envs``) or folder.
    out : Path
        Catalogue file to write (JSON, replaced atomically); its folder must exist.
    selection : Selection
        What to choose from and how (checked when made; the default: every unitary topology).
    """

    env: str
    out: Path
    selection: Selection = field(default_factory=Selection)


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
    distinct : DistinctActions, optional
        With the selection's ``distinct``: the no-op actions left out and each group of actions
        of identical effect merged (kept name, names left out).
    """

    path: Path
    actions: list[CatalogueAction]
    available: int
    counts: dict[str, int]
    env_label: str
    distinct: DistinctActions | None = None


def write_catalogue(request: CatalogueRequest, progress: Progress = SILENT) -> CatalogueReport:
    """Choose the actions of ``request`` on its grid and write them to ``request.out``.

    The options and the output file are checked before the environment is loaded. The file's
    ``extra`` records the options, the source file's format and hash, and the size of the
    catalogue chosen from. Same request, same file, byte for byte.

    Raises
    ------
    InvalidOption
        A substation out of the grid (the error's ``param`` names it).
    OutputError
        An output file that cannot be written.
    EnvironmentNotFound, ActionFileError
        An unknown environment, an unreadable ``from_file``.
    """
    from gridoracle.actions import check_output_file, choose_actions, count_kinds, save_catalogue
    from gridoracle.grid import env_label, make_env

    out = check_output_file(request.out)  # fail before the environment is loaded
    progress.stage(f"loading {request.env}")
    environment = make_env(request.env)
    try:
        progress.stage("choosing the actions")
        chosen = choose_actions(request.selection, environment)
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
        distinct=chosen.distinct,
    )


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
