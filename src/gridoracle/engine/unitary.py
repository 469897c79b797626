"""Branch flows of one topology over many states: what superposition is built from.

The batched engine (:mod:`gridoracle.engine.batched`) returns the current of every line, which
is what a reward needs. Superposing unitary topology changes needs more of each power flow: the
active and reactive power at both ends of every branch and the generators' active power (the
flows at the "virtual lines" of a bus split are sums of those). :class:`FlowSolver` solves one
topology over rows of a :class:`~gridoracle.engine.states.StateBatch` in one lightsim2grid
time-series call (C++, warm-started along the rows, GIL released), in AC (Newton-Raphson, KLU)
or in DC, and returns them as arrays.

It does not apply grid2op's protections, rules or islanding checks: the caller gives a topology
it checked (:meth:`gridoracle.engine.batched.BatchedEngine.islanded`). A row that does not
converge is NaN and flagged. In AC the time series stops at the first diverged row; the rows
after it are solved independently (one injection sweep), as the batched engine does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from lightsim2grid.algorithm import AlgorithmType
from lightsim2grid.lightsim2grid_cpp import InjectionSweepCPP, TimeSeriesCPP

from gridoracle.engine.states import StateBatch

__all__ = ["BranchFlows", "FlowSolver"]


@dataclass
class BranchFlows:
    """Flows of one topology over ``n`` states (NaN where a row did not converge).

    Attributes
    ----------
    p_or, q_or : ndarray of float64, shape (n, n_line)
        Active (MW) and reactive (MVAr) power entering each branch at its origin side (grid2op's
        ``line_or``; the high-voltage side of a transformer). 0 for a disconnected branch.
    p_ex, q_ex : ndarray of float64, shape (n, n_line)
        The same at the extremity side. In DC ``p_ex = -p_or`` and ``q = 0``.
    a_or : ndarray of float64, shape (n, n_line)
        Current at the origin side (A); in DC, lightsim2grid's DC currents.
    gen_p : ndarray of float64, shape (n, n_gen)
        Active power of every generator (MW), the slack's share included.
    converged : ndarray of bool, shape (n,)
    """

    p_or: np.ndarray
    q_or: np.ndarray
    p_ex: np.ndarray
    q_ex: np.ndarray
    a_or: np.ndarray
    gen_p: np.ndarray
    converged: np.ndarray

    def __len__(self) -> int:
        return int(self.converged.shape[0])

    @classmethod
    def empty(cls, n: int, n_line: int, n_gen: int) -> BranchFlows:
        """``n`` rows of NaN, none converged."""

        def nan(width: int) -> np.ndarray:
            return np.full((n, width), np.nan)

        return cls(
            nan(n_line),
            nan(n_line),
            nan(n_line),
            nan(n_line),
            nan(n_line),
            nan(n_gen),
            np.zeros(n, dtype=bool),
        )


class FlowSolver:
    """Solve one topology over many states and read every branch's flows.

    Parameters
    ----------
    env : grid2op Environment
        Made with ``LightSimBackend``, right after ``make`` (its voltages are the initial guess).
        A copy of its grid model is kept; ``env`` is not touched afterwards.
    """

    def __init__(self, env: Any) -> None:
        backend = env.backend
        if not hasattr(backend, "_grid"):
            raise TypeError("FlowSolver needs an environment made with LightSimBackend")
        cls = type(env)
        self.n_line = int(cls.n_line)
        self.n_gen = int(cls.n_gen)
        self.dim_topo = int(cls.dim_topo)
        self.base_grid = backend._grid.copy()
        self.v_init = np.asarray(backend.V, dtype=np.complex128).copy()
        self.max_it = int(backend.max_it)
        self.tol = float(backend.tol)
        self.prod_pu_to_kv = np.asarray(backend.prod_pu_to_kv, dtype=np.float64)

    def grid_with_topology(self, topo: np.ndarray) -> Any:
        """A copy of the grid model with topology vector ``topo`` (grid2op's convention)."""
        grid = self.base_grid.copy()
        grid.update_topo(np.ones(self.dim_topo, dtype=bool), np.asarray(topo).astype(np.int32))
        return grid

    def solve(
        self,
        topo: np.ndarray,
        states: StateBatch,
        rows: np.ndarray | None = None,
        *,
        dc: bool = False,
    ) -> BranchFlows:
        """Flows of topology ``topo`` at each of ``rows`` of ``states`` (default: all).

        Parameters
        ----------
        topo : ndarray of int, shape (dim_topo,)
            Bus of every element (-1 disconnected), checked by the caller (no islanding).
        states : StateBatch
            The injections (``gen_p``, ``gen_v``, ``load_p``, ``load_q``) of each state.
        rows : ndarray of int, optional
            Which states, in the order they are solved (warm start from one to the next).
        dc : bool
            DC power flow instead of AC.
        """
        rows = np.arange(len(states)) if rows is None else np.asarray(rows, dtype=np.int64)
        n = rows.size
        out = BranchFlows.empty(n, self.n_line, self.n_gen)
        if n == 0:
            return out
        grid = self.grid_with_topology(topo)
        algorithm = AlgorithmType.DC_KLU if dc else AlgorithmType.NR_KLU
        computer = self._compute(TimeSeriesCPP(grid), algorithm, states, rows)
        ok = np.asarray(computer.converged_mask(), dtype=bool)
        failed = np.flatnonzero(~ok)
        solved = int(failed[0]) if failed.size else n
        self._read(computer, out, np.arange(solved), ok[:solved])
        rest = np.arange(solved + 1, n)
        if rest.size:  # the time series stopped at row `solved`: the rest independently
            sweep = self._compute(InjectionSweepCPP(grid), algorithm, states, rows[rest])
            self._read(sweep, out, rest, np.asarray(sweep.converged_mask(), dtype=bool))
        return out

    def _compute(self, computer: Any, algorithm: Any, states: StateBatch, rows: np.ndarray) -> Any:
        computer.change_algorithm(algorithm)
        computer.compute_gen_results = True
        computer.modify_gen_p(states.gen_p[rows])
        computer.modify_load_p(states.load_p[rows])
        computer.modify_load_q(states.load_q[rows])
        computer.modify_gen_v(states.gen_v[rows] / self.prod_pu_to_kv)
        computer.compute(self.v_init, self.max_it, self.tol)
        return computer

    def _read(self, computer: Any, out: BranchFlows, where: np.ndarray, ok: np.ndarray) -> None:
        count = where.size
        if count == 0:
            return
        branch = np.asarray(computer.compute_branch_results())[:count, : self.n_line]
        amps = np.asarray(computer.compute_flows())[:count, : self.n_line] * 1000.0
        gens = np.asarray(computer.get_gen_results())
        good = ok[:count] & np.isfinite(branch).all(axis=(1, 2)) & np.isfinite(amps).all(axis=1)
        idx = where[good]
        out.p_or[idx] = branch[good, :, 0]
        out.q_or[idx] = branch[good, :, 1]
        out.p_ex[idx] = branch[good, :, 2]
        out.q_ex[idx] = branch[good, :, 3]
        out.a_or[idx] = amps[good]
        if gens.size:
            out.gen_p[idx] = gens[:count][good, :, 0]
        out.converged[idx] = True
