"""Best path over (time, action) by dynamic programming: Oracle4Grid's graph search, in arrays.

Oracle4Grid builds a networkx graph whose nodes are ``init``, one node per (action, timestep) and
``end``; ``init -> X_t0`` exists for the actions reachable from the reference topology,
``X_t(k-1) -> Y_tk`` for the transitions the game rules allow, ``X_t(T-1) -> end`` for every X.
An edge into ``Y_tk`` weighs the reward of Y at k; an edge into ``end`` weighs 0.1. It then takes
the longest path (``dag_longest_path``) or the shortest one (``bellman_ford_path``).

That graph is layered by time, so the best path is a Viterbi recursion over t, here vectorized
over the actions (no graph of T x N^2 edges)::

    V[0, y] = w(0, y)                         if y is reachable from the reference, else -inf
    V[t, y] = w(t, y) + max_{x -> y} V[t-1, x]
    value   = max_y V[T-1, y] + w_end

for the longest path, with ``min`` for the shortest (computed as the longest path of ``-w``, which
gives bit-identical sums). Dead nodes (``-inf``) are the nodes the graph lacks: a NaN reward
(Oracle4Grid drops edges with a NaN weight) and, for the path without overload, every node whose
overload flag is 0 (flags 1 = no overload and -1 = error are kept, as in Oracle4Grid). No path
from ``init`` to ``end`` gives an empty path and a NaN value.

Weights are the rewards (float64), or, with ``significant_digits=d``, Oracle4Grid's
``int64(w * 10**d)``: a truncation towards zero, not a rounding, applied to the end weight too.
The recursion runs in float64 on those integers, which is exact while sums stay below 2**53.

Ties are broken deterministically. With ``ties="oracle4grid"`` (the default) they are broken as
networkx breaks them on Oracle4Grid's graph, so that the path is the very same path:

- ``dag_longest_path`` keeps, among equally long predecessors, the first in the graph's
  predecessor order. On Oracle4Grid's graph that is the action order; on its graph without
  overload, a ``graph.copy()``, it is the order in which nodes entered the graph, which
  :func:`insertion_rank` computes;
- ``bellman_ford_path`` keeps the first predecessor its FIFO queue processed: the nodes of each
  timestep are processed in the order they were discovered from the previous timestep's queue;
  the recursion carries that order along (one more reduction per step).

Among equally good last actions the least index wins (the first predecessor of ``end``; for the
shortest path, the first in the queue). ``ties="index"`` always takes the least action index.
The correspondence holds for tables without NaN, with rewards >= 0 (``dag_longest_path``
restarts its paths at negative totals) and a truncated end weight above 0.

One difference is deliberate: Oracle4Grid runs ``dag_longest_path`` on its whole graph, so when
a path starting at a node that has no predecessor (an action unreachable from the reference
topology at t0, or a node whose predecessors were all removed) or ending at a dead end is longer,
it returns that path, which the rules forbid. Here every path runs from ``init`` to ``end``; the
two agree whenever Oracle4Grid's path does (always, in practice: such a path misses whole steps
of reward). :func:`gridoracle.oracle.graph_export.reference_best_path` shows both.

Two ways of taking the max over predecessors, chosen per call (``method``):

- dense: an (N, N) array ``V[t-1, x] + (0 if x -> y else -inf)`` reduced over x: O(T N^2);
- sparse: the allowed transitions in CSR form, grouped by target, reduced with
  ``np.maximum.reduceat`` over the gathered values: O(T nnz). Chosen when the transitions
  are sparse enough (see :func:`choose_method`).

Backpointers take an int32 array of shape (T, N); values keep one row.

References
----------
A. J. Viterbi, "Error bounds for convolutional codes and an asymptotically optimum decoding
algorithm", IEEE Trans. Inf. Theory 13(2), 1967. Oracle4Grid (github:marota/Oracle4Grid),
``oracle4grid/core/graph/graph_generator.py`` and ``compute_trajectory.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridoracle.errors import InvalidOption
from gridoracle.oracle.transitions import TransitionRules

LONGEST = "longest"
SHORTEST = "shortest"
#: the path types of Oracle4Grid's ``best_path_type``
KINDS: tuple[str, ...] = (LONGEST, SHORTEST)
#: weight of the edges into Oracle4Grid's ``end`` node
END_NODE_REWARD = 0.1
#: ways of reducing over predecessors
METHODS: tuple[str, ...] = ("auto", "dense", "sparse")
#: tie-breaking rules
TIES: tuple[str, ...] = ("oracle4grid", "index")
# "auto" takes the sparse reduction above this many actions whatever the density (the dense
# one holds two (N, N) float64 arrays), below _DENSE_MIN_ACTIONS never, in between when at most
# this fraction of the transitions is allowed (measured crossover: about 0.2 to 0.3)
_DENSE_MAX_ACTIONS = 4096
_DENSE_MIN_ACTIONS = 128
_SPARSE_MAX_DENSITY = 0.2
# integers are exact in float64 below this bound
_EXACT_FLOAT = float(2**53)


@dataclass(frozen=True, eq=False)
class BestPath:
    """A best path over the episode.

    Attributes
    ----------
    path : list of int
        Index of the action held at each timestep (length T), or ``[]`` when there is no path.
    value : float
        Weight of the whole path ``init -> ... -> end`` in the graph's units, the end weight
        included: a sum of rewards, or with ``significant_digits=d`` a sum of truncated integers
        ``int64(w * 10**d)`` (then an integer-valued float). NaN when there is no path.
    reward : float
        Sum of the rewards along the path (float64, no end weight, no truncation): the value of
        Oracle4Grid's KPIs. NaN when there is no path.
    edge_weights : ndarray of float64, shape (T + 1,)
        Weights of the path's edges, the edge into ``end`` last (empty when there is no path).
    kind : str
        ``"longest"`` or ``"shortest"``.
    significant_digits : int or None
        The truncation of the weights, or None for float weights.
    blocked_at : int or None
        When there is no path: the first timestep at which no node can be reached.
    """

    path: list[int]
    value: float
    reward: float
    edge_weights: NDArray[np.float64] = field(repr=False)
    kind: str = LONGEST
    significant_digits: int | None = None
    blocked_at: int | None = None

    @property
    def found(self) -> bool:
        """Whether a path from ``init`` to ``end`` exists."""
        return len(self.path) > 0

    def names(self, names: Sequence[str]) -> list[str]:
        """The action names along the path."""
        return [names[i] for i in self.path]


def check_kind(kind: str) -> str:
    """``kind`` if it is ``"longest"`` or ``"shortest"``, else an :class:`InvalidOption`."""
    if kind not in KINDS:
        raise InvalidOption(f"best_path_type {kind!r}: expected one of {', '.join(KINDS)}")
    return kind


def check_significant_digits(significant_digits: int | None) -> int | None:
    """``significant_digits`` as an int >= 0 or None, else an :class:`InvalidOption`."""
    if significant_digits is None:
        return None
    digits = int(significant_digits)
    if digits != significant_digits or digits < 0:
        raise InvalidOption(
            f"reward_significant_digit {significant_digits!r}: expected an integer >= 0"
        )
    return digits


def truncate_weights(values: ArrayLike, significant_digits: int | None) -> NDArray[np.float64]:
    """Oracle4Grid's edge weights: ``int64(w * 10**d)`` (truncation), as float64 integers.

    Parameters
    ----------
    values : array-like of float
        Rewards (NaN stays NaN).
    significant_digits : int or None
        d; None returns the values unchanged (as float64).

    Examples
    --------
    >>> truncate_weights([1.239, -1.239, 0.1], 2).tolist()
    [123.0, -123.0, 10.0]
    """
    weights = np.asarray(values, dtype=np.float64)
    digits = check_significant_digits(significant_digits)
    if digits is None:
        return weights.copy()
    return np.trunc(weights * 10**digits)


def path_reward(rewards: ArrayLike, path: Sequence[int]) -> float:
    """Sum of the rewards of a path (float64), NaN for an empty path.

    Examples
    --------
    >>> path_reward([[1.0, 2.0], [3.0, 4.0]], [1, 0])
    5.0
    """
    table = np.asarray(rewards, dtype=np.float64)
    if len(path) == 0:
        return float("nan")
    if len(path) != table.shape[0]:
        raise ValueError(f"path has {len(path)} steps, the reward table {table.shape[0]}")
    return float(np.sum(table[np.arange(len(path)), np.asarray(path, dtype=np.int64)]))


def best_unconstrained(rewards: ArrayLike, kind: str = LONGEST) -> float:
    """Best value without transition constraint: the sum over t of the best reward at t.

    Oracle4Grid's "Best path without transition constraint". NaN rewards are skipped (a timestep
    with no number adds 0, like pandas' sum).

    Examples
    --------
    >>> best_unconstrained([[1.0, 2.0], [4.0, 3.0]])
    6.0
    >>> best_unconstrained([[1.0, 2.0], [4.0, 3.0]], kind="shortest")
    4.0
    """
    table = np.asarray(rewards, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"rewards must have shape (T, N), got {table.shape}")
    sign = 1.0 if check_kind(kind) == LONGEST else -1.0
    if table.shape[1] == 0:
        return 0.0
    signed = np.where(np.isnan(table), -np.inf, sign * table)
    best = signed.max(axis=1)
    return float(np.sum(np.where(np.isfinite(best), sign * best, 0.0)))


def choose_method(rules: TransitionRules) -> str:
    """The reduction ``method="auto"`` takes for these rules: ``"dense"`` or ``"sparse"``.

    Dense below 128 actions; sparse above 4096 (the dense reduction holds two (N, N) float64
    arrays); in between, sparse when at most 20 % of the N^2 transitions are allowed. Measured
    here: the sparse reduction costs about 4 passes over the allowed transitions, the dense one
    about 2 over N^2, e.g. 0.47 vs 0.94 ms per step at N = 1000 and 10 % density, 3.3 vs 1.3 ms
    at 50 %; at N = 3051 and 1 % (depth-3 combinations) 0.44 vs 17.6 ms.
    """
    n = rules.n_actions
    if n < _DENSE_MIN_ACTIONS:
        return "dense"
    if n > _DENSE_MAX_ACTIONS:
        return "sparse"
    density = rules.n_transitions / float(n * n)
    return "sparse" if density <= _SPARSE_MAX_DENSITY else "dense"


def _rank_of(order: NDArray[np.int64]) -> NDArray[np.int64]:
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank


def insertion_rank(rules: TransitionRules) -> NDArray[np.int64]:
    """Rank of each action among the nodes of one inner timestep of Oracle4Grid's graph.

    Oracle4Grid adds the edges into ``Y_tk`` action after action (Y ascending), from the
    predecessors of Y in ascending order, so the nodes of timestep k (0 < k < T-1) enter the
    graph in the order ``Y=0, preds(0)..., Y=1, preds(1)...`` without repeats. A copy of the
    graph (its graph without overload is one) lists predecessors in that node order, which is how
    ``dag_longest_path`` breaks ties there.
    """
    indptr, indices = rules.predecessors()
    n = rules.n_actions
    counts = np.diff(indptr)
    sequence = np.empty(n + len(indices), dtype=np.int64)
    heads = np.arange(n) + indptr[:-1]
    sequence[heads] = np.arange(n)
    owner = np.repeat(np.arange(n), counts)
    sequence[np.arange(len(indices)) + owner + 1] = indices
    _, first = np.unique(sequence, return_index=True)
    return _rank_of(np.argsort(first, kind="stable"))


class _DenseStep:
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


class _SparseStep:
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


def best_path(
    rewards: ArrayLike,
    rules: TransitionRules,
    *,
    kind: str = LONGEST,
    overload: ArrayLike | None = None,
    significant_digits: int | None = None,
    end_weight: float = END_NODE_REWARD,
    ties: str = "oracle4grid",
    method: str = "auto",
) -> BestPath:
    """The best path from ``init`` to ``end`` through one action per timestep.

    Parameters
    ----------
    rewards : array-like of float, shape (T, N)
        ``rewards[t, y]``: reward of the (t+1)-th step of the run holding action y.
    rules : TransitionRules
        Allowed transitions and the actions reachable from the reference topology.
    kind : {"longest", "shortest"}
        Maximize or minimize the sum of the weights (Oracle4Grid's ``best_path_type``).
    overload : array-like of int, shape (T, N), optional
        Overload flags (1 none, 0 overload, -1 error): when given, the nodes flagged 0 are
        removed, as in Oracle4Grid's best path without overload.
    significant_digits : int, optional
        Use Oracle4Grid's truncated integer weights ``int64(w * 10**d)``; None: float rewards.
    end_weight : float, default 0.1
        Weight of the edges into ``end`` (truncated like the others).
    ties : {"oracle4grid", "index"}
        Among equally good predecessors, take the one networkx takes on Oracle4Grid's graph
        (``"oracle4grid"``: see the module docstring) or the least action index (``"index"``).
    method : {"auto", "dense", "sparse"}
        Reduction over predecessors (see :func:`choose_method`); all give the same path.

    Returns
    -------
    BestPath

    Examples
    --------
    >>> from gridoracle.oracle.transitions import allowed_transitions
    >>> rules = allowed_transitions(["sub-1-0", "sub-2-1", "sub-1-0_sub-2-1", "donothing-0"])
    >>> rewards = [[1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 5.0, 0.0], [1.0, 1.0, 5.0, 0.0]]
    >>> found = best_path(rewards, rules)
    >>> found.path, round(found.value, 6), found.reward
    ([0, 2, 2], 11.1, 11.0)
    >>> best_path(rewards, rules, overload=[[1, 1, 1, 1], [1, 1, 0, 1], [1, 1, 1, 1]]).path
    [3, 0, 2]
    """
    table = np.asarray(rewards, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"rewards must have shape (T, N), got {table.shape}")
    n_steps, n_actions = table.shape
    if n_steps == 0:
        raise ValueError("rewards has no timestep")
    if rules.n_actions != n_actions:
        raise ValueError(f"rules are for {rules.n_actions} actions, rewards have {n_actions}")
    longest = check_kind(kind) == LONGEST
    sign = 1.0 if longest else -1.0
    digits = check_significant_digits(significant_digits)
    if method not in METHODS:
        raise ValueError(f"method {method!r}: expected one of {METHODS}")
    if ties not in TIES:
        raise ValueError(f"ties {ties!r}: expected one of {TIES}")

    weights = truncate_weights(table, digits)
    end = float(truncate_weights(end_weight, digits))
    alive = ~np.isnan(weights)
    if overload is not None:
        flags = np.asarray(overload)
        if flags.shape != table.shape:
            raise ValueError(f"overload has shape {flags.shape}, rewards {table.shape}")
        alive &= flags != 0
    if digits is not None:
        bound = float(np.max(np.abs(weights), where=alive, initial=0.0)) * n_steps + abs(end)
        if bound >= _EXACT_FLOAT:
            raise InvalidOption(
                f"reward_significant_digit {digits}: path weights up to {bound:.3g} pass 2**53"
                " and cannot be summed exactly; use fewer digits"
            )
    signed = np.where(alive, sign * weights, -np.inf)

    no_path = BestPath([], float("nan"), float("nan"), np.zeros(0), kind, digits)
    if n_actions == 0:
        return replace(no_path, blocked_at=0)
    if method == "auto":
        method = choose_method(rules)
    step: _DenseStep | _SparseStep = _DenseStep(rules) if method == "dense" else _SparseStep(rules)
    # tie-break ranks of the predecessors' timestep (None: action index), see the module doc
    faithful = ties == "oracle4grid"
    static_rank = insertion_rank(rules) if faithful and longest and overload is not None else None
    queue_rank = np.arange(n_actions) if faithful and not longest else None

    pointers = np.full((n_steps, n_actions), -1, dtype=np.int32)
    current = np.where(np.asarray(rules.from_init, dtype=bool), signed[0], -np.inf)
    if not np.isfinite(current).any():
        return replace(no_path, blocked_at=0)
    for t in range(1, n_steps):
        # timestep t-1 = 0: the reachable nodes come first and in index order in every case
        rank = queue_rank if queue_rank is not None else (static_rank if t > 1 else None)
        best_prev, arg = step.best(current, rank)
        pointers[t] = arg
        reached_prev = np.isfinite(current)
        current = best_prev + signed[t]
        reached = np.isfinite(current)
        if not reached.any():
            return replace(no_path, blocked_at=t)
        if queue_rank is not None:
            # Bellman-Ford's queue: timestep t in order of discovery from timestep t-1's queue
            discovered_by = step.first_reached(reached_prev, queue_rank)
            discovered_by = np.where(reached, discovered_by, n_actions + 1)
            queue_rank = _rank_of(np.lexsort((np.arange(n_actions), discovered_by)))

    if queue_rank is not None:
        best_value = current.max()
        last = int(np.argmin(np.where(current == best_value, queue_rank, n_actions)))
    else:
        last = int(np.argmax(current))  # first max: least index
    path = np.empty(n_steps, dtype=np.int64)
    path[-1] = last
    for t in range(n_steps - 1, 0, -1):
        path[t - 1] = pointers[t, path[t]]
    steps = np.arange(n_steps)
    edge_weights = np.append(weights[steps, path], end)
    return BestPath(
        path=path.tolist(),
        value=float(sign * current[last] + end),
        reward=float(np.sum(table[steps, path])),
        edge_weights=edge_weights,
        kind=kind,
        significant_digits=digits,
    )


def best_path_no_overload(
    rewards: ArrayLike,
    rules: TransitionRules,
    overload: ArrayLike,
    *,
    kind: str = LONGEST,
    significant_digits: int | None = None,
    end_weight: float = END_NODE_REWARD,
    ties: str = "oracle4grid",
    method: str = "auto",
) -> BestPath:
    """The best path through nodes without overload (flag != 0); see :func:`best_path`.

    Examples
    --------
    >>> from gridoracle.oracle.transitions import allowed_transitions
    >>> rules = allowed_transitions(["donothing-0", "sub-1-0"])
    >>> best_path_no_overload([[1.0, 2.0], [1.0, 2.0]], rules, [[1, 0], [1, 1]]).path
    [0, 1]
    """
    return best_path(
        rewards,
        rules,
        kind=kind,
        overload=overload,
        significant_digits=significant_digits,
        end_weight=end_weight,
        ties=ties,
        method=method,
    )
