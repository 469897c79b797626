"""Three grid2op agents sharing one policy; they differ only in which actions they simulate.

The policy (:class:`SimulatingAgent`), at every step:

- **below the threshold** (``obs.rho.max() < threshold``): reconnect a disconnected line whose
  cooldown allows it (``time_before_cooldown_line == 0``, not under maintenance; the lowest id
  when several can be), else do nothing. No ``simulate`` call.
- **at or above it** (an *acting step*): take the legal candidates of the catalogue, i.e. its
  actions other than do nothing whose substations and lines (grid2op's own
  ``get_topological_impact`` on the current line status) are all out of cooldown; choose some of
  them (below); simulate do nothing (one call), the reconnection when one is possible (one call)
  and each chosen candidate with ``obs.simulate(action, time_step)``. A simulation counts when it
  raised no exception and is not a game over, illegal or ambiguous; its value is the simulated
  ``rho.max()``. The *default* is the reconnection when its simulation counts and is not above do
  nothing's, else do nothing; the agent plays the candidate with the lowest simulated max rho if
  it is strictly below the default's (ties: catalogue order), else the default.

A catalogue action equal to the reconnection (``line-<i>-on`` of the line reconnected) is a
candidate like the others: it is simulated again when chosen, and counted.

Which candidates are simulated:

- :class:`GreedyAgent`: every legal one (the expert);
- :class:`RandomKAgent`: ``k`` legal ones drawn at random (its own NumPy Generator, reseeded by
  :meth:`~RandomKAgent.seed`);
- :class:`ScreeningAgent`: the ``k`` legal ones of lowest max rho *predicted* by a model
  (ties: catalogue order).

**Returning to the reference topology** (``recover=r``, off by default; ``0 < r <=
threshold``): on a step where max rho is below ``r`` and no line is to be reconnected (the
reconnection keeps priority), the agent compares the observation's ``topo_vect`` with the
*reference*, the ``topo_vect`` of the observation :meth:`~SimulatingAgent.reset` got (grid2op's
Runner calls ``reset`` with the episode's first observation; without a ``reset``, the first
observation :meth:`~SimulatingAgent.act` sees), on the elements connected now (and known in the
reference). For each substation with an element on another bus than the reference's and whose
cooldown allows it (``time_before_cooldown_sub == 0``), the action that sets the substation's
connected elements back to their reference buses (a disconnected line end is left at 0, so that
the action reconnects nothing) is simulated (ascending substation id); the one of lowest
simulated max rho (ties: the lowest id) is played when its simulation counts and its max rho is
below ``threshold`` (so that it does not make the agent act at the next step), else do nothing.
These calls count in ``simulate_calls`` and in ``recovery_calls``; ``recovery_steps`` counts the
steps where a recovery was played. Such a step is not an acting step.

Each agent counts its ``simulate`` calls and keeps one record per acting step (see
:attr:`SimulatingAgent.records`); :meth:`~SimulatingAgent.reset` starts an episode's counters,
the ``total_*`` counters run over the agent's life. The agents pickle (grid2op's Runner copies
them into its processes): they hold action dicts, and build grid2op actions lazily per process.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from grid2op.Agent import BaseAgent

from gridoracle.actions.model import Action
from gridoracle.agent.catalogue import (
    ActionsLike,
    ModelLike,
    _model_label,
    check_same_names,
    load_catalogue,
    load_predictor,
    resolve_actions,
)
from gridoracle.agent.features import FeatureRow
from gridoracle.errors import InvalidOption, ModelMismatch

__all__ = [
    "ACT",
    "DONOTHING",
    "RECONNECT",
    "RECOVER",
    "RECOVERY",
    "GreedyAgent",
    "RandomKAgent",
    "ScreeningAgent",
    "SimulatingAgent",
]

DONOTHING = "donothing"
"""Name of do nothing in the records."""
RECONNECT = "reconnect-line-{}"
"""Name of the reconnection of line ``i`` in the records."""
RECOVER = "recover-sub-{}"
"""Name of the return of substation ``s`` to its reference topology in the records."""
ACT, RECOVERY = "act", "recover"
"""The ``kind`` of a record: an acting step, a step where a recovery was simulated."""

log = logging.getLogger(__name__)

_IMPACT_CACHE = 16  # line-status vectors whose topological impacts are kept


def _same_environment(model_env: str, space: Any) -> bool:
    """Whether a model's ``dataset.env`` (a name or a folder) names the environment of ``space``
    (grid2op appends its backend's class name to the name)."""
    name, base = str(getattr(space, "env_name", "")), Path(str(model_env)).name
    return name == base or (
        name.startswith(base)
        and re.fullmatch(r"[A-Za-z0-9]*Backend", name[len(base) :]) is not None
    )


_Pairs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _lines_touched(action: Any) -> np.ndarray:
    """Lines whose status or end bus ``action`` sets or changes (the lines whose status its
    topological impact depends on)."""
    touched = (
        (np.asarray(action.line_set_status) != 0)
        | np.asarray(action.line_change_status, dtype=bool)
        | (np.asarray(action.line_or_set_bus) != 0)
        | (np.asarray(action.line_ex_set_bus) != 0)
        | np.asarray(action.line_or_change_bus, dtype=bool)
        | np.asarray(action.line_ex_change_bus, dtype=bool)
    )
    return np.flatnonzero(touched)


def _k_smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest ``values`` (NaN last; ties: the first positions), sorted:
    the first ``k`` of a stable argsort, in O(n)."""
    values = np.where(np.isnan(values), np.inf, values)
    if values.size <= k:
        return np.arange(values.size)
    kth = np.partition(values, k - 1)[k - 1]
    below = np.flatnonzero(values < kth)
    tied = np.flatnonzero(values == kth)[: k - below.size]
    return np.sort(np.concatenate([below, tied]))


def _finite_or_none(value: float) -> float | None:
    """``value``, or None where it is not a finite number (records stay JSON-ready)."""
    return value if math.isfinite(value) else None


def _check_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise InvalidOption(
            f"threshold {threshold!r}: expected a number (max rho above which the agent acts)",
            param="threshold",
        )
    value = float(threshold)
    if not math.isfinite(value) or value < 0:
        raise InvalidOption(
            f"threshold {threshold!r}: expected a finite number >= 0", param="threshold"
        )
    return value


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidOption(f"k {k!r}: expected an integer >= 1", param="k")
    return int(k)


def _check_recover(recover: Any, threshold: float) -> float | None:
    if recover is None:
        return None
    ok = not isinstance(recover, bool) and isinstance(recover, int | float | np.number)
    if not ok or not math.isfinite(float(recover)) or not 0 < float(recover) <= threshold:
        raise InvalidOption(
            f"recover {recover!r}: expected a number in (0, threshold {threshold:g}] (max rho "
            "below which the agent returns to the reference topology) or None",
            param="recover",
        )
    return float(recover)


def _check_time_step(time_step: Any) -> int:
    if isinstance(time_step, bool) or time_step not in (0, 1):
        raise InvalidOption(f"time_step {time_step!r}: expected 0 or 1", param="time_step")
    return int(time_step)


class SimulatingAgent(BaseAgent):
    """The policy shared by the three agents (see the module docstring); not used on its own.

    Parameters
    ----------
    action_space : grid2op ActionSpace
        The environment's action space.
    actions : list of Action
        The catalogue, checked against ``action_space``; do-nothing entries (empty dicts) are not
        candidates (do nothing is always simulated once).
    threshold : float
        Max rho at or above which the agent acts.
    time_step : {0, 1}, default 1
        ``obs.simulate``'s ``time_step``: 1 uses the next step's forecast (grid2op's default).
    recover : float, optional
        Max rho below which the agent returns a substation to the reference topology (see the
        module docstring); ``0 < recover <= threshold``. None (default): never.

    Attributes
    ----------
    simulate_calls, acting_steps, steps : int
        Of the current episode (since :meth:`reset`); ``simulate_calls`` counts every call,
        the recovery's included.
    recovery_calls, recovery_steps : int
        Of the current episode: the ``simulate`` calls of recoveries, and the steps where a
        recovery was played.
    reference : numpy.ndarray or None
        The reference ``topo_vect`` (of the observation :meth:`reset` got).
    records : list of dict
        One per acting step (``kind`` ``"act"``): ``step``, ``rho`` (observed max rho),
        ``legal`` (legal candidates), ``calls``, ``seconds`` (time in :meth:`act`,
        ``perf_counter``), ``action`` (name played),
        ``simulated_rho`` (its simulated max rho), ``donothing_rho`` (do nothing's) and
        ``predicted`` (the model's value of the action played). A value is None where there is
        none: a simulation that does not count (do nothing's may not), no model, no prediction
        (the reconnection). JSON-ready. And one per step where a recovery was simulated
        (``kind`` ``"recover"``): ``step``, ``rho``, ``substations`` (those simulated), ``calls``,
        ``seconds``, ``action`` (``recover-sub-<s>`` or ``donothing`` when none was played),
        ``simulated_rho`` (of the best recovery simulated), ``values`` (each one's, None where
        the simulation does not count).
    total_simulate_calls, total_acting_steps, total_steps : int
        Over every episode.
    last_candidates : list of str
        Names of the catalogue actions simulated at the last acting step, in catalogue order
        (do nothing and the reconnection are simulated besides them).
    """

    kind = "simulating"

    def __init__(
        self,
        action_space: Any,
        actions: Sequence[Action],
        threshold: float = 0.95,
        *,
        time_step: int = 1,
        recover: float | None = None,
    ) -> None:
        super().__init__(action_space)
        self.threshold = _check_threshold(threshold)
        self.time_step = _check_time_step(time_step)
        self.recover = _check_recover(recover, self.threshold)
        self.reference: np.ndarray | None = None
        # the substation of each element of topo_vect (grid2op orders it by substation)
        sub_info = np.asarray(action_space.sub_info, dtype=np.intp)
        self._sub_of = np.repeat(np.arange(sub_info.size), sub_info)
        self.actions: list[Action] = list(actions)
        self.action_names = [a.name for a in self.actions]
        self._candidates = np.array(
            [i for i, a in enumerate(self.actions) if a.grid2op], dtype=np.intp
        )
        # the catalogue's do nothing (its prediction is recorded when do nothing is played)
        self._donothing = next((i for i, a in enumerate(self.actions) if not a.grid2op), None)
        self._fresh_caches()
        self.total_simulate_calls = 0
        self.total_acting_steps = 0
        self.total_steps = 0
        self.total_recovery_calls = 0
        self.total_recovery_steps = 0
        self._reset_counters()

    # -- state -------------------------------------------------------------------------------

    def _fresh_caches(self) -> None:
        # grid2op actions of self.actions, each built the first time it is needed
        self._g2op: list[Any] = [None] * len(self.actions)
        self._reco: dict[int, Any] = {}
        # per line-status vector: (candidate position, line) and (candidate position, substation)
        # pairs of each candidate's topological impact, as flat arrays; with every line
        # connected; and (candidate position, line) pairs of the lines each candidate touches
        self._impact: dict[bytes, _Pairs] = {}
        self._base: _Pairs | None = None
        self._touch: tuple[np.ndarray, np.ndarray] = (np.empty(0, np.intp), np.empty(0, np.intp))

    def _reset_counters(self) -> None:
        self.simulate_calls = 0
        self.acting_steps = 0
        self.steps = 0
        self.recovery_calls = 0
        self.recovery_steps = 0
        self.records: list[dict[str, Any]] = []
        self.last_candidates: list[str] = []

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_g2op", "_reco", "_impact", "_base", "_touch"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fresh_caches()

    def reset(self, obs: Any) -> None:
        """Start an episode: the per-episode counters and records restart from zero, and the
        reference topology is ``obs.topo_vect`` (None: taken from the next observation)."""
        self._reset_counters()
        self.reference = None if obs is None else np.array(obs.topo_vect, dtype=np.intp)

    # -- grid2op actions ---------------------------------------------------------------------

    def _grid2op_action(self, i: int) -> Any:
        """The grid2op action of catalogue entry ``i`` (built once per process)."""
        action = self._g2op[i]
        if action is None:
            action = self._g2op[i] = self.actions[i].to_grid2op(self.action_space)
        return action

    def _reconnection(self, line: int) -> Any:
        if line not in self._reco:
            self._reco[line] = self.action_space({"set_line_status": [(int(line), 1)]})
        return self._reco[line]

    def reconnectable_line(self, obs: Any) -> int | None:
        """The line the agent would reconnect now: disconnected, cooldown 0, not in maintenance
        (the lowest id), or None."""
        off = ~np.asarray(obs.line_status, dtype=bool)
        ready = np.asarray(obs.time_before_cooldown_line) == 0
        maintenance = (np.asarray(obs.time_next_maintenance) == 0) & (
            np.asarray(obs.duration_next_maintenance) > 0
        )
        lines = np.flatnonzero(off & ready & ~maintenance)
        return int(lines[0]) if lines.size else None

    def legal_candidates(self, obs: Any) -> np.ndarray:
        """Catalogue indices of the candidates (not do nothing) whose substations and lines are
        out of cooldown in ``obs``, in catalogue order."""
        busy_line = np.asarray(obs.time_before_cooldown_line) > 0
        busy_sub = np.asarray(obs.time_before_cooldown_sub) > 0
        if self._candidates.size == 0 or not (busy_line.any() or busy_sub.any()):
            return self._candidates  # nothing in cooldown: every candidate is legal
        line_owner, line_id, sub_owner, sub_id = self._impact_for(
            np.asarray(obs.line_status, dtype=bool)
        )
        hit = np.concatenate([line_owner[busy_line[line_id]], sub_owner[busy_sub[sub_id]]])
        illegal = np.bincount(hit, minlength=self._candidates.size) > 0
        return self._candidates[~illegal]

    def _impact_for(self, status: np.ndarray) -> _Pairs:
        """The candidates' topological impact when the line status is ``status`` (cached).

        An action's impact (grid2op's ``get_topological_impact``) depends on the status of the
        lines it touches only (their status or the bus of one of their ends): it is computed
        once with every line connected, and again for the actions touching a line that is out.
        """
        key = status.tobytes()
        impact = self._impact.get(key)
        if impact is not None:
            return impact
        if self._base is None:
            n_line = int(self.action_space.n_line)
            self._base = self._impact_pairs(self._candidates, np.ones(n_line, dtype=bool))
            owners, lines = [], []
            for pos, i in enumerate(self._candidates):
                hit = _lines_touched(self._grid2op_action(int(i)))
                owners.append(np.full(hit.size, pos, dtype=np.intp))
                lines.append(hit)
            self._touch = (np.concatenate(owners), np.concatenate(lines).astype(np.intp))
        owner, touched = self._touch
        again = np.unique(owner[~status[touched]])
        if again.size == 0:
            impact = self._base
        else:
            base = self._base
            new = self._impact_pairs(self._candidates[again], status, positions=again)
            keep_line = ~np.isin(base[0], again)
            keep_sub = ~np.isin(base[2], again)
            impact = (
                np.concatenate([base[0][keep_line], new[0]]),
                np.concatenate([base[1][keep_line], new[1]]),
                np.concatenate([base[2][keep_sub], new[2]]),
                np.concatenate([base[3][keep_sub], new[3]]),
            )
        if len(self._impact) >= _IMPACT_CACHE:
            self._impact.clear()
        self._impact[key] = impact
        return impact

    def _impact_pairs(
        self, indices: np.ndarray, status: np.ndarray, positions: np.ndarray | None = None
    ) -> _Pairs:
        """(position, line) and (position, substation) pairs of the impact of the catalogue
        entries ``indices`` (at candidate ``positions``, default 0, 1, ...) for ``status``."""
        line_owner, line_id, sub_owner, sub_id = [], [], [], []
        where = range(len(indices)) if positions is None else positions
        for pos, i in zip(where, indices, strict=True):
            # _read_from_cache=False: the action's cache may hold another line status
            lines, subs = self._grid2op_action(int(i)).get_topological_impact(
                status, _read_from_cache=False
            )
            hit_lines, hit_subs = np.flatnonzero(lines), np.flatnonzero(subs)
            line_owner.append(np.full(hit_lines.size, pos, dtype=np.intp))
            line_id.append(hit_lines)
            sub_owner.append(np.full(hit_subs.size, pos, dtype=np.intp))
            sub_id.append(hit_subs)
        return (
            np.concatenate(line_owner).astype(np.intp),
            np.concatenate(line_id).astype(np.intp),
            np.concatenate(sub_owner).astype(np.intp),
            np.concatenate(sub_id).astype(np.intp),
        )

    # -- the policy --------------------------------------------------------------------------

    def choose_candidates(
        self, obs: Any, legal: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The catalogue indices to simulate among ``legal`` and the predictions (or None)."""
        raise NotImplementedError

    def _simulate(self, obs: Any, action: Any) -> float:
        """Simulated max rho of ``action``, or inf when the simulation does not count."""
        sim_obs, _reward, done, info = obs.simulate(action, time_step=self.time_step)
        if done or info.get("exception") or info.get("is_illegal") or info.get("is_ambiguous"):
            return math.inf
        value = float(np.max(sim_obs.rho))
        return value if math.isfinite(value) else math.inf

    def act(self, observation: Any, reward: float, done: bool = False) -> Any:
        """The action to play on ``observation`` (see the module docstring for the policy)."""
        start = time.perf_counter()
        obs = observation
        self.steps += 1
        self.total_steps += 1
        line = self.reconnectable_line(obs)
        rho = float(np.max(obs.rho))
        if self.reference is None:  # no reset: the episode's first observation seen
            self.reference = np.array(obs.topo_vect, dtype=np.intp)
        if rho < self.threshold:
            if line is not None:
                return copy.deepcopy(self._reconnection(line))
            if self.recover is not None and rho < self.recover:
                recovery = self._recover(obs, rho, start)
                if recovery is not None:
                    return recovery
            return self.action_space({})
        legal = self.legal_candidates(obs)
        chosen, predicted = self.choose_candidates(obs, legal)
        chosen = np.sort(np.asarray(chosen, dtype=np.intp))  # simulated in catalogue order
        self.last_candidates = [self.action_names[i] for i in chosen]
        calls = 1
        donothing_rho = self._simulate(obs, self.action_space({}))
        best_name, best_rho, best_action = DONOTHING, donothing_rho, None
        best_predicted = math.nan
        if predicted is not None and self._donothing is not None:
            best_predicted = float(predicted[self._donothing])
        if line is not None:
            calls += 1
            reco = self._reconnection(line)
            reco_rho = self._simulate(obs, reco)
            if math.isfinite(reco_rho) and reco_rho <= donothing_rho:
                best_name, best_rho, best_action = RECONNECT.format(line), reco_rho, reco
                best_predicted = math.nan
        for i in chosen:
            calls += 1
            action = self._grid2op_action(int(i))
            value = self._simulate(obs, action)
            if value < best_rho:
                best_name, best_rho, best_action = self.action_names[i], value, action
                best_predicted = float(predicted[i]) if predicted is not None else math.nan
        self.simulate_calls += calls
        self.total_simulate_calls += calls
        self.acting_steps += 1
        self.total_acting_steps += 1
        played = self.action_space({}) if best_action is None else copy.deepcopy(best_action)
        self.records.append(
            {
                "kind": ACT,
                "step": int(obs.current_step),
                "rho": rho,
                "legal": int(legal.size),
                "calls": calls,
                "seconds": time.perf_counter() - start,
                "action": best_name,
                "simulated_rho": _finite_or_none(best_rho),
                "donothing_rho": _finite_or_none(donothing_rho),
                "predicted": _finite_or_none(best_predicted),
            }
        )
        return played

    def recovery_actions(self, obs: Any) -> list[tuple[int, Any]]:
        """The recoveries possible on ``obs``: (substation, grid2op action), ascending id.

        One per substation that has a connected element on another bus than the reference's and
        whose cooldown is 0; its action sets every connected element of the substation (known in
        the reference) to its reference bus, and leaves the others (a disconnected line end) at 0.
        """
        if self.reference is None:
            self.reference = np.array(obs.topo_vect, dtype=np.intp)
        reference = self.reference
        topo = np.asarray(obs.topo_vect, dtype=np.intp)
        use = (topo > 0) & (reference > 0)
        differ = use & (topo != reference)
        if not differ.any():
            return []
        ready = np.asarray(obs.time_before_cooldown_sub) == 0
        out = []
        for sub in np.unique(self._sub_of[differ]):
            if not ready[sub]:
                continue
            mask = use & (self._sub_of == sub)
            bus = np.zeros(topo.size, dtype=np.intp)
            bus[mask] = reference[mask]
            out.append((int(sub), self.action_space({"set_bus": bus})))
        return out

    def _recover(self, obs: Any, rho: float, start: float) -> Any | None:
        """The recovery to play on ``obs`` (see the module docstring), or None."""
        candidates = self.recovery_actions(obs)
        if not candidates:
            return None
        values = [self._simulate(obs, action) for _sub, action in candidates]
        calls = len(values)
        self.simulate_calls += calls
        self.total_simulate_calls += calls
        self.recovery_calls += calls
        self.total_recovery_calls += calls
        best = int(np.argmin(values))  # the first of the lowest: the lowest substation id
        played = None
        name = DONOTHING
        if values[best] < self.threshold:  # inf (does not count) is never below
            sub, action = candidates[best]
            played, name = action, RECOVER.format(sub)
            self.recovery_steps += 1
            self.total_recovery_steps += 1
        self.records.append(
            {
                "kind": RECOVERY,
                "step": int(obs.current_step),
                "rho": rho,
                "substations": [sub for sub, _ in candidates],
                "calls": calls,
                "seconds": time.perf_counter() - start,
                "action": name,
                "simulated_rho": _finite_or_none(values[best]),
                "values": [_finite_or_none(v) for v in values],
            }
        )
        return played

    def summary(self) -> dict[str, Any]:
        """Counters of the current episode (and of the agent's life), JSON-ready.

        Keys: ``agent``, ``k`` (None for greedy), ``threshold``, ``recover``, ``catalogue``
        (actions), ``steps``, ``acting_steps``, ``simulate_calls`` (every call),
        ``calls_per_acting_step`` (the acting steps' calls, recoveries' left out),
        ``decision_seconds_mean`` / ``_max`` / ``_total`` (acting steps only),
        ``actions_played`` (acting steps where an action other than do nothing was played),
        ``recovery_calls``, ``recovery_steps`` (recoveries played), ``recovery_attempts`` (steps
        where a recovery was simulated), ``recovery_seconds_mean`` / ``_total`` (of those), and
        ``total_steps``, ``total_acting_steps``, ``total_simulate_calls``,
        ``total_recovery_calls``, ``total_recovery_steps``. Means are None without a step to
        average.
        """
        acting = [r for r in self.records if r.get("kind", ACT) == ACT]
        recoveries = [r for r in self.records if r.get("kind") == RECOVERY]
        seconds = [r["seconds"] for r in acting]
        recovery_seconds = [r["seconds"] for r in recoveries]
        n = self.acting_steps
        acting_calls = self.simulate_calls - self.recovery_calls
        return {
            "agent": self.kind,
            "k": getattr(self, "k", None),
            "threshold": self.threshold,
            "recover": self.recover,
            "catalogue": len(self.actions),
            "steps": self.steps,
            "acting_steps": n,
            "simulate_calls": self.simulate_calls,
            "calls_per_acting_step": acting_calls / n if n else None,
            "decision_seconds_mean": float(np.mean(seconds)) if seconds else None,
            "decision_seconds_max": float(np.max(seconds)) if seconds else None,
            "decision_seconds_total": float(np.sum(seconds)),
            "actions_played": sum(r["action"] != DONOTHING for r in acting),
            "recovery_calls": self.recovery_calls,
            "recovery_steps": self.recovery_steps,
            "recovery_attempts": len(recoveries),
            "recovery_seconds_mean": (
                float(np.mean(recovery_seconds)) if recovery_seconds else None
            ),
            "recovery_seconds_total": float(np.sum(recovery_seconds)),
            "total_steps": self.total_steps,
            "total_acting_steps": self.total_acting_steps,
            "total_simulate_calls": self.total_simulate_calls,
            "total_recovery_calls": self.total_recovery_calls,
            "total_recovery_steps": self.total_recovery_steps,
        }


class GreedyAgent(SimulatingAgent):
    """The expert: simulates every legal action of its catalogue at each acting step.

    Parameters
    ----------
    action_space : grid2op ActionSpace
    actions : catalogue file, model folder, Predictor or list of (name, grid2op dict)
        See :func:`gridoracle.agent.catalogue.resolve_actions`.
    threshold : float, default 0.95
        Max rho at or above which it acts.
    time_step : {0, 1}, default 1
        ``obs.simulate``'s ``time_step``.
    recover : float, optional
        Return to the reference topology below this max rho (see the module docstring).

    Examples
    --------
    >>> agent = GreedyAgent(env.action_space, "actions.json")  # doctest: +SKIP
    >>> action = agent.act(obs, 0.0)  # doctest: +SKIP
    >>> agent.simulate_calls  # legal candidates + 1 when it acted  # doctest: +SKIP
    """

    kind = "greedy"

    def __init__(
        self,
        action_space: Any,
        actions: ActionsLike,
        threshold: float = 0.95,
        *,
        time_step: int = 1,
        recover: float | None = None,
    ) -> None:
        threshold = _check_threshold(threshold)
        super().__init__(
            action_space,
            resolve_actions(actions, action_space),
            threshold,
            time_step=time_step,
            recover=recover,
        )

    def choose_candidates(self, obs: Any, legal: np.ndarray) -> tuple[np.ndarray, None]:
        return legal, None


class RandomKAgent(SimulatingAgent):
    """A baseline: simulates ``k`` legal actions drawn at random at each acting step.

    Parameters
    ----------
    action_space : grid2op ActionSpace
    actions : catalogue file, model folder, Predictor or list of (name, grid2op dict)
    k : int, default 10
        Candidates simulated per acting step (all legal ones when fewer).
    threshold : float, default 0.95
    seed : int, default 0
        Seed of its NumPy Generator; :meth:`seed` reseeds it (grid2op's Runner calls it with
        ``agent_seeds``). Same seed, same draws.
    time_step : {0, 1}, default 1
    recover : float, optional
        Return to the reference topology below this max rho (see the module docstring).
    """

    kind = "random"

    def __init__(
        self,
        action_space: Any,
        actions: ActionsLike,
        k: int = 10,
        threshold: float = 0.95,
        seed: int = 0,
        *,
        time_step: int = 1,
        recover: float | None = None,
    ) -> None:
        self.k = _check_k(k)
        threshold = _check_threshold(threshold)
        super().__init__(
            action_space,
            resolve_actions(actions, action_space),
            threshold,
            time_step=time_step,
            recover=recover,
        )
        self.seed(seed)

    def seed(self, seed: int) -> Any:
        """Reseed the candidate draws (and grid2op's own generators of the agent)."""
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise InvalidOption(f"seed {seed!r}: expected an integer >= 0", param="seed")
        self._rng = np.random.default_rng(int(seed))
        return super().seed(int(seed))

    def choose_candidates(self, obs: Any, legal: np.ndarray) -> tuple[np.ndarray, None]:
        if legal.size <= self.k:
            return legal, None
        return self._rng.choice(legal, size=self.k, replace=False), None


class ScreeningAgent(SimulatingAgent):
    """Predicts every action's max rho, simulates the ``k`` best predicted legal ones.

    Parameters
    ----------
    action_space : grid2op ActionSpace
    model : str, Path or Predictor
        A model folder written by ``gridoracle train``, or a loaded model. Its catalogue is read
        with :func:`~gridoracle.agent.catalogue.load_catalogue`.
    k : int, default 10
        Candidates simulated per acting step.
    threshold : float, default 0.95
    actions : catalogue file or list, optional
        Overrides the model's catalogue; must hold the model's action names (any order).
    time_step : {0, 1}, default 1
        ``obs.simulate``'s ``time_step``.
    recover : float, optional
        Return to the reference topology below this max rho (see the module docstring).

    Raises
    ------
    ModelError, ModelMismatch
        A model folder that does not load, without a catalogue, trained on another grid (its
        features are not this grid's), or ``actions`` with other names than the model's.

    Examples
    --------
    >>> agent = ScreeningAgent(env.action_space, "models/line_flows", k=10)  # doctest: +SKIP
    >>> action = agent.act(obs, 0.0)  # doctest: +SKIP
    """

    kind = "screening"

    def __init__(
        self,
        action_space: Any,
        model: ModelLike,
        k: int = 10,
        threshold: float = 0.95,
        actions: ActionsLike | None = None,
        *,
        time_step: int = 1,
        recover: float | None = None,
    ) -> None:
        self.k = _check_k(k)
        threshold = _check_threshold(threshold)
        predictor = load_predictor(model)
        label = _model_label(predictor)
        dataset = predictor.metadata.get("dataset")
        horizon = dataset.get("horizon") if isinstance(dataset, dict) else None
        horizon = 1 if horizon == 1 else 0
        env = dataset.get("env") if isinstance(dataset, dict) else None
        if env and not _same_environment(env, action_space):
            # same element counts (checked below) but another name: the user may know better
            log.warning(
                "%s was trained on %s; the agent plays on %s", label, env, action_space.env_name
            )
        try:
            row = FeatureRow(predictor.feature_names, action_space, horizon, label=label)
        except ModelMismatch as exc:
            raise ModelMismatch(str(exc), param="model") from None
        if actions is None:
            catalogue = load_catalogue(predictor, action_space)
        else:
            given = resolve_actions(actions, action_space)
            catalogue = check_same_names(given, predictor, "the actions given")
        super().__init__(action_space, catalogue, threshold, time_step=time_step, recover=recover)
        self.predictor = predictor
        self.horizon = horizon
        self.feature_row = row

    def predict(self, obs: Any) -> np.ndarray:
        """Predicted max rho of every catalogue action on ``obs`` (catalogue order)."""
        out = self.predictor.estimator.predict(self.feature_row(obs))
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def choose_candidates(self, obs: Any, legal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        predicted = self.predict(obs)
        if legal.size <= self.k:
            return legal, predicted
        return legal[_k_smallest(predicted[legal], self.k)], predicted
