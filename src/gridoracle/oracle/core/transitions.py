"""Transitions between combined actions under the game rules, as arrays.

A combined action is described by its unitary parts: a mapping ``asset -> unitary id`` where an
asset is ``("sub", substation id)`` or ``("line", line id)`` and the unitary id is the ``k`` of
its Oracle4Grid name (``sub-<sub>-<k>``, ``line-<line>-<k>``); ``donothing-0`` is the empty
mapping. :func:`parse_combined_name` reads the names (``"sub-1-0_line-4-3"``).

Counting rule (Oracle4Grid's ``OracleAction.number_of_modified_subs_to`` and
``number_of_modified_lines_to``): going from X to Y changes one substation for each substation
acted on by exactly one of them, and one for each substation acted on by both with another
unitary action; lines are counted the same way, separately. Written with set sizes::

    n_sub(X, Y) = |S_X| + |S_Y| - |S_X ∩ S_Y| - |{s in S_X ∩ S_Y : k_X(s) = k_Y(s)}|

The transition X -> Y is allowed when ``n_sub <= max_sub`` and ``n_line <= max_line`` (1 and 1 in
Oracle4Grid's graph); X -> X always is. The first action is reachable from the reference topology
(do nothing) when it acts on at most ``max_sub`` substations and ``max_line`` lines.

Both counts are computed for all pairs at once, a block of rows at a time, from one matrix product
of 0/1 incidence matrices (asset touched, unitary action used): no Python loop over pairs.

References
----------
Oracle4Grid, ``oracle4grid/core/graph/graph_generator.py`` (``get_reachable_topologies``,
``get_reachable_topologies_from_init``) and ``oracle4grid/core/utils/Action.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from gridoracle.errors import ActionFileError

#: an asset: ``("sub", substation id)`` or ``("line", line id)``
Asset: TypeAlias = tuple[str, int]
#: a combined action given by its parts (asset -> unitary id k) or by its Oracle4Grid name (not
#: :data:`gridoracle.engine.base.ActionLike`, an action with a name and a grid2op dict)
PartsLike: TypeAlias = Mapping[Asset, int] | str

#: Oracle4Grid's name of the do-nothing action
DONOTHING_NAME = "donothing-0"
#: asset kinds, in the order of Oracle4Grid's names
ASSET_KINDS: tuple[str, ...] = ("sub", "line")
#: above this many actions :func:`allowed_transitions` stores the rules as a CSR matrix
SPARSE_THRESHOLD = 2048
# elements of one block of rows x columns when counting transitions (bounds the temporaries)
_BLOCK_ELEMENTS = 1 << 22

_PART = re.compile(r"(sub|line)-(\d+)-(\d+)")


def parse_combined_name(name: str) -> dict[Asset, int]:
    """The unitary parts of an Oracle4Grid combined action name.

    Parameters
    ----------
    name : str
        ``sub-<sub>-<k>`` and ``line-<line>-<k>`` parts joined with ``_``, or ``donothing-0``.

    Returns
    -------
    dict of (str, int) to int
        ``{("sub", sub id): k, ("line", line id): k}``; empty for ``donothing-0``.

    Raises
    ------
    ActionFileError
        If a part is not of that form, or two parts act on the same asset.

    Examples
    --------
    >>> parse_combined_name("sub-1-0_line-4-3")
    {('sub', 1): 0, ('line', 4): 3}
    >>> parse_combined_name("donothing-0")
    {}
    """
    if name == DONOTHING_NAME:
        return {}
    parts: dict[Asset, int] = {}
    for part in name.split("_"):
        match = _PART.fullmatch(part)
        if match is None:
            raise ActionFileError(
                f"action name {name!r}: part {part!r} is not sub-<id>-<k> or line-<id>-<k>"
                f" (or the whole name {DONOTHING_NAME})"
            )
        asset = (match.group(1), int(match.group(2)))
        if asset in parts:
            raise ActionFileError(
                f"action name {name!r}: {asset[0]} {asset[1]} appears twice (one action per asset)"
            )
        parts[asset] = int(match.group(3))
    return parts


def combined_name(parts: Mapping[Asset, int]) -> str:
    """The Oracle4Grid name of a combined action from its parts (inverse of the parser).

    The parts are written in the mapping's order; the empty mapping is ``donothing-0``.

    Examples
    --------
    >>> combined_name({("sub", 1): 0, ("line", 4): 3})
    'sub-1-0_line-4-3'
    """
    if not parts:
        return DONOTHING_NAME
    return "_".join(f"{kind}-{asset}-{k}" for (kind, asset), k in parts.items())


def as_parts(actions: Sequence[PartsLike]) -> list[dict[Asset, int]]:
    """Each action as its parts mapping (names are parsed, mappings checked and copied)."""
    out: list[dict[Asset, int]] = []
    for action in actions:
        if isinstance(action, str):
            out.append(parse_combined_name(action))
            continue
        if not isinstance(action, Mapping):
            raise TypeError(
                f"an action must be a name or a mapping asset -> unitary id, got {action!r}"
            )
        parts: dict[Asset, int] = {}
        for asset, k in action.items():
            kind, asset_id = asset
            if kind not in ASSET_KINDS:
                raise ValueError(f"asset {asset!r}: kind must be one of {ASSET_KINDS}")
            parts[(str(kind), int(asset_id))] = int(k)
        out.append(parts)
    return out


@dataclass(frozen=True)
class _Encoding:
    """0/1 incidence of the actions of one asset kind: [assets touched | unitary actions used]."""

    incidence: NDArray[np.float32]  # (N, n_assets + n_unitary)
    size: NDArray[np.float32]  # (N,) number of assets of that kind acted on


def _encode(parts: Sequence[Mapping[Asset, int]], kind: str) -> _Encoding:
    n = len(parts)
    assets: dict[int, int] = {}
    unitary: dict[tuple[int, int], int] = {}
    rows: list[int] = []
    asset_cols: list[int] = []
    unitary_cols: list[int] = []
    for i, action in enumerate(parts):
        for (asset_kind, asset), k in action.items():
            if asset_kind != kind:
                continue
            rows.append(i)
            asset_cols.append(assets.setdefault(asset, len(assets)))
            unitary_cols.append(unitary.setdefault((asset, k), len(unitary)))
    incidence = np.zeros((n, len(assets) + len(unitary)), dtype=np.float32)
    row_index = np.asarray(rows, dtype=np.int64)
    incidence[row_index, np.asarray(asset_cols, dtype=np.int64)] = 1.0
    incidence[row_index, len(assets) + np.asarray(unitary_cols, dtype=np.int64)] = 1.0
    size = np.bincount(row_index, minlength=n).astype(np.float32)
    return _Encoding(incidence=incidence, size=size)


def _count_block(rows: _Encoding, cols: _Encoding, start: int, stop: int) -> NDArray[np.float32]:
    # |A| + |B| - (common assets + common unitary actions), exact in float32 for small integers
    inc = rows.incidence[start:stop]
    return rows.size[start:stop, None] + cols.size[None, :] - inc @ cols.incidence.T


def transition_counts(
    actions: Sequence[PartsLike],
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Substations and lines changed by each transition X -> Y, for all pairs.

    Parameters
    ----------
    actions : sequence of str or mapping
        N combined actions, as names or parts mappings (see :func:`parse_combined_name`).

    Returns
    -------
    n_sub_changed, n_line_changed : ndarray of int32, shape (N, N)
        Entry ``[x, y]`` counts the substations (lines) changed going from action x to action y
        (the counts are symmetric, with a zero diagonal).

    Examples
    --------
    >>> n_sub, n_line = transition_counts(["donothing-0", "sub-1-0", "sub-1-2_line-4-3"])
    >>> n_sub.tolist()
    [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    >>> n_line.tolist()
    [[0, 0, 1], [0, 0, 1], [1, 1, 0]]
    """
    parts = as_parts(actions)
    subs, lines = _encode(parts, "sub"), _encode(parts, "line")
    n = len(parts)
    n_sub = np.empty((n, n), dtype=np.int32)
    n_line = np.empty((n, n), dtype=np.int32)
    for start, stop in _blocks(n):
        n_sub[start:stop] = _count_block(subs, subs, start, stop)
        n_line[start:stop] = _count_block(lines, lines, start, stop)
    return n_sub, n_line


