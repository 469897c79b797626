"""The action catalogue: enumeration (against grid2op's own), sampling, files and their checks."""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridoracle.actions import (
    FORMAT,
    CatalogueAction,
    GridLayout,
    count_kinds,
    enumerate_actions,
    load_catalogue,
    resolve_actions,
    sample_actions,
    save_catalogue,
)
from gridoracle.actions import catalogue as catalogue_mod
from gridoracle.actions.catalogue import check_output_file, dumps_catalogue, env_display_name
from gridoracle.actions.enumerate import unitary_topologies
from gridoracle.actions.model import set_bus_dict, substation_vectors, topology_action
from gridoracle.errors import ActionFileError, InvalidOption, OutputError
from gridoracle.grid import make_env

CASE14 = "l2rpn_case14_sandbox"
NAME_RE = re.compile(r"^(donothing|sub-\d+-\d+|line-\d+-(off|on))$")


@pytest.fixture(scope="session")
def env14():
    env = make_env(CASE14)
    yield env
    env.close()


@pytest.fixture(scope="session")
def env36():
    env = make_env("l2rpn_neurips_2020_track1")
    yield env
    env.close()


@pytest.fixture(scope="session")
def catalogue14(env14):
    return enumerate_actions(env14, "all")


def _sub_slice(space, sub: int) -> slice:
    start = int(space.sub_info[:sub].sum())
    return slice(start, start + int(space.sub_info[sub]))


# -- enumeration -----------------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", [CASE14, "rte_case5_example"])
def test_topologies_equal_grid2op_enumeration_vector_by_vector(env_name):
    env = make_env(env_name)
    try:
        space = env.action_space
        ours = [a for a in enumerate_actions(env, "topology") if a.kind == "topology"]
        theirs = space.get_all_unitary_topologies_set(space)
        assert len(ours) == len(theirs) > 0
        for mine, ref in zip(ours, theirs, strict=True):
            assert np.array_equal(mine.to_grid2op(space).set_bus, ref.set_bus), mine.name
    finally:
        env.close()


def test_topology_counts_per_substation_equal_grid2op_on_36_bus_grid(env36):
    space = env36.action_space
    actions = enumerate_actions(env36, "topology")
    per_sub: dict[int, int] = {}
    for action in actions[1:]:
        sub = int(action.name.split("-")[1])
        per_sub[sub] = per_sub.get(sub, 0) + 1
    for sub in range(space.n_sub):
        (expected,) = space.get_all_unitary_topologies_set(space, sub_id=sub, _count_only=True)
        assert per_sub.get(sub, 0) == expected, sub
    assert sum(per_sub.values()) == 66810  # grid2op 1.12.6's count for this grid


def _brute_force(n_el: int, lines: list[int], n_busbar: int) -> list[list[int]]:
    """The definition, written plainly: first element on bus 1, buses numbered in order of first
    use, every used bus holds a line end; fewer than two such topologies count as none."""
    out = []
    for rest in itertools.product(range(1, n_busbar + 1), repeat=n_el - 1):
        vec = [1, *rest]
        canonical = all(vec[i] <= max(vec[:i]) + 1 for i in range(1, n_el))
        used = set(vec)
        if canonical and all(any(vec[p] == b for p in lines) for b in used):
            out.append(vec)
    return out if len(out) >= 2 else []


@settings(max_examples=150, deadline=None)
@given(
    n_el=st.integers(1, 7),
    n_busbar=st.integers(1, 3),
    data=st.data(),
)
def test_unitary_topologies_match_their_definition(n_el, n_busbar, data):
    lines = data.draw(st.lists(st.integers(0, n_el - 1), unique=True, max_size=n_el))
    got = unitary_topologies(n_el, sorted(lines), n_busbar).tolist()
    expected = _brute_force(n_el, sorted(lines), n_busbar) if n_busbar >= 2 else []
    assert got == expected


