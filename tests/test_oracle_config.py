"""The Oracle's settings: Oracle4Grid's config.ini as is, TOML, overrides, bad values."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from gridoracle.errors import InvalidOption
from gridoracle.oracle.config import (
    OracleConfig,
    read_config,
    read_config_ini,
    read_config_toml,
)

ROOT = Path(__file__).resolve().parent.parent
O4G = Path(__file__).resolve().parent / "data" / "oracle4grid"


def _ini(tmp_path: Path, body: str, name: str = "config.ini") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def test_oracle4grids_config_ini_gives_its_values() -> None:
    """Its config.ini gives Oracle4Grid's values, shortest included (issue 12 item 7)."""
    config, warnings = read_config_ini(O4G / "config_ressources.ini")
    assert warnings == []
    assert config == dataclasses.replace(OracleConfig(), best_path_type="shortest")
    assert config.to_dict() == {
        "max_depth": 1,
        "max_iter": 400,
        "nb_process": 1,
        "best_path_type": "shortest",
        "n_best_topos": 2,
        "reward_significant_digit": None,
        "replay_reward_rel_tolerance": 1e-7,
        "output_path": None,
        "combine": "exact",
        "no_opponent": False,
    }
    # a key without a value: not set, and Oracle4Grid then truncates to 5 decimals
    assert config.significant_digit == 5


def test_without_a_config_the_best_path_is_the_longest(tmp_path: Path) -> None:
    """Issue 12 item 7: without --config (or one that does not set it) the best path maximises
    the reward; the other defaults are Oracle4Grid's."""
    config, warnings = read_config(None)
    assert warnings == [] and config == OracleConfig()
    assert config.best_path_type == "longest"
    assert (config.max_depth, config.max_iter, config.n_best_topos) == (1, 400, 2)
    partial = _ini(tmp_path, "[DEFAULT]\nmax_depth = 2\n")
    assert read_config_ini(partial)[0].best_path_type == "longest"


def test_oracle4grid_test_config() -> None:
    config, _ = read_config_ini(O4G / "config_test_resourses.ini")
    assert (config.max_depth, config.max_iter, config.nb_process) == (3, 6, 4)
    assert config.best_path_type == "shortest" and config.n_best_topos == 2


def test_examples_ini_and_toml_agree() -> None:
    ini, w1 = read_config(ROOT / "examples" / "config.ini")
    toml, w2 = read_config(ROOT / "examples" / "config.toml")
    assert w1 == w2 == []
    assert ini == toml
    assert (ini.max_depth, ini.max_iter, ini.best_path_type) == (3, 6, "longest")


@pytest.mark.parametrize(
    "config",
    [
        OracleConfig(),
        OracleConfig(
            max_depth=3,
            max_iter=8064,
            nb_process=4,
            best_path_type="longest",
            n_best_topos=0,
            reward_significant_digit=2,
            replay_reward_rel_tolerance=1e-3,
            output_path="out dir/with spaces",
        ),
    ],
)
def test_round_trips(config: OracleConfig, tmp_path: Path) -> None:
    ini = _ini(tmp_path, config.to_ini())
    toml = _ini(tmp_path, config.to_toml(), "config.toml")
    assert read_config_ini(ini) == (config, [])
    assert read_config_toml(toml) == (config, [])
    assert read_config(toml) == (config, [])


def test_ini_syntax_oracle4grid_accepts(tmp_path: Path) -> None:
    path = _ini(
        tmp_path,
        "# comment\n[DEFAULT]\nMAX_DEPTH = 2  # inline comment\nmax_iter: 12\n"
        "best_path_type = Longest\nreward_significant_digit = 3\noutput_path = a%b\n",
    )
    config, warnings = read_config_ini(path)
    assert warnings == []
    assert (config.max_depth, config.max_iter, config.best_path_type) == (2, 12, "longest")
    assert config.significant_digit == 3 and config.output_path == "a%b"


def test_unknown_keys_and_sections_are_warnings(tmp_path: Path) -> None:
    path = _ini(tmp_path, "[DEFAULT]\nmax_depth = 2\ndebug = 1\n[oracle]\nmax_iter = 5\n")
    config, warnings = read_config_ini(path)
    assert config.max_depth == 2 and config.max_iter == 400  # [oracle] is not read
    assert len(warnings) == 2
    assert any("section [oracle] is ignored" in w for w in warnings)
    assert any("unknown setting 'debug'" in w for w in warnings)
    assert all("config.ini" in w and "\n" not in w for w in warnings)


def test_toml_oracle_table(tmp_path: Path) -> None:
    path = _ini(
        tmp_path, 'other = 1\n[oracle]\nmax_depth = 2\nbest_path_type = "longest"\n', "c.toml"
    )
    config, warnings = read_config_toml(path)
    assert (config.max_depth, config.best_path_type) == (2, "longest")
    assert warnings == []
    top, top_warnings = read_config_toml(_ini(tmp_path, "max_depth = 2\nfoo = 3\n", "d.toml"))
    assert top.max_depth == 2
    assert any("unknown setting 'foo'" in w for w in top_warnings)


