"""`gridoracle actions show`: each unitary action judged and drawn (one PNG each, actions.csv)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from gridoracle.actions.parse import load_unitary_actions
from gridoracle.actions.show import (
    CSV_COLUMNS,
    VALIDITIES,
    ShownAction,
    default_out,
    judge_action,
    show_actions,
)
from gridoracle.cli import main
from gridoracle.errors import ActionFileError, InvalidOption, OutputError

if TYPE_CHECKING:
    from grid2op.Environment import Environment

RTE14 = "rte_case14_realistic"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# validity of each action of examples/actions/rte_case14_realistic/reference.json at chronic 0:
# sub-5-2 (lines 7 and 17 alone on bus 2 of substation 5) makes lightsim2grid's power flow fail
EXPECTED = {
    "sub-1-0": ("sub", 1, "ok"),
    "sub-1-1": ("sub", 1, "ok"),
    "sub-5-2": ("sub", 5, "diverges"),
    "line-4-3": ("line", 4, "ok"),
}


@pytest.fixture(scope="module")
def reference_file(repo_root: Path) -> Path:
    return repo_root / "examples" / "actions" / RTE14 / "reference.json"


@pytest.fixture(scope="module")
def shown(
    env_rte14: Environment, reference_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[ShownAction], Path]:
    out = tmp_path_factory.mktemp("show") / "drawings"  # not there yet: created
    return show_actions(env_rte14, reference_file, out=out, chronic=0), out


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_one_png_per_action_and_the_csv(shown: tuple[list[ShownAction], Path]) -> None:
    records, out = shown
    assert [r.name for r in records] == list(EXPECTED)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{name}.png" for name in EXPECTED] + ["actions.csv"]
    )  # no temporary file left behind
    for record in records:
        assert record.png == out / f"{record.name}.png"
        width, height = _png_size(record.png)
        assert width >= 800 and height >= 500  # a readable drawing, not a thumbnail
        assert record.png.stat().st_size > 20_000
    # every figure closed
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []
    # drawings of different actions differ (the grid after each action is drawn)
    assert len({r.png.read_bytes() for r in records}) == len(records)


def test_csv_rows(shown: tuple[list[ShownAction], Path], env_rte14: Environment) -> None:
    records, out = shown
    rows = _read_csv(out / "actions.csv")
    assert [(r["name"], r["kind"], int(r["asset"]), r["validity"]) for r in rows] == [
        (name, *rest) for name, rest in EXPECTED.items()
    ]
    obs = env_rte14.reset(seed=0, options={"time serie id": 0})
    for row, record in zip(rows, records, strict=True):
        assert record.validity in VALIDITIES
        assert float(row["max_rho_before"]) == pytest.approx(float(obs.rho.max()), abs=1e-6)
        assert row["warnings"] == ""
        if record.validity == "diverges":
            assert row["max_rho_after"] == "" and math.isnan(record.max_rho_after)
            assert "Divergence" in row["detail"]
        else:
            assert float(row["max_rho_after"]) == pytest.approx(record.max_rho_after, abs=1e-6)
            assert 0 < record.max_rho_after < 2 and row["detail"] == ""
    # the line disconnection is checked against grid2op itself
    line = next(r for r in records if r.name == "line-4-3")
    sim_obs, *_ = obs.simulate(env_rte14.action_space({"set_line_status": [[4, -1]]}), time_step=0)
    assert line.max_rho_after == pytest.approx(float(sim_obs.rho.max()), abs=1e-6)
    assert line.asset == "line 4" and records[0].asset == "substation 1"


def _all_on_bus_1(env: Environment, sub: int) -> dict[str, Any]:
    """A reference-format action setting every element of substation ``sub`` to bus 1."""
    objects = env.get_obj_connect_to(substation_id=sub)
    lines = sorted(int(i) for i in [*objects["lines_or_id"], *objects["lines_ex_id"]])
    action: dict[str, Any] = {"lines_id_bus": [[line, 1] for line in lines]}
    if len(objects["loads_id"]):
        action["loads_id_bus"] = [[int(i), 1] for i in objects["loads_id"]]
    if len(objects["generators_id"]):
        action["gens_id_bus"] = [[int(i), 1] for i in objects["generators_id"]]
    return action


def test_no_effect_actions_and_their_warnings(env_rte14: Environment, tmp_path: Path) -> None:
    file = tmp_path / "noop.json"
    data = {
        "sub": {"1": [_all_on_bus_1(env_rte14, 1)]},
        "line": {"4": [{"set_line": 1}]},  # reconnecting a connected line: a warning, no effect
    }
    file.write_text(json.dumps(data), encoding="utf-8")
    records = show_actions(env_rte14, file, out=tmp_path / "out")
    assert [(r.name, r.validity) for r in records] == [
        ("sub-1-0", "no effect"),
        ("line-4-1", "no effect"),
    ]
    for record in records:
        assert record.max_rho_after == pytest.approx(record.max_rho_before, abs=1e-6)
    _, warnings = load_unitary_actions(file, env_rte14)
    line_warnings = [w for w in warnings if "line-4-1" in w]
    assert line_warnings and records[1].warnings == tuple(line_warnings)
    assert records[0].warnings == ()
    rows = _read_csv(tmp_path / "out" / "actions.csv")
    assert [r["validity"] for r in rows] == ["no effect", "no effect"]
    assert rows[1]["warnings"] == " | ".join(line_warnings)
    assert (tmp_path / "out" / "sub-1-0.png").read_bytes()[:8] == PNG_SIGNATURE


class _FakeObs:
    """An observation whose simulate gives a fixed answer (the paths grid2op rarely takes)."""

    def __init__(self, info: dict[str, Any], done: bool = False, raises: bool = False) -> None:
        self.info, self.done, self.raises = info, done, raises
        self.topo_vect = np.ones(3, dtype=int)
        self.line_status = np.ones(2, dtype=bool)

    def simulate(self, action: Any, time_step: int = 1) -> tuple[Any, float, bool, dict]:
        assert time_step == 0
        if self.raises:
            raise RuntimeError("boom")
        sim = SimpleNamespace(
            rho=np.array([0.5, 0.7]),
            n_line=2,
            topo_vect=self.topo_vect,
            line_status=self.line_status,
        )
        return sim, 0.0, self.done, self.info


@pytest.mark.parametrize(
    ("obs", "validity", "detail"),
    [
        (_FakeObs({"is_illegal": True, "exception": []}), "illegal", "rules"),
        (_FakeObs({"is_ambiguous": True, "exception": ["bad"]}), "illegal", "ambiguous"),
        (_FakeObs({"exception": ["diverged"]}), "diverges", "diverged"),
        (_FakeObs({"exception": []}, done=True), "diverges", "ends the episode"),
        (_FakeObs({}, raises=True), "diverges", "RuntimeError: boom"),
        (_FakeObs({"exception": []}), "no effect", "neither"),
    ],
)
def test_judge_action_validities(
    env_rte14: Environment, reference_file: Path, obs: _FakeObs, validity: str, detail: str
) -> None:
    actions, _ = load_unitary_actions(reference_file, env_rte14)
    got, got_detail, after, sim_obs = judge_action(actions[0], env_rte14, obs)
    assert got == validity and detail in got_detail
    if validity in ("illegal", "diverges"):
        assert math.isnan(after) and sim_obs is None
    else:
        assert after == pytest.approx(0.7) and sim_obs is not None


def test_warnings_are_matched_by_whole_action_name() -> None:
    from gridoracle.actions.show import _naming

    warnings = ["f: action sub-1-10 (sub/1[10]) on substation 1: x", "f: sub-1-1 and line-4-3"]
    assert _naming(warnings, "sub-1-1") == [warnings[1]]
    assert _naming(warnings, "sub-1-10") == [warnings[0]]
    assert _naming(warnings, "line-4-3") == [warnings[1]]
    assert _naming(warnings, "line-4-30") == []


def test_bad_inputs_are_user_errors(
    env_rte14: Environment, reference_file: Path, tmp_path: Path
) -> None:
    with pytest.raises(ActionFileError, match="no such file"):
        show_actions(env_rte14, tmp_path / "missing.json", out=tmp_path / "o")
    with pytest.raises(InvalidOption, match="out of range"):
        show_actions(env_rte14, reference_file, out=tmp_path / "o", chronic=99)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        show_actions(env_rte14, reference_file, out=blocker)
    assert default_out(reference_file) == Path("results/actions_show/reference")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_draws_into_the_default_folder(
    reference_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(
        ["actions", "show", "--env", RTE14, "--actions", str(reference_file)], capsys
    )
    assert code == 0, err
    folder = Path("results") / "actions_show" / "reference"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{name}.png" for name in EXPECTED] + ["actions.csv"]
    )
    for name, (_, _, validity) in EXPECTED.items():
        assert any(name in line and validity in line for line in out.splitlines()), out
    assert f"outputs: {folder}" in out


def test_cli_bad_inputs_one_line_exit_2(
    reference_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.json"
    code, out, err = run(
        ["actions", "show", "--env", RTE14, "--actions", str(missing), "--out", str(tmp_path)],
        capsys,
    )
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and err.startswith("error:") and "no such file" in err
    code, _, err = run(
        ["actions", "show", "--env", "no_such_env", "--actions", str(reference_file)], capsys
    )
    assert code == 2 and err.strip().count("\n") == 0 and "no_such_env" in err


def test_cli_show_help_does_not_need_the_catalogue_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["actions", "show", "--help"], capsys)
    assert code == 0 and "--actions" in out and "--chronic" in out
    code, out, _ = run(["actions", "--help"], capsys)
    assert code == 0 and "show" in out