def test_unitary_topologies_small_cases():
    # three line ends: every split of the two others against the first one
    assert unitary_topologies(3, [0, 1, 2]).tolist() == [[1, 1, 1], [1, 1, 2], [1, 2, 1], [1, 2, 2]]
    # one line and two other elements: a second bus would hold no line -> nothing to switch
    assert unitary_topologies(3, [0]).shape == (0, 3)
    # one busbar: nothing at all
    assert unitary_topologies(4, [0, 1], n_busbar=1).shape == (0, 4)


def test_catalogue_order_names_and_kinds(env14, catalogue14):
    names = [a.name for a in catalogue14]
    assert names[0] == "donothing"
    assert len(set(names)) == len(names)
    assert all(NAME_RE.match(n) for n in names)
    space = env14.action_space
    n_topo = len(space.get_all_unitary_topologies_set(space))
    assert count_kinds(catalogue14) == {
        "donothing": 1,
        "topology": n_topo,
        "line_off": space.n_line,
        "line_on": space.n_line,
    }
    # donothing, then topologies grouped by increasing substation, then lines (off, on)
    assert [a.kind for a in catalogue14] == (
        ["donothing"] + ["topology"] * n_topo + ["line_off", "line_on"] * space.n_line
    )
    subs = [int(n.split("-")[1]) for n in names if n.startswith("sub-")]
    assert subs == sorted(subs)
    ks = {}
    for name in names[1 : 1 + n_topo]:
        _, sub, k = name.split("-")
        assert int(k) == ks.get(sub, 0)  # k counts 0, 1, 2... within each substation
        ks[sub] = int(k) + 1
    assert names[1 + n_topo : 1 + n_topo + 4] == [
        "line-0-off",
        "line-0-on",
        "line-1-off",
        "line-1-on",
    ]
    assert [a.name for a in enumerate_actions(env14, "line")] == ["donothing", *names[1 + n_topo :]]
    assert [a.name for a in enumerate_actions(env14, "topology")] == names[: 1 + n_topo]


def test_enumeration_is_stable(env14, catalogue14):
    again = enumerate_actions(env14.action_space, "all")
    assert again == catalogue14
    assert [a.to_json() for a in again] == [a.to_json() for a in catalogue14]


def test_unknown_kind_is_refused(env14):
    with pytest.raises(InvalidOption, match="'lines'"):
        enumerate_actions(env14, "lines")  # type: ignore[arg-type]


# -- grid2op dicts ---------------------------------------------------------------------------------


def test_every_dict_survives_json_and_plays_the_intended_action(env14, catalogue14):
    space = env14.action_space
    layout = GridLayout.of(env14)
    vectors = {}
    for sub in range(space.n_sub):
        for k, vec in enumerate(
            unitary_topologies(layout.sub_sizes[sub], layout.line_positions(sub)).tolist()
        ):
            vectors[f"sub-{sub}-{k}"] = (sub, vec)
    for action in catalogue14:
        d = json.loads(json.dumps(action.grid2op))
        before = json.dumps(d)
        act = space(d)
        assert json.dumps(d) == before  # grid2op did not modify the dict
        if action.kind == "donothing":
            assert act == space({})
            assert not act.set_bus.any() and not act.line_set_status.any()
        elif action.kind == "topology":
            sub, vec = vectors[action.name]
            expected = np.zeros(space.dim_topo, dtype=int)
            expected[_sub_slice(space, sub)] = vec
            assert np.array_equal(act.set_bus, expected), action.name
            assert not act.line_set_status.any()
        else:
            line = int(action.name.split("-")[1])
            expected = np.zeros(space.n_line, dtype=int)
            expected[line] = -1 if action.kind == "line_off" else 1
            assert np.array_equal(act.line_set_status, expected), action.name
            assert not act.set_bus.any()


