"""Building unitary actions by hand (actions/build.py) and drawing the grid (show.draw_grid)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from gridoracle.actions.build import (
    ELEMENT_KINDS,
    collect_reference,
    reference_text,
    substation_elements,
    write_reference,
)
from gridoracle.actions.parse import UnitaryAction, convert, detect_format, load_unitary_actions
from gridoracle.actions.show import draw_grid
from gridoracle.errors import InvalidOption, OutputError

if TYPE_CHECKING:
    from grid2op.Environment import Environment

SANDBOX = "l2rpn_case14_sandbox"
# grid2op's get_obj_substations columns: substation, load, generator, line origin, line extremity,
# storage (-1 where the element is not of that type)
_COLUMN_OF_KIND = dict(zip(ELEMENT_KINDS, (1, 2, 3, 4, 5), strict=True))


@pytest.fixture
def obs(env_case14: Environment) -> Any:
    return env_case14.reset(seed=0, options={"time serie id": 0})


def _one(data: Any, env: Environment) -> UnitaryAction:
    actions, _ = convert(data, env)
    assert len(actions) == 1
    return actions[0]


def test_elements_match_grid2op_for_every_substation(env_case14: Environment, obs: Any) -> None:
    """Position, kind, id and bus of each element against grid2op's own tables."""
    for sub in range(env_case14.n_sub):
        elements = substation_elements(env_case14, sub, obs)
        table = type(env_case14).get_obj_substations(substation_id=sub)
        assert [e.position for e in elements] == list(range(len(table)))
        assert [e.bus for e in elements] == obs.sub_topology(sub).tolist()
        for element, row in zip(elements, table, strict=True):
            column = _COLUMN_OF_KIND[element.kind]
            assert row[column] == element.element_id
            assert sum(1 for x in row[1:] if x != -1) == 1
            names = {
                "load": env_case14.name_load,
                "generator": env_case14.name_gen,
                "line origin": env_case14.name_line,
                "line extremity": env_case14.name_line,
            }[element.kind]
            assert element.name == names[element.element_id]
            if element.kind == "line origin":
                assert element.other_substation == env_case14.line_ex_to_subid[element.element_id]
            elif element.kind == "line extremity":
                assert element.other_substation == env_case14.line_or_to_subid[element.element_id]
            else:
                assert element.other_substation is None
    assert all(e.bus is None for e in substation_elements(env_case14, 5))


@pytest.mark.parametrize("bad", [-1, 14, True, "5", 2.0])
def test_a_substation_out_of_the_grid_is_a_user_error(env_case14: Environment, bad: Any) -> None:
    with pytest.raises(InvalidOption, match=r"^sub_id .*0 to 13") as info:
        substation_elements(env_case14, bad)
    assert info.value.param == "sub_id"


def test_an_element_table_bus_vector_is_the_action_grid2op_plays(
    env_case14: Environment, obs: Any
) -> None:
    """A bus vector in the table's order gives the action grid2op builds from the same vector."""
    elements = substation_elements(env_case14, 5, obs)
    buses = [2 if e.kind in ("line origin", "load") and e.element_id != 7 else 1 for e in elements]
    action = _one([{"set_bus": {"substations_id": [[5, buses]]}}], env_case14)
    ours = env_case14.action_space(action.grid2op_dict())
    theirs = env_case14.action_space({"set_bus": {"substations_id": [(5, np.array(buses))]}})
    assert ours == theirs
    # the reference content names each element by the table's reference_key and element_id
    expected: dict[str, list[list[int]]] = {}
    for e, bus in zip(elements, buses, strict=True):
        expected.setdefault(e.reference_key, []).append([e.element_id, bus])
    assert action.content == {k: sorted(v) for k, v in expected.items()}


def _actions(env: Environment) -> list[UnitaryAction]:
    return [
        _one({"line": {"4": [{"set_line": -1}]}}, env),
        _one([{"set_bus": {"substations_id": [[5, [1, 2, 2, 1, 2, 1, 2]]]}}], env),
        _one({"sub": {"1": [{"lines_id_bus": [[0, 1], [2, 1], [3, 2], [4, 1]]}]}}, env),
        _one([{"set_bus": {"substations_id": [[5, [1, 1, 1, 2, 1, 2, 1]]]}}], env),
        _one([{"set_bus": {"substations_id": [[5, [1, 2, 2, 1, 2, 1, 2]]]}}], env),  # again
        _one({"line": {"17": [{"set_line": -1}]}}, env),
    ]


