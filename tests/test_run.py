"""`gridoracle run` and `gridoracle plot` (gridoracle.pipelines) end to end.

The fast tests run the whole pipeline once on a tiny case14 dataset (2 chronics x 12 steps x 6
actions, two cheap models, the Oracle on 5 steps) and share it; the slow one runs the real demo.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from gridoracle.cli import main

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_ACTIONS = ROOT / "examples" / "actions" / "l2rpn_case14_sandbox" / "reference.json"
CONFIG_INI = ROOT / "examples" / "config.ini"


def tiny_args(tmp: Path, *extra: str, out: Path | None = None) -> list[str]:
    return [
        "run",
        "--chronics",
        "0,1",
        "--max-steps",
        "12",
        "--actions",
        "6",
        "--models",
        "mean,ridge",
        "--out",
        str(out if out is not None else tmp / "results"),
        "--data-out",
        str(tmp / "data"),
        "--workers",
        "1",
        "--quiet",
        *extra,
    ]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    main(argv)
    captured = capsys.readouterr()
    return captured.out, captured.err


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The first (uncached) run, with the Oracle on 5 steps; shared by the tests of this module.

    Module-scoped, so capsys is not available: stdout (where Rich prints) is redirected.
    """
    import contextlib
    import io

    tmp = tmp_path_factory.mktemp("run")
    buffer = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(buffer):
        main(
            tiny_args(
                tmp,
                "--oracle-actions",
                str(REFERENCE_ACTIONS),
                "--oracle-config",
                str(CONFIG_INI),
                "--oracle-max-iter",
                "5",
            )
        )
    record = json.loads((tmp / "results" / "run.json").read_text())
    return {
        "tmp": tmp,
        "out": buffer.getvalue(),
        "seconds": time.perf_counter() - start,
        "dataset": record["dataset"],
    }


