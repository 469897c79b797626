"""How one unitary action of an Oracle4Grid file becomes a reference-format action.

The private half of :mod:`gridoracle.actions.parse`: the formats' constants, one action's
substation buses or line status in each of the three formats, and the checks of the values in
them. Every function raises :class:`_Problem` with a message the reader prefixes with the file,
the action and the asset.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gridoracle.actions.model import SET_BUS_KEYS, GridLayout
from gridoracle.files import describe_json_value as _what

SUB = "sub"
LINE = "line"
#: asset kinds of unitary actions, as the top-level keys of the reference format
ASSET_KINDS: tuple[str, ...] = (SUB, LINE)

REFERENCE = "reference"
PARSER1 = "parser1"
PARSER2 = "parser2"
#: the three file formats, named as in Oracle4Grid's documentation
FORMATS: tuple[str, ...] = (REFERENCE, PARSER1, PARSER2)

#: reference-format keys of a substation action, in the order ``content`` lists them
ELEMENT_KEYS: tuple[str, ...] = ("lines_id_bus", "loads_id_bus", "gens_id_bus", "storages_id_bus")
_LINE_KEY = "set_line"
_CONFIG_KEY = "set_configuration"

# grid2op set_bus key -> reference-format key
_REF_KEY = {
    "loads_id": "loads_id_bus",
    "generators_id": "gens_id_bus",
    "lines_or_id": "lines_id_bus",
    "lines_ex_id": "lines_id_bus",
    "storages_id": "storages_id_bus",
}
# reference-format key -> grid2op set_bus keys of that element type (lines: extremity first,
# as Oracle4Grid looks the extremity up last and keeps it)
_SET_BUS_OF = {
    "lines_id_bus": ("lines_ex_id", "lines_or_id"),
    "loads_id_bus": ("loads_id",),
    "gens_id_bus": ("generators_id",),
    "storages_id_bus": ("storages_id",),
}
_WORD = {
    "lines_id_bus": "line",
    "loads_id_bus": "load",
    "gens_id_bus": "generator",
    "storages_id_bus": "storage unit",
}
_PLURAL = {
    "lines_id_bus": "lines",
    "loads_id_bus": "loads",
    "gens_id_bus": "generators",
    "storages_id_bus": "storage units",
}
_ID_TEXT = re.compile(r"^[0-9]+$")
_MAX_SHOWN = 60

# the blocks of the grid2op action vectors parser 2 reads (set_line_status first, then the
# topology after it or after change_line_status), in each layout's order
_TOPOLOGY = ("_set_line_status", "_switch_line_status", "_set_topo_vect", "_change_bus_vect")
_OLD_PLAYABLE = (
    "_set_line_status",
    "_set_topo_vect",
    "_change_bus_vect",
    "_switch_line_status",
    "_redispatch",
)
#: grid2op action vector layouts: TopologyAction and PlayableAction today, and PlayableAction's
#: older layouts (TopologyAndDispatchAction's, then storage, curtailment, alarms, alerts added)
_VECTOR_LAYOUTS: tuple[tuple[str, ...], ...] = (
    _TOPOLOGY,
    (
        *_TOPOLOGY,
        "_redispatch",
        "_storage_power",
        "_curtail",
        "_raise_alarm",
        "_raise_alert",
        "_detach_load",
        "_detach_gen",
        "_detach_storage",
    ),
    _OLD_PLAYABLE,
    (*_OLD_PLAYABLE, "_storage_power"),
    (*_OLD_PLAYABLE, "_storage_power", "_curtail"),
    (*_OLD_PLAYABLE, "_storage_power", "_curtail", "_raise_alarm"),
    (*_OLD_PLAYABLE, "_storage_power", "_curtail", "_raise_alarm", "_raise_alert"),
)


def vector_lengths(source: Any, layout: GridLayout) -> frozenset[int]:
    """The lengths of this grid's grid2op action vectors that parser 2 reads.

    Those of :data:`_VECTOR_LAYOUTS` on the grid, and the length of ``source``'s own action
    space (its ``n``) when it has one. ``source`` is what ``layout`` was made from: an
    environment, an action space or the layout itself (then alarms and alerts count 0).
    """
    space = getattr(source, "action_space", source)
    grid = space if isinstance(space, type) else type(space)
    n_topo = sum(layout.sub_sizes)
    detach = bool(getattr(grid, "detachment_is_allowed", False))
    sizes = {
        "_set_line_status": layout.n_line,
        "_switch_line_status": layout.n_line,
        "_set_topo_vect": n_topo,
        "_change_bus_vect": n_topo,
        "_redispatch": layout.n_gen,
        "_curtail": layout.n_gen,
        "_storage_power": layout.n_storage,
        "_raise_alarm": _count(getattr(grid, "dim_alarms", 0)),
        "_raise_alert": _count(getattr(grid, "dim_alerts", 0)),
        "_detach_load": layout.n_load if detach else 0,
        "_detach_gen": layout.n_gen if detach else 0,
        "_detach_storage": layout.n_storage if detach else 0,
    }
    lengths = {sum(sizes[block] for block in blocks) for blocks in _VECTOR_LAYOUTS}
    own = _count(getattr(space, "n", 0))
    if own >= layout.n_line + 2 * n_topo:
        lengths.add(own)
    return frozenset(lengths)


def _count(value: Any) -> int:
    """``value`` as a count (numpy integers too); 0 for anything else."""
    try:
        number = operator.index(value)
    except TypeError:
        return 0
    return max(number, 0)


def _lengths_text(lengths: frozenset[int]) -> str:
    """``154, 160 or 166``."""
    shown = [str(n) for n in sorted(lengths)]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


class _Problem(Exception):
    """A problem with one action; the caller adds the file, action and asset to the message."""


@dataclass
class _Raw:
    """One unitary action found in the file, before its content is checked."""

    kind: str
    asset_id: int
    payload: Any
    where: str  # JSON path of the action in the file
    fmt: str


# --------------------------------------------------------------------------------------------
# internals: one action


def _sub_buses(
    raw: _Raw, layout: GridLayout, lengths: frozenset[int]
) -> tuple[dict[int, int], list[str]]:
    """Bus of each element the action sets, by position in the substation, and warnings.

    ``lengths``: those of this grid's action vectors (:func:`vector_lengths`).
    """
    sub = raw.asset_id
    if raw.fmt == PARSER1:
        vector = _int_vector(raw.payload, "the bus vector", allow_float=False)
        size = layout.sub_sizes[sub]
        if len(vector) != size:
            raise _Problem(
                f"the bus vector has {len(vector)} entries, substation {sub} has {size} elements"
            )
        return _buses_of_vector(layout, sub, vector), []
    action = raw.payload
    if not isinstance(action, Mapping):
        raise _Problem(f"an action must be an object, got {_short(action)}")
    if raw.fmt == PARSER2:
        _only_keys(action, (_CONFIG_KEY,), "parser 2 format")
        return _sub_from_configuration(action[_CONFIG_KEY], layout, sub, lengths)
    _only_keys(action, ELEMENT_KEYS, "reference format, substation action")
    return _sub_from_reference(action, layout, sub)


def _only_keys(action: Mapping[Any, Any], allowed: Sequence[str], what: str) -> None:
    unknown = [key for key in action if key not in allowed]
    if unknown:
        raise _Problem(f"unknown key {_short(unknown[0])} ({what}: expected {', '.join(allowed)})")
    if not action:
        raise _Problem(f"empty action ({what}: expected {', '.join(allowed)})")


def _sub_from_reference(
    action: Mapping[str, Any], layout: GridLayout, sub: int
) -> tuple[dict[int, int], list[str]]:
    buses: dict[int, int] = {}
    notes: list[str] = []
    for key in ELEMENT_KEYS:
        if key not in action:
            continue
        pairs = action[key]
        if not isinstance(pairs, list):
            raise _Problem(f"{key} must be a list of [{_WORD[key]} id, bus] pairs")
        for pair in pairs:
            if not (
                isinstance(pair, list) and len(pair) == 2 and _is_int(pair[0]) and _is_int(pair[1])
            ):
                raise _Problem(
                    f"{key}: expected [{_WORD[key]} id, bus] integer pairs, got {_short(pair)}"
                )
            element, bus = pair
            what = f"{_WORD[key]} {element}"
            pos = _position(layout, key, element, sub)
            if bus == 0:
                notes.append(f"bus 0 for {what} leaves it unchanged: left out")
                continue
            _check_bus(layout, bus, what)
            if pos in buses:
                if buses[pos] != bus:
                    raise _Problem(f"{what} is set to bus {buses[pos]} and to bus {bus}")
                notes.append(f"{what} is listed twice")
            buses[pos] = bus
    if not buses:
        raise _Problem(f"sets no bus at substation {sub}")
    return buses, notes


def _position(layout: GridLayout, key: str, element: int, sub: int) -> int:
    """Position in substation ``sub``'s bus vector of an element named in the reference format."""
    set_bus_keys = _SET_BUS_OF[key]
    count = layout.n_elements(set_bus_keys[0])
    if not 0 <= element < count:
        raise _Problem(
            f"{_WORD[key]} {element} does not exist (the grid has {count} {_PLURAL[key]}"
            + (f", 0 to {count - 1})" if count else ")")
        )
    for set_bus_key in set_bus_keys:
        if layout.to_subid[set_bus_key][element] == sub:
            return layout.to_sub_pos[set_bus_key][element]
    if key == "lines_id_bus":
        ends = (layout.to_subid["lines_or_id"][element], layout.to_subid["lines_ex_id"][element])
        raise _Problem(
            f"line {element} is not connected to substation {sub} "
            f"(it links substations {ends[0]} and {ends[1]})"
        )
    raise _Problem(
        f"{_WORD[key]} {element} is not connected to substation {sub} "
        f"(it is at substation {layout.to_subid[set_bus_keys[0]][element]})"
    )


