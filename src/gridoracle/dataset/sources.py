"""Where the states of a dataset come from: ``gridoracle generate --states SOURCE``.

Sources (all seeded and reproducible; a chronic's states are a pure function of the config):

- ``episode`` (default): the observations of a do-nothing agent until game over;
- ``chronic``: every step of the chronic from its injections and maintenance, as grid2op's
  chronics handler reads them (lightsim2grid's time-series tools read the same arrays), in the
  reference topology with the lines under maintenance out (their cooldown: the maintenance
  left, as in an episode), no cascade; neither the environment's opponent nor its hazards are
  played. Each state's features come from its own power flow (gen_p after the slack, gen_q,
  gen_v, rho), as its observation would hold them; a state whose own power flow diverges is
  skipped (and counted);
- ``random-topology``: a grid2op episode of a policy that reconnects any line it may, and
  otherwise every 6 to 24 steps plays a random topology action of the catalogue that
  ``obs.simulate`` says the grid survives (below max rho 1, or below the current max rho);
- ``greedy``: a grid2op episode of the greedy expert: after the reconnections, it evaluates the
  whole catalogue in the state (batched engine, the dataset's horizon) and plays the action of
  lowest max rho when it beats doing nothing by more than 0.001.

Any source can add, for each of its states, ``topologies`` other topologies (one or two topology
actions of the catalogue, on two substations, applied to the state's topology; legal in that state;
not islanding; drawn per state from a pool of 32 such combinations drawn per chronic) and
``outages`` N-1 states (one connected line out, not islanding). Those states keep the state's
injections (the chronic's at that step), and their features come from their own power flow: the
observation reached by playing those actions (rules relaxed: no cooldown) at the step before. A
state that diverges is skipped and counted. Rows are the source's states, then the topology
variants, then the outages, each block in step order.

:func:`build_states` returns the feature frame, the :class:`~gridoracle.engine.states.StateBatch`
the engines evaluate, the metadata columns and the counts.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridoracle.dataset.features import features_from_arrays, features_from_observations
from gridoracle.engine.states import StateBatch, states_from_observations
from gridoracle.errors import InvalidOption

__all__ = [
    "DEFAULT_SOURCE",
    "STATE_SOURCES",
    "ChronicData",
    "SourceStates",
    "build_states",
    "check_source",
    "concat_batches",
    "do_nothing_episode",
    "read_chronic",
]

STATE_SOURCES = ("episode", "chronic", "random-topology", "greedy")
DEFAULT_SOURCE = "episode"
#: topology combinations drawn per chronic, among which each state takes its ``topologies``
#: (the default of ``--variant-pool``)
VARIANT_POOL = 32
#: steps a random-topology policy holds a topology at least / at most
HOLD_STEPS = (6, 24)
_META_DTYPES = {"state_source": object, "base_actions": object, "line_out": np.int32}


def check_source(
    states: str, topologies: int, outages: int, engine: str, variant_pool: int = VARIANT_POOL
) -> None:
    """Check ``--states``, ``--topologies``, ``--outages``, ``--variant-pool`` before any work.

    Raises
    ------
    InvalidOption
        An unknown source, a negative count, a pool of fewer than one combination, or the
        reference engine on states that have no grid2op observation (chronic states, topology
        variants, outages).
    """
    if states not in STATE_SOURCES:
        raise InvalidOption(
            f"states {states}: must be one of {list(STATE_SOURCES)}", param="states"
        )
    for name, value in (("topologies", topologies), ("outages", outages)):
        if value < 0:
            raise InvalidOption(f"{name} {value}: must be 0 or more", param=name)
    if variant_pool < 1:
        raise InvalidOption(f"variant-pool {variant_pool}: must be 1 or more", param="variant_pool")
    if engine == "reference" and (states == "chronic" or topologies or outages):
        raise InvalidOption(
            "engine reference: grid2op's simulate needs an observation of every state; chronic "
            "states, --topologies and --outages have none (use --engine batched)",
            param="engine",
        )


@dataclass(frozen=True)
class ChronicData:
    """A chronic's injections, forecasts, maintenance and dates, as grid2op reads them.

    Row ``t`` is what the environment holds at step ``t`` of an episode started at the chronic's
    first step (``env.reset``); the forecasts of row ``t`` are those of step ``t`` for ``t + 1``.
    """

    gen_p: np.ndarray
    gen_v: np.ndarray
    load_p: np.ndarray
    load_q: np.ndarray
    fc_gen_p: np.ndarray | None
    fc_gen_v: np.ndarray | None
    fc_load_p: np.ndarray | None
    fc_load_q: np.ndarray | None
    maintenance: np.ndarray  # (T, n_line) bool: under maintenance at that step
    maintenance_left: np.ndarray  # (T, n_line) int: steps of maintenance left (0 when none)
    maintenance_next: np.ndarray  # (T, n_line) bool: maintenance starts at the next step
    minutes: np.ndarray  # (T,) minutes since midnight
    day_of_week: np.ndarray  # (T,) 0 = Monday
    n_steps: int  # steps of an episode on this chronic
    reference_topology: np.ndarray  # (dim_topo,) the topology of reset, every element on a bus


def read_chronic(env: Any, chronic: int, seed: int) -> ChronicData:
    """Read a chronic's arrays from grid2op's chronics handler (after ``env.reset``).

    Raises
    ------
    InvalidOption
        The environment's chronics are not read from files in one piece (the only kind the
        chronic source and the variants support).
    """
    from grid2op.Chronics import GridStateFromFile, Multifolder

    obs = env.reset(seed=seed, options={"time serie id": int(chronic)})
    handler = env.chronics_handler
    data = handler.real_data.data if isinstance(handler.real_data, Multifolder) else handler.data
    if not isinstance(data, GridStateFromFile) or getattr(data, "chunk_size", None):
        raise InvalidOption(
            f"env {env.env_name}: its chronics are not files read in one piece "
            f"({type(data).__name__}); use --states episode without --topologies/--outages",
            param="states",
        )
    cls = type(env)
    rows = int(np.asarray(data.load_p).shape[0])
    n_steps = min(int(handler.max_timestep()), rows)

    def arr(values: Any) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)

    gen_v = arr(data.prod_v) if data.prod_v is not None else np.tile(arr(obs.gen_v), (rows, 1))
    n_line = int(cls.n_line)
    if data.maintenance is not None:
        maintenance = np.asarray(data.maintenance, dtype=bool)
        left = np.where(maintenance, np.asarray(data.maintenance_duration, dtype=np.int64), 0)
        when = np.asarray(data.maintenance_time, dtype=np.int64)
        nxt = when == 1
    else:
        maintenance = np.zeros((rows, n_line), dtype=bool)
        left = np.zeros((rows, n_line), dtype=np.int64)
        nxt = np.zeros((rows, n_line), dtype=bool)
    forecasts: dict[str, np.ndarray | None] = {}
    for name, attr in (
        ("fc_gen_p", "prod_p_forecast"),
        ("fc_gen_v", "prod_v_forecast"),
        ("fc_load_p", "load_p_forecast"),
        ("fc_load_q", "load_q_forecast"),
    ):
        values = getattr(data, attr, None)
        forecasts[name] = None if values is None else arr(values)
    start = data.start_datetime
    interval = data.time_interval
    times = [start + interval * (t + 1) for t in range(rows)]
    reference = np.asarray(obs.topo_vect, dtype=np.int64).copy()
    reference[reference <= 0] = 1
    return ChronicData(
        gen_p=arr(data.prod_p),
        gen_v=gen_v,
        load_p=arr(data.load_p),
        load_q=arr(data.load_q),
        maintenance=maintenance,
        maintenance_left=left,
        maintenance_next=nxt,
        minutes=np.array([t.hour * 60 + t.minute for t in times], dtype=np.float64),
        day_of_week=np.array([_dt.date.weekday(t) for t in times], dtype=np.int8),
        n_steps=n_steps,
        reference_topology=reference,
        **forecasts,  # type: ignore[arg-type]
    )


@dataclass
class _Base:
    """States before their own power flow: injections, topology and what the rules look at."""

    steps: np.ndarray
    gen_p: np.ndarray  # set-points before the slack (the chronic's)
    gen_v: np.ndarray
    load_p: np.ndarray
    load_q: np.ndarray
    topo: np.ndarray  # the state's topology (no horizon adjustment)
    prev_topo: np.ndarray
    cooldown_line: np.ndarray
    cooldown_sub: np.ndarray
    protection: np.ndarray
    maintenance_next: np.ndarray
    minutes: np.ndarray
    day_of_week: np.ndarray
    forecasts: dict[str, np.ndarray] | None  # fc_gen_p, fc_gen_v, fc_load_p, fc_load_q

    def take(self, idx: np.ndarray) -> _Base:
        fc = None if self.forecasts is None else {k: v[idx] for k, v in self.forecasts.items()}
        values = {k: getattr(self, k)[idx] for k in self.__dataclass_fields__ if k != "forecasts"}
        return _Base(forecasts=fc, **values)

    def rules_batch(self, line_status: np.ndarray) -> StateBatch:
        """A batch for the engine's legality checks (cooldowns and line status)."""
        return StateBatch(
            horizon=0,
            steps=self.steps,
            gen_p=self.gen_p,
            gen_v=self.gen_v,
            load_p=self.load_p,
            load_q=self.load_q,
            topo_vect=self.topo,
            prev_topo=self.prev_topo,
            line_status=line_status,
            cooldown_line=self.cooldown_line,
            cooldown_sub=self.cooldown_sub,
            protection=self.protection,
        )


