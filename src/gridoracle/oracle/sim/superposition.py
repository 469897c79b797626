"""Combined topology actions by superposition of their unitary parts (Marot et al., 2023).

The extended superposition theorem (A. Marot, N. Megel, B. Donnot et al., "Extended superposition
theorem under power grid topological changes", arXiv 2310.04437): for a combination C of unitary
topology changes (line disconnections, bus splits), the flows after C are::

    F_C = F_0 + sum_{i in C} beta_i (F_i - F_0)

where F_0 are the flows of the base state and F_i those after unitary change i alone. Each
change i has a "virtual line" whose flow is 0 after it: the line itself for a disconnection; for
a bus split, the coupling between the two buses, whose flow is the power the elements moved to
the new bus take from the node (their branch flows leaving the substation, plus their loads,
less their generators). The betas make every virtual line of C carry 0 after C::

    sum_{i in C} beta_i (c_j(0) - c_j(i)) = c_j(0)   for every j in C

with ``c_j(X)`` the flow of virtual line j in state X: a |C| x |C| system per combination and
state. In DC this is exact (the combined state is the base state plus compensating injections
at the virtual lines, and each unitary state gives the response to one of them); in AC it is an
approximation (:func:`screen` applies it to the active and reactive powers at the origin side,
the current then read with the base state's voltage).

It is not used, and the combination is flagged (``ok`` False) for the caller to simulate it
exactly, when a part is not a disconnection of a connected line or a split of a substation that
is on one bus in the base state (a reconnection, a merge, a substation already split), when a
part's own power flow islands the grid or diverges, or when the beta system is ill-conditioned
(condition number above :data:`MAX_CONDITION`: the combination islands the grid, or a virtual
line carries almost nothing in the base state), in AC at any step or in DC at the first step of
each base topology (in DC the system of a combination that islands the grid is singular, which
AC's may not show: 742 such combinations of the 118-bus grid's 442,908 at depth 2). A flagged
combination holding a part that diverged at t0 on its own and whose topology islands the grid
is dropped as the filter at t0 would drop it, without a simulation
(:func:`_islanded_with_a_part`); one whose topology islands the grid at a later step (a line in
maintenance) ends there, as its exact run would, and is dropped as incomplete without a
simulation (:func:`_islanding_ends`).

Cost (:func:`screen`, measured on 2 shared cores): per (combination, step), 0.55 us of CPU at
depth 3 on l2rpn_neurips_2020_track1 (59 lines, 100 unitary actions), 1.4 us at depth 2 on
rte_case118_example (186 lines, 948), against 5.3 and 10 us for the per-chunk float64 version
it replaces (``python benchmarks/bench_superposition.py rate``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from gridoracle.actions.combine import filter_at_t0
from gridoracle.engine.base import ActionLike
from gridoracle.engine.states import StateBatch
from gridoracle.engine.unitary import BranchFlows, FlowSolver
from gridoracle.oracle.core.best_path import best_paths
from gridoracle.oracle.core.margins import MARGIN_A
from gridoracle.oracle.core.transitions import allowed_transitions
from gridoracle.oracle.sim.episode import episode_states
from gridoracle.oracle.sim.rewards import RewardTable, drop_incomplete, reward_table

__all__ = [
    "DEFAULT_MARGIN",
    "GRAPH_CELLS",
    "MAX_CONDITION",
    "Screened",
    "SuperposedTable",
    "UnitaryBasis",
    "VirtualLine",
    "screen",
    "superposed_flows",
    "superposed_reward_table",
    "unitary_basis",
    "virtual_line",
]

#: above this condition number of its beta system a combination is simulated exactly
MAX_CONDITION = 1e6
#: in AC the reactive flows are superposed with the active flows' betas while every |beta| is
#: below this; above it (strongly interacting changes amplify the reactive error: 12 of a reward
#: of 19 on case14) the base state's reactive flows are kept. Chosen on l2rpn_case14_sandbox
#: chronic 0 (depth 2 and 3, steps 0, 11, 23): max reward error 0.83 (median 0.02) at depth 2,
#: against 12.4 (0.03) superposing them always and 0.88 (0.47) never.
REACTIVE_MAX_BETA = 3.0
# combinations superposed at a time (bounds the (chunk, depth, n_line) temporaries)
_CHUNK = 2048
# above this |beta| a combination's flows are summed in float64 (see _screen_step)
_NARROW_MAX_BETA = 64.0

LINE = "line"
SPLIT = "split"
NONE = "none"  # the unitary action changes nothing on this base state
UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class VirtualLine:
    """How to read the virtual line of one unitary change in any state.

    ``kind`` is ``"line"`` (flow = ``p_or`` of ``or_lines[0]``), ``"split"`` (flow = the
    ``p_or`` of ``or_lines`` + the ``p_ex`` of ``ex_lines`` + the consumption of ``loads`` - the
    production of ``gens``: the elements moved to the new bus), ``"none"`` (the action changes
    nothing on this base state) or ``"unsupported"`` (``reason`` says why).
    """

    kind: str
    or_lines: tuple[int, ...] = ()
    ex_lines: tuple[int, ...] = ()
    loads: tuple[int, ...] = ()
    gens: tuple[int, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class _Layout:
    line_or_pos: np.ndarray
    line_ex_pos: np.ndarray
    load_pos: np.ndarray
    gen_pos: np.ndarray
    storage_pos: np.ndarray
    pos_sub: np.ndarray  # substation of each topology position

    @classmethod
    def of(cls, env: Any) -> _Layout:
        c = type(env)
        return cls(
            np.asarray(c.line_or_pos_topo_vect, dtype=np.int64),
            np.asarray(c.line_ex_pos_topo_vect, dtype=np.int64),
            np.asarray(c.load_pos_topo_vect, dtype=np.int64),
            np.asarray(c.gen_pos_topo_vect, dtype=np.int64),
            np.asarray(getattr(c, "storage_pos_topo_vect", []), dtype=np.int64),
            np.repeat(np.arange(int(c.n_sub)), np.asarray(c.sub_info, dtype=np.int64)),
        )


def virtual_line(layout: _Layout, base: np.ndarray, after: np.ndarray) -> VirtualLine:
    """The virtual line of the change from topology ``base`` to topology ``after``."""
    or_b, ex_b = base[layout.line_or_pos], base[layout.line_ex_pos]
    or_a, ex_a = after[layout.line_or_pos], after[layout.line_ex_pos]
    connected_b = (or_b > 0) & (ex_b > 0)
    connected_a = (or_a > 0) & (ex_a > 0)
    if (connected_a & ~connected_b).any():
        return VirtualLine(UNSUPPORTED, reason="it reconnects a line")
    cut = np.flatnonzero(connected_b & ~connected_a)
    live = (base > 0) & (after > 0)
    moved = np.flatnonzero(live & (base != after))
    if cut.size == 0 and moved.size == 0:
        if ((base > 0) != (after > 0)).any():
            return VirtualLine(UNSUPPORTED, reason="it disconnects an element that is not a line")
        return VirtualLine(NONE)
    if moved.size == 0:
        if cut.size > 1:
            return VirtualLine(UNSUPPORTED, reason="it disconnects several lines")
        return VirtualLine(LINE, or_lines=(int(cut[0]),))
    if cut.size:
        return VirtualLine(UNSUPPORTED, reason="it disconnects a line and moves elements")
    subs = np.unique(layout.pos_sub[moved])
    if subs.size > 1:
        return VirtualLine(UNSUPPORTED, reason="it moves elements of several substations")
    at_sub = np.flatnonzero((layout.pos_sub == subs[0]) & live)
    if np.unique(base[at_sub]).size > 1:
        return VirtualLine(UNSUPPORTED, reason="its substation is split in the base state")
    buses = np.unique(after[at_sub])
    if buses.size == 1:
        return VirtualLine(NONE)  # every element moved together: the same node
    if buses.size > 2:
        return VirtualLine(UNSUPPORTED, reason="it splits a substation in more than two buses")
    new_bus = np.setdiff1d(buses, base[at_sub[:1]])
    group = set(at_sub[after[at_sub] == new_bus[0]].tolist())
    if any(int(p) in group for p in layout.storage_pos):
        return VirtualLine(UNSUPPORTED, reason="it moves a storage unit")

    def members(pos: np.ndarray) -> tuple[int, ...]:
        return tuple(int(i) for i in np.flatnonzero(np.isin(pos, list(group))))

    return VirtualLine(
        SPLIT,
        or_lines=members(layout.line_or_pos),
        ex_lines=members(layout.line_ex_pos),
        loads=members(layout.load_pos),
        gens=members(layout.gen_pos),
    )


@dataclass
class _Group:
    """Steps that share a base topology, and the virtual lines of every unitary action there."""

    rows: np.ndarray  # steps of the group, in order
    lines: list[VirtualLine]
    # the virtual flows as one linear map of [p_or | p_ex | gen_p] (+ load_p for the constant)
    weights: Any  # sparse (2 n_line + n_gen, U)
    load_weights: Any  # sparse (n_load, U)


@dataclass
class UnitaryBasis:
    """The base state and each unitary change alone, over the steps of an episode.

    Attributes
    ----------
    names : list of str
        The U unitary actions.
    base : BranchFlows
        Flows of the base state (do nothing) at each of the S steps.
    p_or, q_or : ndarray of float64, shape (S, U, n_line)
        Flows at the origin side after each unitary action alone.
    usable : ndarray of bool, shape (S, U)
        Unitary action i can be superposed at step s (supported, its power flow converged and
        does not island the grid; an action that changes nothing there is usable).
    changes : ndarray of bool, shape (S, U)
        Unitary action i changes the topology at step s (False: it is left out of the sums).
    load_p : ndarray of float64, shape (S, n_load)
        The consumption of each step.
    conflicts : ndarray of bool, shape (U, U)
        Two unitary actions that act on the same line (one its status, the other the bus of an
        end): a combination holding both is not superposed.
    reasons : dict of str to str
        Why an action is not usable at some step (one line per action).
    dc : bool
        Whether the power flows are DC.
    """

    names: list[str]
    base: BranchFlows
    p_or: np.ndarray
    q_or: np.ndarray
    usable: np.ndarray
    changes: np.ndarray
    load_p: np.ndarray
    conflicts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))
    p_ex: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    gen_p: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    groups: list[_Group] = field(default_factory=list)
    group_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    reasons: dict[str, str] = field(default_factory=dict)
    dc: bool = False
    _virtual: tuple[int, np.ndarray] | None = field(default=None, repr=False)

    def virtual(self, step: int) -> np.ndarray:
        """``[x, j]``: flow of virtual line j in state x at ``step`` (x = 0 the base state,
        x = i + 1 unitary action i), shape (U + 1, U); the last step's is kept."""
        cached = self._virtual  # one read: screening threads share the basis
        if cached is not None and cached[0] == step:
            return cached[1]
        group = self.groups[int(self.group_of[step])]
        base = self.base
        const = self.load_p[step] @ group.load_weights  # (U,)
        stacked = np.concatenate([base.p_or[step], base.p_ex[step], base.gen_p[step]])
        units = np.concatenate([self.p_or[step], self.p_ex[step], self.gen_p[step]], axis=1)
        out = np.empty((self.n_unitary + 1, self.n_unitary))
        out[0] = np.nan_to_num(stacked) @ group.weights + const
        out[1:] = units @ group.weights + const[None, :]
        self._virtual = (step, out)
        return out

    @property
    def n_steps(self) -> int:
        return int(self.p_or.shape[0])

    @property
    def n_unitary(self) -> int:
        return int(self.p_or.shape[1])