def _sub_from_configuration(
    value: Any, layout: GridLayout, sub: int, lengths: frozenset[int]
) -> tuple[dict[int, int], list[str]]:
    """Parser 2: a substation vector, a topology vector or a whole grid2op action vector."""
    vector = _number_vector(value)
    size = layout.sub_sizes[sub]
    n_topo = sum(layout.sub_sizes)
    n_line = layout.n_line
    start = sum(layout.sub_sizes[:sub])
    length = len(vector)
    if length == size:
        return _buses_of_vector(layout, sub, _integral(vector, "set_configuration")), []
    if length == n_topo:
        topo = _integral(vector, "set_configuration")
        _only_at_sub(layout, topo, sub, start)
        return _buses_of_vector(layout, sub, topo[start : start + size]), []
    if length not in lengths:
        raise _Problem(
            f"set_configuration has {len(vector)} entries: expected {size} (the elements of "
            f"substation {sub}), {n_topo} (a topology vector) or a grid2op action vector of "
            f"this grid ({_lengths_text(lengths)} entries; another grid's has another length)"
        )
    readings: list[tuple[dict[int, int], list[str]]] = []
    reasons: list[str] = []
    # (offset of set_bus, the block that must be empty for that reading, its name)
    layouts = (
        (2 * n_line, (n_line, 2 * n_line), "change_line_status"),
        (n_line, (n_line + n_topo, n_line + 2 * n_topo), "change_bus"),
    )
    for offset, (lo, hi), other in layouts:
        try:
            if any(x != 0 for x in vector[lo:hi]):
                raise _Problem(f"its {other} block is not empty")
            topo = _integral(vector[offset : offset + n_topo], "the set_bus block")
            _only_at_sub(layout, topo, sub, start)
            buses = _buses_of_vector(layout, sub, topo[start : start + size])
        except _Problem as exc:
            reasons.append(f"with set_bus at entry {offset}, {exc}")
            continue
        readings.append((buses, []))
    if not readings:
        raise _Problem(
            f"set_configuration ({length} entries) is not a grid2op action vector setting buses "
            f"at substation {sub}: " + "; ".join(reasons)
        )
    if len(readings) > 1 and readings[0][0] != readings[1][0]:
        raise _Problem(
            f"set_configuration ({length} entries) is ambiguous: it reads as two different "
            "actions in the two grid2op vector layouts; write the substation's bus vector instead"
        )
    buses, notes = readings[0]
    line_status = _integral_or_none(vector[:n_line])
    if line_status is None or any(x != 0 for x in line_status):
        notes = [*notes, "its set_line_status block is not read (as in Oracle4Grid)"]
    return buses, notes


