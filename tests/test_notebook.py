"""notebooks/tour.ipynb executes from top to bottom (nbclient) on a small generated dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "tour.ipynb"


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
