"""Issue 12: generate keeps a dataset safe and says what it did.

A forced rebuild checks what can fail first and replaces the old chunks only as new ones land
(item 2); a cache hit works on storage it cannot write, a full disk is one line (item 3); a root
of several datasets lists them and lets the caller pick one (item 5); a clipped action count is
recorded and said (item 9); a SIGINT after the dataset is complete does not fail the run (12).
"""

from __future__ import annotations

import errno
import json
import logging
from pathlib import Path

import pytest

from dataset_helpers import dataset_files as _files
from dataset_helpers import generate as generate_dataset
from gridoracle.cli import main
from gridoracle.dataset import load
from gridoracle.dataset.store import ChunkInfo, DatasetStore
from gridoracle.errors import DatasetError, GridOracleError, OutputError
from gridoracle.pipelines import generate as generate_module
from gridoracle.pipelines.datasets import find_dataset

TINY = dict(env="l2rpn_case14_sandbox", chronics="0", max_steps=4, n_actions=6, chunk_actions=2)


def generate(out: Path, *, scheduler: str | None = None, **options):
    return generate_dataset(**{**TINY, **options}, out=out, workers=1, scheduler=scheduler)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def copy_of_tiny(tiny, tmp_path):
    """A private copy of ``tiny`` (tests below damage or rebuild it)."""
    folder = tmp_path / "data" / tiny.path.name
    for rel, data in _files(tiny.path).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


# -- item 2: --force -------------------------------------------------------------------------------


def test_force_with_an_unreachable_scheduler_keeps_the_dataset(copy_of_tiny):
    before = _files(copy_of_tiny)
    with pytest.raises(GridOracleError, match=r"tcp://127\.0\.0\.1:9"):
        generate(copy_of_tiny.parent, force=True, scheduler="tcp://127.0.0.1:9")
    assert _files(copy_of_tiny) == before
    assert load(copy_of_tiny).manifest["complete"]


def test_force_replaces_the_old_chunks_only_as_new_ones_land(copy_of_tiny, monkeypatch):
    before = _files(copy_of_tiny)
    real = generate_module.run_unit
    seen: list[str] = []

    def run_then_fail(unit):
        # every chunk not rewritten yet is still on disk and the dataset still loads
        assert _files(copy_of_tiny).keys() == before.keys()
        assert len(load(copy_of_tiny)) == 4
        if len(seen) == 2:
            raise RuntimeError("worker lost")
        seen.append(unit.relpath)
        return real(unit)

    monkeypatch.setattr(generate_module, "run_unit", run_then_fail)
    with pytest.raises(RuntimeError, match="worker lost"):
        generate(copy_of_tiny.parent, force=True)
    assert _files(copy_of_tiny) == before  # the rewritten chunks are the same bytes
    assert load(copy_of_tiny).manifest["complete"]
    monkeypatch.setattr(generate_module, "run_unit", real)
    again = generate(copy_of_tiny.parent, force=True)
    assert again.units_run == 4 and _files(copy_of_tiny) == before


def test_a_rebuilt_chunk_that_differs_marks_the_dataset_incomplete_until_the_end(copy_of_tiny):
    manifest = json.loads((copy_of_tiny / "manifest.json").read_text())
    reopened = DatasetStore.plan(
        copy_of_tiny.parent,
        "l2rpn_case14_sandbox-h0",
        manifest["config"],
        manifest["versions"],
        actions=manifest["actions"],
        feature_columns=manifest["feature_columns"],
        expected_chunks=manifest["expected_chunks"],
        force=True,
    )
    assert reopened.path == copy_of_tiny and not reopened.is_complete()
    reopened.prepare()
    rel = manifest["expected_chunks"][0]
    assert not reopened.chunk_done(rel) and (copy_of_tiny / rel).exists()
    data = (copy_of_tiny / rel).read_bytes()
    info = ChunkInfo(**manifest["chunks"][rel])
    reopened.register_chunk(rel, info)  # the same bytes: still complete on disk
    assert json.loads((copy_of_tiny / "manifest.json").read_text())["complete"]
    other = ChunkInfo(rows=info.rows, sha256="0" * 64, bytes=len(data))
    reopened.register_chunk(rel, other)  # other bytes: a mix of old and new until finalized
    assert not json.loads((copy_of_tiny / "manifest.json").read_text())["complete"]


# -- item 3: read-only storage, full disk ----------------------------------------------------------


def _cli(args):
    try:
        main(args)
    except SystemExit as exc:
        return exc.code
    return 0


