"""Step 2 of the Oracle: the reward table, every combined action held over the episode.

Oracle4Grid plays each combined action with a grid2op ``Runner``: an agent applies it at the first
step then only reconnects lines, overflow disconnection is off and every action is legal. The
reward of step k+1 goes to timestep k; a run that fails ends there (reward 0, overload flag -1).

Here the injections and line statuses of every step are those of one reconnect-only episode, read
from the chronics (or played with grid2op when they cannot be read that way; see
:mod:`~gridoracle.oracle.sim.episode`); with overflow disconnection off, the topology of a combined
action at step k is then the action's buses on that state, so the batched engine solves each action
over the whole episode in one call. :func:`reference_reward_table` is Oracle4Grid's
way (one Runner per action), kept as the ground truth the tests compare against.

The table is solved in chunks of actions (:class:`RewardUnit`, self-contained: it runs in this
process, a local worker or a Dask worker), kept on disk by
:mod:`~gridoracle.oracle.sim.chunk_cache`.
:func:`steps_played` and :func:`drop_incomplete` are what Oracle4Grid does with a table whose
runs ended early.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from gridoracle.actions.model import Action
from gridoracle.engine.base import STATUS_OK, ActionLike
from gridoracle.engine.states import StateBatch
from gridoracle.oracle.core.margins import margin_reward, overload_flag
from gridoracle.oracle.sim.agents import OneChangeThenOnlyReconnect
from gridoracle.oracle.sim.chunk_cache import Chunk, ChunkCache
from gridoracle.oracle.sim.env import make_oracle_env
from gridoracle.oracle.sim.episode import (  # base_run: kept importable from here
    EpisodeStates,
    base_run,
    episode_states,
)
from gridoracle.parallel import (
    SERIAL,
    Backend,
    clear_worker_state,
    map_units,
    prime_worker_state,
    worker_state,
)
from gridoracle.progress import SILENT, Progress

__all__ = [
    "PROGRESS_LABEL",
    "RewardTable",
    "RewardUnit",
    "base_run",
    "drop_incomplete",
    "reference_reward_table",
    "reward_table",
    "run_reward_unit",
    "steps_played",
]

log = logging.getLogger(__name__)

#: what :meth:`Progress.advance` counts while the table is solved
PROGRESS_LABEL = "combined actions"


@dataclass
class RewardTable:
    """Rewards of every combined action at every timestep (Oracle4Grid's ``reward_df``).

    Attributes
    ----------
    names : list of str
        Combined action names, N of them.
    rewards : ndarray of float64, shape (T, N)
        Reward of the (k+1)-th step at timestep k; NaN after a run ended.
    overload : ndarray of float64 (float32 in ``--combine superposition``'s), shape (T, N)
        1 no overload, 0 overload, -1 error; NaN after a run ended.
    played : ndarray of int, shape (N,)
        Steps each run lasted (T when it reached the end).
    reused : int
        Actions whose rewards were read from the cache instead of solved.
    stopped : str
        Why the episode has fewer than ``max_iter`` steps (the reconnect-only run stopped
        there): ``"the end of the chronic"`` or the game over; ``""`` when it has them all.
    source : str
        Where the episode's injections and line statuses came from: ``"chronics"`` (read) or
        ``"grid2op"`` (the reconnect-only run played); ``""`` for the reference.
    """

    names: list[str]
    rewards: np.ndarray
    overload: np.ndarray
    played: np.ndarray
    reused: int = 0
    stopped: str = ""
    source: str = ""

    @property
    def n_steps(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def complete(self) -> np.ndarray:
        """Actions whose run reached the last timestep without error."""
        return (self.played == self.n_steps) & (self.overload != -1).all(axis=0)

    def overload_flags(self) -> NDArray[np.int8]:
        """The overload flags as int8, -1 after a run ended (``nan_to_num(overload, nan=-1)``),
        made a timestep at a time: no float64 copy of the (T, N) table."""
        out = np.empty(self.overload.shape, dtype=np.int8)
        for step, row in enumerate(self.overload):
            out[step] = np.nan_to_num(row, nan=-1)
        return out

    def select(self, index: Sequence[int] | np.ndarray) -> RewardTable:
        idx = np.asarray(index, dtype=np.int64)
        return RewardTable(
            [self.names[i] for i in idx],
            self.rewards[:, idx],
            self.overload[:, idx],
            self.played[idx],
            stopped=self.stopped,
            source=self.source,
        )

    def to_frame(self) -> pd.DataFrame:
        """Long format as Oracle4Grid's reward_df: one row per (action, timestep) played."""
        played = np.asarray(self.played, dtype=np.int64)
        cols = np.repeat(np.arange(len(self.names), dtype=np.int64), played)
        steps = np.concatenate([np.arange(p, dtype=np.int64) for p in played.tolist()] or [cols])
        names = np.asarray(self.names, dtype=object)[cols]
        return pd.DataFrame(
            {
                "name": names,
                "timestep": steps,
                "reward": self.rewards[steps, cols],
                "overload_reward": self.overload[steps, cols],
                "node_name": [f"{n}_t{t}" for n, t in zip(names, steps.tolist(), strict=True)],
            }
        )


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


def steps_played(rewards: ArrayLike) -> NDArray[np.int64]:
    """Steps each action's run lasted, from a reward table padded with NaN after its end.

    Parameters
    ----------
    rewards : array-like of float, shape (T, N)

    Returns
    -------
    ndarray of int64, shape (N,)
        One more than the last timestep holding a number (0 for an all-NaN column).
    """
    table = np.asarray(rewards, dtype=np.float64)
    played = ~np.isnan(table)
    t = table.shape[0]
    last = t - 1 - np.argmax(played[::-1], axis=0)
    return np.where(played.any(axis=0), last + 1, 0).astype(np.int64)


def drop_incomplete(
    n_steps: ArrayLike, names: Sequence[str], n_expected: int | None = None
) -> tuple[NDArray[np.int64], list[str]]:
    """Keep the actions whose run lasted the whole episode; warn about the others.

    Oracle4Grid drops, before building its graph, every action whose simulation ended before the
    longest one (a game over while the action was held), with a warning.

    Parameters
    ----------
    n_steps : array-like of int, shape (N,)
        Steps each action's run lasted (see :func:`steps_played`).
    names : sequence of str
        The N action names, for the warning.
    n_expected : int, optional
        Steps of a complete run; default the longest run, as Oracle4Grid.

    Returns
    -------
    kept : ndarray of int64
        Indices of the complete actions, in their order.
    warnings : list of str
        One message naming the dropped actions, or none.

    Examples
    --------
    >>> kept, warnings = drop_incomplete([6, 3, 6], ["donothing-0", "sub-1-0", "sub-2-1"])
    >>> kept.tolist()
    [0, 2]
    >>> warnings[0].endswith("dropped: sub-1-0 (3 of 6 steps)")
    True
    """
    steps = np.asarray(n_steps, dtype=np.int64)
    if steps.shape != (len(names),):
        raise ValueError(f"n_steps has shape {steps.shape}, expected ({len(names)},) like names")
    expected = int(steps.max(initial=0)) if n_expected is None else int(n_expected)
    complete = steps >= expected
    kept = np.flatnonzero(complete).astype(np.int64)
    dropped = np.flatnonzero(~complete).tolist()
    if len(dropped) == 0:
        return kept, []
    listed = ", ".join(f"{names[i]} ({steps[i]} of {expected} steps)" for i in dropped)
    verb = "action was" if len(dropped) == 1 else "actions were"
    return kept, [
        f"{len(dropped)} {verb} not simulated until the last timestep (game over while it was"
        f" held) and {'is' if len(dropped) == 1 else 'are'} dropped: {listed}"
    ]


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
    progress: Progress = SILENT,
    env_name: str | None = None,
    cache: Path | None = None,
    source: str = "auto",
) -> RewardTable:
    """The reward table with the batched engine (see the module docstring).

    Parameters
    ----------
    env : grid2op Environment
        Made by :func:`~gridoracle.oracle.sim.env.make_oracle_env`.
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
    progress : Progress
        ``progress.advance(done, total, "combined actions")`` after the cached chunks are read
        (when some are) and after each chunk solved.
    env_name : str, optional
        The environment's name or folder as :func:`~gridoracle.oracle.sim.env.make_oracle_env`
        takes it: workers make their own environment and engine from it. Required unless
        ``backend`` is serial; part of the cache key.
    cache : Path, optional
        Folder where every finished chunk is written (atomically, ``.npy``) under a key of
        everything that determines it; a later call with the same inputs reads the chunks
        found there instead of solving them again (an interrupted run resumes).
    source : {"auto", "chronics", "grid2op"}
        Where the reconnect-only episode's states come from
        (:func:`~gridoracle.oracle.sim.episode.episode_states`): by default the chronics when
        they can be read that way, else the episode played with grid2op.
    """
    if backend.kind != "serial" and env_name is None:
        raise ValueError("env_name is required to solve the reward table outside this process")
    names = [a.name for a in actions]
    reference = _reference_column(actions)
    run = _episode(env, engine if reference is None else None, chronic, max_iter, seed, source)
    episode = (env_name or "", reward, int(chronic), int(max_iter), seed)
    key_name = env_name or str(getattr(env, "env_name", ""))
    solution = _solve_table(
        run, env, engine, actions, episode, chunk, backend, progress, key_name, cache
    )
    if (
        source == "auto"
        and run.source == "chronics"
        and reference is not None
        and not solution.status_ok[:, reference].all()
    ):
        # the reference topology fails a step: the played run says where and why it stops
        failed = int(np.argmin(solution.status_ok[:, reference]))
        run = _episode(env, None, chronic, max_iter, seed, "grid2op")
        run.why_grid2op = f"the reference topology fails at timestep {failed}"
        solution = _solve_table(
            run, env, engine, actions, episode, chunk, backend, progress, key_name, cache
        )
    table = solution.table(names, max_iter, reward, run.stopped)
    table.source = run.source
    return table


def _reference_column(actions: Sequence[ActionLike]) -> int | None:
    """The index of an action that changes nothing (do nothing: the reference topology)."""
    for j, action in enumerate(actions):
        if not any(bool(v) for v in dict(action.grid2op).values()):
            return j
    return None


def _solve_table(
    run: EpisodeStates,
    env: Any,
    engine: Any,
    actions: Sequence[ActionLike],
    episode: tuple[str, str, int, int, int | None],
    chunk: int,
    backend: Backend,
    progress: Progress,
    key_name: str,
    cache: Path | None,
) -> _Solution:
    """Every chunk of the table on ``run``'s states: read from the cache or solved."""
    n_steps = run.n_steps
    solution = _Solution(n_steps, len(actions), progress)
    if not n_steps:
        return solution
    store = None
    if cache is not None:
        key = _cache_key(key_name, *episode[1:], n_steps, actions, run.source)
        store = ChunkCache(Path(cache), key)
    todo = solution.read_cached(store, _chunks(len(actions), chunk))
    units = [
        RewardUnit(
            *episode,
            start,
            stop,
            tuple(Action(a.name, dict(a.grid2op)) for a in actions[start:stop]),
            run.source,
        )
        for start, stop in todo
    ]
    if units:
        assert run.states is not None
        _solve(units, backend, _WorkerEpisode(env, engine), run.states, solution, store)
    return solution


def _episode(
    env: Any, engine: Any, chronic: int, max_iter: int, seed: int | None, source: str
) -> EpisodeStates:
    """The reconnect-only episode's states (:func:`~gridoracle.oracle.sim.episode.episode_states`).

    With ``engine``, the reference topology is checked on states read from the chronics (when
    the table has no do-nothing column to check it on). Why the episode stops before
    ``max_iter`` (the end of the chronic, a game over) is logged at INFO level only: the caller
    says it to the user (:attr:`RewardTable.stopped`).
    """
    found = episode_states(env, chronic, max_iter, seed, engine=engine, source=source)
    if found.stopped:
        log.info(
            "the reconnect-only run of chronic %s stops after %d of %d steps (%s): every "
            "action's table stops there",
            chronic,
            found.n_steps,
            max_iter,
            found.stopped,
        )
    return found


def _chunks(n_actions: int, chunk: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk, n_actions)) for start in range(0, n_actions, chunk)]