def test_set_bus_dict_and_substation_vectors_are_inverse(env14):
    layout = GridLayout.of(env14)
    for sub in range(layout.n_sub):
        vec = [1 + (i % 2) for i in range(layout.sub_sizes[sub])]
        d = set_bus_dict(layout, sub, vec)
        assert substation_vectors(layout, d["set_bus"]) == {sub: vec}
    with pytest.raises(ValueError, match="substation 1 has 6 elements"):
        set_bus_dict(layout, 1, [1, 2])


def test_storage_elements_round_trip_on_a_grid_with_storage():
    env = make_env("l2rpn_wcci_2022_dev")
    try:
        space = env.action_space
        layout = GridLayout.of(env)
        subs = sorted(set(layout.to_subid["storages_id"]))
        assert subs
        for sub in subs:
            vectors = unitary_topologies(layout.sub_sizes[sub], layout.line_positions(sub))
            for k in (0, len(vectors) - 1):
                action = topology_action(layout, sub, k, vectors[k].tolist())
                assert "storages_id" in action.grid2op["set_bus"]
                act = space(json.loads(json.dumps(action.grid2op)))
                assert np.array_equal(act.set_bus[_sub_slice(space, sub)], vectors[k])
    finally:
        env.close()


def test_touched(env14, catalogue14):
    by_name = {a.name: a for a in catalogue14}
    assert by_name["donothing"].touched() == ((), ())
    assert by_name["sub-5-3"].touched(env14) == ((5,), ())
    assert by_name["line-7-off"].touched() == ((), (7,))
    assert by_name["line-7-on"].touched() == ((), (7,))
    with pytest.raises(ValueError, match="grid layout"):
        by_name["sub-5-3"].touched()


def test_catalogue_action_json_round_trip_and_shape_checks():
    action = CatalogueAction(
        name="line-2-off", kind="line_off", grid2op={"set_line_status": [[2, -1]]}
    )
    assert CatalogueAction.from_json(json.loads(json.dumps(action.to_json()))) == action
    assert hash(action) == hash(CatalogueAction.from_json(action.to_json()))
    with pytest.raises(ValueError, match="kind"):
        CatalogueAction(name="x", kind="teleport", grid2op={})
    for bad, message in [
        ([], "expected an object"),
        ({"name": "a", "kind": "donothing"}, "missing 'grid2op'"),
        ({"name": "", "kind": "donothing", "grid2op": {}}, "non-empty string"),
        ({"name": "a", "kind": "donothing", "grid2op": []}, "must be an object"),
    ]:
        with pytest.raises(ValueError, match=message):
            CatalogueAction.from_json(bad)


# -- sampling --------------------------------------------------------------------------------------


def test_sampling_is_deterministic_keeps_donothing_and_catalogue_order(catalogue14):
    a = sample_actions(catalogue14, 20, seed=7)
    b = sample_actions(catalogue14, 20, seed=7)
    c = sample_actions(catalogue14, 20, seed=8)
    assert a == b
    assert a != c
    assert len(a) == len(c) == 20
    assert a[0].name == "donothing"
    position = {x.name: i for i, x in enumerate(catalogue14)}
    assert [position[x.name] for x in a] == sorted(position[x.name] for x in a)
    assert len({x.name for x in a}) == 20


def test_sampling_edges(catalogue14):
    assert sample_actions(catalogue14, 1, seed=0) == [catalogue14[0]]
    assert sample_actions(catalogue14, len(catalogue14) + 50, seed=0) == catalogue14
    assert sample_actions(catalogue14, len(catalogue14), seed=3) == catalogue14
    with pytest.raises(InvalidOption, match="at least 1"):
        sample_actions(catalogue14, 0, seed=0)
    with pytest.raises(InvalidOption, match="seed"):
        sample_actions(catalogue14, 3, seed=-1)
    no_donothing = catalogue14[1:]
    assert len(sample_actions(no_donothing, 5, seed=0)) == 5


# -- files -----------------------------------------------------------------------------------------


def _save(path: Path, actions, env, **kw) -> Path:
    return save_catalogue(path, actions, env_name=CASE14, grid=env, **kw)


