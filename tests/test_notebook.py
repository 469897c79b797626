"""The notebooks execute from top to bottom (nbclient).

- notebooks/tour.ipynb on a small generated dataset;
- notebooks/actions.ipynb (unitary actions built by hand) writes its reference-format file into a
  folder of the test, which gridoracle's parser and the Oracle's command line read back.
"""

from __future__ import annotations

import ast
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from grid2op.Environment import Environment

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK = NOTEBOOKS / "tour.ipynb"
ACTIONS_NOTEBOOK = NOTEBOOKS / "actions.ipynb"


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gridoracle.pipelines.generate import GenerateRequest, generate

    out = tmp_path_factory.mktemp("tour-data")
    report = generate(
        GenerateRequest("l2rpn_case14_sandbox", chronics="0,1", max_steps=20, n_actions=8, out=out)
    )
    return report.path


def test_tour_notebook_executes(
    small_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    # committed without outputs: the file stays small and diffs stay readable
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    # the kernel inherits the environment: it uses this dataset instead of building its own
    monkeypatch.setenv("GRIDORACLE_TOUR_DATA", str(small_dataset))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "Dataset(40 rows" in text and "chronics [0, 1]" in text  # the dataset given
    assert "test chronics [1]" in text
    assert "mean_regret" in text and "donothing" in text  # evaluation beside the baselines
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # rho over time, regret CDF
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written where it runs


def _execute(path: Path, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[Any]]:
    """Execute a committed notebook (checked to have no outputs) in ``cwd``; (notebook, outputs)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    return nb, outputs


def _assigned(nb: Any, name: str) -> Any:
    """The literal value a code cell of ``nb`` assigns to ``name`` (``NAME = <literal>``)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
                name
            ]:
                return ast.literal_eval(node.value)
    raise AssertionError(f"no cell assigns {name}")


def test_actions_notebook_writes_a_file_the_oracle_reads(
    env_case14: Environment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import numpy as np

    from gridoracle.actions.parse import detect_format, load_unitary_actions
    from gridoracle.cli import main
    from gridoracle.files import parse_user_json

    out, cwd = tmp_path / "out", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("GRIDORACLE_ACTIONS_OUT", str(out))
    nb, outputs = _execute(ACTIONS_NOTEBOOK, cwd, monkeypatch)
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the substation on the grid, the grid after the action
    assert [o.text for o in outputs if o.get("name") == "stderr"] == []  # no noise
    assert list(cwd.iterdir()) == []  # nothing written where it runs
    assert sorted(p.name for p in out.iterdir()) == ["unitary_actions.json"]

    # the file: the reference format, read back by gridoracle's parser without a warning
    path = out / "unitary_actions.json"
    assert detect_format(parse_user_json(path.read_text(), "file", ValueError)) == "reference"
    actions, warnings = load_unitary_actions(path, env_case14)
    assert warnings == []
    sub, line, n_candidates = (_assigned(nb, k) for k in ("SUBSTATION", "LINE", "N_CANDIDATES"))
    assert [a.name for a in actions] == [
        *(f"sub-{sub}-{k}" for k in range(1 + n_candidates)),
        f"line-{line}-{1 + n_candidates}",
    ]
    # the action by hand is the one grid2op builds from the notebook's bus vector
    buses = _assigned(nb, "NEW_BUSES")
    by_hand = env_case14.action_space(actions[0].grid2op_dict())
    assert by_hand == env_case14.action_space(
        {"set_bus": {"substations_id": [(sub, np.array(buses))]}}
    )
    assert actions[-1].content == {"set_line": -1}
    # the candidates are other topologies, each lowering max rho at the chronic's first step
    # (grid2op's obs.simulate, independently of the notebook's screen)
    contents = [str(a.content) for a in actions[:-1]]
    assert len(set(contents)) == len(contents)
    obs = env_case14.reset(seed=0, options={"time serie id": 0})
    for action in actions[1:-1]:
        sim, _, done, info = obs.simulate(env_case14.action_space(action.grid2op_dict()), 0)
        assert not done and not info["exception"]
        assert sim.rho.max() < obs.rho.max()
    assert f"read back: {len(actions)} actions, 0 warnings, the same as chosen: True" in text

    # the command line printed runs the Oracle on that file
    (command,) = [ln for ln in text.splitlines() if ln.startswith("gridoracle oracle ")]
    argv = shlex.split(command)[1:]
    assert argv[argv.index("--actions") + 1] == str(path)
    try:
        main([*argv, "--quiet"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    _, err = capsys.readouterr()
    assert code == 0, err
    result = out / "oracle" / "l2rpn_case14_sandbox" / "scenario_0" / "unitary_actions"
    summary = parse_user_json((result / "summary.json").read_text(), "summary", ValueError)
    assert summary["actions_format"] == "reference"
    assert summary["n_unitary"] == len(actions) and summary["warnings"] == []
    assert summary["filtered"] == []  # judged ok in the notebook, kept by the Oracle's filter
    assert (result / "kpis.csv").is_file()
