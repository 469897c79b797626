"""The Viterbi recursion one timestep at a time, on a dense or a sparse reduction.

:func:`solve_loop` keeps one row of values and an int32 array of backpointers of shape (T, N);
each timestep is one reduction over predecessors (:class:`~gridoracle.oracle.core._dense.DenseStep`
or :class:`~gridoracle.oracle.core._sparse.SparseStep`), two for Bellman-Ford's queue order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gridoracle.oracle.core._dense import DenseStep
from gridoracle.oracle.core._sparse import SparseStep
from gridoracle.oracle.core._ties import TIE_QUEUE, TIE_STATIC, rank_of
from gridoracle.oracle.core.transitions import TransitionRules


class Rows(Protocol):
    """The signed weights of a search: a (T, N) array, or rows computed when asked for."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, t: int) -> NDArray[np.float64]: ...


@dataclass(frozen=True)
class Solved:
    """A search's outcome: the path and its value at T-1 (signed), or where it is blocked."""

    path: NDArray[np.int64] | None
    last_value: float = float("nan")
    blocked_at: int | None = None


def solve_loop(
    signed: Rows,
    rules: TransitionRules,
    step: DenseStep | SparseStep,
    tie: str,
    static_rank: NDArray[np.int64] | None,
) -> Solved:
    """The recursion one timestep at a time, backpointers kept for every node."""
    n_steps, n_actions = signed.shape
    # tie-break ranks of the predecessors' timestep (None: action index), see _ties
    static = static_rank if tie == TIE_STATIC else None
    queue_rank = np.arange(n_actions) if tie == TIE_QUEUE else None

    pointers = np.full((n_steps, n_actions), -1, dtype=np.int32)
    current = np.where(np.asarray(rules.from_init, dtype=bool), signed[0], -np.inf)
    if not np.isfinite(current).any():
        return Solved(None, blocked_at=0)
    for t in range(1, n_steps):
        # timestep t-1 = 0: the reachable nodes come first and in index order in every case
        rank = queue_rank if queue_rank is not None else (static if t > 1 else None)
        best_prev, arg = step.best(current, rank)
        pointers[t] = arg
        reached_prev = np.isfinite(current)
        current = best_prev + signed[t]
        reached = np.isfinite(current)
        if not reached.any():
            return Solved(None, blocked_at=t)
        if queue_rank is not None:
            # Bellman-Ford's queue: timestep t in order of discovery from timestep t-1's queue
            discovered_by = step.first_reached(reached_prev, queue_rank)
            discovered_by = np.where(reached, discovered_by, n_actions + 1)
            queue_rank = rank_of(np.lexsort((np.arange(n_actions), discovered_by)))

    if queue_rank is not None:
        best_value = current.max()
        last = int(np.argmin(np.where(current == best_value, queue_rank, n_actions)))
    else:
        last = int(np.argmax(current))  # first max: least index
    path = np.empty(n_steps, dtype=np.int64)
    path[-1] = last
    for t in range(n_steps - 1, 0, -1):
        path[t - 1] = pointers[t, path[t]]
    return Solved(path, float(current[last]))