def _only_at_sub(layout: GridLayout, topo: Sequence[int], sub: int, start: int) -> None:
    size = layout.sub_sizes[sub]
    for pos, bus in enumerate(topo):
        if bus != 0 and not start <= pos < start + size:
            other, local = _sub_of_topo_position(layout, pos)
            raise _Problem(
                f"it sets a bus at substation {other} (element {local} there), not only at "
                f"substation {sub}"
            )
    if all(bus == 0 for bus in topo[start : start + size]):
        raise _Problem(f"it sets no bus at substation {sub}")


def _sub_of_topo_position(layout: GridLayout, pos: int) -> tuple[int, int]:
    start = 0
    for sub, size in enumerate(layout.sub_sizes):
        if pos < start + size:
            return sub, pos - start
        start += size
    return layout.n_sub - 1, pos - start  # not reached: pos < dim_topo


def _buses_of_vector(layout: GridLayout, sub: int, vector: Sequence[int]) -> dict[int, int]:
    buses: dict[int, int] = {}
    for key, element, pos in layout.elements(sub):
        bus = vector[pos]
        if bus == 0:
            continue
        _check_bus(layout, bus, f"{_WORD[_REF_KEY[key]]} {element} (entry {pos} of the vector)")
        buses[pos] = bus
    if not buses:
        raise _Problem(f"sets no bus at substation {sub} (its vector is all 0)")
    return buses


