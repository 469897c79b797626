"""Opponents with grid2op: main runs with the opponent, attack windows, the multiverse.

Oracle4Grid (``core/reward_computation/{run_many,run_one,attacks_multiverse}.py``) runs
whenever the environment has an opponent (configured in its ``config.py``: attack cooldown,
duration, budget, lines attacked):

1. **Main runs** (:func:`main_runs`): each combined action held over the episode by an agent
   that applies it at the first step then only reconnects lines (overflow disconnection off),
   the environment's own opponent active. The episode is reset as grid2op's Runner does with
   ``env_seeds=[seed]`` (``env.reset(seed=seed, options={"time serie id": chronic})``), so that
   ``--seed N`` gives the attacks Oracle4Grid's ``env_seed N`` gives. Each step records its
   attack (``env._oppSpace.last_attack``, what the Runner stores) and ``attack_id``, the first
   line it disconnects (NaN when none). The opponent's draws depend on the run (which lines are
   connected, their loading): two actions may see different attacks in the same window.
2. **Windows** (:func:`gridoracle.oracle.core.universes.attack_windows`).
3. **Multiverse** (:func:`resimulate`): for each window ``[begin, end]`` and each attack a seen
   in it, every action whose main run a did not hit is run again with a: an environment without
   opponent and with always-legal rules (:func:`make_universe_env`, made once per process and
   chronic), reset at
   chronic row ``begin + 1`` (``options={"init ts": begin + 1}``), the action's grid2op dict
   without the bus settings of the attacked lines' ends, plus the attack (the attacked lines
   stay out: the agent never reconnects what its action disconnects), for ``end - begin`` steps:
   timesteps ``begin+1 .. end``. Oracle4Grid makes a fresh environment on ``FromNPY`` chronics
   starting at that row for each such run and plays it with a Runner
   (:func:`reference_universe_run`, the ground truth the tests compare against: rewards agree
   within 1e-6).

Both kinds of runs are self-contained units (:class:`MainRunUnit`, :class:`UniverseUnit`) mapped
on a :class:`~gridoracle.parallel.Backend`: in this process, local processes or Dask, with the
same results (a worker makes its environment from the environment's name).

With a ``cache`` folder (the Oracle's ``<output>/.cache``) each finished run is kept there as it
completes (:class:`~gridoracle.oracle.sim.chunk_cache.RunCache`, folder ``opponent-<hash>``), and
a later call with the same inputs reads it instead of running it again: an interrupted Oracle
resumes with the same numbers. The folder's key is what every run of the episode shares
(:func:`run_cache_key`: the environment's folder, chronic, seed, reward, parameters, legality
rules, opponent, versions); each run's file is named by what decides that run beyond it (the
action's grid2op dict and ``max_iter`` for a main run; the window and the attacked lines for a
multiverse run).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from grid2op.Agent import BaseAgent

from gridoracle.actions.model import Action
from gridoracle.engine.base import ActionLike
from gridoracle.oracle.core.universes import UniverseTable, Window, attack_windows
from gridoracle.oracle.sim.agents import (
    OneChangeThenOnlyReconnect,
    OracleL2RPNReward,
    OracleOverloadReward,
)
from gridoracle.oracle.sim.chunk_cache import RunCache
from gridoracle.oracle.sim.rewards import RewardTable
from gridoracle.parallel import (
    SERIAL,
    Backend,
    clear_worker_state,
    map_units,
    prime_worker_state,
    worker_state,
)
from gridoracle.progress import SILENT, Progress

log = logging.getLogger(__name__)

U = TypeVar("U", "MainRunUnit", "UniverseUnit")

#: what :meth:`Progress.advance` counts during the main runs and the multiverse
MAIN_LABEL = "main runs with the opponent"
MULTIVERSE_LABEL = "multiverse runs"


def opponent_settings(env: Any) -> dict[str, Any]:
    """The opponent's configuration, for ``summary.json``."""
    space = env._oppSpace
    lines = getattr(space.opponent, "_lines_ids", None)
    return {
        "class": type(space.opponent).__name__,
        "attack_cooldown": int(space.attack_cooldown),
        "attack_duration": int(space.attack_max_duration),
        "budget_per_ts": float(space.budget_per_timestep),
        "init_budget": float(space.init_budget),
        "lines_attacked": [] if lines is None else [int(i) for i in np.asarray(lines)],
    }


