"""Combined actions: Oracle4Grid's order, names and counts; the filter at t0."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gridoracle.actions.combine import (
    DONOTHING_NAME,
    CombinedAction,
    combination_summary,
    combinations,
    count_combinations,
    filter_at_t0,
)
from gridoracle.actions.parse import UnitaryAction, convert, load_unitary_actions
from gridoracle.errors import InvalidOption
from gridoracle.grid import make_env

O4G = Path(__file__).resolve().parent / "data" / "oracle4grid"
EXPECTED = json.loads((O4G / "expected_names.json").read_text())

# Oracle4Grid's integration test (oracle4grid/test/integration_test.py, expected_actions) for
# test_unitary_actions.json with max_depth 3
ORACLE4GRID_EXPECTED = [
    "sub-1-0",
    "sub-1-1",
    "sub-5-2",
    "line-4-3",
    "sub-1-0_sub-5-2",
    "sub-1-1_sub-5-2",
    "sub-1-0_line-4-3",
    "sub-1-1_line-4-3",
    "sub-5-2_line-4-3",
    "sub-1-0_sub-5-2_line-4-3",
    "sub-1-1_sub-5-2_line-4-3",
    "donothing-0",
]


@pytest.fixture(scope="module")
def oracle_env() -> Iterator[Any]:
    """rte_case14_realistic made as Oracle4Grid makes its simulation environment."""
    from grid2op.Action import PlayableAction
    from grid2op.Parameters import Parameters
    from grid2op.Rules import AlwaysLegal

    param = Parameters()
    param.init_from_dict(
        {"NO_OVERFLOW_DISCONNECTION": True, "MAX_LINE_STATUS_CHANGED": 999, "MAX_SUB_CHANGED": 2999}
    )
    env = make_env(
        "rte_case14_realistic",
        param=param,
        action_class=PlayableAction,
        gamerules_class=AlwaysLegal,
        seed=0,
    )
    yield env
    env.close()


@pytest.fixture(scope="module")
def unitary(oracle_env: Any) -> list[UnitaryAction]:
    actions, _ = load_unitary_actions(O4G / "test_unitary_actions.json", oracle_env)
    return actions


def _names(actions: list[CombinedAction]) -> list[str]:
    return [a.name for a in actions]


def test_oracle4grid_integration_test_names(unitary: list[UnitaryAction]) -> None:
    assert _names(combinations(unitary, 3)) == ORACLE4GRID_EXPECTED


def test_depth_1_2_3(unitary: list[UnitaryAction]) -> None:
    depth1 = _names(combinations(unitary, 1))
    depth2 = _names(combinations(unitary, 2))
    depth3 = _names(combinations(unitary, 3))
    assert depth1 == ["sub-1-0", "sub-1-1", "sub-5-2", "line-4-3", "donothing-0"]
    assert depth2 == [*ORACLE4GRID_EXPECTED[:9], "donothing-0"]
    assert depth3 == ORACLE4GRID_EXPECTED
    # deeper than the number of assets (3): nothing more
    assert _names(combinations(unitary, 7)) == ORACLE4GRID_EXPECTED
    assert [count_combinations(unitary, d) for d in (1, 2, 3, 7)] == [5, 10, 12, 12]
    assert combination_summary(combinations(unitary, 3)) == {0: 1, 1: 4, 2: 5, 3: 2}


@pytest.mark.parametrize(
    "file", [name for name, entry in EXPECTED.items() if not name.startswith("_")]
)
def test_counts_and_names_of_oracle4grid_files(file: str) -> None:
    """The names and counts Oracle4Grid's own code gives (tests/data/oracle4grid/README.md)."""
    entry = EXPECTED[file]
    env = make_env(entry["env"])
    try:
        actions, _ = load_unitary_actions(O4G / file, env)
    finally:
        env.close()
    for depth_text, count in entry["counts"].items():
        depth = int(depth_text)
        assert count_combinations(actions, depth) == count
        combined = combinations(actions, depth)
        assert len(combined) == count
        assert combined[-1].name == DONOTHING_NAME
        if "combinations" in entry:
            assert _names(combined) == entry["combinations"][depth_text]
        assert len(set(_names(combined))) == count


def test_combined_action_parts_and_assets(unitary: list[UnitaryAction]) -> None:
    combined = {a.name: a for a in combinations(unitary, 3)}
    action = combined["sub-1-1_sub-5-2_line-4-3"]
    assert action.depth == 3 and not action.is_donothing
    assert [p.name for p in action.parts] == ["sub-1-1", "sub-5-2", "line-4-3"]
    assert action.assets() == {("sub", 1): 1, ("sub", 5): 2, ("line", 4): 3}
    assert action.subs() == (1, 5) and action.lines() == (4,)
    nothing = combined[DONOTHING_NAME]
    assert nothing.is_donothing and nothing.depth == 0
    assert nothing.assets() == {} and nothing.grid2op_dict() == {}


