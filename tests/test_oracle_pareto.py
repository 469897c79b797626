"""The robust worst-case search's Pareto filter: the two-attack sort against pairwise checks."""

from __future__ import annotations

import numpy as np
import pytest

from gridoracle.oracle.core import universes


def _pairwise(vectors: np.ndarray) -> np.ndarray:
    """The definition: in order of decreasing sum (stable), keep a row no kept row dominates."""
    order = np.argsort(-vectors.sum(axis=1), kind="stable")
    kept: list[int] = []
    for i in order.tolist():
        if kept and (vectors[kept] >= vectors[i]).all(axis=1).any():
            continue
        kept.append(i)
    return np.asarray(kept, dtype=np.int64)


@pytest.mark.parametrize("ties", [True, False])
def test_two_attack_pareto_equals_the_pairwise_definition(ties: bool) -> None:
    rng = np.random.default_rng(7)
    for _ in range(500):
        n = int(rng.integers(1, 60))
        if ties:  # few distinct values: equal rows and equal coordinates everywhere
            vectors = rng.integers(0, 5, size=(n, 2)).astype(np.float64)
        else:
            vectors = rng.normal(size=(n, 2))
        np.testing.assert_array_equal(universes._pareto(vectors), _pairwise(vectors))


def test_three_attacks_still_use_the_pairwise_filter() -> None:
    vectors = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(universes._pareto(vectors), [0, 1])
