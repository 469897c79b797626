"""Combined actions: Oracle4Grid's combinations of unitary actions, and its filter at t0.

A combined action plays at most one unitary action per asset (substation or line), on up to
``max_depth`` assets at once. :func:`combinations` builds them exactly as Oracle4Grid's
``combinator.generate_all`` (``oracle4grid/core/actions_utils/combinator.py``) does:

- the assets, in the order their first unitary action appears in the file;
- for depth 1, 2, ..., ``max_depth``: ``itertools.combinations`` of the assets, and for each
  combination of assets ``itertools.product`` of their unitary actions (in file order);
- the name joins the unitary names with ``_`` in that order (``sub-1-0_sub-5-2_line-4-3``);
- ``donothing-0`` (no part) comes last.

Their number is ``1 + sum over d = 1..max_depth of e_d(n_1, ..., n_A)``, ``e_d`` being the
elementary symmetric polynomial of the numbers of unitary actions of the A assets
(:func:`count_combinations`).

:func:`filter_at_t0` drops the combined actions Oracle4Grid drops before simulating them: those
whose ``obs.simulate(action, time_step=0)`` on the first observation of the chronic ends the
episode or raises, and those that change neither the topology vector nor the line status.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gridoracle.actions.model import SET_BUS_KEYS, Action
from gridoracle.actions.parse import UnitaryAction
from gridoracle.errors import InvalidOption

if TYPE_CHECKING:
    from grid2op.Environment import Environment

__all__ = [
    "DONOTHING_NAME",
    "CombinedAction",
    "combination_summary",
    "combinations",
    "count_combinations",
    "filter_at_t0",
]

logger = logging.getLogger(__name__)

#: Oracle4Grid's name of the combined action with no part
DONOTHING_NAME = "donothing-0"
_MAX_REASON = 160
_GRID2OP = "_grid2op"


@dataclass(frozen=True, kw_only=True)
class CombinedAction(Action):
    """Unitary actions played together, at most one per asset.

    Attributes
    ----------
    name : str
        Oracle4Grid's name: the parts' names joined with ``_``, or ``donothing-0``.
    grid2op : dict
        The grid2op action dict of all parts together (see :func:`_merged_dict`); ``{}`` for
        ``donothing-0``. Built from the parts on first access and kept (combined actions are
        made by the hundred thousand and most are never simulated); given explicitly, it is
        kept as given.
    parts : tuple of UnitaryAction
        The unitary actions, in file order of their assets.
    """

    parts: tuple[UnitaryAction, ...]

    # ``grid2op`` (a field of Action) is stored under _GRID2OP in the instance's __dict__, set
    # by the dataclass' __init__ through this setter or left out by _lazy and built on access
    @property  # type: ignore[misc]
    def grid2op(self) -> dict[str, Any]:
        found = self.__dict__.get(_GRID2OP)
        if found is None:
            found = self.__dict__[_GRID2OP] = _merged_dict(self.parts)
        return found

    @grid2op.setter
    def grid2op(self, value: dict[str, Any]) -> None:
        self.__dict__[_GRID2OP] = value

    @classmethod
    def of(cls, parts: Sequence[UnitaryAction]) -> CombinedAction:
        """The combined action of ``parts`` (kept in the given order), named from them.

        Raises
        ------
        ValueError
            If two parts act on the same asset.
        """
        assets = [part.asset for part in parts]
        if len(set(assets)) != len(assets):
            raise ValueError(f"two parts act on the same asset: {[p.name for p in parts]}")
        return cls._lazy(tuple(parts))

    @classmethod
    def _lazy(cls, parts: tuple[UnitaryAction, ...]) -> CombinedAction:
        """The combined action of ``parts`` (on distinct assets, unchecked), its dict unbuilt."""
        made = object.__new__(cls)
        made.__dict__.update(
            name="_".join([part.name for part in parts]) if parts else DONOTHING_NAME,
            parts=parts,
        )
        return made

    @property
    def depth(self) -> int:
        """Number of unitary actions combined (0 for ``donothing-0``)."""
        return len(self.parts)

    @property
    def is_donothing(self) -> bool:
        """True for ``donothing-0``."""
        return not self.parts

    def assets(self) -> dict[tuple[str, int], int]:
        """``{("sub" | "line", asset id): k}``: the unitary action played on each asset."""
        return {part.asset: part.k for part in self.parts}

    def subs(self) -> tuple[int, ...]:
        """Substations acted on, in the order of the parts."""
        return tuple(part.asset_id for part in self.parts if part.asset_kind == "sub")

    def lines(self) -> tuple[int, ...]:
        """Lines acted on, in the order of the parts."""
        return tuple(part.asset_id for part in self.parts if part.asset_kind == "line")


def _merged_dict(parts: Sequence[UnitaryAction]) -> dict[str, Any]:
    """The grid2op action dict of ``parts`` together, accepted by ``env.action_space(d)``.

    ``{"set_bus": {...}, "set_line_status": [...]}`` with only the keys used (``{}`` for
    ``donothing-0``); the element lists of ``set_bus`` are sorted by element id.
    """
    set_bus: dict[str, list[list[int]]] = {}
    line_status: list[list[int]] = []
    for part in parts:
        for key, pairs in part.grid2op.get("set_bus", {}).items():
            set_bus.setdefault(key, []).extend([list(pair) for pair in pairs])
        line_status.extend([list(pair) for pair in part.grid2op.get("set_line_status", [])])
    out: dict[str, Any] = {}
    if set_bus:
        out["set_bus"] = {key: sorted(set_bus[key]) for key in SET_BUS_KEYS if key in set_bus}
    if line_status:
        out["set_line_status"] = sorted(line_status)
    return out


def _assets_in_order(
    unitary: Sequence[UnitaryAction],
) -> dict[tuple[str, int], list[UnitaryAction]]:
    names = [action.name for action in unitary]
    if len(set(names)) != len(names):
        duplicated = next(name for name in names if names.count(name) > 1)
        raise ValueError(f"unitary action {duplicated} is given twice")
    per_asset: dict[tuple[str, int], list[UnitaryAction]] = {}
    for action in unitary:
        per_asset.setdefault(action.asset, []).append(action)
    return per_asset


def _check_depth(max_depth: int) -> None:
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1:
        raise InvalidOption(f"max_depth must be an integer of at least 1, got {max_depth!r}")


def combinations(unitary: Sequence[UnitaryAction], max_depth: int) -> list[CombinedAction]:
    """All combined actions of up to ``max_depth`` unitary actions on distinct assets.

    Parameters
    ----------
    unitary : sequence of UnitaryAction
        The unitary actions, in file order (as :func:`~gridoracle.actions.parse.
        load_unitary_actions` returns them).
    max_depth : int
        Most unitary actions combined (Oracle4Grid's ``max_depth``), at least 1.

    Returns
    -------
    list of CombinedAction
        In Oracle4Grid's order (see the module doc), ``donothing-0`` last.

    Raises
    ------
    InvalidOption
        If ``max_depth`` is not an integer of at least 1.
    ValueError
        If two unitary actions have the same name.

    Examples
    --------
    With ``sub-1-0``, ``sub-1-1``, ``sub-5-2`` and ``line-4-3`` and ``max_depth=2``: the 4
    unitary actions, then ``sub-1-0_sub-5-2``, ``sub-1-1_sub-5-2``, ``sub-1-0_line-4-3``,
    ``sub-1-1_line-4-3``, ``sub-5-2_line-4-3``, then ``donothing-0``.
    """
    _check_depth(max_depth)
    per_asset = list(_assets_in_order(unitary).values())
    lazy = CombinedAction._lazy
    out: list[CombinedAction] = []
    for depth in range(1, max_depth + 1):
        for assets in itertools.combinations(per_asset, depth):
            out.extend(map(lazy, itertools.product(*assets)))
    out.append(lazy(()))
    return out


def count_combinations(unitary: Sequence[UnitaryAction], max_depth: int) -> int:
    """``len(combinations(unitary, max_depth))`` without building them (do nothing included).

    Raises
    ------
    InvalidOption
        If ``max_depth`` is not an integer of at least 1.
    """
    _check_depth(max_depth)
    sizes = [len(actions) for actions in _assets_in_order(unitary).values()]
    # e[d] = elementary symmetric polynomial of degree d of the sizes, built one asset at a time
    e = [1] + [0] * max_depth
    for size in sizes:
        for d in range(max_depth, 0, -1):
            e[d] += e[d - 1] * size
    return 1 + sum(e[1:])


def filter_at_t0(
    actions: Sequence[CombinedAction],
    env: Environment,
    chronic: int | str,
    seed: int | None = None,
    *,
    obs: Any = None,
) -> tuple[list[CombinedAction], list[tuple[str, str]]]:
    """Drop the combined actions that diverge at t0 or have no effect, as Oracle4Grid does.

    The chronic is reset (``env.reset(seed=seed, options={"time serie id": chronic})``) and each
    action but ``donothing-0`` (always kept) is simulated on the first observation with
    ``obs.simulate(action, time_step=0)`` (injections of t0). It is dropped when the simulation
    ends the episode or reports an exception (a diverged power flow, an ambiguous action), when
    it raises, when the environment's rules refuse it, or when it changes neither
    ``obs.topo_vect`` nor ``obs.line_status``.

    Oracle4Grid resets its environment once more after ``set_id(chronic); reset()`` before
    filtering, which (grid2op moves to the next chronic at each reset) filters on the first
    observation of the chronic after the requested one; here the requested chronic is used.

    Parameters
    ----------
    actions : sequence of CombinedAction
        Typically :func:`combinations`'s output.
    env : grid2op Environment
        Made as Oracle4Grid's simulation environment: an action class that sets buses and line
        status (``PlayableAction``), rules that allow every action (``AlwaysLegal``) and
        ``NO_OVERFLOW_DISCONNECTION``; with other rules, actions the rules refuse are dropped.
        It is reset to ``chronic``.
    chronic : int or str
        Chronic index or folder name.
    seed : int, optional
        Seed passed to ``env.reset``.
    obs : grid2op Observation, optional
        The first observation of ``chronic``, from a reset of ``env`` the caller has made (the
        Oracle's pipeline makes the reward table's, which reads only the rows of its steps):
        ``env`` is not reset again. Default: reset here.

    Returns
    -------
    kept : list of CombinedAction
        In the given order.
    dropped : list of (str, str)
        ``(name, reason)`` of each dropped action, in the given order.

    Raises
    ------
    InvalidOption
        If ``chronic`` is not a chronic of ``env``.
    """
    from gridoracle.grid import resolve_chronics

    chronic_ids = resolve_chronics(env, [chronic])
    if len(chronic_ids) != 1:
        raise InvalidOption(f"chronic {chronic!r} selects {len(chronic_ids)} chronics, not one")
    if obs is None:
        obs = env.reset(seed=seed, options={"time serie id": chronic_ids[0]})
    init_topo = obs.topo_vect.copy()
    init_status = obs.line_status.copy()
    kept: list[CombinedAction] = []
    dropped: list[tuple[str, str]] = []
    for action in actions:
        if action.is_donothing:
            kept.append(action)
            continue
        reason = _drop_reason(action, env, obs, init_topo, init_status)
        if reason is None:
            kept.append(action)
        else:
            dropped.append((action.name, reason))
    logger.info(
        "filter at t0: %d of %d combined actions kept, %d dropped",
        len(kept),
        len(actions),
        len(dropped),
    )
    return kept, dropped


def _drop_reason(
    action: CombinedAction, env: Environment, obs: Any, init_topo: Any, init_status: Any
) -> str | None:
    try:
        g2op_action = env.action_space(action.grid2op_dict())
    except Exception as exc:  # grid2op refuses actions in many ways; each is a reason to drop
        return f"grid2op refuses the action: {_one_line(exc)}"
    try:
        sim_obs, _, done, info = obs.simulate(g2op_action, time_step=0)
    except Exception as exc:  # Oracle4Grid does not guard this call; a raise is a divergence
        return f"simulation at t0 raised {_one_line(exc)}"
    exceptions = info.get("exception") or []
    detail = f": {_one_line(exceptions[0])}" if exceptions else ""
    if info.get("is_illegal"):
        return f"illegal under the environment's rules{detail}"
    if info.get("is_ambiguous"):
        return f"ambiguous action{detail}"
    if exceptions:
        return f"diverges at t0{detail}"
    if done:
        return "diverges at t0: the simulation ends the episode"
    changes_topo = bool((sim_obs.topo_vect != init_topo).any())
    changes_status = bool((sim_obs.line_status != init_status).any())
    if not (changes_topo or changes_status):
        return "no effect on the initial topology or line status"
    return None


def _one_line(exc: BaseException | Any) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    name = type(exc).__name__
    if isinstance(exc, BaseException) and name not in text:
        text = f"{name}: {text}"
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def combination_summary(actions: Sequence[CombinedAction]) -> Mapping[int, int]:
    """Number of combined actions of each depth (0 for ``donothing-0``), by increasing depth."""
    counts: dict[int, int] = {}
    for action in actions:
        counts[action.depth] = counts.get(action.depth, 0) + 1
    return dict(sorted(counts.items()))
