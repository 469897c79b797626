"""Opponents: attack windows, their universes, and the best and robust paths through them.

With an opponent, every combined action's main run (the action held over the episode, the
environment's opponent active) records, at each timestep, the attack of that step:
``attack_id[t, y]`` is the first line the attack disconnects (NaN when none), Oracle4Grid's
``attack_id``. From that table (pure NumPy, no grid2op):

- **Windows** (:func:`attack_windows`): maximal runs ``[begin, end]`` of consecutive timesteps
  where some main run is attacked (the union over the actions). The attacks seen in a window are
  the distinct ids of its main rows, in the order Oracle4Grid meets them (action after action,
  timestep after timestep). Action y is *native* to attack a in the window when its main run is
  attacked by a at some timestep of it.
- **Universes**: for each window and each attack a seen in it, the actions not native to a are
  re-simulated with a over timesteps ``begin+1 .. end`` (Oracle4Grid's multiverse; the grid2op
  side is :mod:`gridoracle.oracle.sim.multiverse`). Timestep ``begin`` is not re-simulated.
  Node ``(y, t, a)`` of universe a is y's main node when ``attack_id[t, y] == a``, y's
  multiverse node when y is not native to a and ``begin < t <= end``, and does not exist
  otherwise. Main nodes outside windows carry no attack.

The graph (what Oracle4Grid's ``build_transition_graph`` means): the node of action y at
timestep t, in a run (main, or multiverse of attack a), has for predecessors the nodes
``(x, t-1, label)`` of every x with x -> y allowed by the game rules, where ``label`` is the
attack of *that same run* at t-1 (for a multiverse run, a, also at ``begin``); a predecessor
that does not exist is no edge, but at ``end + 1`` (out of the window) a main node has for
predecessors every node at ``end`` of every x with x -> y, whatever its universe. So inside a
window a path stays in one attack's universe and may change topology under the usual rules; it
enters universe a at ``begin`` through the main node of an action attacked by a there (timestep
``begin`` is not re-simulated), and leaves it freely. ``init`` leads to the main nodes at t0
reachable from the reference topology; every node at the last timestep leads to ``end``
(weight 0.1).

Where this differs from Oracle4Grid, which takes the previous label from the previous row of its
DataFrame (``prevAtk``), not from the same run:

- the first row of a multiverse run takes the label of whatever row precedes it in the
  DataFrame: its predecessors are then nodes of another universe (an edge between two attacks'
  universes at ``begin``) or nodes that do not exist (phantom sources; Oracle4Grid removes the
  phantom attack nodes, ``to_dump``, but not a phantom unattacked node ``x_t<begin>``, which
  ``dag_longest_path`` may then start from). Here that row's predecessors are the universe's
  own nodes at ``begin``;
- at ``end + 1``, Oracle4Grid's rule links z's main node only from the universe of the attack
  z's own run had at ``end`` (its ``prevAtk`` is that row's): a path in another universe must
  pass through an action that attack hit to leave (on rte_case14_opponent, a best path held
  ``line-4-3`` but for one step of ``donothing-0`` at each window's end to change universe).
  The attacked line is back at ``end + 1`` whatever the attack was (the runs reconnect it as
  its cooldown ends), so z's main node at ``end + 1`` is the same from every universe: here it
  follows any of them;
- when the episode ends inside a window, Oracle4Grid links ``end`` only from unattacked names
  (``<name>_t<T-1>``, which do not exist then): it finds no path. Here every node at T-1 does;
- Oracle4Grid finds the attacked timesteps as those whose sum of ``attack_id`` over the actions
  is not 0 (``pivot.sum(axis=1) != 0``): a timestep where every attacked run lost line 0 reads
  as unattacked (``l2rpn_neurips_2020_track1`` attacks line 0). Here a timestep is attacked when
  some ``attack_id`` is a number;
- an attack of several lines is re-simulated with all of them (their bus settings all removed
  from the action); Oracle4Grid removes those of the first line only (every opponent shipped with
  grid2op attacks one line).

:func:`best_universe_path` computes the best path on that graph by dynamic programming over time
(one reduction over predecessors per label present at t-1: one outside windows, at most one per
attack inside), with ties broken towards the least action index, main nodes before multiverse
ones (Oracle4Grid's networkx ties are not reproduced here). It equals
:func:`gridoracle.oracle.core.best_path.best_path` when there is no window, and
:func:`gridoracle.oracle.graph_export.reference_universe_path` (networkx) in value always.

Robust paths (beyond Oracle4Grid): the best path above picks, through its topology at
``begin``, the attack it suffers; a robust path commits to a sequence of topologies without
knowing which of the attacks seen in a window will come. For a sequence of actions ``y_0 ..
y_{T-1}`` (one per timestep, transitions under the game rules), its reward under attack a of
window w is ``R_w,a = sum over t in (begin, end] of r_a(t, y_t)``, where ``r_a(t, y)`` is y's
reward in universe a (its main row when y is native to a, its multiverse row otherwise).
Timesteps outside the windows and every ``begin`` count with the main rows (the attack of
``begin`` is the one y's own run had: it is not re-simulated). Then

- **worst case** = (sum of the main rows outside the ``(begin, end]`` ranges) + sum over windows
  of ``min over a of R_w,a``;
- **expected** = the same with ``mean over a of R_w,a`` (the attacks seen weighted equally).

:func:`robust_path` finds the sequence that maximises either (``"worst"``: exactly, by dynamic
programming over Pareto sets of the per-attack partial sums inside windows; ``"expected"``: a
plain best path on the mean rewards), and :func:`robust_values` scores any sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    import pandas as pd

from gridoracle.oracle.core._dense import DenseStep
from gridoracle.oracle.core._sparse import SparseStep
from gridoracle.oracle.core.best_path import (
    END_NODE_REWARD,
    LONGEST,
    best_path,
    check_kind,
    choose_method,
    truncate_weights,
)
from gridoracle.oracle.core.transitions import TransitionRules

__all__ = [
    "ROBUST_KINDS",
    "UniversePath",
    "UniverseTable",
    "Window",
    "attack_windows",
    "best_universe_path",
    "drawn_value",
    "robust_path",
    "robust_values",
]

#: the robust criteria of :func:`robust_path`
ROBUST_KINDS: tuple[str, ...] = ("worst", "expected")
# most Pareto labels kept per node by the worst-case search (beyond: the best by worst case)
MAX_LABELS = 512


@dataclass(frozen=True, eq=False)
class Window:
    """A window of attacks: timesteps ``begin .. end`` (both included).

    Attributes
    ----------
    begin, end : int
        First and last attacked timestep.
    attacks : tuple of float
        Attack ids (first line disconnected) seen in the main rows, in Oracle4Grid's order.
    native : ndarray of bool, shape (K, N)
        ``native[k, y]``: y's main run is attacked by ``attacks[k]`` in the window.
    """

    begin: int
    end: int
    attacks: tuple[float, ...]
    native: NDArray[np.bool_] = field(repr=False)

    @property
    def n_steps(self) -> int:
        """Timesteps of the window."""
        return self.end - self.begin + 1

    def label(self) -> str:
        """Oracle4Grid's key of the window: ``"<begin>_<end>"``."""
        return f"{self.begin}_{self.end}"


