"""Action catalogue files: write them atomically, read them back with every check a user needs.

A catalogue file is JSON, self-describing and deterministic (same actions, same bytes)::

    {
      "format": "gridoracle-actions/1",
      "env": "l2rpn_case14_sandbox",
      "grid": {"n_sub": 14, "n_line": 20, "n_gen": 6, "n_load": 11, "n_storage": 0,
               "n_busbar_per_sub": 2, "sub_sizes": [3, 6, ...], "layout": "<hash>"},
      "extra": {...},                      (optional: how it was made)
      "actions": [
        {"name": "donothing", "kind": "donothing", "grid2op": {}},
        {"name": "sub-1-0", "kind": "topology", "grid2op": {"set_bus": {...}}},
        ...
      ]
    }

one action per line. ``grid`` says which grid the actions were written for: loading them against
another grid is refused. In a hand-written file a topology may also be given as
``{"set_bus": {"substations_id": [[sub, [bus per element of the substation]]]}}``; it is read
into the per-element form grid2op accepts from JSON (see :mod:`gridoracle.actions.model`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gridoracle.actions.enumerate import ActionSet, enumerate_actions, sample_actions
from gridoracle.actions.model import (
    DONOTHING,
    LINE_OFF,
    SET_BUS_KEYS,
    TOPOLOGY,
    CatalogueAction,
    GridLayout,
    _what,
    check_entry_shape,
)
from gridoracle.errors import ActionFileError, InvalidOption, OutputError
from gridoracle.files import gc_paused, parse_user_json, read_user_text
from gridoracle.io import atomic_write_text

#: value of the ``format`` field of a catalogue file
FORMAT = "gridoracle-actions/1"

_SUB_NAME = re.compile(r"^sub-([0-9]+)-[0-9]+$")
_MAX_DETAIL = 240  # characters of a grid2op error message kept in ours

# how error messages name an element of each set_bus key
_ELEMENT = {
    "loads_id": "load",
    "generators_id": "generator",
    "lines_or_id": "origin of line",
    "lines_ex_id": "extremity of line",
    "storages_id": "storage unit",
}


class _Problem(Exception):
    """A problem found in a catalogue; becomes an ActionFileError naming the file."""


# -- writing ---------------------------------------------------------------------------------------


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` can be created or replaced as a file, before doing any work.

    Parameters
    ----------
    path : path-like
        Where a file will be written. Its folder must exist (it is not created).

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputError
        When the folder does not exist or is not a folder, the path is a folder, or the folder
        is not writable.
    """
    out = Path(path)
    parent = out.parent
    if out.is_dir():
        raise OutputError(f"cannot write {out}: it is a folder (give a file name)")
    if not parent.exists():
        raise OutputError(f"cannot write {out}: folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"cannot write {out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {out}: folder {parent} is not writable")
    return out


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically; :class:`OutputError` naming the file on failure."""
    check_output_file(path)
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def dumps_catalogue(
    actions: Sequence[CatalogueAction],
    *,
    env_name: str,
    grid: GridLayout | Any,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The text of a catalogue file (see the module docstring); same inputs, same text.

    Parameters
    ----------
    actions : sequence of CatalogueAction
        The actions, written in this order. Names must be unique.
    env_name : str
        The environment they were made for (informative; the ``grid`` block is what is checked).
    grid : GridLayout, environment or action space
        The grid they were made for.
    extra : mapping, optional
        JSON-serialisable facts on how the catalogue was made (written with sorted keys).

    Raises
    ------
    ValueError
        When two actions share a name (a programming error: catalogues are built by the
        package).
    """
    names = [a.name for a in actions]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"two actions are named {dup!r}")
    layout = GridLayout.of(grid)
    head = [
        "{",
        f'  "format": {json.dumps(FORMAT)},',
        f'  "env": {json.dumps(env_name)},',
        f'  "grid": {json.dumps(layout.to_json(), allow_nan=False)},',
    ]
    if extra is not None:
        head.append(f'  "extra": {json.dumps(dict(extra), sort_keys=True, allow_nan=False)},')
    body = ",\n".join(
        "    " + json.dumps({"name": a.name, "kind": a.kind, "grid2op": a.grid2op}, allow_nan=False)
        for a in actions
    )
    return "\n".join([*head, '  "actions": [', body, "  ]", "}"]) + "\n"


def save_catalogue(
    path: str | os.PathLike[str],
    actions: Sequence[CatalogueAction],
    *,
    env_name: str,
    grid: GridLayout | Any,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write an action catalogue file, atomically (see :func:`dumps_catalogue` for the rest).

    Parameters
    ----------
    path : path-like
        The file to write; its folder must exist.
    actions, env_name, grid, extra
        As in :func:`dumps_catalogue`.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    OutputError
        When the file cannot be written (nothing is left behind then).
    """
    out = Path(path)
    _write_text(out, dumps_catalogue(actions, env_name=env_name, grid=grid, extra=extra))
    return out


def env_display_name(env: Any) -> str:
    """The name of an environment as users know it (grid2op appends its backend's class name)."""
    name = str(getattr(env, "env_name", "") or "this environment")
    backend = getattr(env, "backend", None)
    if backend is not None:
        for cls in type(backend).__mro__:
            if name.endswith(cls.__name__) and len(name) > len(cls.__name__):
                return name[: -len(cls.__name__)]
    return name


# -- reading ---------------------------------------------------------------------------------------


def load_catalogue(path: str | os.PathLike[str], env: Any) -> list[CatalogueAction]:
    """Read and check an action catalogue file against an environment.

    Parameters
    ----------
    path : path-like
        A file written by :func:`save_catalogue` (or by hand in the same format).
    env : grid2op Environment or ActionSpace
        The environment the actions will be played on.

    Returns
    -------
    list of CatalogueAction
        In file order, grid2op dicts in canonical form (what :func:`save_catalogue` writes).

    Raises
    ------
    ActionFileError
        One line naming the file and the problem: missing or unreadable file, not JSON (with
        line and column), wrong structure, duplicate names, actions written for another grid
        (sizes, element layout, substation / line / element ids, vector lengths, bus values),
        or an action grid2op's action space refuses (named).
    """
    file = Path(path)
    text = read_user_text(file, f"actions file {file}", ActionFileError)
    data = parse_user_json(text, f"actions file {file}", ActionFileError)
    return catalogue_from_json(data, env, source=f"actions file {file}")


def catalogue_from_json(data: Any, env: Any, *, source: str) -> list[CatalogueAction]:
    """Check a parsed catalogue (``json.load`` of a catalogue file) against an environment.

    Parameters
    ----------
    data : Any
        The parsed JSON.
    env : grid2op Environment or ActionSpace
        The environment the actions will be played on.
    source : str
        Where the data comes from, first in every error message (e.g. ``actions file a.json``).

    Returns
    -------
    list of CatalogueAction

    Raises
    ------
    ActionFileError
        As :func:`load_catalogue`.
    """
    space = getattr(env, "action_space", env)
    layout = GridLayout.of(space)
    env_name = env_display_name(env)
    try:
        entries = _check_header(data, layout, env_name)
        with gc_paused():
            return _check_actions(entries, layout, space)
    except _Problem as exc:
        raise ActionFileError(f"{source}: {exc}") from None


def _check_header(data: Any, layout: GridLayout, env_name: str) -> list[Any]:
    if not isinstance(data, dict):
        raise _Problem(f"expected a JSON object with format, grid and actions, got {_what(data)}")
    if "format" not in data:
        raise _Problem(f"not an action catalogue (no 'format': {FORMAT!r})")
    if data["format"] != FORMAT:
        raise _Problem(f"unsupported format {data['format']!r} (expected {FORMAT!r})")
    grid = data.get("grid")
    if not isinstance(grid, dict):
        raise _Problem("no 'grid' object (the sizes of the grid the actions were written for)")
    sizes = {
        "n_sub": "substations",
        "n_line": "lines",
        "n_gen": "generators",
        "n_load": "loads",
        "n_storage": "storage units",
    }
    for key in ("n_sub", "n_line", "n_gen", "n_load"):
        if key not in grid:
            raise _Problem(f"grid.{key} is missing")
    for key in sizes:
        if key in grid and not _is_int(grid[key]):
            raise _Problem(f"grid.{key} must be an integer, got {_what(grid[key])}")
    ours = layout.to_json()
    written_for = data.get("env") if isinstance(data.get("env"), str) else "its grid"
    if any(key in grid and grid[key] != ours[key] for key in sizes):
        theirs_txt = ", ".join(f"{grid[k]} {v}" for k, v in sizes.items() if k in grid)
        ours_txt = ", ".join(f"{ours[k]} {v}" for k, v in sizes.items() if k in grid)
        if written_for == env_name:  # same name, other grid: say it once
            raise _Problem(
                f"written for another grid of the same name: the file's {written_for} has "
                f"{theirs_txt}; this one has {ours_txt}"
            )
        raise _Problem(
            f"written for another grid: {written_for} has {theirs_txt}; {env_name} has {ours_txt}"
        )
    sub_sizes = grid.get("sub_sizes")
    if not isinstance(sub_sizes, list) or not all(_is_int(s) for s in sub_sizes):
        raise _Problem("grid.sub_sizes must be a list of integers (elements per substation)")
    if sub_sizes != ours["sub_sizes"]:
        pairs = zip(sub_sizes, ours["sub_sizes"], strict=False)
        sub = next(
            (i for i, (a, b) in enumerate(pairs) if a != b),
            min(len(sub_sizes), len(ours["sub_sizes"])),
        )
        raise _Problem(
            f"written for another grid: substation sizes differ from {env_name}'s "
            f"(first at substation {sub})"
        )
    if "layout" in grid and grid["layout"] != ours["layout"]:
        raise _Problem(
            f"written for another grid: element layout {grid['layout']!r} is not "
            f"{env_name}'s ({ours['layout']!r})"
        )
    if "extra" in data and not isinstance(data["extra"], dict):
        raise _Problem(f"'extra' must be an object, got {_what(data['extra'])}")
    entries = data.get("actions")
    if not isinstance(entries, list):
        raise _Problem(f"'actions' must be a list, got {_what(entries)}")
    if not entries:
        raise _Problem("'actions' is empty")
    return entries


def _check_actions(entries: list[Any], layout: GridLayout, space: Any) -> list[CatalogueAction]:
    actions: list[CatalogueAction] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        label = f"action {name!r}" if isinstance(name, str) and name.strip() else f"action #{i}"
        try:
            name, kind, g2op = check_entry_shape(entry)
        except ValueError as exc:
            raise _Problem(f"{label}: {exc}") from None
        if name in seen:
            raise _Problem(f"duplicate action name {name!r} (entries {seen[name]} and {i})")
        seen[name] = i
        canonical = _canonical_dict(kind, g2op, layout, label)
        if kind == TOPOLOGY:
            _check_named_substation(name, canonical["set_bus"], layout, label)
        try:
            # the canonical dict is ours and freshly built, and grid2op does not modify it
            space(canonical)
        except Exception as exc:  # grid2op raises many types; any refusal is the file's problem
            detail = " ".join(str(exc).split())[:_MAX_DETAIL]
            raise _Problem(f"grid2op refuses {label}: {detail}") from None
        actions.append(CatalogueAction(name=name, kind=kind, grid2op=canonical))
    return actions


def _check_named_substation(
    name: str, set_bus: Mapping[str, Any], layout: GridLayout, label: str
) -> None:
    """A topology action named ``sub-<s>-<k>`` sets buses at substation ``s`` only."""
    match = _SUB_NAME.match(name)
    if match is None:
        return
    sub = int(match.group(1))
    for key in SET_BUS_KEYS:
        for el, _bus in set_bus.get(key, ()):
            at = layout.to_subid[key][el]
            if at != sub:
                raise _Problem(
                    f"{label}: {_ELEMENT[key]} {el} is at substation {at}, not at substation "
                    f"{sub} that the name says the action sets"
                )


def _canonical_dict(
    kind: str, d: Mapping[str, Any], layout: GridLayout, label: str
) -> dict[str, Any]:
    """Check an action's grid2op dict against the grid; return it in canonical form."""
    if kind == DONOTHING:
        if d:
            raise _Problem(f"{label}: a donothing action has an empty grid2op dict, got {d!r}")
        return {}
    if kind == TOPOLOGY:
        if set(d) != {"set_bus"}:
            raise _Problem(f"{label}: a topology action has one key, 'set_bus'; got {_keys(d)}")
        return {"set_bus": _canonical_set_bus(d["set_bus"], layout, label)}
    want = -1 if kind == LINE_OFF else 1
    if set(d) != {"set_line_status"}:
        raise _Problem(f"{label}: a {kind} action has one key, 'set_line_status'; got {_keys(d)}")
    pairs = _pairs(d["set_line_status"], f"{label}: set_line_status")
    lines: set[int] = set()
    for line, status in pairs:
        if not 0 <= line < layout.n_line:
            raise _Problem(
                f"{label}: line {line} out of range (the grid has {layout.n_line} lines, "
                f"0 to {layout.n_line - 1})"
            )
        if status != want:
            raise _Problem(
                f"{label}: a {kind} action sets line status {want}, got {status} for line {line}"
            )
        if line in lines:
            raise _Problem(f"{label}: line {line} is set twice")
        lines.add(line)
    return {"set_line_status": [[line, want] for line in sorted(lines)]}


def _canonical_set_bus(set_bus: Any, layout: GridLayout, label: str) -> dict[str, Any]:
    if not isinstance(set_bus, dict) or not set_bus:
        raise _Problem(f"{label}: set_bus must be a non-empty object, got {_what(set_bus)}")
    unknown = sorted(set(set_bus) - {*SET_BUS_KEYS, "substations_id"})
    if unknown:
        raise _Problem(
            f"{label}: unknown set_bus key {unknown[0]!r} (known: substations_id, "
            f"{', '.join(SET_BUS_KEYS)})"
        )
    buses = layout.buses()
    bus_txt = "{" + ", ".join(str(b) for b in buses) + "}"

    def check_bus(bus: int, where: str) -> None:
        if bus not in buses:
            raise _Problem(
                f"{label}: bus {bus} for {where} is not in {bus_txt} "
                f"({layout.n_busbar_per_sub} busbars per substation)"
            )

    vectors: dict[int, list[int]] = {}
    explicit: set[int] = set()
    if "substations_id" in set_bus:
        entries = set_bus["substations_id"]
        if not isinstance(entries, list) or not entries:
            raise _Problem(
                f"{label}: set_bus.substations_id must be a non-empty list of "
                f"[substation id, [bus per element]] pairs"
            )
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 2 and _is_int(entry[0])):
                raise _Problem(
                    f"{label}: set_bus.substations_id entries are [substation id, "
                    f"[bus per element]], got {_short(entry)}"
                )
            sub, vec = entry
            if not 0 <= sub < layout.n_sub:
                raise _Problem(
                    f"{label}: substation {sub} out of range (the grid has {layout.n_sub} "
                    f"substations, 0 to {layout.n_sub - 1})"
                )
            size = layout.sub_sizes[sub]
            if not isinstance(vec, list) or not all(_is_int(b) for b in vec):
                raise _Problem(f"{label}: the bus vector of substation {sub} must list integers")
            if len(vec) != size:
                raise _Problem(
                    f"{label}: substation {sub} has {size} elements, its bus vector has {len(vec)}"
                )
            if sub in explicit:
                raise _Problem(f"{label}: substation {sub} is set twice")
            for pos, bus in enumerate(vec):
                check_bus(bus, f"element {pos} of substation {sub}")
            explicit.add(sub)
            vectors[sub] = list(vec)
    for key in SET_BUS_KEYS:
        if key not in set_bus:
            continue
        n_el = layout.n_elements(key)
        for el, bus in _pairs(set_bus[key], f"{label}: set_bus.{key}"):
            what = _ELEMENT[key]
            if not 0 <= el < n_el:
                raise _Problem(
                    f"{label}: {what} {el} out of range (the grid has {n_el}, 0 to {n_el - 1})"
                )
            check_bus(bus, f"{what} {el}")
            sub = layout.to_subid[key][el]
            pos = layout.to_sub_pos[key][el]
            vec = vectors.setdefault(sub, [0] * layout.sub_sizes[sub])
            if sub in explicit or vec[pos] != 0:
                raise _Problem(f"{label}: the bus of {what} {el} is set twice")
            vec[pos] = bus
    per_key: dict[str, list[list[int]]] = {}
    for sub, vec in vectors.items():
        for key, el, pos in layout.elements(sub):
            if vec[pos] != 0:
                per_key.setdefault(key, []).append([el, vec[pos]])
    return {key: sorted(per_key[key]) for key in SET_BUS_KEYS if key in per_key}


def _pairs(value: Any, where: str) -> list[tuple[int, int]]:
    """A non-empty list of [int, int] pairs."""
    if not isinstance(value, list) or not value:
        raise _Problem(f"{where} must be a non-empty list of [id, value] pairs")
    out = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2 and all(_is_int(x) for x in pair)):
            raise _Problem(f"{where}: expected [id, value] integer pairs, got {_short(pair)}")
        out.append((pair[0], pair[1]))
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _keys(d: Mapping[str, Any]) -> str:
    return ", ".join(repr(k) for k in d) if d else "none"


def _short(value: Any) -> str:
    text = json.dumps(value) if _jsonable(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


# -- choosing the actions of a run -----------------------------------------------------------------


def resolve_actions(
    env: Any,
    *,
    n_actions: int | None,
    actions_file: str | os.PathLike[str] | None,
    seed: int,
    kind: ActionSet = "topology",
) -> list[CatalogueAction]:
    """The actions of a run: a sample of the catalogue (``--actions N``) or a file.

    Parameters
    ----------
    env : grid2op Environment or ActionSpace
        The environment.
    n_actions : int or None
        ``--actions N``: ``donothing`` plus N-1 actions of kind ``kind`` drawn with ``seed``
        (all of them when the catalogue is smaller).
    actions_file : path-like or None
        ``--actions-file FILE``: a catalogue file, checked against ``env``.
    seed : int
        Seed of the draw (unused with a file).
    kind : {"topology", "line", "all"}
        Which catalogue to draw from.

    Returns
    -------
    actions : list of CatalogueAction
        As drawn (``donothing`` first, in catalogue order) or as read from the file.

    Raises
    ------
    InvalidOption
        Both or neither of ``n_actions`` and ``actions_file``, or ``n_actions < 1``.
    ActionFileError
        When the file is missing, malformed or written for another grid.
    """
    if (n_actions is None) == (actions_file is None):
        raise InvalidOption(
            "give the actions either as a number (n_actions) or as a catalogue file "
            "(actions_file): exactly one"
        )
    if actions_file is not None:
        return load_catalogue(actions_file, env)
    assert n_actions is not None
    if n_actions < 1:
        raise InvalidOption(f"n_actions must be at least 1, got {n_actions}", param="n_actions")
    return sample_actions(enumerate_actions(env, kind), n_actions, seed)
