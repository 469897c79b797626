"""Oracle4Grid's indicators (KPIs) of an episode and their order check.

The indicators, with Oracle4Grid's names (``oracle4grid/core/graph/indicators.py``):

- ``Do Nothing in ref topo``: sum of the rewards of the do-nothing run;
- ``<topo> then do nothing``: for each of the most frequent topologies of the best path, the sum
  of the rewards of its run (the action applied at the first step and then held: the run of the
  reward table, from timestep 0);
- ``Best possible path with game rules and no overload`` (NaN when there is no such path);
- ``Best possible path with game rules``;
- ``Best path without transition constraint``: sum over t of the best reward at t.

Path values are sums of the rewards along the path, in float64 (Oracle4Grid sums in float32 under
numpy 2, which breaks its own order check on long episodes). The order check, after rounding to
``significant_digits``: for the longest path, do nothing must not be above the best path, the best
path not above the unconstrained bound, the path without overload not above the best path (for
the shortest path, "above" reads "below"). A violation raises :class:`OracleOrderError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from gridoracle.errors import OracleOrderError
from gridoracle.oracle.core.best_path import (
    LONGEST,
    BestPath,
    best_unconstrained,
    check_kind,
    check_significant_digits,
    path_reward,
)
from gridoracle.oracle.core.transitions import DONOTHING_NAME

MSG_DONOTHING = "Do Nothing in ref topo"
MSG_TOPO = " then do nothing"
MSG_GAMERULES_NO_OL = "Best possible path with game rules and no overload"
MSG_GAMERULES = "Best possible path with game rules"
MSG_NOGAMERULE = "Best path without transition constraint"
#: columns of the KPI table (Oracle4Grid's)
KPI_COLUMNS: tuple[str, str] = ("Indicator name", "Reward value")


def most_frequent(path: Sequence[int], n: int | None) -> list[int]:
    """The ``n`` most frequent actions of a path, most frequent first.

    Ties go to the action met first along the path. ``n=None`` keeps every distinct action:
    what Oracle4Grid 1.0.6 does whatever its ``n_best_topos`` (its ``get_best_topos`` raises
    N to the number of distinct topologies when there are more).

    Examples
    --------
    >>> most_frequent([3, 1, 1, 3, 2], 2)
    [3, 1]
    >>> most_frequent([3, 1, 1, 3, 2], None)
    [3, 1, 2]
    """
    if n is not None and n < 0:
        raise ValueError(f"n={n} must be >= 0")
    steps = np.asarray(path, dtype=np.int64)
    if len(steps) == 0:
        return []
    actions, first, counts = np.unique(steps, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    ranked = actions[order].tolist()
    return ranked if n is None else ranked[:n]


def _path_of(path: BestPath | Sequence[int]) -> list[int]:
    return list(path.path) if isinstance(path, BestPath) else [int(i) for i in path]


def compute_kpis(
    rewards: ArrayLike,
    names: Sequence[str],
    best_path: BestPath | Sequence[int],
    best_path_no_overload: BestPath | Sequence[int],
    n_best_topos: int | None,
    significant_digits: int | None,
    unconstrained: float | None = None,
    *,
    kind: str = LONGEST,
    check_order: bool = True,
    path_rewards: tuple[float, float] | None = None,
    extra: Sequence[tuple[str, float]] = (),
) -> pd.DataFrame:
    """Oracle4Grid's KPI table.

    Parameters
    ----------
    rewards : array-like of float, shape (T, N)
        The reward table the paths were searched on.
    names : sequence of str
        The N action names; the do-nothing action is the one named ``donothing-0`` (its KPI is
        NaN when it is missing, e.g. dropped because its run ended early).
    best_path, best_path_no_overload : BestPath or sequence of int
        The two best paths (an empty path when there is none: its KPI is NaN).
    n_best_topos : int or None
        How many of the best path's most frequent topologies get a ``<topo> then do nothing``
        row; None: all of them, as Oracle4Grid 1.0.6 actually does.
    significant_digits : int or None
        Rounding of the values before the order check (None: no rounding).
    unconstrained : float, optional
        "Best path without transition constraint"; computed from ``rewards`` when None.
    kind : {"longest", "shortest"}
        The path type; orders the table (best first) and the check.
    check_order : bool, default True
        Run :func:`check_kpi_order` and raise on a violation.
    path_rewards : (float, float), optional
        The rewards of the two paths when they are not sums over ``rewards`` (with an
        opponent: the path's nodes, multiverse ones included); default the sums over
        ``rewards`` along the paths.
    extra : sequence of (str, float)
        More rows (e.g. the robust paths), not part of the order check.

    Returns
    -------
    pandas.DataFrame
        Columns ``Indicator name`` and ``Reward value``, sorted by value, best first (NaN last).

    Raises
    ------
    OracleOrderError
        If ``check_order`` and the values are out of order.

    Examples
    --------
    >>> table = [[1.0, 2.0], [1.0, 3.0]]
    >>> kpis = compute_kpis(table, ["donothing-0", "sub-1-0"], [1, 1], [], 1, 2)
    >>> kpis.values.tolist()
    [['sub-1-0 then do nothing', 5.0], ['Best possible path with game rules', 5.0], ['Best path without transition constraint', 5.0], ['Do Nothing in ref topo', 2.0], ['Best possible path with game rules and no overload', nan]]
    """  # noqa: E501
    table = np.asarray(rewards, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != len(names):
        raise ValueError(f"rewards has shape {table.shape}, expected (T, {len(names)})")
    check_kind(kind)
    digits = check_significant_digits(significant_digits)
    path = _path_of(best_path)
    path_no_overload = _path_of(best_path_no_overload)

    def column_sum(j: int) -> float:
        # one column at a time: the same pairwise sum whatever the table's memory layout
        # (``table.sum(axis=0)`` adds a C-ordered table's rows in sequence, an F-ordered one's
        # columns pairwise: their last bits differ)
        return float(np.sum(table[:, j]))

    rows: list[tuple[str, float]] = []
    donothing = (
        column_sum(list(names).index(DONOTHING_NAME)) if DONOTHING_NAME in names else float("nan")
    )
    rows.append((MSG_DONOTHING, donothing))
    for action in most_frequent(path, n_best_topos):
        rows.append((f"{names[action]}{MSG_TOPO}", column_sum(action)))
    if path_rewards is None:
        best, best_no_ol = path_reward(table, path), path_reward(table, path_no_overload)
    else:
        best, best_no_ol = (float(v) for v in path_rewards)
    rows.append((MSG_GAMERULES_NO_OL, best_no_ol))
    rows.append((MSG_GAMERULES, best))
    if unconstrained is None:
        unconstrained = best_unconstrained(table, kind)
    rows.append((MSG_NOGAMERULE, float(unconstrained)))
    rows.extend((str(label), float(value)) for label, value in extra)

    if check_order:
        check_kpi_order(
            donothing,
            best,
            best_no_ol,
            float(unconstrained),
            kind=kind,
            significant_digits=digits,
        )
    frame = pd.DataFrame(rows, columns=list(KPI_COLUMNS))
    frame = frame.sort_values(
        KPI_COLUMNS[1], ascending=kind != LONGEST, kind="mergesort", na_position="last"
    )
    return frame.reset_index(drop=True)


def check_kpi_order(
    donothing: float,
    best: float,
    best_no_overload: float,
    unconstrained: float,
    *,
    kind: str = LONGEST,
    significant_digits: int | None = None,
) -> None:
    """Raise if the KPIs break the order every episode must respect.

    After rounding to ``significant_digits`` (float64), for the longest path: do nothing <=
    best path <= best path without transition constraint, and best path without overload <=
    best path (reversed for the shortest path). NaN values are not compared.

    Raises
    ------
    OracleOrderError
        Naming the two indicators out of order and their values (every violation, on one line).

    Examples
    --------
    >>> check_kpi_order(10.0, 12.0, float("nan"), 12.5)
    >>> check_kpi_order(12.004, 12.0, 11.0, 12.5, significant_digits=2)
    >>> check_kpi_order(13.0, 12.0, 11.0, 12.5)
    Traceback (most recent call last):
    ...
    gridoracle.errors.OracleOrderError: KPIs out of order (longest path): 'Do Nothing in ref topo' = 13.0 is above 'Best possible path with game rules' = 12.0
    """  # noqa: E501
    check_kind(kind)
    digits = check_significant_digits(significant_digits)

    def rounded(value: float) -> float:
        return float(np.round(value, digits)) if digits is not None else float(value)

    values = {
        MSG_DONOTHING: rounded(donothing),
        MSG_GAMERULES: rounded(best),
        MSG_GAMERULES_NO_OL: rounded(best_no_overload),
        MSG_NOGAMERULE: rounded(unconstrained),
    }
    # (lower, upper) for the longest path: values[lower] must not exceed values[upper]
    pairs = [
        (MSG_DONOTHING, MSG_GAMERULES),
        (MSG_GAMERULES, MSG_NOGAMERULE),
        (MSG_GAMERULES_NO_OL, MSG_GAMERULES),
    ]
    longest = kind == LONGEST
    problems = []
    for lower, upper in pairs:
        a, b = values[lower], values[upper]
        if np.isnan(a) or np.isnan(b):
            continue
        if (a > b) if longest else (a < b):
            word = "above" if longest else "below"
            problems.append(f"{lower!r} = {a!r} is {word} {upper!r} = {b!r}")
    if problems:
        raise OracleOrderError(f"KPIs out of order ({kind} path): " + "; ".join(problems))
