"""The recursion for a few actions: two numpy calls per timestep for all searches at once.

For a few actions (up to 24, or 64 for the shortest path with Oracle4Grid's ties) the time of
the step loop is numpy's per-call overhead, not arithmetic: this kernel keeps the values of every
timestep and takes the backpointers afterwards, a chunk of timesteps per call; Bellman-Ford's
queue order is computed only when the path meets a tie. Same sums in the same order as
:func:`~gridoracle.oracle.core._recursion.solve_loop`, so the same paths and values to the last
bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridoracle.oracle.core._recursion import Solved
from gridoracle.oracle.core._ties import TIE_QUEUE, TIE_STATIC, insertion_rank, queue_ranks
from gridoracle.oracle.core.transitions import TransitionRules

# float64 candidates computed at a time
_CHUNK_ELEMENTS = 1 << 14


def solve_small(
    signed: Sequence[NDArray[np.float64]], rules: TransitionRules, tie_rules: Sequence[str]
) -> list[Solved]:
    """The recursion for a few actions, for P searches at once (weights of shape (T, N) each).

    Same values as :func:`~gridoracle.oracle.core._recursion.solve_loop` (the same float64
    sums, in the same order) with two numpy calls per timestep for all searches together: the
    forward pass keeps only the best predecessor value ``B[t, y] = max_x V[t-1, x] +
    mask(x -> y)`` (so ``V[t] = B[t] + w(t)``) and reduces the candidates ``(w(t-1, x) +
    mask(x -> y)) + B[t-1, x]``, which are ``mask(x -> y) + V[t-1, x]`` to the last bit (the
    mask is 0 or -inf, no weight is +inf). The backpointers are then first argmaxes over those
    candidates, a chunk of timesteps at once: a search whose ties go to the least insertion
    rank runs on the actions renumbered in that order (the values do not depend on the
    numbering) and its pointer at t = 1 (least index) is redone on the path. Bellman-Ford's
    queue order is only needed where the path meets a tie: it is computed then.
    """
    forward = _forward(signed, rules, tie_rules)
    blocked: NDArray[np.bool_] = ~np.any(forward.reached, axis=2)
    solved = []
    for p, tie in enumerate(tie_rules):
        if blocked[:, p].any():
            solved.append(Solved(None, blocked_at=int(np.argmax(blocked[:, p]))))
        else:
            solved.append(_solved(forward, p, tie, signed[p]))
    return solved


@dataclass(frozen=True, eq=False)
class _Forward:
    """The forward pass of P searches; node i of search p is action ``numbering[p][i]``."""

    allowed: NDArray[np.bool_]  # [x, y]
    mask: NDArray[np.float64]  # [x, y]: 0 if x -> y is allowed, else -inf
    init: NDArray[np.float64]  # [y]: 0 if y is reachable from the reference, else -inf
    numbering: list[NDArray[np.int64] | None]  # None: node i is action i
    weights: NDArray[np.float64]  # [t, p, x]
    best: NDArray[np.float64]  # [t, p, y]: B
    pointers: NDArray[np.intp]  # [t, p, y]
    values: NDArray[np.float64]  # [t, p, y]: V = B + w
    reached: NDArray[np.bool_]  # [t, p, y], up to the timestep where every search is blocked


def _forward(
    signed: Sequence[NDArray[np.float64]], rules: TransitionRules, tie_rules: Sequence[str]
) -> _Forward:
    """Values and backpointers of every timestep, for every search (see :func:`solve_small`)."""
    n_problems = len(signed)
    n_steps, n = signed[0].shape
    allowed = rules.dense()
    mask = np.where(allowed, 0.0, -np.inf)  # [x, y]
    init = np.where(np.asarray(rules.from_init, dtype=bool), 0.0, -np.inf)
    static_order = np.argsort(insertion_rank(rules)) if TIE_STATIC in tie_rules else None
    numbering = [static_order if tie == TIE_STATIC else None for tie in tie_rules]
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
    return _Forward(allowed, mask, init, numbering, weights, best, pointers, values, reached)


def _solved(forward: _Forward, p: int, tie: str, signed: NDArray[np.float64]) -> Solved:
    """The path of search ``p`` (not blocked) from the forward pass, ties broken by ``tie``."""
    order = forward.numbering[p]
    n_steps, _, n = forward.values.shape
    pointers = forward.pointers[:, p]
    if order is None:
        last_values = forward.values[-1, p]
        last = int(np.argmax(last_values))  # first max: least index
        path = walk(pointers, last)
    else:
        last_values = np.empty(n)
        last_values[order] = forward.values[-1, p]
        last = int(np.argmax(last_values))
        number = np.empty(n, dtype=np.intp)
        number[order] = np.arange(n)
        path = order[walk(pointers, int(number[last]))]
        if n_steps > 1:
            path[0] = np.argmax((signed[0] + forward.mask[:, path[1]]) + forward.init)
    if tie == TIE_QUEUE and _meets_tie(forward, p, path, last_values):
        ranks = queue_ranks(forward.reached[:, p], forward.allowed)
        last = int(np.argmin(np.where(last_values == last_values[last], ranks[-1], n)))
        path = walk(_queue_pointers(forward, p, ranks), last)
    return Solved(path, float(last_values[last]))


def walk(pointers: NDArray[np.intp], last: int) -> NDArray[np.int64]:
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
    forward: _Forward, p: int, path: NDArray[np.int64], last_values: NDArray[np.float64]
) -> bool:
    """Whether the least-index path of search ``p`` meets a tie that Bellman-Ford's queue order
    may break otherwise: among the last actions or among the predecessors of a node at t >= 2."""
    n_steps = len(path)
    if n_steps < 2:
        return False
    if np.count_nonzero(last_values == last_values[path[-1]]) > 1:
        return True
    weights, best = forward.weights[:, p], forward.best[:, p]
    steps = np.arange(2, n_steps)
    nodes = path[2:]
    candidates = (weights[steps - 1] + forward.mask[:, nodes].T) + best[steps - 1]
    hits = np.count_nonzero(candidates == best[steps, nodes][:, None], axis=1)
    return bool((hits > 1).any())


def _queue_pointers(forward: _Forward, p: int, ranks: NDArray[np.int64]) -> NDArray[np.intp]:
    """The backpointers of search ``p`` with, at t >= 2, the best predecessor of least rank in
    timestep t-1's ``ranks`` (Bellman-Ford's queue order)."""
    pointers = forward.pointers[:, p].copy()
    weights, best = forward.weights[:, p], forward.best[:, p]
    n_steps, n = pointers.shape
    penalty = forward.mask.T  # [y, x]
    chunk = max(1, _CHUNK_ELEMENTS // (n * n))
    for start in range(2, n_steps, chunk):
        stop = min(start + chunk, n_steps)
        candidates = (weights[start - 1 : stop - 1, None, :] + penalty) + best[
            start - 1 : stop - 1, None, :
        ]
        hit = candidates == best[start:stop, :, None]
        keys = np.where(hit, ranks[start - 1 : stop - 1, None, :], n)
        pointers[start:stop] = keys.argmin(axis=2)
    return pointers