def test_assets_agree_with_the_transition_name_parser(unitary: list[UnitaryAction]) -> None:
    transitions = pytest.importorskip("gridoracle.oracle.core.transitions")
    parse_name = getattr(transitions, "parse_combined_name", None)
    if parse_name is None:
        pytest.skip("gridoracle.oracle.core.transitions has no parse_combined_name")
    for action in combinations(unitary, 3):
        assert parse_name(action.name) == action.assets()


def test_grid2op_dict_is_the_sum_of_the_parts(
    unitary: list[UnitaryAction], oracle_env: Any
) -> None:
    space = oracle_env.action_space
    for action in combinations(unitary, 3):
        d = action.grid2op_dict()
        played = space(json.loads(json.dumps(d)))
        expected = space({})
        for part in action.parts:
            expected += space(part.grid2op_dict())
        assert np.array_equal(played.set_bus, expected.set_bus), action.name
        assert np.array_equal(played.line_set_status, expected.line_set_status), action.name
        assert action.grid2op_dict() == d  # a fresh, equal dict each call
        d.clear()
        assert action.grid2op_dict() != {} or action.is_donothing


def test_combined_action_of(unitary: list[UnitaryAction]) -> None:
    sub10, sub11, _, line4 = unitary
    assert CombinedAction.of([sub10, line4]).name == "sub-1-0_line-4-3"
    assert CombinedAction.of([]).name == DONOTHING_NAME
    with pytest.raises(ValueError, match="same asset"):
        CombinedAction.of([sub10, sub11])
    with pytest.raises(ValueError, match="given twice"):
        combinations([sub10, sub10], 2)


@pytest.mark.parametrize("depth", [0, -1, True, 1.5, "2"])
def test_bad_max_depth(depth: Any, unitary: list[UnitaryAction]) -> None:
    with pytest.raises(InvalidOption, match="max_depth"):
        combinations(unitary, depth)
    with pytest.raises(InvalidOption, match="max_depth"):
        count_combinations(unitary, depth)


def test_filter_drops_diverging_actions(oracle_env: Any) -> None:
    actions, _ = load_unitary_actions(O4G / "test_unitary_actions_final_topo.json", oracle_env)
    combined = combinations(actions, 3)
    kept, dropped = filter_at_t0(combined, oracle_env, 0, seed=0)
    # lines 3 and 4 out with substation 1 split islands part of the grid: the power flow fails
    assert [name for name, _ in dropped] == ["sub-1-2_line-4-3_line-3-4"]
    assert dropped[0][1].startswith("diverges at t0")
    assert "\n" not in dropped[0][1]
    assert _names(kept) == [n for n in _names(combined) if n != "sub-1-2_line-4-3_line-3-4"]
    assert kept[-1].name == DONOTHING_NAME
    # the chronic by its name: the same
    again, dropped_again = filter_at_t0(combined, oracle_env, "000", seed=0)
    assert _names(again) == _names(kept) and dropped_again == dropped
    # on the first observation of the reward table's reset (the pipeline's: no second reset)
    from gridoracle.oracle.sim.episode import reset_episode

    first = reset_episode(oracle_env, 0, 0, 5)
    given, dropped_given = filter_at_t0(combined, oracle_env, 0, seed=0, obs=first)
    assert _names(given) == _names(kept) and dropped_given == dropped


def test_filter_drops_actions_without_effect(oracle_env: Any) -> None:
    data = {
        "sub": {
            # every element of substation 1 already is on bus 1 at t0
            "1": [{"lines_id_bus": [[0, 1], [2, 1]]}, {"lines_id_bus": [[0, 2], [2, 2]]}],
        },
        # line 4 is connected at t0: reconnecting it does nothing
        "line": {"4": [{"set_line": 1}], "10": [{"set_line": -1}]},
    }
    actions, warnings = convert(data, oracle_env)
    assert any("reconnects line 4" in w for w in warnings)
    combined = combinations(actions, 2)
    kept, dropped = filter_at_t0(combined, oracle_env, 0)
    no_effect = "no effect on the initial topology or line status"
    assert dropped == [
        ("sub-1-0", no_effect),
        ("line-4-2", no_effect),
        ("sub-1-0_line-4-2", no_effect),
    ]
    assert _names(kept) == [
        "sub-1-1",
        "line-10-3",
        "sub-1-1_line-4-2",
        "sub-1-0_line-10-3",
        "sub-1-1_line-10-3",
        "line-4-2_line-10-3",
        DONOTHING_NAME,
    ]


