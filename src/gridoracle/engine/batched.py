"""The batched engine: lightsim2grid, one topology over many states in one call.

For each action, the states of an episode are grouped by what decides the action's effect (the
topology before the action and the cooldowns). Per group, grid2op's rules say whether the action
is legal, the resulting topology is computed in arrays, and a copy of the lightsim2grid grid model
with that topology solves every state of the group in one warm-started time-series call (C++,
GIL released). What ``obs.simulate`` does beyond one power flow is reproduced, not ignored:

- islanding: a load or generator cut off from the main component is a game over, detected on the
  bus graph before any power flow;
- divergence: a step that does not converge is a game over (the time series stops at the first
  diverged step; it is restarted after it);
- protections: lines above the hard overflow threshold, or above the soft threshold for too long,
  are disconnected and the power flow re-run until nothing trips (grid2op's
  ``Backend.next_grid_state``), pair by pair on the grid model, which is rare.

Tests check every status and max rho against :class:`gridoracle.engine.reference.ReferenceEngine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from lightsim2grid.algorithm import AlgorithmType
from lightsim2grid.lightsim2grid_cpp import InjectionSweepCPP, TimeSeriesCPP

from gridoracle.engine.base import (
    STATUS_GAME_OVER,
    STATUS_ILLEGAL,
    STATUS_OK,
    ActionLike,
    EngineResult,
    empty_result,
)
from gridoracle.engine.states import StateBatch

#: below this many states an evaluation stays in the calling thread: a pool's start-up and the
#: hand-offs cost more than the power flows they would share (the greedy expert, one state a call)
MIN_THREADED_STATES = 16


@dataclass(frozen=True)
class _ActionArrays:
    """A grid2op action reduced to what changes the topology."""

    set_bus: np.ndarray  # (dim_topo,) 0 = untouched
    set_status: np.ndarray  # (n_line,) 0 = untouched, -1 off, +1 on
    g2op: Any  # the grid2op action (for grid2op's own topological impact)


class BatchedEngine:
    """Evaluate actions on many states with lightsim2grid's time-series solver.

    Parameters
    ----------
    env : grid2op Environment
        Made with ``LightSimBackend``; its parameters (protection thresholds, rules) are read once.
        The engine keeps a copy of the grid model and does not touch ``env`` afterwards.
    threads : int
        :meth:`evaluate` solves this many actions at a time in threads (the solver releases the
        GIL), for batches of at least :data:`MIN_THREADED_STATES` states. Every action is solved
        on its own copies of the grid model and writes its own column, so the numbers do not
        depend on it.

    Examples
    --------
    >>> engine = BatchedEngine(env)  # doctest: +SKIP
    >>> result = engine.evaluate(states, actions)  # doctest: +SKIP
    >>> result.max_rho.shape  # doctest: +SKIP
    (575, 100)
    """

    name = "batched"

    def __init__(self, env: Any, *, threads: int = 1) -> None:
        if int(threads) < 1:
            raise ValueError(f"threads {threads}: must be at least 1")
        self.threads = int(threads)
        backend = env.backend
        if not hasattr(backend, "_grid"):
            raise TypeError("the batched engine needs an environment made with LightSimBackend")
        cls = type(env)
        self.action_space = env.action_space
        self.n_sub = int(cls.n_sub)
        self.n_line = int(cls.n_line)
        self.n_gen = int(cls.n_gen)
        self.n_load = int(cls.n_load)
        self.dim_topo = int(cls.dim_topo)
        self.n_busbar = int(getattr(cls, "n_busbar_per_sub", 2))
        self.line_or_pos = np.asarray(cls.line_or_pos_topo_vect, dtype=np.int64)
        self.line_ex_pos = np.asarray(cls.line_ex_pos_topo_vect, dtype=np.int64)
        self.line_or_sub = np.asarray(cls.line_or_to_subid, dtype=np.int64)
        self.line_ex_sub = np.asarray(cls.line_ex_to_subid, dtype=np.int64)
        self.load_pos = np.asarray(cls.load_pos_topo_vect, dtype=np.int64)
        self.gen_pos = np.asarray(cls.gen_pos_topo_vect, dtype=np.int64)
        self.load_sub = np.asarray(cls.load_to_subid, dtype=np.int64)
        self.gen_sub = np.asarray(cls.gen_to_subid, dtype=np.int64)
        self.storage_pos = np.asarray(getattr(cls, "storage_pos_topo_vect", []), dtype=np.int64)
        self.storage_sub = np.asarray(getattr(cls, "storage_to_subid", []), dtype=np.int64)
        self.thermal_limit = np.asarray(backend.get_thermal_limit(), dtype=np.float64)
        self.prod_pu_to_kv = np.asarray(backend.prod_pu_to_kv, dtype=np.float64)
        params = env.parameters
        self.no_overflow_disconnection = bool(params.NO_OVERFLOW_DISCONNECTION)
        self.hard_threshold = float(params.HARD_OVERFLOW_THRESHOLD)
        self.soft_threshold = float(getattr(params, "SOFT_OVERFLOW_THRESHOLD", 1.0))
        self.nb_overflow_allowed = np.asarray(
            getattr(env, "_nb_ts_max_protection_counter", None)
            if getattr(env, "_nb_ts_max_protection_counter", None) is not None
            else np.full(self.n_line, params.NB_TIMESTEP_OVERFLOW_ALLOWED),
            dtype=np.int64,
        )
        self.max_sub_changed = int(params.MAX_SUB_CHANGED)
        self.max_line_changed = int(params.MAX_LINE_STATUS_CHANGED)
        self.max_it = int(backend.max_it)
        self.tol = float(backend.tol)
        self.base_grid = backend._grid.copy()
        self.v_init = np.asarray(backend.V, dtype=np.complex128).copy()
        self.algorithm = AlgorithmType.NR_KLU
        self._converted: dict[str, _ActionArrays] = {}
        self._islanded_cache: dict[bytes, bool] = {}

    # -- actions ----------------------------------------------------------------------------------

    def _action(self, action: ActionLike) -> _ActionArrays:
        arrays = self._converted.get(action.name)
        if arrays is None:
            act = self.action_space(dict(action.grid2op))
            arrays = _ActionArrays(
                set_bus=np.asarray(act.set_bus, dtype=np.int64).copy(),
                set_status=np.asarray(act.line_set_status, dtype=np.int64).copy(),
                g2op=act,
            )
            self._converted[action.name] = arrays
        return arrays

    def _is_legal(self, act: _ActionArrays, states: StateBatch, row: int) -> bool:
        """grid2op's default rules (LookParam + PreventReconnection) in state ``row``."""
        lines, subs = act.g2op.get_topological_impact(states.line_status[row])
        if lines.sum() > self.max_line_changed or subs.sum() > self.max_sub_changed:
            return False
        if (states.cooldown_line[row][lines] > 0).any():
            return False
        return not bool((states.cooldown_sub[row][subs] > 0).any())

    def _resulting_topology(
        self, act: _ActionArrays, topo: np.ndarray, prev: np.ndarray, status: np.ndarray
    ) -> np.ndarray:
        """The topology vector after applying the action to ``topo`` (grid2op's conventions)."""
        new = topo.copy()
        or_pos, ex_pos = self.line_or_pos, self.line_ex_pos
        off = act.set_status == -1
        new[or_pos[off]] = -1
        new[ex_pos[off]] = -1
        on = (act.set_status == 1) & ~status
        new[or_pos[on]] = prev[or_pos[on]]
        new[ex_pos[on]] = prev[ex_pos[on]]
        touched = act.set_bus != 0
        new[touched] = act.set_bus[touched]
        # a line is connected at both ends or at none: an end set to a bus reconnects the other
        # end at its last bus; an end set to -1 disconnects the line
        or_bus, ex_bus = new[or_pos], new[ex_pos]
        set_or, set_ex = touched[or_pos], touched[ex_pos]
        cut = ((or_bus == -1) & set_or) | ((ex_bus == -1) & set_ex)
        new[or_pos[cut]] = -1
        new[ex_pos[cut]] = -1
        or_bus, ex_bus = new[or_pos], new[ex_pos]
        reco_ex = (or_bus > 0) & (ex_bus <= 0)
        reco_or = (ex_bus > 0) & (or_bus <= 0)
        new[ex_pos[reco_ex]] = prev[ex_pos[reco_ex]]
        new[or_pos[reco_or]] = prev[or_pos[reco_or]]
        return new

    # -- topology checks --------------------------------------------------------------------------

    def _bus_index(self, sub: np.ndarray, bus: np.ndarray) -> np.ndarray:
        return sub + (bus - 1) * self.n_sub

    def _islanded(self, topo: np.ndarray) -> bool:
        """True if a connected load, generator or storage is cut off from the others."""
        key = topo.tobytes()
        known = self._islanded_cache.get(key)
        if known is None:
            known = self._islanded_cache[key] = self._compute_islanded(topo)
        return known

    def _element_buses(self, topo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The bus graph's edges (connected lines) and the buses of loads, gens and storage."""
        or_bus, ex_bus = topo[self.line_or_pos], topo[self.line_ex_pos]
        connected = (or_bus > 0) & (ex_bus > 0)
        src = self._bus_index(self.line_or_sub[connected], or_bus[connected])
        dst = self._bus_index(self.line_ex_sub[connected], ex_bus[connected])
        buses = [
            self._bus_index(self.load_sub, topo[self.load_pos]),
            self._bus_index(self.gen_sub, topo[self.gen_pos]),
        ]
        if self.storage_pos.size:
            sto = topo[self.storage_pos]
            buses.append(self._bus_index(self.storage_sub[sto > 0], sto[sto > 0]))
        return src, dst, np.concatenate(buses)

    def _compute_islanded(self, topo: np.ndarray) -> bool:
        """Union-find on the bus graph (a few dozen edges: cheaper than building a sparse
        matrix; the tests compare it with scipy's connected components)."""
        if (topo[self.load_pos] <= 0).any() or (topo[self.gen_pos] <= 0).any():
            return True  # detached element: grid2op does not allow it
        src, dst, buses = self._element_buses(topo)
        parent = list(range(self.n_sub * self.n_busbar))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b in zip(src.tolist(), dst.tolist(), strict=True):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[ra] = rb
        first, *others = buses.tolist()
        root = find(first)
        return any(find(b) != root for b in others)

    def _grid_with_topology(self, topo: np.ndarray) -> Any:
        grid = self.base_grid.copy()
        grid.update_topo(np.ones(self.dim_topo, dtype=bool), topo.astype(np.int32))
        return grid

    # -- power flows ------------------------------------------------------------------------------

    def _time_series(
        self, grid: Any, states: StateBatch, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Solve ``rows`` with one topology in one call, warm-started along the episode.

        The time-series solver stops at the first step that diverges; the steps after it are
        then solved independently in one injection sweep (each from the same initial voltages).
        Returns the flows in A at the origin side (NaN where diverged) and a converged mask.
        """
        amps = np.full((rows.size, self.n_line), np.nan)
        converged = np.zeros(rows.size, dtype=bool)
        computer = self._solve(TimeSeriesCPP(grid), states, rows)
        failed = np.flatnonzero(~np.asarray(computer.converged_mask(), dtype=bool))
        solved = int(failed[0]) if failed.size else rows.size
        self._read_flows(computer, amps, converged, 0, solved)
        rest = rows[solved + 1 :]  # the step after the last solved one diverged
        if solved < rows.size and rest.size:
            sweep = self._solve(InjectionSweepCPP(grid), states, rest)
            ok = np.asarray(sweep.converged_mask(), dtype=bool)
            self._read_flows(sweep, amps, converged, solved + 1, rest.size, ok)
        return amps, converged

    def _solve(self, computer: Any, states: StateBatch, rows: np.ndarray) -> Any:
        computer.change_algorithm(self.algorithm)
        computer.modify_gen_p(states.gen_p[rows])
        computer.modify_load_p(states.load_p[rows])
        computer.modify_load_q(states.load_q[rows])
        computer.modify_gen_v(states.gen_v[rows] / self.prod_pu_to_kv)
        computer.compute(self.v_init, self.max_it, self.tol)
        return computer

    def _read_flows(
        self,
        computer: Any,
        amps: np.ndarray,
        converged: np.ndarray,
        start: int,
        count: int,
        ok: np.ndarray | None = None,
    ) -> None:
        if count <= 0:
            return
        flows = np.asarray(computer.compute_flows())[:count, : self.n_line] * 1000.0
        good = np.isfinite(flows).all(axis=1)
        if ok is not None:
            good &= ok[:count]
        flows[~good] = np.nan
        amps[start : start + count] = flows
        converged[start : start + count] = good

    def _to_trip(
        self, amps: np.ndarray, status: np.ndarray, counter: np.ndarray, increased: np.ndarray
    ) -> np.ndarray:
        """Lines grid2op's protections disconnect (``Backend.next_grid_state``), row by row.

        ``counter`` (protection counters) and ``increased`` (counter already raised during this
        step) are updated in place, as grid2op does across the iterations of one cascade.
        """
        trip = (amps > self.hard_threshold * self.thermal_limit) & status
        inc = (amps > self.soft_threshold * self.thermal_limit) & status & ~increased
        counter[inc] += 1
        increased |= inc
        trip |= (counter > self.nb_overflow_allowed) & status
        return trip

    # -- public -----------------------------------------------------------------------------------

    def islanded(self, topo: np.ndarray) -> bool:
        """True if ``topo`` cuts a load, generator or storage off the grid (a game over)."""
        return self._islanded(np.asarray(topo, dtype=np.int64))

    def resulting_topology(
        self, action: ActionLike, topo: np.ndarray, prev: np.ndarray, status: np.ndarray
    ) -> np.ndarray:
        """The topology vector after ``action`` on ``topo`` (grid2op's conventions)."""
        return self._resulting_topology(self._action(action), topo, prev, status)

    def is_legal(self, action: ActionLike, states: StateBatch, row: int) -> bool:
        """grid2op's default rules for ``action`` in state ``row`` of ``states``."""
        return self._is_legal(self._action(action), states, row)

    def solve_states(
        self,
        topo: np.ndarray,
        gen_p: np.ndarray,
        gen_v: np.ndarray,
        load_p: np.ndarray,
        load_q: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """The power flow of each state itself: what its observation would hold.

        Rows that share a topology are solved in order on one copy of the grid model, each
        warm-started from the previous one (as grid2op's environment does step after step).

        Parameters
        ----------
        topo : ndarray of int, shape (n, dim_topo)
            Each state's topology vector.
        gen_p, gen_v : ndarray, shape (n, n_gen)
            Generator set-points (MW, before the slack; kV).
        load_p, load_q : ndarray, shape (n, n_load)
            Consumption (MW, MVAr).

        Returns
        -------
        dict
            ``gen_p`` (after the slack), ``gen_q``, ``gen_v`` (kV), ``rho`` (n, n_line) and
            ``converged`` (n,) bool; rows that diverged or are islanded are NaN, not converged.
        """
        n = topo.shape[0]
        out = {
            "gen_p": np.full((n, self.n_gen), np.nan),
            "gen_q": np.full((n, self.n_gen), np.nan),
            "gen_v": np.full((n, self.n_gen), np.nan),
            "rho": np.full((n, self.n_line), np.nan),
            "converged": np.zeros(n, dtype=bool),
        }
        if n == 0:
            return out
        _, inverse = np.unique(topo, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        all_gens = np.ones(self.n_gen, dtype=bool)
        all_loads = np.ones(self.n_load, dtype=bool)
        n_powerline = len(self.base_grid.get_lines())
        # the float32 set-points the grid model takes, cast once for all rows (same values)
        gen_p32 = np.asarray(gen_p).astype(np.float32)
        gen_v32 = (np.asarray(gen_v) / self.prod_pu_to_kv).astype(np.float32)
        load_p32 = np.asarray(load_p).astype(np.float32)
        load_q32 = np.asarray(load_q).astype(np.float32)
        for group in range(int(inverse.max()) + 1):
            rows = np.flatnonzero(inverse == group)
            if self._islanded(topo[rows[0]].astype(np.int64)):
                continue
            grid = self._grid_with_topology(topo[rows[0]])
            v = self.v_init.copy()
            for r in rows:
                grid.update_gens_p(all_gens, gen_p32[r])
                grid.update_gens_v(all_gens, gen_v32[r])
                grid.update_loads_p(all_loads, load_p32[r])
                grid.update_loads_q(all_loads, load_q32[r])
                solved = grid.ac_pf(v, self.max_it, self.tol)
                if solved.shape[0] == 0:
                    grid.tell_solver_need_reset()
                    v = self.v_init.copy()
                    continue
                v = solved
                p, q, vv, _theta = grid.get_gen_res_full()
                amps = np.empty(self.n_line)
                amps[:n_powerline] = np.asarray(grid.get_line_res1_full()[3])
                amps[n_powerline:] = np.asarray(grid.get_trafo_res1_full()[3])
                amps = np.nan_to_num(amps * 1000.0)
                out["gen_p"][r], out["gen_q"][r], out["gen_v"][r] = p, q, vv
                out["rho"][r] = amps / self.thermal_limit
                out["converged"][r] = True
        return out

    def evaluate(
        self,
        states: StateBatch,
        actions: Sequence[ActionLike],
        *,
        full: bool = False,
        kept: bool = False,
    ) -> EngineResult:
        """Max rho (and status) of every (state, action) pair; see the module docstring.

        Parameters
        ----------
        states : StateBatch
            States of one episode.
        actions : sequence
            Objects with ``name`` and ``grid2op`` (a dict ``env.action_space`` accepts).
        full : bool
            Also return every line's rho.
        kept : bool
            The action was applied at the start of the episode and kept since (the Oracle's
            reward table): its buses hold in every state, but lines the environment disconnected
            in a state (maintenance) stay disconnected there, and the game rules are not checked
            per state.
        """
        n_states = len(states)
        result = empty_result(n_states, len(actions), self.n_line, full)
        if n_states == 0:
            return result
        groups = _group_states(states)
        converted = [self._action(action) for action in actions]
        if self.threads > 1 and len(converted) > 1 and n_states >= MIN_THREADED_STATES:
            with ThreadPoolExecutor(min(self.threads, len(converted))) as pool:
                futures = [
                    pool.submit(self._evaluate_action, j, act, states, groups, kept, result)
                    for j, act in enumerate(converted)
                ]
                cascades = [future.result() for future in futures]
        else:
            cascades = [
                self._evaluate_action(j, act, states, groups, kept, result)
                for j, act in enumerate(converted)
            ]
        result.n_cascade += sum(cascades)
        return result

    def _evaluate_action(
        self,
        j: int,
        act: _ActionArrays,
        states: StateBatch,
        groups: list[np.ndarray],
        kept: bool,
        result: EngineResult,
    ) -> int:
        """Fill column ``j`` of ``result``; return its number of pairs where lines trip."""
        by_topology: dict[bytes, tuple[np.ndarray, list[np.ndarray]]] = {}
        for rows in groups:
            first = int(rows[0])
            if not kept and not self._is_legal(act, states, first):
                result.status[rows, j] = STATUS_ILLEGAL
                continue
            topo = self._resulting_topology(
                act,
                states.topo_vect[first],
                states.prev_topo[first],
                states.line_status[first],
            )
            if kept:
                off = ~states.line_status[first] & (act.set_status != 1)
                topo[self.line_or_pos[off]] = -1
                topo[self.line_ex_pos[off]] = -1
            key = topo.tobytes()
            by_topology.setdefault(key, (topo, []))[1].append(rows)
        cascades = 0
        for topo, row_groups in by_topology.values():
            rows = np.sort(np.concatenate(row_groups))
            cascades += self._evaluate_topology(topo, states, rows, j, result)
        return cascades

    def _evaluate_topology(
        self, topo: np.ndarray, states: StateBatch, rows: np.ndarray, j: int, result: EngineResult
    ) -> int:
        """Solve ``rows`` with topology ``topo``, then play the protections level by level.

        Rows whose flows trip lines are grouped by the lines they trip, and each group is solved
        again with those lines disconnected, in one call, until nothing trips. Returns the number
        of rows where lines trip on the first power flow (the cascades).
        """
        cascades = 0
        protection = self.nb_overflow_allowed
        pending = [
            (
                topo,
                rows,
                states.protection[rows].copy(),
                np.zeros((rows.size, self.n_line), dtype=bool),
            )
        ]
        first_level = True
        while pending:
            topo, rows, counter, increased = pending.pop()
            if self._islanded(topo):
                result.status[rows, j] = STATUS_GAME_OVER
                continue
            amps, converged = self._time_series(self._grid_with_topology(topo), states, rows)
            status = (topo[self.line_or_pos] > 0) & (topo[self.line_ex_pos] > 0)
            if self.no_overflow_disconnection or protection.size == 0:
                trip = np.zeros_like(converged, shape=amps.shape)
            else:
                # rows that did not converge are NaN, which trips nothing (and are cleared below)
                trip = self._to_trip(amps, status, counter, increased)
            trip[~converged] = False
            tripping = trip.any(axis=1)
            if first_level:
                cascades = int(tripping.sum())
                first_level = False
            done = converged & ~tripping
            done_rows = rows[done]
            rho = amps[done] / self.thermal_limit
            result.status[done_rows, j] = STATUS_OK
            result.max_rho[done_rows, j] = rho.max(axis=1)
            if result.rho is not None:
                result.rho[done_rows, j] = rho
            if not tripping.any():
                continue
            idx = np.flatnonzero(tripping)
            patterns, inverse = _unique_rows(trip[idx])
            for p, pattern in enumerate(patterns):
                sub = idx[inverse == p]
                next_topo = topo.copy()
                next_topo[self.line_or_pos[pattern]] = -1
                next_topo[self.line_ex_pos[pattern]] = -1
                pending.append((next_topo, rows[sub], counter[sub], increased[sub]))
        return cascades


def _unique_rows(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a boolean matrix and each row's pattern index.

    ``np.unique(axis=0)`` sorts structured copies and was a tenth of a chronic's evaluation; the
    rows packed into bytes give the same groups (in another order, which changes no number: each
    group is solved on its own).
    """
    packed = np.ascontiguousarray(np.packbits(mask, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).reshape(-1)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return mask[first], inverse.reshape(-1)


def _group_states(states: StateBatch) -> list[np.ndarray]:
    """Rows of states that share topology, last buses, status and cooldown pattern."""
    key_arrays = np.concatenate(
        [
            states.topo_vect,
            states.prev_topo,
            (states.cooldown_line > 0).astype(np.int64),
            (states.cooldown_sub > 0).astype(np.int64),
        ],
        axis=1,
    )
    _, inverse = np.unique(key_arrays, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return [np.sort(part) for part in np.split(order, bounds)]