def attack_lines(attack: Any) -> list[int]:
    """Lines an attack (a grid2op action) disconnects, in index order (``[]`` for none)."""
    if attack is None:
        return []
    return [int(i) for i in np.flatnonzero(np.asarray(attack.line_set_status) == -1)]


@dataclass
class MainRuns:
    """The main runs with the opponent.

    Attributes
    ----------
    table : RewardTable
        Rewards and overload flags, as without opponent.
    attack_id : ndarray of float64, shape (T, N)
        First line attacked at each step, NaN when none (NaN after a run ended).
    attacks : dict of float to list of int
        The lines each attack id disconnects (the first attack seen with that id).
    attack_text : dict of float to str
        Each attack as a grid2op dict (JSON), the ``attacks`` column of reward_df.csv.
    """

    table: RewardTable
    attack_id: np.ndarray
    attacks: dict[float, list[int]] = field(default_factory=dict)
    attack_text: dict[float, str] = field(default_factory=dict)


def _play(
    env: Any, agent: BaseAgent, obs: Any, n_steps: int
) -> tuple[list[float], list[float], list[Any], str]:
    """Play ``agent`` for up to ``n_steps`` steps: rewards, flags, attacks, why it stopped."""
    rewards: list[float] = []
    flags: list[float] = []
    attacks: list[Any] = []
    reward, done = float(env.reward_range[0]), False
    for _ in range(n_steps):
        obs, reward, done, info = env.step(agent.act(obs, reward, done))
        rewards.append(float(reward))
        flags.append(float(info.get("rewards", {}).get("overload_reward", np.nan)))
        attacks.append(env._oppSpace.last_attack)
        if done:
            errors = info.get("exception") or []
            why = (
                "game over: " + "; ".join(map(str, errors)) if errors else "the end of the chronic"
            )
            return rewards, flags, attacks, why
    return rewards, flags, attacks, ""


def main_runs(
    env: Any,
    actions: Sequence[ActionLike],
    chronic: int,
    max_iter: int,
    seed: int | None,
    progress: Progress = SILENT,
    *,
    backend: Backend = SERIAL,
    env_name: str | None = None,
    reward: str = "oracle",
    cache: Path | None = None,
) -> MainRuns:
    """Every combined action held over the episode, the environment's opponent active.

    Parameters
    ----------
    env : grid2op Environment
        With its opponent, overflow disconnection off (:func:`make_oracle_env`'s rules).
    actions : sequence
        Combined actions (``name``, ``grid2op`` dict).
    chronic, max_iter, seed
        The episode; ``seed`` as the Runner's ``env_seeds=[seed]`` (None: not seeded).
    progress : Progress
        ``advance(done, total, "main runs with the opponent")`` after each run.
    backend : Backend
        Where the runs are played, one unit per action (:class:`MainRunUnit`); outside this
        process each worker makes its own environment from ``env_name`` and ``reward``.
    cache : Path, optional
        Keep each finished run in this folder, and read those of the same inputs found there
        instead of running them again (see the module docstring).

    Returns
    -------
    MainRuns
        A run that ends (game over, or the end of the chronic) stops its rows there, its last
        step recorded as the Runner records it. ``table.reused`` counts the runs read from
        ``cache``.
    """
    n = len(actions)
    rewards = np.full((max_iter, n), np.nan)
    overload = np.full((max_iter, n), np.nan)
    ids = np.full((max_iter, n), np.nan)
    played = np.zeros(n, dtype=np.int64)
    lines_of: dict[float, list[int]] = {}
    text_of: dict[float, str] = {}
    stopped = ""
    units = [
        MainRunUnit(
            env_name or "",
            reward,
            int(chronic),
            int(max_iter),
            seed,
            j,
            Action(a.name, dict(a.grid2op)),
        )
        for j, a in enumerate(actions)
    ]
    store = None if cache is None else RunCache(cache, run_cache_key(env, chronic, seed, reward))
    done, reused = _run_cached(
        run_main_unit, units, _MAIN, store, _Context(env, env_name, reward, backend), progress
    )
    results = {unit.index: result for unit, result in done}
    for j in range(n):  # in action order: the first attack seen with an id is Oracle4Grid's
        got, flags, attacks, why = results[j]
        steps = len(got)
        played[j] = steps
        rewards[:steps, j] = got
        overload[:steps, j] = flags
        for t, (lines, text) in enumerate(attacks):
            if lines:
                key = float(lines[0])
                ids[t, j] = key
                if key not in lines_of:
                    lines_of[key] = list(lines)
                    text_of[key] = text
        if why == "the end of the chronic":
            stopped = why
    n_steps = int(played.max(initial=0))
    if n_steps < max_iter:  # no run reached max_iter: the episode is the longest run
        rewards, overload, ids = rewards[:n_steps], overload[:n_steps], ids[:n_steps]
        stopped = stopped or "every run ended in a game over"
    names = [a.name for a in actions]
    table = RewardTable(names, rewards, overload, played, reused=reused, stopped=stopped)
    return MainRuns(table, ids, lines_of, text_of)


