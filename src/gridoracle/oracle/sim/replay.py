"""Step 6 of the Oracle: replay a best path under real rules.

The reward table was computed with overflow disconnection off and every action legal; the real
game has protections and allows one substation and one line change per step. A grid2op agent plays
the path's transitions under those rules: at each step it sets the path's combined
action, puts back on their initial buses the elements the previous action moved and the current
one does not, and reconnects lines whose cooldown is over (Oracle4Grid's ``OracleAgent``). When the
whole move is illegal it falls back on smaller ones, as Oracle4Grid does. It is played with
``env.step`` in the environment at hand (as grid2op's Runner does, without the environment the
Runner makes for itself), and warns on game over (with the steps survived) and on a reward that
misses the expected one beyond a relative tolerance.

Its logs are ``steps.csv`` and grid2op's own episode format (:class:`_EpisodeLog`): the folder
the Runner writes with ``path_save``, which ``grid2op.Episode.EpisodeData.from_disk`` and grid2viz
read.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from grid2op.Agent import BaseAgent

from gridoracle.oracle.sim.agents import reconnect_action
from gridoracle.oracle.sim.episode import game_over_errors, reset_episode

#: the folder of grid2op's episode format under a replay's logs (the Runner's ``path_save``)
EPISODE_FOLDER = "grid2op"

log = logging.getLogger(__name__)

#: the keys of a grid2op action dict whose sums :meth:`OracleReplayAgent.act` does on arrays
_SET_ONLY = frozenset({"set_bus", "set_line_status"})


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
        # a path holds few distinct actions: each is converted once (actions are not mutated)
        converted: dict[str, Any] = {}
        arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.path = []
        self._path_arrays: list[tuple[np.ndarray, np.ndarray]] | None = []
        for d in path:
            key = json.dumps(d, sort_keys=True, default=str)
            if key not in converted:
                act = converted[key] = action_space(dict(d))
                arrays[key] = (
                    np.asarray(act.set_bus, dtype=np.int64).copy(),
                    np.asarray(act.line_set_status, dtype=np.int64).copy(),
                )
            self.path.append(converted[key])
            self._path_arrays.append(arrays[key])
        if not all(set(d) <= _SET_ONLY for d in path):
            self._path_arrays = None  # "change" actions: grid2op's own sums (act_generic)
        n_line = int(type(action_space).n_line)
        self._nothing = (
            np.zeros(int(type(action_space).dim_topo), np.int64),
            np.zeros(n_line, np.int64),
        )
        self._previous_arrays: tuple[np.ndarray, np.ndarray] | None = None
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
        self._previous_arrays = None
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
        set_bus = np.asarray(action.set_bus, dtype=np.int64).copy()
        status = np.asarray(action.line_set_status, dtype=np.int64).copy()
        return self._minimal_of(set_bus, status, obs)

    def _minimal_of(self, set_bus: np.ndarray, status: np.ndarray, obs: Any) -> Any:
        """:meth:`_minimal` of the action setting ``set_bus`` and ``status`` (changed here)."""
        cls = type(self.action_space)
        topo = np.asarray(obs.topo_vect, dtype=np.int64)
        on = np.asarray(obs.line_status, dtype=bool)
        status[(status == -1) & ~on] = 0
        status[(status == 1) & on] = 0
        set_bus[set_bus == topo] = 0
        going_off = status == -1
        set_bus[np.asarray(cls.line_or_pos_topo_vect)[going_off]] = 0
        set_bus[np.asarray(cls.line_ex_pos_topo_vect)[going_off]] = 0
        # a line held out (its cooldown running: an opponent's attack, a maintenance) cannot be
        # reconnected: its ends' bus settings are dropped, as the Oracle's multiverse runs drop
        # those of the attacked line
        held = ~on & (np.asarray(obs.time_before_cooldown_line) > 0)
        set_bus[np.asarray(cls.line_or_pos_topo_vect)[held]] = 0
        set_bus[np.asarray(cls.line_ex_pos_topo_vect)[held]] = 0
        content: dict[str, Any] = {}
        if set_bus.any():
            content["set_bus"] = [(int(i), int(set_bus[i])) for i in np.flatnonzero(set_bus)]
        if status.any():
            content["set_line_status"] = [(int(i), int(status[i])) for i in np.flatnonzero(status)]
        return self.action_space(content)

    def act(self, observation: Any, reward: float, done: bool = False) -> Any:
        if self._path_arrays is None:
            return self.act_generic(observation, reward, done)
        cur_bus, cur_status = (
            self._path_arrays[self.step] if self.step < len(self.path) else self._nothing
        )
        self.step += 1
        cancel_bus = np.zeros_like(cur_bus)
        cancel_status = np.zeros_like(cur_status)
        if self._previous_arrays is not None:  # as _cancel
            prev_bus, prev_status = self._previous_arrays
            moved_back = (prev_bus != 0) & (cur_bus == 0) & (self.init_topo > 0)
            cancel_bus[moved_back] = self.init_topo[moved_back]
            cancel_status[(prev_status == -1) & (cur_status != -1) & self.init_status] = 1
        on = np.asarray(observation.line_status, dtype=bool)
        reco = ~on & (np.asarray(observation.time_before_cooldown_line) == 0) & (cur_status != -1)
        # the sums of act_generic: a later term's settings replace an earlier one's
        bus = np.where(cancel_bus != 0, cancel_bus, cur_bus)
        status = np.where(cancel_status != 0, cancel_status, cur_status)
        moves = (
            (bus, np.where(status != 0, status, reco.astype(np.int64))),
            (bus, status),
            (cur_bus, cur_status),
        )
        chosen = None
        for k, (set_bus, set_status) in enumerate(moves):
            chosen = self._minimal_of(set_bus.copy(), set_status.copy(), observation)
            if is_legal(chosen, observation, self.max_sub, self.max_line):
                self.fallbacks += int(k > 0)
                break
        self._previous_arrays = (cur_bus, cur_status)
        return chosen

    def act_generic(self, observation: Any, reward: float, done: bool = False) -> Any:
        """:meth:`act` with grid2op's action sums (any action; :meth:`act` works on arrays
        when the path only sets buses and line statuses, and gives the same action)."""
        if self.step < len(self.path):
            current = self.path[self.step]
        else:
            current = self.action_space({})
        self.step += 1
        cancel = self._cancel(current)
        untouchable = np.flatnonzero(np.asarray(current.line_set_status) == -1)
        reco = reconnect_action(self.action_space, observation, untouchable)
        moves = (lambda: reco + current + cancel, lambda: current + cancel, lambda: current)
        chosen = None
        for k, move in enumerate(moves):  # built one by one: the first is legal almost always
            chosen = self._minimal(move(), observation)
            if is_legal(chosen, observation, self.max_sub, self.max_line):
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
    grid2op's Runner with ``max_iter=len(path)`` does
    (:func:`~gridoracle.oracle.sim.episode.reset_episode`) and played with ``env.step``. Warns
    (logging, and in the result) on game over with the steps survived, and when the total
    reward differs from ``expected_reward`` by more than ``rel_tolerance`` (relative).

    With ``logs``, writes there ``steps.csv`` (per step the path's action, what the agent
    played as a grid2op dict, the reward, the max rho and whether the game ended) and the
    episode in grid2op's own format in ``logs/grid2op`` (:data:`EPISODE_FOLDER`): what grid2op's
    Runner writes with ``path_save=logs/grid2op``, which
    ``EpisodeData.from_disk(logs / "grid2op", <chronic name>)`` and grid2viz read.
    """
    steps = len(path)
    result = ReplayResult(label, steps, 0, float(expected_reward), 0.0)
    if steps == 0:
        result.warnings.append(f"{label}: empty path, nothing to replay")
        return result
    if logs is None:
        _play(env, path, chronic, seed, names, result, None)
    else:
        import pandas as pd

        from gridoracle.oracle.outputs import write_csv

        logs.mkdir(parents=True, exist_ok=True)
        with _episode_folder(logs / EPISODE_FOLDER) as folder:
            rows = _play(env, path, chronic, seed, names, result, folder)
        write_csv(pd.DataFrame(rows), logs / "steps.csv")
    _check(result, rel_tolerance)
    for message in result.warnings:  # returned to the caller, who shows them: logged for the record
        log.info(message)
    return result


