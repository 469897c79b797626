"""The reconnect-only episode the reward table is solved on: read from the chronics, or played.

Oracle4Grid's Runner holds each combined action over an episode where the agent, after its one
change, only reconnects lines whose cooldown is over; overflow disconnection is off. Every
action's run then shares the injections and the line statuses of one run: the chronic's rows and
what maintenance and hazards do to the lines. Timestep k of the table is the state after step
k+1, that is row k+1 of the chronic (``env.reset`` plays row 0). The episode has
``env.max_episode_duration()`` steps (the chronic's rows less one); the step that reaches the last
row ends the episode (``done``) with a valid reward, and the Runner counts it.

:func:`episode_states` gives these states in one of two ways:

- ``"chronics"``: from the arrays grid2op's chronics handler holds after ``reset`` (``load_p``,
  ``load_q``, ``prod_p``, ``prod_v``, maintenance and hazards with their durations), as
  lightsim2grid's time-series tools read them, with the reconnect-only agent's line statuses and
  cooldowns replayed by :func:`_line_timeline` (grid2op's own bookkeeping: the cooldown of a line
  entering maintenance is its duration, hazards likewise, the agent reconnects a line at the step
  after its cooldown reaches 0). Generator set points are the chronic's, as grid2op gives them to
  the backend (the slack's share is solved by the power flow); voltages are the chronic's
  ``prod_v``, or the voltages after ``reset`` when the chronic has none (the backend keeps its own).
  No power flow is run here: the caller checks that the reference topology solves every step
  (:func:`episode_states` with an engine does) and plays the episode otherwise.
- ``"grid2op"``: the reconnect-only run played step by step (:func:`base_run`), its observations
  gathered. It is used when the chronics cannot be read that way (:func:`chronics_unreadable`
  says why): an environment with an opponent (its attacks need the run), overflow disconnection
  on, chronics that are not one of grid2op's file-based ``GridStateFromFile`` classes read whole
  (``chunk_size`` set, ``FromNPY``, ``FromHandlers``, multi-mix...), or when the reference
  topology does not solve some step (a game over, whose step and message the run gives).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridoracle.engine.states import StateBatch, states_from_observations
from gridoracle.oracle.sim.agents import reconnect_action
from gridoracle.oracle.sim.env import has_opponent

log = logging.getLogger(__name__)

#: how :func:`episode_states` may get the states: the chronics when they can be read, grid2op
SOURCES: tuple[str, ...] = ("auto", "chronics", "grid2op")
#: why the episode stops before ``max_iter`` when the chronic has no more rows
END_OF_CHRONIC = "the end of the chronic"


@dataclass
class EpisodeStates:
    """The states of the reward table's timesteps, and how they were obtained.

    Attributes
    ----------
    states : StateBatch or None
        Timestep k is the state after step k+1 (None when the run stopped before its first step).
    stopped : str
        Why the episode has fewer than ``max_iter`` steps: :data:`END_OF_CHRONIC`, the game
        over's message, or ``""`` when it has them all.
    source : {"chronics", "grid2op"}
        Where the states come from.
    why_grid2op : str
        When ``source`` is ``"grid2op"``: why the chronics were not used.
    """

    states: StateBatch | None
    stopped: str
    source: str
    why_grid2op: str = ""

    @property
    def n_steps(self) -> int:
        return 0 if self.states is None else len(self.states)


def chronics_unreadable(env: Any) -> str:
    """Why the reconnect-only episode of ``env`` cannot be read from its chronics ("" if it can).

    Call it after ``env.reset()`` (the chronic's arrays are loaded then).
    """
    from grid2op.Chronics import GridStateFromFile, Multifolder

    if has_opponent(env):
        return "the environment has an opponent"
    if not bool(env.parameters.NO_OVERFLOW_DISCONNECTION):
        return "overflow disconnection is on"
    handler = env.chronics_handler.real_data
    if not isinstance(handler, Multifolder):
        return f"its chronics are a {type(handler).__name__}, not a Multifolder"
    data = getattr(handler, "data", None)
    if not isinstance(data, GridStateFromFile):
        return f"its chronic is a {type(data).__name__}, not a GridStateFromFile"
    if data.chunk_size is not None:
        return "its chronics are read by chunks"
    if data.load_p is None or data.load_q is None or data.prod_p is None:
        return "its chronic lacks load_p, load_q or prod_p"
    return ""


def episode_states(
    env: Any,
    chronic: int,
    max_iter: int,
    seed: int | None,
    *,
    engine: Any = None,
    source: str = "auto",
) -> EpisodeStates:
    """The states of the reconnect-only episode (see the module docstring).

    Parameters
    ----------
    env : grid2op Environment
        Made by :func:`~gridoracle.oracle.sim.env.make_oracle_env`; it is reset on ``chronic``.
    chronic, max_iter, seed
        The episode: chronic index, number of steps, environment seed.
    engine : BatchedEngine, optional
        With ``source="auto"``: the reference topology is solved on the chronic's states (one
        time-series call) and the episode is played with grid2op if some step fails.
    source : {"auto", "chronics", "grid2op"}
        ``"auto"``: the chronics when they can be read, else grid2op; ``"chronics"`` raises
        ValueError when they cannot; ``"grid2op"``: always play the episode.
    """
    if source not in SOURCES:
        raise ValueError(f"source {source!r}: must be one of {list(SOURCES)}")
    why = "asked for" if source == "grid2op" else ""
    if not why:
        obs = reset_episode(env, chronic, seed, max_iter)
        why = chronics_unreadable(env)
        if why and source == "chronics":
            raise ValueError(f"the chronics of chronic {chronic} cannot be read: {why}")
    if not why:
        states, stopped = chronic_states(env, obs, max_iter)
        if states is None or engine is None or source == "chronics":
            return EpisodeStates(states, stopped, "chronics")
        why = _reference_fails(engine, states)
        if not why:
            return EpisodeStates(states, stopped, "chronics")
    observations, stopped = base_run(env, chronic, max_iter, seed)
    if why != "asked for":
        log.info("chronic %s: the episode is played with grid2op (%s)", chronic, why)
    states = _observation_states(observations) if observations else None
    return EpisodeStates(states, stopped, "grid2op", why)


def reset_episode(env: Any, chronic: int, seed: int | None, max_iter: int) -> Any:
    """Reset ``env`` on ``chronic`` for ``max_iter`` steps as grid2op's Runner does.

    ``env.reset(seed=..., options={"time serie id": chronic, "max step": max_iter})``: the
    episode ends (``done``) at step ``max_iter`` or at the chronic's end, and only the rows it
    needs are read (chronics whose maintenance is drawn at random draw it on those rows, as in
    the Runner). A shorter limit set on ``env`` with ``set_max_iter`` is kept. Returns the first
    observation.
    """
    limit = int(getattr(env, "_max_iter", -1) or -1)
    steps = int(max_iter) if limit <= 0 else min(limit, int(max_iter))
    options = {"time serie id": int(chronic), "max step": max(steps, 1)}
    return env.reset(seed=None if seed is None else int(seed), options=options)


def _reference_fails(engine: Any, states: StateBatch) -> str:
    """Why the reference topology does not solve every state ("" if it does)."""
    from gridoracle.actions.model import Action
    from gridoracle.engine.base import STATUS_OK

    result = engine.evaluate(states, [Action("reference topology", {})], kept=True)
    failed = np.flatnonzero(result.status[:, 0] != STATUS_OK)
    if failed.size == 0:
        return ""
    return f"the reference topology fails at timestep {int(failed[0])}"


def base_run(env: Any, chronic: int, max_iter: int, seed: int | None) -> tuple[list[Any], str]:
    """Observations after steps 1..T of a run that only reconnects lines (as the Runner seeds).

    The episode is reset as the Runner does (:func:`reset_episode`). The step that ends it at
    ``max_iter`` or at the chronic's last row is a step (the Runner counts it and its reward);
    a step that ends it in error is not. Returns the observations and why the
    run stopped before ``max_iter``: ``""``, :data:`END_OF_CHRONIC`, or ``"game over: "`` and
    the exception.
    """
    obs = reset_episode(env, chronic, seed, max_iter)
    observations: list[Any] = []
    for _ in range(max_iter):
        obs, _reward, done, info = env.step(reconnect_action(env.action_space, obs))
        if done:
            errors = game_over_errors(info)
            if errors:
                return observations, "game over: " + "; ".join(map(str, errors))
            observations.append(obs)
            return observations, END_OF_CHRONIC if len(observations) < max_iter else ""
        observations.append(obs)
    return observations, ""


def game_over_errors(info: dict[str, Any]) -> list[Any]:
    """The exceptions of a step's ``info`` that end the game (not an illegal or ambiguous
    action's, which grid2op replaces by doing nothing)."""
    from grid2op.Exceptions import AmbiguousAction, IllegalAction

    errors = info.get("exception") or []
    return [e for e in errors if not isinstance(e, IllegalAction | AmbiguousAction)]


