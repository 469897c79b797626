"""--data on a root of several datasets: --horizon and --config-hash pick one (issue 12 item 5)."""

from __future__ import annotations

import pytest

from gridoracle.cli import main


def _run(args, capsys):
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    base = ["generate", "--env", "l2rpn_case14_sandbox", "--chronics", "0,1", "--max-steps", "3"]
    base += ["--actions", "3", "--workers", "1", "--out", str(root), "--quiet"]
    for horizon in ("0", "1"):
        try:
            main([*base, "--horizon", horizon])
        except SystemExit as exc:
            assert exc.code in (0, None)
    return root


def test_a_root_of_two_datasets_is_one_line_listing_them(two_datasets, capsys):
    code, _, err = _run(["split", "--data", str(two_datasets), "--test-chronics", "1"], capsys)
    assert code == 2 and err.startswith("error:") and err.strip().count("\n") == 0
    assert "-h0-" in err and "-h1-" in err


def test_horizon_and_config_hash_pick_one(two_datasets, capsys):
    code, out, _ = _run(
        ["split", "--data", str(two_datasets), "--horizon", "1", "--test-chronics", "1"], capsys
    )
    assert code == 0 and "-h1-" in out
    folder = next(p for p in two_datasets.iterdir() if "-h0-" in p.name)
    prefix = folder.name.rsplit("-", 1)[1][:6]
    code, out, _ = _run(
        ["split", "--data", str(two_datasets), "--config-hash", prefix, "--test-chronics", "1"],
        capsys,
    )
    assert code == 0 and folder.name in out


def test_evaluate_records_in_the_model_only_when_asked(two_datasets, tmp_path, capsys):
    # issue 12, item 1: `evaluate --out` rewrote the model's metadata.json
    data = ["--data", str(two_datasets), "--horizon", "0"]
    model = tmp_path / "ridge"
    train = ["train", *data, "--model", "ridge", "--test-chronics", "1"]
    code, _, err = _run([*train, "--out", str(model), "--quiet"], capsys)
    assert code == 0, err
    metadata = model / "metadata.json"
    before = metadata.read_bytes()
    evaluate = ["evaluate", "--model", str(model), *data, "--quiet"]
    code, _, err = _run([*evaluate, "--out", str(tmp_path / "m.json")], capsys)
    assert code == 0, err
    assert metadata.read_bytes() == before and (tmp_path / "m.json").is_file()
    code, _, err = _run([*evaluate, "--out", str(tmp_path / "m2.json"), "--record"], capsys)
    assert code == 0, err
    assert metadata.read_bytes() != before


def test_plot_keeps_the_training_chronics_out_on_another_dataset_of_the_environment(
    two_datasets, tmp_path, capsys
):
    # as evaluate does (issue 12, item 1): plot drew a model on its training chronics when they
    # came from another dataset of the same environment (fewer steps: another config hash)
    model = tmp_path / "ridge"
    train = ["train", "--data", str(two_datasets), "--horizon", "0", "--model", "ridge"]
    code, _, err = _run([*train, "--test-chronics", "1", "--out", str(model), "--quiet"], capsys)
    assert code == 0, err
    other = tmp_path / "other"
    generate = ["generate", "--env", "l2rpn_case14_sandbox", "--chronics", "0,1", "--max-steps"]
    generate += ["2", "--actions", "3", "--workers", "1", "--out", str(other), "--quiet"]
    code, _, err = _run(generate, capsys)
    assert code == 0, err
    plot = ["plot", "--data", str(other), "--model", str(model), "--quiet"]
    code, _, err = _run([*plot, "--test-chronics", "0", "--out", str(tmp_path / "p0")], capsys)
    assert code == 2 and "trained on chronic(s) 0" in err
    code, _out, err = _run([*plot, "--out", str(tmp_path / "p1")], capsys)
    assert code == 0, err  # by default: the chronic it did not see