def unitary_basis(
    env: Any,
    engine: Any,
    states: StateBatch,
    unitary: Sequence[ActionLike],
    *,
    dc: bool = False,
    solver: FlowSolver | None = None,
) -> UnitaryBasis:
    """Solve the base state and every unitary action over ``states`` (held as the Oracle holds
    them: the action's buses in every state, lines the environment disconnected stay out).

    Parameters
    ----------
    env : grid2op Environment
        Made with LightSimBackend (its grid model is copied, see :class:`FlowSolver`).
    engine : BatchedEngine
        For the topology after an action and the islanding check.
    states : StateBatch
        The episode's states (the reconnect-only run).
    unitary : sequence
        The U unitary actions (``name``, ``grid2op``).
    dc : bool
        DC power flows (exact superposition) instead of AC.
    """
    solver = solver or FlowSolver(env)
    layout = _Layout.of(env)
    n_steps, n_unit = len(states), len(unitary)
    n_line, n_gen = solver.n_line, solver.n_gen
    line_or_pos, line_ex_pos = layout.line_or_pos, layout.line_ex_pos
    _, inverse = np.unique(
        np.concatenate([states.topo_vect, states.prev_topo, states.line_status], axis=1),
        axis=0,
        return_inverse=True,
    )
    inverse = inverse.reshape(-1)
    base_rows = [np.flatnonzero(inverse == g) for g in range(int(inverse.max()) + 1)]
    base = BranchFlows.empty(n_steps, n_line, n_gen)
    p_or = np.zeros((n_steps, n_unit, n_line))
    q_or = np.zeros((n_steps, n_unit, n_line))
    p_ex = np.zeros((n_steps, n_unit, n_line))
    gen_p = np.zeros((n_steps, n_unit, n_gen))
    usable = np.zeros((n_steps, n_unit), dtype=bool)
    changes = np.zeros((n_steps, n_unit), dtype=bool)
    reasons: dict[str, str] = {}
    groups: list[_Group] = []
    converted = [env.action_space(dict(a.grid2op)) for a in unitary]
    set_status = [np.asarray(act.line_set_status, dtype=np.int64) for act in converted]
    conflicts = _conflicts(converted, line_or_pos, line_ex_pos)
    for rows in base_rows:
        first = int(rows[0])
        topo0 = states.topo_vect[first].astype(np.int64)
        status0 = states.line_status[first]
        _put(base, rows, solver.solve(topo0, states, rows, dc=dc))
        lines: list[VirtualLine] = []
        for i, action in enumerate(unitary):
            topo = engine.resulting_topology(
                action, topo0, states.prev_topo[first].astype(np.int64), status0
            )
            off = ~status0 & (set_status[i] != 1)
            topo[line_or_pos[off]] = -1
            topo[line_ex_pos[off]] = -1
            found = virtual_line(layout, topo0, topo)
            if found.kind == NONE:
                usable[rows, i] = True
                p_or[rows, i], q_or[rows, i] = base.p_or[rows], base.q_or[rows]
                p_ex[rows, i], gen_p[rows, i] = base.p_ex[rows], base.gen_p[rows]
            elif found.kind == UNSUPPORTED:
                reasons.setdefault(action.name, found.reason)
            elif engine.islanded(topo):
                reasons.setdefault(action.name, "its power flow islands the grid")
                found = VirtualLine(UNSUPPORTED, reason="islands")
            else:
                flows = solver.solve(topo, states, rows, dc=dc)
                p_or[rows, i], q_or[rows, i] = flows.p_or, flows.q_or
                p_ex[rows, i], gen_p[rows, i] = flows.p_ex, flows.gen_p
                usable[rows, i] = flows.converged
                changes[rows, i] = True
                if not flows.converged.all():
                    reasons.setdefault(action.name, "its power flow diverges at some step")
            lines.append(found)
        weights, load_weights = _weights(lines, n_line, n_gen, len(states.load_p[0]))
        groups.append(_Group(rows, lines, weights, load_weights))
    usable &= base.converged[:, None]
    group_of = np.zeros(n_steps, dtype=np.int64)
    for g, group in enumerate(groups):
        group_of[group.rows] = g
    return UnitaryBasis(
        names=[a.name for a in unitary],
        base=base,
        p_or=np.nan_to_num(p_or),
        q_or=np.nan_to_num(q_or),
        usable=usable,
        changes=changes,
        load_p=np.asarray(states.load_p, dtype=np.float64),
        conflicts=conflicts,
        p_ex=np.nan_to_num(p_ex),
        gen_p=np.nan_to_num(gen_p),
        groups=groups,
        group_of=group_of,
        reasons=reasons,
        dc=dc,
    )