def test_run_writes_leaderboard_report_and_record(first_run: dict[str, Any]) -> None:
    tmp, out = first_run["tmp"], first_run["out"]
    results = tmp / "results"
    assert "Leaderboard: test chronic(s) 1" in out
    for name in ("mean", "ridge", "donothing"):
        assert re.search(rf"^\s+{name}\s", out, re.M), name
    assert "models trained in this run" in out
    assert "oracle (chronic 0)" in out
    assert out.rstrip().splitlines()[-1] == f"report: {results / 'report.html'}"

    record = json.loads((results / "run.json").read_text())
    assert record["key"]["models"] == ["mean", "ridge"]
    assert record["key"]["test_chronics"] == [1]
    assert record["best_model"] == "ridge"  # the best that is not the mean baseline
    for name in ("mean", "ridge"):
        assert (results / "models" / name / "metrics.json").is_file()
    figures = sorted(Path(p).name for p in record["figures"])
    assert figures == [
        "data_heatmap_chronic_1.png",
        "data_max_rho_distribution.png",
        "regret_cdf.png",
        "ridge_error_boxplot.png",
        "ridge_feature_importance.png",
        "ridge_pred_vs_true.png",
    ]
    assert (
        results / "oracle" / "l2rpn_case14_sandbox" / "scenario_0" / "reference" / "kpis.csv"
    ).is_file()

    html = (results / "report.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == len(figures)
    assert "<script" not in html and "http://" not in html and "https://" not in html
    for section in ("dataset", "leaderboard", "metrics", "models", "oracle"):
        assert f'<section id="{section}">' in html
    assert "Do Nothing in ref topo" in html  # the Oracle's KPIs
    assert "l2rpn_case14_sandbox" in html


def test_second_run_reuses_models(
    first_run: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp = first_run["tmp"]
    results = tmp / "results"
    metadata = results / "models" / "ridge" / "metadata.json"
    before = metadata.read_bytes()
    out, _ = run_cli(tiny_args(tmp), capsys)
    assert "models reused (cached)" in out
    assert metadata.read_bytes() == before  # not retrained
    html = (results / "report.html").read_text(encoding="utf-8")
    # issue 12 item 4: no Oracle in this run, so no Oracle section (the earlier one's outputs
    # are still on disk, not presented as this run's)
    assert '<section id="oracle">' not in html and "Do Nothing in ref topo" not in html
    assert "No Oracle in this run" in html
    assert (
        results / "oracle" / "l2rpn_case14_sandbox" / "scenario_0" / "reference" / "kpis.csv"
    ).is_file()
    # other models are another cache key: trained again (same data and seed: same model)
    out, _ = run_cli(tiny_args(tmp, "--models", "ridge"), capsys)
    assert "models trained in this run" in out


def test_models_changed_under_the_run_are_verified_not_presented_as_cached(
    first_run: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12 item 4: a compare into the run's models folder between two runs."""
    from gridoracle.pipelines.models import CompareRequest, compare

    results = tmp_path / "results"
    argv = tiny_args(first_run["tmp"], out=results)  # the shared dataset, another output folder
    run_cli(argv, capsys)
    models = results / "models"
    # the same split and seed: ridge is trained again to the same model, extra_trees is added
    compare(
        CompareRequest(first_run["dataset"], "ridge,extra_trees", out=models, test_chronics=[1])
    )
    assert "extra_trees" in (models / "leaderboard.csv").read_text()
    out, _ = run_cli(argv, capsys)
    assert "models reused (cached)" in out
    assert "extra_trees" not in out  # the leaderboard is this run's: mean, ridge and do nothing
    assert "extra_trees" not in (results / "report.html").read_text(encoding="utf-8")
    board = (models / "leaderboard.csv").read_text()
    assert "extra_trees" not in board and "mean" in board and "ridge" in board
    # another split: ridge is no longer the model this run needs, so it is trained again
    compare(CompareRequest(first_run["dataset"], "ridge", out=models, test_chronics=[0]))
    out, _ = run_cli(argv, capsys)
    assert "models trained in this run" in out
    ridge = json.loads((models / "ridge" / "metadata.json").read_text())
    assert ridge["training"]["test_chronics"] == [1]


def test_plot_command_on_run_outputs(
    first_run: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp = first_run["tmp"]
    models = tmp / "results" / "models"
    plots_dir = tmp / "plots"
    out, _ = run_cli(
        [
            "plot",
            "--data",
            first_run["dataset"],
            "--model",
            str(models / "ridge"),
            "--model",
            str(models / "mean"),
            "--out",
            str(plots_dir),
            "--worst",
            "3",
            "--quiet",
        ],
        capsys,
    )
    names = sorted(p.name for p in plots_dir.glob("*.png"))
    assert names == [
        "data_heatmap_chronic_1.png",
        "data_max_rho_distribution.png",
        "mean_error_boxplot.png",
        "mean_pred_vs_true.png",
        "regret_cdf.png",
        "ridge_error_boxplot.png",
        "ridge_feature_importance.png",
        "ridge_pred_vs_true.png",
    ]
    assert "ridge_feature_importance.png" in out
    # permutation importances are cached next to their figure, keyed by the model file
    cache = plots_dir / "ridge_feature_importance.json"
    saved = json.loads(cache.read_text())
    assert saved["key"]["rows"] == 200 and "shuffled" in saved["method"]
    saved["importances"] = {k: (5.0 if k == "rho_0" else 0.0) for k in saved["importances"]}
    cache.write_text(json.dumps(saved))
    again = ["plot", "--data", first_run["dataset"], "--model", str(models / "ridge")]
    run_cli([*again, "--out", str(plots_dir), "--quiet"], capsys)
    assert json.loads(cache.read_text())["importances"]["rho_0"] == 5.0  # reused, not recomputed


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--models", "ridge,nope"], "unknown model(s) nope"),
        (["--actions", "1"], "--actions 1"),
        (["--oracle-actions", "/no/such/actions.json"], "--oracle-actions"),
        (["--test-chronics", "x"], "--test-chronics"),
    ],
)
def test_run_user_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(tiny_args(tmp_path, *argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "data").exists()  # refused before any work


def test_plot_user_errors_exit_2(
    first_run: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp = first_run["tmp"]
    ridge = tmp / "results" / "models" / "ridge"
    data = first_run["dataset"]
    cases = [
        (["--data", str(tmp_path / "none")], "does not exist"),
        (["--data", data, "--model", str(tmp_path / "nomodel")], "nomodel"),
        (  # chronic 0 is a training chronic of this model
            ["--data", data, "--model", str(ridge), "--test-chronics", "0"],
            "was trained on chronic(s) 0",
        ),
        (["--data", data, "--chronic", "9"], "chronic 9"),
    ]
    for argv, needle in cases:
        with pytest.raises(SystemExit) as exc:
            main(["plot", *argv, "--out", str(tmp_path / "p"), "--quiet"])
        assert exc.value.code == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and needle in err, (argv, err)
    # issue 12 item 12: every input is checked before anything is drawn
    assert not list((tmp_path / "p").glob("*.png"))


@pytest.mark.slow
def test_demo_run_first_and_cached(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real demo: case14, every chronic, 575 steps, 100 actions, the whole zoo, the Oracle."""
    argv = [
        "run",
        "--out",
        str(tmp_path / "results"),
        "--data-out",
        str(tmp_path / "data"),
        "--oracle-actions",
        str(REFERENCE_ACTIONS),
        "--oracle-config",
        str(CONFIG_INI),
        "--quiet",
    ]
    start = time.perf_counter()
    out, _ = run_cli(argv, capsys)
    first = time.perf_counter() - start
    start = time.perf_counter()
    again, _ = run_cli(argv, capsys)
    cached = time.perf_counter() - start
    print(f"gridoracle run: first {first:.1f} s, cached {cached:.1f} s")
    assert "models trained in this run" in out and "models reused (cached)" in again
    for name in ("mean", "ridge", "random_forest", "extra_trees", "hist_gradient_boosting", "mlp"):
        assert re.search(rf"^\s+{name}\s", again, re.M), name
    assert first < 300 and cached < 60  # 5 min / 30 s targets, with slack for a loaded machine
