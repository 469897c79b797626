"""Catalogue actions: one named candidate action and the grid2op dict that plays it.

A :class:`CatalogueAction` is a name (``donothing``, ``sub-5-12``, ``line-3-off``, ``line-3-on``),
a kind and a JSON-serialisable grid2op action dict that ``env.action_space(d)`` accepts as it is,
also after a round trip through a JSON file.

Topology actions set the bus of every element of one substation, element by element::

    {"set_bus": {"loads_id": [[4, 1]], "generators_id": [[2, 2]],
                 "lines_or_id": [[9, 1], [10, 2]], "lines_ex_id": [[7, 2]]}}

grid2op 1.12 refuses the shorter ``{"set_bus": {"substations_id": [[5, [...]]]}}`` once it has
been through JSON (it wants a list of *tuples* there), so the per-element form is the stored one;
:func:`set_bus_dict` builds it from a substation's bus vector and :func:`substation_vectors` gives
the vectors back. :class:`GridLayout` holds what both need to know about the grid.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gridoracle.files import describe_json_value as _what

if TYPE_CHECKING:
    from grid2op.Action import BaseAction

#: kinds of catalogue actions
DONOTHING = "donothing"
TOPOLOGY = "topology"
LINE_OFF = "line_off"
LINE_ON = "line_on"
KINDS: tuple[str, ...] = (DONOTHING, TOPOLOGY, LINE_OFF, LINE_ON)

#: keys of a grid2op ``set_bus`` dict, one per element type, in the order they are written
SET_BUS_KEYS: tuple[str, ...] = (
    "loads_id",
    "generators_id",
    "lines_or_id",
    "lines_ex_id",
    "storages_id",
)
# grid2op class attribute prefix of each element type
_PREFIX = {
    "loads_id": "load",
    "generators_id": "gen",
    "lines_or_id": "line_or",
    "lines_ex_id": "line_ex",
    "storages_id": "storage",
}


def _ints(values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(values if values is not None else [], dtype=np.int64))


@dataclass(frozen=True)
class GridLayout:
    """The facts about a grid an action catalogue depends on: sizes and where each element sits.

    Build it with :meth:`GridLayout.of` from an environment or its action space. It holds plain
    tuples (no grid2op object), so it pickles and compares cheaply.

    Attributes
    ----------
    n_sub, n_line, n_gen, n_load, n_storage : int
        Number of substations, powerlines, generators, loads and storage units.
    n_busbar_per_sub : int
        Busbars per substation (buses an element can be set to: 1 .. n_busbar_per_sub, or -1).
    sub_sizes : tuple of int
        Number of elements at each substation (grid2op's ``sub_info``).
    to_subid, to_sub_pos : dict of str to tuple of int
        For each ``set_bus`` key (``loads_id``, ``generators_id``, ``lines_or_id``,
        ``lines_ex_id``, ``storages_id``): the substation of each element and its position in
        that substation's bus vector (grid2op's ``*_to_subid`` and ``*_to_sub_pos``).
    """

    n_sub: int
    n_line: int
    n_gen: int
    n_load: int
    n_storage: int
    n_busbar_per_sub: int
    sub_sizes: tuple[int, ...]
    to_subid: Mapping[str, tuple[int, ...]] = field(repr=False, hash=False)
    to_sub_pos: Mapping[str, tuple[int, ...]] = field(repr=False, hash=False)
    # derived in __post_init__: per substation, (key, element id, position) sorted by position,
    # and the same grouped by key in SET_BUS_KEYS order as (key, ((element id, position), ...))
    _ordered: tuple[tuple[tuple[str, int, int], ...], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _grouped: tuple[tuple[tuple[str, tuple[tuple[int, int], ...]], ...], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def of(cls, source: Any) -> GridLayout:
        """The layout of an environment, an action space, or any grid2op ``GridObjects``.

        Parameters
        ----------
        source : grid2op Environment, ActionSpace or GridLayout
            Where to read the grid from (an environment is read through its action space).

        Returns
        -------
        GridLayout
        """
        if isinstance(source, GridLayout):
            return source
        space = getattr(source, "action_space", source)
        grid: Any = type(space) if not isinstance(space, type) else space
        to_subid = {key: _ints(getattr(grid, f"{p}_to_subid", None)) for key, p in _PREFIX.items()}
        to_pos = {key: _ints(getattr(grid, f"{p}_to_sub_pos", None)) for key, p in _PREFIX.items()}
        return cls(
            n_sub=int(grid.n_sub),
            n_line=int(grid.n_line),
            n_gen=int(grid.n_gen),
            n_load=int(grid.n_load),
            n_storage=int(getattr(grid, "n_storage", 0) or 0),
            n_busbar_per_sub=int(getattr(grid, "n_busbar_per_sub", 2)),
            sub_sizes=_ints(grid.sub_info),
            to_subid=to_subid,
            to_sub_pos=to_pos,
        )

    def n_elements(self, key: str) -> int:
        """Number of elements of the type named by a ``set_bus`` key (e.g. ``loads_id``)."""
        return len(self.to_subid[key])

    def buses(self) -> tuple[int, ...]:
        """The bus values a ``set_bus`` action may use: -1 (disconnect) and 1 .. n_busbar."""
        return (-1, *range(1, self.n_busbar_per_sub + 1))

    def __post_init__(self) -> None:
        by_sub: list[list[tuple[str, int, int]]] = [[] for _ in range(self.n_sub)]
        for key in SET_BUS_KEYS:
            for el, (sub, pos) in enumerate(
                zip(self.to_subid[key], self.to_sub_pos[key], strict=True)
            ):
                by_sub[sub].append((key, el, pos))
        # per substation: elements by position, and the same grouped by key in writing order
        ordered = tuple(tuple(sorted(els, key=lambda item: item[2])) for els in by_sub)
        grouped = tuple(
            tuple(
                (key, tuple((el, pos) for k, el, pos in els if k == key))
                for key in SET_BUS_KEYS
                if any(k == key for k, _, _ in els)
            )
            for els in by_sub
        )
        object.__setattr__(self, "_ordered", ordered)
        object.__setattr__(self, "_grouped", grouped)

    def elements(self, sub_id: int) -> list[tuple[str, int, int]]:
        """Elements of substation ``sub_id`` as ``(set_bus key, element id, position)``.

        Sorted by position in the substation, i.e. in grid2op's order of the substation's bus
        vector.
        """
        return list(self._ordered[sub_id])

    def line_positions(self, sub_id: int) -> tuple[int, ...]:
        """Positions, in substation ``sub_id``'s bus vector, of the powerline ends there."""
        return tuple(pos for key, _, pos in self.elements(sub_id) if key.startswith("lines_"))

    def fingerprint(self) -> str:
        """A short hash of the element layout (sizes, substations and positions of elements).

        Two grids with the same fingerprint give the same meaning to every topology vector.
        """
        payload = {
            "sub_sizes": list(self.sub_sizes),
            "to_subid": {k: list(self.to_subid[k]) for k in SET_BUS_KEYS},
            "to_sub_pos": {k: list(self.to_sub_pos[k]) for k in SET_BUS_KEYS},
        }
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        """The sizes written in a catalogue file's ``grid`` block (deterministic key order)."""
        return {
            "n_sub": self.n_sub,
            "n_line": self.n_line,
            "n_gen": self.n_gen,
            "n_load": self.n_load,
            "n_storage": self.n_storage,
            "n_busbar_per_sub": self.n_busbar_per_sub,
            "sub_sizes": list(self.sub_sizes),
            "layout": self.fingerprint(),
        }


