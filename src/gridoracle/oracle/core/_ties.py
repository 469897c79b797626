"""How networkx breaks ties on Oracle4Grid's graph, computed on arrays.

The best path searches of :mod:`gridoracle.oracle.core.best_path` reproduce, with
``ties="oracle4grid"``, the very path networkx returns on Oracle4Grid's graph. Three rules:

- :data:`TIE_INDEX`: the least action index (``dag_longest_path`` on Oracle4Grid's graph, whose
  predecessors are listed in action order; every search with ``ties="index"``);
- :data:`TIE_STATIC`: the least :func:`insertion_rank`, the least index at t = 1
  (``dag_longest_path`` on a ``graph.copy()``, Oracle4Grid's graph without overload);
- :data:`TIE_QUEUE`: the first in Bellman-Ford's FIFO queue (``bellman_ford_path``, the shortest
  path), whose order at each timestep :func:`queue_ranks` computes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridoracle.oracle.core.transitions import TransitionRules

TIE_INDEX = "index"  # least action index
TIE_STATIC = "static"  # least insertion rank, least index at t = 1 (dag_longest_path on a copy)
TIE_QUEUE = "queue"  # first in Bellman-Ford's queue
# insertion_rank works on the dense matrix (and an (N, N) cumulative count) up to this N
_DENSE_RANK_MAX_ACTIONS = 512


def tie_rule(faithful: bool, longest: bool, without_overload: bool) -> str:
    """The tie rule of one search: ``faithful`` for ``ties="oracle4grid"``."""
    if not faithful:
        return TIE_INDEX
    if not longest:
        return TIE_QUEUE
    return TIE_STATIC if without_overload else TIE_INDEX


def rank_of(order: NDArray[np.int64]) -> NDArray[np.int64]:
    """The rank of each element in ``order`` (the inverse permutation)."""
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank


def predecessors(rules: TransitionRules) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """:meth:`TransitionRules.predecessors`, without going through scipy for dense rules."""
    if rules.is_sparse:
        return rules.predecessors()
    targets, indices = np.nonzero(rules.dense().T)  # row-major: by target, then source
    indptr = np.zeros(rules.n_actions + 1, dtype=np.int64)
    np.cumsum(np.bincount(targets, minlength=rules.n_actions), out=indptr[1:])
    return indptr, indices.astype(np.int64)


def dense_insertion_rank(allowed: NDArray[np.bool_]) -> NDArray[np.int64]:
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
    return rank_of(np.argsort(first))


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
        return dense_insertion_rank(rules.dense())
    indptr, indices = predecessors(rules)
    counts = np.diff(indptr)
    sequence = np.empty(n + len(indices), dtype=np.int64)
    heads = np.arange(n) + indptr[:-1]
    sequence[heads] = np.arange(n)
    owner = np.repeat(np.arange(n), counts)
    sequence[np.arange(len(indices)) + owner + 1] = indices
    _, first = np.unique(sequence, return_index=True)
    return rank_of(np.argsort(first, kind="stable"))


def queue_ranks(reached: NDArray[np.bool_], allowed: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Rank of each node in Bellman-Ford's queue at each timestep (N when not in it).

    The queue of timestep 0 holds its reached nodes in index order; that of timestep t, for
    each node of timestep t-1's queue in turn, its reached successors not yet queued, in index
    order (the order of the ``lexsort`` of
    :func:`~gridoracle.oracle.core._recursion.solve_loop`). On bit masks (N <= 64), each
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