def _observation_states(observations: list[Any]) -> StateBatch:
    """The engine's states of a played run: timestep k is the state after step k+1."""
    return states_from_observations(observations, range(1, len(observations) + 1), horizon=0)


def chronic_states(env: Any, first: Any, max_iter: int) -> tuple[StateBatch | None, str]:
    """The reconnect-only episode's states read from the chronic ``env`` was just reset on.

    Parameters
    ----------
    env : grid2op Environment
        Reset on the chronic (its chronics pass :func:`chronics_unreadable`).
    first : grid2op Observation
        The observation ``reset`` returned (initial topology, statuses, cooldowns, voltages).
    max_iter : int
        Steps asked for.

    Returns
    -------
    states : StateBatch or None
        Rows 1..T of the chronic, T = min(max_iter, the episode's steps); None when T is 0.
    stopped : str
        :data:`END_OF_CHRONIC` when the chronic has fewer steps than ``max_iter``, else "".
    """
    data = env.chronics_handler.real_data.data
    duration = int(env.max_episode_duration())
    n_steps = max(min(int(max_iter), duration), 0)
    stopped = END_OF_CHRONIC if duration < max_iter else ""
    if n_steps == 0:
        return None, stopped
    cls = type(env)
    rows = np.arange(1, n_steps + 1)
    status, cooldown = _line_timeline(env, data, first, n_steps)
    base = np.asarray(first._prev_conn._topo_vect, dtype=np.int64)
    topo = np.repeat(base[None, :], n_steps, axis=0)
    off = ~status
    topo[:, cls.line_or_pos_topo_vect] = np.where(off, -1, topo[:, cls.line_or_pos_topo_vect])
    topo[:, cls.line_ex_pos_topo_vect] = np.where(off, -1, topo[:, cls.line_ex_pos_topo_vect])
    if data.prod_v is not None:
        gen_v = np.asarray(data.prod_v[rows], dtype=np.float64)
    else:
        gen_v = np.repeat(np.asarray(first.gen_v, dtype=np.float64)[None, :], n_steps, axis=0)
    sub0 = np.asarray(first.time_before_cooldown_sub, dtype=np.int64)
    return (
        StateBatch(
            horizon=0,
            steps=rows.astype(np.int64),
            gen_p=np.asarray(data.prod_p[rows], dtype=np.float64),
            gen_v=gen_v,
            load_p=np.asarray(data.load_p[rows], dtype=np.float64),
            load_q=np.asarray(data.load_q[rows], dtype=np.float64),
            topo_vect=topo,
            prev_topo=np.repeat(base[None, :], n_steps, axis=0),
            line_status=status,
            cooldown_line=cooldown,
            cooldown_sub=np.maximum(sub0[None, :] - rows[:, None], 0),
            protection=np.zeros((n_steps, int(cls.n_line)), dtype=np.int64),
        ),
        stopped,
    )