def _cache_key(
    env_name: str,
    reward: str,
    chronic: int,
    max_iter: int,
    seed: int | None,
    n_steps: int,
    actions: Sequence[ActionLike],
    source: str,
) -> dict[str, Any]:
    """Everything that determines the table's chunks (the cache folder's name hashes it)."""
    from gridoracle.io import versions

    return {
        "env": env_name,
        "reward": reward,
        "chronic": chronic,
        "max_iter": max_iter,
        "seed": seed,
        "n_steps": n_steps,
        "states": source,
        "actions": [[a.name, dict(a.grid2op)] for a in actions],
        "versions": versions(),
    }


class _Solution:
    """The table's arrays as its chunks come in (read from the cache or solved), with progress."""

    def __init__(self, n_steps: int, n_actions: int, progress: Progress) -> None:
        self.rewards = np.full((n_steps, n_actions), np.nan)
        self.flags = np.zeros((n_steps, n_actions), dtype=np.int8)
        self.status_ok = np.zeros((n_steps, n_actions), dtype=bool)
        self.progress = progress
        self.done = 0
        self.reused = 0

    def put(self, start: int, stop: int, chunk: Chunk) -> None:
        """The rewards, flags and ok mask of actions ``start:stop``."""
        rewards, flags, ok = chunk
        self.rewards[:, start:stop], self.flags[:, start:stop] = rewards, flags
        self.status_ok[:, start:stop] = ok
        self.done += stop - start

    def advance(self) -> None:
        self.progress.advance(self.done, self.rewards.shape[1], PROGRESS_LABEL)

    def read_cached(
        self, store: ChunkCache | None, chunks: Sequence[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """Put the chunks ``store`` holds; returns those left to solve."""
        todo = []
        n_steps = self.rewards.shape[0]
        for start, stop in chunks:
            found = None if store is None else store.read(start, stop, n_steps)
            if found is None:
                todo.append((start, stop))
            else:
                self.put(start, stop, found)
        self.reused = self.done
        if self.done:
            self.advance()
        return todo

    def table(self, names: list[str], max_iter: int, reward: str, stopped: str) -> RewardTable:
        """The finished table: runs end at their first failed step, as the Runner's do."""
        n_steps = self.rewards.shape[0]
        rewards, overload, played = _finish_runs(self.status_ok, self.rewards, self.flags)
        if n_steps < max_iter:  # the episode itself ended early: nobody reached the end
            played = np.minimum(played, n_steps)
        if reward == "l2rpn" and n_steps:
            ended = played == n_steps
            rewards[n_steps - 1, ended] = 0.0
        return RewardTable(names, rewards, overload, played, self.reused, stopped)


def _solve(
    units: Sequence[RewardUnit],
    backend: Backend,
    context: _WorkerEpisode,
    states: StateBatch,
    solution: _Solution,
    store: ChunkCache | None,
) -> None:
    """Solve ``units`` on ``backend`` into ``solution`` (and ``store``), as they complete.

    ``context`` (this process's environment and engine) and the episode's states are what a
    forked worker inherits and what a serial run uses; spawned and Dask workers rebuild them
    from the unit.
    """
    first = units[0]
    context.episodes[(first.chronic, first.max_iter, first.seed, first.source)] = states
    prime_worker_state(_worker_key(first.env, first.reward), context)
    try:
        for unit, result in map_units(run_reward_unit, units, backend):
            solution.put(unit.start, unit.stop, result)
            if store is not None:
                store.write(unit.start, unit.stop, *result)
            solution.advance()
    finally:
        clear_worker_state()


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
    source: str = "auto"


class _WorkerEpisode:
    """What a Dask worker keeps between reward units: environment, engine, last episode."""

    def __init__(self, env: Any, engine: Any) -> None:
        self.env = env
        self.engine = engine
        self.episodes: dict[tuple[int, int, int | None, str], Any] = {}

    @classmethod
    def make(cls, env_name: str, reward: str) -> _WorkerEpisode:
        """A new environment and engine, the engine right after make (as in the parent)."""
        from gridoracle.engine.batched import BatchedEngine

        env = make_oracle_env(env_name, reward)
        return cls(env, BatchedEngine(env))

    def states(self, chronic: int, max_iter: int, seed: int | None, source: str = "auto") -> Any:
        key = (chronic, max_iter, seed, source)
        if key not in self.episodes:
            found = episode_states(
                self.env, chronic, max_iter, seed, engine=self.engine, source=source
            )
            self.episodes.clear()
            self.episodes[key] = found.states
        return self.episodes[key]


def _worker_key(env_name: str, reward: str) -> tuple[str, str, str]:
    return ("oracle-rewards", env_name, reward)


def run_reward_unit(unit: RewardUnit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rewards, overload flags and ok mask of one chunk, in any process (pure, idempotent)."""
    ctx = worker_state(
        _worker_key(unit.env, unit.reward), lambda: _WorkerEpisode.make(unit.env, unit.reward)
    )
    states = ctx.states(unit.chronic, unit.max_iter, unit.seed, unit.source)
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
