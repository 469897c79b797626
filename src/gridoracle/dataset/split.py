"""Train/test splits that do not leak: by chronic, or by time within each chronic.

Rows of one chronic (episode) are consecutive states of the same grid and strongly correlated: a
split by row would put near-copies of test rows in the training set and overstate a model's
quality. ``by="chronic"`` (the default) keeps each chronic on one side only. ``by="time"`` is for
datasets with too few chronics (the 118-bus ``l2rpn_wcci_2022_dev`` ships one): the last
``test_fraction`` of each chronic's states is the test set, and the ``gap`` steps before it are
left out of both sides, so that no training state is within ``gap`` steps of a test state (states
5 minutes apart are near-copies of their neighbours; 12 steps is one hour).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from gridoracle.errors import DatasetError, InvalidOption

__all__ = [
    "DEFAULT_GAP",
    "SPLIT_BY",
    "Rows",
    "check_chronics_in",
    "format_chronics",
    "parse_chronic_list",
    "split",
    "split_summary",
    "time_split_masks",
    "time_split_rows",
]

SPLIT_BY = ("chronic", "time")
"""Allowed values of ``by``."""

DEFAULT_GAP = 12
"""Steps left out between the training and the test states of a time split (one hour)."""


class Rows(Protocol):
    """What a split needs of a dataset: its rows' chronic and step, and a way to select rows.

    :class:`gridoracle.dataset.Dataset` is one; the functions of this module return the type
    they are given.
    """

    Y: pd.DataFrame
    meta: pd.DataFrame
    path: Path

    def __len__(self) -> int: ...

    @property
    def chronics(self) -> list[int]:
        """Sorted chronic indices of the rows."""
        ...

    def select(self: R, mask_or_index: Any) -> R:
        """The rows of a boolean mask or of integer positions."""
        ...


R = TypeVar("R", bound=Rows)


def _pick_test_chronics(chronics: list[int], test_fraction: float, seed: int) -> list[int]:
    n = len(chronics)
    n_test = min(n - 1, max(1, math.floor(test_fraction * n + 0.5)))
    rng = np.random.default_rng(seed)
    picked = rng.permutation(np.asarray(chronics, dtype=np.int64))[:n_test]
    return sorted(int(c) for c in picked)


def split(
    ds: R,
    by: str = "chronic",
    test_chronics: Sequence[int] | None = None,
    test_fraction: float = 0.25,
    seed: int = 0,
    gap: int = DEFAULT_GAP,
) -> tuple[R, R]:
    """Split a dataset into (train, test) so that no chronic is on both sides.

    Parameters
    ----------
    ds : Dataset
        A loaded dataset (see :func:`gridoracle.dataset.load`) with at least two chronics
        (``by="chronic"``).
    by : {"chronic", "time"}, default "chronic"
        ``"chronic"``: whole chronics on each side. ``"time"``: the last ``test_fraction`` of
        each chronic's states on the test side, ``gap`` steps left out before them (see
        :func:`time_split_rows`; ``test_chronics`` and ``seed`` are not used).
    test_chronics : sequence of int, optional
        Chronics of the test set. When given, ``test_fraction`` and ``seed`` are ignored.
    test_fraction : float, default 0.25
        Share of chronics (not rows) drawn for the test set, strictly between 0 and 1; rounded to
        the nearest count, at least 1 and at most all chronics but one.
    seed : int, default 0
        Seed of the draw (NumPy ``default_rng``); same dataset and seed, same split.
    gap : int, default 12
        ``by="time"`` only: steps left out between the training and the test states.

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
    if by == "time":
        if test_chronics is not None:
            raise InvalidOption(
                "test chronics are for a split by chronic; a split by time tests on the end of "
                "every chronic (give a test fraction and a gap instead)"
            )
        test_from = time_split_rows(ds, test_fraction, gap)
        is_test, is_train = time_split_masks(ds, test_from, gap)
        return ds.select(is_train), ds.select(is_test)
    chronics = ds.chronics
    if len(chronics) < 2:
        raise DatasetError(
            f"dataset {ds.path} holds {len(chronics)} chronic(s) {chronics}: a split by chronic "
            "needs at least 2 (generate it with more chronics)"
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
        check_chronics_in(ds, wanted)
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


def check_chronics_in(ds: Rows, wanted: Sequence[int], *, allow_empty: bool = True) -> None:
    """Raise :class:`InvalidOption` unless every chronic of ``wanted`` is in ``ds``.

    ``allow_empty=False`` also refuses an empty ``wanted`` (no row to test on).
    """
    available = ds.chronics
    unknown = [c for c in wanted if c not in available]
    if unknown or (not wanted and not allow_empty):
        raise InvalidOption(
            f"test chronic(s) {unknown or list(wanted)} not in dataset {ds.path.name}: "
            f"available {format_chronics(available)}"
        )


def time_split_rows(
    ds: Rows, test_fraction: float = 0.25, gap: int = DEFAULT_GAP
) -> dict[int, int]:
    """The first test step of every chronic in a split by time.

    In each chronic (``n`` states, by increasing step) the last ``round(test_fraction * n)``
    states (at least one) are the test set; training keeps the states more than ``gap`` steps
    before the first of them.

    Returns
    -------
    dict
        ``{chronic: first test step}``; :func:`time_split_masks` turns it back into rows (models
        record it, so that evaluation finds the same test rows).

    Raises
    ------
    InvalidOption
        If ``test_fraction`` is not in (0, 1) or ``gap`` is negative.
    DatasetError
        If a chronic is too short to keep a training state before its test states and the gap.
    """
    if not (isinstance(test_fraction, int | float) and 0.0 < test_fraction < 1.0):
        raise InvalidOption(
            f"test fraction {test_fraction!r}: expected a number strictly between 0 and 1"
        )
    if isinstance(gap, bool) or not isinstance(gap, int | np.integer) or gap < 0:
        raise InvalidOption(f"gap {gap!r}: expected a non-negative number of steps")
    chronic = ds.meta["chronic"].to_numpy()
    step = ds.meta["step"].to_numpy()
    out: dict[int, int] = {}
    for c in ds.chronics:
        steps = np.sort(step[chronic == c])
        n_test = max(1, math.floor(test_fraction * len(steps) + 0.5))
        first = int(steps[len(steps) - n_test])
        if not (steps < first - gap).any():
            raise DatasetError(
                f"dataset {ds.path}: chronic {c} has {len(steps)} states, too few for a split by "
                f"time with test fraction {test_fraction} and a gap of {gap} steps (lower the gap "
                "or the test fraction)"
            )
        out[int(c)] = first
    return out


def time_split_masks(
    ds: Rows, test_from: dict[int, int] | dict[str, int], gap: int
) -> tuple[np.ndarray, np.ndarray]:
    """(test, train) row masks of a split by time (``test_from`` as :func:`time_split_rows`; its
    keys may be strings, as read back from JSON metadata)."""
    first_step = {int(k): int(v) for k, v in test_from.items()}
    chronic = ds.meta["chronic"].to_numpy()
    step = ds.meta["step"].to_numpy()
    first = np.array([first_step.get(int(c), np.iinfo(np.int64).max) for c in chronic])
    return step >= first, step < first - int(gap)


def parse_chronic_list(text: str, param: str = "test_chronics") -> list[int]:
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
        raise InvalidOption(f"{param} {text!r}: expected chronic indices such as 2,3", param=param)
    for item in items:
        if not item:
            continue
        lo, sep, hi = item.partition("-")
        if not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
            raise InvalidOption(
                f"{param} {text!r}: {item!r} is not a chronic index (e.g. 2,3)", param=param
            )
        start, stop = int(lo), int(hi) if sep else int(lo)
        if stop < start:
            raise InvalidOption(f"{param} {text!r}: range {item!r} is decreasing", param=param)
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


def split_summary(train: Rows, test: Rows) -> list[dict[str, Any]]:
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
