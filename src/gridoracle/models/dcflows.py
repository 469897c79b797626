"""DC power flows of the topology a state is in after each action: the physics a model learns on.

A state in another topology (catalogue actions applied before, a line out) after action ``a`` is
in the combined topology "its own + a". For a fixed topology the DC flows are linear in the
injections: ``p_or = M @ [gen_p, load_p]`` with ``M`` of shape ``(n_line, n_gen + n_load)`` (the
PTDF of that topology, with the slack generator's bus as reference, composed with where each
generator and load is connected). :class:`DCGrid` holds what builds ``M`` from a topology vector
(the lines' DC admittances as lightsim2grid sets them, the element positions of grid2op's
topology vector) and caches one ``M`` per topology met. :class:`TopologyContext` adds the action
catalogue (as topology-vector edits) and the positions of the features a state's row holds, and
:meth:`TopologyContext.flows` computes the DC active flow of every line after every action from
the rows of ``Dataset.X``.

Semantics, as lightsim2grid's DC solver (``AlgorithmType.DC_KLU``): single slack (the generator
lightsim2grid's grid model marks as slack) absorbs the imbalance (the AC losses included in the
features' ``gen_p``); shunts and storage units carry no active power (true of the grids this
project ships with: checked when building). A topology where a load or a generator is cut off
from the slack's component (grid2op: game over; the batched engine: diverged), or that leaves a
connected line apart from it (both ends alone on their bus: lightsim2grid's power flows diverge),
is flagged ``islanded`` and has no flows (NaN). Cross-checked against lightsim2grid's DC power
flow of the same topology and injections in ``tests/test_topology_model.py`` (1e-6 MW).

The action is applied to the state's topology vector with the batched engine's conventions
(:meth:`gridoracle.engine.batched.BatchedEngine._resulting_topology`): ``set_bus`` overrides, a
line end set to a bus reconnects the other end at its last bus, ``set_line_status`` -1 cuts
both ends. A state's row does not hold the last bus of a disconnected element: it is taken to be
bus 1 (true of states whose line was taken out from a topology with that line end on bus 1, as
``generate --outages`` makes them from chronic states).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["DCGrid", "TopologyContext", "topology_context"]


@dataclass
class DCGrid:
    """What the DC flows of any topology vector are computed from (no grid2op object kept).

    Attributes
    ----------
    n_sub : int
    pos_sub : ndarray of int, shape (dim_topo,)
        Substation of each position of the topology vector.
    line_or_pos, line_ex_pos, gen_pos, load_pos : ndarray of int
        Positions of the elements in the topology vector (grid2op's ``*_pos_topo_vect``).
    y11, y12, y21, y22 : ndarray of float, shape (n_line,)
        DC admittances of each branch (lightsim2grid's ``ydc_*``, per unit):
        ``p_or = y11 theta_or + y12 theta_ex``, ``p_ex = y21 theta_or + y22 theta_ex``.
    slack_gen : int
        The generator whose bus is the angle reference (it absorbs the imbalance).
    mw_to_rho : ndarray of float, shape (n_line,)
        ``1000 / (sqrt(3) V_n thermal_limit)``: rho of one MW at nominal voltage and unit power
        factor, at the origin side (a DC loading).
    """

    n_sub: int
    pos_sub: np.ndarray
    line_or_pos: np.ndarray
    line_ex_pos: np.ndarray
    gen_pos: np.ndarray
    load_pos: np.ndarray
    y11: np.ndarray
    y12: np.ndarray
    y21: np.ndarray
    y22: np.ndarray
    slack_gen: int
    mw_to_rho: np.ndarray
    _cache: dict[bytes, tuple[np.ndarray, bool]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def from_env(cls, env: Any) -> DCGrid:
        """Read the grid of a grid2op environment made with ``LightSimBackend``."""
        backend = env.backend
        if not hasattr(backend, "_grid"):
            raise TypeError("DCGrid.from_env needs an environment made with LightSimBackend")
        grid = backend._grid
        c = type(env)
        branches = list(grid.get_lines()) + list(grid.get_trafos())
        if len(branches) != int(c.n_line):
            raise ValueError(f"{len(branches)} lightsim2grid branches for {c.n_line} lines")
        if any(abs(float(t.shift_rad)) > 0 for t in grid.get_trafos()):
            raise ValueError("phase-shifting transformers are not supported by DCGrid")
        if any(abs(float(s.target_p_mw)) > 0 for s in grid.get_shunts()):
            raise ValueError("shunts with active power are not supported by DCGrid")
        pos1 = np.array([b.pos1_topo_vect for b in branches])
        if not np.array_equal(pos1, np.asarray(c.line_or_pos_topo_vect)):
            raise ValueError("lightsim2grid's branch order differs from grid2op's lines")
        slack = [g.id for g in grid.get_generators() if float(g.slack_weight) > 0]
        if len(slack) != 1:
            raise ValueError(f"DCGrid needs a single slack generator, the grid has {len(slack)}")
        vn = np.asarray(grid.get_bus_vn_kv(), dtype=np.float64)[[b.bus1_id for b in branches]]
        limit = np.asarray(env.get_thermal_limit(), dtype=np.float64)

        def adm(name: str) -> np.ndarray:
            return np.array([complex(getattr(b, name)).real for b in branches], dtype=np.float64)

        return cls(
            n_sub=int(c.n_sub),
            pos_sub=np.repeat(np.arange(int(c.n_sub)), np.asarray(c.sub_info, dtype=np.int64)),
            line_or_pos=np.asarray(c.line_or_pos_topo_vect, dtype=np.int64),
            line_ex_pos=np.asarray(c.line_ex_pos_topo_vect, dtype=np.int64),
            gen_pos=np.asarray(c.gen_pos_topo_vect, dtype=np.int64),
            load_pos=np.asarray(c.load_pos_topo_vect, dtype=np.int64),
            y11=adm("ydc_11"),
            y12=adm("ydc_12"),
            y21=adm("ydc_21"),
            y22=adm("ydc_22"),
            slack_gen=int(slack[0]),
            mw_to_rho=1000.0 / (math.sqrt(3.0) * vn * limit),
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}  # rebuilt on demand: never pickled
        return state

    @property
    def n_line(self) -> int:
        """Number of branches."""
        return int(self.line_or_pos.size)

    @property
    def n_inj(self) -> int:
        """Width of the injection vector ``[gen_p, load_p]``."""
        return int(self.gen_pos.size + self.load_pos.size)

    def matrix(self, topo: np.ndarray) -> tuple[np.ndarray, bool]:
        """``(M, islanded)`` of topology vector ``topo``: ``p_or = M @ [gen_p, load_p]`` (MW).

        ``M`` has shape ``(n_line, n_gen + n_load)``, 0 on disconnected lines; NaN everywhere
        when ``islanded``: a load or generator disconnected or cut off from the slack's bus
        (grid2op's game over), or a connected line apart from that component (both ends alone on
        their bus: lightsim2grid does not solve it, the pair is reported diverged). Cached per
        topology.
        """
        t = np.asarray(topo, dtype=np.int8)
        key = t.tobytes()
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._compute(t.astype(np.int64))
        return hit

    def _compute(self, topo: np.ndarray) -> tuple[np.ndarray, bool]:
        n_line, n_gen = self.n_line, int(self.gen_pos.size)
        nan = np.full((n_line, self.n_inj), np.nan)
        node = np.where(topo > 0, self.pos_sub + (topo - 1) * self.n_sub, -1)
        gen_n, load_n = node[self.gen_pos], node[self.load_pos]
        if (gen_n < 0).any() or (load_n < 0).any():
            return nan, True
        or_n, ex_n = node[self.line_or_pos], node[self.line_ex_pos]
        conn = (or_n >= 0) & (ex_n >= 0)
        n_nodes = 2 * self.n_sub
        src, dst = or_n[conn], ex_n[conn]
        graph = coo_matrix((np.ones(src.size), (src, dst)), shape=(n_nodes, n_nodes))
        _, label = connected_components(graph, directed=False)
        slack = int(gen_n[self.slack_gen])
        if (label[np.concatenate([gen_n, load_n])] != label[slack]).any():
            return nan, True
        # connected lines apart from the slack's component (an isolated line, both ends alone on
        # their bus): lightsim2grid does not solve it (the batched engine, and obs.simulate,
        # report the pair as diverged)
        if (label[src] != label[slack]).any():
            return nan, True
        active = np.flatnonzero((label == label[slack]) & (np.arange(n_nodes) != slack))
        index = np.full(n_nodes, -1, dtype=np.int64)
        index[active] = np.arange(active.size)
        m = active.size
        lines = np.flatnonzero(conn)
        i, j = index[or_n[lines]], index[ex_n[lines]]
        B = np.zeros((m, m))
        for a, b, y11, y12, y21, y22 in zip(
            i, j, self.y11[lines], self.y12[lines], self.y21[lines], self.y22[lines], strict=True
        ):
            if a >= 0:
                B[a, a] += y11
                if b >= 0:
                    B[a, b] += y12
            if b >= 0:
                B[b, b] += y22
                if a >= 0:
                    B[b, a] += y21
        A = np.zeros((m, self.n_inj))
        for col, nd in enumerate(gen_n):
            if index[nd] >= 0:
                A[index[nd], col] = 1.0
        for col, nd in enumerate(load_n):
            if index[nd] >= 0:
                A[index[nd], n_gen + col] = -1.0
        theta = np.zeros((n_nodes, self.n_inj))
        if m:
            theta[active] = np.linalg.solve(B, A)
        M = np.zeros((n_line, self.n_inj))
        M[lines] = (
            self.y11[lines, None] * theta[or_n[lines]] + self.y12[lines, None] * theta[ex_n[lines]]
        )
        return M, False


@dataclass
class TopologyContext:
    """The grid, the catalogue as topology edits, and where a row's features are.

    Attributes
    ----------
    grid : DCGrid
    set_bus : ndarray of int8, shape (n_actions, dim_topo)
        Bus each action sets (0: unchanged, -1: disconnect).
    set_status : ndarray of int8, shape (n_actions, n_line)
        Line status each action sets (0: unchanged, 1: reconnect, -1: disconnect).
    topo_cols, status_cols, gen_p_cols, load_p_cols, rho_cols : ndarray of int
        Column of each ``topo_*``, ``line_status_*``, ``gen_p_*``, ``load_p_*``, ``rho_*``
        feature in a row.
    setpoint_cols : ndarray of int
        The columns that do not depend on the topology: ``gen_p_*``, ``gen_v_*``, ``load_p_*``,
        ``load_q_*`` and the forecasts ``fc_*`` when present.
    """

    grid: DCGrid
    set_bus: np.ndarray
    set_status: np.ndarray
    topo_cols: np.ndarray
    status_cols: np.ndarray
    gen_p_cols: np.ndarray
    load_p_cols: np.ndarray
    rho_cols: np.ndarray
    setpoint_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # state topology (bytes) -> (per-action M stacked (n_actions, n_line, n_inj), islanded)
    _per_state: dict[bytes, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_per_state"] = {}
        return state

    @property
    def n_actions(self) -> int:
        """Number of actions of the catalogue."""
        return int(self.set_bus.shape[0])

    def after_actions(self, topo: np.ndarray) -> np.ndarray:
        """The topology vector after each action from a state in ``topo``, (n_actions, dim_topo).

        The batched engine's conventions (see the module docstring); last bus of a disconnected
        element: 1.
        """
        g = self.grid
        t = np.asarray(topo, dtype=np.int64)
        new = np.repeat(t[None, :], self.n_actions, axis=0)
        prev = np.where(t > 0, t, 1)
        status = (t[g.line_or_pos] > 0) & (t[g.line_ex_pos] > 0)
        sb = self.set_bus.astype(np.int64)
        ss = self.set_status.astype(np.int64)
        rows, lines = np.nonzero(ss == -1)
        new[rows, g.line_or_pos[lines]] = -1
        new[rows, g.line_ex_pos[lines]] = -1
        rows, lines = np.nonzero((ss == 1) & ~status[None, :])
        new[rows, g.line_or_pos[lines]] = prev[g.line_or_pos[lines]]
        new[rows, g.line_ex_pos[lines]] = prev[g.line_ex_pos[lines]]
        touched = sb != 0
        new[touched] = sb[touched]
        or_bus, ex_bus = new[:, g.line_or_pos], new[:, g.line_ex_pos]
        cut = ((or_bus == -1) & touched[:, g.line_or_pos]) | (
            (ex_bus == -1) & touched[:, g.line_ex_pos]
        )
        r, ln = np.nonzero(cut)
        new[r, g.line_or_pos[ln]] = -1
        new[r, g.line_ex_pos[ln]] = -1
        or_bus, ex_bus = new[:, g.line_or_pos], new[:, g.line_ex_pos]
        r, ln = np.nonzero((or_bus > 0) & (ex_bus <= 0))
        new[r, g.line_ex_pos[ln]] = prev[g.line_ex_pos[ln]]
        r, ln = np.nonzero((ex_bus > 0) & (or_bus <= 0))
        new[r, g.line_or_pos[ln]] = prev[g.line_or_pos[ln]]
        return new

    def state_matrices(self, topo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(M, islanded)`` of every action from a state in ``topo``: shapes
        ``(n_actions, n_line, n_inj)`` and ``(n_actions,)``; cached per state topology."""
        t = np.asarray(topo, dtype=np.int8)
        key = t.tobytes()
        hit = self._per_state.get(key)
        if hit is None:
            after = self.after_actions(t)
            parts = [self.grid.matrix(row) for row in after]
            hit = (
                np.stack([p[0] for p in parts]),
                np.array([p[1] for p in parts], dtype=bool),
            )
            self._per_state[key] = hit
        return hit

    def injections(self, X: np.ndarray) -> np.ndarray:
        """The injection vector ``[gen_p, load_p]`` of each row, shape (n, n_inj)."""
        return np.concatenate([X[:, self.gen_p_cols], X[:, self.load_p_cols]], axis=1)

    def own_flows(self, X: np.ndarray) -> np.ndarray:
        """DC ``p_or`` of every line in each row's own topology (no action), (n, n_line), MW;
        NaN where that topology is islanded."""
        X = np.asarray(X, dtype=np.float64)
        topo = np.rint(X[:, self.topo_cols]).astype(np.int8)
        inj = self.injections(X)
        if X.shape[0] == 1:  # one state (an agent's step): no grouping
            return inj @ self.grid.matrix(topo[0])[0].T
        out = np.empty((X.shape[0], self.grid.n_line))
        uniq, inverse = np.unique(topo, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
        for u in range(uniq.shape[0]):
            rows = np.flatnonzero(inverse == u)
            out[rows] = inj[rows] @ self.grid.matrix(uniq[u])[0].T
        return out

    def flows(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """DC ``p_or`` of every line after every action from each row of ``X`` (MW).

        Returns
        -------
        p_or : ndarray of float64, shape (n, n_actions, n_line)
            NaN where the pair is islanded.
        islanded : ndarray of bool, shape (n, n_actions)
        """
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        topo = np.rint(X[:, self.topo_cols]).astype(np.int8)
        inj = self.injections(X)
        if n == 1:  # one state (an agent's step): no grouping
            M, islanded = self.state_matrices(topo[0])
            return (M @ inj[0])[None], islanded[None].copy()
        out = np.empty((n, self.n_actions, self.grid.n_line))
        isl = np.zeros((n, self.n_actions), dtype=bool)
        uniq, inverse = np.unique(topo, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
        for u in range(uniq.shape[0]):
            rows = np.flatnonzero(inverse == u)
            M, islanded = self.state_matrices(uniq[u])
            out[rows] = np.einsum("alk,nk->nal", M, inj[rows])
            isl[rows] = islanded[None, :]
        return out, isl


def _action_edits(
    actions: Sequence[dict[str, Any]], action_space: Any, dim_topo: int, n_line: int
) -> tuple[np.ndarray, np.ndarray]:
    set_bus = np.zeros((len(actions), dim_topo), dtype=np.int8)
    set_status = np.zeros((len(actions), n_line), dtype=np.int8)
    for j, entry in enumerate(actions):
        act = action_space(dict(entry.get("grid2op") or {}))
        if np.any(np.asarray(act.change_bus)) or np.any(np.asarray(act.line_change_status)):
            raise ValueError(f"action {entry.get('name')!r}: change_* actions are not supported")
        set_bus[j] = np.asarray(act.set_bus, dtype=np.int8)
        set_status[j] = np.asarray(act.line_set_status, dtype=np.int8)
    return set_bus, set_status


def topology_context(
    env: Any, actions: Sequence[dict[str, Any]], feature_names: Sequence[str]
) -> TopologyContext:
    """The :class:`TopologyContext` of a dataset's environment, catalogue and feature columns.

    Parameters
    ----------
    env : grid2op Environment
        Made with ``LightSimBackend`` (see :func:`gridoracle.grid.make_env`).
    actions : sequence of dict
        The catalogue (``Dataset.actions``: ``name`` and ``grid2op``), in column order.
    feature_names : sequence of str
        The columns of the rows the model sees (``Dataset.X.columns``).
    """
    c = type(env)
    names = list(feature_names)
    where = {n: i for i, n in enumerate(names)}

    def cols(prefix: str, count: int) -> np.ndarray:
        missing = [f"{prefix}_{i}" for i in range(count) if f"{prefix}_{i}" not in where]
        if missing:
            raise ValueError(f"the rows have no {missing[0]} feature")
        return np.array([where[f"{prefix}_{i}"] for i in range(count)], dtype=np.int64)

    set_bus, set_status = _action_edits(actions, env.action_space, int(c.dim_topo), int(c.n_line))
    return TopologyContext(
        grid=DCGrid.from_env(env),
        set_bus=set_bus,
        set_status=set_status,
        topo_cols=cols("topo", int(c.dim_topo)),
        status_cols=cols("line_status", int(c.n_line)),
        gen_p_cols=cols("gen_p", int(c.n_gen)),
        load_p_cols=cols("load_p", int(c.n_load)),
        rho_cols=cols("rho", int(c.n_line)),
        setpoint_cols=np.array(
            [
                i
                for i, n in enumerate(names)
                if n.startswith(("gen_p_", "gen_v_", "load_p_", "load_q_", "fc_"))
            ],
            dtype=np.int64,
        ),
    )
