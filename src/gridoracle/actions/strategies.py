"""Choosing the candidate actions of a big grid: filters over an action catalogue.

The full catalogue of unitary substation topologies grows quickly with the grid (178 topologies on
``l2rpn_case14_sandbox``, tens of thousands on ``l2rpn_wcci_2022_dev``'s 118 substations).
:func:`select_actions` keeps a part of it, by composable filters applied in this order:

1. ``kind``: which kinds of actions to keep (``topology``, ``line`` or ``all``);
2. ``substations`` (or ``busiest``: the substations with the most elements): topology actions
   that act only on those substations, and line actions whose every line has an end at one of
   them;
3. ``per_substation``: at most K topology actions per substation, drawn with ``seed``;
4. ``most_lines``: the N topology actions that put the most powerline ends on a bus other than
   bus 1 (:func:`lines_moved`);
5. ``limit``: a draw of N actions with ``seed`` (:func:`~gridoracle.actions.enumerate.
   sample_actions`).

``donothing`` is never filtered out. The result keeps the catalogue's order. Steps 3 and 4 act on
topology actions only: line actions are kept as they are (they move no element between buses).

:func:`choose_actions` applies a checked :class:`Selection` (the options of ``gridoracle
actions``; with ``distinct``, first the distinct actions of
:func:`~gridoracle.actions.effects.distinct_actions`) to the grid's catalogue or to the actions of
a file
(:func:`~gridoracle.actions.source.load_action_source`: a gridoracle catalogue file or an
Oracle4Grid unitary-action file in any of its three formats), and records how they were chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gridoracle.actions.effects import DistinctActions, ReferenceTopology, distinct_actions
from gridoracle.actions.enumerate import ACTION_SETS, ActionSet, enumerate_actions, sample_actions
from gridoracle.actions.model import (
    DONOTHING,
    LINE_OFF,
    LINE_ON,
    SET_BUS_KEYS,
    TOPOLOGY,
    CatalogueAction,
    GridLayout,
)
from gridoracle.actions.source import ActionSource, load_action_source
from gridoracle.errors import InvalidOption

__all__ = [
    "ActionSource",
    "ChosenActions",
    "Selection",
    "busiest_substations",
    "choose_actions",
    "lines_moved",
    "load_action_source",
    "parse_ids",
    "select_actions",
]

# kinds kept by each value of ``kind``
_KINDS_OF: dict[str, tuple[str, ...]] = {
    "topology": (DONOTHING, TOPOLOGY),
    "line": (DONOTHING, LINE_OFF, LINE_ON),
    "all": (DONOTHING, TOPOLOGY, LINE_OFF, LINE_ON),
}
_LINE_END_KEYS = ("lines_or_id", "lines_ex_id")


# -- facts about one action ------------------------------------------------------------------------


def lines_moved(action: CatalogueAction) -> int:
    """Number of powerline ends the action sets on a bus other than bus 1 (bus >= 2).

    Counted in the action's ``set_bus`` dict as written: each origin or extremity of a line set to
    bus 2 (or higher) counts once; ends set to bus 1, disconnected (-1) or left unchanged do not
    count. Line status actions and ``donothing`` move no line end (0).

    Parameters
    ----------
    action : CatalogueAction
        The action.

    Returns
    -------
    int
    """
    set_bus = action.grid2op.get("set_bus") or {}
    return sum(1 for key in _LINE_END_KEYS for _, bus in set_bus.get(key, ()) if int(bus) >= 2)


def _substations_of(action: CatalogueAction, grid: GridLayout) -> tuple[int, ...]:
    """Substations where ``action`` sets a bus, sorted (empty for non-topology actions)."""
    set_bus = action.grid2op.get("set_bus") or {}
    subs = {grid.to_subid[key][int(el)] for key in SET_BUS_KEYS for el, _ in set_bus.get(key, ())}
    return tuple(sorted(subs))


def _lines_of(action: CatalogueAction) -> tuple[int, ...]:
    return tuple(sorted({int(line) for line, _ in action.grid2op.get("set_line_status", ())}))


# -- choosing substations --------------------------------------------------------------------------


def busiest_substations(grid: GridLayout | Any, n: int) -> tuple[int, ...]:
    """The ``n`` substations with the most elements (ties: the lower id first).

    Parameters
    ----------
    grid : GridLayout, environment or action space
        The grid.
    n : int
        How many substations, 1 .. number of substations.

    Returns
    -------
    tuple of int
        Substation ids, busiest first.

    Raises
    ------
    InvalidOption
        When ``n`` is out of 1 .. number of substations.
    """
    layout = GridLayout.of(grid)
    if not 1 <= n <= layout.n_sub:
        raise InvalidOption(
            f"busiest must be between 1 and {layout.n_sub} (the grid has {layout.n_sub} "
            f"substations), got {n}",
            param="busiest",
        )
    ranked = sorted(range(layout.n_sub), key=lambda sub: (-layout.sub_sizes[sub], sub))
    return tuple(ranked[:n])


def parse_ids(text: str, option: str = "substations") -> tuple[int, ...]:
    """Read a comma-separated list of ids, such as ``"4,5,11"``.

    Parameters
    ----------
    text : str
        The list; spaces around the ids are allowed, a repeated id is kept once.
    option : str
        The parameter the list is given as: errors lead with it and carry it as their ``param``.

    Returns
    -------
    tuple of int
        The ids, in increasing order.

    Raises
    ------
    InvalidOption
        When the text is empty or holds something other than non-negative integers.

    Examples
    --------
    >>> parse_ids(" 11, 4 ,4")
    (4, 11)
    """
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise InvalidOption(f"{option} is empty: give substation ids such as 4,5,11", param=option)
    ids: set[int] = set()
    for part in parts:
        if not part.isascii() or not part.isdigit():
            raise InvalidOption(
                f"{option} {text!r}: {part!r} is not a substation id "
                "(give non-negative integers separated by commas, such as 4,5,11)",
                param=option,
            )
        ids.add(int(part))
    return tuple(sorted(ids))


def _check_substations(substations: Iterable[int], layout: GridLayout) -> tuple[int, ...]:
    ids = tuple(sorted({int(s) for s in substations}))
    if not ids:
        raise InvalidOption(
            "substations is empty: give substation ids such as 4,5,11", param="substations"
        )
    for sub in ids:
        if not 0 <= sub < layout.n_sub:
            raise InvalidOption(
                f"substations: substation {sub} does not exist (the grid has {layout.n_sub} "
                f"substations, 0 to {layout.n_sub - 1})",
                param="substations",
            )
    return ids


# -- the selection ---------------------------------------------------------------------------------


def select_actions(
    actions: Sequence[CatalogueAction],
    grid: GridLayout | Any,
    *,
    kind: ActionSet | None = None,
    substations: Iterable[int] | None = None,
    busiest: int | None = None,
    per_substation: int | None = None,
    most_lines: int | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> list[CatalogueAction]:
    """Keep a part of an action catalogue, by composable filters (see the module doc).

    Every filter left at ``None`` keeps everything. ``donothing`` is always kept, and the result
    is in the catalogue's order. Same inputs, same result.

    Parameters
    ----------
    actions : sequence of CatalogueAction
        The catalogue to choose from (e.g. :func:`~gridoracle.actions.enumerate.enumerate_actions`
        or :attr:`ActionSource.actions`).
    grid : GridLayout, environment or action space
        The grid the actions are for (to know the substation of each element).
    kind : {"topology", "line", "all"}, optional
        Keep only topology actions, only line status actions (``line_off``, ``line_on``), or all.
    substations : iterable of int, optional
        Keep the topology actions that act only on these substations, and the line actions whose
        every line has an end (origin or extremity) at one of them.
    busiest : int, optional
        As ``substations`` with the ``busiest`` substations of most elements
        (:func:`busiest_substations`). Not with ``substations``.
    per_substation : int, optional
        Keep at most this many topology actions per substation: where a substation has more, they
        are drawn without replacement with ``numpy.random.default_rng(seed)``, substations taken
        by increasing id (a topology acting on several substations counts for that group of
        substations). Line actions are not affected.
    most_lines : int, optional
        Keep the ``most_lines`` topology actions with the largest :func:`lines_moved` (ties:
        catalogue order). Line actions are not affected.
    limit : int, optional
        Then keep this many actions in all, ``donothing`` included, drawn with ``seed``
        (:func:`~gridoracle.actions.enumerate.sample_actions`).
    seed : int
        Seed of the ``per_substation`` and ``limit`` draws (>= 0); each draw starts its own
        generator from it.

    Returns
    -------
    list of CatalogueAction
        The actions kept, in the catalogue's order.

    Raises
    ------
    InvalidOption
        One line leading with the parameter's name (the error's ``param``): ``substations`` and
        ``busiest`` together, a substation id out of range, ``busiest`` out of 1 .. number of
        substations, a count below 1, a negative seed, an unknown kind.
    """
    subs = None if substations is None else tuple(substations)
    # Selection's fields, in their order
    selection = Selection(kind, subs, busiest, per_substation, most_lines, limit, seed)
    return _apply(actions, GridLayout.of(grid), selection)


def _apply(
    actions: Sequence[CatalogueAction], layout: GridLayout, selection: Selection
) -> list[CatalogueAction]:
    """The filters of :func:`select_actions`, in order, on a checked selection."""
    chosen_subs: tuple[int, ...] | None = None
    if selection.substations is not None:
        chosen_subs = _check_substations(selection.substations, layout)
    elif selection.busiest is not None:
        chosen_subs = busiest_substations(layout, selection.busiest)

    out = list(actions)
    if selection.kind is not None:
        kept_kinds = _KINDS_OF[selection.kind]
        out = [a for a in out if a.kind in kept_kinds]
    if chosen_subs is not None:
        out = _at_substations(out, layout, set(chosen_subs))
    if selection.per_substation is not None:
        out = _per_substation(out, layout, selection.per_substation, selection.seed)
    if selection.most_lines is not None:
        out = _most_lines(out, selection.most_lines)
    if selection.limit is not None:
        out = sample_actions(out, selection.limit, selection.seed)
    return out


def _at_substations(
    actions: list[CatalogueAction], layout: GridLayout, subs: set[int]
) -> list[CatalogueAction]:
    or_sub, ex_sub = layout.to_subid["lines_or_id"], layout.to_subid["lines_ex_id"]

    def keep(action: CatalogueAction) -> bool:
        if action.kind == DONOTHING:
            return True
        if action.kind == TOPOLOGY:
            return set(_substations_of(action, layout)) <= subs
        lines = _lines_of(action)
        return bool(lines) and all(or_sub[ln] in subs or ex_sub[ln] in subs for ln in lines)

    return [a for a in actions if keep(a)]


def _per_substation(
    actions: list[CatalogueAction], layout: GridLayout, k: int, seed: int
) -> list[CatalogueAction]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, action in enumerate(actions):
        if action.kind == TOPOLOGY:
            groups.setdefault(_substations_of(action, layout), []).append(i)
    rng = np.random.default_rng(seed)
    dropped: set[int] = set()
    for key in sorted(groups):
        members = groups[key]
        if len(members) <= k:
            continue
        drawn = {members[int(j)] for j in rng.choice(len(members), size=k, replace=False)}
        dropped.update(i for i in members if i not in drawn)
    return [a for i, a in enumerate(actions) if i not in dropped]


def _most_lines(actions: list[CatalogueAction], n: int) -> list[CatalogueAction]:
    topo = [i for i, a in enumerate(actions) if a.kind == TOPOLOGY]
    ranked = sorted(topo, key=lambda i: -lines_moved(actions[i]))  # stable: ties in order
    dropped = set(ranked[n:])
    return [a for i, a in enumerate(actions) if i not in dropped]


# -- the options of a selection, checked, and its record -------------------------------------------


@dataclass(frozen=True)
class Selection:
    """What to choose from and how (``gridoracle actions``): see :func:`choose_actions`.

    Made, it has checked every option that needs no grid (a substation out of the grid is found
    when the selection is applied). The fields are those of :func:`select_actions`, plus where to
    start from.

    Attributes
    ----------
    kind : {"topology", "line", "all"}, optional
        Default: ``topology`` from the grid's catalogue, every kind from a file.
    substations : tuple of int, optional
        Substation ids, sorted.
    busiest, per_substation, most_lines, limit : int, optional
        As in :func:`select_actions`.
    seed : int
        Seed of the ``per_substation`` and ``limit`` draws.
    from_file : Path, optional
        Start from the actions of this file (:func:`load_action_source`) instead of the grid's
        catalogue.
    distinct : bool
        Before the other filters, drop the actions that change nothing on the reference
        topology (``donothing`` stays) and keep the first of the actions of identical effect
        (:func:`~gridoracle.actions.effects.distinct_actions`).

    Raises
    ------
    InvalidOption
        An unknown kind, ``substations`` with ``busiest``, a count below 1 or a negative seed;
        the message leads with the parameter's name, which the error carries as ``param``.

    Examples
    --------
    >>> Selection(substations=(5, 4, 5), limit=20).substations
    (4, 5)
    """

    kind: ActionSet | None = None
    substations: tuple[int, ...] | None = None
    busiest: int | None = None
    per_substation: int | None = None
    most_lines: int | None = None
    limit: int | None = None
    seed: int = 0
    from_file: Path | None = None
    distinct: bool = False

    def __post_init__(self) -> None:
        """Check the options that need no grid; substations become a sorted tuple of ids."""
        if self.kind is not None and self.kind not in ACTION_SETS:
            raise InvalidOption(
                f"kind {self.kind!r} is not one of {', '.join(ACTION_SETS)}", param="kind"
            )
        if self.substations is not None and self.busiest is not None:
            raise InvalidOption(
                "substations and busiest cannot be combined: give the substations or their number",
                param="substations",
                also=("busiest",),
            )
        counts = {
            "busiest": self.busiest,
            "per_substation": self.per_substation,
            "most_lines": self.most_lines,
            "limit": self.limit,
        }
        for name, value in counts.items():
            if value is not None and (isinstance(value, bool) or value < 1):
                raise InvalidOption(f"{name} must be at least 1, got {value}", param=name)
        if self.seed < 0:
            raise InvalidOption(
                f"seed must be a non-negative integer, got {self.seed}", param="seed"
            )
        if self.substations is not None:
            ids = tuple(sorted({int(sub) for sub in self.substations}))
            object.__setattr__(self, "substations", ids)
        if self.from_file is not None:
            object.__setattr__(self, "from_file", Path(self.from_file))


@dataclass(frozen=True)
class ChosenActions:
    """What :func:`choose_actions` chose.

    Attributes
    ----------
    actions : list of CatalogueAction
        The actions kept, ``donothing`` first, in the catalogue's order.
    available : int
        Size of the catalogue they were chosen from (after ``kind``).
    extra : dict
        The record of the choice, for the catalogue file's ``extra``: the options, the
        substations of ``busiest``, the source file's format and hash, and with ``distinct``
        the actions left out (``distinct``: ``no_op`` names, ``merged`` kept name → names).
    distinct : DistinctActions, optional
        With ``distinct``: what it kept and left out.
    """

    actions: list[CatalogueAction]
    available: int
    extra: dict[str, Any]
    distinct: DistinctActions | None = None


def choose_actions(selection: Selection, env: Any) -> ChosenActions:
    """The actions of ``selection`` on ``env``, with the record of how they were chosen.

    The grid's catalogue (:func:`~gridoracle.actions.enumerate.enumerate_actions`, or the actions
    of ``selection.from_file``) of kind ``selection.kind``, with ``selection.distinct`` its
    distinct actions on the reference topology (the first observation of chronic 0, seed 0:
    ``env`` is reset), then :func:`select_actions`' filters. Same selection and grid, same
    actions and record.

    Parameters
    ----------
    selection : Selection
        The options.
    env : grid2op Environment
        The grid.

    Returns
    -------
    ChosenActions

    Raises
    ------
    InvalidOption
        A substation out of the grid, or ``busiest`` above its number of substations.
    ActionFileError
        An unreadable or malformed ``from_file``.
    """
    layout = GridLayout.of(env)
    extra: dict[str, Any] = {}
    if selection.from_file is not None:
        source = load_action_source(selection.from_file, env)
        catalogue = _apply(source.actions, layout, Selection(kind=selection.kind))
        extra["from"] = {
            "file": str(selection.from_file),
            "format": source.format,
            "sha256": source.sha256,
        }
    else:
        catalogue = enumerate_actions(env, selection.kind or "topology")
    available = len(catalogue)
    distinct = None
    if selection.distinct:
        reference = ReferenceTopology.of(env, chronic=0, seed=0)
        distinct = distinct_actions(catalogue, reference)
        catalogue = distinct.actions
    chosen = _apply(catalogue, layout, replace(selection, kind=None))
    extra.update(_record(selection, available, env))
    if distinct is not None:
        extra["distinct"] = {"reference": "chronic 0, first observation", **distinct.record()}
    return ChosenActions(actions=chosen, available=available, extra=extra, distinct=distinct)


def _record(selection: Selection, available: int, env: Any) -> dict[str, Any]:
    """The options of ``selection`` as the catalogue file records them (keys in this order)."""
    drawn = selection.limit is not None or selection.per_substation is not None
    record: dict[str, Any] = {
        "kind": selection.kind or ("all" if selection.from_file is not None else "topology"),
        "limit": selection.limit,
        "seed": selection.seed if drawn else None,
        "available": available,
    }
    if selection.substations is not None:
        record["substations"] = list(selection.substations)
    if selection.busiest is not None:
        record["busiest"] = selection.busiest
        record["substations"] = sorted(busiest_substations(env, selection.busiest))
    if selection.per_substation is not None:
        record["per_substation"] = selection.per_substation
    if selection.most_lines is not None:
        record["most_lines"] = selection.most_lines
    return record