def attack_windows(attack_id: ArrayLike) -> list[Window]:
    """The windows of attacks of the main runs (see the module docstring).

    Parameters
    ----------
    attack_id : array-like of float, shape (T, N)
        First line attacked at each timestep of each action's main run, NaN when none.

    Returns
    -------
    list of Window
        In time order.

    Examples
    --------
    >>> nan = float("nan")
    >>> ids = [[nan, nan], [3.0, 3.0], [3.0, 4.0], [nan, nan], [nan, 14.0]]
    >>> [(w.begin, w.end, w.attacks) for w in attack_windows(ids)]
    [(1, 2, (3.0, 4.0)), (4, 4, (14.0,))]
    >>> attack_windows(ids)[0].native.tolist()
    [[True, True], [False, True]]
    """
    ids = np.asarray(attack_id, dtype=np.float64)
    if ids.ndim != 2:
        raise ValueError(f"attack_id must have shape (T, N), got {ids.shape}")
    attacked = (np.isfinite(ids).sum(axis=1) > 0).tolist()
    windows: list[Window] = []
    t, n_steps = 0, ids.shape[0]
    while t < n_steps:
        if not attacked[t]:
            t += 1
            continue
        begin = t
        while t + 1 < n_steps and attacked[t + 1]:
            t += 1
        block = ids[begin : t + 1]
        seen: list[float] = []
        for value in block.T.ravel().tolist():  # action after action, timestep after timestep
            if value == value and value not in seen:
                seen.append(float(value))
        native = np.stack([(block == a).any(axis=0) for a in seen])
        windows.append(Window(begin, t, tuple(seen), native))
        t += 1
    return windows


