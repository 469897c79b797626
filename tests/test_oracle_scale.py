"""The Oracle's transitions and best paths on large action sets: sparse against dense."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gridoracle.oracle.core.best_path import best_paths
from gridoracle.oracle.core.transitions import allowed_transitions, combined_name


def _actions(seed: int, n_subs: int, n_lines: int, depth: int) -> list[str]:
    """Oracle4Grid's combinations of random unitary actions (1-3 per substation, 1-2 per line)."""
    rng = np.random.default_rng(seed)
    units = []
    for sub in range(n_subs):
        units += [(("sub", sub), len(units)) for _ in range(int(rng.integers(1, 4)))]
    for line in range(n_lines):
        units += [(("line", line), len(units)) for _ in range(int(rng.integers(1, 3)))]
    names = []
    for d in range(1, depth + 1):
        for combo in itertools.combinations(units, d):
            if len({asset for asset, _ in combo}) == d:
                names.append(combined_name(dict(combo)))
    return [*names, "donothing-0"]


@pytest.mark.parametrize(("seed", "subs", "lines", "depth"), [(0, 10, 6, 3), (1, 25, 4, 2)])
def test_neighbourhood_rules_equal_the_pair_counts(
    seed: int, subs: int, lines: int, depth: int
) -> None:
    """The sparse rules (built from neighbourhoods) are the dense ones (every pair counted)."""
    names = _actions(seed, subs, lines, depth)
    dense = allowed_transitions(names, sparse=False)
    sparse = allowed_transitions(names, sparse=True)
    assert sparse.is_sparse and not dense.is_sparse
    assert sparse.n_transitions == dense.n_transitions
    np.testing.assert_array_equal(sparse.dense(), dense.dense())
    np.testing.assert_array_equal(sparse.from_init, dense.from_init)


@pytest.mark.parametrize(
    "kind",
    ["longest", pytest.param("shortest", marks=pytest.mark.slow)],  # queue ties: 90 s
)
def test_sparse_best_paths_equal_the_dense_ones(kind: str) -> None:
    """At a size where both run (3,309 actions, 30 steps), the same paths and values."""
    names = _actions(0, 10, 6, 3)
    rules = allowed_transitions(names, sparse=True)
    rng = np.random.default_rng(3)
    rewards = np.round(rng.uniform(0.0, 20.0, size=(30, len(names))), 2)  # ties happen
    overload = (rng.uniform(size=rewards.shape) > 0.2).astype(np.int8)
    found = {
        method: best_paths(rewards, rules, overload, kind=kind, method=method)
        for method in ("dense", "sparse")
    }
    for dense, sparse in zip(found["dense"], found["sparse"], strict=True):
        assert dense.path == sparse.path
        assert dense.value == sparse.value and dense.reward == sparse.reward
