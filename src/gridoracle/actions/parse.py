"""Unitary actions in Oracle4Grid's three JSON formats, converted to its reference format.

Oracle4Grid (github:marota/Oracle4Grid, ``oracle4grid/core/utils/launch_utils.py``, class
``OracleParser``) reads a file of *unitary actions*, each acting on one asset (a substation or a
powerline), in one of three formats, detected from the file's shape:

reference
    ``{"sub": {"<sub id>": [{"lines_id_bus": [[line, bus], ...], "loads_id_bus": [[load, bus]],
    "gens_id_bus": [[gen, bus]]}, ...]}, "line": {"<line id>": [{"set_line": -1}]}}``. A line in
    ``lines_id_bus`` is named by its line id: the bus is set at whichever end of the line (origin or
    extremity) is at that substation. ``storages_id_bus`` is accepted too (gridoracle's addition,
    for grids with storage units; Oracle4Grid knows no storage).
parser1
    A list of grid2op action dicts ``[{"set_bus": {"substations_id": [[sub, [bus per element]]]}},
    ...]`` (one dict alone is accepted too). Each ``[sub, vector]`` pair is one unitary action; the
    vector has one bus per element of the substation, in grid2op's order of the substation.
parser2
    ``{"sub": {"<sub id>": [{"set_configuration": vector}]}, "line": {...}}`` where ``vector`` is a
    whole grid2op action vector (``action.to_vect()``), read by Oracle4Grid with
    ``action_space.from_vect``. Such a vector's layout depends on the grid2op version and action
    class that wrote it, so it is located here, not assumed: ``set_line_status`` always comes
    first, and the topology (``set_bus``) block starts right after it (grid2op's
    ``TopologyAction`` family, and ``PlayableAction`` before grid2op 1.6 -- the vectors shipped
    with Oracle4Grid) or after ``set_line_status`` and ``change_line_status`` (``PlayableAction``
    today). The reading that sets buses at the declared substation only is taken; the two never
    both fit (that would need a substation with more elements than the grid has lines).
    The vector must have the length of one of this grid's action vectors (``TopologyAction``,
    ``PlayableAction`` today and in its older layouts, or the environment's own action class):
    a vector written for another grid is refused.
    gridoracle also accepts a substation bus vector or a whole topology vector (``topo_vect``
    length) there, and a line status vector (one entry per line) for a line.

Everything is converted to the reference format: a list of :class:`UnitaryAction`, in the order
Oracle4Grid names them. Names are ``sub-<sub id>-<k>`` and ``line-<line id>-<k>``, ``k`` being the
position of the unitary action in the file counted over the whole file: assets in file order, the
actions of each asset in order (``get_atomic_actions_names`` in Oracle4Grid's
``core/utils/actions_generator.py``). A parser1 file is first grouped by substation by Oracle4Grid,
in the iteration order of a Python ``set`` of the substation ids added in file order (ascending
when all ids are below the set's table size, but not in general): that order is reproduced, so that
names match.

Conversion rules (identical for the three formats, so that one action written in any of them gives
the same :class:`UnitaryAction`): a bus is 1 .. n_busbar_per_sub (1 or 2); 0 means "unchanged"
and the element is left out; -1 (disconnecting an element through ``set_bus``) is refused: a line
is disconnected by a ``line`` action, and a disconnected load or generator ends the episode.
``content`` lists only the elements the action sets, under the keys ``lines_id_bus``,
``loads_id_bus``, ``gens_id_bus``, ``storages_id_bus`` in that order, each sorted by element id.

Errors (:class:`~gridoracle.errors.ActionFileError`, one line naming the file, the action and the
asset): malformed JSON (with line and column), unknown format, unknown key, unknown substation or
line, element not at the substation, vector of the wrong length, bus not in {1, 2}, an action that
sets nothing. Warnings (returned, and logged): what Oracle4Grid silently ignores or keeps although
it makes little sense -- duplicate JSON keys (the last one wins), parts of a parser1/parser2
action that are not read, an element listed twice with the same bus, bus 0 in the reference
format, a line reconnection (``set_line: 1``), an asset listed with no action, the same action
twice, and a fully specified substation topology that leaves a bus without any line (the
elements on it are cut off) or with a single line and nothing else (the line carries nothing).
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gridoracle.actions._convert import (
    _CONFIG_KEY,
    _ID_TEXT,
    _LINE_KEY,
    ASSET_KINDS,
    ELEMENT_KEYS,
    FORMATS,
    PARSER1,
    PARSER2,
    REFERENCE,
    SUB,
    _asset_text,
    _asset_word,
    _is_int,
    _line_status,
    _Problem,
    _Raw,
    _short,
    _sub_buses,
    _sub_dicts,
    _topology_notes,
    vector_lengths,
)
from gridoracle.actions.model import Action, GridLayout
from gridoracle.errors import ActionFileError
from gridoracle.files import describe_json_value as _what
from gridoracle.files import read_user_text

__all__ = [
    "ASSET_KINDS",
    "ELEMENT_KEYS",
    "FORMATS",
    "UnitaryAction",
    "convert",
    "detect_format",
    "load_unitary_actions",
    "to_reference_dict",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class UnitaryAction(Action):
    """One unitary action of an Oracle4Grid action file, in the reference format.

    Attributes
    ----------
    asset_kind : str
        ``"sub"`` (sets buses at one substation) or ``"line"`` (sets one line's status).
    asset_id : int
        The substation id or the line id.
    k : int
        Position of the action in the file, counted over the whole file (see the module doc).
    name : str
        Oracle4Grid's name, ``sub-<asset_id>-<k>`` or ``line-<asset_id>-<k>``.
    content : dict
        The action in Oracle4Grid's reference format: for a substation ``{"lines_id_bus":
        [[line, bus], ...], "loads_id_bus": ..., "gens_id_bus": ..., "storages_id_bus": ...}``
        (only the keys used), for a line ``{"set_line": -1}`` (or ``1``).
    grid2op : dict
        The grid2op action dict that plays it, accepted as is by ``env.action_space(d)``, also
        after a JSON round trip: ``{"set_bus": {"lines_or_id": [[line, bus]], ...}}`` or
        ``{"set_line_status": [[line, -1]]}``. Use :meth:`grid2op_dict` for a copy to modify.
    """

    asset_kind: str
    asset_id: int
    k: int
    content: dict[str, Any] = field(hash=False)

    @property
    def asset(self) -> tuple[str, int]:
        """``(asset_kind, asset_id)``."""
        return (self.asset_kind, self.asset_id)

    def to_reference(self) -> dict[str, Any]:
        """This action alone as a reference-format file: ``{kind: {"<id>": [content]}}``."""
        return {self.asset_kind: {str(self.asset_id): [copy.deepcopy(self.content)]}}


# --------------------------------------------------------------------------------------------
# public entry points


def load_unitary_actions(
    path: str | os.PathLike[str], env: Any
) -> tuple[list[UnitaryAction], list[str]]:
    """Read an Oracle4Grid action file in any of its three formats.

    Parameters
    ----------
    path : str or path-like
        The JSON file.
    env : grid2op Environment, ActionSpace or GridLayout
        The grid the actions are checked against.

    Returns
    -------
    actions : list of UnitaryAction
        In Oracle4Grid's order (``k`` = 0, 1, ...).
    warnings : list of str
        One line each, naming the file; also logged at WARNING level.

    Raises
    ------
    ActionFileError
        Missing or unreadable file, malformed JSON, unknown format, or an action that does not fit
        the grid; the message is one line naming the file, the action and the asset.
    """
    label = f"actions file {os.fspath(path)!r}"
    text = read_user_text(path, label, ActionFileError)
    ctx = _Context(label)
    data = _loads(text, ctx)
    return _convert(data, env, ctx)


def convert(
    data: Any, env: Any, *, source: str = "actions"
) -> tuple[list[UnitaryAction], list[str]]:
    """Convert already-loaded actions (any of the three formats) to :class:`UnitaryAction`.

    Parameters
    ----------
    data : dict or list
        What ``json.load`` gives for an action file (integer ids are accepted as keys too, as
        Oracle4Grid's own parser 1 output has them).
    env : grid2op Environment, ActionSpace or GridLayout
        The grid the actions are checked against.
    source : str
        How messages name the input.

    Returns
    -------
    (actions, warnings)
        As :func:`load_unitary_actions`.

    Raises
    ------
    ActionFileError
        As :func:`load_unitary_actions`.
    """
    return _convert(data, env, _Context(source))


def detect_format(data: Any, *, source: str = "actions") -> str:
    """Which of Oracle4Grid's formats ``data`` is in: ``reference``, ``parser1`` or ``parser2``.

    Detection follows Oracle4Grid's: a list (or one dict) of ``{"set_bus": {"substations_id":
    ...}}`` is parser1; a ``{"sub": ..., "line": ...}`` dict is parser2 when its first action has a
    ``set_configuration`` key, the reference format when it has ``lines_id_bus``, ``loads_id_bus``,
    ``gens_id_bus``, ``storages_id_bus`` or ``set_line``.

    Raises
    ------
    ActionFileError
        When ``data`` is in none of them, or holds no action at all.
    """
    return _detect(data, _Context(source))


def to_reference_dict(actions: Sequence[UnitaryAction]) -> dict[str, Any]:
    """Write unitary actions back as a reference-format dict (``json.dumps`` it for a file).

    Reading the result back gives the same actions with the same names.

    Raises
    ------
    ValueError
        If the actions' ``k`` are not 0, 1, ... or the actions of one asset are not consecutive
        (no reference file could give those names).
    """
    runs: list[tuple[str, int]] = []  # assets in order, one entry per run of actions
    for i, action in enumerate(actions):
        if action.k != i:
            raise ValueError(f"action {action.name} has k={action.k} at position {i}")
        if not runs or runs[-1] != action.asset:
            runs.append(action.asset)
    kinds = [kind for kind, _ in runs]
    if len(set(runs)) != len(runs):
        raise ValueError("the actions of one asset are not consecutive")
    if sum(1 for a, b in itertools.pairwise(kinds) if a != b) >= len(set(kinds)):
        raise ValueError("the substation and line actions are interleaved")
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for action in actions:
        per_kind = out.setdefault(action.asset_kind, {})
        per_kind.setdefault(str(action.asset_id), []).append(copy.deepcopy(action.content))
    return out


# --------------------------------------------------------------------------------------------
# internals: reading


@dataclass
class _Context:
    label: str
    warnings: list[str] = field(default_factory=list)
    duplicate_keys: list[str] = field(default_factory=list)

    def fail(self, message: str) -> ActionFileError:
        return ActionFileError(f"{self.label}: {message}")

    def warn(self, message: str) -> None:
        text = f"{self.label}: {message}"
        if text not in self.warnings:
            self.warnings.append(text)
            logger.warning("%s", text)


def _loads(text: str, ctx: _Context) -> Any:
    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                ctx.duplicate_keys.append(key)
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as exc:
        raise ctx.fail(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise ctx.fail("not an action file: its JSON is nested too deeply") from None
    for key in dict.fromkeys(ctx.duplicate_keys):
        ctx.warn(f"key {key!r} appears twice in one JSON object: only its last value is kept")
    return data


def _convert(data: Any, env: Any, ctx: _Context) -> tuple[list[UnitaryAction], list[str]]:
    layout = GridLayout.of(env)
    lengths = vector_lengths(env, layout)
    fmt = _detect(data, ctx)
    if fmt == PARSER1:
        raws = _collect_parser1(data, layout, ctx)
    else:
        raws = _collect_dict(data, fmt, layout, ctx)
    if not raws:
        raise ctx.fail("contains no unitary action")
    actions: list[UnitaryAction] = []
    first_of: dict[tuple[str, int, str], str] = {}
    for k, raw in enumerate(raws):
        name = f"{raw.kind}-{raw.asset_id}-{k}"
        asset = _asset_text(raw.kind, raw.asset_id)
        where = f"{name} ({raw.where}) on {asset}"
        try:
            if raw.kind == SUB:
                buses, notes = _sub_buses(raw, layout, lengths)
                content, g2op = _sub_dicts(layout, raw.asset_id, buses)
                notes += _topology_notes(layout, raw.asset_id, buses)
            else:
                status, notes = _line_status(raw, layout, lengths)
                content = {_LINE_KEY: status}
                g2op = {"set_line_status": [[raw.asset_id, status]]}
        except _Problem as exc:
            raise ctx.fail(f"action {where}: {exc}") from None
        for note in notes:
            ctx.warn(f"action {where}: {note}")
        key = (raw.kind, raw.asset_id, json.dumps(content, sort_keys=True))
        if key in first_of:
            ctx.warn(f"action {where}: the same action as {first_of[key]}")
        else:
            first_of[key] = name
        actions.append(
            UnitaryAction(
                asset_kind=raw.kind,
                asset_id=raw.asset_id,
                k=k,
                name=name,
                content=content,
                grid2op=g2op,
            )
        )
    return actions, list(ctx.warnings)


def _detect(data: Any, ctx: _Context) -> str:
    if isinstance(data, list):
        if not data:
            raise ctx.fail("contains no unitary action (an empty list)")
        if _is_parser1_entry(data[0]):
            return PARSER1
        raise ctx.fail(
            "unknown format: a list, but its first entry is not "
            '{"set_bus": {"substations_id": [...]}} (parser 1 format), '
            f"got {_short(data[0])}"
        )
    if isinstance(data, Mapping):
        if "set_bus" in data:
            if _is_parser1_entry(data):
                return PARSER1
            raise ctx.fail(
                'unknown format: "set_bus" must hold {"substations_id": [...]} '
                f"(parser 1 format), got {_short(data['set_bus'])}"
            )
        if not data:
            raise ctx.fail("contains no unitary action (an empty object)")
        unknown = [key for key in data if key not in ASSET_KINDS]
        if unknown:
            raise ctx.fail(
                f"unknown format: top-level key {_short(unknown[0])}; an action file has "
                '"sub" and/or "line" keys (reference and parser 2 formats), or is a list of '
                '{"set_bus": {"substations_id": ...}} (parser 1 format)'
            )
        for kind in data:
            per_asset = data[kind]
            if not isinstance(per_asset, Mapping):
                raise ctx.fail(
                    f'"{kind}" must be an object mapping {_asset_word(kind)} ids to lists of '
                    f"actions, got {_what(per_asset)}"
                )
            for asset_key, actions in per_asset.items():
                if not isinstance(actions, list):
                    raise ctx.fail(
                        f'"{kind}"/{_short(asset_key)} must be a list of actions, '
                        f"got {_what(actions)}"
                    )
                for action in actions:
                    return _format_of_action(action, ctx, f'"{kind}"/{_short(asset_key)}')
        raise ctx.fail("contains no unitary action (every asset has an empty list)")
    raise ctx.fail(
        f"unknown format: expected a JSON object or list of unitary actions, got {_what(data)}"
    )


def _format_of_action(action: Any, ctx: _Context, where: str) -> str:
    if not isinstance(action, Mapping) or not action:
        raise ctx.fail(
            f"unknown format: the first action ({where}) must be a non-empty object, "
            f"got {_short(action)}"
        )
    first = next(iter(action))
    if first == _CONFIG_KEY:
        return PARSER2
    if first in ELEMENT_KEYS or first == _LINE_KEY:
        return REFERENCE
    raise ctx.fail(
        f"unknown format: the first action ({where}) has the key {_short(first)}; expected "
        f"{', '.join(ELEMENT_KEYS)} or set_line (reference format) or set_configuration "
        "(parser 2 format)"
    )


def _is_parser1_entry(entry: Any) -> bool:
    return (
        isinstance(entry, Mapping)
        and isinstance(entry.get("set_bus"), Mapping)
        and "substations_id" in entry["set_bus"]
    )


def _collect_dict(
    data: Mapping[Any, Any], fmt: str, layout: GridLayout, ctx: _Context
) -> list[_Raw]:
    """The actions of a reference or parser2 file, in Oracle4Grid's naming order."""
    raws: list[_Raw] = []
    for kind in data:
        seen: dict[int, str] = {}
        for asset_key, actions in data[kind].items():
            asset_id = _asset_id(asset_key, kind, ctx)
            shown = _short(asset_key)
            missing = _missing_asset(kind, asset_id, layout)
            if missing:
                first = f"action {kind}-{asset_id}-{len(raws)} ({kind}/{asset_key}[0])"
                raise ctx.fail(f"{first if actions else repr(kind)}: {missing}")
            if asset_id in seen:
                raise ctx.fail(
                    f'"{kind}" lists {_asset_text(kind, asset_id)} twice '
                    f"(keys {seen[asset_id]} and {shown})"
                )
            seen[asset_id] = shown
            if not actions:
                ctx.warn(f"{_asset_text(kind, asset_id)} is listed with no action")
            for i, action in enumerate(actions):
                raws.append(_Raw(kind, asset_id, action, f"{kind}/{asset_key}[{i}]", fmt))
    return raws


