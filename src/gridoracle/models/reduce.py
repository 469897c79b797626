"""Reduce an action catalogue to the actions that matter: :func:`reduce_actions`.

An action *covers* a state when its true max rho there is within ``margin`` of the best action's
(the smallest finite max rho of the state). The reduced catalogue is built greedily, as a set
cover: do nothing first (always kept), then repeatedly the action that covers the most states not
covered yet (ties: the first in catalogue order). When every state is covered before ``keep``
actions are chosen, the rest are chosen greedily by how much they lower the total regret of the
best kept action (the cover at margin 0 refines it). States without a finite target (every
action diverged) are left out.

The report says, for the kept set, what share of the states keeps an action within each margin
of the best, and the mean regret of the best kept action (what an agent that simulates the
whole reduced catalogue loses against the full one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["REPORT_MARGINS", "Reduction", "reduce_actions"]

REPORT_MARGINS = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05)
"""Margins of the coverage report (a state is covered within m when its best kept action is
within m of its best action)."""

_TIE = 1e-9


@dataclass
class Reduction:
    """What :func:`reduce_actions` chose.

    Attributes
    ----------
    kept : list of int
        Column indices of the kept actions, in the order the greedy cover chose them.
    names : list of str
        Their names, same order.
    margin : float
        The margin of the cover.
    states : int
        States covered or not (those with at least one finite target).
    covered : float
        Share of them whose best kept action is within ``margin`` of the best.
    coverage : dict of str to float
        The same share at each margin of :data:`REPORT_MARGINS` (keys as ``"0.01"``).
    mean_regret, max_regret : float
        Of the best kept action against the best of the whole catalogue.
    gains : list of int
        States newly covered by each kept action (0 for those chosen to lower the regret).
    """

    kept: list[int]
    names: list[str]
    margin: float
    states: int
    covered: float
    coverage: dict[str, float] = field(default_factory=dict)
    mean_regret: float = float("nan")
    max_regret: float = float("nan")
    gains: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The record a catalogue's ``extra`` keeps (JSON-ready)."""
        return {
            "margin": self.margin,
            "states": self.states,
            "covered": self.covered,
            "coverage": dict(self.coverage),
            "mean_regret": self.mean_regret,
            "max_regret": self.max_regret,
            "greedy_order": list(self.names),
            "gains": list(self.gains),
        }


def reduce_actions(
    Y: Any,
    names: Sequence[str],
    keep: int,
    *,
    margin: float = 0.01,
    always: Sequence[str] = ("donothing",),
) -> Reduction:
    """Choose ``keep`` actions that cover the states (see the module docstring).

    Parameters
    ----------
    Y : array of shape (n_states, n_actions)
        True max rho of every action in every state; NaN where it diverged or was illegal.
    names : sequence of str
        The action of each column.
    keep : int
        Actions to keep (do nothing included), at least 1.
    margin : float, default 0.01
        An action covers a state when its max rho is at most the best's plus ``margin``.
    always : sequence of str, default ("donothing",)
        Actions kept first whatever they cover (those present in ``names``).

    Returns
    -------
    Reduction

    Raises
    ------
    ValueError
        ``keep`` below 1 or below the number of ``always`` actions, a negative margin, or
        names that do not match the columns.

    Examples
    --------
    >>> Y = np.array([[0.5, 0.4, 0.9], [0.5, 0.9, 0.3], [0.5, 0.9, 0.31]])
    >>> r = reduce_actions(Y, ["donothing", "a", "b"], keep=2)
    >>> r.names, round(r.covered, 3)
    (['donothing', 'b'], 0.667)
    """
    t = np.asarray(Y, dtype=np.float64)
    if t.ndim != 2 or t.shape[1] != len(names):
        raise ValueError(f"Y has shape {t.shape} for {len(names)} action names")
    if margin < 0 or not np.isfinite(margin):
        raise ValueError(f"margin {margin}: expected a non-negative number")
    fixed = [list(names).index(a) for a in always if a in names]
    if keep < max(1, len(fixed)):
        raise ValueError(f"keep {keep}: expected at least {max(1, len(fixed))}")
    finite = np.isfinite(t)
    valid = finite.any(axis=1)
    t, finite = t[valid], finite[valid]
    n, n_actions = t.shape
    keep = min(keep, n_actions)
    best = np.min(np.where(finite, t, np.inf), axis=1) if n else np.zeros(0)
    worst = np.max(np.where(finite, t, -np.inf), axis=1) if n else np.zeros(0)
    penalized = np.where(finite, t, np.maximum(2.0, worst)[:, None])
    covers = finite & (t <= best[:, None] + margin + _TIE)
    kept: list[int] = []
    gains: list[int] = []
    covered = np.zeros(n, dtype=bool)
    for j in fixed:
        gains.append(int((covers[:, j] & ~covered).sum()))
        covered |= covers[:, j]
        kept.append(j)
    chosen = np.zeros(n_actions, dtype=bool)
    chosen[kept] = True
    while len(kept) < keep:
        gain = covers[~covered].sum(axis=0)
        gain[chosen] = -1
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        kept.append(j)
        gains.append(int(gain[j]))
        chosen[j] = True
        covered |= covers[:, j]
    value = penalized[:, kept].min(axis=1) if n and kept else np.full(n, np.inf)
    while len(kept) < keep:  # every state covered: lower the regret of the best kept action
        gain = np.maximum(value[:, None] - penalized, 0.0).sum(axis=0)
        gain[chosen] = -1.0
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        kept.append(j)
        gains.append(0)
        chosen[j] = True
        value = np.minimum(value, penalized[:, j])
    regret = value - best
    coverage = {
        f"{m:g}": float(np.mean(regret <= m + _TIE)) if n else float("nan") for m in REPORT_MARGINS
    }
    return Reduction(
        kept=kept,
        names=[str(names[j]) for j in kept],
        margin=float(margin),
        states=int(n),
        covered=float(np.mean(regret <= margin + _TIE)) if n else float("nan"),
        coverage=coverage,
        mean_regret=float(np.mean(regret)) if n else float("nan"),
        max_regret=float(np.max(regret)) if n else float("nan"),
        gains=gains,
    )