@dataclass
class SourceStates:
    """The states of one chronic, ready for the units.

    Attributes
    ----------
    frame : DataFrame
        One row of features per state (the columns of ``feature_columns``).
    batch : StateBatch
        The same rows for the engines (observations only where every row has one).
    meta : DataFrame
        ``state_source``, ``base_actions``, ``line_out`` per row.
    skipped : int
        States dropped because their own power flow diverged.
    """

    frame: pd.DataFrame
    batch: StateBatch
    meta: pd.DataFrame
    skipped: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def _meta(
    source: str, n: int, names: Sequence[str] | None = None, lines: Any = None
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "state_source": pd.Series([source] * n, dtype=object),
            "base_actions": pd.Series(list(names) if names is not None else [""] * n, dtype=object),
            "line_out": np.asarray(lines if lines is not None else np.full(n, -1), dtype=np.int32),
        }
    )


def _realise(
    engine: Any, obs_cls: Any, base: _Base, topo: np.ndarray, horizon: int
) -> tuple[pd.DataFrame, StateBatch, np.ndarray]:
    """Solve each state's own power flow; its features, its batch and the rows kept."""
    cls = obs_cls
    flows = engine.solve_states(topo, base.gen_p, base.gen_v, base.load_p, base.load_q)
    keep = np.flatnonzero(flows["converged"])
    base = base.take(keep)
    topo = topo[keep]
    gen_p, gen_q, gen_v, rho = (flows[k][keep] for k in ("gen_p", "gen_q", "gen_v", "rho"))
    or_pos = np.asarray(cls.line_or_pos_topo_vect)
    ex_pos = np.asarray(cls.line_ex_pos_topo_vect)
    status = (topo[:, or_pos] > 0) & (topo[:, ex_pos] > 0)
    blocks = {
        "gen_p": gen_p,
        "gen_q": gen_q,
        "gen_v": gen_v,
        "load_p": base.load_p,
        "load_q": base.load_q,
        "line_status": status,
        "rho": rho,
        "topo_vect": topo,
    }
    forecasts = None
    s_gen_p, s_gen_v = gen_p.copy(), gen_v.copy()
    s_load_p, s_load_q = base.load_p.copy(), base.load_q.copy()
    s_topo = topo.copy()
    if horizon == 1:
        assert base.forecasts is not None
        fc = base.forecasts
        for arr, key in (
            (s_gen_p, "fc_gen_p"),
            (s_gen_v, "fc_gen_v"),
            (s_load_p, "fc_load_p"),
            (s_load_q, "fc_load_q"),
        ):
            ok = np.isfinite(fc[key])
            arr[ok] = fc[key][ok]
        forecasts = {"fc_gen_p": s_gen_p, "fc_load_p": s_load_p, "fc_load_q": s_load_q}
        starting = base.maintenance_next
        s_topo[:, or_pos] = np.where(starting, -1, s_topo[:, or_pos])
        s_topo[:, ex_pos] = np.where(starting, -1, s_topo[:, ex_pos])
    frame = features_from_arrays(cls, blocks, base.minutes, base.day_of_week, forecasts)
    prev = np.where(topo > 0, topo, base.prev_topo)
    batch = StateBatch(
        horizon=horizon,
        steps=base.steps.astype(np.int64),
        gen_p=s_gen_p,
        gen_v=s_gen_v,
        load_p=s_load_p,
        load_q=s_load_q,
        topo_vect=s_topo,
        prev_topo=prev,
        line_status=(s_topo[:, or_pos] > 0) & (s_topo[:, ex_pos] > 0),
        cooldown_line=base.cooldown_line.astype(np.int64),
        cooldown_sub=base.cooldown_sub.astype(np.int64),
        protection=base.protection.astype(np.int64),
    )
    return frame, batch, keep