BAD_VALUES = [
    ("max_depth", "0"),
    ("max_depth", "-1"),
    ("max_depth", "3.0"),
    ("max_depth", "three"),
    ("max_depth", ""),
    ("max_iter", "0"),
    ("max_iter", "1e3"),
    ("nb_process", "0"),
    ("n_best_topos", "-1"),
    ("best_path_type", "longer"),
    ("best_path_type", "1"),
    ("reward_significant_digit", "-1"),
    ("reward_significant_digit", "16"),
    ("reward_significant_digit", "two"),
    ("replay_reward_rel_tolerance", "-1e-7"),
    ("replay_reward_rel_tolerance", "nan"),
    ("replay_reward_rel_tolerance", "inf"),
    ("replay_reward_rel_tolerance", "small"),
]


@pytest.mark.parametrize(("key", "value"), BAD_VALUES)
def test_bad_ini_values(key: str, value: str, tmp_path: Path) -> None:
    path = _ini(tmp_path, f"[DEFAULT]\n{key} = {value}\n")
    with pytest.raises(InvalidOption) as info:
        read_config_ini(path)
    message = str(info.value)
    assert "\n" not in message
    assert "config.ini" in message and key in message and repr(value) in message


TOML_BAD = [
    ("max_depth", "0"),
    ("max_depth", "true"),
    ("max_depth", "2.5"),
    ("max_iter", '"many"'),
    ("best_path_type", "1"),
    ("replay_reward_rel_tolerance", "-0.5"),
    ("replay_reward_rel_tolerance", "[1]"),
    ("output_path", "3"),
    ("output_path", '""'),
]


@pytest.mark.parametrize(("key", "value"), TOML_BAD)
def test_bad_toml_values(key: str, value: str, tmp_path: Path) -> None:
    path = _ini(tmp_path, f"{key} = {value}\n", "config.toml")
    with pytest.raises(InvalidOption) as info:
        read_config_toml(path)
    message = str(info.value)
    assert "\n" not in message and "config.toml" in message and key in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("max_depth = 2\n", "before any section header"),
        ("[DEFAULT]\nmax_depth = 2\nmax_depth = 3\n", "set twice"),
        ("[DEFAULT]\nmax_depth\n", "has no value"),
        ("[DEFAULT]\nmax_depth = 2\n= 3\n", "line 3"),
        ("[a]\nx = 1\n[a]\ny = 2\n", "appears twice"),
    ],
)
def test_ini_syntax_errors(body: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidOption, match=expected) as info:
        read_config_ini(_ini(tmp_path, body))
    assert "\n" not in str(info.value) and "config.ini" in str(info.value)


def test_toml_syntax_error_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidOption, match=r"not valid TOML .*line 1"):
        read_config_toml(_ini(tmp_path, "max_depth = = 2\n", "x.toml"))
    with pytest.raises(InvalidOption, match="no such file"):
        read_config(tmp_path / "missing.ini")
    with pytest.raises(InvalidOption, match="no such file"):
        read_config(tmp_path / "missing.toml")
    with pytest.raises(InvalidOption, match="is a folder"):
        read_config_ini(tmp_path)
    assert read_config(None) == (OracleConfig(), [])


def test_merge_command_line_overrides() -> None:
    base = OracleConfig(max_depth=3, reward_significant_digit=2)
    merged = base.merge(
        {"max_depth": None, "max_iter": "12", "best_path_type": "longest", "nb_process": 2}
    )
    assert merged == OracleConfig(
        max_depth=3, max_iter=12, best_path_type="longest", nb_process=2, reward_significant_digit=2
    )
    assert base.max_iter == 400  # unchanged
    # None is "option not given": it does not unset an optional setting
    assert base.merge({"reward_significant_digit": None}).reward_significant_digit == 2
    with pytest.raises(InvalidOption, match=r"^command line: max_depth = 0 is not valid"):
        base.merge({"max_depth": 0})
    with pytest.raises(InvalidOption, match=r"^--max-iter: max_iter"):
        base.merge({"max_iter": -5}, source="--max-iter")
    with pytest.raises(InvalidOption, match="unknown setting 'depth'"):
        base.merge({"depth": 2})


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_depth", 0), ("best_path_type", "best"), ("replay_reward_rel_tolerance", -1.0)],
)
def test_direct_construction_is_checked(field: str, value: Any) -> None:
    with pytest.raises(InvalidOption, match=field):
        OracleConfig(**{field: value})


def test_direct_construction_normalises_text() -> None:
    config = OracleConfig(max_depth="2", best_path_type=" LONGEST ")  # type: ignore[arg-type]
    assert config.max_depth == 2 and config.best_path_type == "longest"