#: a main run's rows: rewards, overload flags, (lines, text) of each step's attack, why it ended
_MainResult = tuple[list[float], list[float], list[tuple[tuple[int, ...], str]], str]


@dataclass(frozen=True)
class MainRunUnit:
    """One main run, self-contained for a worker process (pure, idempotent)."""

    env: str
    reward: str
    chronic: int
    max_iter: int
    seed: int | None
    index: int
    action: Action


@dataclass(frozen=True)
class UniverseUnit:
    """One multiverse run, self-contained for a worker process (pure, idempotent)."""

    env: str
    reward: str
    chronic: int
    seed: int | None
    window: int
    attack: int
    index: int
    begin: int
    end: int
    lines: tuple[int, ...]
    action: Action


class _OpponentWorker:
    """What a worker keeps: the environment with the opponent, and the multiverse's one."""

    def __init__(self, env: Any, reward: str) -> None:
        self.env = env
        self.reward = reward
        self.universe: Any = None
        self.chronic: int | None = None

    @classmethod
    def make(cls, env_name: str, reward: str) -> _OpponentWorker:
        from gridoracle.oracle.sim.env import make_oracle_env

        return cls(make_oracle_env(env_name, reward), reward)

    def universe_env(self, chronic: int, seed: int | None) -> Any:
        """The multiverse environment of ``chronic`` (made once per chronic)."""
        if self.universe is None or self.chronic != chronic:
            self.close_universe()
            self.env.reset(seed=seed, options={"time serie id": int(chronic)})
            self.universe = make_universe_env(self.env, self.reward)
            self.chronic = chronic
        return self.universe

    def close_universe(self) -> None:
        if self.universe is not None:
            self.universe.close()
        self.universe, self.chronic = None, None


def _key(env_name: str, reward: str) -> tuple[str, str, str]:
    return ("oracle-opponent", env_name, reward)


@contextmanager
def _workers(env: Any, env_name: str | None, reward: str, backend: Backend) -> Iterator[None]:
    """This process's worker state is ``env`` (serial runs, forked workers) while in the block."""
    if backend.kind != "serial" and env_name is None:
        raise ValueError("env_name is required to run the opponent's runs outside this process")
    worker = _OpponentWorker(env, reward)
    prime_worker_state(_key(env_name or "", reward), worker)
    try:
        yield
    finally:
        worker.close_universe()
        clear_worker_state()


def _worker(unit: MainRunUnit | UniverseUnit) -> _OpponentWorker:
    return worker_state(
        _key(unit.env, unit.reward), lambda: _OpponentWorker.make(unit.env, unit.reward)
    )


def run_main_unit(unit: MainRunUnit) -> _MainResult:
    """One main run in any process: reset as the Runner does, the action, then reconnections."""
    env = _worker(unit).env
    options = {"time serie id": int(unit.chronic)}
    obs = env.reset(seed=None if unit.seed is None else int(unit.seed), options=options)
    agent = OneChangeThenOnlyReconnect(env.action_space, dict(unit.action.grid2op))
    agent.reset(obs)
    got, flags, attacks, why = _play(env, agent, obs, unit.max_iter)
    described: list[tuple[tuple[int, ...], str]] = []
    for attack in attacks:
        lines = tuple(attack_lines(attack))
        text = json.dumps(attack.as_serializable_dict(), sort_keys=True) if lines else ""
        described.append((lines, text))
    return got, flags, described, why


def run_universe_unit(unit: UniverseUnit) -> tuple[list[float], list[float]]:
    """One multiverse run in any process."""
    env = _worker(unit).universe_env(unit.chronic, unit.seed)
    window = Window(unit.begin, unit.end, (), np.zeros((0, 0), dtype=bool))
    return universe_run(env, unit.action.grid2op, unit.lines, window, unit.chronic, unit.seed)


# --------------------------------------------------------------------------------------------
# the runs kept in the cache folder