def _tiny_args(out: Path) -> list[str]:
    return [
        "generate",
        "--chronics",
        "0",
        "--max-steps",
        "4",
        "--actions",
        "6",
        "--chunk-actions",
        "2",
        "--workers",
        "1",
        "--out",
        str(out),
        "--quiet",
    ]


def test_a_cache_hit_on_storage_it_cannot_write_succeeds(copy_of_tiny, capsys, caplog):
    (copy_of_tiny / "runs.jsonl").mkdir()  # the run log cannot be appended to (even as root)
    before = _files(copy_of_tiny)
    with caplog.at_level(logging.WARNING):
        code = _cli(_tiny_args(copy_of_tiny.parent))
    captured = capsys.readouterr()
    assert code == 0 and "hit" in captured.out and "Traceback" not in captured.err
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "runs.jsonl" in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage()
    assert _files(copy_of_tiny) == before


def test_a_full_disk_is_one_line_naming_the_folder_and_leaves_no_half_file(
    tmp_path, monkeypatch, capsys
):
    import pyarrow.parquet as pq

    real = pq.write_table
    calls: list[int] = []

    def fill_the_disk(table, where, **options):
        calls.append(1)
        if len(calls) < 3:
            return real(table, where, **options)
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", fill_the_disk)
    out = tmp_path / "small-disk"
    code = _cli([*_tiny_args(out), "--targets", "full"])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err
    assert "No space left on device" in lines[0] and str(out) in lines[0]
    (folder,) = [p.parent for p in out.rglob("manifest.json")]
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    manifest = json.loads((folder / "manifest.json").read_text())
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*.parquet")}
    assert on_disk == set(manifest["chunks"]) and len(on_disk) == 2
    with pytest.raises(OutputError, match="No space left"):
        generate(out, targets="full")


# -- item 5: a root of several datasets ------------------------------------------------------------


def test_a_root_of_several_datasets_lists_them_and_picks_one(tiny):
    root = tiny.path.parent
    other = generate(root, horizon=1)
    with pytest.raises(DatasetError) as info:
        load(root)
    message = str(info.value)
    assert "\n" not in message and "2 datasets" in message
    for report, horizon in ((tiny, 0), (other, 1)):
        manifest = json.loads((report.path / "manifest.json").read_text())
        assert report.path.name in message
        assert manifest["config_hash"][:12] in message
        assert f"horizon {horizon}" in message
    assert "l2rpn_case14_sandbox" in message and "chronics 0" in message
    assert "folder" in message and "--" not in message
    assert load(root, horizon=1).path == other.path
    assert load(root, horizon=0).path == tiny.path
    prefix = json.loads((other.path / "manifest.json").read_text())["config_hash"][:6]
    assert load(root, config_hash=prefix).path == other.path
    assert load(other.path, horizon=1).path == other.path
    assert find_dataset(root, config_hash=prefix.upper()) == other.path  # what --data resolves
    with pytest.raises(DatasetError, match="horizon 1, not 0"):
        load(other.path, horizon=0)
    with pytest.raises(DatasetError, match="no dataset") as info:
        load(root, horizon=1, config_hash="f00f00f00f00f")
    assert tiny.path.name in str(info.value)


# -- item 9: a clipped number of actions -----------------------------------------------------------


def test_more_actions_than_the_catalogue_holds_is_recorded_and_said(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        report = generate(tmp_path, max_steps=1, n_actions=100_000, chunk_actions=100)
    taken = report.summary["actions"]
    assert 1 < taken < 100_000
    assert report.summary["actions_requested"] == 100_000
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "100000" in warnings[0] and str(taken) in warnings[0]
    logged = json.loads((report.path / "runs.jsonl").read_text().splitlines()[-1])
    assert logged["actions_requested"] == 100_000 and logged["actions"] == taken
    exact = generate(tmp_path / "exact", max_steps=1, n_actions=6)
    assert exact.summary["actions"] == 6 and exact.summary["actions_requested"] == 6


# -- item 12: a SIGINT after the dataset is complete -----------------------------------------------


def test_an_interrupt_after_the_dataset_is_complete_returns_the_report(tmp_path, monkeypatch):
    def interrupted(self, record):
        raise KeyboardInterrupt

    monkeypatch.setattr(DatasetStore, "append_run_log", interrupted)
    report = generate(tmp_path)
    assert not report.cache_hit and report.units_run == 4
    assert load(report.path).manifest["complete"]
    again = generate(tmp_path)  # the cache hit too
    assert again.cache_hit