def init_counts(
    actions: Sequence[PartsLike], reference: PartsLike | None = None
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Substations and lines changed going from the reference topology to each action.

    Parameters
    ----------
    actions : sequence of str or mapping
        N combined actions.
    reference : str or mapping, optional
        The reference topology as a combined action; default: do nothing (the initial topology,
        as in Oracle4Grid, where this is the number of substations and lines an action acts on).

    Returns
    -------
    n_sub_changed, n_line_changed : ndarray of int32, shape (N,)

    Examples
    --------
    >>> init_counts(["donothing-0", "sub-1-0_sub-2-1", "sub-1-0_line-4-3"])[0].tolist()
    [0, 2, 1]
    """
    ref = as_parts([reference if reference is not None else {}])[0]
    parts = as_parts(actions)
    out = []
    for kind in ASSET_KINDS:
        # as _count_block counts: |A| + |R| - common assets - common unitary actions (no (N,
        # assets + unitary) incidence: 1.9 GB at 442,908 actions)
        mine_ref = {asset: k for asset, k in ref.items() if asset[0] == kind}
        counts = np.empty(len(parts), dtype=np.int32)
        for i, action in enumerate(parts):
            n_kind = same = 0
            for asset, k in action.items():
                if asset[0] == kind:
                    n_kind += 1
                    if asset in mine_ref:
                        same += 1 + (mine_ref[asset] == k)
            counts[i] = n_kind + len(mine_ref) - same
        out.append(counts)
    return out[0], out[1]


@dataclass(frozen=True, eq=False)
class TransitionRules:
    """Which action may follow which, and which may come first.

    Attributes
    ----------
    allowed : ndarray of bool, shape (N, N), or scipy.sparse.csr_array of bool
        ``allowed[x, y]``: action y may be played at step t after action x at step t - 1.
        Dense up to :data:`SPARSE_THRESHOLD` actions, CSR above.
    from_init : ndarray of bool, shape (N,)
        Actions that may be played at the first step, from the reference topology.
    max_sub, max_line : int
        The limits the rules were built with (-1 when built by hand).
    """

    allowed: Any
    from_init: NDArray[np.bool_]
    max_sub: int = -1
    max_line: int = -1

    def __post_init__(self) -> None:
        n = len(self.from_init)
        if self.allowed.shape != (n, n):
            raise ValueError(
                f"allowed has shape {self.allowed.shape}, expected ({n}, {n}) from from_init"
            )

    @property
    def n_actions(self) -> int:
        """Number of actions N."""
        return len(self.from_init)

    @property
    def is_sparse(self) -> bool:
        """Whether :attr:`allowed` is a scipy sparse matrix."""
        return bool(sp.issparse(self.allowed))

    @property
    def n_transitions(self) -> int:
        """Number of allowed transitions (self loops included)."""
        if self.is_sparse:
            return int(self.allowed.count_nonzero())
        return int(np.count_nonzero(self.allowed))

    def dense(self) -> NDArray[np.bool_]:
        """:attr:`allowed` as a dense boolean array."""
        if self.is_sparse:
            return np.asarray(self.allowed.toarray(), dtype=bool)
        return np.asarray(self.allowed, dtype=bool)

    def predecessors(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Predecessors of each action in CSR form: ``indices[indptr[y]:indptr[y + 1]]``.

        The predecessors x of y (``allowed[x, y]``) are sorted by increasing index.
        """
        by_target = sp.csr_array(self.allowed.T if self.is_sparse else self.dense().T)
        by_target.sort_indices()
        return (
            np.asarray(by_target.indptr, dtype=np.int64),
            np.asarray(by_target.indices, dtype=np.int64),
        )


def _blocks(n_rows: int, n_cols: int | None = None) -> list[tuple[int, int]]:
    step = max(1, _BLOCK_ELEMENTS // max(1, n_cols if n_cols is not None else n_rows))
    return [(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def allowed_transitions(
    actions: Sequence[PartsLike],
    max_sub: int = 1,
    max_line: int = 1,
    *,
    sparse: bool | None = None,
    reference: PartsLike | None = None,
) -> TransitionRules:
    """The transitions allowed by the game rules between N combined actions.

    Parameters
    ----------
    actions : sequence of str or mapping
        N combined actions, as names or parts mappings.
    max_sub, max_line : int, default 1
        Most substations and lines one transition may change (Oracle4Grid's
        ``MAX_SUB_CHANGED`` and ``MAX_LINE_STATUS_CHANGED`` of its graph).
    sparse : bool, optional
        Store :attr:`TransitionRules.allowed` as a CSR matrix; by default when N exceeds
        :data:`SPARSE_THRESHOLD` (2048: the dense matrix would pass 4 MB and the dynamic
        programming is faster on the CSR form for sets that large). With the game's limits
        (1 and 1) the sparse rules are built from the actions' neighbourhoods
        (:func:`_neighbour_csr`, O(allowed transitions)) instead of counting all N^2 pairs.
    reference : str or mapping, optional
        The reference topology the first action is played from; default do nothing.

    Returns
    -------
    TransitionRules

    Examples
    --------
    >>> rules = allowed_transitions(["sub-1-0", "sub-2-1", "sub-1-0_sub-2-1", "donothing-0"])
    >>> rules.dense().astype(int).tolist()
    [[1, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 1]]
    >>> rules.from_init.tolist()
    [True, True, False, True]
    """
    if max_sub < 0 or max_line < 0:
        raise ValueError(f"max_sub={max_sub} and max_line={max_line} must be >= 0")
    parts = as_parts(actions)
    n = len(parts)
    use_sparse = n > SPARSE_THRESHOLD if sparse is None else sparse
    init_sub, init_line = init_counts(parts, reference)
    from_init = (init_sub <= max_sub) & (init_line <= max_line)

    if use_sparse and max_sub == 1 and max_line == 1:
        allowed = _neighbour_csr(parts)
        return TransitionRules(allowed, from_init, max_sub=max_sub, max_line=max_line)
    subs, lines = _encode(parts, "sub"), _encode(parts, "line")
    dense = None if use_sparse else np.empty((n, n), dtype=bool)
    row_parts: list[NDArray[np.int64]] = []
    col_parts: list[NDArray[np.int64]] = []
    for start, stop in _blocks(n):
        block = (_count_block(subs, subs, start, stop) <= max_sub) & (
            _count_block(lines, lines, start, stop) <= max_line
        )
        if dense is not None:
            dense[start:stop] = block
        else:
            r, c = np.nonzero(block)
            row_parts.append(r + start)
            col_parts.append(c)
    allowed = dense if dense is not None else _csr(row_parts, col_parts, n)
    return TransitionRules(allowed, from_init, max_sub=max_sub, max_line=max_line)


def _csr(
    row_parts: Sequence[NDArray[np.int64]], col_parts: Sequence[NDArray[np.int64]], n: int
) -> Any:
    """The (N, N) boolean CSR matrix of the allowed pairs, given block by block (rows sorted)."""
    rows = np.concatenate(row_parts) if row_parts else np.zeros(0, dtype=np.int64)
    cols = np.concatenate(col_parts) if col_parts else np.zeros(0, dtype=np.int64)
    index_type = np.int32 if len(cols) < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n + 1, dtype=index_type)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_array(
        (np.ones(len(cols), dtype=bool), cols.astype(index_type), indptr), shape=(n, n)
    )


# a random 64-bit code per unitary action (and per masked asset) for the neighbourhood join
_HASH_SEED = 20231004


def _neighbour_csr(parts: Sequence[Mapping[Asset, int]]) -> Any:
    """The allowed transitions under limits 1 and 1, as CSR, in O(allowed pairs).

    X -> Y is allowed when, with at most one substation s and one line l left out of both,
    X and Y act alike on every other asset. Each action emits the "rest" Z it leaves after
    leaving out nothing, one of its substations, one of its lines, or one of each, with the
    asset(s) left out: entry (X, Z, s, l) (s, l = none when nothing is left out). Two entries
    with the same Z pair up when their s agree or one is none, and their l likewise: the pairs
    are joined on hashed keys (Z as a sum of random 64-bit codes of its unitary actions,
    collisions about N^2 / 2^64) between the buckets (Z, s, l), (Z, s, none), (Z, none, l),
    (Z, none, none), so that only matching pairs are produced, then deduplicated.
    """
    n = len(parts)
    rng = np.random.default_rng(_HASH_SEED)
    codes: dict[tuple[Asset, int], int] = {}
    asset_ids: dict[Asset, int] = {}
    mask = (1 << 64) - 1
    owner: list[int] = []
    zhash: list[int] = []
    sub_left: list[int] = []
    line_left: list[int] = []
    for x, action in enumerate(parts):
        items = list(action.items())
        part_code = []
        for asset, k in items:
            found = codes.get((asset, k))
            if found is None:
                found = codes[(asset, k)] = int(rng.integers(0, 2**62)) * 4 + 1
            part_code.append(found)
            asset_ids.setdefault(asset, len(asset_ids) + 1)
        total = sum(part_code) & mask
        subs = [(0, 0)] + [
            (asset_ids[a], part_code[i]) for i, (a, _) in enumerate(items) if a[0] == "sub"
        ]
        lines = [(0, 0)] + [
            (asset_ids[a], part_code[i]) for i, (a, _) in enumerate(items) if a[0] == "line"
        ]
        for s_id, s_code in subs:
            for l_id, l_code in lines:
                owner.append(x)
                zhash.append((total - s_code - l_code) & mask)
                sub_left.append(s_id)
                line_left.append(l_id)
    x_of = np.asarray(owner, dtype=np.int64)
    z = np.asarray(zhash, dtype=np.uint64)
    s_left = np.asarray(sub_left, dtype=np.uint64)  # 0: nothing left out
    l_left = np.asarray(line_left, dtype=np.uint64)
    has_s, has_l = s_left > 0, l_left > 0
    zero = np.zeros_like(s_left)

    def key(s_part: np.ndarray, l_part: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (
                z + s_part * np.uint64(0x9E3779B97F4A7C15) + l_part * np.uint64(0xC2B2AE3D27D4EB4F)
            )

    own = key(s_left, l_left)
    by_own = _Sorted(own, x_of)
    # the codes x * n + y of the pairs found, both directions, unique within a chunk
    codes_found: list[NDArray[np.int64]] = []
    _join_into(codes_found, own, x_of, by_own, n)  # the same bucket
    for left, wanted in (
        (has_l, key(s_left, zero)),  # (Z, s, l) - (Z, s, none)
        (has_s, key(zero, l_left)),  # (Z, s, l) - (Z, none, l)
        (has_s & has_l, key(zero, zero)),  # (Z, s, l) - (Z, none, none)
    ):
        _join_into(codes_found, wanted[left], x_of[left], by_own, n)
    only_s, only_l = has_s & ~has_l, ~has_s & has_l
    only_l_sorted = _Sorted(z[only_l], x_of[only_l])
    _join_into(codes_found, z[only_s], x_of[only_s], only_l_sorted, n)  # (Z,s,-)-(Z,-,l)
    flat = np.unique(np.concatenate(codes_found)) if codes_found else np.zeros(0, dtype=np.int64)
    del codes_found
    index_type = np.int32 if len(flat) < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n + 1, dtype=index_type)
    np.cumsum(np.bincount(flat // n, minlength=n), out=indptr[1:])
    indices = (flat % n).astype(index_type)
    del flat
    return sp.csr_array((np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, n))


#: left entries joined at a time (bounds the join's temporaries; with the incidence matrices
#: no longer built for the sparse rules, 442,908 actions (15 M transitions) take 1.4 GB over
#: their names instead of 3.8 GB)
_JOIN_CHUNK = 1 << 18


class _Sorted:
    """The right side of an equi-join, sorted by key once."""

    __slots__ = ("keys", "x")

    def __init__(self, keys: np.ndarray, x: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys, self.x = keys[order], x[order]


def _join_into(
    found: list[NDArray[np.int64]],
    left_keys: np.ndarray,
    left_x: np.ndarray,
    right: _Sorted,
    n: int,
) -> None:
    """Append the codes ``x * n + y`` of every (left x, right y) with equal keys, and of
    (y, x), a chunk of the left side at a time, each chunk's codes unique."""
    for start in range(0, len(left_keys), _JOIN_CHUNK):
        lx, rx = _join(
            left_keys[start : start + _JOIN_CHUNK], left_x[start : start + _JOIN_CHUNK], right
        )
        if lx.size:
            found.append(np.unique(np.concatenate([lx * n + rx, rx * n + lx])))


def _join(
    left_keys: np.ndarray, left_x: np.ndarray, right: _Sorted
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Every (left x, right x) whose keys are equal (an equi-join on the sorted right side)."""
    start = np.searchsorted(right.keys, left_keys, side="left")
    stop = np.searchsorted(right.keys, left_keys, side="right")
    counts = stop - start
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lx = np.repeat(left_x, counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    rx = right.x[np.repeat(start, counts) + offsets]
    return lx, rx