def _play(
    env: Any,
    path: Sequence[Mapping[str, Any]],
    chronic: int,
    seed: int | None,
    names: Sequence[str] | None,
    result: ReplayResult,
    episode_folder: Path | None,
) -> list[dict[str, Any]]:
    """Play the path into ``result`` (rewards, steps survived, total); the rows of steps.csv.

    With ``episode_folder``, the episode is also kept there in grid2op's format. The
    observations' forecasts are off meanwhile (nothing here simulates; 7 % of a step).
    """
    forecasts = bool(getattr(env, "with_forecast", False))
    if forecasts:
        env.deactivate_forecast()
    try:
        return _play_episode(env, path, chronic, seed, names, result, episode_folder)
    finally:
        if forecasts:
            env.reactivate_forecast()


def _play_episode(
    env: Any,
    path: Sequence[Mapping[str, Any]],
    chronic: int,
    seed: int | None,
    names: Sequence[str] | None,
    result: ReplayResult,
    episode_folder: Path | None,
) -> list[dict[str, Any]]:
    obs = reset_episode(env, chronic, seed, len(path))
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
    episode = None if episode_folder is None else _EpisodeLog(env, obs, episode_folder)
    reward, done = 0.0, False
    rows = []
    time_act = 0.0
    begin = time.perf_counter()
    for t in range(len(path)):
        tick = time.perf_counter()
        act = agent.act(obs, reward, done)
        acted = time.perf_counter()
        time_act += acted - tick
        obs, reward, done, info = env.step(act)
        failed = done and bool(game_over_errors(info))  # else done is the episode's last step
        reward = float(reward)
        result.rewards.append(reward)
        if episode is not None:
            episode.add(env, t + 1, acted - tick, reward, act, obs, info)
        if episode_folder is not None:
            rows.append(
                {
                    "timestep": t,
                    "path_action": names[t] if names is not None else "",
                    "played": json.dumps(act.as_serializable_dict(), sort_keys=True),
                    "reward": reward,
                    "max_rho": float(np.max(obs.rho)) if not failed else float("nan"),
                    "game_over": bool(done),
                    "exception": "; ".join(str(e) for e in info.get("exception", []) or []),
                }
            )
        if failed:
            break
        result.steps_survived = t + 1
        if done:
            break
    result.reward = float(np.sum(result.rewards, dtype=np.float64))
    if episode is not None:
        episode.close(env, len(result.rewards), result.reward, seed, time_act, begin)
    return rows