def set_bus_dict(grid: GridLayout, sub_id: int, buses: Sequence[int]) -> dict[str, Any]:
    """The grid2op ``set_bus`` dict that sets substation ``sub_id`` to the bus vector ``buses``.

    Parameters
    ----------
    grid : GridLayout
        The grid.
    sub_id : int
        The substation.
    buses : sequence of int
        One bus per element of the substation, in grid2op's order of the substation.

    Returns
    -------
    dict
        ``{"set_bus": {key: [[element id, bus], ...], ...}}`` with the keys in
        :data:`SET_BUS_KEYS` order and the elements of each key by increasing id; plain ints, so
        ``json.dumps`` writes it and ``env.action_space`` accepts it back from ``json.loads``.
    """
    if len(buses) != grid.sub_sizes[sub_id]:
        raise ValueError(
            f"substation {sub_id} has {grid.sub_sizes[sub_id]} elements, "
            f"got a vector of {len(buses)}"
        )
    grouped = grid._grouped[sub_id]
    return {
        "set_bus": {key: [[el, int(buses[pos])] for el, pos in items] for key, items in grouped}
    }


def substation_vectors(grid: GridLayout, set_bus: Mapping[str, Any]) -> dict[int, list[int]]:
    """Bus vector of every substation a per-element ``set_bus`` dict touches.

    The inverse of :func:`set_bus_dict`: elements the dict does not set are 0 ("unchanged", as
    in grid2op). Element ids must be valid for ``grid``.
    """
    out: dict[int, list[int]] = {}
    for key in SET_BUS_KEYS:
        for el, bus in set_bus.get(key, ()):
            sub = grid.to_subid[key][el]
            vec = out.setdefault(sub, [0] * grid.sub_sizes[sub])
            vec[grid.to_sub_pos[key][el]] = int(bus)
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class Action:
    """A named grid2op action: the one action type that every part of gridoracle accepts.

    The catalogue's actions (:class:`CatalogueAction`), the Oracle's unitary and combined actions
    (:class:`~gridoracle.actions.parse.UnitaryAction`,
    :class:`~gridoracle.actions.combine.CombinedAction`) are Actions with more to say; the
    engines take any of them.

    Attributes
    ----------
    name : str
        A stable name (``donothing``, ``sub-5-12``, ``line-3-off``, ``sub-1-0_line-4-3``, ...).
    grid2op : dict
        The JSON-serialisable action dict, accepted as is by ``env.action_space(d)``, also after
        a JSON round trip. Not part of the hash (a dict is not hashable). Use
        :meth:`grid2op_dict` for a copy to modify.

    Examples
    --------
    >>> a = Action("line-3-off", {"set_line_status": [[3, -1]]})
    >>> a.grid2op_dict() == a.grid2op and a.grid2op_dict() is not a.grid2op
    True
    """

    name: str
    grid2op: dict[str, Any] = field(hash=False)

    def grid2op_dict(self) -> dict[str, Any]:
        """A fresh copy of :attr:`grid2op`."""
        return copy.deepcopy(self.grid2op)

    def to_grid2op(self, action_space: Any) -> BaseAction:
        """The grid2op action, built by ``action_space`` (no caching: that is the caller's)."""
        return action_space(copy.deepcopy(self.grid2op))