def test_filter_reports_actions_the_rules_refuse(unitary: list[UnitaryAction]) -> None:
    """With grid2op's default rules (one substation per step) a two-substation action is illegal."""
    env = make_env("rte_case14_realistic")
    try:
        combined = combinations(unitary, 2)
        kept, dropped = filter_at_t0(combined, env, 0)
    finally:
        env.close()
    reasons = dict(dropped)
    assert "illegal" in reasons["sub-1-0_sub-5-2"]
    assert "sub-1-0" in _names(kept) and DONOTHING_NAME in _names(kept)


def test_filter_bad_chronic(unitary: list[UnitaryAction], oracle_env: Any) -> None:
    with pytest.raises(InvalidOption, match="chronic"):
        filter_at_t0(combinations(unitary, 1), oracle_env, 99)
    with pytest.raises(InvalidOption, match="not one"):
        filter_at_t0(combinations(unitary, 1), oracle_env, "0-1")


def test_filter_drops_ambiguous_combinations(oracle_env: Any) -> None:
    """Setting the bus of a line end and disconnecting the line: grid2op calls it ambiguous."""
    data = {
        "sub": {"1": [{"lines_id_bus": [[0, 2], [4, 2]]}]},
        "line": {"4": [{"set_line": -1}]},
    }
    actions, _ = convert(data, oracle_env)
    kept, dropped = filter_at_t0(combinations(actions, 2), oracle_env, 0)
    assert _names(kept) == ["sub-1-0", "line-4-1", DONOTHING_NAME]
    assert [name for name, _ in dropped] == ["sub-1-0_line-4-1"]
    assert dropped[0][1].startswith("ambiguous action: ")


def _eager_merged_dict(parts: tuple[UnitaryAction, ...]) -> dict[str, Any]:
    """The merged dict as combinations() built it for every action before it was lazy."""
    import copy

    from gridoracle.actions.model import SET_BUS_KEYS

    set_bus: dict[str, list[list[int]]] = {}
    line_status: list[list[int]] = []
    for part in parts:
        for key, pairs in part.grid2op.get("set_bus", {}).items():
            set_bus.setdefault(key, []).extend(copy.deepcopy(pairs))
        line_status.extend(copy.deepcopy(part.grid2op.get("set_line_status", [])))
    out: dict[str, Any] = {}
    if set_bus:
        out["set_bus"] = {key: sorted(set_bus[key]) for key in SET_BUS_KEYS if key in set_bus}
    if line_status:
        out["set_line_status"] = sorted(line_status)
    return out


@pytest.mark.parametrize(
    ("env_name", "depth"), [("l2rpn_case14_sandbox", 3), ("l2rpn_neurips_2020_track1", 3)]
)
def test_lazy_dicts_equal_the_merged_dicts(env_name: str, depth: int) -> None:
    """combinations() builds no dict; each one, built on first access, is the merged dict of
    the parts (same keys, order and JSON text), is kept, and shares no list with the parts."""
    import pickle

    root = Path(__file__).resolve().parent.parent
    env = make_env(env_name)
    try:
        actions, _ = load_unitary_actions(
            root / "examples" / "actions" / env_name / "reference.json", env
        )
    finally:
        env.close()
    combined = combinations(actions, depth)
    assert len(combined) == count_combinations(actions, depth) > 50
    assert all("_grid2op" not in vars(a) for a in combined)  # nothing built yet
    parts_before = json.dumps([u.grid2op for u in actions])
    for action in combined:
        expected = _eager_merged_dict(action.parts)
        assert json.dumps(action.grid2op) == json.dumps(expected), action.name
        assert action.grid2op is action.grid2op  # built once
        assert action == CombinedAction(name=action.name, grid2op=expected, parts=action.parts)
        assert hash(action) == hash(CombinedAction.of(action.parts))
        for pairs in action.grid2op.get("set_bus", {}).values():
            pairs[0][1] = 99  # the built dict's lists are its own
    assert json.dumps([u.grid2op for u in actions]) == parts_before
    # built or not, a combined action pickles (process pools) to an equal one
    fresh = combinations(actions, depth)[-2]
    assert pickle.loads(pickle.dumps(fresh)) == fresh
    assert pickle.loads(pickle.dumps(fresh)).grid2op == _eager_merged_dict(fresh.parts)
    # a dict given explicitly is kept as given
    given = CombinedAction(name="x", grid2op={"set_bus": {}}, parts=fresh.parts)
    assert given.grid2op == {"set_bus": {}}
