"""Environment access (gridoracle.grid): names, make_env, chronic selection, facts."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from grid2op.Environment import Environment
from grid2op.Parameters import Parameters
from lightsim2grid import LightSimBackend

from gridoracle.errors import EnvironmentNotFound, GridOracleError, InvalidOption
from gridoracle.grid import (
    EnvFacts,
    chronic_ids,
    chronic_names,
    env_facts,
    env_label,
    make_env,
    offline_env_names,
    resolve_chronics,
)

CASE14 = "l2rpn_case14_sandbox"


def grid2op_data(name: str) -> Path:
    """Folder of one of grid2op's shipped test environments, found independently of gridoracle."""
    return Path(str(importlib.resources.files("grid2op") / "data" / name))


def fake_env(names: list[str], order: list[int] | None = None) -> Any:
    """The part of an environment that chronic selection reads: folder names and their order."""
    real_data = SimpleNamespace(
        subpaths=[f"/somewhere/chronics/{name}" for name in names],
        _order=np.arange(len(names)) if order is None else np.array(order),
    )
    return SimpleNamespace(chronics_handler=SimpleNamespace(real_data=real_data))


# --- offline_env_names ---------------------------------------------------------------------------


def test_offline_names_include_the_shipped_environments() -> None:
    names = offline_env_names()
    expected = {CASE14, "rte_case14_realistic", "l2rpn_neurips_2020_track1", "l2rpn_wcci_2022_dev"}
    assert expected <= set(names)
    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_offline_names_leave_out_what_does_not_make_a_single_env() -> None:
    names = set(offline_env_names())
    assert "blank" not in names  # no chronics, no real grid: grid2op.make fails on it
    assert "l2rpn_neurips_2020_track2" not in names  # a multi-mix, not one environment
    assert "case14_realistic" not in names  # grid2op alias of rte_case14_realistic
    assert not any(name.startswith(("_", ".")) for name in names)
    for name in names:
        assert (grid2op_data(name) / "config.py").is_file(), name


# --- make_env ------------------------------------------------------------------------------------


def test_make_env_by_name(env_case14: Environment) -> None:
    assert isinstance(env_case14, Environment)
    assert isinstance(env_case14.backend, LightSimBackend)
    assert env_case14.n_sub == 14
    assert Path(env_case14.get_path_env()).resolve() == grid2op_data(CASE14).resolve()


def test_make_env_by_path_equals_by_name_with_param_and_seed() -> None:
    param = Parameters()
    param.MAX_SUB_CHANGED = 2
    by_name = make_env(CASE14, param=param, seed=7)
    by_path = make_env(grid2op_data(CASE14), param=param, seed=7)
    by_str_path = make_env(str(grid2op_data(CASE14)))
    try:
        for env in (by_name, by_path):
            assert env.parameters.MAX_SUB_CHANGED == 2
        assert by_str_path.parameters.MAX_SUB_CHANGED == 1  # grid2op's default
        # same seed, same random stream
        assert by_name.space_prng.randint(10**9) == by_path.space_prng.randint(10**9)
        obs = []
        for env in (by_name, by_path, by_str_path):
            env.set_id(1)
            obs.append(env.reset())
        np.testing.assert_array_equal(obs[0].rho, obs[1].rho)
        np.testing.assert_array_equal(obs[0].load_p, obs[2].load_p)
    finally:
        for env in (by_name, by_path, by_str_path):
            env.close()


def test_make_env_name_is_not_shadowed_by_a_folder_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recwarn: pytest.WarningsRecorder
) -> None:
    (tmp_path / CASE14).mkdir()
    monkeypatch.chdir(tmp_path)
    env = make_env(CASE14)
    try:
        assert env.n_sub == 14
    finally:
        env.close()
    # and grid2op's "you are using a development environment" warning is silenced
    messages = [str(w.message) for w in recwarn if issubclass(w.category, UserWarning)]
    assert not any("development environment" in m for m in messages), messages
    # a path-like object is always a path: this one is an empty folder
    with pytest.raises(EnvironmentNotFound, match="not a grid2op environment"):
        make_env(Path(CASE14))