def run_cache_key(env: Any, chronic: int, seed: int | None, reward: str) -> dict[str, Any]:
    """What every main and multiverse run of an episode shares (the cache folder's key).

    The environment's folder, the chronic, the seed, the reward, the environment's parameters
    and legality rules (those of the main runs; the multiverse's are fixed), its opponent and
    the versions of what computes the runs.
    """
    from gridoracle.io import versions

    return {
        "env": str(env.get_path_env()),
        "chronic": int(chronic),
        "seed": None if seed is None else int(seed),
        "reward": reward,
        "reward_class": env._rewardClass.__name__,
        "parameters": env.parameters.to_dict(),
        "rules": type(env._game_rules.legal_action).__name__,
        "opponent": {
            **opponent_settings(env),
            "action_class": env._opponent_action_class.__name__,
        },
        "versions": versions(),
    }


@dataclass(frozen=True)
class _RunKind:
    """How the runs of one kind are named, kept and read back in a :class:`RunCache`."""

    name: str
    label: str
    #: a unit's key beyond the folder's
    key: Callable[[Any], dict[str, Any]]
    #: a result as its arrays and what else the run returned (JSON)
    encode: Callable[[Any], tuple[dict[str, np.ndarray], Any]]
    #: back to the result; raises ValueError (KeyError, TypeError) on anything unexpected
    decode: Callable[[dict[str, np.ndarray], Any], Any]


def _floats(arrays: dict[str, np.ndarray], *names: str) -> list[list[float]]:
    """The 1-D arrays ``names``, all of one length, as lists of floats."""
    found = [arrays[name] for name in names]
    if any(a.ndim != 1 or len(a) != len(found[0]) for a in found):
        raise ValueError(f"arrays {names} of shapes {[a.shape for a in found]}")
    return [a.tolist() for a in found]


def _main_key(unit: MainRunUnit) -> dict[str, Any]:
    return {"max_iter": unit.max_iter, "action": dict(unit.action.grid2op)}


def _encode_main(result: _MainResult) -> tuple[dict[str, np.ndarray], Any]:
    got, flags, attacks, why = result
    meta = {"attacks": [[list(lines), text] for lines, text in attacks], "why": why}
    return {"rewards": np.asarray(got), "flags": np.asarray(flags)}, meta


def _decode_main(arrays: dict[str, np.ndarray], meta: Any) -> _MainResult:
    got, flags = _floats(arrays, "rewards", "flags")
    attacks = [(tuple(int(i) for i in lines), str(text)) for lines, text in meta["attacks"]]
    if len(attacks) != len(got) or not isinstance(meta["why"], str):
        raise ValueError(f"{len(attacks)} attacks for {len(got)} steps")
    return got, flags, attacks, meta["why"]


def _universe_key(unit: UniverseUnit) -> dict[str, Any]:
    return {
        "begin": unit.begin,
        "end": unit.end,
        "lines": list(unit.lines),
        "action": dict(unit.action.grid2op),
    }


def _encode_universe(
    result: tuple[list[float], list[float]],
) -> tuple[dict[str, np.ndarray], Any]:
    got, flags = result
    return {"rewards": np.asarray(got), "flags": np.asarray(flags)}, None


def _decode_universe(arrays: dict[str, np.ndarray], meta: Any) -> tuple[list[float], list[float]]:
    got, flags = _floats(arrays, "rewards", "flags")
    return got, flags


_MAIN = _RunKind("main", MAIN_LABEL, _main_key, _encode_main, _decode_main)
_UNIVERSE = _RunKind(
    "universe", MULTIVERSE_LABEL, _universe_key, _encode_universe, _decode_universe
)


@dataclass(frozen=True)
class _Context:
    """Where the runs are played: this process's environment, or workers' (from its name)."""

    env: Any
    env_name: str | None
    reward: str
    backend: Backend


def _run_cached(
    fn: Callable[[U], Any],
    units: Sequence[U],
    kind: _RunKind,
    store: RunCache | None,
    context: _Context,
    progress: Progress,
) -> tuple[list[tuple[U, Any]], int]:
    """``(unit, result)`` of every unit, read from ``store`` or run on the context's backend
    (each result kept in ``store`` as it comes, before progress is told); and how many were
    read. With every run read, no environment is made and no backend is used."""
    done: list[tuple[U, Any]] = []
    todo: list[U] = []
    for unit in units:
        found = None if store is None else store.read(kind.name, kind.key(unit), kind.decode)
        if found is None:
            todo.append(unit)
        else:
            done.append((unit, found))
    reused = len(done)
    if store is not None and reused:
        log.info("%d of %d %s read from %s", reused, len(units), kind.label, store.folder)
        progress.advance(reused, len(units), kind.label)
    if todo:
        with _workers(context.env, context.env_name, context.reward, context.backend):
            for unit, result in map_units(fn, todo, context.backend):
                if store is not None:
                    store.write(kind.name, kind.key(unit), *kind.encode(result))
                done.append((unit, result))
                progress.advance(len(done), len(units), kind.label)
    return done, reused


