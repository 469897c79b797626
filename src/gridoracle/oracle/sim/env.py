"""The one environment factory of the Oracle, with the rules it plays under as a parameter.

Oracle4Grid makes two environments: one to simulate the rewards (overflow disconnection off, any
number of substations and lines changed per step, every action legal) and one to replay the best
paths under real rules (protections on, one substation and one line per step). Here the rules
are a parameter of :func:`make_oracle_env` (:data:`RULES`):

- ``"simulation"``: Oracle4Grid's reward simulation, :func:`simulation_parameters` and
  grid2op's ``AlwaysLegal`` rules;
- ``"oracle"`` (the default): :func:`simulation_parameters` with the environment's own legality
  rules, one environment for the whole Oracle. The reward table does not ask grid2op about
  legality (the engine holds each action, as always-legal rules let it), the reconnect-only run
  and the filter at t0 only do what those rules allow anyway, and the replay switches to the
  replay parameters with :func:`use_replay_parameters`: making one environment instead of two
  saves a second of set-up;
- ``"replay"``: :func:`replay_parameters` with the environment's own legality rules.

Every environment gets Oracle4Grid's reward (or grid2op's L2RPNReward) and its overload flag as
the other reward ``overload_reward``, and reads each chronic's files once for all its resets of
the same length (:func:`reuse_chronic_reads`).

``opponent=False`` (``gridoracle oracle --no-opponent``) makes the environment without its
opponent, whatever its configuration says: grid2op's defaults for an environment that has none
(:data:`NO_OPPONENT`). Workers that make their own environment (spawned local processes, Dask)
take it from the environment's name: :func:`oracle_env_name` appends :data:`NO_OPPONENT_SUFFIX`
to it, which :func:`make_oracle_env` reads back (and which puts it in every cache key holding
the name).
"""

from __future__ import annotations

import copy
import os
import types
from typing import Any

from gridoracle.errors import InvalidOption
from gridoracle.oracle.sim.agents import OracleL2RPNReward, OracleOverloadReward

#: the rewards of the table: Oracle4Grid's (OracleL2RPNReward) or grid2op's L2RPNReward
REWARDS: tuple[str, ...] = ("oracle", "l2rpn")
#: the rules an environment of the Oracle plays under (see the module docstring)
RULES: tuple[str, ...] = ("simulation", "oracle", "replay")
#: appended to an environment's name or folder: make it without its opponent
NO_OPPONENT_SUFFIX = "#no-opponent"


def no_opponent_options() -> dict[str, Any]:
    """``grid2op.make``'s options of an environment without opponent (grid2op's defaults when
    the environment's config.py names none: an opponent that does nothing and never attacks)."""
    from grid2op.Action import DontAct
    from grid2op.Opponent import BaseOpponent, NeverAttackBudget

    return {
        "opponent_class": BaseOpponent,
        "opponent_action_class": DontAct,
        "opponent_budget_class": NeverAttackBudget,
        "opponent_init_budget": 0.0,
        "opponent_budget_per_ts": 0.0,
        "opponent_attack_duration": 0,
        "opponent_attack_cooldown": 99999,
        "kwargs_opponent": {},
    }


def oracle_env_name(env: str, *, opponent: bool = True) -> str:
    """The name :func:`make_oracle_env` makes ``env`` from, without its opponent if asked.

    Examples
    --------
    >>> oracle_env_name("rte_case14_opponent", opponent=False)
    'rte_case14_opponent#no-opponent'
    >>> split_env_name(oracle_env_name("rte_case14_opponent", opponent=False))
    ('rte_case14_opponent', False)
    """
    env, keep = split_env_name(env)
    return env if keep and opponent else env + NO_OPPONENT_SUFFIX


def split_env_name(env: str) -> tuple[str, bool]:
    """``env`` without :data:`NO_OPPONENT_SUFFIX`, and whether its opponent is kept."""
    if env.endswith(NO_OPPONENT_SUFFIX):
        return env[: -len(NO_OPPONENT_SUFFIX)], False
    return env, True


def _parameters(*, protections: bool, max_line: int, max_sub: int) -> Any:
    from grid2op.Parameters import Parameters

    param = Parameters()
    param.NO_OVERFLOW_DISCONNECTION = not protections
    param.MAX_LINE_STATUS_CHANGED = max_line
    param.MAX_SUB_CHANGED = max_sub
    return param


def simulation_parameters() -> Any:
    """Oracle4Grid's parameters of the reward simulation (no overflow disconnection)."""
    return _parameters(protections=False, max_line=999, max_sub=2999)


def replay_parameters() -> Any:
    """Oracle4Grid's replay parameters: protections on, one substation and one line per step."""
    return _parameters(protections=True, max_line=1, max_sub=1)