@dataclass(eq=False)
class UniverseTable:
    """Main rows and multiverse rows of an episode with an opponent.

    Attributes
    ----------
    rewards, overload : ndarray of float64, shape (T, N)
        The main runs' rewards and overload flags (1 none, 0 overload, -1 error).
    attack_id : ndarray of float64, shape (T, N)
        The main runs' attack ids, NaN when none.
    windows : list of Window
        :func:`attack_windows` of ``attack_id``.
    multi_rewards, multi_overload : list of ndarray, shape (K, n_steps - 1, N)
        Per window, the multiverse rows of timesteps ``begin+1 .. end`` under each of its K
        attacks; NaN where an action was not re-simulated (native to the attack) or its run
        ended.
    """

    rewards: NDArray[np.float64]
    overload: NDArray[np.float64]
    attack_id: NDArray[np.float64]
    windows: list[Window]
    multi_rewards: list[NDArray[np.float64]]
    multi_overload: list[NDArray[np.float64]]

    def __post_init__(self) -> None:
        shape = self.rewards.shape
        if self.overload.shape != shape or self.attack_id.shape != shape:
            raise ValueError("rewards, overload and attack_id must have the same shape")
        if not (len(self.windows) == len(self.multi_rewards) == len(self.multi_overload)):
            raise ValueError("one multiverse block per window")
        for w, block, flags in zip(
            self.windows, self.multi_rewards, self.multi_overload, strict=True
        ):
            expected = (len(w.attacks), w.n_steps - 1, shape[1])
            if block.shape != expected or flags.shape != expected:
                raise ValueError(f"window {w.label()}: multiverse block shape, expected {expected}")

    @classmethod
    def without_universes(
        cls, rewards: ArrayLike, overload: ArrayLike, attack_id: ArrayLike | None = None
    ) -> UniverseTable:
        """A table whose windows have no multiverse row (every multiverse value NaN)."""
        table = np.asarray(rewards, dtype=np.float64)
        ids = (
            np.full(table.shape, np.nan)
            if attack_id is None
            else np.asarray(attack_id, dtype=np.float64)
        )
        windows = attack_windows(ids)
        blocks = [np.full((len(w.attacks), w.n_steps - 1, table.shape[1]), np.nan) for w in windows]
        return cls(
            table,
            np.asarray(overload, dtype=np.float64),
            ids,
            windows,
            blocks,
            [b.copy() for b in blocks],
        )

    def select(self, index: Sequence[int] | NDArray[np.int64]) -> UniverseTable:
        """The table of some actions only (the windows stay those of every action, as
        Oracle4Grid finds them before dropping the actions whose run ended early)."""
        idx = np.asarray(index, dtype=np.int64)
        windows = [Window(w.begin, w.end, w.attacks, w.native[:, idx]) for w in self.windows]
        return UniverseTable(
            self.rewards[:, idx],
            self.overload[:, idx],
            self.attack_id[:, idx],
            windows,
            [b[:, :, idx] for b in self.multi_rewards],
            [b[:, :, idx] for b in self.multi_overload],
        )

    @property
    def n_steps(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.rewards.shape[1])

    def window_at(self, t: int) -> int | None:
        """Index of the window holding timestep t, or None."""
        for i, w in enumerate(self.windows):
            if w.begin <= t <= w.end:
                return i
        return None

    def universe_rewards(self, w: int, k: int) -> NDArray[np.float64]:
        """``r_a(t, y)`` of window w's attack k for t in ``begin+1 .. end``, shape (n-1, N):
        main rows of the native actions, multiverse rows of the others (see the module)."""
        window = self.windows[w]
        main = self.rewards[window.begin + 1 : window.end + 1]
        return np.where(window.native[k][None, :], main, self.multi_rewards[w][k])

    def best_per_timestep(self, kind: str = LONGEST) -> NDArray[np.float64]:
        """The best reward at each timestep over every row, main and multiverse (NaN skipped)."""
        sign = 1.0 if check_kind(kind) == LONGEST else -1.0
        signed = np.where(np.isnan(self.rewards), -np.inf, sign * self.rewards).max(axis=1)
        for window, block in zip(self.windows, self.multi_rewards, strict=True):
            if block.size:
                more = np.where(np.isnan(block), -np.inf, sign * block).max(axis=(0, 2))
                rows = slice(window.begin + 1, window.end + 1)
                signed[rows] = np.maximum(signed[rows], more)
        return np.where(np.isfinite(signed), sign * signed, 0.0)


