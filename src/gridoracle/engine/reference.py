"""The reference engine: grid2op's own ``obs.simulate``, one call per (state, action). Slow, true.

Everything faster in gridoracle is checked against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gridoracle.engine import base
from gridoracle.engine.base import ActionLike, EngineResult
from gridoracle.engine.states import StateBatch


class ReferenceEngine:
    """Evaluate each pair with ``obs.simulate(action, time_step=horizon)``.

    The states must carry their grid2op observations (``StateBatch.observations``), and the
    environment that produced them must still be open.

    Examples
    --------
    >>> engine = ReferenceEngine(env)  # doctest: +SKIP
    >>> result = engine.evaluate(states, actions)  # doctest: +SKIP
    """

    name = "reference"

    def __init__(self, env: Any) -> None:
        self.env = env
        self.n_line = int(env.n_line)
        self._converted: dict[str, Any] = {}

    def _action(self, action: ActionLike) -> Any:
        act = self._converted.get(action.name)
        if act is None:
            act = self.env.action_space(dict(action.grid2op))
            self._converted[action.name] = act
        return act

    def evaluate(
        self, states: StateBatch, actions: Sequence[ActionLike], *, full: bool = False
    ) -> EngineResult:
        """Simulate every (state, action) pair with grid2op."""
        if states.observations is None:
            raise ValueError("the reference engine needs the observations of the states")
        result = base.empty_result(len(states), len(actions), self.n_line, full)
        grid2op_actions = [self._action(a) for a in actions]
        for i, obs in enumerate(states.observations):
            for j, act in enumerate(grid2op_actions):
                sim_obs, _reward, done, info = obs.simulate(act, time_step=states.horizon)
                if info.get("is_illegal", False) or info.get("is_ambiguous", False):
                    result.status[i, j] = base.STATUS_ILLEGAL
                elif done:
                    result.status[i, j] = base.STATUS_GAME_OVER
                else:
                    rho = np.asarray(sim_obs.rho, dtype=np.float64)
                    result.status[i, j] = base.STATUS_OK
                    result.max_rho[i, j] = float(rho.max())
                    if result.rho is not None:
                        result.rho[i, j] = rho
        return result
