"""grid2op rewards and agents with Oracle4Grid's semantics.

They serve the slow reference (grid2op ``Runner``) that the fast reward table is checked against,
and the replay of a best path under real rules. The rewards' formulas are
:mod:`gridoracle.oracle.core.margins`, which the batched reward table uses too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from grid2op.Agent import BaseAgent
from grid2op.dtypes import dt_float
from grid2op.Reward import BaseReward

from gridoracle.oracle.core.margins import margin_reward, overload_flag


class _FlowReward(BaseReward):
    """A grid2op reward computed from the line flows (A) and thermal limits; ``on_error`` when
    the step failed. Subclasses define :meth:`of_flows` (and ``initialize``)."""

    on_error = 0.0

    def of_flows(self, amps: np.ndarray, thermal_limit: np.ndarray) -> Any:
        """The reward of a step without error."""
        raise NotImplementedError

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
            return self.on_error
        amps = np.asarray(env.backend.get_line_flow(), dtype=np.float64)
        return float(self.of_flows(amps, np.asarray(env.get_thermal_limit(), dtype=np.float64)))


class OracleL2RPNReward(_FlowReward):
    """Oracle4Grid's reward: the sum of squared line margins, 0 when the step failed."""

    def initialize(self, env: Any) -> None:
        self.reward_min = dt_float(0.0)
        self.reward_max = dt_float(env.backend.n_line)

    def of_flows(self, amps: np.ndarray, thermal_limit: np.ndarray) -> Any:
        return margin_reward(amps, thermal_limit)


class OracleOverloadReward(_FlowReward):
    """Oracle4Grid's overload flag: 1 none, 0 some line above its limit, -1 on error."""

    on_error = -1.0

    def initialize(self, env: Any) -> None:
        self.reward_min = dt_float(-1.0)
        self.reward_max = dt_float(1.0)

    def of_flows(self, amps: np.ndarray, thermal_limit: np.ndarray) -> Any:
        return overload_flag(amps, thermal_limit)


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