class _EpisodeLog:
    """The replay kept as grid2op's Runner keeps an episode with ``path_save`` (EpisodeData).

    The same calls as grid2op's ``Runner`` (``grid2op/Runner/aux_fun.py``): arrays sized by the
    episode's steps, the first observation, then per step the agent's action, the environment's
    own action, the observation, the reward, the other rewards, legality, the opponent's attack;
    at the end the parameters, meta data and times, written by ``EpisodeData.to_disk``.
    """

    def __init__(self, env: Any, obs: Any, folder: Path) -> None:
        from grid2op.dtypes import dt_bool, dt_float
        from grid2op.Episode import EpisodeData

        n = max(int(env.chronics_handler.max_timestep()), 0)
        n_line = int(env.backend.n_line)
        attack_space = env._opponent_action_space

        def full(shape: tuple[int, ...], value: float, dtype: Any = dt_float) -> np.ndarray:
            return np.full(shape, fill_value=value, dtype=dtype)

        observations = full((n + 1, env.observation_space.n), np.nan)
        observations[0, :] = obs.to_vect()
        self.data = EpisodeData(
            actions=full((n, env.action_space.n), np.nan),
            env_actions=full((n, env._helper_action_env.n), np.nan),
            observations=observations,
            rewards=full((n,), np.nan),
            disc_lines=full((n, n_line), np.nan, dt_bool),
            times=full((n,), np.nan),
            observation_space=env.observation_space,
            action_space=env.action_space,
            helper_action_env=env._helper_action_env,
            path_save=str(folder),
            disc_lines_templ=full((1, n_line), False, dt_bool),
            attack_templ=full((1, env._oppSpace.action_space.size()), 0.0),
            attack=full((n, attack_space.n), 0.0),
            attack_space=attack_space,
            logger=log,
            name=env.chronics_handler.get_name(),
            force_detail=False,
            other_rewards=[],
            legal=full((n,), True, dt_bool),
            ambiguous=full((n,), False, dt_bool),
            has_legal_ambiguous=True,
        )
        self.data.observations.objects[0] = self.data.observations.helper.from_vect(
            observations[0, :]
        )
        self.data.set_parameters(env)

    def add(
        self, env: Any, step: int, duration: float, reward: float, act: Any, obs: Any, info: Any
    ) -> None:
        """Step ``step`` (1 = the first) as the Runner stores it."""
        self.data.incr_store(
            True,
            step,
            duration,
            float(reward),
            env._env_modification,
            act,
            obs,
            env._oppSpace.last_attack,
            info,
        )

    def close(
        self,
        env: Any,
        steps: int,
        total: float,
        seed: int | None,
        time_act: float,
        begin: float,
    ) -> None:
        """The meta data and times, then the files (``EpisodeData.to_disk``)."""
        self.data.set_game_over(steps)
        self.data.set_meta(env, steps, float(total), seed, None)
        self.data.set_episode_times(env, time_act, begin, time.perf_counter())
        self.data.to_disk()


class _episode_folder:  # a context manager used as a function
    """A fresh folder to write an episode in, put at ``target`` when the block ends.

    grid2op writes its files one by one: they go to a temporary folder beside ``target``,
    which replaces ``target`` (the previous replay's) only once complete; on an error it is
    removed and ``target`` is left as it was.
    """

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.tmp = Path(tempfile.mkdtemp(dir=self.target.parent, prefix=f".{self.target.name}."))

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        old = None
        if self.target.exists():
            old = self.target.with_name(f".{self.target.name}.old-{os.getpid()}")
            os.replace(self.target, old)
        os.replace(self.tmp, self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


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