def _conflicts(converted: Sequence[Any], line_or_pos: np.ndarray, line_ex_pos: np.ndarray) -> Any:
    """``[i, j]``: action i sets the status of a line whose end action j sets on a bus.

    grid2op finds such a combination ambiguous (the Oracle's filter at t0 drops it); the
    superposition of a disconnection and a bus assignment of the same line means nothing.
    """
    status = np.array([np.asarray(a.line_set_status) != 0 for a in converted], dtype=bool)
    bus = np.array(
        [
            (np.asarray(a.set_bus)[line_or_pos] != 0) | (np.asarray(a.set_bus)[line_ex_pos] != 0)
            for a in converted
        ],
        dtype=bool,
    )
    if status.size == 0:
        return np.zeros((len(converted), len(converted)), dtype=bool)
    clash = (status.astype(np.int32) @ bus.T.astype(np.int32)) > 0
    return clash | clash.T


def _put(out: BranchFlows, rows: np.ndarray, flows: BranchFlows) -> None:
    for name in ("p_or", "q_or", "p_ex", "q_ex", "a_or", "gen_p", "converged"):
        getattr(out, name)[rows] = getattr(flows, name)


def _weights(lines: list[VirtualLine], n_line: int, n_gen: int, n_load: int) -> tuple[Any, Any]:
    """The virtual flows as ``[p_or | p_ex | gen_p] @ weights + load_p @ load_weights``."""
    entries: list[tuple[int, int, float]] = []
    load_entries: list[tuple[int, int]] = []
    for j, line in enumerate(lines):
        if line.kind not in (LINE, SPLIT):
            continue
        entries += [(i, j, 1.0) for i in line.or_lines]
        entries += [(n_line + i, j, 1.0) for i in line.ex_lines]
        entries += [(2 * n_line + i, j, -1.0) for i in line.gens]
        load_entries += [(i, j) for i in line.loads]
    n_unit = len(lines)
    weights = np.zeros((2 * n_line + n_gen, n_unit))
    for i, j, value in entries:
        weights[i, j] = value
    load_weights = np.zeros((n_load, n_unit))
    for i, j in load_entries:
        load_weights[i, j] = 1.0
    # a few entries per unitary action: sparse products (U^2 x members, not U^2 x 2 n_line)
    return sp.csc_array(weights), sp.csc_array(load_weights)


