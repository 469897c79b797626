"""grid2op rewards and agents with Oracle4Grid's semantics.

They serve the slow reference (grid2op ``Runner``) that the fast reward table is checked against,
and the replay of a best path under real rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from grid2op.Agent import BaseAgent
from grid2op.dtypes import dt_float
from grid2op.Reward import BaseReward

#: Oracle4Grid adds this to every thermal limit (A) "for numerical stability"
MARGIN_A = 0.1


def margin_reward(amps: np.ndarray, thermal_limit: np.ndarray) -> np.ndarray:
    """Σ over lines of max(1 − min(|a| / (limit + 0.1), 1)², 0), over the last axis (float64)."""
    x = np.minimum(np.abs(amps) / (np.abs(thermal_limit) + MARGIN_A), 1.0)
    return np.maximum(1.0 - x**2, 0.0).sum(axis=-1)


def overload_flag(amps: np.ndarray, thermal_limit: np.ndarray) -> np.ndarray:
    """1 where no line is above its limit + 0.1 A, else 0 (over the last axis)."""
    over = (np.abs(amps) / (np.abs(thermal_limit) + MARGIN_A) > 1.0).any(axis=-1)
    return np.where(over, 0, 1).astype(np.int8)


class OracleL2RPNReward(BaseReward):
    """Oracle4Grid's reward: the sum of squared line margins, 0 when the step failed."""

    def initialize(self, env: Any) -> None:
        self.reward_min = dt_float(0.0)
        self.reward_max = dt_float(env.backend.n_line)

    def __call__(
        self,
        action: Any,
        env: Any,
        has_error: bool,
        is_done: bool,
        is_illegal: bool,
        is_ambiguous: bool,
    ) -> float:
        if has_error:
            return float(self.reward_min)
        amps = np.asarray(env.backend.get_line_flow(), dtype=np.float64)
        return float(margin_reward(amps, np.asarray(env.get_thermal_limit(), dtype=np.float64)))


class OracleOverloadReward(BaseReward):
    """Oracle4Grid's overload flag: 1 none, 0 some line above its limit, -1 on error."""

    def initialize(self, env: Any) -> None:
        self.reward_min = dt_float(-1.0)
        self.reward_max = dt_float(1.0)

    def __call__(
        self,
        action: Any,
        env: Any,
        has_error: bool,
        is_done: bool,
        is_illegal: bool,
        is_ambiguous: bool,
    ) -> float:
        if has_error:
            return -1.0
        amps = np.asarray(env.backend.get_line_flow(), dtype=np.float64)
        return float(overload_flag(amps, np.asarray(env.get_thermal_limit(), dtype=np.float64)))


def reconnect_action(
    action_space: Any, obs: Any, untouchable: Sequence[int] | np.ndarray = ()
) -> Any:
    """Reconnect every disconnected line whose cooldown is over (but the ``untouchable`` ones)."""
    can = ~np.asarray(obs.line_status) & (np.asarray(obs.time_before_cooldown_line) == 0)
    if len(untouchable):
        can[np.asarray(untouchable, dtype=int)] = False
    ids = np.flatnonzero(can)
    if ids.size == 0:
        return action_space({})
    return action_space({"set_line_status": [(int(i), 1) for i in ids]})


class OneChangeThenOnlyReconnect(BaseAgent):
    """Plays one action at the first step, then only reconnects lines (Oracle4Grid's agent).

    Lines the action disconnects are never reconnected.
    """

    def __init__(self, action_space: Any, action_dict: dict[str, Any]) -> None:
        super().__init__(action_space)
        self.action_dict = action_dict
        self.action = action_space(action_dict)
        status = np.asarray(self.action.line_set_status)
        self.untouchable = np.flatnonzero(status == -1)
        self.has_changed = False

    def reset(self, obs: Any) -> None:
        self.has_changed = False

    def act(self, observation: Any, reward: float, done: bool = False) -> Any:
        if self.has_changed:
            return reconnect_action(self.action_space, observation, self.untouchable)
        self.has_changed = True
        return self.action
