"""Grid states as arrays: what both engines need to evaluate actions on many states at once.

A :class:`StateBatch` holds, for ``n`` states of one episode, everything that decides the outcome of
a topology action at a given horizon, as grid2op's ``obs.simulate`` sees it:

- the injections of the horizon (``h = 0``: the observation's own; ``h = 1``: the next-step
  forecast, falling back on the current value where the forecast has none, as ``simulate`` does);
- the topology before the action (``h = 1``: lines whose maintenance starts at the next step are
  disconnected, as ``simulate`` does), the last bus each element was connected to (used when an
  action reconnects a line) and the line status;
- what the game rules look at: cooldowns of lines and substations, protection counters.

Building it from observations is the only place that touches grid2op objects; engines work on
arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridoracle.errors import InvalidOption

HORIZONS = (0, 1)


@dataclass
class StateBatch:
    """States of one episode, ready for an engine (all arrays have ``n`` rows).

    Attributes
    ----------
    horizon : int
        0 (same injections) or 1 (next-step forecast).
    steps : ndarray of int, shape (n,)
        Step index of each state in its episode (0 = the state after reset).
    gen_p, gen_v : ndarray, shape (n, n_gen)
        Generator active power (MW) and voltage set-point (kV) used for the power flow.
    load_p, load_q : ndarray, shape (n, n_load)
        Load active (MW) and reactive (MVAr) consumption used for the power flow.
    topo_vect : ndarray of int, shape (n, dim_topo)
        Bus of every element before the action (-1 = disconnected).
    prev_topo : ndarray of int, shape (n, dim_topo)
        Last bus each element was connected to (grid2op reconnects lines there).
    line_status : ndarray of bool, shape (n, n_line)
    cooldown_line, cooldown_sub : ndarray of int
        Steps before a line status / substation may be changed again.
    protection : ndarray of int, shape (n, n_line)
        Consecutive steps each line has been above its soft overflow threshold.
    observations : list, optional
        The grid2op observations themselves (the reference engine needs them; not pickled).
    """

    horizon: int
    steps: np.ndarray
    gen_p: np.ndarray
    gen_v: np.ndarray
    load_p: np.ndarray
    load_q: np.ndarray
    topo_vect: np.ndarray
    prev_topo: np.ndarray
    line_status: np.ndarray
    cooldown_line: np.ndarray
    cooldown_sub: np.ndarray
    protection: np.ndarray
    observations: list[Any] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["observations"] = None  # grid2op observations hold an environment: never ship them
        return state

    def select(self, index: np.ndarray | Sequence[int]) -> StateBatch:
        """The sub-batch of the given rows (observations follow when present)."""
        idx = np.asarray(index, dtype=np.int64)
        arrays = {
            name: getattr(self, name)[idx]
            for name in (
                "steps",
                "gen_p",
                "gen_v",
                "load_p",
                "load_q",
                "topo_vect",
                "prev_topo",
                "line_status",
                "cooldown_line",
                "cooldown_sub",
                "protection",
            )
        }
        obs = None if self.observations is None else [self.observations[i] for i in idx]
        return StateBatch(horizon=self.horizon, observations=obs, **arrays)


def check_horizon(horizon: int) -> int:
    """Validate a horizon value (``--horizon``)."""
    if horizon not in HORIZONS:
        raise InvalidOption(f"horizon {horizon}: must be one of {list(HORIZONS)}", param="horizon")
    return int(horizon)


def states_from_observations(
    observations: Sequence[Any], steps: Sequence[int], horizon: int
) -> StateBatch:
    """Gather the arrays of a :class:`StateBatch` from grid2op observations.

    Parameters
    ----------
    observations : sequence of grid2op observations
        States of one episode, in order.
    steps : sequence of int
        Their step index in the episode.
    horizon : {0, 1}
        0: the observation's own injections (``obs.simulate(a, time_step=0)``); 1: the next-step
        forecast (``obs.simulate(a)``).
    """
    horizon = check_horizon(horizon)
    if len(observations) == 0:
        raise ValueError("no observation to build states from")
    cls = type(observations[0])
    n_line = cls.n_line

    def stack(attr: str, dtype: Any) -> np.ndarray:
        return np.array([getattr(o, attr) for o in observations], dtype=dtype)

    gen_p = stack("gen_p", np.float64)
    gen_v = stack("gen_v", np.float64)
    load_p = stack("load_p", np.float64)
    load_q = stack("load_q", np.float64)
    topo = stack("topo_vect", np.int64)
    prev_topo = np.array([o._prev_conn._topo_vect for o in observations], dtype=np.int64)
    if horizon == 1:
        for i, o in enumerate(observations):
            f_gen_p, f_gen_v, f_load_p, f_load_q = o.get_forecasted_inj(1)
            for arr, fc in (
                (gen_p, f_gen_p),
                (gen_v, f_gen_v),
                (load_p, f_load_p),
                (load_q, f_load_q),
            ):
                fc = np.asarray(fc, dtype=np.float64)
                ok = np.isfinite(fc)
                arr[i, ok] = fc[ok]
            # lines whose maintenance starts at the next step are disconnected by simulate
            starting = np.asarray(o.time_next_maintenance) == 1
            if starting.any():
                topo[i, cls.line_or_pos_topo_vect[starting]] = -1
                topo[i, cls.line_ex_pos_topo_vect[starting]] = -1
    line_status = (topo[:, cls.line_or_pos_topo_vect] > 0) & (
        topo[:, cls.line_ex_pos_topo_vect] > 0
    )
    protection_attr = (
        "timestep_protection_engaged"
        if hasattr(observations[0], "timestep_protection_engaged")
        else "timestep_overflow"
    )
    return StateBatch(
        horizon=horizon,
        steps=np.asarray(steps, dtype=np.int64),
        gen_p=gen_p,
        gen_v=gen_v,
        load_p=load_p,
        load_q=load_q,
        topo_vect=topo,
        prev_topo=prev_topo,
        line_status=line_status.reshape(len(observations), n_line),
        cooldown_line=stack("time_before_cooldown_line", np.int64),
        cooldown_sub=stack("time_before_cooldown_sub", np.int64),
        protection=stack(protection_attr, np.int64),
        observations=list(observations),
    )