def _chronic_base(data: ChronicData, obs_cls: Any, max_steps: int, horizon: int) -> _Base:
    n = min(data.n_steps, max_steps)
    if horizon == 1:
        if data.fc_load_p is None:
            raise InvalidOption(
                "horizon 1: this environment's chronics have no forecasts", param="horizon"
            )
        n = min(n, data.n_steps - 1)  # the last step has no next-step forecast
    rows = np.arange(n)
    cls = obs_cls
    topo = np.tile(data.reference_topology, (n, 1))
    off = data.maintenance[rows]
    topo[:, cls.line_or_pos_topo_vect] = np.where(off, -1, topo[:, cls.line_or_pos_topo_vect])
    topo[:, cls.line_ex_pos_topo_vect] = np.where(off, -1, topo[:, cls.line_ex_pos_topo_vect])
    forecasts = None
    if horizon == 1:
        assert data.fc_gen_p is not None and data.fc_load_p is not None
        assert data.fc_load_q is not None
        forecasts = {
            "fc_gen_p": data.fc_gen_p[rows],
            "fc_gen_v": (data.fc_gen_v if data.fc_gen_v is not None else data.gen_v)[rows],
            "fc_load_p": data.fc_load_p[rows],
            "fc_load_q": data.fc_load_q[rows],
        }
    return _Base(
        steps=rows,
        gen_p=data.gen_p[rows],
        gen_v=data.gen_v[rows],
        load_p=data.load_p[rows],
        load_q=data.load_q[rows],
        topo=topo,
        prev_topo=np.tile(data.reference_topology, (n, 1)),
        cooldown_line=data.maintenance_left[rows],
        cooldown_sub=np.zeros((n, int(cls.n_sub)), dtype=np.int64),
        protection=np.zeros((n, int(cls.n_line)), dtype=np.int64),
        maintenance_next=data.maintenance_next[rows],
        minutes=data.minutes[rows],
        day_of_week=data.day_of_week[rows],
        forecasts=forecasts,
    )