def make_universe_env(env: Any, reward: str = "oracle") -> Any:
    """The environment of the multiverse runs of the chronic ``env`` has loaded.

    No opponent, always-legal rules, no overflow disconnection, and the chronic's rows held in
    memory (grid2op's ``FromNPY``: ``load_p``, ``load_q``, ``prod_p``, ``prod_v``, maintenance;
    as Oracle4Grid's ``create_env_late_start_multivers``), so that each run's reset at
    ``options={"init ts": begin + 1}`` reads no file.
    """
    import grid2op
    from grid2op.Action import DontAct, PlayableAction
    from grid2op.Chronics import FromNPY
    from grid2op.Reward import L2RPNReward
    from grid2op.Rules import AlwaysLegal
    from lightsim2grid import LightSimBackend

    from gridoracle.oracle.sim.env import simulation_parameters

    return grid2op.make(
        env.get_path_env(),
        backend=LightSimBackend(),
        param=simulation_parameters(),
        reward_class=OracleL2RPNReward if reward == "oracle" else L2RPNReward,
        other_rewards={"overload_reward": OracleOverloadReward},
        gamerules_class=AlwaysLegal,
        action_class=PlayableAction,
        opponent_init_budget=0.0,
        opponent_budget_per_ts=0.0,
        opponent_action_class=DontAct,
        chronics_class=FromNPY,
        data_feeding_kwargs=_chronic_rows(env),
    )


def _chronic_rows(env: Any) -> dict[str, Any]:
    """The rows of the chronic ``env`` has loaded, as grid2op's ``FromNPY`` takes them (copies:
    ``load_p``, ``load_q``, ``prod_p``, ``prod_v`` (None where the chronic has none), maintenance).
    """
    data = env.chronics_handler.real_data.data
    return {
        "load_p": 1.0 * data.load_p,
        "load_q": 1.0 * data.load_q,
        "prod_p": 1.0 * data.prod_p,
        "prod_v": None if data.prod_v is None else 1.0 * data.prod_v,
        "maintenance": data.maintenance,
    }


def universe_action(action_space: Any, action_dict: Mapping[str, Any], lines: Sequence[int]) -> Any:
    """The action of a multiverse run: ``action_dict`` without the bus settings of the attacked
    lines' ends (set and change), plus the attack (the lines set to -1)."""
    action = action_space(dict(action_dict))
    for line in lines:
        action.line_or_set_bus = [(int(line), 0)]
        action.line_ex_set_bus = [(int(line), 0)]
        if action.line_or_change_bus[line]:
            action.line_or_change_bus = [int(line)]
        if action.line_ex_change_bus[line]:
            action.line_ex_change_bus = [int(line)]
    attack = action_space({"set_line_status": [(int(line), -1) for line in lines]})
    return action + attack


class HoldThenReconnect(OneChangeThenOnlyReconnect):
    """:class:`OneChangeThenOnlyReconnect` given a grid2op action instead of a dict."""

    def __init__(self, action_space: Any, action: Any) -> None:
        BaseAgent.__init__(self, action_space)
        self.action_dict = {}
        self.action = action
        self.untouchable = np.flatnonzero(np.asarray(action.line_set_status) == -1)
        self.has_changed = False


