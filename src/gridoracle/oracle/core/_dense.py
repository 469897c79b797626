"""The dense reduction over predecessors: an (N, N) matrix, O(N^2) a timestep."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridoracle.oracle.core.transitions import TransitionRules


class DenseStep:
    """Reductions over predecessors with an (N, N) matrix, row y holding the predecessors of y."""

    def __init__(self, rules: TransitionRules) -> None:
        self.allowed = np.ascontiguousarray(rules.dense().T)
        self.penalty = np.where(self.allowed, 0.0, -np.inf)
        self.buffer = np.empty_like(self.penalty)
        self.rows = np.arange(rules.n_actions)
        self._cached: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]] | None = None

    def best(
        self, prev: NDArray[np.float64], rank: NDArray[np.int64] | None
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Best predecessor value of each action and, among ties, the predecessor of least rank
        (least index when ``rank`` is None)."""
        if rank is None:
            np.add(self.penalty, prev[None, :], out=self.buffer)
            arg = self.buffer.argmax(axis=1)  # first max: least index
            return self.buffer[self.rows, arg], arg.astype(np.int64)
        if self._cached is None or self._cached[0] is not rank:
            order = np.argsort(rank)
            self._cached = (rank, order, np.ascontiguousarray(self.penalty[:, order]))
        _, order, penalty = self._cached
        np.add(penalty, prev[order][None, :], out=self.buffer)
        arg = self.buffer.argmax(axis=1)  # first max in rank order: least rank
        return self.buffer[self.rows, arg], order[arg]

    def first_reached(self, reached: NDArray[np.bool_], rank: NDArray[np.int64]) -> NDArray:
        """Least rank among the reached predecessors of each action (N when none)."""
        keys = np.where(reached, rank, len(rank))
        return np.where(self.allowed, keys[None, :], len(rank)).min(axis=1)