def _betas(
    basis: UnitaryBasis,
    step: int,
    parts: np.ndarray,
    cross_index: np.ndarray | None = None,
    free: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The betas of combinations ``parts`` (M, d) at ``step`` and a mask of the usable ones.

    Parts that change nothing at this step get beta 0 and are left out of the system. Up to
    depth 3 the systems are solved in closed form (adjugate over determinant, all M at once);
    their 2-norm condition number is bounded by the Frobenius one, ``|A| |adj A| / |det A|``,
    and only where that bound reaches :data:`MAX_CONDITION` is the 2-norm one computed (an
    SVD) and, where it stays below, the system solved by LU: the same combinations are flagged
    as with an SVD of every system. ``cross_index`` and ``free`` (:func:`_step_invariants`)
    are the same at every step; computed here when not given.
    """
    depth = parts.shape[1]
    virtual = basis.virtual(step)
    if cross_index is None or free is None:
        cross_index, free = _step_invariants(basis, parts)
    usable = basis.usable[step]
    ok = free & usable[parts[:, 0]]
    for k in range(1, depth):
        ok &= usable[parts[:, k]]
    changes = basis.changes[step][parts]  # (M, d)
    c0 = virtual[0][parts]  # (M, d): c_j(0)
    # a[m, a, b] = c_{p_a}(0) - c_{p_a}(p_b), c_{p_a}(p_b) = virtual[1 + p_b, p_a]
    a = c0[:, :, None] - np.take(virtual[1:].reshape(-1), cross_index)
    rhs = c0
    if not changes.all():
        # a part that changes nothing: its row and column become the identity, its rhs 0
        inactive = ~changes
        eye = np.eye(depth, dtype=bool)[None]
        a = np.where(inactive[:, :, None] | inactive[:, None, :], eye.astype(float), a)
        rhs = np.where(inactive, 0.0, c0)
    if depth == 1:
        pivot = a[:, 0, 0]
        good = np.abs(pivot) > 1e-9
        beta = np.where(good, rhs[:, 0] / np.where(good, pivot, 1.0), 0.0)[:, None]
        return beta * changes, ok & good
    if depth > 3:
        cond = np.linalg.cond(a)
        good = np.isfinite(cond) & (cond < MAX_CONDITION)
        safe = np.where(good[:, None, None], a, np.eye(depth)[None])
        beta = np.linalg.solve(safe, rhs[:, :, None])[:, :, 0]
        return np.where(good[:, None], beta, 0.0) * changes, ok & good
    adj = _adjugate(a)
    det = np.einsum("mj,mj->m", a[:, 0, :], adj[:, :, 0])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        norms = np.einsum("mab,mab->m", a, a) * np.einsum("mab,mab->m", adj, adj)
        bound = np.sqrt(norms) / np.abs(det)
        beta = np.einsum("mab,mb->ma", adj, rhs) / det[:, None]
    good = bound < MAX_CONDITION  # False for NaN and inf
    doubt = np.flatnonzero(~good)
    if doubt.size:  # the bound is loose (up to a factor d): the 2-norm condition number there
        cond = np.linalg.cond(a[doubt])
        fine = np.isfinite(cond) & (cond < MAX_CONDITION)
        if fine.any():
            rows = doubt[fine]
            beta[rows] = np.linalg.solve(a[rows], rhs[rows][:, :, None])[:, :, 0]
            good[rows] = True
    beta = np.where(good[:, None], beta, 0.0) * changes
    return beta, ok & good


def _step_invariants(basis: UnitaryBasis, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`_betas` needs at every step: the flat index of ``c_{p_a}(p_b)`` in
    ``virtual[1:]``, shape (M, d, d), and the combinations without conflicting parts (M,)."""
    depth = parts.shape[1]
    cross_index = parts[:, None, :] * basis.n_unitary + parts[:, :, None]
    free = np.ones(parts.shape[0], dtype=bool)
    if depth > 1 and basis.conflicts.size:
        for a_i in range(depth):
            for b_i in range(a_i + 1, depth):
                free &= ~basis.conflicts[parts[:, a_i], parts[:, b_i]]
    return cross_index, free


def _adjugate(a: np.ndarray) -> np.ndarray:
    """The adjugates of (M, d, d) matrices, d = 2 or 3 (``adj @ a = det I``)."""
    out = np.empty_like(a)
    if a.shape[1] == 2:
        out[:, 0, 0], out[:, 1, 1] = a[:, 1, 1], a[:, 0, 0]
        out[:, 0, 1], out[:, 1, 0] = -a[:, 0, 1], -a[:, 1, 0]
        return out
    for i in range(3):
        i1, i2 = (i + 1) % 3, (i + 2) % 3
        for j in range(3):
            j1, j2 = (j + 1) % 3, (j + 2) % 3
            # cofactor (i, j), written at (j, i); the cyclic order carries the sign
            out[:, j, i] = a[:, i1, j1] * a[:, i2, j2] - a[:, i1, j2] * a[:, i2, j1]
    return out


def superposed_flows(
    basis: UnitaryBasis, parts: np.ndarray, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Active and reactive flows at the origin side after each combination, at one step.

    Parameters
    ----------
    basis : UnitaryBasis
    parts : ndarray of int, shape (M, d)
        Each combination as the indices of its d unitary actions (distinct assets).
    step : int

    Returns
    -------
    p_or, q_or : ndarray of float64, shape (M, n_line)
        In AC the reactive flows are superposed only while every |beta| is below
        :data:`REACTIVE_MAX_BETA`, else the base state's are returned; 0 in DC.
    ok : ndarray of bool, shape (M,)
        False where superposition is not used (see the module docstring); the flows there are
        meaningless.
    """
    parts = np.asarray(parts, dtype=np.int64)
    beta, ok = _betas(basis, step, parts)
    p0, q0 = basis.base.p_or[step], basis.base.q_or[step]
    dp = basis.p_or[step][parts] - p0  # (M, d, L)
    dq = basis.q_or[step][parts] - q0
    p = p0 + np.einsum("md,mdl->ml", beta, dp)
    if basis.dc:
        return p, np.zeros_like(p), ok
    small = _reactive(beta)
    q = q0 + np.einsum("md,mdl->ml", beta * small[:, None], dq)
    return p, q, ok


@dataclass
class Screened:
    """Superposed rewards of combinations over the steps (see :func:`screen`).

    Attributes
    ----------
    rewards : ndarray of float32, shape (S, M)
        Oracle4Grid's margin reward of each combination at each step (NaN where not ``ok``).
    overload : ndarray of int8, shape (S, M)
        1 no line above its limit, 0 some.
    ok : ndarray of bool, shape (S, M)
        Superposition used (False: simulate exactly).
    """

    rewards: np.ndarray
    overload: np.ndarray
    ok: np.ndarray


def screen(
    basis: UnitaryBasis,
    parts: np.ndarray,
    thermal_limit: np.ndarray,
    *,
    chunk: int = _CHUNK,
    dtype: Any = np.float32,
    workers: int = 1,
) -> Screened:
    """Margin rewards and overload flags of every combination at every step, by superposition.

    The current of a line after a combination is ``sqrt(P^2 + Q^2) / (sqrt(3) V)`` with P and
    Q superposed and V the base state's voltage at its origin side (from its current and
    power); Oracle4Grid's margin reward of that current
    (:func:`~gridoracle.oracle.core.margins.margin_reward`) and overload flag follow.

    At each step the betas of every combination are solved at once (float64, see
    :func:`_betas`); the flows are then summed ``chunk`` combinations at a time, as one
    stacked (1, d) @ (d, 2 n_line) product per combination over the unitary changes in
    ``dtype`` (float32 by default: a reward within about 1e-5 of float64's, against an AC
    error of the superposition itself of 0.01 to 1), so that the temporaries stay in cache.

    Parameters
    ----------
    basis : UnitaryBasis
    parts : ndarray of int, shape (M, d)
        The combinations, one depth at a time.
    thermal_limit : ndarray, shape (n_line,)
        Amperes.
    chunk : int
        Combinations summed at a time.
    dtype : numpy float type
        Of the flows and rewards (float32 or float64).
    workers : int
        Threads, each screening its own steps (numpy releases the GIL in its kernels; they
        share the basis and write their own rows of the result, which is the same for any
        number of threads).
    """
    parts = np.asarray(parts, dtype=np.int64)
    n_steps, m = basis.n_steps, parts.shape[0]
    rewards = np.full((n_steps, m), np.nan, dtype=np.float32)
    overload = np.zeros((n_steps, m), dtype=np.int8)
    ok_all = np.zeros((n_steps, m), dtype=bool)
    limit = np.abs(np.asarray(thermal_limit, dtype=np.float64)) + MARGIN_A
    base = basis.base
    s0 = np.hypot(base.p_or, base.q_or)
    with np.errstate(divide="ignore", invalid="ignore"):
        # squared current per squared apparent power, over the squared limit: 1 / (3 V^2 lim^2)
        scale = np.where(s0 > 1e-9, (base.a_or / s0) ** 2, 0.0) / limit**2
    scale = np.nan_to_num(scale)
    steps = np.flatnonzero(base.converged)
    out = Screened(rewards, overload, ok_all)

    invariants = _step_invariants(basis, parts)

    def run(mine: np.ndarray) -> None:
        for step in mine:
            _screen_step(basis, int(step), parts, invariants, scale[step], out, chunk, dtype)

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # small products: threads only cost
        n_threads = max(1, min(int(workers), len(steps)))
        if n_threads == 1:
            run(steps)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(n_threads) as pool:
                list(pool.map(run, [steps[i::n_threads] for i in range(n_threads)]))
    return out


def _screen_step(
    basis: UnitaryBasis,
    step: int,
    parts: np.ndarray,
    invariants: tuple[np.ndarray, np.ndarray],
    scale: np.ndarray,
    out: Screened,
    chunk: int,
    dtype: Any,
) -> None:
    """Row ``step`` of :func:`screen`'s result, ``chunk`` combinations at a time."""
    base = basis.base
    p0, q0 = base.p_or[step], base.q_or[step]
    if basis.dc:
        wide = (basis.p_or[step] - p0, p0, scale)
    else:
        wide = (
            np.concatenate([basis.p_or[step] - p0, basis.q_or[step] - q0], axis=1),
            np.concatenate([p0, q0]),
            scale,
        )
    narrow = tuple(x.astype(dtype) for x in wide)
    cross_index, free = invariants
    rewards, overload, ok_row = out.rewards[step], out.overload[step], out.ok[step]
    for first in range(0, parts.shape[0], chunk):
        rows = slice(first, min(first + chunk, parts.shape[0]))
        beta, ok = _betas(basis, step, parts[rows], cross_index[rows], free[rows])
        reactive = None if basis.dc else _reactive(beta)
        reward, over = _chunk_rewards(narrow, parts[rows], beta, reactive)
        if narrow[0].dtype != np.float64:
            # large betas cancel large terms: float32 would lose the sum (5e-3 of a reward
            # at |beta| 3e5), so those few combinations are summed in float64
            big = (np.abs(beta) > _NARROW_MAX_BETA).any(axis=1)
            if big.any():
                sub = None if reactive is None else reactive[big]
                reward[big], over[big] = _chunk_rewards(wide, parts[rows][big], beta[big], sub)
        rewards[rows] = np.where(ok, reward, np.nan)
        overload[rows] = np.where(over, 0, 1)
        ok_row[rows] = ok


def _reactive(beta: np.ndarray) -> np.ndarray:
    """In AC, the reactive flows are superposed only while every |beta| is small."""
    return (np.abs(beta) < REACTIVE_MAX_BETA).all(axis=1)


def _chunk_rewards(
    tables: tuple[np.ndarray, ...],
    parts: np.ndarray,
    beta: np.ndarray,
    reactive: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Margin rewards (float64) and overload (bool) of combinations ``parts`` (c, d).

    ``tables`` = (the unitary changes of the flows, shape (U, K), the base state's flows (K,),
    the scale of the squared currents (n_line,)), K = n_line in DC (P), 2 n_line in AC (P, Q);
    ``reactive`` (AC): where the reactive flows are superposed (else the base state's).
    """
    table, start0, scale = tables
    n_line = scale.size
    coef = beta.astype(table.dtype)[:, None, :]  # (c, 1, d)
    flows = np.matmul(coef, np.take(table, parts, axis=0))[:, 0]  # (c, K)
    if reactive is not None and not reactive.all():
        flows[~reactive, n_line:] = 0.0
    flows += start0
    flows *= flows
    x2 = flows[:, :n_line] if reactive is None else flows[:, :n_line] + flows[:, n_line:]
    x2 *= scale
    over = (x2 > 1.0).any(axis=1)
    np.minimum(x2, 1.0, out=x2)
    # a matrix-vector product sums the rows faster than a reduction along them
    reward = n_line - (x2 @ np.ones(n_line, dtype=x2.dtype)).astype(np.float64)
    return reward, over


#: default number of candidates per step (see :func:`superposed_reward_table`'s ``per_step``)
DEFAULT_PER_STEP = 32
#: default margin (reward units) below the best superposed reward of a step within which a
#: combination is simulated exactly: above the largest AC error measured on case14 (0.84 of a
#: reward of about 19) with room to spare; see benchmarks/bench_superposition.py for the
#: 118-bus grid
DEFAULT_MARGIN = 2.0
# most rounds of "simulate the chosen paths' actions exactly and search again"
_MAX_ROUNDS = 20
#: up to this many (timestep, combined action) cells the best paths are searched on the whole
#: mixed table (superposed and exact rewards); above it, on the exactly simulated actions only
#: (the candidates of every step, the unitary actions, those superposition cannot take). That
#: limited graph has no bound on what it misses: its path is the best among the exact actions
#: (on l2rpn_neurips_2020_track1 at depth 3 it was 0.40 below the whole graph's). Measured at
#: the limit's scale (``bench_superposition.py table``, 2 cores): 134.5 M cells (155,686
#: actions, 864 steps) take 2:56 wall and 4.0 GB in all, 121 M (420,800 complete actions of
#: the 118-bus grid, 288 steps) 7:21 and 7.4 GB with float64 overload flags (float32 now). A
#: search holds the (T, N) table, int32 backpointers and per-step arrays the size of the
#: transitions (15 M at the 118-bus grid's depth 2).
GRAPH_CELLS = 150_000_000


@dataclass
class SuperposedTable:
    """The reward table of ``--combine superposition`` (see :func:`superposed_reward_table`).

    Attributes
    ----------
    table : RewardTable
        Every combined action kept at t0 whose run lasts the whole episode, in the order given
        (exact rows where ``exact``, superposed elsewhere); those whose run ended early are
        already dropped (``dropped``), so the caller searches it as it is.
    actions : list of CombinedAction
        The actions of ``table``, in its order.
    exact : ndarray of bool, shape (N,)
        Which columns were simulated exactly (AC, the batched engine).
    filtered : list of (str, str)
        Actions dropped by the filter at t0 (applied to every action simulated exactly).
    stats : dict
        Counts: unitary, combined, screened, flagged (superposition not used), candidates
        (within the margin), added for the paths, rounds, margin, and why unitary actions were
        not usable.
    written : RewardTable
        The exactly simulated actions, complete or not, in the order given: what
        reward_df.csv holds.
    dropped : list of str
        The warning naming the actions whose run ended before the others' (as
        :func:`~gridoracle.oracle.sim.rewards.drop_incomplete` words it), or none.
    rules, paths
        The transition rules of ``table`` and its two best paths (best, without overload), as
        the last search found them; None when the table was not searched (above
        ``graph_limit``).
    ended : dict of str to int
        Combinations left unsimulated because their topology islands the grid at that
        timestep (their run ends there: see :func:`_islanding_ends`).
    """

    table: RewardTable
    actions: list[Any]
    exact: np.ndarray
    filtered: list[tuple[str, str]]
    stats: dict[str, Any]
    written: RewardTable | None = None
    dropped: list[str] = field(default_factory=list)
    rules: Any = None
    paths: tuple[Any, Any] | None = None
    ended: dict[str, int] = field(default_factory=dict)


def superposed_reward_table(
    env: Any,
    engine: Any,
    combos: Sequence[Any],
    chronic: int,
    max_iter: int,
    seed: int | None,
    *,
    kind: str = "longest",
    significant_digits: int | None = None,
    margin: float = DEFAULT_MARGIN,
    graph_limit: int | None = None,
    screen_workers: int | None = None,
    per_step: int | None = DEFAULT_PER_STEP,
    **table_options: Any,
) -> SuperposedTable:
    """The reward table screened by superposition, exact where it can matter.

    1. The unitary actions (and do nothing) are filtered at t0 and simulated exactly.
    2. Every deeper combination is superposed from them at every step (:func:`screen`); those
       it cannot superpose (see the module docstring) are simulated exactly, except those whose
       topology islands the grid at some step: their run ends there (reward 0, flag -1, NaN
       after, as an exact run's), so they are dropped as incomplete, unsimulated.
    3. Those within ``margin`` of the step's best superposed or exact reward at some step (the
       lowest, for ``kind="shortest"``) and among that step's ``per_step`` best superposed
       rewards are filtered at t0 and simulated exactly.
    4. Up to ``graph_limit`` actions: best paths (with and without overload) are searched on
       the mixed table; every action of both paths and every action holding the best reward of
       a step (the unconstrained KPI) that is still superposed is filtered at t0 and simulated
       exactly, and the search runs again, until all of them are exact. Above it, the table
       returned holds the exactly simulated actions only (the best paths are then searched on
       them by the caller). Either way it holds only the runs that last the whole episode.

    Parameters
    ----------
    env, engine, chronic, max_iter, seed
        As :func:`~gridoracle.oracle.sim.rewards.reward_table`.
    combos : sequence of CombinedAction
        Every combined action (not filtered at t0), in Oracle4Grid's order.
    kind, significant_digits
        The best path search (as :func:`~gridoracle.oracle.core.best_path.best_paths`).
    margin : float
        Reward units below the best reward of a step.
    graph_limit : int, optional
        Most combined actions in the graph of the mixed table (see above); default
        :data:`GRAPH_CELLS` over the episode's timesteps (173,611 at 864 steps, 18,601 at
        8,064).
    per_step : int, optional
        At most about this many candidates per step (3.): the best ``per_step`` superposed
        rewards of each step (ties included) among those within ``margin``; None: every one
        within ``margin``. Where the best rewards are close together the margin alone takes
        a large share of the actions: on l2rpn_neurips_2020_track1 at depth 3 (155,686
        combinations) 39,683 are within 2.0 of a step's best (median over 48 steps), while the
        32 best of every step are 90 actions in all.
    screen_workers : int, optional
        Threads of :func:`screen`; default the local processes of ``table_options``'
        ``backend`` (1 for a serial or Dask one).
    **table_options
        Passed to :func:`~gridoracle.oracle.sim.rewards.reward_table` (``reward``, ``backend``,
        ``progress``, ``env_name``, ``cache``).
    """
    sign = 1.0 if kind == "longest" else -1.0
    filtered: list[tuple[str, str]] = []
    exact_rows: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    stopped = source = ""

    def simulate(actions: Sequence[Any], known: dict[str, str] | None = None) -> None:
        """Filter ``actions`` at t0 and simulate the kept ones; those in ``known`` are dropped
        with the reason given there, unsimulated (in the given order among the others)."""
        nonlocal stopped, source
        todo = [a for a in actions if a.name not in exact_rows]
        if not todo:
            return
        known = known or {}
        checked = [a for a in todo if a.name not in known]
        kept, found_drops = filter_at_t0(checked, env, chronic, seed) if checked else ([], [])
        reasons = dict(found_drops) | known
        dropped = [(a.name, reasons[a.name]) for a in todo if a.name in reasons]
        filtered.extend(dropped)
        for name, _ in dropped:
            exact_rows[name] = (np.zeros(0), np.zeros(0), -1)  # dropped: no column
        if kept:
            found = reward_table(env, engine, kept, chronic, max_iter, seed, **table_options)
            stopped, source = found.stopped, found.source
            for j, action in enumerate(kept):
                exact_rows[action.name] = (
                    found.rewards[:, j],
                    found.overload[:, j],
                    int(found.played[j]),
                )

    shallow = [c for c in combos if c.depth <= 1]
    deep = [c for c in combos if c.depth > 1]
    seconds: dict[str, float] = {}
    clock = _Clock(seconds)
    with clock("exact unitary"):
        simulate(shallow)
    unitary = [c for c in shallow if c.depth == 1 and exact_rows[c.name][2] >= 0]
    with clock("states"):
        found_states = episode_states(env, chronic, max_iter, seed, engine=engine)
    states = found_states.states
    n_steps = found_states.n_steps
    superposed: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # views of the screens
    ended: dict[str, int] = {}  # ends at this timestep (islands the grid), not simulated
    at_t0: dict[str, str] = {}  # islands the grid at t0: dropped as the filter would, unsimulated
    n_singular = 0
    flagged: list[Any] = []
    candidates: list[Any] = []
    reasons: dict[str, str] = {}
    if deep and states is not None and n_steps:
        with clock("basis"):
            solver = FlowSolver(env)  # each solve starts from its copy: one serves both
            basis = unitary_basis(env, engine, states, unitary, solver=solver)
            # in DC at the first step of each base topology: where a combination islands the
            # grid its beta system is singular there (exact in DC), which AC's may not show
            firsts = np.array([int(g.rows[0]) for g in basis.groups], dtype=np.int64)
            dc_basis = unitary_basis(
                env, engine, states.select(firsts), unitary, dc=True, solver=solver
            )
        reasons = basis.reasons
        index = {a.name: i for i, a in enumerate(unitary)}
        exact_best = np.full(n_steps, -np.inf)
        for rewards, _, played in exact_rows.values():
            if played > 0:
                exact_best = np.fmax(exact_best, sign * rewards[:n_steps])
        by_depth: dict[int, list[Any]] = {}
        for combo in deep:
            if all(p.name in index for p in combo.parts):
                by_depth.setdefault(combo.depth, []).append(combo)
            else:
                flagged.append(combo)  # a part was dropped at t0: no unitary result
        screened: list[tuple[list[Any], Screened]] = []
        best = exact_best.copy()
        # the reward table's local processes: as many screening threads
        backend = table_options.get("backend")
        workers = screen_workers or (int(getattr(backend, "workers", 1)) if backend else 1)
        for _, group in sorted(by_depth.items()):
            parts = np.array([[index[p.name] for p in c.parts] for c in group], dtype=np.int64)
            with clock("screen"):
                result = screen(basis, parts, engine.thermal_limit, workers=workers)
                n_singular += _flag_dc_singular(dc_basis, basis, parts, result)
            screened.append((group, result))
            best = np.fmax(best, _best_per_step(result, sign))
        floor = best - margin
        if per_step is not None:
            floor = np.maximum(floor, _kth_per_step([r for _, r in screened], sign, per_step))
        for group, result in screened:
            near = _near(result, sign, floor)
            usable = np.asarray(result.ok.all(axis=0), dtype=bool)
            not_usable = np.flatnonzero(~usable)
            with clock("islanded later"):
                ends = _islanding_ends(
                    [group[j] for j in not_usable], result.ok[:, not_usable], basis, engine, states
                )
            for j, combo in enumerate(group):
                if not usable[j]:
                    end = ends.get(combo.name)
                    if end is None:
                        flagged.append(combo)
                    elif end == 0:  # its topology islands the grid at t0: the filter drops it
                        flagged.append(combo)
                        at_t0[combo.name] = (
                            "diverges at t0: its topology islands the grid (checked on its "
                            "topology, not simulated)"
                        )
                    else:
                        ended[combo.name] = end
                        exact_rows[combo.name] = _ended_rows(result, j, end)
                    continue
                superposed[combo.name] = (result.rewards[:, j], result.overload[:, j])
                if near[j]:
                    candidates.append(combo)
        del basis, screened  # the screens' arrays stay referenced by ``superposed``
    elif deep:
        flagged = list(deep)
    islanded: dict[str, str] = {}
    if flagged and states is not None and n_steps:
        with clock("islanded"):
            islanded = _islanded_with_a_part(flagged, shallow, dict(filtered), engine, states)
    islanded |= at_t0
    with clock("exact candidates"):
        simulate(flagged + candidates, islanded)
    n_candidates = len(candidates)

    def complete(only_exact: bool) -> tuple[list[Any], list[str]]:
        """The actions kept at t0 whose run lasts the whole episode (exact ones only, or with
        the superposed ones), in the order of ``combos``, and the warning naming the others."""
        kept = [
            c
            for c in combos
            if (c.name in exact_rows and exact_rows[c.name][2] >= 0)
            or (not only_exact and c.name in superposed)
        ]
        played = [exact_rows[c.name][2] if c.name in exact_rows else n_steps for c in kept]
        keep, warnings = drop_incomplete(played, [c.name for c in kept])
        return [kept[int(i)] for i in keep], warnings

    added = 0
    rounds = 0
    known_rules: dict[tuple[str, ...], Any] = {}
    paths: tuple[Any, Any] | None = None
    rules: Any = None
    table: RewardTable | None = None
    n_kept = sum(1 for c in combos if exact_rows.get(c.name, (0, 0, 0))[2] != -1)
    if graph_limit is None:
        graph_limit = GRAPH_CELLS // max(n_steps, 1)
    whole_graph = n_kept <= graph_limit
    while whole_graph:
        rounds += 1
        actions, dropped = complete(only_exact=False)
        table = flags = None  # the last round's (T, N) arrays go before the next are made
        with clock("mixed table"):
            table = _mixed_table(actions, exact_rows, superposed, n_steps, stopped, source)
        flags = table.overload_flags()
        key = tuple(table.names)
        if key not in known_rules:  # the names change only when an action is dropped
            known_rules.clear()
            with clock("rules"):
                known_rules[key] = allowed_transitions(table.names, max_sub=1, max_line=1)
        rules = known_rules[key]
        with clock("paths"):
            paths = best_paths(
                table.rewards, rules, flags, kind=kind, significant_digits=significant_digits
            )
        wanted = set(paths[0].path) | set(paths[1].path)
        if table.rewards.size:
            wanted |= set(_argmax_per_step(table.rewards, sign).tolist())
        missing = [actions[i] for i in sorted(wanted) if actions[i].name not in exact_rows]
        if not missing or rounds >= _MAX_ROUNDS:
            break
        added += len(missing)
        with clock("exact for the paths"):
            simulate(missing)
    if not whole_graph:
        actions, dropped = complete(only_exact=True)
        table = _mixed_table(actions, exact_rows, superposed, n_steps, stopped, source)
    assert table is not None
    exact = np.array([a.name in exact_rows for a in actions], dtype=bool)
    simulated = [
        c for c in combos if c.name not in ended and exact_rows.get(c.name, (0, 0, -1))[2] >= 0
    ]
    written = _mixed_table(simulated, exact_rows, {}, n_steps, stopped, source, np.float64)
    stats = {
        "margin": float(margin),
        "per_step": per_step,
        "n_unitary": len(unitary),
        "n_combined": len(combos),
        "n_superposed": len(superposed),
        "n_flagged": len(flagged),
        "n_islanded_unsimulated": len(islanded),
        "n_ended_islanded_unsimulated": len(ended),
        "n_singular_in_dc": n_singular,
        "n_candidates": n_candidates,
        "n_added_for_paths": added,
        "n_exact": int(exact.sum()),
        "rounds": rounds,
        "graph": "every combined action" if whole_graph else "the exactly simulated actions",
        "not_usable": reasons,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    return SuperposedTable(
        table, actions, exact, filtered, stats, written, dropped, rules, paths, ended
    )


def _islanding_ends(
    combos: Sequence[Any],
    ok: np.ndarray,
    basis: UnitaryBasis,
    engine: Any,
    states: StateBatch,
) -> dict[str, int]:
    """The combinations whose run ends because their topology islands the grid at some step:
    ``{name: the first such timestep}``.

    The reward table holds a combination's buses on every state of the reconnect-only episode
    (its lines out included), as :func:`unitary_basis` holds each part, so where that topology
    islands the grid (``engine.islanded``: a load or generator cut off, a game over) the exact
    run fails, at that timestep or earlier (an AC divergence before it is not looked for). Its
    run is then incomplete and Oracle4Grid drops it, so it is not simulated. Only steps where
    superposition was not used (``ok`` False) are looked at, one per base topology (the
    islanding depends on the topology and the lines out only), and only the first of them in
    time: where that one does not island the grid the combination is left to the exact
    simulation (its run may fail there otherwise), as are combinations whose parts set the
    same element or reconnect a line. A first timestep 0 means the filter at t0 drops it.

    Parameters
    ----------
    combos : sequence of CombinedAction
        Combinations superposition did not use at some step; each part is in ``basis.names``.
    ok : ndarray of bool, shape (S, len(combos))
        Where :func:`screen` used superposition.
    """
    if not combos:
        return {}
    index = {name: i for i, name in enumerate(basis.names)}
    or_pos, ex_pos = engine.line_or_pos, engine.line_ex_pos
    parts_of = _PartChanges(engine, states)

    def combined(g: int, combo: Any) -> np.ndarray | None:
        """The combination's topology on group g (lines out at -1), None if not built here."""
        first = int(basis.groups[g].rows[0])
        if any(parts_of.change(first, part).reconnects for part in combo.parts):
            return None  # a reconnection: simulated exactly
        topo = parts_of.combined(first, combo.parts)
        if topo is None:
            return None  # two parts on one element: simulated exactly
        off = ~np.asarray(states.line_status[first], dtype=bool)
        topo[or_pos[off]] = -1
        topo[ex_pos[off]] = -1
        return topo

    # the base topologies in the order of their first timestep: the first that islands is the end
    order = sorted(range(len(basis.groups)), key=lambda g: int(basis.groups[g].rows[0]))
    out: dict[str, int] = {}
    for j, combo in enumerate(combos):
        if any(p.name not in index for p in combo.parts):
            continue
        for g in order:  # the first base topology where superposition was not used decides
            rows = basis.groups[g].rows
            if ok[rows, j].all():
                continue
            topo = combined(g, combo)
            if topo is not None and engine.islanded(topo):
                out[combo.name] = int(rows[0])
            break
    return out


def _flag_dc_singular(
    dc: UnitaryBasis, basis: UnitaryBasis, parts: np.ndarray, result: Screened
) -> int:
    """Mark as not superposed (``ok`` False, reward NaN) every base topology of ``basis``
    where a combination's beta system is singular or ill-conditioned in DC (``dc`` holds the
    first step of each of ``basis.groups``, in their order): the combination islands the grid
    there, or a virtual line carries almost nothing. The AC system may miss it (its flows are
    not linear in the betas). Returns how many combinations were so marked somewhere."""
    marked = np.zeros(parts.shape[0], dtype=bool)
    for g, group in enumerate(basis.groups):
        _, good = _betas(dc, g, parts)
        bad = np.flatnonzero(~good & result.ok[group.rows].any(axis=0))
        if bad.size:
            where = np.ix_(group.rows, bad)
            result.ok[where] = False
            result.rewards[where] = np.nan
            marked[bad] = True
    return int(marked.sum())


def _ended_rows(result: Screened, j: int, end: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The reward table's column of a run that fails at timestep ``end``: its superposed
    rewards before, reward 0 and overload flag -1 there (as a failed step), NaN after."""
    rewards = result.rewards[:, j].astype(np.float64)
    overload = result.overload[:, j].astype(np.float64)
    rewards[end], overload[end] = 0.0, -1.0
    rewards[end + 1 :] = np.nan
    overload[end + 1 :] = np.nan
    return rewards, overload, end + 1


def _islanded_with_a_part(
    flagged: Sequence[Any],
    shallow: Sequence[Any],
    dropped: dict[str, str],
    engine: Any,
    states: StateBatch,
) -> dict[str, str]:
    """The flagged combinations that island the grid at t0, when a part of theirs diverged at
    t0 alone: ``{name: reason}``.

    A combination of bus splits and line disconnections only removes connections, so one
    whose part islands the grid on its own islands it too (a game over at t0: the filter at
    t0 drops it as diverging); its topology at t0 is checked (``engine.islanded``) rather than
    simulated by ``obs.simulate``. Combinations whose parts touch the same element are left to
    the filter (grid2op finds some of them ambiguous).
    """
    by_name = {c.name: c for c in shallow if c.depth == 1}
    parts_of = _PartChanges(engine, states)
    out: dict[str, str] = {}
    for combo in flagged:
        names = [p.name for p in combo.parts]
        lost = [n for n in names if dropped.get(n, "").startswith("diverges at t0")]
        if not lost or any(n not in by_name for n in names):
            continue
        topo = parts_of.combined(0, [by_name[n] for n in names])
        if topo is not None and engine.islanded(topo):
            out[combo.name] = (
                f"diverges at t0: it islands the grid, as its part {lost[0]} does alone "
                "(checked on its topology, not simulated)"
            )
    return out


@dataclass(frozen=True)
class _PartChange:
    """What one unitary action changes on a base state's topology."""

    where: np.ndarray  # positions of topo_vect it changes
    buses: np.ndarray  # their new buses
    sets: frozenset[int]  # every element it sets (a bus, or a line's status at both ends)
    reconnects: bool  # it sets or changes a line's status to connected


class _PartChanges:
    """The change of each unitary action on the base state of a row of ``states`` (computed
    once per row and action name), and a combination of them applied together."""

    def __init__(self, engine: Any, states: StateBatch) -> None:
        self.engine, self.states = engine, states
        self._known: dict[tuple[int, str], _PartChange] = {}

    def change(self, row: int, action: Any) -> _PartChange:
        key = (row, action.name)
        found = self._known.get(key)
        if found is None:
            engine, states = self.engine, self.states
            topo0 = states.topo_vect[row].astype(np.int64)
            prev0 = states.prev_topo[row].astype(np.int64)
            topo = engine.resulting_topology(action, topo0, prev0, states.line_status[row])
            where = np.flatnonzero(topo != topo0)
            converted = engine.action_space(dict(action.grid2op))
            status = np.asarray(converted.line_set_status, dtype=np.int64)
            lines = np.flatnonzero(status != 0)
            sets = np.flatnonzero(np.asarray(converted.set_bus) != 0).tolist()
            sets += engine.line_or_pos[lines].tolist() + engine.line_ex_pos[lines].tolist()
            reconnects = bool(
                (status == 1).any() or (np.asarray(converted.line_change_status) != 0).any()
            )
            found = self._known[key] = _PartChange(where, topo[where], frozenset(sets), reconnects)
        return found

    def combined(self, row: int, parts: Sequence[Any]) -> np.ndarray | None:
        """The topology of ``parts`` applied together on row ``row``'s base state; None when
        two of them set the same element (grid2op finds some such combinations ambiguous)."""
        topo = self.states.topo_vect[row].astype(np.int64)
        touched: set[int] = set()
        for part in parts:
            found = self.change(row, part)
            if touched & found.sets:
                return None
            touched |= found.sets
            topo[found.where] = found.buses
        return topo


class _Clock:
    """``with clock(label):`` adds the block's wall seconds to ``seconds[label]``."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds

    @contextmanager
    def __call__(self, label: str) -> Iterator[None]:
        tick = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - tick


def _argmax_per_step(rewards: np.ndarray, sign: float) -> np.ndarray:
    """The first action of best signed reward at each step (NaN: -inf), a step at a time."""
    out = np.zeros(rewards.shape[0], dtype=np.int64)
    for step, row in enumerate(rewards):
        out[step] = np.argmax(np.where(np.isnan(row), -np.inf, sign * row))
    return out


def _best_per_step(result: Screened, sign: float) -> np.ndarray:
    """The best signed superposed reward of each step (-inf where none is usable), one step at
    a time (no (S, M) float64 temporary)."""
    out = np.full(result.rewards.shape[0], -np.inf)
    for step, row in enumerate(result.rewards):
        if row.size:
            found = np.fmax.reduce(sign * row.astype(np.float64))  # NaN (not ok) ignored
            if not np.isnan(found):
                out[step] = found
    return out


def _kth_per_step(results: Sequence[Screened], sign: float, k: int) -> np.ndarray:
    """The k-th best signed superposed reward of each step over ``results`` (-inf if fewer)."""
    n_steps = results[0].rewards.shape[0] if results else 0
    out = np.full(n_steps, -np.inf)
    for step in range(n_steps):
        row = np.concatenate([sign * r.rewards[step].astype(np.float64) for r in results])
        row = row[~np.isnan(row)]
        if row.size > k > 0:
            out[step] = np.partition(row, row.size - k)[row.size - k]
    return out


def _near(result: Screened, sign: float, floor: np.ndarray) -> np.ndarray:
    """The combinations whose signed superposed reward reaches ``floor`` at some step."""
    near = np.zeros(result.rewards.shape[1], dtype=bool)
    for step, row in enumerate(result.rewards):
        near |= sign * row.astype(np.float64) >= floor[step]  # NaN: False
    return near


def _mixed_table(
    actions: Sequence[Any],
    exact_rows: dict[str, tuple[np.ndarray, np.ndarray, int]],
    superposed: dict[str, tuple[np.ndarray, np.ndarray]],
    n_steps: int,
    stopped: str,
    source: str,
    overload_dtype: Any = np.float32,
) -> RewardTable:
    """A RewardTable of ``actions``: the exact column where there is one, else superposed.

    Its overload flags (1, 0, -1, NaN: exact in float32) are float32 unless asked otherwise,
    half the memory of float64 at scale (1 GB at 420,800 actions and 288 steps)."""
    n = len(actions)
    rewards = np.full((n_steps, n), np.nan)
    overload = np.full((n_steps, n), np.nan, dtype=overload_dtype)
    played = np.zeros(n, dtype=np.int64)
    for j, action in enumerate(actions):
        if action.name in exact_rows:
            r, o, p = exact_rows[action.name]
            rewards[:, j], overload[:, j], played[j] = r[:n_steps], o[:n_steps], p
        else:
            r, o = superposed[action.name]
            rewards[:, j], overload[:, j], played[j] = r, o, n_steps
    return RewardTable([a.name for a in actions], rewards, overload, played, 0, stopped, source)
