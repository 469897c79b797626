"""Step 6 of the Oracle: replay a best path under real rules.

The reward table was computed with overflow disconnection off and every action legal; the real
game has protections and allows one substation and one line change per step. A grid2op agent plays
the path's transitions under those rules: at each step it sets the path's combined
action, puts back on their initial buses the elements the previous action moved and the current
one does not, and reconnects lines whose cooldown is over (Oracle4Grid's ``OracleAgent``). When the
whole move is illegal it falls back on smaller ones, as Oracle4Grid does. It is played with
``env.step`` (as grid2op's Runner does, without its per-episode set-up), and warns on game over
(with the steps survived) and on a reward that misses the expected one beyond a relative
tolerance.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from grid2op.Agent import BaseAgent

from gridoracle.oracle.sim.agents import reconnect_action

log = logging.getLogger(__name__)


def is_legal(action: Any, obs: Any, max_sub: int, max_line: int) -> bool:
    """grid2op's default rules (LookParam + PreventReconnection) for ``action`` in ``obs``."""
    lines, subs = action.get_topological_impact(obs.line_status)
    if lines.sum() > max_line or subs.sum() > max_sub:
        return False
    if (np.asarray(obs.time_before_cooldown_line)[lines] > 0).any():
        return False
    return not bool((np.asarray(obs.time_before_cooldown_sub)[subs] > 0).any())


class OracleReplayAgent(BaseAgent):
    """Plays a path of combined actions (one grid2op dict per timestep) under real rules.

    Parameters
    ----------
    action_space : grid2op ActionSpace
    path : sequence of dict
        The grid2op dict of the path's combined action at each timestep.
    init_topo, init_status : ndarray
        Topology vector and line status of the reference topology (after reset).
    max_sub, max_line : int
        The rules' limits of substations and lines changed per step.
    """

    def __init__(
        self,
        action_space: Any,
        path: Sequence[Mapping[str, Any]],
        init_topo: np.ndarray,
        init_status: np.ndarray,
        max_sub: int = 1,
        max_line: int = 1,
    ) -> None:
        super().__init__(action_space)
        self.path = [action_space(dict(d)) for d in path]
        self.init_topo = np.asarray(init_topo, dtype=np.int64)
        self.init_status = np.asarray(init_status, dtype=bool)
        self.max_sub = max_sub
        self.max_line = max_line
        self.step = 0
        self.previous: Any = None
        self.fallbacks = 0

    def reset(self, obs: Any) -> None:
        self.step = 0
        self.previous = None
        self.fallbacks = 0

    def _cancel(self, current: Any) -> Any:
        """Put back what the previous action changed and this one does not (initial state)."""
        if self.previous is None:
            return self.action_space({})
        prev_bus = np.asarray(self.previous.set_bus)
        cur_bus = np.asarray(current.set_bus)
        moved_back = (prev_bus != 0) & (cur_bus == 0) & (self.init_topo > 0)
        prev_status = np.asarray(self.previous.line_set_status)
        cur_status = np.asarray(current.line_set_status)
        reconnect = (prev_status == -1) & (cur_status != -1) & self.init_status
        content: dict[str, Any] = {}
        if moved_back.any():
            content["set_bus"] = [
                (int(i), int(self.init_topo[i])) for i in np.flatnonzero(moved_back)
            ]
        if reconnect.any():
            content["set_line_status"] = [(int(i), 1) for i in np.flatnonzero(reconnect)]
        return self.action_space(content)

    def _minimal(self, action: Any, obs: Any) -> Any:
        """Only what ``action`` changes in ``obs``.

        grid2op's rules count a line disconnected again, or an element set to the bus it is
        already on, as changed: the path's combined action is replayed as a difference to the
        current state, so that a transition the Oracle allows (one substation, one line) is one
        for the rules too.
        """
        cls = type(self.action_space)
        set_bus = np.asarray(action.set_bus, dtype=np.int64).copy()
        status = np.asarray(action.line_set_status, dtype=np.int64).copy()
        topo = np.asarray(obs.topo_vect, dtype=np.int64)
        on = np.asarray(obs.line_status, dtype=bool)
        status[(status == -1) & ~on] = 0
        status[(status == 1) & on] = 0
        set_bus[set_bus == topo] = 0
        going_off = status == -1
        set_bus[np.asarray(cls.line_or_pos_topo_vect)[going_off]] = 0
        set_bus[np.asarray(cls.line_ex_pos_topo_vect)[going_off]] = 0
        content: dict[str, Any] = {}
        if set_bus.any():
            content["set_bus"] = [(int(i), int(set_bus[i])) for i in np.flatnonzero(set_bus)]
        if status.any():
            content["set_line_status"] = [(int(i), int(status[i])) for i in np.flatnonzero(status)]
        return self.action_space(content)

    def act(self, observation: Any, reward: float, done: bool = False) -> Any:
        if self.step < len(self.path):
            current = self.path[self.step]
        else:
            current = self.action_space({})
        self.step += 1
        cancel = self._cancel(current)
        untouchable = np.flatnonzero(np.asarray(current.line_set_status) == -1)
        reco = reconnect_action(self.action_space, observation, untouchable)
        candidates = [
            self._minimal(a, observation)
            for a in (reco + current + cancel, current + cancel, current)
        ]
        chosen = candidates[-1]
        for k, candidate in enumerate(candidates):
            if is_legal(candidate, observation, self.max_sub, self.max_line):
                chosen = candidate
                self.fallbacks += int(k > 0)
                break
        self.previous = current
        return chosen