def test_unknown_name_lists_the_available_names() -> None:
    with pytest.raises(EnvironmentNotFound) as info:
        make_env("l2rpn_case14_sandbx")
    message = str(info.value)
    assert "'l2rpn_case14_sandbx'" in message
    assert CASE14 in message and "rte_case14_realistic" in message
    assert "\n" not in message
    assert isinstance(info.value, GridOracleError)


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "env"
    with pytest.raises(EnvironmentNotFound, match="nowhere"):
        make_env(missing)


def test_folder_that_is_not_an_environment(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentNotFound) as info:
        make_env(str(tmp_path))
    assert str(tmp_path) in str(info.value)
    assert "config.py" in str(info.value)


def test_file_is_not_an_environment(tmp_path: Path) -> None:
    file = tmp_path / "grid.json"
    file.write_text("{}")
    with pytest.raises(EnvironmentNotFound, match="is a file"):
        make_env(file)


@pytest.mark.filterwarnings("ignore:.*layout:UserWarning")
def test_broken_environment_folder(tmp_path: Path) -> None:
    (tmp_path / "config.py").write_text("config = {}\n")  # no grid, no chronics
    with pytest.raises(EnvironmentNotFound) as info:
        make_env(tmp_path)
    assert "could not be loaded" in str(info.value)
    assert str(tmp_path) in str(info.value)
    assert "\n" not in str(info.value)


def test_multimix_folder_points_to_its_mixes() -> None:
    folder = grid2op_data("l2rpn_neurips_2020_track2")
    with pytest.raises(EnvironmentNotFound, match="multi-mix") as info:
        make_env(folder)
    assert "x1" in str(info.value)


# --- chronics ------------------------------------------------------------------------------------


def test_chronic_names_follow_set_id(env_case14: Environment) -> None:
    names = chronic_names(env_case14)
    on_disk = sorted(p.name for p in (grid2op_data(CASE14) / "chronics").iterdir() if p.is_dir())
    assert sorted(names) == on_disk
    assert chronic_ids(env_case14) == list(range(len(on_disk)))
    for index, name in enumerate(names):
        env_case14.set_id(index)
        env_case14.reset()
        assert os.path.basename(env_case14.chronics_handler.get_id()) == name


def test_chronic_names_follow_a_filtered_order() -> None:
    env = fake_env(["a", "b", "c", "d"], order=[3, 1])
    assert chronic_names(env) == ["d", "b"]
    assert chronic_ids(env) == [0, 1]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, [0, 1, 2]),
        ("all", [0, 1, 2]),
        (" ALL ", [0, 1, 2]),
        ("1", [1]),
        ("0,2", [0, 2]),
        (" 2 , 0 ", [2, 0]),
        ("0-2", [0, 1, 2]),
        ("1-1", [1]),
        ("2,0-1,1", [2, 0, 1]),
        ("0002", [2]),
        ([2, 0, 2], [2, 0]),
        ([np.int64(1), "0"], [1, 0]),
        (["0-1", 2], [0, 1, 2]),
    ],
)
def test_resolve_chronics(env_case14: Environment, spec: Any, expected: list[int]) -> None:
    assert resolve_chronics(env_case14, spec) == expected


@pytest.mark.parametrize(
    ("spec", "in_message"),
    [
        ("3", "out of range"),
        ([3], "out of range"),
        ("0-3", "'0-3'"),
        ("2-1", "'2-1'"),
        ("-1", "'-1'"),
        ("zero", "'zero'"),
        ("", "empty"),
        ("0,,1", "empty"),
        ([], "selects no chronic"),
        ([True], "True"),
        ([1.0], "1.0"),
    ],
)
def test_resolve_chronics_errors(env_case14: Environment, spec: Any, in_message: str) -> None:
    with pytest.raises(InvalidOption) as info:
        resolve_chronics(env_case14, spec)
    message = str(info.value)
    assert in_message in message
    if "out of range" in message or "not an index" in message:
        assert "0-2" in message  # the valid range is named


