"""What an action does to the reference topology: its effect, no-op actions and identical effects.

The *effect* of an action is the topology it leaves when played on the reference topology of an
environment (the bus of every element and the status of every line in the initial observation of
a chronic, ``obs.topo_vect`` and ``obs.line_status``), written in a canonical form so that two
actions that leave the same grid have the same effect:

1. **The buses after the action.** ``set_bus`` puts each element it names on its bus (-1
   disconnects it; a line end set to -1 disconnects the line); ``set_line_status`` -1 disconnects
   a line, +1 reconnects a line that is out (on the buses it had in the reference, bus 1 where it
   had none there; a line in service stays as it is). A line is in service when both its ends are
   on a bus; a line out of service has both ends at -1.
2. **A line that carries nothing is out of service.** A line end alone on a bus (nothing else
   connected there) leaves the line open at that end. When the line has no shunt admittance (no
   charging: transformers, and lines modelled without it) nothing flows in it and its effect is
   exactly that of the line disconnected; the line is marked out of service, which may leave the
   other end's bus with one element and repeat. A line *with* charging, open at one end, still
   draws its charging current from the other end: the flows differ from the line disconnected
   (by up to 0.085 in rho on ``l2rpn_case14_sandbox``'s line 4), so that stays a topology of its
   own (and the two ends open are two different ones). A line whose two ends are each alone on a
   bus carries nothing either. Which lines have no shunt admittance is read from the grid model
   of the environment's backend (lightsim2grid); on another backend every line is taken to have
   some, which merges nothing.
3. **Bus labels do not matter.** Within a substation the buses are renumbered in order of first
   use over the substation's elements (grid2op's order): putting every element of a substation on
   bus 2 is the same topology as every element on bus 1.

A load, generator or storage unit with no line on its bus (alone, or with other injections
only) or disconnected is cut off from the grid, and so is a shunt left with no line on its bus:
grid2op ends the episode on it. Such an effect is kept as it is, distinct from every other (it is
not "that element disconnected"), and says so (:attr:`Effect.alone_injections`). Shunts are not
moved by ``set_bus``, but they anchor their bus: at a substation with a shunt on bus 1, every
other element on bus 2 is not the reference topology (it leaves the shunt alone).

Do nothing, the reference topology with every line as in the reference, is the identity: an
action whose effect is the identity is a **no-op** (:func:`is_no_op`); two actions with the same
effect are **identical in effect** (:func:`group_by_effect`). Both are judged on the reference
topology, as Oracle4Grid judges its actions at t0: in a state where a line has tripped, an action
that puts that line's end on bus 1 reconnects it, and differs from do nothing there. The effect
is about the grid's flows, not the game rules: a topology action and a line disconnection of the
same effect have different cooldowns.

Only ``set_bus`` and ``set_line_status`` are read. An action with anything else (``change_bus``,
redispatching, ...) has no known effect (``None``): it is never a no-op and never merged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from gridoracle.actions.model import DONOTHING, SET_BUS_KEYS, Action, GridLayout

__all__ = [
    "DistinctActions",
    "Effect",
    "EffectGroup",
    "ReferenceTopology",
    "distinct_actions",
    "effect_of",
    "group_by_effect",
    "is_no_op",
]

A = TypeVar("A", bound=Action)

_READ_KEYS = frozenset({"set_bus", "set_line_status"})
_INJECTION_KEYS = ("loads_id", "generators_id", "storages_id")
_BATCH = 2048  # actions canonicalised at once (memory: a few arrays of batch × elements)


@dataclass(frozen=True)
class Effect:
    """The canonical topology an action leaves on the reference topology (see the module doc).

    Attributes
    ----------
    changes : tuple of (int, int)
        ``(position in grid2op's topology vector, canonical bus)`` of every element whose
        canonical bus differs from the reference's (canonical buses: -1 out of service, else 1 ..
        n_busbar numbered in order of first use within the substation). Empty for the identity.
    alone_injections : tuple of int
        Positions of the loads, generators and storage units the action leaves with no line on
        their bus or disconnects, and of the shunts it leaves with no line on their bus (shunt
        ``k`` is position ``len(topo_vect) + k``): grid2op ends the episode on them (an
        island, or lightsim2grid's "non connected grid" divergence). Sorted; not part of
        equality (it follows from the topology).
    """

    changes: tuple[tuple[int, int], ...]
    alone_injections: tuple[int, ...] = field(default=(), compare=False)

    @property
    def is_identity(self) -> bool:
        """Whether the action leaves the reference topology as it is (a no-op)."""
        return not self.changes


@dataclass(frozen=True)
class ReferenceTopology:
    """The reference topology of a grid, and what judging an effect needs about the grid.

    Build it with :meth:`of` (an environment, reset to a chronic) or :meth:`from_observation`.

    Attributes
    ----------
    layout : GridLayout
        Where each element sits.
    topo_vect : tuple of int
        Bus of every element in grid2op's topology vector order (-1: disconnected).
    line_status : tuple of bool
        Whether each powerline is in service.
    shunt_free : tuple of bool
        Per powerline: no shunt admittance, so that an end alone on a bus means nothing flows.
    shunt_subs, shunt_buses : tuple of int
        Substation and bus (-1: disconnected) of each shunt. ``set_bus`` does not move shunts,
        but a line end that shares its bus with a shunt is not alone (it feeds the shunt), and a
        shunt anchors its bus: with a shunt on bus 1, all the other elements on bus 2 is not the
        reference topology.
    """

    layout: GridLayout
    topo_vect: tuple[int, ...]
    line_status: tuple[bool, ...]
    shunt_free: tuple[bool, ...]
    shunt_subs: tuple[int, ...] = ()
    shunt_buses: tuple[int, ...] = ()
    _canon: np.ndarray = field(init=False, repr=False, compare=False)
    _arrays: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)
    _line_of: dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lay = self.layout
        start = np.concatenate([[0], np.cumsum(lay.sub_sizes)]).astype(np.int64)
        n_topo = int(start[-1])
        if len(self.topo_vect) != n_topo:
            raise ValueError(f"topo_vect has {len(self.topo_vect)} elements, the grid {n_topo}")
        if len(self.line_status) != lay.n_line or len(self.shunt_free) != lay.n_line:
            raise ValueError(f"line_status and shunt_free need {lay.n_line} values")
        if len(self.shunt_subs) != len(self.shunt_buses):
            raise ValueError("shunt_subs and shunt_buses differ in length")

        def pos(key: str) -> np.ndarray:
            subs = np.asarray(lay.to_subid[key], dtype=np.int64)
            return start[subs] + np.asarray(lay.to_sub_pos[key], dtype=np.int64)

        # the working vector: the topology vector, then one entry per shunt
        shunt_subs = np.asarray(self.shunt_subs, dtype=np.int64)
        sub_of = np.concatenate(
            [np.repeat(np.arange(lay.n_sub), lay.sub_sizes), shunt_subs]
        ).astype(np.int64)
        # order of first use within a substation: its shunts first, then its elements
        rank = np.concatenate([2 * np.arange(n_topo) + 1, 2 * start[shunt_subs]]).astype(np.int64)
        n_all = n_topo + len(shunt_subs)
        injection = np.zeros(n_all, dtype=bool)
        line_end = np.zeros(n_all, dtype=bool)
        for key in _INJECTION_KEYS:
            injection[pos(key)] = True
        arrays = {key: pos(key) for key in SET_BUS_KEYS}
        line_end[arrays["lines_or_id"]] = True
        line_end[arrays["lines_ex_id"]] = True
        # columns by substation, each substation's shunts first, then its elements in order
        order = np.lexsort((rank, sub_of))
        block = np.flatnonzero(np.r_[True, sub_of[order][1:] != sub_of[order][:-1]])
        arrays.update(
            order=order,
            block=block,
            block_sub=sub_of[order][block],
            start=start,
            sub_of=sub_of,
            rank=rank,
            injection=injection,
            shunt=np.arange(n_all) >= n_topo,
            line_end=line_end,
            shunt_free=np.asarray(self.shunt_free, dtype=bool),
            status=np.asarray(self.line_status, dtype=bool),
            raw=np.concatenate([self.topo_vect, self.shunt_buses]).astype(np.int64),
        )
        object.__setattr__(self, "_arrays", arrays)
        line_of = {int(p): line for line, p in enumerate(arrays["lines_or_id"])}
        line_of.update({int(p): line for line, p in enumerate(arrays["lines_ex_id"])})
        object.__setattr__(self, "_line_of", line_of)
        raw = arrays["raw"].copy()
        off = ~np.asarray(self.line_status, dtype=bool)
        raw[arrays["lines_or_id"][off]] = -1
        raw[arrays["lines_ex_id"][off]] = -1
        object.__setattr__(self, "_canon", self._canonical(raw[None, :])[0])

    @property
    def n_topo(self) -> int:
        """Length of grid2op's topology vector."""
        return len(self.topo_vect)

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def from_observation(cls, obs: Any, env: Any) -> ReferenceTopology:
        """The reference topology of an observation (its ``topo_vect`` and ``line_status``).

        Parameters
        ----------
        obs : grid2op Observation
            Typically the first observation of a chronic.
        env : grid2op Environment
            Its environment (for the layout, the shunts and the lines' shunt admittance).
        """
        grid_cls: Any = type(getattr(env, "action_space", env))
        n_shunt = int(getattr(grid_cls, "n_shunt", 0) or 0)
        shunt_subs = tuple(int(s) for s in np.asarray(getattr(grid_cls, "shunt_to_subid", ())))
        shunt_bus = getattr(obs, "_shunt_bus", None)
        buses = np.ones(n_shunt, dtype=np.int64) if shunt_bus is None else np.asarray(shunt_bus)
        return cls(
            layout=GridLayout.of(env),
            topo_vect=tuple(int(b) for b in np.asarray(obs.topo_vect)),
            line_status=tuple(bool(s) for s in np.asarray(obs.line_status)),
            shunt_free=shunt_free_lines(env),
            shunt_subs=shunt_subs[:n_shunt],
            shunt_buses=tuple(int(b) for b in buses[:n_shunt]),
        )

    @classmethod
    def of(
        cls, env: Any, *, chronic: int | None = None, seed: int | None = None
    ) -> ReferenceTopology:
        """The reference topology of ``env``: its first observation after a reset.

        Parameters
        ----------
        env : grid2op Environment
            Reset (``env.reset(seed=seed, options={"time serie id": chronic})``).
        chronic : int, optional
            Chronic index; default: the one grid2op picks.
        seed : int, optional
            Seed of the reset.
        """
        options = {"time serie id": int(chronic)} if chronic is not None else None
        obs = env.reset(seed=seed, options=options)
        return cls.from_observation(obs, env)

    # -- effects -----------------------------------------------------------------------------

    def effect(self, action: Action | Mapping[str, Any]) -> Effect | None:
        """The effect of ``action`` (an Action or a grid2op dict); ``None`` when unknown.

        Raises
        ------
        ValueError
            When the dict names an element or a line the grid does not have.
        """
        return self.effects([action])[0]

    def effects(self, actions: Sequence[Action | Mapping[str, Any]]) -> list[Effect | None]:
        """The effect of each action, computed in batches (arrays of actions × elements).

        Raises
        ------
        ValueError
            When a dict names an element or a line the grid does not have.
        """
        out: list[Effect | None] = [None] * len(actions)
        for lo in range(0, len(actions), _BATCH):
            batch = actions[lo : lo + _BATCH]
            raws = [self._apply(a.grid2op if isinstance(a, Action) else a) for a in batch]
            known = [i for i, raw in enumerate(raws) if raw is not None]
            if not known:
                continue
            canon = self._canonical(np.stack([r for r in raws if r is not None]))
            rows, cols = np.nonzero(canon != self._canon)
            cut_rows, cut_cols = np.nonzero(self._cut_off(canon))
            splits = np.searchsorted(rows, np.arange(1, len(known)))
            cut_splits = np.searchsorted(cut_rows, np.arange(1, len(known)))
            per_row = zip(
                np.split(cols, splits),
                np.split(canon[rows, cols], splits),
                np.split(cut_cols, cut_splits),
                strict=True,
            )
            for i, (pos, bus, cut) in zip(known, per_row, strict=True):
                out[lo + i] = Effect(
                    changes=tuple(zip(pos.tolist(), bus.tolist(), strict=True)),
                    alone_injections=tuple(cut.tolist()),
                )
        return out

    def _apply(self, d: Mapping[str, Any]) -> np.ndarray | None:
        """Raw buses after the action dict ``d`` (lines out: both ends -1); None if unknown."""
        if any(value for key, value in d.items() if key not in _READ_KEYS):
            return None
        a = self._arrays
        lay = self.layout
        raw = a["raw"].copy()
        or_pos, ex_pos = a["lines_or_id"], a["lines_ex_id"]
        status = a["status"].copy()
        set_pos: dict[int, int] = {}
        set_bus = d.get("set_bus") or {}
        for sub, vec in set_bus.get("substations_id", ()):
            if not 0 <= int(sub) < lay.n_sub or len(vec) != lay.sub_sizes[int(sub)]:
                raise ValueError(f"set_bus.substations_id: substation {sub} does not fit the grid")
            for k, bus in enumerate(vec):
                if int(bus) != 0:
                    set_pos[int(a["start"][int(sub)]) + k] = int(bus)
        for key in SET_BUS_KEYS:
            positions = a[key]
            for el, bus in set_bus.get(key, ()):
                if not 0 <= int(el) < len(positions):
                    raise ValueError(f"set_bus.{key}: element {el} does not exist")
                if int(bus) != 0:
                    set_pos[int(positions[int(el)])] = int(bus)
        line_set: dict[int, int] = {}
        for line, value in d.get("set_line_status", ()):
            if not 0 <= int(line) < lay.n_line:
                raise ValueError(f"set_line_status: line {line} does not exist")
            if int(value) != 0:
                line_set[int(line)] = int(value)
        for pos_, bus in set_pos.items():
            raw[pos_] = bus
        line_of = self._line_of
        touched = sorted({*line_set, *(line_of[p] for p in set_pos if p in line_of)})
        for line in touched:
            o, e = int(or_pos[line]), int(ex_pos[line])
            value = line_set.get(line, 0)
            end_set = set_pos.get(o, 0) >= 1 or set_pos.get(e, 0) >= 1
            end_off = set_pos.get(o, 0) < 0 or set_pos.get(e, 0) < 0
            if (value < 0 and end_set) or (value > 0 and end_off):
                return None  # grid2op refuses these as ambiguous
            if value < 0 or end_off:
                status[line] = False
            elif value > 0 or end_set:
                if not status[line]:  # reconnected: the ends not set go where they were
                    for p in (o, e):
                        if p not in set_pos:
                            raw[p] = max(1, int(a["raw"][p]))
                status[line] = True
        raw[or_pos[~status]] = -1
        raw[ex_pos[~status]] = -1
        return raw

    def _canonical(self, raw: np.ndarray) -> np.ndarray:
        """Steps 2 and 3 of the module doc, on raw buses (one row per action, lines out at -1).

        Vectorised over the rows: a few array operations per batch, whatever its size.
        """
        a = self._arrays
        n_sub = self.layout.n_sub
        nb = max(self.layout.n_busbar_per_sub, int(raw.max(initial=1)))
        n_rows = raw.shape[0]
        buses = raw.copy()
        or_pos, ex_pos, sub_of = a["lines_or_id"], a["lines_ex_id"], a["sub_of"]
        offset = (np.arange(n_rows) * (n_sub * nb))[:, None]
        while True:
            gid = np.where(buses >= 1, sub_of * nb + buses - 1, 0) + offset
            count = np.bincount(gid[buses >= 1], minlength=n_rows * n_sub * nb)
            on = (buses[:, or_pos] >= 1) & (buses[:, ex_pos] >= 1)
            alone_or = on & (count[gid[:, or_pos]] == 1)
            alone_ex = on & (count[gid[:, ex_pos]] == 1)
            dead = ((alone_or | alone_ex) & a["shunt_free"]) | (alone_or & alone_ex)
            if not dead.any():
                break
            rows, lines = np.nonzero(dead)
            buses[rows, or_pos[lines]] = -1
            buses[rows, ex_pos[lines]] = -1
        # renumber each substation's buses in order of first use: in the column order of
        # ``ordered`` (by substation: its shunts, then its elements in grid2op's order), the first
        # column of each substation on each bus
        ordered = buses[:, a["order"]]
        big = ordered.shape[1]
        cols = np.arange(big)
        first = np.stack(
            [
                np.minimum.reduceat(np.where(ordered == bus, cols, big), a["block"], axis=1)
                for bus in range(1, nb + 1)
            ],
            axis=2,
        )  # (rows, substations, buses): first column of each bus, big when unused
        rank = np.argsort(np.argsort(first, axis=2, kind="stable"), axis=2)
        sub_blocks = a["block_sub"]  # substation of each block (every block has >= 1 entry)
        label = np.zeros((n_rows, n_sub, nb), dtype=np.int64)
        label[:, sub_blocks, :] = rank + 1
        row_idx = np.arange(n_rows)[:, None]
        relabelled = label[row_idx, sub_of[None, :], np.clip(buses - 1, 0, nb - 1)]
        return np.where(buses >= 1, relabelled, buses)

    def _cut_off(self, canon: np.ndarray) -> np.ndarray:
        """Per row, the injections with no line in service on their bus (or disconnected)."""
        a = self._arrays
        n_rows = canon.shape[0]
        n_sub = self.layout.n_sub
        nb = max(self.layout.n_busbar_per_sub, int(canon.max(initial=1)))
        offset = (np.arange(n_rows) * (n_sub * nb))[:, None]
        gid = np.where(canon >= 1, a["sub_of"] * nb + canon - 1, 0) + offset
        lines_at = np.bincount(gid[(canon >= 1) & a["line_end"]], minlength=n_rows * n_sub * nb)
        no_line = lines_at[gid] == 0
        shunt = a["shunt"] & (canon >= 1) & no_line  # a shunt alone: lightsim2grid diverges
        return (a["injection"] & ((canon < 1) | no_line)) | shunt


def shunt_free_lines(env: Any) -> tuple[bool, ...]:
    """Per powerline of ``env``: whether it has no shunt admittance (charging) at either end.

    Read from lightsim2grid's grid model (``env.backend._grid``: lines, then transformers,
    matched to grid2op's lines by the topology vector position of their origin). On any other
    backend, every line is taken to have a shunt admittance (False everywhere).
    """
    grid_cls: Any = type(getattr(env, "action_space", env))
    n_line = int(grid_cls.n_line)
    model = getattr(getattr(env, "backend", None), "_grid", None)
    if model is None or not hasattr(model, "get_lines") or not hasattr(model, "get_trafos"):
        return (False,) * n_line
    by_origin = {int(p): line for line, p in enumerate(np.asarray(grid_cls.line_or_pos_topo_vect))}
    out = [False] * n_line
    for branch in (*model.get_lines(), *model.get_trafos()):
        line = by_origin.get(int(branch.pos1_topo_vect))
        if line is not None:
            out[line] = abs(complex(branch.h1_pu)) == 0.0 and abs(complex(branch.h2_pu)) == 0.0
    return tuple(out)


def _reference(env_or_reference: Any) -> ReferenceTopology:
    if isinstance(env_or_reference, ReferenceTopology):
        return env_or_reference
    return ReferenceTopology.of(env_or_reference)


def effect_of(action: Action | Mapping[str, Any], env_or_reference: Any) -> Effect | None:
    """The effect of ``action`` on the reference topology (``None`` when it cannot be told).

    Parameters
    ----------
    action : Action or grid2op action dict
        The action.
    env_or_reference : ReferenceTopology or grid2op Environment
        The reference topology, or an environment (reset to read it: pass a
        :class:`ReferenceTopology` to judge many actions).
    """
    return _reference(env_or_reference).effect(action)


def is_no_op(action: Action | Mapping[str, Any], env_or_reference: Any) -> bool:
    """Whether ``action`` changes nothing on the reference topology (see the module doc).

    Do nothing is a no-op; so is a topology that sets the buses the reference already has, or
    every element of a substation on bus 2, or a line reconnection of a line in service. An action
    whose effect cannot be told is not.

    Parameters
    ----------
    action : Action or grid2op action dict
        The action.
    env_or_reference : ReferenceTopology or grid2op Environment
        As in :func:`effect_of`.

    Examples
    --------
    >>> from gridoracle.grid import make_env
    >>> env = make_env("l2rpn_case14_sandbox")
    >>> ref = ReferenceTopology.of(env, chronic=0, seed=0)
    >>> is_no_op({"set_line_status": [[3, 1]]}, ref), is_no_op({"set_line_status": [[3, -1]]}, ref)
    (True, False)
    """
    effect = effect_of(action, env_or_reference)
    return effect is not None and effect.is_identity


@dataclass(frozen=True)
class EffectGroup:
    """Actions of one effect: the one kept and the others.

    Attributes
    ----------
    kept : Action
        The first of the group in the given order (for the identity: the explicit do nothing,
        an action with an empty dict, when there is one).
    merged : tuple of Action
        The others, in the given order.
    effect : Effect or None
        Their effect (None: unknown; such an action is a group of its own).
    """

    kept: Action
    merged: tuple[Action, ...]
    effect: Effect | None

    @property
    def is_no_op(self) -> bool:
        """Whether the group's effect is the identity."""
        return self.effect is not None and self.effect.is_identity


def group_by_effect(actions: Sequence[Action], env_or_reference: Any) -> list[EffectGroup]:
    """Group ``actions`` by effect on the reference topology, in order of first appearance.

    Parameters
    ----------
    actions : sequence of Action
        The actions.
    env_or_reference : ReferenceTopology or grid2op Environment
        As in :func:`effect_of`.

    Returns
    -------
    list of EffectGroup
        One per distinct effect (each action of unknown effect alone), ordered by the position
        of its first member.
    """
    ref = _reference(env_or_reference)
    members: dict[Effect, list[Action]] = {}
    order: list[tuple[Effect | None, list[Action]]] = []
    for action, effect in zip(actions, ref.effects(actions), strict=True):
        if effect is None:
            order.append((None, [action]))
        elif effect in members:
            members[effect].append(action)
        else:
            members[effect] = [action]
            order.append((effect, members[effect]))
    groups = []
    for effect, acts in order:
        kept = acts[0]
        if effect is not None and effect.is_identity:
            kept = next((a for a in acts if not a.grid2op), acts[0])
        merged = tuple(a for a in acts if a is not kept)
        groups.append(EffectGroup(kept=kept, merged=merged, effect=effect))
    return groups


@dataclass(frozen=True)
class DistinctActions(Generic[A]):
    """What :func:`distinct_actions` kept and left out.

    Attributes
    ----------
    actions : list of Action
        The actions kept, in the given order.
    no_ops : tuple of str
        Names of the actions left out because they change nothing (the do nothing action kept
        is not among them).
    merged : tuple of (str, tuple of str)
        ``(kept name, names left out)`` for each effect that several actions share (no no-ops
        among them), in order.
    cut_off : tuple of str
        Names of the actions kept that cut a load, generator or storage unit off the grid (a
        game over in grid2op: their targets are NaN with status 1), in order.
    """

    actions: list[A]
    no_ops: tuple[str, ...]
    merged: tuple[tuple[str, tuple[str, ...]], ...]
    cut_off: tuple[str, ...] = ()

    @property
    def dropped(self) -> int:
        """How many actions were left out."""
        return len(self.no_ops) + sum(len(names) for _, names in self.merged)

    def record(self) -> dict[str, Any]:
        """The JSON record, in order: ``no_op`` (names), ``merged`` (``{"kept", "same_effect"}``
        per group) and ``cut_off`` (names)."""
        return {
            "no_op": list(self.no_ops),
            "merged": [{"kept": k, "same_effect": list(v)} for k, v in self.merged],
            "cut_off": list(self.cut_off),
        }


def distinct_actions(
    actions: Sequence[A], env_or_reference: Any, *, merge: bool = True
) -> DistinctActions[A]:
    """Drop the no-op actions (but the explicit do nothing) and, with ``merge``, the duplicates.

    Parameters
    ----------
    actions : sequence of Action
        The actions, e.g. a catalogue (``donothing`` first).
    env_or_reference : ReferenceTopology or grid2op Environment
        As in :func:`effect_of`.
    merge : bool
        Also keep only the first of the actions of each effect (:func:`group_by_effect`).

    Returns
    -------
    DistinctActions
        The actions kept in the given order, and what was left out. The do nothing action (kind
        ``donothing``, or an empty dict) is kept: it is the baseline, not a copy.

    Examples
    --------
    >>> from gridoracle.actions import enumerate_actions
    >>> from gridoracle.grid import make_env
    >>> env = make_env("l2rpn_case14_sandbox")
    >>> kept = distinct_actions(enumerate_actions(env, "all"), ReferenceTopology.of(env, chronic=0))
    >>> len(kept.actions), kept.no_ops[:2], kept.merged[0]
    (160, ('sub-0-0', 'sub-1-0'), ('sub-3-1', ('sub-8-3', 'line-16-off')))
    """
    groups = group_by_effect(actions, env_or_reference)
    dropped: set[int] = set()
    no_ops: list[str] = []
    merged: list[tuple[str, tuple[str, ...]]] = []
    cut_off: set[int] = set()
    for group in groups:
        if group.effect is not None and group.effect.alone_injections:
            cut_off.add(id(group.kept))
        if group.is_no_op:
            keep_baseline = _is_do_nothing(group.kept)
            for action in (group.kept, *group.merged):
                if keep_baseline and action is group.kept:
                    continue
                dropped.add(id(action))
                no_ops.append(action.name)
        elif merge and group.merged:
            dropped.update(id(a) for a in group.merged)
            merged.append((group.kept.name, tuple(a.name for a in group.merged)))
        elif group.effect is not None and group.effect.alone_injections:
            cut_off.update(id(a) for a in group.merged)
    kept = [a for a in actions if id(a) not in dropped]
    return DistinctActions(
        actions=kept,
        no_ops=tuple(no_ops),
        merged=tuple(merged),
        cut_off=tuple(a.name for a in kept if id(a) in cut_off),
    )


def _is_do_nothing(action: Action) -> bool:
    return getattr(action, "kind", None) == DONOTHING or not action.grid2op