def _observation_base(
    observations: Sequence[Any], steps: Sequence[int], data: ChronicData
) -> _Base:
    """The base of observed states: their topology, rules and the chronic's set-points."""
    rows = np.asarray(steps, dtype=np.int64)

    def stack(attr: str, dtype: Any = np.float64) -> np.ndarray:
        return np.array([getattr(o, attr) for o in observations], dtype=dtype)

    protection = (
        "timestep_protection_engaged"
        if hasattr(observations[0], "timestep_protection_engaged")
        else "timestep_overflow"
    )
    forecasts = None
    if data.fc_load_p is not None:
        fc = [o.get_forecasted_inj(1) for o in observations]
        forecasts = {
            key: np.array([f[pos] for f in fc], dtype=np.float64)
            for key, pos in (("fc_gen_p", 0), ("fc_gen_v", 1), ("fc_load_p", 2), ("fc_load_q", 3))
        }
    return _Base(
        steps=rows,
        gen_p=data.gen_p[rows],
        gen_v=stack("gen_v"),
        load_p=stack("load_p"),
        load_q=stack("load_q"),
        topo=stack("topo_vect", np.int64),
        prev_topo=np.array([o._prev_conn._topo_vect for o in observations], dtype=np.int64),
        cooldown_line=stack("time_before_cooldown_line", np.int64),
        cooldown_sub=stack("time_before_cooldown_sub", np.int64),
        protection=stack(protection, np.int64),
        maintenance_next=stack("time_next_maintenance", np.int64) == 1,
        minutes=np.array([o.hour_of_day * 60 + o.minute_of_hour for o in observations], float),
        day_of_week=stack("day_of_week", np.int8),
        forecasts=forecasts,
    )


# -- topology variants and outages ----------------------------------------------------------------


def _subs_of(engine: Any, action: Any) -> frozenset[int]:
    act = engine._action(action)
    touched = np.flatnonzero(act.set_bus != 0)
    return frozenset(int(s) for s in np.asarray(engine.action_space.grid_objects_types)[touched, 0])


