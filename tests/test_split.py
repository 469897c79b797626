"""Split by chronic (library and ``gridoracle split``) on small synthetic datasets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridoracle.cli import main
from gridoracle.dataset import Dataset, DatasetStore, load, split
from gridoracle.dataset.split import format_chronics, parse_chronic_list, split_summary
from gridoracle.dataset.store import states_relpath, targets_relpath, write_chunk_file
from gridoracle.errors import DatasetError, GridOracleError, InvalidOption

ACTIONS = [
    {"name": "donothing-0", "kind": "donothing", "grid2op": {}},
    {"name": "line-0-1", "kind": "line", "grid2op": {"set_line_status": [[0, -1]]}},
]
FEATURES = ["load_p_0", "rho_0"]


def make_dataset(root: Path, chronics: list[int], steps: int = 4, *, targets=None) -> Path:
    """Write a finished synthetic dataset; ``targets(chronic, n)`` gives its max-rho columns."""
    config = {"chronics": chronics, "steps": steps}
    expected = [r for c in chronics for r in (states_relpath(c), targets_relpath(c, 0, 2))]
    store = DatasetStore.open(
        root,
        "synth",
        config,
        {"gridoracle": "test"},
        actions=ACTIONS,
        feature_columns=FEATURES,
        expected_chunks=expected,
    )
    for c in chronics:
        rng = np.random.default_rng(c)
        states = pd.DataFrame(
            {
                "load_p_0": rng.normal(size=steps),
                "rho_0": rng.uniform(size=steps).astype(np.float32),
                "chronic": np.full(steps, c, dtype=np.int32),
                "step": np.arange(steps, dtype=np.int32),
            }
        )
        if targets is None:
            y = {
                "donothing-0": rng.uniform(0.5, 1.5, steps),
                "line-0-1": rng.uniform(0.5, 1.5, steps),
            }
        else:
            y = targets(c, steps)
        tdf = pd.DataFrame(
            {
                **y,
                **{
                    f"status::{k}": np.where(np.isnan(v), 1, 0).astype(np.int8)
                    for k, v in y.items()
                },
            }
        )
        for rel, df in ((states_relpath(c), states), (targets_relpath(c, 0, 2), tdf)):
            store.register_chunk(rel, write_chunk_file(store.path / rel, df))
    store.finalize({"rows": steps * len(chronics)})
    return store.path


@pytest.fixture(scope="module")
def eight(tmp_path_factory) -> Dataset:
    root = tmp_path_factory.mktemp("eight")
    return load(make_dataset(root, list(range(8)), steps=3))


def chronic_set(ds: Dataset) -> set[int]:
    return set(ds.meta["chronic"].tolist())


# --- library ------------------------------------------------------------------------------------


def test_split_is_disjoint_and_covers_everything(eight):
    train, test = split(eight, by="chronic", test_fraction=0.25, seed=0)
    assert len(train) > 0 and len(test) > 0
    assert chronic_set(train).isdisjoint(chronic_set(test))
    assert chronic_set(train) | chronic_set(test) == set(range(8))
    assert len(train) + len(test) == len(eight)
    assert len(test.chronics) == 2  # 0.25 of 8 chronics
    # rows keep their original order and stay aligned across X, Y, status, meta
    for part in (train, test):
        assert part.meta["chronic"].is_monotonic_increasing
        merged = eight.meta.reset_index().merge(part.meta.reset_index(), on=["chronic", "step"])
        pos = merged["index_x"].to_numpy()
        np.testing.assert_array_equal(part.Y.to_numpy(), eight.Y.to_numpy()[pos])
        np.testing.assert_array_equal(part.X.to_numpy(), eight.X.to_numpy()[pos])


def test_split_is_deterministic_and_seed_matters(eight):
    a_train, a_test = split(eight, seed=3)
    b_train, b_test = split(eight, seed=3)
    assert a_test.chronics == b_test.chronics
    pd.testing.assert_frame_equal(a_train.Y, b_train.Y)
    drawn = {tuple(split(eight, seed=s)[1].chronics) for s in range(10)}
    assert len(drawn) > 1


def test_method_equals_function(eight):
    f_train, f_test = split(eight, test_fraction=0.5, seed=1)
    m_train, m_test = eight.split(by="chronic", test_fraction=0.5, seed=1)
    assert f_test.chronics == m_test.chronics and f_train.chronics == m_train.chronics
    assert len(f_test.chronics) == 4


@pytest.mark.parametrize(("fraction", "n_test"), [(0.01, 1), (0.3, 2), (0.5, 4), (0.99, 7)])
def test_test_fraction_rounds_and_keeps_both_sides(eight, fraction, n_test):
    train, test = split(eight, test_fraction=fraction, seed=0)
    assert len(test.chronics) == n_test and len(train.chronics) == 8 - n_test


def test_explicit_test_chronics(eight):
    train, test = split(eight, test_chronics=[5, 2, 2])
    assert test.chronics == [2, 5]
    assert train.chronics == [0, 1, 3, 4, 6, 7]
    assert len(test) == 6


@pytest.mark.parametrize(
    ("chosen", "match"),
    [
        ([9], r"\[9\] not in dataset"),
        ([], "empty"),
        (list(range(8)), "at least one"),
        (["x"], "integers"),
    ],
)
def test_bad_test_chronics(eight, chosen, match):
    with pytest.raises(InvalidOption, match=match):
        split(eight, test_chronics=chosen)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5, float("nan")])
def test_bad_test_fraction(eight, fraction):
    with pytest.raises(InvalidOption, match="test fraction"):
        split(eight, test_fraction=fraction)


def test_bad_seed_and_by(eight):
    with pytest.raises(InvalidOption, match="seed"):
        split(eight, seed=-1)
    with pytest.raises(InvalidOption, match=r"allowed values.*chronic"):
        split(eight, by="row")


def test_one_chronic_cannot_be_split(tmp_path):
    ds = load(make_dataset(tmp_path, [4]))
    with pytest.raises(GridOracleError, match="at least 2"):
        split(ds)
    with pytest.raises(DatasetError):
        split(ds, test_chronics=[4])


def test_split_summary_counts(tmp_path):
    def targets(c, n):
        y = np.full(n, 0.5)
        y[0] = 1.2 if c == 0 else np.nan
        return {"donothing-0": y, "line-0-1": np.full(n, 1.01 if c == 1 else 0.9)}

    ds = load(make_dataset(tmp_path, [0, 1], steps=4, targets=targets))
    train, test = split(ds, test_chronics=[1])
    rec_train, rec_test = split_summary(train, test)
    assert rec_train == {
        "set": "train",
        "chronics": [0],
        "rows": 4,
        "targets": 8,
        "above_1": 1,
        "share_above_1": 1 / 8,
    }
    assert rec_test["targets"] == 7  # one NaN (diverged) target left out
    assert rec_test["above_1"] == 4 and rec_test["share_above_1"] == pytest.approx(4 / 7)


def test_parse_and_format_chronics():
    assert parse_chronic_list("2,3") == [2, 3]
    assert parse_chronic_list(" 3, 0-2 ,3") == [0, 1, 2, 3]
    for bad in ["", "a", "1,-2", "3-1", "1.5", ","]:
        with pytest.raises(InvalidOption, match="test_chronics") as info:
            parse_chronic_list(bad)
        assert info.value.param == "test_chronics"  # the CLI names it --test-chronics
    assert format_chronics([7, 0, 1, 2, 5, 8]) == "0-2, 5, 7-8"
    assert format_chronics([]) == ""


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_split_prints_table(tmp_path, capsys):
    path = make_dataset(tmp_path, [0, 1, 2, 3], steps=5)
    main(["split", "--data", str(path), "--test-chronics", "1,3"])
    out = capsys.readouterr().out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 2}
    assert "0, 2" in lines["train"] and "10" in lines["train"]
    assert "1, 3" in lines["test"] and "10" in lines["test"]
    assert "%" in lines["train"]


def test_cli_split_with_fraction_and_root_folder(tmp_path, capsys):
    make_dataset(tmp_path, [0, 1, 2, 3], steps=2)
    main(["split", "--data", str(tmp_path), "--test-fraction", "0.5", "--seed", "4"])
    out = capsys.readouterr().out
    assert "seed 4" in out and "train" in out and "test" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--data", "{missing}"], "does not exist"),
        (["--data", "{root}", "--test-chronics", "7"], "not in dataset"),
        (["--data", "{root}", "--test-chronics", "x"], "--test-chronics"),
        (["--data", "{root}", "--test-fraction", "1.5"], "test fraction"),
    ],
)
def test_cli_split_user_errors_exit_2(tmp_path, capsys, args, needle):
    make_dataset(tmp_path / "d", [0, 1])
    argv = [a.format(missing=tmp_path / "nope", root=tmp_path / "d") for a in args]
    with pytest.raises(SystemExit) as exc:
        main(["split", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and err.startswith("error:")
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_cli_split_bad_path_in_a_real_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "gridoracle.cli", "split", "--data", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "does not exist" in proc.stderr


# --- split by time ------------------------------------------------------------------------------


def test_split_by_time_keeps_a_gap_before_the_end_of_every_chronic(tmp_path):
    ds = load(make_dataset(tmp_path, [0, 3], steps=40))
    train, test = split(ds, by="time", test_fraction=0.25, gap=5)
    for c in (0, 3):
        test_steps = sorted(test.meta.loc[test.meta["chronic"] == c, "step"])
        train_steps = sorted(train.meta.loc[train.meta["chronic"] == c, "step"])
        assert test_steps == list(range(30, 40))  # round(0.25 * 40) = 10 last states
        assert train_steps == list(range(0, 25))  # steps 25..29 left out (gap 5)
    assert len(train) + len(test) == len(ds) - 2 * 5
    # the recorded first test steps give the same rows back
    from gridoracle.dataset.split import time_split_masks, time_split_rows

    first = time_split_rows(ds, 0.25, 5)
    assert first == {0: 30, 3: 30}
    is_test, is_train = time_split_masks(ds, {str(k): v for k, v in first.items()}, 5)
    assert is_test.sum() == len(test) and is_train.sum() == len(train)
    # one chronic is enough, and the method is the function
    one = load(make_dataset(tmp_path / "one", [7], steps=40))
    a, b = one.split(by="time", test_fraction=0.5, gap=0)
    assert len(a) == 20 and len(b) == 20 and set(a.meta["step"]) == set(range(20))


def test_split_by_time_errors(tmp_path):
    ds = load(make_dataset(tmp_path, [0], steps=10))
    with pytest.raises(DatasetError, match="chronic 0 has 10 states, too few"):
        split(ds, by="time", test_fraction=0.25, gap=12)
    with pytest.raises(InvalidOption, match="gap -1"):
        split(ds, by="time", gap=-1)
    with pytest.raises(InvalidOption, match=r"test fraction 1\.5"):
        split(ds, by="time", test_fraction=1.5, gap=0)
    with pytest.raises(InvalidOption, match="split by time tests on the end"):
        split(ds, by="time", test_chronics=[0], gap=0)


def test_cli_split_by_time(tmp_path, capsys):
    folder = make_dataset(tmp_path, [0], steps=40)
    main(["split", "--data", str(folder), "--split-by", "time", "--gap", "5"])
    out = capsys.readouterr().out
    assert "split by time" in out and "gap 5 steps" in out
    assert " 25 " in out and " 10 " in out  # train and test rows


def test_cli_gap_default_is_the_library_default():
    from gridoracle.cli import options
    from gridoracle.dataset.split import DEFAULT_GAP

    assert options.DEFAULT_GAP == DEFAULT_GAP
