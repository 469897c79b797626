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

- dense (:mod:`~gridoracle.oracle.core._dense`): an (N, N) array
  ``V[t-1, x] + (0 if x -> y else -inf)`` reduced over x: O(T N^2);
- sparse (:mod:`~gridoracle.oracle.core._sparse`): the allowed transitions in CSR form, grouped
  by target, reduced with ``np.maximum.reduceat`` over the gathered values: O(T nnz). Chosen
  when the transitions are sparse enough (see :func:`choose_method`).

Backpointers take an int32 array of shape (T, N); values keep one row
(:mod:`~gridoracle.oracle.core._recursion`). For a few actions (up to 24, or 64 for the shortest
path with Oracle4Grid's ties) the time is numpy's per-call overhead, not arithmetic: a kernel
(:mod:`~gridoracle.oracle.core._small`) then makes two numpy calls per timestep for all searches
at once. :func:`best_paths` runs the best path and the best path without overload in that one
pass (about 2 ms for both at T = 400, N = 12, against 5 ms for the two loops before). Same sums
in the same order, so the same paths and values to the last bit. The tie rules are in
:mod:`~gridoracle.oracle.core._ties`.

References
----------
A. J. Viterbi, "Error bounds for convolutional codes and an asymptotically optimum decoding
algorithm", IEEE Trans. Inf. Theory 13(2), 1967. Oracle4Grid (github:marota/Oracle4Grid),
``oracle4grid/core/graph/graph_generator.py`` and ``compute_trajectory.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridoracle.errors import InvalidOption
from gridoracle.oracle.core._dense import DenseStep
from gridoracle.oracle.core._recursion import Solved, solve_loop
from gridoracle.oracle.core._small import solve_small
from gridoracle.oracle.core._sparse import SparseStep
from gridoracle.oracle.core._ties import TIE_QUEUE, TIE_STATIC, insertion_rank, tie_rule
from gridoracle.oracle.core.transitions import TransitionRules

__all__ = [
    "END_NODE_REWARD",
    "KINDS",
    "LONGEST",
    "METHODS",
    "SHORTEST",
    "TIES",
    "BestPath",
    "SearchOptions",
    "best_path",
    "best_path_no_overload",
    "best_paths",
    "best_unconstrained",
    "check_kind",
    "check_significant_digits",
    "choose_method",
    "insertion_rank",
    "path_reward",
    "truncate_weights",
]

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
# the small dense kernel (gridoracle.oracle.core._small) takes up to this many actions, up to
# the second when a search follows Bellman-Ford's queue (the per-step loop is slowest then;
# reached sets and successors are uint64 bit masks). Measured at T = 400, one search, kernel vs
# loop: longest path 1.6 vs 2.5 ms at N = 12, 2.4 vs 2.7 at N = 24, 2.9 vs 2.7 at N = 32, 6.7
# vs 3.6 at N = 64; shortest path 7.0 vs 12.1 ms at N = 64
_SMALL_MAX_ACTIONS = 24
_SMALL_MAX_ACTIONS_QUEUE = 64


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


class SearchOptions(TypedDict, total=False):
    """The keyword options every best path search takes (see :func:`best_path`)."""

    kind: str
    significant_digits: int | None
    end_weight: float
    ties: str
    method: str


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

    Oracle4Grid's ``best_path`` (``compute_trajectory.py``): networkx's ``dag_longest_path``
    (longest) or ``bellman_ford_path`` (shortest) on its transition graph, computed as a
    Viterbi recursion over time (see the module docstring), the same path to the last tie.

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
    >>> from gridoracle.oracle.core.transitions import allowed_transitions
    >>> rules = allowed_transitions(["sub-1-0", "sub-2-1", "sub-1-0_sub-2-1", "donothing-0"])
    >>> rewards = [[1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 5.0, 0.0], [1.0, 1.0, 5.0, 0.0]]
    >>> found = best_path(rewards, rules)
    >>> found.path, round(found.value, 6), found.reward
    ([0, 2, 2], 11.1, 11.0)
    >>> best_path(rewards, rules, overload=[[1, 1, 1, 1], [1, 1, 0, 1], [1, 1, 1, 1]]).path
    [3, 0, 2]
    """
    options = SearchOptions(
        kind=kind, significant_digits=significant_digits, end_weight=end_weight, ties=ties
    )
    setup = _setup(rewards, rules, options | {"method": method})
    signed = _SignedRows(setup, overload)
    return _search(setup, rules, [(signed, setup.tie_rule(overload is not None))])[0]


def best_paths(
    rewards: ArrayLike,
    rules: TransitionRules,
    overload: ArrayLike,
    **options: Unpack[SearchOptions],
) -> tuple[BestPath, BestPath]:
    """The best path and the best path without overload, in one pass over time.

    Returns exactly what ``best_path(rewards, rules, ...)`` and
    ``best_path_no_overload(rewards, rules, overload, ...)`` return, in about the time of one
    of them for a few actions (both searches share each timestep's numpy calls).

    Parameters
    ----------
    rewards, rules
        As in :func:`best_path`.
    overload : array-like of int, shape (T, N)
        Overload flags (1 none, 0 overload, -1 error) of the second search.
    **options
        ``kind``, ``significant_digits``, ``end_weight``, ``ties``, ``method``: as in
        :func:`best_path` (keywords only, same defaults).

    Returns
    -------
    best, best_no_overload : BestPath

    Examples
    --------
    >>> from gridoracle.oracle.core.transitions import allowed_transitions
    >>> rules = allowed_transitions(["sub-1-0", "sub-2-1", "sub-1-0_sub-2-1", "donothing-0"])
    >>> rewards = [[1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 5.0, 0.0], [1.0, 1.0, 5.0, 0.0]]
    >>> best, best_no = best_paths(rewards, rules, [[1, 1, 1, 1], [1, 1, 0, 1], [1, 1, 1, 1]])
    >>> best.path, best_no.path
    ([0, 2, 2], [3, 0, 2])
    """
    setup = _setup(rewards, rules, options)
    problems = [
        (_SignedRows(setup, None), setup.tie_rule(False)),
        (_SignedRows(setup, overload), setup.tie_rule(True)),
    ]
    best, best_no_overload = _search(setup, rules, problems)
    return best, best_no_overload


def best_path_no_overload(
    rewards: ArrayLike,
    rules: TransitionRules,
    overload: ArrayLike,
    **options: Unpack[SearchOptions],
) -> BestPath:
    """The best path through nodes without overload (flag != 0): Oracle4Grid's
    ``best_path_no_overload``, ``best_path(rewards, rules, overload=overload, **options)``.

    ``options`` are the keyword options of :func:`best_path` (``kind``, ``significant_digits``,
    ``end_weight``, ``ties``, ``method``), with the same defaults.

    Examples
    --------
    >>> from gridoracle.oracle.core.transitions import allowed_transitions
    >>> rules = allowed_transitions(["donothing-0", "sub-1-0"])
    >>> best_path_no_overload([[1.0, 2.0], [1.0, 2.0]], rules, [[1, 0], [1, 1]]).path
    [0, 1]
    """
    return best_path(rewards, rules, overload=overload, **options)


@dataclass(frozen=True)
class _Setup:
    """The checked arguments shared by the searches of one call."""

    table: NDArray[np.float64]
    end: float
    kind: str
    sign: float
    digits: int | None
    faithful: bool
    method: str

    def tie_rule(self, without_overload: bool) -> str:
        """The tie rule of one search (see :mod:`~gridoracle.oracle.core._ties`)."""
        return tie_rule(self.faithful, self.sign > 0, without_overload)


def _setup(rewards: ArrayLike, rules: TransitionRules, options: SearchOptions) -> _Setup:
    """The checked arguments of a search; ``options`` left out take :func:`best_path`'s defaults."""
    unknown = sorted(set(options) - set(SearchOptions.__annotations__))
    if unknown:
        raise TypeError(
            f"unexpected search option(s) {', '.join(map(repr, unknown))}: expected some of "
            f"{', '.join(SearchOptions.__annotations__)}"
        )
    kind = options.get("kind", LONGEST)
    ties = options.get("ties", "oracle4grid")
    method = options.get("method", "auto")
    table = np.asarray(rewards, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"rewards must have shape (T, N), got {table.shape}")
    n_steps, n_actions = table.shape
    if n_steps == 0:
        raise ValueError("rewards has no timestep")
    if rules.n_actions != n_actions:
        raise ValueError(f"rules are for {rules.n_actions} actions, rewards have {n_actions}")
    longest = check_kind(kind) == LONGEST
    digits = check_significant_digits(options.get("significant_digits"))
    if method not in METHODS:
        raise ValueError(f"method {method!r}: expected one of {METHODS}")
    if ties not in TIES:
        raise ValueError(f"ties {ties!r}: expected one of {TIES}")
    return _Setup(
        table=table,
        end=float(truncate_weights(options.get("end_weight", END_NODE_REWARD), digits)),
        kind=kind,
        sign=1.0 if longest else -1.0,
        digits=digits,
        faithful=ties == "oracle4grid",
        method=method,
    )


class _SignedRows:
    """The weights of one search (negated for the shortest path, -inf at the nodes it lacks),
    one timestep at a time: ``rows[t]`` is computed when the recursion reaches t, so that no
    (T, N) copy of the table is held (three of them, 3 GB, at 155,686 actions and 864 steps).
    ``shape`` is the table's; :meth:`full` stacks every row (the small kernel's input)."""

    def __init__(self, setup: _Setup, overload: ArrayLike | None) -> None:
        self.setup = setup
        self.shape = setup.table.shape
        self.flags: NDArray[np.generic] | None = None
        if overload is not None:
            flags = np.asarray(overload)
            if flags.shape != setup.table.shape:
                raise ValueError(f"overload has shape {flags.shape}, rewards {setup.table.shape}")
            self.flags = flags
        if setup.digits is not None:
            self._check_exact()

    def _alive_weights(self, t: int) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        weights = truncate_weights(self.setup.table[t], self.setup.digits)
        alive = ~np.isnan(weights)
        if self.flags is not None:
            alive &= self.flags[t] != 0
        return weights, alive

    def __getitem__(self, t: int) -> NDArray[np.float64]:
        weights, alive = self._alive_weights(t)
        return np.where(alive, self.setup.sign * weights, -np.inf)

    def full(self) -> NDArray[np.float64]:
        """Every row, shape (T, N)."""
        return (
            np.stack([self[t] for t in range(self.shape[0])])
            if self.shape[0]
            else np.zeros(self.shape)
        )

    def _check_exact(self) -> None:
        setup = self.setup
        n_steps = self.shape[0]
        top = 0.0
        for t in range(n_steps):
            weights, alive = self._alive_weights(t)
            top = max(top, float(np.max(np.abs(weights), where=alive, initial=0.0)))
        bound = top * n_steps + abs(setup.end)
        if bound >= _EXACT_FLOAT:
            raise InvalidOption(
                f"reward_significant_digit {setup.digits}: path weights up to {bound:.3g} pass"
                " 2**53 and cannot be summed exactly; use fewer digits"
            )


def _search(
    setup: _Setup, rules: TransitionRules, problems: Sequence[tuple[_SignedRows, str]]
) -> list[BestPath]:
    """Best paths of searches on one table (signed weights and tie rule each)."""
    n_actions = setup.table.shape[1]
    if n_actions == 0:
        solved = [Solved(None, blocked_at=0) for _ in problems]
    else:
        method = choose_method(rules) if setup.method == "auto" else setup.method
        signed = [weights for weights, _ in problems]
        tie_rules = [tie for _, tie in problems]
        small = _SMALL_MAX_ACTIONS_QUEUE if TIE_QUEUE in tie_rules else _SMALL_MAX_ACTIONS
        full = [rows.full() for rows in signed] if method == "dense" and n_actions <= small else []
        if full and all(weights.max() < np.inf for weights in full):
            solved = solve_small(full, rules, tie_rules)
        else:
            step = DenseStep(rules) if method == "dense" else SparseStep(rules)
            static_rank = insertion_rank(rules) if TIE_STATIC in tie_rules else None
            solved = [
                solve_loop(weights, rules, step, tie, static_rank)
                for weights, tie in zip(signed, tie_rules, strict=True)
            ]
    return [_best_path_of(setup, one) for one in solved]


def _best_path_of(setup: _Setup, solved: Solved) -> BestPath:
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
        edge_weights=np.append(truncate_weights(setup.table[steps, path], setup.digits), setup.end),
        kind=setup.kind,
        significant_digits=setup.digits,
    )
