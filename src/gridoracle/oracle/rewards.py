"""Step 2 of the Oracle: the reward table, every combined action held over the episode.

Oracle4Grid plays each combined action with a grid2op ``Runner``: an agent applies it at the first
step then only reconnects lines, overflow disconnection is off and every action is legal. The
reward of step k+1 goes to timestep k; a run that fails ends there (reward 0, overload flag -1).

Here one do-nothing run of the same environment (reconnecting lines like the agent) gives the
injections and the line statuses of every step; with overflow disconnection off, the topology of
a combined action at step k is then the action's buses on that state, so the batched engine solves
each action over the whole episode in one call. :func:`reference_reward_table` is Oracle4Grid's
way (one Runner per action), kept as the ground truth the tests compare against.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridoracle.actions.model import Action
from gridoracle.engine.base import STATUS_OK, ActionLike
from gridoracle.engine.states import states_from_observations
from gridoracle.errors import InvalidOption
from gridoracle.oracle.agents import (
    OneChangeThenOnlyReconnect,
    OracleL2RPNReward,
    OracleOverloadReward,
    margin_reward,
    overload_flag,
    reconnect_action,
)
from gridoracle.parallel import (
    SERIAL,
    Backend,
    clear_worker_state,
    map_units,
    prime_worker_state,
    worker_state,
)

log = logging.getLogger(__name__)

REWARDS = ("oracle", "l2rpn")


@dataclass
class RewardTable:
    """Rewards of every combined action at every timestep (Oracle4Grid's ``reward_df``).

    Attributes
    ----------
    names : list of str
        Combined action names, N of them.
    rewards : ndarray of float64, shape (T, N)
        Reward of the (k+1)-th step at timestep k; NaN after a run ended.
    overload : ndarray of float64, shape (T, N)
        1 no overload, 0 overload, -1 error; NaN after a run ended.
    played : ndarray of int, shape (N,)
        Steps each run lasted (T when it reached the end).
    reused : int
        Actions whose rewards were read from the cache instead of solved.
    """

    names: list[str]
    rewards: np.ndarray
    overload: np.ndarray
    played: np.ndarray
    reused: int = 0

    @property
    def n_steps(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def complete(self) -> np.ndarray:
        """Actions whose run reached the last timestep without error."""
        return (self.played == self.n_steps) & (self.overload != -1).all(axis=0)

    def select(self, index: Sequence[int] | np.ndarray) -> RewardTable:
        idx = np.asarray(index, dtype=np.int64)
        return RewardTable(
            [self.names[i] for i in idx],
            self.rewards[:, idx],
            self.overload[:, idx],
            self.played[idx],
        )

    def to_frame(self) -> pd.DataFrame:
        """Long format as Oracle4Grid's reward_df: one row per (action, timestep) played."""
        rows = []
        for j, name in enumerate(self.names):
            for t in range(int(self.played[j])):
                rows.append((name, t, self.rewards[t, j], self.overload[t, j], f"{name}_t{t}"))
        return pd.DataFrame(
            rows, columns=["name", "timestep", "reward", "overload_reward", "node_name"]
        )


def simulation_parameters() -> Any:
    """Oracle4Grid's parameters of the reward simulation (no overflow disconnection)."""
    from grid2op.Parameters import Parameters

    param = Parameters()
    param.NO_OVERFLOW_DISCONNECTION = True
    param.MAX_LINE_STATUS_CHANGED = 999
    param.MAX_SUB_CHANGED = 2999
    return param


def make_simulation_env(env: str, reward: str = "oracle") -> Any:
    """The environment Oracle4Grid simulates rewards in: always-legal rules, no protections."""
    from grid2op.Reward import L2RPNReward
    from grid2op.Rules import AlwaysLegal

    from gridoracle.grid import make_env

    if reward not in REWARDS:
        raise InvalidOption(f"reward {reward!r}: must be one of {list(REWARDS)}")
    return make_env(
        env,
        param=simulation_parameters(),
        gamerules_class=AlwaysLegal,
        reward_class=OracleL2RPNReward if reward == "oracle" else L2RPNReward,
        other_rewards={"overload_reward": OracleOverloadReward},
    )


def make_oracle_env(env: str, reward: str = "oracle") -> Any:
    """One environment for the whole Oracle: the simulation parameters, the environment's rules.

    The reward table does not ask grid2op about legality (the engine holds each action, as
    Oracle4Grid's always-legal rules let it), the reconnect-only run and the filter at t0 only
    do what those rules allow anyway, and the replay switches to the replay parameters
    (:func:`gridoracle.oracle.replay.use_replay_parameters`): making one environment instead of
    two saves a second of set-up.
    """
    from grid2op.Reward import L2RPNReward

    from gridoracle.grid import make_env

    if reward not in REWARDS:
        raise InvalidOption(f"reward {reward!r}: must be one of {list(REWARDS)}")
    return make_env(
        env,
        param=simulation_parameters(),
        reward_class=OracleL2RPNReward if reward == "oracle" else L2RPNReward,
        other_rewards={"overload_reward": OracleOverloadReward},
    )


def base_run(env: Any, chronic: int, max_iter: int, seed: int | None) -> tuple[list[Any], str]:
    """Observations after steps 1..T of a run that only reconnects lines (as the Runner seeds).

    Returns the observations and why the run stopped: ``""`` (``max_iter`` reached),
    ``"end of the chronic"``, or the game over's exception.
    """
    env.set_id(int(chronic))
    if seed is not None:
        env.seed(int(seed))
    obs = env.reset()
    observations: list[Any] = []
    for _ in range(max_iter):
        obs, _reward, done, info = env.step(reconnect_action(env.action_space, obs))
        if done:
            errors = info.get("exception") or []
            return observations, ("game over: " + "; ".join(map(str, errors))) if errors else (
                "end of the chronic"
            )
        observations.append(obs)
    return observations, ""


def _finish_runs(
    status_ok: np.ndarray, rewards: np.ndarray, flags: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A run ends at its first failed step: reward 0 and flag -1 there, NaN after."""
    n_steps, n_actions = status_ok.shape
    rewards = rewards.astype(np.float64).copy()
    overload = flags.astype(np.float64).copy()
    played = np.full(n_actions, n_steps, dtype=np.int64)
    failed = ~status_ok
    for j in np.flatnonzero(failed.any(axis=0)):
        d = int(np.argmax(failed[:, j]))
        rewards[d, j], overload[d, j] = 0.0, -1.0
        rewards[d + 1 :, j] = np.nan
        overload[d + 1 :, j] = np.nan
        played[j] = d + 1
    return rewards, overload, played


def reward_table(
    env: Any,
    engine: Any,
    actions: Sequence[ActionLike],
    chronic: int,
    max_iter: int,
    seed: int | None = 0,
    *,
    chunk: int = 16,
    reward: str = "oracle",
    backend: Backend = SERIAL,
    progress: Callable[[int, int], None] | None = None,
    env_name: str | None = None,
    cache: Path | None = None,
) -> RewardTable:
    """The reward table with the batched engine (see the module docstring).

    Parameters
    ----------
    env : grid2op Environment
        Made by :func:`make_oracle_env` (or :func:`make_simulation_env`).
    engine : BatchedEngine
        Built on ``env`` right after it was made.
    actions : sequence
        Combined actions (``name``, ``grid2op`` dict).
    chronic, max_iter, seed
        The episode: chronic index, number of steps, environment seed.
    chunk : int
        Actions solved per engine call: the unit of work, of parallelism and of resumption.
    backend : Backend
        Where the chunks are solved (:class:`gridoracle.parallel.Backend`): in this process, in
        local processes or on Dask. Every chunk is a self-contained :class:`RewardUnit`: a
        worker that did not inherit this process's environment (spawned, or on Dask) makes its
        own and replays the reconnect-only run once, then solves its chunks.
    reward : {"oracle", "l2rpn"}
        The reward ``env`` was made with. grid2op's L2RPNReward gives its minimum (0) on the
        step that ends the episode; OracleL2RPNReward does not.
    progress : callable, optional
        ``progress(done, total)`` after each chunk.
    env_name : str, optional
        The environment's name or folder as :func:`make_oracle_env` takes it: workers make their
        own environment and engine from it. Required unless ``backend`` is serial; part of the
        cache key.
    cache : Path, optional
        Folder where every finished chunk is written (atomically, ``.npy``) under a key of
        everything that determines it; a later call with the same inputs reads the chunks
        found there instead of solving them again (an interrupted run resumes).
    """
    if backend.kind != "serial" and env_name is None:
        raise ValueError("env_name is required to solve the reward table outside this process")
    observations, why = base_run(env, chronic, max_iter, seed)
    if why and why != "end of the chronic":
        log.warning(
            "the reconnect-only run of chronic %s stops after %d of %d steps (%s): every "
            "action's table stops there",
            chronic,
            len(observations),
            max_iter,
            why,
        )
    elif why:
        log.info("chronic %s has %d steps after its first state", chronic, len(observations))
    n_steps = len(observations)
    names = [a.name for a in actions]
    rewards = np.full((n_steps, len(actions)), np.nan)
    flags = np.zeros((n_steps, len(actions)), dtype=np.int8)
    status_ok = np.zeros((n_steps, len(actions)), dtype=bool)
    reused = 0
    if n_steps:
        jobs = [
            (start, min(start + chunk, len(actions))) for start in range(0, len(actions), chunk)
        ]
        store = None
        if cache is not None:
            from gridoracle.io import versions

            key = {
                "env": env_name or str(getattr(env, "env_name", "")),
                "reward": reward,
                "chronic": int(chronic),
                "max_iter": int(max_iter),
                "seed": seed,
                "n_steps": n_steps,
                "actions": [[a.name, dict(a.grid2op)] for a in actions],
                "versions": versions(),
            }
            store = _ChunkCache(Path(cache), key)
        todo = []
        done = 0
        for start, stop in jobs:
            found = None if store is None else store.read(start, stop, n_steps)
            if found is None:
                todo.append((start, stop))
                continue
            rewards[:, start:stop], flags[:, start:stop], status_ok[:, start:stop] = found
            done += stop - start
        reused = done
        if done and progress is not None:
            progress(done, len(actions))

        def merge(start: int, stop: int, result: tuple[np.ndarray, ...]) -> None:
            nonlocal done
            r, f, ok = result
            rewards[:, start:stop], flags[:, start:stop], status_ok[:, start:stop] = r, f, ok
            if store is not None:
                store.write(start, stop, r, f, ok)
            done += stop - start
            if progress is not None:
                progress(done, len(actions))

        if todo:
            name = env_name or ""
            # this process's environment, engine and episode are what a forked worker inherits
            # and what a serial run uses; spawned and Dask workers rebuild them from the unit
            context = _WorkerEpisode(env, engine)
            context.episodes[(int(chronic), int(max_iter), seed)] = _table_states(observations)
            prime_worker_state(_worker_key(name, reward), context)
            units = [
                RewardUnit(
                    name,
                    reward,
                    int(chronic),
                    int(max_iter),
                    seed,
                    start,
                    stop,
                    tuple(Action(a.name, dict(a.grid2op)) for a in actions[start:stop]),
                )
                for start, stop in todo
            ]
            try:
                for unit, result in map_units(run_reward_unit, units, backend):
                    merge(unit.start, unit.stop, result)
            finally:
                clear_worker_state()
    rewards, overload, played = _finish_runs(status_ok, rewards, flags)
    if n_steps < max_iter:  # the episode itself ended early: nobody reached the end
        played = np.minimum(played, n_steps)
    if reward == "l2rpn" and n_steps:
        ended = played == n_steps
        rewards[n_steps - 1, ended] = 0.0
    return RewardTable(names, rewards, overload, played, reused)


def _table_states(observations: Sequence[Any]) -> Any:
    """The engine's states of the reconnect-only run: timestep k is the state after step k+1."""
    return states_from_observations(observations, range(1, len(observations) + 1), horizon=0)


class _ChunkCache:
    """Finished chunks of a reward table, one ``.npy`` file each, in a folder named by its key.

    A file holds a float64 array of shape (3, T, n): rewards, overload flags and the ok mask of
    the chunk's n actions. It is written atomically; one that cannot be read back is solved again.
    """

    def __init__(self, root: Path, key: dict[str, Any]) -> None:
        import hashlib
        import json

        text = json.dumps(key, sort_keys=True, separators=(",", ":"), allow_nan=False)
        self.folder = root / f"rewards-{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    def _path(self, start: int, stop: int) -> Path:
        return self.folder / f"actions_{start:06d}-{stop:06d}.npy"

    def read(self, start: int, stop: int, n_steps: int) -> tuple[np.ndarray, ...] | None:
        path = self._path(start, stop)
        if not path.is_file():
            return None
        try:
            data = np.load(path, allow_pickle=False)
            if data.shape != (3, n_steps, stop - start) or data.dtype != np.float64:
                raise ValueError(f"shape {data.shape}, dtype {data.dtype}")
        except (OSError, ValueError) as exc:
            log.warning("cached reward chunk %s is unreadable (%s): solving it again", path, exc)
            return None
        return data[0], data[1].astype(np.int8), data[2] != 0

    def write(
        self, start: int, stop: int, rewards: np.ndarray, flags: np.ndarray, ok: np.ndarray
    ) -> None:
        import io

        from gridoracle.io import atomic_write_bytes

        self.folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        stacked = np.stack([rewards, flags.astype(np.float64), ok.astype(np.float64)])
        np.save(buffer, stacked, allow_pickle=False)
        atomic_write_bytes(self._path(start, stop), buffer.getvalue())


@dataclass(frozen=True)
class RewardUnit:
    """One chunk of the reward table, self-contained for a Dask worker (pure, idempotent)."""

    env: str
    reward: str
    chronic: int
    max_iter: int
    seed: int | None
    start: int
    stop: int
    actions: tuple[Action, ...]


class _WorkerEpisode:
    """What a Dask worker keeps between reward units: environment, engine, last episode."""

    def __init__(self, env: Any, engine: Any) -> None:
        self.env = env
        self.engine = engine
        self.episodes: dict[tuple[int, int, int | None], Any] = {}

    @classmethod
    def make(cls, env_name: str, reward: str) -> _WorkerEpisode:
        """A new environment and engine, the engine right after make (as in the parent)."""
        from gridoracle.engine.batched import BatchedEngine

        env = make_oracle_env(env_name, reward)
        return cls(env, BatchedEngine(env))

    def states(self, chronic: int, max_iter: int, seed: int | None) -> Any:
        key = (chronic, max_iter, seed)
        if key not in self.episodes:
            observations, _why = base_run(self.env, chronic, max_iter, seed)
            self.episodes.clear()
            self.episodes[key] = _table_states(observations)
        return self.episodes[key]


def _worker_key(env_name: str, reward: str) -> tuple[str, str, str]:
    return ("oracle-rewards", env_name, reward)


def run_reward_unit(unit: RewardUnit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rewards, overload flags and ok mask of one chunk, in any process (pure, idempotent)."""
    ctx = worker_state(
        _worker_key(unit.env, unit.reward), lambda: _WorkerEpisode.make(unit.env, unit.reward)
    )
    states = ctx.states(unit.chronic, unit.max_iter, unit.seed)
    return _rewards_of(ctx.engine, states, unit.actions)


def _rewards_of(
    engine: Any, states: Any, actions: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    result = engine.evaluate(states, actions, full=True, kept=True)
    assert result.rho is not None
    limit = np.asarray(engine.thermal_limit, dtype=np.float64)
    amps = np.nan_to_num(result.rho.astype(np.float64)) * limit
    return margin_reward(amps, limit), overload_flag(amps, limit), result.status == STATUS_OK


def reference_reward_table(
    env: Any, actions: Sequence[ActionLike], chronic: int, max_iter: int, seed: int | None = 0
) -> RewardTable:
    """Oracle4Grid's way: one grid2op Runner per combined action (slow; the ground truth)."""
    from grid2op.Runner import Runner

    names = [a.name for a in actions]
    rewards = np.full((max_iter, len(actions)), np.nan)
    overload = np.full((max_iter, len(actions)), np.nan)
    played = np.zeros(len(actions), dtype=np.int64)
    params = env.get_params_for_runner()
    for j, action in enumerate(actions):
        agent = OneChangeThenOnlyReconnect(env.action_space, dict(action.grid2op))
        runner = Runner(**params, agentClass=None, agentInstance=agent)
        res = runner.run(
            nb_episode=1,
            nb_process=1,
            max_iter=max_iter,
            episode_id=[int(chronic)],
            env_seeds=None if seed is None else [int(seed)],
            add_detailed_output=True,
        )
        *_, n_played, _max_ts, episode = res[0]
        played[j] = int(n_played)
        for t in range(int(n_played)):
            rewards[t, j] = float(episode.rewards[t])
            overload[t, j] = float(episode.other_rewards[t]["overload_reward"])
    return RewardTable(names, rewards, overload, played)
