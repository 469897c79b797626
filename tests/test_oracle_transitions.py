"""Transitions under the game rules: names, counts, allowed transitions, incomplete runs."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest

from gridoracle.errors import ActionFileError, GridOracleError
from gridoracle.oracle.core import transitions
from gridoracle.oracle.core.transitions import (
    allowed_transitions,
    as_parts,
    combined_name,
    init_counts,
    parse_combined_name,
    transition_counts,
)
from gridoracle.oracle.sim.rewards import drop_incomplete, steps_played


def random_actions(rng: np.random.Generator, n_max: int) -> list[dict[tuple[str, int], int]]:
    """Combinations (depth <= 3) of random unitary actions over a few substations and lines,
    k numbered over the whole set as in an Oracle4Grid action file, do nothing last."""
    units: dict[tuple[str, int], list[int]] = {}
    k = 0
    for kind, n_assets, n_ids in (("sub", 3, 3), ("line", 2, 2)):
        for asset in rng.choice(20, size=int(rng.integers(0, n_assets + 1)), replace=False):
            units[(kind, int(asset))] = list(range(k, k + int(rng.integers(1, n_ids + 1))))
            k += len(units[(kind, int(asset))])
    combos = [
        dict(zip(assets, ids, strict=True))
        for depth in range(1, 4)
        for assets in itertools.combinations(units, depth)
        for ids in itertools.product(*(units[a] for a in assets))
    ]
    if len(combos) > n_max - 1:
        keep = np.sort(rng.choice(len(combos), size=n_max - 1, replace=False))
        combos = [combos[i] for i in keep]
    return [*combos, {}]


def naive_counts(x: dict, y: dict, kind: str) -> int:
    """Oracle4Grid's OracleAction.number_of_modified_{subs,lines}_to, written out with sets."""
    ax = {a: k for a, k in x.items() if a[0] == kind}
    ay = {a: k for a, k in y.items() if a[0] == kind}
    common = set(ax) & set(ay)
    return len(set(ax) ^ set(ay)) + sum(ax[a] != ay[a] for a in common)


def test_parse_combined_name() -> None:
    assert parse_combined_name("sub-1-0_line-4-3") == {("sub", 1): 0, ("line", 4): 3}
    assert parse_combined_name("line-12-7") == {("line", 12): 7}
    assert parse_combined_name("donothing-0") == {}
    for name in ("sub-1-0", "sub-1-0_sub-23-1", "line-4-3_sub-2-9_sub-3-10", "donothing-0"):
        assert combined_name(parse_combined_name(name)) == name


@pytest.mark.parametrize(
    "name", ["", "sub-1", "sub-1-0_", "bus-1-0", "sub-a-0", "donothing-1", "sub-1-0_sub-1-2"]
)
def test_parse_combined_name_rejects_bad_names(name: str) -> None:
    with pytest.raises(ActionFileError) as info:
        parse_combined_name(name)
    assert repr(name) in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, GridOracleError)