def _line_timeline(env: Any, data: Any, first: Any, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Line statuses and cooldowns after steps 1..n_steps of the reconnect-only run.

    grid2op's bookkeeping (``BaseEnv.step``): the agent reconnects, from the observation of the
    step before, every line that is off and whose cooldown is 0; maintenance and hazards of the
    row then disconnect theirs (the environment's action comes last); after the power flow every
    cooldown above 0 drops by one, a line whose maintenance is under way gets at least the
    maintenance's remaining duration, a line under hazard at least the hazard's, and a line the
    agent reconnected at least ``NB_TIMESTEP_COOLDOWN_LINE``.
    """
    n_line = int(type(env).n_line)
    status = np.asarray(first.line_status, dtype=bool).copy()
    cooldown = np.asarray(first.time_before_cooldown_line, dtype=np.int64).copy()
    statuses = np.empty((n_steps, n_line), dtype=bool)
    cooldowns = np.empty((n_steps, n_line), dtype=np.int64)
    forced = np.zeros((n_steps + 1, n_line), dtype=bool)
    for name in ("maintenance", "hazards"):
        arr = getattr(data, name, None)
        if arr is not None:
            forced |= np.asarray(arr[: n_steps + 1], dtype=bool)
    m_time = getattr(data, "maintenance_time", None)
    m_duration = getattr(data, "maintenance_duration", None)
    h_duration = getattr(data, "hazard_duration", None)
    line_cooldown = int(env.parameters.NB_TIMESTEP_COOLDOWN_LINE)
    quiet = not forced.any() and status.all() and not cooldown.any()
    if quiet and (m_time is None or not (np.asarray(m_time[1 : n_steps + 1]) == 0).any()):
        statuses[:] = True
        cooldowns[:] = 0
        return statuses, cooldowns
    for s in range(1, n_steps + 1):
        reconnect = ~status & (cooldown == 0)
        status = (status | reconnect) & ~forced[s]
        cooldown[cooldown > 0] -= 1
        if m_time is not None and m_duration is not None:
            starting = np.asarray(m_time[s]) == 0
            cooldown[starting] = np.maximum(cooldown[starting], np.asarray(m_duration[s])[starting])
        if h_duration is not None:
            cooldown = np.maximum(cooldown, np.asarray(h_duration[s], dtype=np.int64))
        if line_cooldown > 0:
            bump = reconnect & (cooldown < line_cooldown)
            cooldown[bump] = line_cooldown
        statuses[s - 1] = status
        cooldowns[s - 1] = cooldown
    return statuses, cooldowns