def _asset_id(key: Any, kind: str, ctx: _Context) -> int:
    word = _asset_word(kind)
    if isinstance(key, int) and not isinstance(key, bool):
        value = key
    elif isinstance(key, str) and _ID_TEXT.match(key):
        value = int(key)
        if str(value) != key:
            ctx.warn(
                f"{word} id {key!r} is read as {value} (Oracle4Grid would name its actions "
                f"{kind}-{key}-k)"
            )
    else:
        raise ctx.fail(f'"{kind}": {word} id {_short(key)} is not a non-negative integer')
    return value


def _missing_asset(kind: str, value: int, layout: GridLayout) -> str | None:
    """Why ``value`` is not a substation (line) of the grid, or None if it is one."""
    count = layout.n_sub if kind == SUB else layout.n_line
    if 0 <= value < count:
        return None
    return (
        f"{_asset_word(kind)} {value} does not exist (the grid has {count} "
        f"{_asset_word(kind)}s, 0 to {count - 1})"
    )


def _collect_parser1(data: Any, layout: GridLayout, ctx: _Context) -> list[_Raw]:
    """The actions of a parser1 file, grouped by substation as Oracle4Grid's parser 1 does."""
    entries = data if isinstance(data, list) else [data]
    found: list[tuple[int, Any, str]] = []
    for i, entry in enumerate(entries):
        where = f"[{i}]" if isinstance(data, list) else "(the object)"
        if not _is_parser1_entry(entry):
            raise ctx.fail(
                f'entry {where} is not {{"set_bus": {{"substations_id": [...]}}}} (parser 1 '
                f"format, detected from the first entry), got {_short(entry)}"
            )
        ignored = [key for key in entry if key != "set_bus"]
        ignored += [f"set_bus/{key}" for key in entry["set_bus"] if key != "substations_id"]
        if ignored:
            ctx.warn(
                f"entry {where}: {', '.join(_short(key) for key in ignored)} not read (parser 1 "
                "reads only set_bus/substations_id, as Oracle4Grid's)"
            )
        pairs = entry["set_bus"]["substations_id"]
        if not isinstance(pairs, list):
            raise ctx.fail(
                f"entry {where}: set_bus/substations_id must be a list of [substation id, "
                f"[bus per element]] pairs, got {_what(pairs)}"
            )
        if not pairs:
            ctx.warn(f"entry {where}: set_bus/substations_id is empty: no action")
        for j, pair in enumerate(pairs):
            pair_where = f"{where}/set_bus/substations_id[{j}]"
            if not (isinstance(pair, list) and len(pair) == 2 and _is_int(pair[0])):
                raise ctx.fail(
                    f"entry {pair_where}: expected [substation id, [bus per element]], "
                    f"got {_short(pair)}"
                )
            missing = _missing_asset(SUB, pair[0], layout)
            if missing:
                raise ctx.fail(f"entry {pair_where}: {missing}")
            found.append((pair[0], pair[1], pair_where))
    # Oracle4Grid: subs = set(); subs.add(...) in file order; {sub: [] for sub in subs}
    subs: set[int] = set()
    for sub, _, _ in found:
        subs.add(sub)
    return [
        _Raw(SUB, sub, vector, where, PARSER1)
        for sub in subs
        for sub_id, vector, where in found
        if sub_id == sub
    ]