def _variant_pool(
    engine: Any, actions: Sequence[Any], rng: np.random.Generator, size: int = VARIANT_POOL
) -> list[tuple[Any, ...]]:
    """Up to ``size`` combinations of one or two topology actions (two substations); the first
    ``k`` of a larger pool are those of a pool of ``k`` (same draws)."""
    if not actions:
        return []
    subs = [_subs_of(engine, a) for a in actions]
    pool: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    for _ in range(size * 8):
        if len(pool) >= size:
            break
        first = int(rng.integers(len(actions)))
        combo: tuple[int, ...] = (first,)
        if rng.random() < 0.5 and len(actions) > 1:
            second = int(rng.integers(len(actions)))
            if subs[second] & subs[first]:
                continue
            combo = (min(first, second), max(first, second))
        if combo not in seen:
            seen.add(combo)
            pool.append(combo)
    return [tuple(actions[i] for i in combo) for combo in pool]


def _variants(
    engine: Any,
    obs_cls: Any,
    base: _Base,
    k: int,
    pool: Sequence[tuple[Any, ...]],
    rng: np.random.Generator,
) -> tuple[tuple[np.ndarray, np.ndarray], list[str]]:
    """For each state, up to ``k`` topologies of the pool: (base rows, topologies, names)."""
    or_pos, ex_pos = cls_pos(obs_cls)
    status = (base.topo[:, or_pos] > 0) & (base.topo[:, ex_pos] > 0)
    rules = base.rules_batch(status)
    rows: list[int] = []
    topos: list[np.ndarray] = []
    names: list[str] = []
    for i in range(len(base.steps)):
        taken = 0
        for p in rng.permutation(len(pool)):
            if taken >= k:
                break
            topo, prev, st = base.topo[i], base.prev_topo[i], status[i]
            ok = True
            for action in pool[p]:
                if not engine.is_legal(action, rules, i):
                    ok = False
                    break
                topo = engine.resulting_topology(action, topo, prev, st)
                prev = np.where(topo > 0, topo, prev)
                st = (topo[or_pos] > 0) & (topo[ex_pos] > 0)
            if not ok or np.array_equal(topo, base.topo[i]) or engine.islanded(topo):
                continue
            rows.append(i)
            topos.append(topo)
            names.append("+".join(a.name for a in pool[p]))
            taken += 1
    return _stack_rows(rows, topos, base), names


def cls_pos(obs_cls: Any) -> tuple[np.ndarray, np.ndarray]:
    """Positions of line origins and extremities in the topology vector."""
    return (
        np.asarray(obs_cls.line_or_pos_topo_vect, dtype=np.int64),
        np.asarray(obs_cls.line_ex_pos_topo_vect, dtype=np.int64),
    )


def _stack_rows(
    rows: list[int], topos: list[np.ndarray], base: _Base
) -> tuple[np.ndarray, np.ndarray]:
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, base.topo.shape[1]), dtype=np.int64)
    return np.asarray(rows, dtype=np.int64), np.array(topos, dtype=np.int64)


def _outages(
    engine: Any, obs_cls: Any, base: _Base, k: int, rng: np.random.Generator
) -> tuple[tuple[np.ndarray, np.ndarray], list[int]]:
    """For each state, up to ``k`` connected lines taken out (not islanding, not in cooldown)."""
    or_pos, ex_pos = cls_pos(obs_cls)
    rows: list[int] = []
    topos: list[np.ndarray] = []
    lines: list[int] = []
    for i in range(len(base.steps)):
        taken = 0
        connected = (base.topo[i, or_pos] > 0) & (base.topo[i, ex_pos] > 0)
        for line in rng.permutation(len(or_pos)):
            if taken >= k:
                break
            if not connected[line] or base.cooldown_line[i, line] > 0:
                continue
            topo = base.topo[i].copy()
            topo[or_pos[line]] = -1
            topo[ex_pos[line]] = -1
            if engine.islanded(topo):
                continue
            rows.append(i)
            topos.append(topo)
            lines.append(int(line))
            taken += 1
    return _stack_rows(rows, topos, base), lines


# -- trajectories ---------------------------------------------------------------------------------


