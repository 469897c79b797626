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

:func:`load_action_source` reads the actions to start from out of a file instead of the
enumerated catalogue: a gridoracle catalogue file or an Oracle4Grid unitary-action file in any of
its three formats.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gridoracle.actions.catalogue import FORMAT, catalogue_from_json
from gridoracle.actions.enumerate import ACTION_SETS, ActionSet, sample_actions
from gridoracle.actions.model import (
    DONOTHING,
    LINE_OFF,
    LINE_ON,
    SET_BUS_KEYS,
    TOPOLOGY,
    CatalogueAction,
    GridLayout,
    donothing_action,
    gc_paused,
    line_action,
)
from gridoracle.actions.parse import SUB, detect_format, load_unitary_actions
from gridoracle.errors import ActionFileError, InvalidOption
from gridoracle.files import read_user_text

__all__ = [
    "ActionSource",
    "busiest_substations",
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

logger = logging.getLogger(__name__)


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
            f"--busiest must be between 1 and {layout.n_sub} (the grid has {layout.n_sub} "
            f"substations), got {n}"
        )
    ranked = sorted(range(layout.n_sub), key=lambda sub: (-layout.sub_sizes[sub], sub))
    return tuple(ranked[:n])


def parse_ids(text: str, option: str = "--substations") -> tuple[int, ...]:
    """Read a comma-separated list of ids, such as ``"4,5,11"``.

    Parameters
    ----------
    text : str
        The list; spaces around the ids are allowed, a repeated id is kept once.
    option : str
        How error messages name the option.

    Returns
    -------
    tuple of int
        The ids, in increasing order.

    Raises
    ------
    InvalidOption
        When the text is empty or holds something other than non-negative integers.
    """
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise InvalidOption(f"{option} is empty: give substation ids such as 4,5,11")
    ids: set[int] = set()
    for part in parts:
        if not part.isascii() or not part.isdigit():
            raise InvalidOption(
                f"{option} {text!r}: {part!r} is not a substation id "
                "(give non-negative integers separated by commas, such as 4,5,11)"
            )
        ids.add(int(part))
    return tuple(sorted(ids))


def _check_substations(substations: Iterable[int], layout: GridLayout) -> tuple[int, ...]:
    ids = tuple(sorted({int(s) for s in substations}))
    if not ids:
        raise InvalidOption("--substations is empty: give substation ids such as 4,5,11")
    for sub in ids:
        if not 0 <= sub < layout.n_sub:
            raise InvalidOption(
                f"--substations: substation {sub} does not exist (the grid has {layout.n_sub} "
                f"substations, 0 to {layout.n_sub - 1})"
            )
    return ids