@dataclass(frozen=True, eq=False)
class UniversePath:
    """A path through main and multiverse nodes.

    Attributes
    ----------
    path : list of int
        Action index at each timestep (``[]`` when there is no path).
    attacks : list of float
        The attack id of each node (NaN for an unattacked main node).
    multiverse : list of bool
        Whether each node is a multiverse (re-simulated) node.
    rewards : ndarray of float64
        The reward of each node.
    value : float
        Sum of the graph weights ``init -> ... -> end`` (truncated with significant digits).
    reward : float
        Sum of the node rewards (float64); NaN when there is no path.
    blocked_at : int or None
        When there is no path: the first timestep no node can be reached at.
    """

    path: list[int]
    attacks: list[float]
    multiverse: list[bool]
    rewards: NDArray[np.float64] = field(repr=False)
    value: float
    reward: float
    kind: str = LONGEST
    blocked_at: int | None = None

    @property
    def found(self) -> bool:
        return len(self.path) > 0

    def names(self, names: Sequence[str]) -> list[str]:
        """The action names along the path."""
        return [names[i] for i in self.path]

    def node_names(self, names: Sequence[str]) -> list[str]:
        """Oracle4Grid's node names along the path (``<name>_t<k>[_atk<line>]``)."""
        pairs = zip(self.path, self.attacks, strict=True)
        return [node_label(names[y], t, a) for t, (y, a) in enumerate(pairs)]


def node_label(name: str, t: int, attack: float) -> str:
    """Oracle4Grid's node name: ``<name>_t<t>``, with ``_atk<attack as float>`` when attacked.

    Examples
    --------
    >>> node_label("sub-1-0", 96, 3.0), node_label("sub-1-0", 2, float("nan"))
    ('sub-1-0_t96_atk3.0', 'sub-1-0_t2')
    """
    suffix = f"_atk{float(attack)}" if attack == attack else ""
    return f"{name}_t{t}{suffix}"


def _stepper(rules: TransitionRules) -> DenseStep | SparseStep:
    return DenseStep(rules) if choose_method(rules) == "dense" else SparseStep(rules)


def _same(labels: NDArray[np.float64], label: float) -> NDArray[np.bool_]:
    if label != label:
        return np.isnan(labels)
    return labels == label


