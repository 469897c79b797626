"""Oracle4Grid's reward and overload flag of one step, from the line flows (pure NumPy).

Both work on the flows in amperes and the thermal limits, over the last axis (the lines), so
that one call scores a step (shape ``(n_line,)``) or a whole table (``(T, N, n_line)``). The
grid2op rewards of :mod:`gridoracle.oracle.sim.agents` and the batched reward table use them.

References
----------
Oracle4Grid, ``oracle4grid/core/reward_computation/``: ``OracleL2RPNReward`` and
``OracleOverloadReward``.
"""

from __future__ import annotations

import numpy as np

#: Oracle4Grid adds this to every thermal limit (A) "for numerical stability"
MARGIN_A = 0.1


def margin_reward(amps: np.ndarray, thermal_limit: np.ndarray) -> np.ndarray:
    """Σ over lines of max(1 − min(|a| / (limit + 0.1), 1)², 0), over the last axis (float64).

    Examples
    --------
    >>> round(float(margin_reward(np.array([0.0, 50.0, 300.0]), np.full(3, 100.0))), 4)
    1.7505
    """
    x = np.minimum(np.abs(amps) / (np.abs(thermal_limit) + MARGIN_A), 1.0)
    return np.maximum(1.0 - x**2, 0.0).sum(axis=-1)


def overload_flag(amps: np.ndarray, thermal_limit: np.ndarray) -> np.ndarray:
    """1 where no line is above its limit + 0.1 A, else 0 (over the last axis).

    Examples
    --------
    >>> overload_flag(np.array([[50.0, 90.0], [50.0, 120.0]]), np.array([100.0, 100.0])).tolist()
    [1, 0]
    """
    over = (np.abs(amps) / (np.abs(thermal_limit) + MARGIN_A) > 1.0).any(axis=-1)
    return np.where(over, 0, 1).astype(np.int8)