def _check_count(value: int | None, option: str) -> None:
    if value is not None and (isinstance(value, bool) or value < 1):
        raise InvalidOption(f"{option} must be at least 1, got {value}")


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

    Raises
    ------
    InvalidOption
        One line naming the option (as the command line names it): ``substations`` and
        ``busiest`` together, a substation id out of range, ``busiest`` out of 1 .. number of
        substations, a count below 1, a negative seed, an unknown kind.
    """
    layout = GridLayout.of(grid)
    if kind is not None and kind not in ACTION_SETS:
        raise InvalidOption(f"--kind {kind!r} is not one of {', '.join(ACTION_SETS)}")
    if substations is not None and busiest is not None:
        raise InvalidOption(
            "--substations and --busiest cannot be combined: give the substations or their number"
        )
    for value, option in (
        (busiest, "--busiest"),
        (per_substation, "--per-substation"),
        (most_lines, "--most-lines"),
        (limit, "--limit"),
    ):
        _check_count(value, option)
    if seed < 0:
        raise InvalidOption(f"--seed must be a non-negative integer, got {seed}")
    chosen_subs: tuple[int, ...] | None = None
    if substations is not None:
        chosen_subs = _check_substations(substations, layout)
    elif busiest is not None:
        chosen_subs = busiest_substations(layout, busiest)

    out = list(actions)
    if kind is not None:
        kept_kinds = _KINDS_OF[kind]
        out = [a for a in out if a.kind in kept_kinds]
    if chosen_subs is not None:
        out = _at_substations(out, layout, set(chosen_subs))
    if per_substation is not None:
        out = _per_substation(out, layout, per_substation, seed)
    if most_lines is not None:
        out = _most_lines(out, most_lines)
    if limit is not None:
        out = sample_actions(out, limit, seed)
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


# -- actions from a file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionSource:
    """Actions read from a file by :func:`load_action_source`.

    Attributes
    ----------
    actions : list of CatalogueAction
        ``donothing`` first (added when the file has none), then the file's actions in its
        order (Oracle4Grid's order for its formats), identical actions kept once.
    format : str
        ``gridoracle-actions/1`` (a catalogue file), or Oracle4Grid's ``reference``, ``parser1``
        or ``parser2``.
    sha256 : str
        Hash of the file's bytes.
    warnings : list of str
        One line each, naming the file: what the parser noted and the actions left out (also
        logged at WARNING level).
    """

    actions: list[CatalogueAction]
    format: str
    sha256: str
    warnings: list[str]


def load_action_source(path: str | os.PathLike[str], env: Any) -> ActionSource:
    """Read the actions of a file, in any format gridoracle reads, as catalogue actions.

    A JSON object with a ``format`` key is a gridoracle catalogue file
    (:func:`~gridoracle.actions.catalogue.load_catalogue`'s checks); anything else is read as an
    Oracle4Grid unitary-action file (:func:`~gridoracle.actions.parse.load_unitary_actions`:
    reference, parser1 or parser2 format). Oracle4Grid's substation actions become ``topology``
    actions named as Oracle4Grid names them (``sub-<sub id>-<k>``, k = position in the file);
    its line actions become ``line-<line id>-off`` (``set_line: -1``) or ``line-<line id>-on``.
    An action identical to an earlier one (same grid2op dict) is left out, with a warning.

    Parameters
    ----------
    path : path-like
        The file.
    env : grid2op Environment or ActionSpace
        The grid the actions are checked against.

    Returns
    -------
    ActionSource

    Raises
    ------
    ActionFileError
        One line naming the file and the problem (missing, not JSON, unknown format, an action
        that does not fit the grid, ...).
    """
    file = Path(path)
    label = f"actions file {file}"
    text = read_user_text(file, label, ActionFileError)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        with gc_paused():
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ActionFileError(
            f"{label}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if isinstance(data, dict) and "format" in data:
        actions = catalogue_from_json(data, env, source=label)
        fmt = FORMAT
        warnings: list[str] = []
    else:
        fmt = detect_format(data, source=label)
        unitary, warnings = load_unitary_actions(file, env)
        warnings = list(warnings)
        actions = []
        seen: dict[str, str] = {}
        for ua in unitary:
            if ua.asset_kind == SUB:
                action = CatalogueAction(name=ua.name, kind=TOPOLOGY, grid2op=ua.grid2op_dict())
            else:
                status = int(ua.grid2op["set_line_status"][0][1])
                action = line_action(ua.asset_id, connect=status == 1)
            key = json.dumps(action.grid2op, sort_keys=True)
            if key in seen:
                message = f"{label}: action {ua.name} left out: the same as {seen[key]}"
                warnings.append(message)
                logger.warning("%s", message)
                continue
            seen[key] = ua.name
            actions.append(action)
    if not any(a.kind == DONOTHING for a in actions):
        taken = next((a for a in actions if a.name == DONOTHING), None)
        if taken is not None:
            raise ActionFileError(
                f"{label}: action {DONOTHING!r} is a {taken.kind} action, not do nothing"
            )
        actions.insert(0, donothing_action())
    return ActionSource(actions=actions, format=fmt, sha256=digest, warnings=warnings)
