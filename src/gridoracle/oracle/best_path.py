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

For a few actions (up to 24, or 64 for the shortest path with Oracle4Grid's ties) the time is
numpy's per-call overhead, not arithmetic: the dense reduction then runs a kernel that makes two
numpy calls per timestep, keeps the values of every timestep and takes the backpointers
afterwards, a chunk of timesteps per call; Bellman-Ford's queue order is computed only when the
path meets a tie. :func:`best_paths` runs the best path and the best path without overload in
that one pass (about 2 ms for both at T = 400, N = 12, against 5 ms for the two loops before).
Same sums in the same order, so the same paths and values to the last bit.

References
----------
A. J. Viterbi, "Error bounds for convolutional codes and an asymptotically optimum decoding
algorithm", IEEE Trans. Inf. Theory 13(2), 1967. Oracle4Grid (github:marota/Oracle4Grid),
``oracle4grid/core/graph/graph_generator.py`` and ``compute_trajectory.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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
# insertion_rank works on the dense matrix (and an (N, N) cumulative count) up to this N
_DENSE_RANK_MAX_ACTIONS = 512
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


def _predecessors(rules: TransitionRules) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """:meth:`TransitionRules.predecessors`, without going through scipy for dense rules."""
    if rules.is_sparse:
        return rules.predecessors()
    targets, indices = np.nonzero(rules.dense().T)  # row-major: by target, then source
    indptr = np.zeros(rules.n_actions + 1, dtype=np.int64)
    np.cumsum(np.bincount(targets, minlength=rules.n_actions), out=indptr[1:])
    return indptr, indices.astype(np.int64)


def _dense_insertion_rank(allowed: NDArray[np.bool_]) -> NDArray[np.int64]:
    """:func:`insertion_rank` from the (N, N) matrix, without building the node sequence.

    In ``Y=0, preds(0)..., Y=1, preds(1)...`` the head Y sits at ``Y + (number of predecessors
    of the targets before Y)``; an action x first appears as a predecessor of its least target
    y, at y's head plus its rank among the predecessors of y (from 1), which comes before its
    own head only when y < x.
    """
    n = len(allowed)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    nodes = np.arange(n)
    head = nodes.copy()
    np.cumsum(np.count_nonzero(allowed, axis=0)[:-1], out=head[1:])
    head[1:] += nodes[1:]
    target = np.argmax(allowed, axis=1)  # least y with x -> y (0 when none)
    within = np.cumsum(allowed, axis=0)[nodes, target]  # predecessors of that y up to x
    earlier = allowed[nodes, target] & (target < nodes)
    first = np.where(earlier, head[target] + within, head)
    return _rank_of(np.argsort(first))


def insertion_rank(rules: TransitionRules) -> NDArray[np.int64]:
    """Rank of each action among the nodes of one inner timestep of Oracle4Grid's graph.

    Oracle4Grid adds the edges into ``Y_tk`` action after action (Y ascending), from the
    predecessors of Y in ascending order, so the nodes of timestep k (0 < k < T-1) enter the
    graph in the order ``Y=0, preds(0)..., Y=1, preds(1)...`` without repeats. A copy of the
    graph (its graph without overload is one) lists predecessors in that node order, which is how
    ``dag_longest_path`` breaks ties there.
    """
    n = rules.n_actions
    if not rules.is_sparse and n <= _DENSE_RANK_MAX_ACTIONS:
        return _dense_insertion_rank(rules.dense())
    indptr, indices = _predecessors(rules)
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


# tie-breaking rules of one search (see the module docstring)
_TIE_INDEX = "index"  # least action index
_TIE_STATIC = "static"  # least insertion rank, least index at t = 1 (dag_longest_path on a copy)
_TIE_QUEUE = "queue"  # first in Bellman-Ford's queue
# the small dense kernel (see _solve_small) takes up to this many actions, up to the second
# when a search follows Bellman-Ford's queue (the per-step loop is slowest then; reached sets
# and successors are uint64 bit masks), and this many float64 candidates at a time. Measured
# at T = 400, one search, kernel vs loop: longest path 1.6 vs 2.5 ms at N = 12, 2.4 vs 2.7 at
# N = 24, 2.9 vs 2.7 at N = 32, 6.7 vs 3.6 at N = 64; shortest path 7.0 vs 12.1 ms at N = 64
_SMALL_MAX_ACTIONS = 24
_SMALL_MAX_ACTIONS_QUEUE = 64
_CHUNK_ELEMENTS = 1 << 14


@dataclass(frozen=True)
class _Setup:
    """The checked arguments shared by the searches of one call."""

    table: NDArray[np.float64]
    weights: NDArray[np.float64]
    end: float
    kind: str
    sign: float
    digits: int | None
    faithful: bool
    method: str


@dataclass(frozen=True)
class _Solved:
    """A search's outcome: the path and its value at T-1 (signed), or where it is blocked."""

    path: NDArray[np.int64] | None
    last_value: float = float("nan")
    blocked_at: int | None = None


def _setup(
    rewards: ArrayLike,
    rules: TransitionRules,
    kind: str,
    significant_digits: int | None,
    end_weight: float,
    ties: str,
    method: str,
) -> _Setup:
    table = np.asarray(rewards, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"rewards must have shape (T, N), got {table.shape}")
    n_steps, n_actions = table.shape
    if n_steps == 0:
        raise ValueError("rewards has no timestep")
    if rules.n_actions != n_actions:
        raise ValueError(f"rules are for {rules.n_actions} actions, rewards have {n_actions}")
    longest = check_kind(kind) == LONGEST
    digits = check_significant_digits(significant_digits)
    if method not in METHODS:
        raise ValueError(f"method {method!r}: expected one of {METHODS}")
    if ties not in TIES:
        raise ValueError(f"ties {ties!r}: expected one of {TIES}")
    return _Setup(
        table=table,
        weights=truncate_weights(table, digits),
        end=float(truncate_weights(end_weight, digits)),
        kind=kind,
        sign=1.0 if longest else -1.0,
        digits=digits,
        faithful=ties == "oracle4grid",
        method=method,
    )


def _signed_weights(setup: _Setup, overload: ArrayLike | None) -> NDArray[np.float64]:
    """Weights of the search (negated for the shortest path), -inf at the nodes it lacks."""
    weights = setup.weights
    alive = ~np.isnan(weights)
    if overload is not None:
        flags = np.asarray(overload)
        if flags.shape != setup.table.shape:
            raise ValueError(f"overload has shape {flags.shape}, rewards {setup.table.shape}")
        alive &= flags != 0
    if setup.digits is not None:
        n_steps = weights.shape[0]
        bound = float(np.max(np.abs(weights), where=alive, initial=0.0)) * n_steps + abs(setup.end)
        if bound >= _EXACT_FLOAT:
            raise InvalidOption(
                f"reward_significant_digit {setup.digits}: path weights up to {bound:.3g} pass"
                " 2**53 and cannot be summed exactly; use fewer digits"
            )
    return np.where(alive, setup.sign * weights, -np.inf)


def _tie_rule(setup: _Setup, without_overload: bool) -> str:
    if not setup.faithful:
        return _TIE_INDEX
    if setup.sign < 0:
        return _TIE_QUEUE
    return _TIE_STATIC if without_overload else _TIE_INDEX


def _search(
    setup: _Setup, rules: TransitionRules, problems: Sequence[tuple[NDArray[np.float64], str]]
) -> list[BestPath]:
    """Best paths of searches on one table (signed weights and tie rule each)."""
    n_actions = setup.table.shape[1]
    if n_actions == 0:
        solved = [_Solved(None, blocked_at=0) for _ in problems]
    else:
        method = choose_method(rules) if setup.method == "auto" else setup.method
        signed = [weights for weights, _ in problems]
        tie_rules = [tie for _, tie in problems]
        small = _SMALL_MAX_ACTIONS_QUEUE if _TIE_QUEUE in tie_rules else _SMALL_MAX_ACTIONS
        if (
            method == "dense"
            and n_actions <= small
            and all(weights.max() < np.inf for weights in signed)
        ):
            solved = _solve_small(signed, rules, tie_rules)
        else:
            step = _DenseStep(rules) if method == "dense" else _SparseStep(rules)
            static_rank = insertion_rank(rules) if _TIE_STATIC in tie_rules else None
            solved = [
                _solve_loop(weights, rules, step, tie, static_rank)
                for weights, tie in zip(signed, tie_rules, strict=True)
            ]
    return [_best_path_of(setup, one) for one in solved]


def _best_path_of(setup: _Setup, solved: _Solved) -> BestPath:
    path = solved.path
    if path is None:
        return BestPath(
            [],
            float("nan"),
            float("nan"),
            np.zeros(0),
            setup.kind,
            setup.digits,
            blocked_at=solved.blocked_at,
        )
    steps = np.arange(len(path))
    return BestPath(
        path=path.tolist(),
        value=float(setup.sign * solved.last_value + setup.end),
        reward=float(np.sum(setup.table[steps, path])),
        edge_weights=np.append(setup.weights[steps, path], setup.end),
        kind=setup.kind,
        significant_digits=setup.digits,
    )


def _solve_loop(
    signed: NDArray[np.float64],
    rules: TransitionRules,
    step: _DenseStep | _SparseStep,
    tie: str,
    static_rank: NDArray[np.int64] | None,
) -> _Solved:
    """The recursion one timestep at a time, backpointers kept for every node."""
    n_steps, n_actions = signed.shape
    # tie-break ranks of the predecessors' timestep (None: action index), see the module doc
    static = static_rank if tie == _TIE_STATIC else None
    queue_rank = np.arange(n_actions) if tie == _TIE_QUEUE else None

    pointers = np.full((n_steps, n_actions), -1, dtype=np.int32)
    current = np.where(np.asarray(rules.from_init, dtype=bool), signed[0], -np.inf)
    if not np.isfinite(current).any():
        return _Solved(None, blocked_at=0)
    for t in range(1, n_steps):
        # timestep t-1 = 0: the reachable nodes come first and in index order in every case
        rank = queue_rank if queue_rank is not None else (static if t > 1 else None)
        best_prev, arg = step.best(current, rank)
        pointers[t] = arg
        reached_prev = np.isfinite(current)
        current = best_prev + signed[t]
        reached = np.isfinite(current)
        if not reached.any():
            return _Solved(None, blocked_at=t)
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
    return _Solved(path, float(current[last]))


def _solve_small(
    signed: Sequence[NDArray[np.float64]], rules: TransitionRules, tie_rules: Sequence[str]
) -> list[_Solved]:
    """The recursion for a few actions, for P searches at once (weights of shape (T, N) each).

    Same values as :func:`_solve_loop` (the same float64 sums, in the same order) with two
    numpy calls per timestep for all searches together: the forward pass keeps only the best
    predecessor value ``B[t, y] = max_x V[t-1, x] + mask(x -> y)`` (so ``V[t] = B[t] + w(t)``)
    and reduces the candidates ``(w(t-1, x) + mask(x -> y)) + B[t-1, x]``, which are
    ``mask(x -> y) + V[t-1, x]`` to the last bit (the mask is 0 or -inf, no weight is +inf).
    The backpointers are then first argmaxes over those candidates, a chunk of timesteps at
    once: a search whose ties go to the least insertion rank runs on the actions renumbered in
    that order (the values do not depend on the numbering) and its pointer at t = 1 (least
    index) is redone on the path. Bellman-Ford's queue order is only needed where the path
    meets a tie: it is computed then.
    """
    n_problems = len(signed)
    n_steps, n = signed[0].shape
    allowed = rules.dense()
    mask = np.where(allowed, 0.0, -np.inf)  # [x, y]
    init = np.where(np.asarray(rules.from_init, dtype=bool), 0.0, -np.inf)
    # node i of search p is action numbering[p][i] (None: i)
    static_order = np.argsort(insertion_rank(rules)) if _TIE_STATIC in tie_rules else None
    numbering = [static_order if tie == _TIE_STATIC else None for tie in tie_rules]
    # laid out [t, x, p, y]: reducing over the first axis of a timestep's block is the fastest
    penalties = np.empty((n, n_problems, n))  # [x, p, y]
    weights = np.empty((n_steps, n_problems, n))  # [t, p, x]
    best = np.empty((n_steps, n_problems, n))  # [t, p, y]
    for p, (table, order) in enumerate(zip(signed, numbering, strict=True)):
        penalties[:, p] = mask if order is None else mask[order[:, None], order]
        weights[:, p] = table if order is None else table[:, order]
        best[0, p] = init if order is None else init[order]
    by_source = weights.transpose(0, 2, 1)[:, :, :, None]  # [t, x, p, 1]
    best_by_source = best.transpose(0, 2, 1)[:, :, :, None]
    pointers = np.empty((n_steps, n_problems, n), dtype=np.intp)
    values = np.empty((n_steps, n_problems, n))  # V = B + w
    np.add(best[0], weights[0], out=values[0])
    # searches blocked so far; the pass stops (at the end of a chunk) once all are
    stuck = ~np.isfinite(values[0]).any(axis=1)
    computed = n_steps
    chunk = max(1, _CHUNK_ELEMENTS // (n_problems * n * n))
    work = np.empty((min(chunk, n_steps - 1), n, n_problems, n))
    add, maximum = np.add, np.maximum.reduce
    for start in range(1, n_steps, chunk):
        if stuck.all():
            computed = start
            break
        stop = min(start + chunk, n_steps)
        candidates = work[: stop - start]
        add(by_source[start - 1 : stop - 1], penalties, out=candidates)
        for row, prev, out in zip(
            candidates, best_by_source[start - 1 : stop - 1], best[start:stop], strict=True
        ):
            add(row, prev, out=row)
            maximum(row, 0, None, out)
        candidates.argmax(axis=1, out=pointers[start:stop])  # first max: least number
        add(best[start:stop], weights[start:stop], out=values[start:stop])
        stuck |= ~np.isfinite(values[start:stop]).any(axis=2).all(axis=0)
    reached = np.isfinite(values[:computed])
    blocked: NDArray[np.bool_] = ~np.any(reached, axis=2)

    solved = []
    for p, (tie, order) in enumerate(zip(tie_rules, numbering, strict=True)):
        if blocked[:, p].any():
            solved.append(_Solved(None, blocked_at=int(np.argmax(blocked[:, p]))))
            continue
        if order is None:
            last_values = values[-1, p]
            last = int(np.argmax(last_values))  # first max: least index
            path = _walk(pointers[:, p], last)
        else:
            last_values = np.empty(n)
            last_values[order] = values[-1, p]
            last = int(np.argmax(last_values))
            number = np.empty(n, dtype=np.intp)
            number[order] = np.arange(n)
            path = order[_walk(pointers[:, p], int(number[last]))]
            if n_steps > 1:
                path[0] = np.argmax((signed[p][0] + mask[:, path[1]]) + init)
        if tie == _TIE_QUEUE and _meets_tie(path, weights[:, p], best[:, p], mask, last_values):
            ranks = _queue_ranks(reached[:, p], allowed)
            last = int(np.argmin(np.where(last_values == last_values[last], ranks[-1], n)))
            queue_pointers = pointers[:, p].copy()
            _ranked_pointers(queue_pointers, weights[:, p], best[:, p], mask, ranks)
            path = _walk(queue_pointers, last)
        solved.append(_Solved(path, float(last_values[last])))
    return solved


def _walk(pointers: NDArray[np.intp], last: int) -> NDArray[np.int64]:
    """The path ending at ``last`` through backpointers of shape (T, N)."""
    n_steps, n = pointers.shape
    flat = pointers.ravel().tolist()
    path = [last] * n_steps
    y = last
    for t in range(n_steps - 1, 0, -1):
        y = flat[t * n + y]
        path[t - 1] = y
    return np.asarray(path, dtype=np.int64)


def _meets_tie(
    path: NDArray[np.int64],
    weights: NDArray[np.float64],
    best: NDArray[np.float64],
    mask: NDArray[np.float64],
    last_values: NDArray[np.float64],
) -> bool:
    """Whether a least-index path meets a tie that Bellman-Ford's queue order may break
    otherwise: among the last actions or among the predecessors of a node at t >= 2
    (``mask[x, y]``: 0 if x -> y is allowed, else -inf)."""
    n_steps = len(path)
    if n_steps < 2:
        return False
    if np.count_nonzero(last_values == last_values[path[-1]]) > 1:
        return True
    steps = np.arange(2, n_steps)
    nodes = path[2:]
    candidates = (weights[steps - 1] + mask[:, nodes].T) + best[steps - 1]
    hits = np.count_nonzero(candidates == best[steps, nodes][:, None], axis=1)
    return bool((hits > 1).any())


def _ranked_pointers(
    pointers: NDArray[np.intp],
    weights: NDArray[np.float64],
    best: NDArray[np.float64],
    mask: NDArray[np.float64],
    ranks: NDArray[np.int64],
) -> None:
    """Backpointers at t >= 2 of one search (in place): the best predecessor of least rank in
    timestep t-1's ``ranks``."""
    n_steps, n = pointers.shape
    penalty = mask.T  # [y, x]
    chunk = max(1, _CHUNK_ELEMENTS // (n * n))
    for start in range(2, n_steps, chunk):
        stop = min(start + chunk, n_steps)
        candidates = (weights[start - 1 : stop - 1, None, :] + penalty) + best[
            start - 1 : stop - 1, None, :
        ]
        hit = candidates == best[start:stop, :, None]
        keys = np.where(hit, ranks[start - 1 : stop - 1, None, :], n)
        pointers[start:stop] = keys.argmin(axis=2)


def _queue_ranks(reached: NDArray[np.bool_], allowed: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Rank of each node in Bellman-Ford's queue at each timestep (N when not in it).

    The queue of timestep 0 holds its reached nodes in index order; that of timestep t, for
    each node of timestep t-1's queue in turn, its reached successors not yet queued, in index
    order (the order of :func:`_solve_loop`'s ``lexsort``). On bit masks (N <= 64), each
    (queue, reached set) pair computed once.
    """
    n_steps, n = reached.shape
    bits = np.left_shift(np.uint64(1), np.arange(n, dtype=np.uint64))
    zero = np.uint64(0)
    successors = np.bitwise_or.reduce(np.where(allowed, bits, zero), axis=1).tolist()
    masks = np.bitwise_or.reduce(np.where(reached, bits, zero), axis=1).tolist()
    queues: list[tuple[int, ...]] = [tuple(np.flatnonzero(reached[0]).tolist())]
    known = {queues[0]: 0}
    following: dict[tuple[int, int], int] = {}
    state = 0
    states = [state]
    for t in range(1, n_steps):
        key = (state, masks[t])
        found = following.get(key)
        if found is None:
            free = masks[t]
            queue: list[int] = []
            for x in queues[state]:
                new = successors[x] & free
                free ^= new
                while new:
                    low = new & -new
                    queue.append(low.bit_length() - 1)
                    new ^= low
            found = known.setdefault(tuple(queue), len(queues))
            if found == len(queues):
                queues.append(tuple(queue))
            following[key] = found
        state = found
        states.append(state)
    table = np.full((len(queues), n), n, dtype=np.int64)
    for i, queue_i in enumerate(queues):
        table[i, list(queue_i)] = np.arange(len(queue_i))
    return table[np.asarray(states)]


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
    setup = _setup(rewards, rules, kind, significant_digits, end_weight, ties, method)
    signed = _signed_weights(setup, overload)
    return _search(setup, rules, [(signed, _tie_rule(setup, overload is not None))])[0]


def best_paths(
    rewards: ArrayLike,
    rules: TransitionRules,
    overload: ArrayLike,
    *,
    kind: str = LONGEST,
    significant_digits: int | None = None,
    end_weight: float = END_NODE_REWARD,
    ties: str = "oracle4grid",
    method: str = "auto",
) -> tuple[BestPath, BestPath]:
    """The best path and the best path without overload, in one pass over time.

    Returns exactly what ``best_path(rewards, rules, ...)`` and
    ``best_path_no_overload(rewards, rules, overload, ...)`` return, in about the time of one
    of them for a few actions (both searches share each timestep's numpy calls).

    Parameters
    ----------
    rewards, rules, kind, significant_digits, end_weight, ties, method
        As in :func:`best_path`.
    overload : array-like of int, shape (T, N)
        Overload flags (1 none, 0 overload, -1 error) of the second search.

    Returns
    -------
    best, best_no_overload : BestPath

    Examples
    --------
    >>> from gridoracle.oracle.transitions import allowed_transitions
    >>> rules = allowed_transitions(["sub-1-0", "sub-2-1", "sub-1-0_sub-2-1", "donothing-0"])
    >>> rewards = [[1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 5.0, 0.0], [1.0, 1.0, 5.0, 0.0]]
    >>> best, best_no = best_paths(rewards, rules, [[1, 1, 1, 1], [1, 1, 0, 1], [1, 1, 1, 1]])
    >>> best.path, best_no.path
    ([0, 2, 2], [3, 0, 2])
    """
    setup = _setup(rewards, rules, kind, significant_digits, end_weight, ties, method)
    problems = [
        (_signed_weights(setup, None), _tie_rule(setup, False)),
        (_signed_weights(setup, overload), _tie_rule(setup, True)),
    ]
    best, best_no_overload = _search(setup, rules, problems)
    return best, best_no_overload


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