def test_resolve_chronics_by_name() -> None:
    env = fake_env(["2019-01-12", "2019-01-13", "Scenario_august", "10", "2"])
    assert resolve_chronics(env, "Scenario_august,2019-01-12") == [2, 0]
    assert resolve_chronics(env, ["2019-01-13", 4]) == [1, 4]
    assert resolve_chronics(env, "1-3") == [1, 2, 3]
    # tokens made of digits are indices, even when a chronic has that name
    assert resolve_chronics(env, "2") == [2]
    with pytest.raises(InvalidOption) as info:
        resolve_chronics(env, "Scenario_july")
    assert "'Scenario_july'" in str(info.value)
    assert "Scenario_august" in str(info.value)  # the names are listed


# --- facts ---------------------------------------------------------------------------------------


def test_env_facts_case14_agrees_with_grid2op(env_case14: Environment) -> None:
    facts = env_facts(env_case14, CASE14)
    assert facts.name == CASE14
    assert (facts.n_sub, facts.n_line, facts.n_gen, facts.n_load) == (
        env_case14.n_sub,
        env_case14.n_line,
        env_case14.n_gen,
        env_case14.n_load,
    )
    assert facts.n_busbar_per_sub == env_case14.n_busbar_per_sub
    assert facts.n_chronics == len(chronic_names(env_case14))
    assert len(facts.steps_per_chronic) == facts.n_chronics
    for index, steps in enumerate(facts.steps_per_chronic):
        env_case14.set_id(index)
        assert env_case14.reset().max_step == steps
    # and the last chronic, played to its end with do-nothing, lasts exactly that many steps
    last = facts.n_chronics - 1
    env_case14.set_id(last)
    env_case14.reset()
    played, done, info = 0, False, {}
    while not done:
        _, _, done, info = env_case14.step(env_case14.action_space())
        played += 1
    assert not info["exception"], info["exception"]
    assert played == facts.steps_per_chronic[last]


def test_env_facts_leaves_the_env_alone(env_case14: Environment) -> None:
    env_case14.set_id(1)
    env_case14.reset()
    before = (env_case14.chronics_handler.get_id(), env_case14.nb_time_step)
    prng_before = env_case14.space_prng.get_state()[1].copy()
    env_facts(env_case14, CASE14)
    assert (env_case14.chronics_handler.get_id(), env_case14.nb_time_step) == before
    np.testing.assert_array_equal(env_case14.space_prng.get_state()[1], prng_before)


def test_env_facts_follows_max_iter(env_rte14: Environment) -> None:
    env_rte14.set_max_iter(100)
    try:
        facts = env_facts(env_rte14, "rte_case14_realistic")
    finally:
        env_rte14.set_max_iter(-1)
    assert facts.steps_per_chronic == [100] * facts.n_chronics


def test_steps_summary() -> None:
    def facts(steps: list[int]) -> EnvFacts:
        return EnvFacts("x", 1, 1, 1, 1, len(steps), steps, 2)

    assert facts([575, 575, 575]).steps_summary() == "575"
    assert facts([288, 575]).steps_summary() == "288–575"
    assert facts([]).steps_summary() == "-"


@pytest.mark.parametrize(
    ("arg", "label"),
    [
        (CASE14, CASE14),
        ("/data/envs/my_grid", "my_grid"),
        ("/data/envs/my grid/", "my_grid"),
        ("relative/case 14 (v2)", "case_14__v2_"),
        (Path("/x/y/env.v1"), "env.v1"),
        ("", "env"),
        ("/", "env"),
    ],
)
def test_env_label(arg: str | Path, label: str) -> None:
    assert env_label(arg) == label