def test_as_parts_checks_mappings() -> None:
    assert as_parts(["sub-1-0", {("line", 2): 1}]) == [{("sub", 1): 0}, {("line", 2): 1}]
    with pytest.raises(TypeError):
        as_parts([3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="kind"):
        as_parts([{("bus", 1): 0}])


def test_counts_on_hand_written_cases() -> None:
    names = [
        "donothing-0",  # 0
        "sub-1-0",  # 1
        "sub-1-2",  # 2: same substation, another topology
        "sub-1-0_sub-2-1",  # 3
        "sub-1-0_line-4-3",  # 4
        "line-4-5",  # 5: same line, another unitary action
        "sub-2-1_line-4-5",  # 6
    ]
    n_sub, n_line = transition_counts(names)
    assert n_sub.dtype == np.int32 and n_sub.shape == (7, 7)
    assert (np.diag(n_sub) == 0).all() and (np.diag(n_line) == 0).all()
    assert (n_sub == n_sub.T).all() and (n_line == n_line.T).all()
    assert n_sub[1, 2] == 1  # another unitary action of the same substation counts 1
    assert n_sub[0, 3] == 2 and n_sub[1, 3] == 1 and n_sub[2, 3] == 2
    assert (n_sub[1, 4], n_line[1, 4]) == (0, 1)
    assert (n_sub[0, 4], n_line[0, 4]) == (1, 1)
    assert (n_sub[4, 5], n_line[4, 5]) == (1, 1)  # line 4: unitary 3 -> 5 counts 1
    assert (n_sub[3, 6], n_line[3, 6]) == (1, 1)  # sub 1 dropped, line 4 added
    assert (n_sub[4, 6], n_line[4, 6]) == (2, 1)

    init_sub, init_line = init_counts(names)
    assert init_sub.tolist() == [0, 1, 1, 2, 1, 0, 1]
    assert init_line.tolist() == [0, 0, 0, 0, 1, 1, 1]
    # from another reference topology: the counts of the transition from it
    ref_sub, ref_line = init_counts(names, reference="sub-1-0")
    assert ref_sub.tolist() == n_sub[1].tolist() and ref_line.tolist() == n_line[1].tolist()

    rules = allowed_transitions(names)
    expected = (n_sub <= 1) & (n_line <= 1)
    assert (rules.dense() == expected).all()
    assert rules.from_init.tolist() == [True, True, True, False, True, True, True]
    assert not rules.is_sparse and rules.n_transitions == int(expected.sum())
    relaxed = allowed_transitions(names, max_sub=2, max_line=0)
    assert (relaxed.dense() == ((n_sub <= 2) & (n_line == 0))).all()
    assert relaxed.from_init.tolist() == [True, True, True, True, False, False, False]


@pytest.mark.parametrize("seed", range(8))
def test_counts_match_oracle4grid_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    actions = random_actions(rng, n_max=40)
    n_sub, n_line = transition_counts(actions)
    for i, x in enumerate(actions):
        for j, y in enumerate(actions):
            assert n_sub[i, j] == naive_counts(x, y, "sub")
            assert n_line[i, j] == naive_counts(x, y, "line")
    init_sub, init_line = init_counts(actions)
    assert init_sub.tolist() == [naive_counts({}, x, "sub") for x in actions]
    assert init_line.tolist() == [naive_counts({}, x, "line") for x in actions]
    ref_sub, ref_line = init_counts(actions, reference=actions[-1])
    assert ref_sub.tolist() == [naive_counts(actions[-1], x, "sub") for x in actions]
    assert ref_line.tolist() == [naive_counts(actions[-1], x, "line") for x in actions]
    # names and mappings give the same rules
    names = [combined_name(a) for a in actions]
    assert (allowed_transitions(names).dense() == allowed_transitions(actions).dense()).all()


def test_sparse_rules_equal_dense_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    units = {("sub", s): [3 * s, 3 * s + 1, 3 * s + 2] for s in range(5)}
    units |= {("line", line): [15 + line] for line in range(3)}
    actions = [
        dict(zip(assets, ids, strict=True))
        for depth in (1, 2, 3)
        for assets in itertools.combinations(units, depth)
        for ids in itertools.product(*(units[a] for a in assets))
    ]
    actions = [actions[i] for i in np.sort(rng.choice(len(actions), 299, replace=False))] + [{}]
    dense = allowed_transitions(actions)
    # small blocks: the rows are counted in many pieces
    monkeypatch.setattr(transitions, "_BLOCK_ELEMENTS", 1000)
    sparse = allowed_transitions(actions, sparse=True)
    assert sparse.is_sparse and not dense.is_sparse
    assert sparse.n_transitions == dense.n_transitions
    assert (sparse.dense() == dense.dense()).all()
    assert (sparse.from_init == dense.from_init).all()
    # the neighbourhood join a few entries at a time: the same pairs
    monkeypatch.setattr(transitions, "_JOIN_CHUNK", 7)
    chunked = allowed_transitions(actions, sparse=True)
    assert (chunked.allowed != sparse.allowed).nnz == 0
    assert (chunked.allowed.indptr == sparse.allowed.indptr).all()
    indptr, indices = sparse.predecessors()
    for y in range(0, 300, 37):
        column = indices[indptr[y] : indptr[y + 1]]
        assert column.tolist() == np.flatnonzero(dense.dense()[:, y]).tolist()


def test_auto_layout_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["donothing-0", "sub-1-0", "sub-1-1", "line-2-3"]
    assert not allowed_transitions(names).is_sparse
    monkeypatch.setattr(transitions, "SPARSE_THRESHOLD", 3)
    rules = allowed_transitions(names)
    assert rules.is_sparse
    assert rules.dense().all()  # every pair changes at most one substation and one line


def test_rules_shape_is_checked() -> None:
    with pytest.raises(ValueError, match="shape"):
        transitions.TransitionRules(np.ones((2, 3), dtype=bool), np.ones(2, dtype=bool))
    with pytest.raises(ValueError):
        allowed_transitions(["sub-1-0"], max_sub=-1)


def test_drop_incomplete() -> None:
    names = ["sub-1-0", "sub-2-1", "donothing-0", "line-3-2"]
    kept, warnings = drop_incomplete([6, 2, 6, 5], names)
    assert kept.tolist() == [0, 2]
    assert len(warnings) == 1
    assert "2 actions" in warnings[0] and "sub-2-1 (2 of 6 steps)" in warnings[0]
    assert "line-3-2 (5 of 6 steps)" in warnings[0]
    kept, warnings = drop_incomplete([6, 6], names[:2])
    assert kept.tolist() == [0, 1] and warnings == []
    kept, warnings = drop_incomplete([6, 6], names[:2], n_expected=8)
    assert kept.tolist() == [] and len(warnings) == 1
    with pytest.raises(ValueError):
        drop_incomplete([6], names)


def test_steps_played() -> None:
    nan = float("nan")
    table = [[1.0, 1.0, nan], [1.0, nan, nan], [1.0, nan, nan]]
    assert steps_played(table).tolist() == [3, 1, 0]


def test_doctests() -> None:
    result = doctest.testmod(transitions)
    assert result.attempted > 0 and result.failed == 0