def make_oracle_env(
    env: str, reward: str = "oracle", *, rules: str = "oracle", opponent: bool = True
) -> Any:
    """An environment for the Oracle: ``env`` on lightsim2grid, under ``rules``.

    Parameters
    ----------
    env : str
        Environment name or folder (see :func:`gridoracle.grid.make_env`), possibly ending in
        :data:`NO_OPPONENT_SUFFIX` (:func:`oracle_env_name`): then made without its opponent.
    reward : {"oracle", "l2rpn"}
        The environment's reward: Oracle4Grid's OracleL2RPNReward or grid2op's L2RPNReward; the
        overload flag is always the other reward ``overload_reward``.
    rules : {"oracle", "simulation", "replay"}
        The parameters and legality rules (see the module docstring).
    opponent : bool
        False: without the environment's opponent (:func:`no_opponent_options`, grid2op's
        defaults: an environment whose config.py names no opponent is the same either way).

    Raises
    ------
    InvalidOption
        An unknown ``reward`` or ``rules``.
    """
    from grid2op.Reward import L2RPNReward
    from grid2op.Rules import AlwaysLegal

    from gridoracle.grid import make_env

    if reward not in REWARDS:
        raise InvalidOption(f"reward {reward!r}: must be one of {list(REWARDS)}", param="reward")
    if rules not in RULES:
        raise InvalidOption(f"rules {rules!r}: must be one of {list(RULES)}", param="rules")
    kwargs: dict[str, Any] = {
        "param": replay_parameters() if rules == "replay" else simulation_parameters(),
        "reward_class": OracleL2RPNReward if reward == "oracle" else L2RPNReward,
        "other_rewards": {"overload_reward": OracleOverloadReward},
    }
    if rules == "simulation":
        kwargs["gamerules_class"] = AlwaysLegal
    env, keep = split_env_name(env)
    if not (keep and opponent):
        kwargs.update(no_opponent_options())
    return reuse_chronic_reads(make_env(env, **kwargs))


#: the attributes of a chronic's reader that its seed sets, and those added here
_NOT_REUSED = ("space_prng", "seed_used", "initialize", "_gridoracle_reads")


def reuse_chronic_reads(env: Any) -> Any:
    """Let ``env`` read a chronic's files once for all its resets on it; returns ``env``.

    Each ``env.reset`` makes a new reader of the chronic (grid2op's ``GridStateFromFile``), which
    reads its CSV files again: 85 ms on rte_case14_realistic at 400 steps, and the Oracle resets
    the same chronic for the same steps four times (filter at t0, reward table, two replays).
    Here a reader of grid2op's two plain classes (``GridStateFromFile``,
    ``GridStateFromFileWithForecasts``: they read files and draw nothing) that is set up exactly
    as an earlier one (same class, folder, files' sizes and times, steps, settings and backend
    orders) takes a copy of what that one read instead of reading. Every other reader, one read
    by chunks, and the random state each reader gets at its seeding are left as grid2op makes
    them. Environments whose chronics are not grid2op's ``Multifolder`` are left as they are.
    """
    from grid2op.Chronics import Multifolder

    real: Any = getattr(env.chronics_handler, "real_data", None)
    if type(real) is Multifolder:
        real._gridoracle_reads = {}
        # bound to the instance: a copy of the environment rebinds it to its own copy
        real._get_nex_data = types.MethodType(_get_nex_data, real)
    return env


def _get_nex_data(self: Any, this_path: Any) -> Any:
    """Multifolder's reader of ``this_path``, reading through the reads of ``self``."""
    from grid2op.Chronics import GridStateFromFile, GridStateFromFileWithForecasts

    data = type(self)._get_nex_data(self, this_path)
    plain = (GridStateFromFile, GridStateFromFileWithForecasts)
    if type(data) in plain and getattr(data, "chunk_size", None) is None:
        data._gridoracle_reads = self._gridoracle_reads
        data.initialize = types.MethodType(_initialize, data)
    return data


def _initialize(self: Any, *args: Any, **kwargs: Any) -> None:
    """The reader's ``initialize``, or a copy of what the same initialize read before."""
    reads = self._gridoracle_reads
    setup = {k: v for k, v in self.__dict__.items() if k not in _NOT_REUSED}
    try:
        files = _files(self.path)
    except OSError:  # not a folder that can be listed: grid2op reads it, and says what is wrong
        type(self).initialize(self, *args, **kwargs)
        return
    key = _fingerprint((type(self).__qualname__, setup, args, kwargs, files))
    if key in reads:
        self.__dict__.update(copy.deepcopy(reads[key]))
        return
    type(self).initialize(self, *args, **kwargs)
    reads[key] = copy.deepcopy({k: v for k, v in self.__dict__.items() if k not in _NOT_REUSED})


def _files(folder: Any) -> list[tuple[str, int, int]]:
    """Name, size and modification time of each file of ``folder``."""
    out = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_file():
                info = entry.stat()
                out.append((entry.name, info.st_size, info.st_mtime_ns))
    return sorted(out)


def _fingerprint(value: Any) -> str:
    """A text that differs when ``value`` does (arrays by dtype, shape and bytes)."""
    import hashlib

    import numpy as np

    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return f"array({value.dtype.str},{value.shape},{digest})"
    if isinstance(value, dict):
        items = sorted((repr(k), _fingerprint(v)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return type(value).__name__ + "[" + ",".join(_fingerprint(v) for v in value) + "]"
    return repr(value)


def use_replay_parameters(env: Any) -> Any:
    """Switch ``env`` to the replay parameters (applied at its next reset); returns ``env``."""
    env.change_parameters(replay_parameters())
    return env


def has_opponent(env: Any) -> bool:
    """Whether ``env`` has an opponent that may attack (not grid2op's do-nothing default).

    An opponent attacks unless it is grid2op's ``BaseOpponent``, its actions are ``DontAct``
    or it has no budget (initial or per step).
    """
    from grid2op.Action import DontAct
    from grid2op.Opponent import BaseOpponent

    space = getattr(env, "_oppSpace", None)
    if space is None or type(space.opponent) is BaseOpponent:
        return False
    if issubclass(env._opponent_action_class, DontAct):
        return False
    return bool(space.init_budget > 0 or space.budget_per_timestep > 0)