def best_universe_path(
    table: UniverseTable,
    rules: TransitionRules,
    *,
    kind: str = LONGEST,
    without_overload: bool = False,
    significant_digits: int | None = None,
    end_weight: float = END_NODE_REWARD,
) -> UniversePath:
    """The best path from ``init`` to ``end`` through main and multiverse nodes.

    Parameters
    ----------
    table : UniverseTable
    rules : TransitionRules
        Allowed transitions between the N actions and those reachable from the reference.
    kind : {"longest", "shortest"}
    without_overload : bool
        Remove the nodes (main and multiverse) whose overload flag is 0.
    significant_digits : int, optional
        Oracle4Grid's truncated weights ``int64(w * 10**d)``.
    end_weight : float
        Weight of the edges into ``end``.

    Returns
    -------
    UniversePath
    """
    sign = 1.0 if check_kind(kind) == LONGEST else -1.0
    n_steps, n = table.rewards.shape
    if rules.n_actions != n:
        raise ValueError(f"rules are for {rules.n_actions} actions, the table has {n}")

    def signed(values: NDArray[np.float64], flags: NDArray[np.float64]) -> NDArray[np.float64]:
        alive = ~np.isnan(values)
        if without_overload:
            alive &= flags != 0
        weights = truncate_weights(values, significant_digits)
        return np.where(alive, sign * np.nan_to_num(weights), -np.inf)

    main_w = signed(table.rewards, table.overload)
    multi_w = [signed(b, f) for b, f in zip(table.multi_rewards, table.multi_overload, strict=True)]
    labels = table.attack_id
    step = _stepper(rules)
    where = [table.window_at(t) for t in range(n_steps)]

    def multi_slot(t: int) -> tuple[int, Window] | None:
        w = where[t]
        if w is None or t == table.windows[w].begin:
            return None
        return w, table.windows[w]

    # values at t: main (N,) and, inside (begin, end], multiverse (K, N)
    v_main = np.where(np.asarray(rules.from_init, dtype=bool), main_w[0], -np.inf)
    v_multi: NDArray[np.float64] | None = None
    ptr_main = np.full((n_steps, n), -1, dtype=np.int64)
    ptr_multi: dict[int, NDArray[np.int64]] = {}
    if not np.isfinite(v_main).any():
        return _no_path(kind, 0)

    def view(t: int, label: float) -> NDArray[np.float64]:
        """Values of the nodes (x, t, label) for every x (-inf where none)."""
        out = np.where(_same(labels[t], label), v_main, -np.inf)
        slot = multi_slot(t)
        if slot is not None and label == label and v_multi is not None:
            window = slot[1]
            if label in window.attacks:
                k = window.attacks.index(label)
                out = np.where(np.isfinite(out), out, v_multi[k])
        return out

    Reduced = tuple[NDArray[np.float64], NDArray[np.int64]]

    def reduce_at(cache: dict[float | str, Reduced], t: int, label: float) -> Reduced:
        """Best predecessor in universe ``label`` at t-1 of every action (once per label)."""
        key: float | str = "none" if label != label else label
        if key not in cache:
            cache[key] = step.best(view(t - 1, label), None)
        return cache[key]

    # the rows (0 main, 1 + k universe k) of the nodes left at the end of a window (free exit)
    exit_row: dict[int, NDArray[np.int64]] = {}
    for t in range(1, n_steps):
        cache: dict[float | str, Reduced] = {}
        new_main = np.full(n, -np.inf)
        prev_labels = labels[t - 1]
        if where[t - 1] is not None and where[t] is None:
            # leaving a window: from any node of x at t-1, whatever its universe
            stacked = np.stack([v_main] + ([] if v_multi is None else list(v_multi)))
            rows = np.argmax(stacked, axis=0)  # main first, then the universes in order
            new_main, arg = step.best(stacked[rows, np.arange(n)], None)
            ptr_main[t] = arg
            exit_row[t] = rows
        else:
            distinct = {("none" if v != v else v): v for v in prev_labels.tolist()}
            for label in distinct.values():
                best, arg = reduce_at(cache, t, label)
                targets = _same(prev_labels, label)
                new_main[targets] = best[targets]
                ptr_main[t, targets] = arg[targets]
        new_main = new_main + main_w[t]
        slot = multi_slot(t)
        new_multi = None
        if slot is not None:
            w, window = slot
            new_multi = np.full((len(window.attacks), n), -np.inf)
            pointers = np.full((len(window.attacks), n), -1, dtype=np.int64)
            for k, a in enumerate(window.attacks):
                best, arg = reduce_at(cache, t, a)
                new_multi[k] = best + multi_w[w][k, t - window.begin - 1]
                pointers[k] = arg
            ptr_multi[t] = pointers
        v_main, v_multi = new_main, new_multi
        if not (np.isfinite(v_main).any() or (v_multi is not None and np.isfinite(v_multi).any())):
            return _no_path(kind, t)

    # the last node: main first, then the universes, least index first
    candidates = [v_main] + ([] if v_multi is None else list(v_multi))
    stacked = np.stack(candidates)
    flat = int(np.argmax(stacked))  # first max: main before multiverse, least index
    row, last = divmod(flat, n)
    path = np.empty(n_steps, dtype=np.int64)
    in_multi = np.zeros(n_steps, dtype=bool)
    attack = np.full(n_steps, np.nan)
    path[-1] = last
    slot = multi_slot(n_steps - 1)
    if row > 0:
        assert slot is not None
        in_multi[-1] = True
        attack[-1] = slot[1].attacks[row - 1]
    else:
        attack[-1] = labels[-1, last]
    for t in range(n_steps - 1, 0, -1):
        y = int(path[t])
        if in_multi[t]:
            k = table.windows[where[t]].attacks.index(attack[t])  # type: ignore[index]
            x = int(ptr_multi[t][k, y])
            label = attack[t]
        elif t in exit_row:
            x = int(ptr_main[t, y])
            row = int(exit_row[t][x])
            window = table.windows[where[t - 1]]  # type: ignore[index]
            label = labels[t - 1, x] if row == 0 else window.attacks[row - 1]
        else:
            x = int(ptr_main[t, y])
            label = labels[t - 1, y]
        path[t - 1] = x
        attack[t - 1] = label
        in_multi[t - 1] = not bool(_same(labels[t - 1, x : x + 1], label)[0])
    rewards = _node_values(table, path, in_multi, attack, table.multi_rewards)
    weights = _node_values(table, path, in_multi, attack, table.multi_rewards, significant_digits)
    end = float(truncate_weights(end_weight, significant_digits))
    value = float(np.sum(weights) + end)
    return UniversePath(
        path.tolist(),
        attack.tolist(),
        in_multi.tolist(),
        rewards,
        value,
        float(np.sum(rewards)),
        kind,
    )


