"""The sparse reduction over predecessors: segment reductions over their CSR form, O(nnz)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridoracle.oracle.core.transitions import TransitionRules


class SparseStep:
    """Reductions over predecessors with segment reductions over their CSR form."""

    def __init__(self, rules: TransitionRules) -> None:
        indptr, indices = rules.predecessors()
        n = rules.n_actions
        nnz = len(indices)
        self.n = n
        self.indices = indices
        self.counts = np.diff(indptr)
        self.empty = self.counts == 0
        # reduceat needs start indices < len(array): a sentinel at position nnz serves the
        # actions without predecessors (their result is overwritten below)
        self.starts = np.minimum(indptr[:-1], nnz)
        self.gathered = np.empty(nnz + 1, dtype=np.float64)
        self.gathered[nnz] = -np.inf
        self.keys = np.empty(nnz + 1, dtype=np.int64)
        self.keys[nnz] = n
        self._cached: tuple[NDArray[np.int64] | None, NDArray[np.int64], NDArray[np.int64]] = (
            None,
            indices,
            np.append(np.arange(n), -1),
        )

    def _segment_min(self, keys: NDArray[np.int64]) -> NDArray[np.int64]:
        out = np.minimum.reduceat(keys, self.starts)
        out[self.empty] = self.n
        return out

    def best(
        self, prev: NDArray[np.float64], rank: NDArray[np.int64] | None
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Best predecessor value of each action and, among ties, the predecessor of least rank
        (least index when ``rank`` is None)."""
        nnz = len(self.indices)
        if rank is not self._cached[0]:
            if rank is None:
                self._cached = (None, self.indices, np.append(np.arange(self.n), -1))
            else:
                self._cached = (rank, rank[self.indices], np.append(np.argsort(rank), -1))
        _, entry_rank, by_rank = self._cached
        values = self.gathered[:nnz]
        np.take(prev, self.indices, out=values)
        best = np.maximum.reduceat(self.gathered, self.starts)
        best[self.empty] = -np.inf
        hit = values == np.repeat(best, self.counts)
        np.copyto(self.keys[:nnz], np.where(hit, entry_rank, self.n))
        return best, by_rank[self._segment_min(self.keys)]

    def first_reached(self, reached: NDArray[np.bool_], rank: NDArray[np.int64]) -> NDArray:
        """Least rank among the reached predecessors of each action (N when none)."""
        nnz = len(self.indices)
        keys = np.where(reached, rank, self.n)
        np.take(keys, self.indices, out=self.keys[:nnz])
        return self._segment_min(self.keys)