def do_nothing_episode(
    env: Any, chronic: int, max_steps: int, seed: int, horizon: int
) -> tuple[list[Any], list[int]]:
    """Observations visited by a do-nothing agent on ``chronic`` (at most ``max_steps``).

    The episode stops at game over; with ``horizon == 1`` it also stops at the first state that
    has no next-step forecast (the end of the chronic).
    """
    do_nothing = env.action_space()
    return _play(env, lambda _obs, _step: do_nothing, chronic, max_steps, seed, horizon)


def _reconnection(env: Any, obs: Any) -> Any | None:
    """A reconnection of the first line that is out, allowed and not under maintenance."""
    out = ~np.asarray(obs.line_status, dtype=bool)
    allowed = (np.asarray(obs.time_before_cooldown_line) == 0) & (
        np.asarray(obs.time_next_maintenance) != 0
    )
    lines = np.flatnonzero(out & allowed)
    if lines.size == 0:
        return None
    return env.action_space({"set_line_status": [(int(lines[0]), 1)]})


def random_topology_episode(
    env: Any,
    actions: Sequence[Any],
    chronic: int,
    max_steps: int,
    seed: int,
    horizon: int,
) -> tuple[list[Any], list[int]]:
    """Observations of the random-topology policy (see the module docstring)."""
    rng = np.random.default_rng([int(seed), int(chronic), 3])
    g2op = [env.action_space(dict(a.grid2op)) for a in actions]

    def choose(obs: Any) -> Any:
        current = float(np.max(obs.rho))
        for j in rng.permutation(len(g2op))[:10]:
            sim, _r, done, info = obs.simulate(g2op[j])
            if done or info.get("is_illegal") or info.get("is_ambiguous"):
                continue
            if float(np.max(sim.rho)) < max(1.0, current):
                return g2op[j]
        return env.action_space()

    hold = int(rng.integers(HOLD_STEPS[0], HOLD_STEPS[1] + 1))

    def policy(obs: Any, step: int) -> Any:
        nonlocal hold
        reco = _reconnection(env, obs)
        if reco is not None:
            return reco
        hold -= 1
        if hold > 0 or not g2op:
            return env.action_space()
        hold = int(rng.integers(HOLD_STEPS[0], HOLD_STEPS[1] + 1))
        return choose(obs)

    return _play(env, policy, chronic, max_steps, seed, horizon)


def greedy_episode(
    env: Any,
    engine: Any,
    actions: Sequence[Any],
    chronic: int,
    max_steps: int,
    seed: int,
    horizon: int,
) -> tuple[list[Any], list[int]]:
    """Observations of the greedy expert (see the module docstring)."""
    from gridoracle.engine.base import STATUS_OK

    g2op = [env.action_space(dict(a.grid2op)) for a in actions]

    def policy(obs: Any, step: int) -> Any:
        reco = _reconnection(env, obs)
        if reco is not None or not g2op:
            return reco if reco is not None else env.action_space()
        batch = states_from_observations([obs], [step], horizon)
        result = engine.evaluate(batch, actions)
        rho = np.where(result.status[0] == STATUS_OK, result.max_rho[0], np.inf)
        best = int(np.argmin(rho))
        now = engine.evaluate(batch, [_DoNothing()])
        base = float(now.max_rho[0, 0]) if now.status[0, 0] == STATUS_OK else np.inf
        if np.isfinite(rho[best]) and rho[best] < base - 1e-3:
            return g2op[best]
        return env.action_space()

    return _play(env, policy, chronic, max_steps, seed, horizon)


@dataclass(frozen=True)
class _DoNothing:
    name: str = "__donothing__"
    grid2op: dict[str, Any] = field(default_factory=dict)


def _play(
    env: Any, policy: Any, chronic: int, max_steps: int, seed: int, horizon: int
) -> tuple[list[Any], list[int]]:
    """Observations of ``policy(obs, step)`` on ``chronic`` (at most ``max_steps``).

    The episode stops at game over; with ``horizon == 1`` it also stops at the first state that
    has no next-step forecast (the end of the chronic).
    """
    from grid2op.Exceptions import NoForecastAvailable

    obs = env.reset(seed=seed, options={"time serie id": int(chronic)})
    observations: list[Any] = []
    steps: list[int] = []
    for step in range(max_steps):
        if horizon == 1:
            try:
                obs.get_forecasted_inj(1)
            except NoForecastAvailable:
                break
        observations.append(obs)
        steps.append(step)
        if step == max_steps - 1:
            break
        obs, _reward, done, _info = env.step(policy(obs, step))
        if done:
            break
    return observations, steps