def _node_values(
    table: UniverseTable,
    path: NDArray[np.int64],
    in_multi: NDArray[np.bool_],
    attack: NDArray[np.float64],
    blocks: Sequence[NDArray[np.float64]],
    significant_digits: int | None = None,
) -> NDArray[np.float64]:
    out = np.empty(len(path))
    for t, y in enumerate(path.tolist()):
        if in_multi[t]:
            w = table.window_at(t)
            assert w is not None
            window = table.windows[w]
            out[t] = blocks[w][window.attacks.index(attack[t]), t - window.begin - 1, y]
        else:
            out[t] = table.rewards[t, y]
    return truncate_weights(out, significant_digits)


def _no_path(kind: str, blocked_at: int | None) -> UniversePath:
    return UniversePath([], [], [], np.zeros(0), float("nan"), float("nan"), kind, blocked_at)


def _robust_tables(table: UniverseTable) -> list[tuple[int, NDArray[np.float64]]]:
    """Per window: its begin and ``r_a(t, y)`` stacked, shape (K, n-1, N)."""
    out = []
    for w, window in enumerate(table.windows):
        stacked = np.stack([table.universe_rewards(w, k) for k in range(len(window.attacks))])
        out.append((window.begin, stacked))
    return out


def robust_values(table: UniverseTable, path: Sequence[int]) -> tuple[float, float]:
    """The worst-case and expected values of a sequence of actions (see the module docstring).

    NaN when a reward the value needs is missing (a run that ended), or for an empty path.

    Examples
    --------
    >>> nan = float("nan")
    >>> ids = [[nan, nan], [3.0, 3.0], [3.0, 3.0], [nan, nan]]
    >>> t = UniverseTable.without_universes([[1.0, 1.0]] * 4, [[1, 1]] * 4, ids)
    >>> robust_values(t, [0, 0, 0, 0])
    (4.0, 4.0)
    """
    if len(path) == 0:
        return float("nan"), float("nan")
    steps = np.asarray(path, dtype=np.int64)
    if len(steps) != table.n_steps:
        raise ValueError(f"path has {len(steps)} steps, the table {table.n_steps}")
    outside = np.ones(table.n_steps, dtype=bool)
    worst = expected = 0.0
    for begin, stacked in _robust_tables(table):
        n_inner = stacked.shape[1]
        outside[begin + 1 : begin + 1 + n_inner] = False
        picked = stacked[:, np.arange(n_inner), steps[begin + 1 : begin + 1 + n_inner]]
        sums = picked.sum(axis=1)
        worst += float(sums.min()) if sums.size else 0.0
        expected += float(sums.mean()) if sums.size else 0.0
    base = float(np.sum(table.rewards[np.flatnonzero(outside), steps[outside]]))
    return base + worst, base + expected


def drawn_value(table: UniverseTable, path: Sequence[int]) -> float:
    """The value of a sequence of actions when each window brings the attack its action at
    ``begin`` met in its own main run (``attack_id[begin, y_begin]``).

    That is what a replay under the main runs' seed meets when the opponent draws as it did in
    that run (the best path's own value: it enters that universe at ``begin``); the expected
    reward of a robust path's replay. Main rows where that action was not attacked at
    ``begin``; NaN for an empty path or a missing reward.
    """
    if len(path) == 0:
        return float("nan")
    steps = np.asarray(path, dtype=np.int64)
    if len(steps) != table.n_steps:
        raise ValueError(f"path has {len(steps)} steps, the table {table.n_steps}")
    values = table.rewards[np.arange(table.n_steps), steps].copy()
    for w, window in enumerate(table.windows):
        attack = float(table.attack_id[window.begin, steps[window.begin]])
        if attack != attack or window.n_steps == 1:
            continue
        k = window.attacks.index(attack)
        inner = np.arange(window.begin + 1, window.end + 1)
        values[inner] = table.universe_rewards(w, k)[inner - window.begin - 1, steps[inner]]
    return float(np.sum(values))