@dataclass
class ReplayResult:
    """What the replay of a path gave."""

    label: str
    steps_planned: int
    steps_survived: int
    expected_reward: float
    reward: float
    rewards: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def game_over(self) -> bool:
        return self.steps_survived < self.steps_planned

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "steps_planned": self.steps_planned,
            "steps_survived": self.steps_survived,
            "game_over": self.game_over,
            "expected_reward": self.expected_reward,
            "reward": self.reward,
            "warnings": list(self.warnings),
        }


def replay(
    env: Any,
    path: Sequence[Mapping[str, Any]],
    expected_reward: float,
    chronic: int,
    *,
    seed: int | None = 0,
    rel_tolerance: float = 0.1,
    label: str = "best path",
    names: Sequence[str] | None = None,
    logs: Path | None = None,
) -> ReplayResult:
    """Play ``path`` in ``env`` under its rules, step by step with grid2op.

    ``env`` is made by :func:`~gridoracle.oracle.sim.env.make_oracle_env` with
    ``rules="replay"``, or switched to them by
    :func:`~gridoracle.oracle.sim.env.use_replay_parameters`. The episode is reset like
    grid2op's Runner does (``set_id``, ``seed``, ``reset``) and played with ``env.step``. Warns
    (logging, and in the result) on game over with the steps survived, and when the total
    reward differs from ``expected_reward`` by more than ``rel_tolerance`` (relative). With
    ``logs``, writes ``steps.csv`` there: per step the path's action, what the agent played
    (grid2op dict), the reward, the max rho and whether the game ended.
    """
    steps = len(path)
    result = ReplayResult(label, steps, 0, float(expected_reward), 0.0)
    if steps == 0:
        result.warnings.append(f"{label}: empty path, nothing to replay")
        return result
    rows = _play(env, path, chronic, seed, names, result)
    if logs is not None:
        import pandas as pd

        from gridoracle.oracle.outputs import write_csv

        logs.mkdir(parents=True, exist_ok=True)
        write_csv(pd.DataFrame(rows), logs / "steps.csv")
    _check(result, rel_tolerance)
    for message in result.warnings:
        log.warning(message)
    return result


def _play(
    env: Any,
    path: Sequence[Mapping[str, Any]],
    chronic: int,
    seed: int | None,
    names: Sequence[str] | None,
    result: ReplayResult,
) -> list[dict[str, Any]]:
    """Play the path into ``result`` (rewards, steps survived, total); the rows of steps.csv."""
    env.set_id(int(chronic))
    if seed is not None:
        env.seed(int(seed))
    obs = env.reset()
    params = env.parameters
    agent = OracleReplayAgent(
        env.action_space,
        path,
        obs.topo_vect,
        obs.line_status,
        int(params.MAX_SUB_CHANGED),
        int(params.MAX_LINE_STATUS_CHANGED),
    )
    agent.reset(obs)
    reward, done = 0.0, False
    rows = []
    for t in range(len(path)):
        act = agent.act(obs, reward, done)
        obs, reward, done, info = env.step(act)
        reward = float(reward)
        result.rewards.append(reward)
        rows.append(
            {
                "timestep": t,
                "path_action": names[t] if names is not None else "",
                "played": json.dumps(act.as_serializable_dict(), sort_keys=True),
                "reward": reward,
                "max_rho": float(np.max(obs.rho)) if not done else float("nan"),
                "game_over": bool(done),
                "exception": "; ".join(str(e) for e in info.get("exception", []) or []),
            }
        )
        if done:
            break
        result.steps_survived = t + 1
    result.reward = float(np.sum(result.rewards, dtype=np.float64))
    return rows


def _check(result: ReplayResult, rel_tolerance: float) -> None:
    """Add the warnings of a game over and of a reward off the expected one to ``result``."""
    label, expected_reward = result.label, result.expected_reward
    if result.game_over:
        result.warnings.append(
            f"{label}: game over during the replay under real rules after "
            f"{result.steps_survived} of {result.steps_planned} steps"
        )
    denominator = abs(expected_reward) if expected_reward else 1.0
    if abs(result.reward - expected_reward) / denominator > rel_tolerance:
        result.warnings.append(
            f"{label}: the replay does not get the expected reward (expected "
            f"{expected_reward:.4f}, obtained {result.reward:.4f}, relative tolerance "
            f"{rel_tolerance}): some transitions break the real game rules or overload lines"
        )
