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

The training data itself can be chosen the same way: with ``fit_data`` (another dataset of the
same environment, chronics and catalogue, e.g. generated with a larger ``--variant-pool``), each
fold's models are fitted on the rows of ``fit_data`` that the fold could train on
(:func:`fold_masks_on`: the fold's training steps, none of its own topologies) and validated on
the fold's states of the first dataset, so that the rows compared are the same for every
candidate training set.
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

__all__ = [
    "CV_COLUMNS",
    "cross_validate",
    "fold_masks",
    "fold_masks_on",
    "select_model",
    "topology_keys",
]

CV_COLUMNS = (
    "mean_regret",
    "top1_accuracy",
    "top5_recall",
    "top10_recall",
    "screened5_regret",
    "dangerous_mean_regret",
    "dangerous_top5_recall",
    "non_reference_mean_regret",
    "non_reference_top10_recall",
)
"""The metrics of the cross-validation table (means over the folds)."""

Candidate = tuple[str, Mapping[str, Any]]


_REFERENCE = "|-1"
"""The topology key of the reference topology with every line in."""


def topology_keys(ds: Dataset) -> np.ndarray:
    """Each row's pre-action topology, as the folds by topology deal them out: its
    ``base_actions`` and ``line_out`` (``"|-1"``: the reference topology, every line in)."""
    meta = ds.meta
    return (meta["base_actions"].astype(str) + "|" + meta["line_out"].astype(str)).to_numpy()


def _has_topology(ds: Dataset) -> bool:
    return "base_actions" in ds.meta.columns and "line_out" in ds.meta.columns


def _topology_groups(ds: Dataset, n_folds: int, seed: int) -> np.ndarray:
    """The fold (0 .. n_folds - 1) of each row's pre-action topology, -1 for the reference one:
    the distinct ``base_actions`` + ``line_out`` of the rows, shuffled by ``seed``, dealt out."""
    if not _has_topology(ds):
        raise InvalidOption(
            f"dataset {ds.path} has no base_actions / line_out: folds by topology need states "
            "generated with --topologies or --outages",
            param="group_by",
        )
    key = topology_keys(ds)
    reference = key == _REFERENCE
    names = np.array(sorted(set(key[~reference])))
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {str(names[j]): i % n_folds for i, j in enumerate(order)}
    fold = pd.Series(key).map(fold_of).fillna(-1).to_numpy()
    return np.where(reference, -1, fold).astype(np.int64)


def fold_masks(
    ds: Dataset,
    n_folds: int = 4,
    gap: int = DEFAULT_GAP,
    group_by: str | None = None,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, validation rows) boolean masks of each fold of ``ds``.

    One fold per chronic when ``ds`` holds two or more (at most ``n_folds``: the first ones);
    else ``n_folds`` contiguous blocks of steps, with ``gap`` steps left out on either side of
    the validation block.

    ``group_by="topology"`` (states generated with ``--topologies`` / ``--outages``): the
    pre-action topologies other than the reference one (each ``base_actions`` + ``line_out``)
    are also dealt out to the folds (shuffled with ``seed``): a fold's topologies are left out of
    its training states, and its validation states are those of its chronic or block in the
    reference topology or in its own topologies, never seen in training (as most are on
    another chronic).
    """
    if n_folds < 2:
        raise InvalidOption(f"n_folds {n_folds}: expected at least 2", param="n_folds")
    if group_by not in (None, "topology"):
        raise InvalidOption(f"group_by {group_by!r}: expected None or 'topology'", param="group_by")
    chronic = ds.meta["chronic"].to_numpy()
    step = ds.meta["step"].to_numpy()
    chronics = ds.chronics
    groups = _topology_groups(ds, n_folds, seed) if group_by == "topology" else None
    if len(chronics) >= 2:
        folds = [(chronic != c, chronic == c) for c in chronics[:n_folds]]
        if groups is None:
            return folds
        return [
            (t & (groups != f), v & ((groups == -1) | (groups == f)))
            for f, (t, v) in enumerate(folds)
        ]
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
        if groups is not None:
            f = len(folds)
            train &= groups != f
            valid &= (groups == -1) | (groups == f)
        folds.append((train & ~valid, valid))
    if len(folds) < 2:
        raise DatasetError(f"dataset {ds.path}: too few states for {n_folds} folds")
    return folds


def _positions(ds: Dataset) -> np.ndarray:
    """Each row's (chronic, step) as one integer."""
    return ds.meta["chronic"].to_numpy(np.int64) * (1 << 32) + ds.meta["step"].to_numpy(np.int64)


def fold_masks_on(
    ds: Dataset,
    other: Dataset,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    group_by: str | None = None,
) -> list[np.ndarray]:
    """The rows of ``other`` each fold of ``ds`` (:func:`fold_masks`) may train on.

    ``other`` holds states of the same chronics and steps (e.g. generated with another
    ``--variant-pool``). A row of ``other`` is in a fold's training when its (chronic, step) is
    one whose reference-topology state the fold trains on and, with ``group_by="topology"`` (as
    the folds were made), its pre-action topology is none of the fold's own (those of its
    validation states, and of the states at its training steps that it leaves out). With
    ``other`` = ``ds``, these are the folds' training masks.
    """
    topology = group_by == "topology" and _has_topology(ds) and _has_topology(other)
    where, where_other = _positions(ds), _positions(other)
    keys = topology_keys(ds) if topology else np.full(len(ds), _REFERENCE, dtype=object)
    keys_other = topology_keys(other) if topology else None
    reference = keys == _REFERENCE
    masks = []
    for train_mask, valid_mask in folds:
        at = np.unique(where[train_mask & reference])
        mask = np.isin(where_other, at)
        if keys_other is not None:
            own = set(keys[valid_mask | (np.isin(where, at) & ~train_mask)]) - {_REFERENCE}
            mask &= ~np.isin(keys_other, sorted(own))
        masks.append(mask)
    return masks


def _check_fit_data(train_ds: Dataset, fit_data: Dataset) -> None:
    if list(fit_data.action_names) != list(train_ds.action_names):
        raise DatasetError(
            f"dataset {fit_data.path}: its actions are not those of {train_ds.path} "
            "(the training data must share the catalogue)"
        )
    missing = sorted(set(train_ds.X.columns) - set(fit_data.X.columns))
    if missing:
        raise DatasetError(
            f"dataset {fit_data.path}: lacks the features {', '.join(missing[:3])}"
            f"{' ...' if len(missing) > 3 else ''} of {train_ds.path}"
        )


def cross_validate(
    train_ds: Dataset,
    candidates: Mapping[str, Candidate],
    *,
    n_folds: int = 4,
    gap: int = DEFAULT_GAP,
    seed: int = 0,
    group_by: str | None = None,
    fit_data: Dataset | None = None,
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
        Seed of the models (and of the topologies' folds).
    group_by : {None, "topology"}
        See :func:`fold_masks`.
    fit_data : Dataset, optional
        Fit each fold's models on these rows instead (:func:`fold_masks_on`), of the training
        chronics only; validate on ``train_ds``'s. Same catalogue and features.

    Returns
    -------
    DataFrame
        One row per candidate (index: its label), columns :data:`CV_COLUMNS` (mean over the
        folds), ``folds`` and ``fit_seconds``; sorted by mean regret, then top-5 recall.
    """
    folds = fold_masks(train_ds, n_folds, gap, group_by=group_by, seed=seed)
    source = train_ds
    fit_masks = [train_mask for train_mask, _valid in folds]
    if fit_data is not None:
        _check_fit_data(train_ds, fit_data)
        source = fit_data
        fit_masks = fold_masks_on(train_ds, fit_data, folds, group_by=group_by)
    rows = []
    for label, (name, params) in candidates.items():
        scores: dict[str, list[float]] = {c: [] for c in CV_COLUMNS}
        seconds = 0.0
        for fit_mask, (_train, valid_mask) in zip(fit_masks, folds, strict=True):
            fit_ds, valid_ds = source.select(fit_mask), train_ds.select(valid_mask)
            estimator = make_model(name, seed=seed, **dict(params))
            took, _ = _fit(estimator, fit_ds, _line_targets(name, fit_ds))
            seconds += took
            X = valid_ds.X[list(fit_ds.X.columns)].to_numpy(dtype=np.float64)
            pred = np.asarray(estimator.predict(X), dtype=np.float64)
            truth = valid_ds.Y
            dec = decision_metrics(truth, pred, k=TOP_K)
            masks = state_subsets(valid_ds.X, truth, valid_ds.meta)
            parts: dict[str, dict[str, Any]] = {}
            for name_ in ("dangerous", "non_reference"):
                mask = masks.get(name_)
                parts[name_] = (
                    decision_metrics(truth[mask], pred[mask], k=TOP_K)
                    if mask is not None and mask.any()
                    else {}
                )
            for c in CV_COLUMNS:
                part = next((s for s in parts if c.startswith(s + "_")), None)
                if part is None:
                    scores[c].append(dec[c])
                else:
                    scores[c].append(parts[part].get(c[len(part) + 1 :], math.nan))
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
    group_by: str | None = None,
    fit_data: str | Dataset | None = None,
) -> tuple[str, pd.DataFrame]:
    """Split off the test side as :func:`~gridoracle.models.train.train` does (``gap``: that of
    a split by time), cross-validate the candidates on the training side only (``fold_gap``:
    see :func:`fold_masks`; ``fit_data``: see :func:`cross_validate`, split the same way);
    return the best label and the table."""
    ds = as_dataset(data)

    def training_side(data: Dataset) -> Dataset:
        return data.split(
            by=split_by,
            test_chronics=test_chronics,
            test_fraction=test_fraction,
            seed=seed,
            gap=gap,
        )[0]

    train_ds = training_side(ds)  # the test side is never read: the choice is made without it
    fit_train = None
    if fit_data is not None:
        fit_train = training_side(as_dataset(fit_data))
        if sorted(fit_train.chronics) != sorted(train_ds.chronics):
            raise DatasetError(
                f"dataset {fit_train.path}: training chronics {fit_train.chronics}, "
                f"not those of {ds.path} ({train_ds.chronics})"
            )
    table = cross_validate(
        train_ds,
        candidates,
        n_folds=n_folds,
        gap=fold_gap,
        seed=seed,
        group_by=group_by,
        fit_data=fit_train,
    )
    return str(table.index[0]), table