def robust_path(table: UniverseTable, rules: TransitionRules, criterion: str) -> UniversePath:
    """The sequence of actions with the best worst-case or expected value (longest sense).

    Parameters
    ----------
    table : UniverseTable
    rules : TransitionRules
    criterion : {"worst", "expected"}
        See the module docstring.

    Returns
    -------
    UniversePath
        ``value`` and ``reward`` are the criterion's value of the path; ``attacks`` are NaN and
        ``multiverse`` False (the path commits to topologies, not to an attack); ``rewards`` are
        its main rows. No path: an empty one.
    """
    if criterion not in ROBUST_KINDS:
        raise ValueError(f"criterion {criterion!r}: expected one of {ROBUST_KINDS}")
    if criterion == "expected":
        mean = table.rewards.copy()
        for begin, stacked in _robust_tables(table):
            mean[begin + 1 : begin + 1 + stacked.shape[1]] = stacked.mean(axis=0)
        found = best_path(mean, rules, ties="index")
        path = found.path
    else:
        path = _worst_case_path(table, rules)
    if not path:
        return _no_path(LONGEST, None)
    worst, expected = robust_values(table, path)
    value = worst if criterion == "worst" else expected
    steps = np.asarray(path, dtype=np.int64)
    n_steps = table.n_steps
    return UniversePath(
        list(path),
        [float("nan")] * n_steps,
        [False] * n_steps,
        table.rewards[np.arange(n_steps), steps],
        value,
        value,
        LONGEST,
    )


def _pareto(vectors: NDArray[np.float64]) -> NDArray[np.int64]:
    """Indices of the Pareto-maximal rows (first of equal rows kept), best sum first."""
    order = np.argsort(-vectors.sum(axis=1), kind="stable")
    if vectors.ndim == 2 and vectors.shape[1] == 2:
        return _pareto_2d(vectors, order)
    kept: list[int] = []
    for i in order.tolist():
        v = vectors[i]
        if kept and (vectors[kept] >= v).all(axis=1).any():
            continue
        kept.append(i)
    return np.asarray(kept, dtype=np.int64)


def _pareto_2d(vectors: NDArray[np.float64], order: NDArray[np.int64]) -> NDArray[np.int64]:
    """:func:`_pareto` for two attacks, sorted instead of compared pairwise (same rows, same order).

    In lexicographic order (first value, then second, both decreasing; ties by index) a row is
    weakly dominated exactly when an earlier row has a second value at least as large: the rows
    kept are those whose second value beats the running maximum before them.
    """
    n = len(vectors)
    lex = np.lexsort((np.arange(n), -vectors[:, 1], -vectors[:, 0]))
    second = vectors[lex, 1]
    before = np.concatenate([[-np.inf], np.maximum.accumulate(second)[:-1]])
    kept = lex[second > before]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return kept[np.argsort(rank[kept], kind="stable")].astype(np.int64)