def test_collect_reference_orders_groups_and_drops_repeats(env_case14: Environment) -> None:
    actions = _actions(env_case14)
    data = collect_reference(actions)
    assert list(data) == ["sub", "line"]
    assert list(data["sub"]) == ["5", "1"] and list(data["line"]) == ["4", "17"]
    assert data["sub"]["5"] == [actions[1].content, actions[3].content]
    assert detect_format(data) == "reference"
    back, warnings = convert(data, env_case14)
    assert warnings == []
    assert [a.name for a in back] == ["sub-5-0", "sub-5-1", "sub-1-2", "line-4-3", "line-17-4"]
    by_content = {(a.asset, json.dumps(a.content, sort_keys=True)): a for a in back}
    for action in actions:
        twin = by_content[(action.asset, json.dumps(action.content, sort_keys=True))]
        assert twin.grid2op == action.grid2op
    # the contents are copies
    data["sub"]["5"][0]["loads_id_bus"].append([99, 1])
    assert [99, 1] not in actions[1].content["loads_id_bus"]
    with pytest.raises(ValueError, match="no action"):
        collect_reference([])


def test_write_reference_reads_back_the_same_actions(
    env_case14: Environment, tmp_path: Path
) -> None:
    actions = _actions(env_case14)
    path = write_reference(tmp_path / "chosen.json", actions)
    text = path.read_text(encoding="utf-8")
    assert text == reference_text(collect_reference(actions)) and text.endswith("}\n")
    assert json.loads(text) == collect_reference(actions)
    loaded, warnings = load_unitary_actions(path, env_case14)
    assert warnings == []
    expected, _ = convert(collect_reference(actions), env_case14)
    assert loaded == expected
    assert [a.content for a in loaded] == [a.content for a in expected]
    # the same actions, the same bytes
    write_reference(tmp_path / "again.json", actions)
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.json", "chosen.json"]


def test_write_reference_bad_outputs(env_case14: Environment, tmp_path: Path) -> None:
    actions = _actions(env_case14)
    with pytest.raises(OutputError, match="does not exist"):
        write_reference(tmp_path / "missing" / "a.json", actions)
    with pytest.raises(OutputError, match="is a folder"):
        write_reference(tmp_path, actions)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        write_reference(blocker / "a.json", actions)
    assert blocker.read_text() == "x"


def _texts(fig: Any) -> set[str]:
    return {t.get_text().strip() for ax in fig.axes for t in ax.texts}


def test_draw_grid_highlights_the_asset(env_case14: Environment, obs: Any) -> None:
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    layout = draw_grid(env_case14, asset=("sub", 5), title="substation 5")
    assert isinstance(layout, Figure)
    (ax,) = layout.axes
    rings = [p for p in ax.patches if isinstance(p, Circle) and p.get_edgecolor()[:3] == (1, 0, 1)]
    assert len(rings) == 1
    assert rings[0].center == pytest.approx(tuple(env_case14.grid_layout[env_case14.name_sub[5]]))
    assert {str(i) for i in range(env_case14.n_line)} <= _texts(layout)  # the lines' ids
    assert layout._suptitle is not None and layout._suptitle.get_text() == "substation 5"

    state = draw_grid(env_case14, obs, asset=("line", 4))
    (ax,) = state.axes
    magenta = [ln for ln in ax.lines if ln.get_color() == "magenta"]
    assert len(magenta) == 1
    x0, y0 = env_case14.grid_layout[env_case14.name_sub[env_case14.line_or_to_subid[4]]]
    assert magenta[0].get_xdata()[0] == pytest.approx(x0)
    assert magenta[0].get_ydata()[0] == pytest.approx(y0)
    # the observation's loadings are written on the lines
    assert f"{100 * obs.rho[4]:.2f} %" in _texts(state)

    given = Figure()
    assert draw_grid(env_case14, obs, figure=given) is given


@pytest.mark.parametrize(
    "bad", [("sub", 14), ("line", -1), ("bus", 1), ("sub",), 5, ("line", True)]
)
def test_draw_grid_bad_asset_is_a_user_error(env_case14: Environment, bad: Any) -> None:
    with pytest.raises(InvalidOption, match=r"^asset ") as info:
        draw_grid(env_case14, asset=bad)
    assert info.value.param == "asset"