def test_save_load_round_trip_is_byte_identical(tmp_path, env14, catalogue14):
    first = _save(tmp_path / "a.json", catalogue14, env14, extra={"kind": "all", "seed": 0})
    loaded = load_catalogue(first, env14)
    assert loaded == catalogue14
    second = _save(tmp_path / "b.json", loaded, env14, extra={"seed": 0, "kind": "all"})
    assert first.read_bytes() == second.read_bytes()
    data = json.loads(first.read_text())
    assert data["format"] == FORMAT
    assert data["env"] == CASE14
    assert data["grid"]["n_sub"] == 14 and data["grid"]["n_line"] == 20
    assert data["grid"]["sub_sizes"] == [int(x) for x in env14.action_space.sub_info]
    assert [a["name"] for a in data["actions"]] == [a.name for a in catalogue14]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_save_refuses_duplicate_names(env14, catalogue14):
    with pytest.raises(ValueError, match="donothing"):
        dumps_catalogue([catalogue14[0], catalogue14[0]], env_name=CASE14, grid=env14)


def test_substations_id_form_is_read_into_the_per_element_form(tmp_path, env14, catalogue14):
    path = _save(tmp_path / "a.json", catalogue14[:3], env14)
    data = json.loads(path.read_text())
    data["actions"][2]["grid2op"] = {"set_bus": {"substations_id": [[0, [1, 2, 1]]]}}
    path.write_text(json.dumps(data))
    loaded = load_catalogue(path, env14)
    assert loaded[2].grid2op == catalogue14[2].grid2op
    assert loaded[2].grid2op == {
        "set_bus": {"generators_id": [[5, 1]], "lines_or_id": [[0, 1], [1, 2]]}
    }


def _mutations():
    """(id, change to the parsed file, words the message must contain)."""

    def entry(i, **kw):
        def change(d):
            d["actions"][i].update(kw)

        return change

    def g2op(i, value):
        return entry(i, grid2op=value)

    return [
        ("top-list", lambda d: d.clear() or d.update({"x": []}), "not an action catalogue"),
        ("format", lambda d: d.update(format="other/2"), "unsupported format"),
        ("no-grid", lambda d: d.pop("grid"), "no 'grid'"),
        ("grid-n-sub", lambda d: d["grid"].update(n_sub=15), "another grid"),
        ("grid-n-line-str", lambda d: d["grid"].update(n_line="20"), "grid.n_line"),
        ("sub-sizes", lambda d: d["grid"]["sub_sizes"].__setitem__(3, 9), "substation 3"),
        ("layout", lambda d: d["grid"].update(layout="0" * 16), "element layout"),
        ("actions-not-list", lambda d: d.update(actions={}), "'actions' must be a list"),
        ("actions-empty", lambda d: d.update(actions=[]), "'actions' is empty"),
        ("entry-not-object", lambda d: d["actions"].__setitem__(1, 3), "action #1"),
        ("no-kind", lambda d: d["actions"][1].pop("kind"), "missing 'kind'"),
        ("bad-kind", entry(1, kind="teleport"), "kind must be one of"),
        ("bad-name", entry(1, name=""), "name must be a non-empty string"),
        ("duplicate", entry(2, name="sub-0-0"), "duplicate action name 'sub-0-0'"),
        ("donothing-not-empty", g2op(0, {"set_line_status": [[1, -1]]}), "empty grid2op"),
        ("topo-extra-key", g2op(1, {"set_bus": {}, "redispatch": []}), "one key, 'set_bus'"),
        ("topo-unknown-key", g2op(1, {"set_bus": {"buses": []}}), "unknown set_bus key"),
        (
            "sub-out-of-range",
            g2op(1, {"set_bus": {"substations_id": [[14, [1, 1, 2]]]}}),
            "substation 14 out of range",
        ),
        (
            "vector-length",
            g2op(1, {"set_bus": {"substations_id": [[1, [1, 1, 2]]]}}),
            "substation 1 has 6 elements, its bus vector has 3",
        ),
        ("bus-3", g2op(1, {"set_bus": {"substations_id": [[0, [1, 3, 2]]]}}), "bus 3"),
        (  # issue 12, item 8: the name says substation 0, the dict sets an element elsewhere
            "element-not-at-named-sub",
            g2op(1, {"set_bus": {"lines_or_id": [[15, 2]]}}),
            "origin of line 15 is at substation",
        ),
        ("bus-0", g2op(1, {"set_bus": {"loads_id": [[0, 0]]}}), "bus 0"),
        ("bus-float", g2op(1, {"set_bus": {"loads_id": [[0, 1.0]]}}), "integer pairs"),
        (
            "load-out-of-range",
            g2op(1, {"set_bus": {"loads_id": [[11, 1]]}}),
            "load 11 out of range",
        ),
        (
            "element-twice",
            g2op(1, {"set_bus": {"loads_id": [[0, 1], [0, 2]]}}),
            "load 0 is set twice",
        ),
        ("line-out-of-range", g2op(-2, {"set_line_status": [[20, -1]]}), "line 20 out of range"),
        ("line-off-status", g2op(-2, {"set_line_status": [[3, 1]]}), "sets line status -1"),
        ("line-bool", g2op(-1, {"set_line_status": [[True, 1]]}), "integer pairs"),
        ("line-key", g2op(-1, {"change_line_status": [3]}), "one key, 'set_line_status'"),
    ]