def _check_bus(layout: GridLayout, bus: int, what: str) -> None:
    allowed = range(1, layout.n_busbar_per_sub + 1)
    if bus in allowed:
        return
    allowed_text = "{" + ", ".join(str(b) for b in allowed) + "}"
    if bus == -1:
        raise _Problem(
            f"bus -1 for {what} is not in {allowed_text}: set_bus -1 disconnects an element; "
            'disconnect a line with a "line" action'
        )
    raise _Problem(f"bus {bus} for {what} is not in {allowed_text}")


def _line_status(raw: _Raw, layout: GridLayout, lengths: frozenset[int]) -> tuple[int, list[str]]:
    action = raw.payload
    line = raw.asset_id
    if not isinstance(action, Mapping):
        raise _Problem(f"an action must be an object, got {_short(action)}")
    if raw.fmt == PARSER2:
        _only_keys(action, (_CONFIG_KEY,), "parser 2 format")
        status = _line_from_configuration(action[_CONFIG_KEY], layout, line, lengths)
    else:
        _only_keys(action, (_LINE_KEY,), "reference format, line action")
        status = action[_LINE_KEY]
        if not _is_int(status) or status not in (-1, 1):
            raise _Problem(
                f"set_line must be -1 (disconnect) or 1 (reconnect), got {_short(status)}"
            )
    notes = []
    if status == 1:
        notes.append(
            f"reconnects line {line}: Oracle4Grid's line actions disconnect lines; a reconnection "
            "has no effect while the line is connected"
        )
    return status, notes