def resimulate(
    env: Any,
    actions: Sequence[ActionLike],
    runs: MainRuns,
    chronic: int,
    seed: int | None,
    progress: Progress = SILENT,
    *,
    backend: Backend = SERIAL,
    env_name: str | None = None,
    reward: str = "oracle",
    cache: Path | None = None,
) -> UniverseTable:
    """The multiverse of the main runs' windows, and the whole table of the episode.

    Parameters
    ----------
    env : grid2op Environment
        The environment of the main runs: the multiverse's own (:func:`make_universe_env`, no
        opponent, always legal) is made from the chronic it loads.
    actions : sequence
        The combined actions of ``runs``, in the same order.
    runs : MainRuns
    chronic, seed
        The episode, as for the main runs.
    progress, backend, env_name, reward, cache
        As for :func:`main_runs` (one :class:`UniverseUnit` per run).
    """
    table = runs.table
    windows = attack_windows(runs.attack_id)
    blocks, flag_blocks = [], []
    for window in windows:
        shape = (len(window.attacks), window.n_steps - 1, len(actions))
        blocks.append(np.full(shape, np.nan))
        flag_blocks.append(np.full(shape, np.nan))
    units = [
        UniverseUnit(
            env_name or "",
            reward,
            int(chronic),
            seed,
            w,
            k,
            y,
            window.begin,
            window.end,
            tuple(runs.attacks[window.attacks[k]]),
            Action(actions[y].name, dict(actions[y].grid2op)),
        )
        for w, window in enumerate(windows)
        for k in range(len(window.attacks))
        for y in range(len(actions))
        if not window.native[k, y] and window.n_steps > 1
    ]
    store = None if cache is None else RunCache(cache, run_cache_key(env, chronic, seed, reward))
    done, _reused = _run_cached(
        run_universe_unit,
        units,
        _UNIVERSE,
        store,
        _Context(env, env_name, reward, backend),
        progress,
    )
    for unit, (got, flags) in done:
        blocks[unit.window][unit.attack, : len(got), unit.index] = got
        flag_blocks[unit.window][unit.attack, : len(got), unit.index] = flags
    return UniverseTable(
        table.rewards, table.overload, runs.attack_id, windows, blocks, flag_blocks
    )


def universe_run(
    env: Any,
    action_dict: Mapping[str, Any],
    lines: Sequence[int],
    window: Window,
    chronic: int,
    seed: int | None,
) -> tuple[list[float], list[float]]:
    """Rewards and overload flags of one multiverse run (timesteps ``begin+1 .. end``)."""
    options = {"init ts": int(window.begin) + 1}
    obs = env.reset(seed=None if seed is None else int(seed), options=options)
    agent = HoldThenReconnect(
        env.action_space, universe_action(env.action_space, action_dict, lines)
    )
    agent.reset(obs)
    got, flags, _attacks, _why = _play(env, agent, obs, window.end - window.begin)
    return got, flags


def reference_universe_run(
    env: Any,
    action_dict: Mapping[str, Any],
    lines: Sequence[int],
    begin: int,
    end: int,
    seed: int | None,
    reward: str = "oracle",
) -> list[float]:
    """Oracle4Grid's way (``create_env_late_start_multivers`` + ``run_one``): a fresh environment
    on ``FromNPY`` chronics of rows ``begin+1 .. end`` of the chronic ``env`` has loaded, no
    opponent, always legal, played by a grid2op Runner (slow; the ground truth)."""
    import grid2op
    from grid2op.Action import DontAct, PlayableAction
    from grid2op.Chronics import FromNPY
    from grid2op.Reward import L2RPNReward
    from grid2op.Rules import AlwaysLegal
    from grid2op.Runner import Runner
    from lightsim2grid import LightSimBackend

    from gridoracle.oracle.sim.env import simulation_parameters

    universe = grid2op.make(
        env.get_path_env(),
        backend=LightSimBackend(),
        param=simulation_parameters(),
        reward_class=OracleL2RPNReward if reward == "oracle" else L2RPNReward,
        other_rewards={"overload_reward": OracleOverloadReward},
        gamerules_class=AlwaysLegal,
        action_class=PlayableAction,
        opponent_init_budget=0,
        opponent_action_class=DontAct,
        chronics_class=FromNPY,
        data_feeding_kwargs={"i_start": begin + 1, "i_end": end + 1, **_chronic_rows(env)},
    )
    try:
        action = universe_action(universe.action_space, action_dict, lines)
        agent = HoldThenReconnect(universe.action_space, action)
        runner = Runner(**universe.get_params_for_runner(), agentClass=None, agentInstance=agent)
        with warnings.catch_warnings():  # FromNPY: "tell_id has no impact", as expected here
            warnings.simplefilter("ignore", UserWarning)
            res = runner.run(
                nb_episode=1,
                max_iter=end - begin,
                env_seeds=None if seed is None else [int(seed)],
                add_detailed_output=True,
            )
        *_, n_played, _max_ts, episode = res[0]
        return [float(episode.rewards[t]) for t in range(int(n_played))]
    finally:
        universe.close()