def _worst_case_path(table: UniverseTable, rules: TransitionRules) -> list[int]:
    """Maximise the worst-case value: scalar Viterbi outside windows, Pareto labels inside.

    Inside the ``(begin, end]`` range of a window with K attacks each node keeps the
    Pareto-maximal vectors of (value so far + per-attack partial sums); at ``end`` (or the last
    timestep) a vector scores its minimum. Outside windows one value per node (arrays, as
    :func:`best_universe_path`); inside, a Python loop over the allowed transitions. Above
    :data:`MAX_LABELS` labels per node, those of the best minimum are kept (then the result may
    not be optimal; not met on the test grids).
    """
    n_steps, n = table.rewards.shape
    allowed = rules.dense()
    step = _stepper(rules)
    main = np.where(np.isnan(table.rewards), -np.inf, table.rewards)
    inner: dict[int, tuple[int, NDArray[np.float64]]] = {}
    for begin, stacked in _robust_tables(table):
        for j in range(stacked.shape[1]):
            rows = stacked[:, j]
            inner[begin + 1 + j] = (begin, np.where(np.isnan(rows), -np.inf, rows))
    Labels = list[tuple[NDArray[np.float64], NDArray[np.int64]]]
    # a timestep is either scalar (values, back pointers; label 0) or labels per node
    Scalar = tuple[NDArray[np.float64], NDArray[np.int64]]
    empty = (np.zeros((0, 1)), np.zeros((0, 2), dtype=np.int64))

    def as_labels(entry: Scalar | Labels) -> Labels:
        if isinstance(entry, list):
            return entry
        values = entry[0]
        return [
            (np.array([[values[x]]]), np.zeros((1, 2), dtype=np.int64))
            if np.isfinite(values[x])
            else empty
            for x in range(n)
        ]

    def as_values(entry: Scalar | Labels) -> NDArray[np.float64]:
        if not isinstance(entry, list):
            return entry[0]
        return np.array([v[0, 0] if len(v) else -np.inf for v, _ in entry])

    first = np.where(np.asarray(rules.from_init, dtype=bool), main[0], -np.inf)
    history: list[Scalar | Labels] = [(first, np.full(n, -1, dtype=np.int64))]
    for t in range(1, n_steps):
        window_step = inner.get(t)
        entry: Scalar | Labels
        if window_step is None:
            best, arg = step.best(as_values(history[-1]), None)
            entry = (best + main[t], np.asarray(arg, dtype=np.int64))
            alive = bool(np.isfinite(entry[0]).any())
        else:
            previous = as_labels(history[-1])
            nxt = inner.get(t + 1)
            closes = nxt is None or nxt[0] != window_step[0]
            k = window_step[1].shape[0]
            row: Labels = []
            for y in range(n):
                vecs, backs = [], []
                for x in np.flatnonzero(allowed[:, y]).tolist():
                    pv = previous[x][0]
                    if len(pv) == 0:
                        continue
                    if pv.shape[1] == 1:
                        pv = np.repeat(pv, k, axis=1)
                    vecs.append(pv)
                    backs.append(np.column_stack([np.full(len(pv), x), np.arange(len(pv))]))
                if not vecs:
                    row.append(empty)
                    continue
                cand = np.concatenate(vecs) + window_step[1][:, y][None, :]
                back = np.concatenate(backs)
                finite = np.isfinite(cand).all(axis=1)
                cand, back = cand[finite], back[finite]
                if len(cand) == 0:
                    row.append(empty)
                elif closes:
                    scores = cand.min(axis=1)
                    i = int(np.argmax(scores))
                    row.append((np.array([[scores[i]]]), back[i : i + 1]))
                else:
                    keep = _pareto(cand)
                    if len(keep) > MAX_LABELS:
                        order = np.argsort(-cand[keep].min(axis=1), kind="stable")
                        keep = keep[order[:MAX_LABELS]]
                    row.append((cand[keep], back[keep]))
            entry = row
            alive = any(len(v) for v, _ in row)
        history.append(entry)
        if not alive:
            return []
    last = history[-1]
    if isinstance(last, list):
        scores = np.array([float(v.min(axis=1).max()) if len(v) else -np.inf for v, _ in last])
    else:
        scores = last[0]
    y = int(np.argmax(scores))
    if not np.isfinite(scores[y]):
        return []
    label = int(np.argmax(last[y][0].min(axis=1))) if isinstance(last, list) else 0
    path = [y]
    for t in range(n_steps - 1, 0, -1):
        entry = history[t]
        if isinstance(entry, list):
            x, label = (int(v) for v in entry[path[-1]][1][label])
        else:
            x, label = int(entry[1][path[-1]]), 0
        path.append(x)
    return path[::-1]


#: columns of the reward table with an opponent (Oracle4Grid's ``reward_df``, but ``action``)
FRAME_COLUMNS: tuple[str, ...] = (
    "name",
    "timestep",
    "reward",
    "overload_reward",
    "attacks",
    "attack_id",
    "node_name",
    "multiverse",
)


def universe_frame(
    table: UniverseTable,
    names: Sequence[str],
    played: Sequence[int] | NDArray[np.int64] | None = None,
    attacks: dict[float, str] | None = None,
) -> pd.DataFrame:
    """The table in Oracle4Grid's long format and row order: main rows action after action, then
    the multiverse rows window after window, attack after attack, action after action.

    Parameters
    ----------
    table : UniverseTable
    names : sequence of str
        The N action names.
    played : sequence of int, optional
        Steps each main run lasted (rows beyond are not written); default every timestep.
    attacks : dict of float to str, optional
        The text of each attack (the ``attacks`` column), by attack id.
    """
    import pandas as pd

    text = attacks or {}
    steps = [table.n_steps] * table.n_actions if played is None else [int(p) for p in played]
    rows: list[tuple[object, ...]] = []
    for y, name in enumerate(names):
        for t in range(steps[y]):
            a = float(table.attack_id[t, y])
            rows.append(
                (
                    name,
                    t,
                    table.rewards[t, y],
                    table.overload[t, y],
                    text.get(a, "") if a == a else "",
                    a,
                    node_label(name, t, a),
                    False,
                )
            )
    for w, window in enumerate(table.windows):
        block, flags = table.multi_rewards[w], table.multi_overload[w]
        for k, a in enumerate(window.attacks):
            for y, name in enumerate(names):
                if window.native[k, y]:
                    continue
                for j in range(window.n_steps - 1):
                    if np.isnan(block[k, j, y]):
                        break
                    t = window.begin + 1 + j
                    rows.append(
                        (
                            name,
                            t,
                            block[k, j, y],
                            flags[k, j, y],
                            text.get(a, ""),
                            a,
                            node_label(name, t, a),
                            True,
                        )
                    )
    return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