def _line_from_configuration(
    value: Any, layout: GridLayout, line: int, lengths: frozenset[int]
) -> int:
    vector = _number_vector(value)
    n_line = layout.n_line
    if len(vector) != n_line and len(vector) not in lengths:
        raise _Problem(
            f"set_configuration has {len(vector)} entries: expected {n_line} (a line status "
            f"vector) or a grid2op action vector of this grid ({_lengths_text(lengths)} "
            "entries; another grid's has another length)"
        )
    status = _integral(vector[:n_line], "the set_line_status block")
    for other, value_ in enumerate(status):
        if other != line and value_ != 0:
            raise _Problem(f"it also sets the status of line {other}")
        if value_ not in (-1, 0, 1):
            raise _Problem(f"line status {value_} for line {other} is not -1, 0 or 1")
    if status[line] == 0:
        raise _Problem(f"it does not set the status of line {line}")
    return status[line]


def _sub_dicts(
    layout: GridLayout, sub: int, buses: Mapping[int, int]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The reference-format content and the grid2op dict of a substation action."""
    content: dict[str, list[list[int]]] = {}
    set_bus: dict[str, list[list[int]]] = {}
    for key, element, pos in layout.elements(sub):
        if pos in buses:
            content.setdefault(_REF_KEY[key], []).append([element, buses[pos]])
            set_bus.setdefault(key, []).append([element, buses[pos]])
    content_out = {key: sorted(content[key]) for key in ELEMENT_KEYS if key in content}
    set_bus_out = {key: sorted(set_bus[key]) for key in SET_BUS_KEYS if key in set_bus}
    return content_out, {"set_bus": set_bus_out}


def _topology_notes(layout: GridLayout, sub: int, buses: Mapping[int, int]) -> list[str]:
    """Warnings for a fully specified substation topology that cuts elements off."""
    elements = layout.elements(sub)
    if len(buses) != len(elements):
        return []  # elements left unchanged: their bus is not known here
    notes = []
    for bus in sorted(set(buses.values())):
        on_bus = [(key, el) for key, el, pos in elements if buses[pos] == bus]
        lines = [el for key, el in on_bus if key.startswith("lines_")]
        if not lines:
            cut = ", ".join(f"{_WORD[_REF_KEY[key]]} {el}" for key, el in on_bus)
            notes.append(f"bus {bus} has no line: {cut} would be cut off from the grid")
        elif len(on_bus) == 1:
            notes.append(f"bus {bus} holds only line {lines[0]}: that line would carry nothing")
    return notes


# --------------------------------------------------------------------------------------------
# internals: values


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int_vector(value: Any, what: str, *, allow_float: bool) -> list[int]:
    if not isinstance(value, list):
        raise _Problem(f"{what} must be a list of integers, got {_what(value)}")
    if allow_float:
        return _integral(_number_vector(value), what)
    for x in value:
        if not _is_int(x):
            raise _Problem(f"{what} must list integers, got {_short(x)}")
    return list(value)


def _number_vector(value: Any) -> list[int | float]:
    if not isinstance(value, list):
        raise _Problem(f"set_configuration must be a list of numbers, got {_what(value)}")
    for x in value:
        if not _is_number(x):
            raise _Problem(f"set_configuration must list numbers, got {_short(x)}")
    return list(value)


def _integral(vector: Sequence[int | float], what: str) -> list[int]:
    out = _integral_or_none(vector)
    if out is None:
        bad = next(x for x in vector if not _is_integral(x))
        raise _Problem(f"{what} holds {_short(bad)}, not an integer")
    return out


def _integral_or_none(vector: Sequence[int | float]) -> list[int] | None:
    if not all(_is_integral(x) for x in vector):
        return None
    return [int(x) for x in vector]


def _is_integral(x: int | float) -> bool:
    return isinstance(x, int) or (math.isfinite(x) and float(x).is_integer())


def _asset_word(kind: str) -> str:
    return "substation" if kind == SUB else "line"


def _asset_text(kind: str, asset_id: int) -> str:
    return f"{_asset_word(kind)} {asset_id}"


def _short(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
