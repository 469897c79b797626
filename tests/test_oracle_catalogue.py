"""The Oracle on a ``gridoracle actions`` catalogue (issue 12 item 14).

A catalogue's ``sub-<s>-<k>`` and ``line-<l>-off`` actions are unitary actions with the same
grid2op dicts; its do nothing is dropped (the Oracle adds ``donothing-0``). A catalogue made from
Oracle4Grid's test actions gives the Oracle the same actions, names and outputs as that file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gridoracle.actions.oracle_input import load_oracle_actions
from gridoracle.actions.parse import load_unitary_actions
from gridoracle.cli import main
from gridoracle.errors import ActionFileError

ROOT = Path(__file__).resolve().parents[1]
ENV = "rte_case14_realistic"
REFERENCE = ROOT / "examples" / "actions" / ENV / "reference.json"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``gridoracle actions --from`` Oracle4Grid's test actions: a catalogue of 5 actions."""
    path = tmp_path_factory.mktemp("catalogue") / "catalogue.json"
    main(["actions", "--env", ENV, "--from", str(REFERENCE), "--out", str(path), "--quiet"])
    names = [a["name"] for a in json.loads(path.read_text())["actions"]]
    assert names == ["donothing", "sub-1-0", "sub-1-1", "sub-5-2", "line-4-off"]
    return path


def test_catalogue_actions_are_the_files_unitary_actions(catalogue: Path, env_rte14: Any) -> None:
    reference, _ = load_unitary_actions(REFERENCE, env_rte14)
    actions, warnings, fmt = load_oracle_actions(catalogue, env_rte14)
    assert fmt == "gridoracle-actions/1" and warnings == []
    assert [a.name for a in actions] == [a.name for a in reference]
    assert [a.name for a in actions] == ["sub-1-0", "sub-1-1", "sub-5-2", "line-4-3"]
    assert [a.grid2op for a in actions] == [a.grid2op for a in reference]
    assert [a.content for a in actions] == [a.content for a in reference]
    assert [(a.asset, a.k) for a in actions] == [(a.asset, a.k) for a in reference]
    # Oracle4Grid's files are read as before
    again, _, fmt = load_oracle_actions(REFERENCE, env_rte14)
    assert fmt == "reference" and again == reference


def test_the_oracle_on_a_catalogue_equals_the_oracle_on_its_file(
    catalogue: Path, tmp_path: Path, capsys: Any
) -> None:
    common = [*("oracle", "--env", ENV, "--chronic", "0", "--max-depth", "3", "--max-iter", "6")]
    for actions in (REFERENCE, catalogue):
        args = [*common, "--actions", str(actions), "--out", str(tmp_path), "--quiet"]
        main([*args, "--no-replay"])
    capsys.readouterr()
    ours = tmp_path / ENV / "scenario_0" / "catalogue"
    theirs = tmp_path / ENV / "scenario_0" / "reference"
    for name in ("reward_df.csv", "kpis.csv", "best_path.json", "best_path_no_overload.json"):
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name
    summary = json.loads((ours / "summary.json").read_text())
    assert summary["n_unitary"] == 4 and summary["n_combined"] == 12
    assert summary["actions_format"] == "gridoracle-actions/1"


def _edited(catalogue: Path, tmp_path: Path, action: dict[str, Any]) -> Path:
    data = json.loads(catalogue.read_text())
    data["actions"].append(action)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("action", "needle"),
    [
        (
            {
                "name": "two-subs",
                "kind": "topology",
                "grid2op": {"set_bus": {"loads_id": [[0, 2], [2, 2]]}},
            },
            "action 'two-subs' sets buses at substations 1 and 3",
        ),
        (
            {
                "name": "two-lines",
                "kind": "line_off",
                "grid2op": {"set_line_status": [[3, -1], [5, -1]]},
            },
            "action 'two-lines' sets the status of lines 3 and 5",
        ),
    ],
)
def test_a_catalogue_action_on_two_assets_is_refused(
    action: dict[str, Any], needle: str, catalogue: Path, tmp_path: Path, env_rte14: Any
) -> None:
    with pytest.raises(ActionFileError) as info:
        load_oracle_actions(_edited(catalogue, tmp_path, action), env_rte14)
    message = str(info.value)
    assert needle in message and "edited.json" in message and "\n" not in message, message


def test_other_names_are_named_as_the_oracle_names_them(
    catalogue: Path, tmp_path: Path, env_rte14: Any
) -> None:
    """A topology not named sub-<s>-<k> gets sub-<s>-<k>, k its position (do nothing left out)."""
    mine = {"name": "mine", "kind": "topology", "grid2op": {"set_bus": {"loads_id": [[2, 2]]}}}
    actions, _, _ = load_oracle_actions(_edited(catalogue, tmp_path, mine), env_rte14)
    assert actions[-1].name == "sub-3-4" and actions[-1].content == {"loads_id_bus": [[2, 2]]}
