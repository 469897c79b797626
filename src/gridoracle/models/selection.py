"""Choose a model by cross-validation on the training chronics only: :func:`cross_validate`.

The test chronics are split off first (:func:`select_model` takes the same split options as
:func:`gridoracle.models.train.train`) and never read again: folds are made from the training
states only. With two training chronics or more, each fold holds out one of them (grouped by
chronic); with one, the chronic is cut into ``n_folds`` contiguous blocks of steps, each held out
in turn, and the ``gap`` steps on either side of the held-out block are left out of the fold's
training states (states minutes apart are near-copies).

Every candidate is scored on each fold with the decision metrics of
:mod:`gridoracle.models.metrics`; the table gives their mean over the folds, sorted by mean
regret (then top-5 recall).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gridoracle.dataset.reader import Dataset
from gridoracle.dataset.split import DEFAULT_GAP
from gridoracle.errors import DatasetError, InvalidOption
from gridoracle.models.metrics import TOP_K, decision_metrics, state_subsets
from gridoracle.models.train import _fit, _line_targets, as_dataset
from gridoracle.models.zoo import make_model

__all__ = ["CV_COLUMNS", "cross_validate", "fold_masks", "select_model"]

CV_COLUMNS = (
    "mean_regret",
    "top1_accuracy",
    "top5_recall",
    "top10_recall",
    "screened5_regret",
    "dangerous_mean_regret",
    "dangerous_top5_recall",
)
"""The metrics of the cross-validation table (means over the folds)."""

Candidate = tuple[str, Mapping[str, Any]]


def fold_masks(
    ds: Dataset, n_folds: int = 4, gap: int = DEFAULT_GAP
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, validation rows) boolean masks of each fold of ``ds``.

    One fold per chronic when ``ds`` holds two or more (at most ``n_folds``: the first ones);
    else ``n_folds`` contiguous blocks of steps, with ``gap`` steps left out on either side of
    the validation block.
    """
    if n_folds < 2:
        raise InvalidOption(f"n_folds {n_folds}: expected at least 2", param="n_folds")
    chronic = ds.meta["chronic"].to_numpy()
    step = ds.meta["step"].to_numpy()
    chronics = ds.chronics
    if len(chronics) >= 2:
        return [(chronic != c, chronic == c) for c in chronics[:n_folds]]
    order = np.argsort(step, kind="stable")
    blocks = np.array_split(order, n_folds)
    folds = []
    for block in blocks:
        if len(block) == 0:
            continue
        lo, hi = step[block].min(), step[block].max()
        valid = np.zeros(len(ds), dtype=bool)
        valid[block] = True
        train = (step < lo - gap) | (step > hi + gap)
        folds.append((train & ~valid, valid))
    if len(folds) < 2:
        raise DatasetError(f"dataset {ds.path}: too few states for {n_folds} folds")
    return folds


def cross_validate(
    train_ds: Dataset,
    candidates: Mapping[str, Candidate],
    *,
    n_folds: int = 4,
    gap: int = DEFAULT_GAP,
    seed: int = 0,
) -> pd.DataFrame:
    """Score every candidate on the folds of ``train_ds`` (training states only).

    Parameters
    ----------
    train_ds : Dataset
        The training side of a split: nothing else is read.
    candidates : mapping of str to (model name, params)
        A label for each candidate and what :func:`gridoracle.models.make_model` builds.
    n_folds, gap : int
        See :func:`fold_masks`.
    seed : int
        Seed of the models.

    Returns
    -------
    DataFrame
        One row per candidate (index: its label), columns :data:`CV_COLUMNS` (mean over the
        folds), ``folds`` and ``fit_seconds``; sorted by mean regret, then top-5 recall.
    """
    folds = fold_masks(train_ds, n_folds, gap)
    rows = []
    for label, (name, params) in candidates.items():
        scores: dict[str, list[float]] = {c: [] for c in CV_COLUMNS}
        seconds = 0.0
        for train_mask, valid_mask in folds:
            fit_ds, valid_ds = train_ds.select(train_mask), train_ds.select(valid_mask)
            estimator = make_model(name, seed=seed, **dict(params))
            took, _ = _fit(estimator, fit_ds, _line_targets(name, fit_ds))
            seconds += took
            X = valid_ds.X[list(fit_ds.X.columns)].to_numpy(dtype=np.float64)
            pred = np.asarray(estimator.predict(X), dtype=np.float64)
            truth = valid_ds.Y
            dec = decision_metrics(truth, pred, k=TOP_K)
            masks = state_subsets(valid_ds.X, truth, valid_ds.meta)
            danger = masks.get("dangerous")
            sub = (
                decision_metrics(truth[danger], pred[danger], k=TOP_K)
                if danger is not None and danger.any()
                else {}
            )
            for c in CV_COLUMNS:
                if c.startswith("dangerous_"):
                    scores[c].append(sub.get(c[len("dangerous_") :], math.nan))
                else:
                    scores[c].append(dec[c])
        rows.append(
            {
                "candidate": label,
                **{
                    c: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
                    for c, v in scores.items()
                },
                "folds": len(folds),
                "fit_seconds": seconds,
            }
        )
    table = pd.DataFrame(rows).set_index("candidate")
    return table.sort_values(["mean_regret", "top5_recall"], ascending=[True, False], kind="stable")


def select_model(
    data: str | Dataset,
    candidates: Mapping[str, Candidate],
    *,
    test_chronics: Sequence[int] | None = None,
    test_fraction: float = 0.25,
    split_by: str = "chronic",
    seed: int = 0,
    n_folds: int = 4,
    gap: int = DEFAULT_GAP,
    fold_gap: int = DEFAULT_GAP,
) -> tuple[str, pd.DataFrame]:
    """Split off the test side as :func:`~gridoracle.models.train.train` does (``gap``: that of
    a split by time), cross-validate the candidates on the training side only (``fold_gap``:
    see :func:`fold_masks`); return the best label and the table."""
    ds = as_dataset(data)
    train_ds, _test = ds.split(
        by=split_by, test_chronics=test_chronics, test_fraction=test_fraction, seed=seed, gap=gap
    )
    del _test  # never read: the choice is made on the training states only
    table = cross_validate(train_ds, candidates, n_folds=n_folds, gap=fold_gap, seed=seed)
    return str(table.index[0]), table
