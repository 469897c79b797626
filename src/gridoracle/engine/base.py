"""What every engine returns, and the pieces of grid2op semantics both engines share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gridoracle.engine.states import StateBatch

#: the power flow converged and the grid survived the action (after grid2op's protections)
STATUS_OK = 0
#: game over: the power flow diverged, or a load or generator was cut off from the grid
STATUS_GAME_OVER = 1
#: the game rules refuse the action in that state (cooldown, too many changes)
STATUS_ILLEGAL = 2

STATUS_NAMES = {STATUS_OK: "ok", STATUS_GAME_OVER: "game over", STATUS_ILLEGAL: "illegal"}


class ActionLike(Protocol):
    """What an engine needs of an action: :class:`gridoracle.actions.model.Action` or a subclass.

    The engines sit beside the actions package, not above it, so they name the two fields they
    read instead of importing the type.
    """

    @property
    def name(self) -> str:
        """The action's name."""

    @property
    def grid2op(self) -> Mapping[str, Any]:
        """The grid2op action dict."""


@dataclass
class EngineResult:
    """Outcome of every (state, action) pair of a batch.

    Attributes
    ----------
    max_rho : ndarray of float64, shape (n_states, n_actions)
        Max line loading after the action; NaN where ``status != STATUS_OK``.
    status : ndarray of int8, shape (n_states, n_actions)
        :data:`STATUS_OK`, :data:`STATUS_GAME_OVER` or :data:`STATUS_ILLEGAL`.
    rho : ndarray of float32, shape (n_states, n_actions, n_line), optional
        The whole loading vector (only when asked for); NaN rows where the status is not ok.
    n_cascade : int
        Pairs where grid2op's protections disconnected lines and the power flow was re-run.
    """

    max_rho: np.ndarray
    status: np.ndarray
    rho: np.ndarray | None = None
    n_cascade: int = 0


class Engine(Protocol):
    """Evaluates actions on a batch of states of one episode."""

    name: str

    def evaluate(
        self, states: StateBatch, actions: Sequence[ActionLike], *, full: bool = False
    ) -> EngineResult:
        """Max rho (and status) of every (state, action) pair."""
        ...


def empty_result(n_states: int, n_actions: int, n_line: int, full: bool) -> EngineResult:
    """A result filled with NaN / game over, to be overwritten pair by pair."""
    return EngineResult(
        max_rho=np.full((n_states, n_actions), np.nan, dtype=np.float64),
        status=np.full((n_states, n_actions), STATUS_GAME_OVER, dtype=np.int8),
        rho=np.full((n_states, n_actions, n_line), np.nan, dtype=np.float32) if full else None,
    )
