"""Train/test split by chronic.

Rows of one chronic (episode) are consecutive states of the same grid and strongly correlated: a
split by row would put near-copies of test rows in the training set and overstate a model's
quality. Every split here keeps each chronic on one side only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gridoracle.errors import DatasetError, InvalidOption

if TYPE_CHECKING:
    from gridoracle.dataset.reader import Dataset

__all__ = ["SPLIT_BY", "format_chronics", "parse_chronic_list", "split", "split_summary"]

SPLIT_BY = ("chronic",)
"""Allowed values of ``by``."""


def _pick_test_chronics(chronics: list[int], test_fraction: float, seed: int) -> list[int]:
    n = len(chronics)
    n_test = min(n - 1, max(1, math.floor(test_fraction * n + 0.5)))
    rng = np.random.default_rng(seed)
    picked = rng.permutation(np.asarray(chronics, dtype=np.int64))[:n_test]
    return sorted(int(c) for c in picked)


def split(
    ds: Dataset,
    by: str = "chronic",
    test_chronics: Sequence[int] | None = None,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> tuple[Dataset, Dataset]:
    """Split a dataset into (train, test) so that no chronic is on both sides.

    Parameters
    ----------
    ds : Dataset
        A loaded dataset (see :func:`gridoracle.dataset.load`) with at least two chronics.
    by : {"chronic"}, default "chronic"
        Grouping that must not straddle the split. Only ``"chronic"`` exists.
    test_chronics : sequence of int, optional
        Chronics of the test set. When given, ``test_fraction`` and ``seed`` are ignored.
    test_fraction : float, default 0.25
        Share of chronics (not rows) drawn for the test set, strictly between 0 and 1; rounded to
        the nearest count, at least 1 and at most all chronics but one.
    seed : int, default 0
        Seed of the draw (NumPy ``default_rng``); same dataset and seed, same split.

    Returns
    -------
    (Dataset, Dataset)
        The train and test sets, both non-empty, rows in the original order.

    Raises
    ------
    InvalidOption
        If ``by`` is unknown, ``test_chronics`` names a chronic not in the dataset or all of them,
        ``test_fraction`` is not in (0, 1), or ``seed`` is negative.
    DatasetError
        If the dataset holds fewer than two chronics.

    Examples
    --------
    >>> train, test = split(ds, test_chronics=[2])  # doctest: +SKIP
    >>> sorted(set(train.meta["chronic"]) & set(test.meta["chronic"]))  # doctest: +SKIP
    []
    """
    if by not in SPLIT_BY:
        raise InvalidOption(
            f"split by={by!r} is not supported: allowed values are {list(SPLIT_BY)}"
        )
    chronics = ds.chronics
    if len(chronics) < 2:
        raise DatasetError(
            f"dataset {ds.path} holds {len(chronics)} chronic(s) {chronics}: a split by chronic "
            "needs at least 2 (generate with more --chronics)"
        )
    if test_chronics is not None:
        try:
            wanted = sorted({int(c) for c in test_chronics})
        except (TypeError, ValueError):
            raise InvalidOption(
                f"test chronics {test_chronics!r}: expected integers, e.g. [2, 3]"
            ) from None
        if not wanted:
            raise InvalidOption("test chronics: the list is empty")
        unknown = [c for c in wanted if c not in chronics]
        if unknown:
            raise InvalidOption(
                f"test chronic(s) {unknown} not in dataset {ds.path.name}: "
                f"available {format_chronics(chronics)}"
            )
        if len(wanted) == len(chronics):
            raise InvalidOption(
                f"test chronics {format_chronics(wanted)} are all the chronics of the dataset: "
                "leave at least one for training"
            )
    else:
        if not (isinstance(test_fraction, int | float) and 0.0 < test_fraction < 1.0):
            raise InvalidOption(
                f"test fraction {test_fraction!r}: expected a number strictly between 0 and 1"
            )
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise InvalidOption(f"seed {seed!r}: expected a non-negative integer")
        wanted = _pick_test_chronics(chronics, float(test_fraction), int(seed))
    is_test = ds.meta["chronic"].isin(wanted).to_numpy()
    return ds.select(~is_test), ds.select(is_test)


def parse_chronic_list(text: str, option: str = "--test-chronics") -> list[int]:
    """Parse a comma-separated list of chronic indices such as ``"2,3"`` or ``"0-3,7"``.

    Raises
    ------
    InvalidOption
        If an item is not a non-negative integer or an increasing range ``a-b``.

    Examples
    --------
    >>> parse_chronic_list("2, 3")
    [2, 3]
    >>> parse_chronic_list("0-2,7")
    [0, 1, 2, 7]
    """
    out: list[int] = []
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise InvalidOption(f"{option} {text!r}: expected chronic indices such as 2,3")
    for item in items:
        if not item:
            continue
        lo, sep, hi = item.partition("-")
        if not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
            raise InvalidOption(f"{option} {text!r}: {item!r} is not a chronic index (e.g. 2,3)")
        start, stop = int(lo), int(hi) if sep else int(lo)
        if stop < start:
            raise InvalidOption(f"{option} {text!r}: range {item!r} is decreasing")
        out.extend(range(start, stop + 1))
    return sorted(set(out))


def format_chronics(chronics: Sequence[int]) -> str:
    """Compact text for a set of chronic indices: runs become ranges.

    Examples
    --------
    >>> format_chronics([0, 1, 2, 5, 7, 8])
    '0-2, 5, 7-8'
    """
    values = sorted({int(c) for c in chronics})
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        parts.append(str(values[i]) if i == j else f"{values[i]}-{values[j]}")
        i = j + 1
    return ", ".join(parts)


def split_summary(train: Dataset, test: Dataset) -> list[dict[str, Any]]:
    """Counts describing a split: one record per side (``train``, ``test``).

    Each record has ``set``, ``chronics`` (list), ``rows``, ``targets`` (finite targets, i.e. not
    NaN), ``above_1`` (targets > 1.0) and ``share_above_1`` (``above_1 / targets``, NaN when there
    is no finite target).
    """
    records = []
    for name, ds in (("train", train), ("test", test)):
        y = ds.Y.to_numpy(dtype=np.float64)
        finite = np.isfinite(y)
        n_targets = int(finite.sum())
        above = int((y[finite] > 1.0).sum())
        records.append(
            {
                "set": name,
                "chronics": ds.chronics,
                "rows": len(ds),
                "targets": n_targets,
                "above_1": above,
                "share_above_1": above / n_targets if n_targets else float("nan"),
            }
        )
    return records
