"""Effects of actions on the reference topology: no-ops and identical effects (issue 12 item 13).

The structural notion (gridoracle.actions.effects) is cross-checked by grid2op's own power flows:
every group of actions it merges gives the same rho vector with ``obs.simulate(a, time_step=0)``
on the reference state (within 1e-6), or a game over for all of them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gridoracle.actions import enumerate_actions
from gridoracle.actions.effects import (
    ReferenceTopology,
    distinct_actions,
    effect_of,
    group_by_effect,
    is_no_op,
)
from gridoracle.actions.model import Action, GridLayout, set_bus_dict
from gridoracle.cli import main

RHO_TOL = 1e-6


@pytest.fixture(scope="module")
def case14(env_case14):
    """(environment, first observation of chronic 0, its reference topology)."""
    obs = env_case14.reset(seed=0, options={"time serie id": 0})
    return env_case14, obs, ReferenceTopology.from_observation(obs, env_case14)


def _simulate(env, obs, action: Action):
    """rho after the action on ``obs`` (injections of t0), or None on a game over."""
    sim, _, done, info = obs.simulate(env.action_space(action.grid2op_dict()), time_step=0)
    if done or info.get("exception"):
        return None
    return sim.rho.astype(float)


def _sub(env, sub: int, buses) -> Action:
    return Action(f"sub-{sub}", set_bus_dict(GridLayout.of(env), sub, buses))


def test_positions_follow_grid2op(case14):
    env, _, ref = case14
    cls = type(env)
    a = ref._arrays
    for key, attr in (
        ("lines_or_id", "line_or_pos_topo_vect"),
        ("lines_ex_id", "line_ex_pos_topo_vect"),
        ("loads_id", "load_pos_topo_vect"),
        ("generators_id", "gen_pos_topo_vect"),
    ):
        assert np.array_equal(a[key], getattr(cls, attr)), key


def test_no_ops_by_hand(case14):
    env, obs, ref = case14
    size = GridLayout.of(env).sub_sizes
    assert ref.shunt_subs == (8,)  # case14's one shunt, on bus 1 of substation 8
    assert is_no_op(Action("donothing", {}), ref)
    assert is_no_op(_sub(env, 1, [1] * size[1]), ref)  # the reference buses
    assert is_no_op(_sub(env, 1, [2] * size[1]), ref)  # every element on bus 2: the same
    assert is_no_op({"set_line_status": [[3, 1]]}, ref)  # a line in service, reconnected
    assert not is_no_op({"set_line_status": [[3, -1]]}, ref)
    split = _sub(env, 1, [1, 2, 1, 2, 1, 2][: size[1]])
    assert not is_no_op(split, ref)
    assert not is_no_op({"redispatch": [[0, 1.0]]}, ref)  # not read: unknown, never a no-op
    assert effect_of({"redispatch": [[0, 1.0]]}, ref) is None
    # grid2op agrees: the same rho as do nothing, and a split that is not
    nothing = _simulate(env, obs, Action("donothing", {}))
    assert np.abs(_simulate(env, obs, _sub(env, 1, [2] * size[1])) - nothing).max() < RHO_TOL
    assert np.abs(_simulate(env, obs, split) - nothing).max() > 1e-3


def test_a_shunt_anchors_its_bus(case14):
    # everything but the shunt on bus 2 at substation 8 leaves the shunt alone: not the reference
    # but a game over (lightsim2grid: "non connected grid"), and said so
    env, obs, ref = case14
    all_on_2 = _sub(env, 8, [2] * GridLayout.of(env).sub_sizes[8])
    assert not is_no_op(all_on_2, ref)
    effect = effect_of(all_on_2, ref)
    assert effect is not None and effect.alone_injections == (ref.n_topo,)  # shunt 0
    assert _simulate(env, obs, all_on_2) is None


def test_every_merged_group_has_the_same_flows(case14):
    # every unitary topology and line action of case14: the groups agree with grid2op
    env, obs, ref = case14
    actions = enumerate_actions(env, "all")
    groups = group_by_effect(actions, ref)
    merged = [g for g in groups if g.merged]
    assert len(merged) == 15  # the identity and 14 lines without charging
    worst = 0.0
    for group in merged:
        base = _simulate(env, obs, group.kept)
        for other in group.merged:
            rho = _simulate(env, obs, other)
            if base is None or rho is None:
                assert base is None and rho is None, (group.kept.name, other.name)
            else:
                worst = max(worst, float(np.abs(base - rho).max()))
    assert worst < RHO_TOL
    names = {g.kept.name: {a.name for a in g.merged} for g in merged}
    assert names["sub-3-1"] == {"sub-8-3", "line-16-off"}  # a transformer's either end alone
    assert names["donothing"] >= {"sub-0-0", "line-0-on"}


def test_a_line_with_charging_open_at_one_end_is_not_disconnected(case14):
    # line 4 has a shunt admittance: alone on bus 2 at its extremity (sub-4-7), it still draws
    # its charging current, so the flows are not those of line 4 disconnected
    env, obs, ref = case14
    assert not ref.shunt_free[4] and ref.shunt_free[16]
    actions = {a.name: a for a in enumerate_actions(env, "all")}
    open_end, off = actions["sub-4-7"], actions["line-4-off"]
    assert effect_of(open_end, ref) != effect_of(off, ref)
    diff = np.abs(_simulate(env, obs, open_end) - _simulate(env, obs, off)).max()
    assert diff > 1e-2


def test_merged_groups_on_another_grid(env_rte14):
    # rte_case14_realistic, substations 1, 3, 4, 8 and every line action
    obs = env_rte14.reset(seed=0, options={"time serie id": 0})
    ref = ReferenceTopology.from_observation(obs, env_rte14)
    layout = GridLayout.of(env_rte14)
    actions = [
        a
        for a in enumerate_actions(env_rte14, "all")
        if a.kind != "topology" or set(a.touched(layout)[0]) <= {1, 3, 4, 8}
    ]
    groups = [g for g in group_by_effect(actions, ref) if g.merged]
    assert len(groups) > 2
    for group in groups:
        base = _simulate(env_rte14, obs, group.kept)
        for other in group.merged:
            rho = _simulate(env_rte14, obs, other)
            if base is None or rho is None:
                assert base is None and rho is None, (group.kept.name, other.name)
            else:
                assert np.abs(base - rho).max() < RHO_TOL, (group.kept.name, other.name)


def test_distinct_keeps_do_nothing_and_the_first_of_each_group(case14):
    env, _, ref = case14
    actions = enumerate_actions(env, "all")
    kept = distinct_actions(actions, ref)
    names = [a.name for a in kept.actions]
    assert names[0] == "donothing" and "sub-0-0" not in names and "line-16-off" not in names
    assert "sub-3-1" in names and "sub-8-3" not in names
    assert len(names) == len(actions) - kept.dropped == 160
    assert kept.cut_off == ("sub-6-2",)  # line 18 off: its generator at substation 7 is cut off
    # batched and one by one agree; the order decides which is kept
    assert ref.effects(actions[:40]) == [ref.effect(a) for a in actions[:40]]
    backwards = distinct_actions(actions[::-1], ref)
    assert "donothing" in [a.name for a in backwards.actions]  # the baseline, even when last
    assert "line-16-off" in [a.name for a in backwards.actions]


def _run(args, capsys):
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_drops_and_lists_no_ops_unless_kept(tmp_path, capsys):
    base = ["generate", "--env", "l2rpn_case14_sandbox", "--chronics", "0", "--max-steps", "2"]
    base += ["--actions", "100", "--workers", "1", "--quiet"]
    code, out, err = _run([*base, "--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    assert "left out 11 action(s) that change nothing" in out and "sub-0-0" in out
    assert "sub-3-3 <- sub-6-3" in out
    (folder,) = (tmp_path / "a").iterdir()
    names = [a["name"] for a in json.loads((folder / "manifest.json").read_text())["actions"]]
    assert len(names) == 86 and names[0] == "donothing" and "sub-0-0" not in names
    log = json.loads((folder / "runs.jsonl").read_text().splitlines()[-1])
    assert log["actions_requested"] == 100 and log["actions"] == 86
    assert log["distinct_actions"]["no_op"][0] == "sub-0-0"
    assert {"kept": "sub-3-3", "same_effect": ["sub-6-3"]} in log["distinct_actions"]["merged"]

    code, out, err = _run([*base, "--keep-no-op", "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err
    assert "left out" not in out
    (folder,) = (tmp_path / "b").iterdir()
    names = [a["name"] for a in json.loads((folder / "manifest.json").read_text())["actions"]]
    assert len(names) == 100 and "sub-0-0" in names


def test_actions_distinct_reports_each_group(tmp_path, capsys):
    out_file = tmp_path / "all.json"
    args = ["actions", "--env", "l2rpn_case14_sandbox", "--kind", "all", "--out", str(out_file)]
    code, out, err = _run([*args, "--distinct"], capsys)
    assert code == 0, err
    assert "wrote 160 of 219 actions" in out
    assert "left out 33 action(s) that change nothing" in out
    assert "sub-3-1 <- sub-8-3, line-16-off" in out
    data = json.loads(out_file.read_text())
    record = data["extra"]["distinct"]
    assert record["merged"][0] == {"kept": "sub-3-1", "same_effect": ["sub-8-3", "line-16-off"]}
    assert "line-0-on" in record["no_op"] and record["cut_off"] == ["sub-6-2"]
    assert len(data["actions"]) == 160
    code, out, err = _run(args, capsys)
    assert code == 0 and "distinct" not in json.loads(out_file.read_text())["extra"]
    assert "left out" not in out