@pytest.mark.parametrize(
    ("change", "words"), [m[1:] for m in _mutations()], ids=[m[0] for m in _mutations()]
)
def test_malformed_file_is_one_line_naming_the_file(tmp_path, env14, catalogue14, change, words):
    subset = [*catalogue14[:3], catalogue14[-4], catalogue14[-1]]  # donothing, sub-0-*, lines
    path = _save(tmp_path / "bad.json", subset, env14)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ActionFileError) as err:
        load_catalogue(path, env14)
    message = str(err.value)
    assert str(path) in message
    assert words in message
    assert "\n" not in message


def test_missing_unreadable_and_non_json_files(tmp_path, env14):
    with pytest.raises(ActionFileError, match=r"nope\.json: no such file"):
        load_catalogue(tmp_path / "nope.json", env14)
    with pytest.raises(ActionFileError, match="is a folder"):
        load_catalogue(tmp_path, env14)
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "format": "gridoracle-actions/1",\n  oops\n}\n')
    with pytest.raises(ActionFileError) as err:
        load_catalogue(bad, env14)
    assert str(bad) in str(err.value) and "line 3, column 3" in str(err.value)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ActionFileError, match="UTF-8"):
        load_catalogue(binary, env14)


def test_grid2op_refusal_is_reported_with_the_action_name(
    tmp_path, env14, catalogue14, monkeypatch
):
    path = _save(tmp_path / "a.json", catalogue14[:3], env14)

    space_cls = type(env14.action_space)
    original = space_cls.__call__

    def refusing(self, d=None, *args, **kwargs):
        """Refuse sub-0-1, as grid2op refuses an action it finds ambiguous."""
        if d == catalogue14[2].grid2op:
            raise RuntimeError("Grid2OpException AmbiguousAction\n  nope")
        return original(self, d, *args, **kwargs)

    monkeypatch.setattr(space_cls, "__call__", refusing)
    with pytest.raises(ActionFileError) as err:
        load_catalogue(path, env14)
    assert "grid2op refuses action 'sub-0-1'" in str(err.value)
    assert "\n" not in str(err.value)


def test_catalogue_of_another_grid_is_refused(tmp_path, env14, env36):
    foreign = sample_actions(enumerate_actions(env36, "all"), 30, seed=0)
    path = save_catalogue(
        tmp_path / "neurips.json", foreign, env_name="l2rpn_neurips_2020_track1", grid=env36
    )
    with pytest.raises(ActionFileError) as err:
        load_catalogue(path, env14)
    message = str(err.value)
    assert str(path) in message and "written for another grid" in message
    assert "l2rpn_neurips_2020_track1 has 36 substations" in message
    assert "l2rpn_case14_sandbox has 14 substations" in message