# -- the entry point ------------------------------------------------------------------------------


def concat_batches(batches: Sequence[StateBatch]) -> StateBatch:
    """One batch of the rows of ``batches`` (observations only if every part has them)."""
    first = batches[0]
    names = [n for n in first.__dataclass_fields__ if n not in ("horizon", "observations")]
    arrays = {n: np.concatenate([getattr(b, n) for b in batches]) for n in names}
    obs = None
    if all(b.observations is not None for b in batches):
        obs = [o for b in batches for o in b.observations]  # type: ignore[union-attr]
    return StateBatch(horizon=first.horizon, observations=obs, **arrays)


def build_states(
    env: Any,
    engine: Any,
    *,
    source: str,
    chronic: int,
    max_steps: int,
    seed: int,
    horizon: int,
    actions: Sequence[Any] = (),
    topologies: int = 0,
    outages: int = 0,
    variant_pool: int = VARIANT_POOL,
) -> SourceStates:
    """The states of ``chronic`` from ``source``, with their variants (see the module docstring).

    Parameters
    ----------
    env : grid2op Environment
        Made with LightSimBackend; it is reset and stepped.
    engine : BatchedEngine
        Built on ``env`` right after it was made (the states' own power flows, the greedy expert).
    actions : sequence of Action
        The catalogue (the policies and the variants use its topology actions).
    """
    obs_cls = env.observation_space.subtype if hasattr(env, "observation_space") else type(env)
    topo_actions = [a for a in actions if getattr(a, "kind", "topology") == "topology"]
    skipped = 0
    data: ChronicData | None = None
    if source == "chronic":
        data = read_chronic(env, chronic, seed)
        base = _chronic_base(data, obs_cls, max_steps, horizon)
        frame, batch, keep = _realise(engine, obs_cls, base, base.topo, horizon)
        skipped += len(base.steps) - keep.size
        base = base.take(keep)
    else:
        if source == "episode":
            observations, steps = do_nothing_episode(env, chronic, max_steps, seed, horizon)
        elif source == "random-topology":
            observations, steps = random_topology_episode(
                env, topo_actions, chronic, max_steps, seed, horizon
            )
        elif source == "greedy":
            observations, steps = greedy_episode(
                env, engine, topo_actions, chronic, max_steps, seed, horizon
            )
        else:
            raise InvalidOption(
                f"states {source}: must be one of {list(STATE_SOURCES)}", param="states"
            )
        frame = features_from_observations(observations, horizon)
        batch = states_from_observations(observations, steps, horizon)
        if topologies or outages:
            data = read_chronic(env, chronic, seed)
            base = _observation_base(observations, steps, data)
    frames = [frame]
    batches = [batch]
    metas = [_meta(source, len(frame))]
    counts = {source: len(frame)}
    if topologies and len(frame):
        rng = np.random.default_rng([int(seed), int(chronic), 1])
        pool = _variant_pool(engine, topo_actions, rng, variant_pool)
        (rows, topos), names = _variants(engine, obs_cls, base, topologies, pool, rng)
        v_frame, v_batch, keep = _realise(engine, obs_cls, base.take(rows), topos, horizon)
        skipped += rows.size - keep.size
        frames.append(v_frame)
        batches.append(v_batch)
        metas.append(_meta(f"{source}+topology", keep.size, [names[i] for i in keep]))
        counts[f"{source}+topology"] = int(keep.size)
    if outages and len(frame):
        rng = np.random.default_rng([int(seed), int(chronic), 2])
        (rows, topos), lines = _outages(engine, obs_cls, base, outages, rng)
        o_frame, o_batch, keep = _realise(engine, obs_cls, base.take(rows), topos, horizon)
        skipped += rows.size - keep.size
        frames.append(o_frame)
        batches.append(o_batch)
        metas.append(_meta(f"{source}+outage", keep.size, None, np.asarray(lines)[keep]))
        counts[f"{source}+outage"] = int(keep.size)
    return SourceStates(
        frame=pd.concat(frames, ignore_index=True),
        batch=concat_batches(batches) if len(batches) > 1 else batches[0],
        meta=pd.concat(metas, ignore_index=True).astype(_META_DTYPES),
        skipped=skipped,
        counts=counts,
    )
