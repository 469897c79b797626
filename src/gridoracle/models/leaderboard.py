"""The leaderboard of models evaluated on one split: one row per model and baseline.

:func:`leaderboard` builds it from the :func:`~gridoracle.models.evaluate.evaluate` records of the
models, with the do-nothing and (when ``mean`` is not among the models) per-action-mean baselines
of the first model's evaluation; rows are sorted by mean regret, then RMSE.
:func:`write_leaderboard` writes it as ``leaderboard.csv`` and ``leaderboard.json`` (with the split
it was measured on).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gridoracle.errors import OutputError
from gridoracle.io import atomic_write_bytes, atomic_write_json, json_safe

__all__ = ["LEADERBOARD_COLUMNS", "SORTED_BY", "leaderboard", "write_leaderboard"]

LEADERBOARD_COLUMNS = (
    "model",
    "kind",
    "rmse",
    "mae",
    "r2",
    "top1_accuracy",
    "mean_regret",
    "p95_regret",
    "top5_recall",
    "top10_recall",
    "screened5_regret",
    "dangerous_mean_regret",
    "dangerous_top5_recall",
    "non_reference_mean_regret",
    "non_reference_top10_recall",
    "overload_f1",
    "train_seconds",
    "predict_us_per_state",
)
SORTED_BY = ("mean_regret", "rmse")
"""The leaderboard's sort keys (missing values last)."""


def leaderboard(names: Sequence[str], results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per model of ``names`` and per baseline, sorted by mean regret, then RMSE.

    Parameters
    ----------
    names : sequence of str
        The models, in the order they were trained.
    results : mapping
        The evaluation record of each model (see :func:`gridoracle.models.evaluate.evaluate`).

    Returns
    -------
    DataFrame
        Columns :data:`LEADERBOARD_COLUMNS`: every model, plus ``donothing`` and (when ``mean`` is
        not among the models) ``mean`` as baselines (``kind`` column); a baseline has no training
        time.
    """
    rows = []
    first = results[names[0]]
    baselines = [("donothing", first["summary"].get("donothing"))]
    if "mean" not in names:
        baselines.append(("mean", first["summary"].get("mean")))
    for name, numbers in baselines:
        if numbers is not None:
            rows.append(
                {
                    "model": name,
                    "kind": "baseline",
                    **numbers,
                    "train_seconds": math.nan,
                    "predict_us_per_state": math.nan,
                }
            )
    for name in names:
        record = results[name]
        rows.append(
            {
                "model": name,
                "kind": "baseline" if name == "mean" else "model",
                **record["summary"]["model"],
                "train_seconds": record["timing"]["train_seconds"],
                "predict_us_per_state": record["timing"]["predict_us_per_state"],
            }
        )
    board = pd.DataFrame(rows, columns=list(LEADERBOARD_COLUMNS))
    board = board.sort_values(list(SORTED_BY), kind="stable", na_position="last")
    return board.reset_index(drop=True)


def write_leaderboard(
    board: pd.DataFrame, root: Path, split: Mapping[str, Any]
) -> tuple[Path, Path]:
    """Write ``<root>/leaderboard.csv`` and ``<root>/leaderboard.json``; return both paths.

    Parameters
    ----------
    board : DataFrame
        See :func:`leaderboard`.
    root : Path
        The folder (created if needed).
    split : mapping
        What the JSON file records before the rows: the dataset, test chronics, split and seed.

    Raises
    ------
    OutputError
        If a file cannot be written.
    """
    csv_path, json_path = root / "leaderboard.csv", root / "leaderboard.json"
    try:
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(csv_path, board.to_csv(index=False).encode("utf-8"))
        record = {**split, "sorted_by": list(SORTED_BY), "rows": board.to_dict(orient="records")}
        atomic_write_json(json_path, json_safe(record))
    except OSError as exc:
        raise OutputError(f"cannot write the leaderboard under {root}: {exc.strerror}") from exc
    return csv_path, json_path