def test_env_display_name(env14):
    assert env14.env_name != CASE14  # grid2op appends the backend's class name
    assert env_display_name(env14) == CASE14


# -- writing safely --------------------------------------------------------------------------------


def test_output_checks(tmp_path):
    assert check_output_file(tmp_path / "a.json") == tmp_path / "a.json"
    with pytest.raises(OutputError, match="does not exist"):
        check_output_file(tmp_path / "missing" / "a.json")
    with pytest.raises(OutputError, match="is a folder"):
        check_output_file(tmp_path)
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        check_output_file(afile / "a.json")


def test_read_only_folder_is_refused(tmp_path, env14, catalogue14, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    if os.geteuid() == 0:  # root may write anyway: the code asks os.access, so answer as for a user
        real_access = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode, **kw: Path(p) != folder and real_access(p, mode, **kw)
        )
    try:
        with pytest.raises(OutputError, match="not writable"):
            _save(folder / "a.json", catalogue14, env14)
    finally:
        folder.chmod(0o700)


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, env14, catalogue14, monkeypatch):
    path = tmp_path / "a.json"
    path.write_text("old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(catalogue_mod.os, "replace", broken_replace)
    with pytest.raises(OutputError, match="No space left on device"):
        _save(path, catalogue14, env14)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


# -- resolve_actions -------------------------------------------------------------------------------


def test_resolve_actions(tmp_path, env14, catalogue14):
    sampled = resolve_actions(env14, n_actions=12, actions_file=None, seed=1)
    assert len(sampled) == 12 and sampled[0].name == "donothing"
    assert {a.kind for a in sampled[1:]} == {"topology"}
    assert sampled == resolve_actions(env14, n_actions=12, actions_file=None, seed=1)
    lines = resolve_actions(env14, n_actions=1000, actions_file=None, seed=1, kind="line")
    assert len(lines) == 41
    path = _save(tmp_path / "a.json", sampled, env14)
    assert resolve_actions(env14, n_actions=None, actions_file=path, seed=99) == sampled
    with pytest.raises(InvalidOption, match="n_actions must be at least 1") as info:
        resolve_actions(env14, n_actions=0, actions_file=None, seed=0)
    assert info.value.param == "n_actions"  # the CLI names it --actions
    with pytest.raises(InvalidOption, match="exactly one"):
        resolve_actions(env14, n_actions=5, actions_file=path, seed=0)
    with pytest.raises(InvalidOption, match="exactly one"):
        resolve_actions(env14, n_actions=None, actions_file=None, seed=0)
    with pytest.raises(ActionFileError, match="no such file"):
        resolve_actions(env14, n_actions=None, actions_file=tmp_path / "x.json", seed=0)


def test_folder_without_write_permission_is_refused(tmp_path, monkeypatch):
    # the real case (a read-only folder) is above, for non-root users; here os.access says no
    monkeypatch.setattr(catalogue_mod.os, "access", lambda path, mode: False)
    with pytest.raises(OutputError, match="is not writable"):
        check_output_file(tmp_path / "a.json")


def test_a_grid_mismatch_names_the_environment_once(tmp_path, env14, catalogue14):
    # issue 12, item 12: "l2rpn_case14_sandbox has 36 substations; l2rpn_case14_sandbox has 14"
    path = _save(tmp_path / "other.json", catalogue14[:3], env14)
    data = json.loads(path.read_text())
    data["grid"]["n_sub"] = 36
    path.write_text(json.dumps(data))
    with pytest.raises(ActionFileError) as err:
        load_catalogue(path, env14)
    message = str(err.value).replace(str(path), "")
    assert (
        message.count(CASE14) == 1 and "36 substations" in message and "14 substations" in message
    )