@dataclass(frozen=True, kw_only=True)
class CatalogueAction(Action):
    """One candidate action: a stable name, its kind and the grid2op dict that plays it.

    Attributes
    ----------
    name : str
        ``donothing``, ``sub-<sub id>-<k>`` (k: rank of that topology in the enumeration of the
        substation's unitary topologies), ``line-<line id>-off`` or ``line-<line id>-on``.
    kind : str
        One of :data:`KINDS`: ``donothing``, ``topology``, ``line_off``, ``line_on``.
    grid2op : dict
        JSON-serialisable action dict, accepted as is by ``env.action_space(d)``. Not part of the
        hash (a dict is not hashable); two actions are equal when all three fields are.
    """

    kind: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"action kind {self.kind!r} is not one of {', '.join(KINDS)}")

    def to_json(self) -> dict[str, Any]:
        """``{"name", "kind", "grid2op"}``, a fresh copy ready for ``json.dumps``."""
        return {"name": self.name, "kind": self.kind, "grid2op": copy.deepcopy(self.grid2op)}

    @classmethod
    def from_json(cls, obj: Any) -> CatalogueAction:
        """Build an action from :meth:`to_json`'s output.

        Only the shape is checked here (a name, a known kind, a dict); whether the dict fits a
        grid is :func:`gridoracle.actions.catalogue.load_catalogue`'s job.

        Raises
        ------
        ValueError
            When ``obj`` does not have that shape; the message says what is wrong.
        """
        name, kind, g2op = check_entry_shape(obj)
        return cls(name=name, kind=kind, grid2op=copy.deepcopy(dict(g2op)))

    def touched(
        self, grid: GridLayout | Any | None = None
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Substations and powerlines the action acts on, each sorted by id.

        Parameters
        ----------
        grid : GridLayout, environment or action space, optional
            Needed for actions that set buses (to know where each element sits).

        Returns
        -------
        (substations, lines) : tuple of tuple of int
        """
        lines = sorted({int(line) for line, _ in self.grid2op.get("set_line_status", ())})
        set_bus = self.grid2op.get("set_bus")
        subs: list[int] = []
        if set_bus:
            if grid is None:
                raise ValueError(f"action {self.name}: set_bus actions need the grid layout")
            subs = list(substation_vectors(GridLayout.of(grid), set_bus))
        return tuple(subs), tuple(lines)


def check_entry_shape(obj: Any) -> tuple[str, str, Mapping[str, Any]]:
    """``(name, kind, grid2op dict)`` of a catalogue entry, or ValueError saying what is wrong.

    Only the shape: a non-empty name, a kind of :data:`KINDS`, an object for ``grid2op``.
    """
    if not isinstance(obj, Mapping):
        raise ValueError(f"expected an object with name, kind and grid2op, got {_what(obj)}")
    missing = [k for k in ("name", "kind", "grid2op") if k not in obj]
    if missing:
        raise ValueError(f"missing {', '.join(repr(k) for k in missing)}")
    name, kind, g2op = obj["name"], obj["kind"], obj["grid2op"]
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {_what(name)}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {_short_repr(kind)}")
    if not isinstance(g2op, Mapping):
        raise ValueError(f"grid2op must be an object, got {_what(g2op)}")
    return name, kind, g2op


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def donothing_action() -> CatalogueAction:
    """The ``donothing`` action (grid2op dict ``{}``)."""
    return CatalogueAction(name=DONOTHING, kind=DONOTHING, grid2op={})


def topology_action(grid: GridLayout, sub_id: int, k: int, buses: Sequence[int]) -> CatalogueAction:
    """``sub-<sub_id>-<k>``: set substation ``sub_id`` to the bus vector ``buses``."""
    return CatalogueAction(
        name=f"sub-{sub_id}-{k}", kind=TOPOLOGY, grid2op=set_bus_dict(grid, sub_id, buses)
    )


def line_action(line_id: int, connect: bool) -> CatalogueAction:
    """``line-<id>-on`` (reconnect, on the buses grid2op remembers) or ``line-<id>-off``."""
    if connect:
        return CatalogueAction(
            name=f"line-{line_id}-on", kind=LINE_ON, grid2op={"set_line_status": [[line_id, 1]]}
        )
    return CatalogueAction(
        name=f"line-{line_id}-off", kind=LINE_OFF, grid2op={"set_line_status": [[line_id, -1]]}
    )


def count_kinds(actions: Iterable[CatalogueAction]) -> dict[str, int]:
    """Number of actions of each kind, in :data:`KINDS` order, kinds with none left out."""
    counts = dict.fromkeys(KINDS, 0)
    for action in actions:
        counts[action.kind] += 1
    return {kind: n for kind, n in counts.items() if n}
