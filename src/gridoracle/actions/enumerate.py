"""The action catalogue of a grid, enumerated from its grid2op action space, and samples of it.

:func:`enumerate_actions` lists ``donothing``, then every unitary substation topology, then a
disconnection and a reconnection of every powerline. The topologies are exactly those of
grid2op's ``action_space.get_all_unitary_topologies_set(action_space)`` (default
``add_alone_line=True``), in its order: substations by increasing id, and within one the bus
vectors in ``itertools.product`` order with the first element on bus 1. They are generated here
from the grid layout, vectorised, without building a grid2op action per topology (that takes
seconds on a 118-bus grid); the tests compare both, vector by vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from gridoracle.actions.model import (
    DONOTHING,
    CatalogueAction,
    GridLayout,
    donothing_action,
    line_action,
    topology_action,
)
from gridoracle.errors import InvalidOption
from gridoracle.files import gc_paused

#: what ``enumerate_actions`` can list
ACTION_SETS: tuple[str, ...] = ("topology", "line", "all")

ActionSet = Literal["topology", "line", "all"]

_CHUNK = 1 << 18  # bus vectors examined at once (memory bound for large substations)


def unitary_topologies(
    n_elements: int, line_positions: Sequence[int], n_busbar: int = 2
) -> np.ndarray:
    """All unitary topologies of one substation, as grid2op enumerates them.

    A topology assigns each element a bus in 1 .. ``n_busbar``. Kept, as in grid2op's
    ``get_all_unitary_topologies_set``: vectors whose first element is on bus 1 and whose buses
    are numbered in order of first use (each relabelling counted once), where every bus in use
    has at least one powerline end. A substation with fewer than two such topologies has none
    (there is nothing to switch between).

    Parameters
    ----------
    n_elements : int
        Elements at the substation.
    line_positions : sequence of int
        Positions of the powerline ends in the substation's bus vector.
    n_busbar : int
        Busbars per substation.

    Returns
    -------
    ndarray of int, shape (n_topologies, n_elements)
        One bus vector per row, in grid2op's order.
    """
    empty = np.zeros((0, n_elements), dtype=np.int64)
    if n_busbar < 2 or n_elements < 1:
        return empty
    lines = np.asarray(line_positions, dtype=np.int64)
    free = n_elements - 1
    total = n_busbar**free
    weights = [n_busbar ** (free - 1 - j) for j in range(free)]
    kept = []
    for start in range(0, total, _CHUNK):
        idx = np.arange(start, min(total, start + _CHUNK), dtype=np.int64)
        topo = np.ones((idx.size, n_elements), dtype=np.int64)
        for j, weight in enumerate(weights):  # product order: the first free element varies last
            topo[:, 1 + j] = (idx // weight) % n_busbar + 1
        ok = np.ones(idx.size, dtype=bool)
        if free:
            # buses numbered in order of first use: each at most one above all before it
            run_max = np.maximum.accumulate(topo, axis=1)
            ok &= (topo[:, 1:] <= run_max[:, :-1] + 1).all(axis=1)
        # so the buses in use are 1 .. max; each needs a powerline end
        on_lines = topo[:, lines]
        with_line = np.zeros(idx.size, dtype=np.int64)
        for bus in range(1, n_busbar + 1):
            with_line += (on_lines == bus).any(axis=1)
        ok &= with_line == topo.max(axis=1)
        kept.append(topo[ok])
    result = np.concatenate(kept) if kept else empty
    return result if len(result) >= 2 else empty


def topology_actions(grid: GridLayout) -> list[CatalogueAction]:
    """Every unitary substation topology, ``sub-<sub>-<k>``, substations by increasing id."""
    out: list[CatalogueAction] = []
    with gc_paused():
        for sub_id in range(grid.n_sub):
            vectors = unitary_topologies(
                grid.sub_sizes[sub_id], grid.line_positions(sub_id), grid.n_busbar_per_sub
            )
            out.extend(
                topology_action(grid, sub_id, k, buses) for k, buses in enumerate(vectors.tolist())
            )
    return out


def line_actions(grid: GridLayout) -> list[CatalogueAction]:
    """``line-<l>-off`` then ``line-<l>-on`` for every powerline, by increasing id."""
    return [line_action(line, connect) for line in range(grid.n_line) for connect in (False, True)]


def _supports(space: Any, what: str) -> bool:
    check = getattr(space, "supports_type", None)
    return bool(check(what)) if callable(check) else True


def enumerate_actions(env_or_action_space: Any, kind: ActionSet = "all") -> list[CatalogueAction]:
    """The action catalogue of a grid.

    Parameters
    ----------
    env_or_action_space : grid2op Environment, ActionSpace or GridLayout
        The grid.
    kind : {"topology", "line", "all"}
        ``topology``: unitary substation topologies; ``line``: disconnection and reconnection of
        every powerline; ``all``: both.

    Returns
    -------
    list of CatalogueAction
        ``donothing`` first, then the topologies (see :func:`unitary_topologies`), then the
        line actions; the same list for the same grid, every time.

    Raises
    ------
    InvalidOption
        For an unknown ``kind``, or one the environment's action space cannot play.
    """
    if kind not in ACTION_SETS:
        raise InvalidOption(f"action kind {kind!r} is not one of {', '.join(ACTION_SETS)}")
    grid = GridLayout.of(env_or_action_space)
    space = getattr(env_or_action_space, "action_space", env_or_action_space)
    actions = [donothing_action()]
    if kind in ("topology", "all"):
        if not _supports(space, "set_bus"):
            raise InvalidOption(
                f"action kind {kind!r}: this environment's action space cannot set buses"
            )
        actions += topology_actions(grid)
    if kind in ("line", "all"):
        if not _supports(space, "set_line_status"):
            raise InvalidOption(
                f"action kind {kind!r}: this environment's action space cannot set line status"
            )
        actions += line_actions(grid)
    return actions


def sample_actions(actions: Sequence[CatalogueAction], n: int, seed: int) -> list[CatalogueAction]:
    """A deterministic sample of ``n`` actions of a catalogue, in catalogue order.

    ``donothing`` (every action of that kind) is always kept; the others are drawn without
    replacement with ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    actions : sequence of CatalogueAction
        The catalogue.
    n : int
        How many actions to return, donothing included; all of them when ``n`` is at least the
        catalogue's size.
    seed : int
        Seed of the draw (>= 0): same catalogue, ``n`` and seed, same sample.

    Returns
    -------
    list of CatalogueAction

    Raises
    ------
    InvalidOption
        When ``n < 1`` or ``seed < 0``.
    """
    if n < 1:
        raise InvalidOption(f"number of actions must be at least 1, got {n}")
    if seed < 0:
        raise InvalidOption(f"seed must be a non-negative integer, got {seed}")
    if n >= len(actions):
        return list(actions)
    keep = [i for i, a in enumerate(actions) if a.kind == DONOTHING][:n]
    others = [i for i, a in enumerate(actions) if a.kind != DONOTHING]
    rng = np.random.default_rng(seed)
    drawn = rng.choice(len(others), size=n - len(keep), replace=False)
    chosen = sorted(keep + [others[int(i)] for i in drawn])
    return [actions[i] for i in chosen]
