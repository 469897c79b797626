"""Dataset store: determinism, atomic writes, checksums, resume, force, load round trip.

Datasets here are small synthetic ones written through the store API (no grid2op needed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gridoracle.dataset.chunks as chunks_mod
from dataset_helpers import dataset_files as folder_bytes
from gridoracle.dataset import Dataset, DatasetStore, load
from gridoracle.dataset.store import (
    MANIFEST_NAME,
    ChunkInfo,
    atomic_write_bytes,
    atomic_write_json,
    canonical_json,
    config_hash,
    dataset_id,
    file_sha256,
    states_relpath,
    targets_relpath,
    write_chunk_file,
)
from gridoracle.errors import DatasetError, GridOracleError, OutputError

ACTIONS = [
    {"name": "donothing-0", "kind": "donothing", "grid2op": {}},
    {"name": "line-4-3", "kind": "line", "grid2op": {"set_line_status": [[4, -1]]}},
    {
        "name": "sub-1-0",
        "kind": "topology",
        "grid2op": {"set_bus": {"substations_id": [[1, [1, 2]]]}},
    },
]
FEATURES = ["gen_p_0", "load_p_0", "rho_0", "line_status_0"]
N_LINE = 3
ACTIONS_PER_CHUNK = 2
VERSIONS = {"gridoracle": "0.1.0", "grid2op": "1.12.6", "lightsim2grid": "1.2.0"}


def state_frame(chronic: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(100 + chronic)
    return pd.DataFrame(
        {
            "gen_p_0": rng.normal(10, 1, n).astype(np.float32),
            "load_p_0": rng.normal(5, 1, n).astype(np.float32),
            "rho_0": rng.uniform(0, 1.2, n).astype(np.float32),
            "line_status_0": np.ones(n, dtype=np.int8),
            "chronic": np.full(n, chronic, dtype=np.int32),
            "step": np.arange(n, dtype=np.int32),
        }
    )


def target_frame(chronic: int, n: int, start: int, stop: int, full: bool) -> pd.DataFrame:
    rng = np.random.default_rng(1000 * chronic + start)
    cols: dict[str, np.ndarray] = {}
    for a in ACTIONS[start:stop]:
        name = a["name"]
        y = rng.uniform(0.3, 1.4, n)
        status = np.zeros(n, dtype=np.int8)
        if n > 1 and name == "sub-1-0":  # one diverged state
            y[1] = np.nan
            status[1] = 1
        cols[name] = y
        cols[f"status::{name}"] = status
        if full:
            for line in range(N_LINE):
                cols[f"rho::{name}::{line}"] = rng.uniform(0, 1, n).astype(np.float32)
    return pd.DataFrame(cols)


def chunk_plan(chronics: list[int]) -> list[str]:
    rels = []
    for c in chronics:
        rels.append(states_relpath(c))
        for start in range(0, len(ACTIONS), ACTIONS_PER_CHUNK):
            rels.append(targets_relpath(c, start, min(start + ACTIONS_PER_CHUNK, len(ACTIONS))))
    return rels


def open_store(
    root: Path,
    chronics: list[int] = (0, 1, 2),  # type: ignore[assignment]
    *,
    full: bool = False,
    force: bool = False,
    versions: dict | None = None,
    seed: int = 0,
) -> DatasetStore:
    config = {"env": "synthetic", "chronics": list(chronics), "full": full, "seed": seed}
    return DatasetStore.open(
        root,
        "synthetic",
        config,
        versions or VERSIONS,
        actions=ACTIONS,
        feature_columns=FEATURES,
        expected_chunks=chunk_plan(list(chronics)),
        force=force,
    )


def write_all(store: DatasetStore, n_steps: int = 5, *, full: bool = False) -> None:
    """Write and register every missing chunk, like the generator does."""
    for rel in store.expected_chunks:
        if store.chunk_done(rel):
            continue
        parts = rel.split("/")
        chronic = int(parts[1].split("_")[1].split(".")[0])
        if parts[0] == "states":
            df = state_frame(chronic, n_steps)
        else:
            lo, hi = parts[2].removeprefix("actions_").removesuffix(".parquet").split("-")
            df = target_frame(chronic, n_steps, int(lo), int(hi) + 1, full)
        store.register_chunk(rel, write_chunk_file(store.path / rel, df))


def build(root: Path, chronics=(0, 1, 2), n_steps: int = 5, *, full: bool = False) -> DatasetStore:
    store = open_store(root, list(chronics), full=full)
    write_all(store, n_steps, full=full)
    store.finalize({"rows": n_steps * len(chronics), "actions": len(ACTIONS)})
    return store


def on_disk_manifest(store: DatasetStore) -> dict:
    return json.loads((store.path / MANIFEST_NAME).read_text())


# --- JSON and hashing -----------------------------------------------------------------------------


def test_canonical_json_sorted_compact_and_rejects_nan():
    assert canonical_json({"b": [1, 2], "a": {"y": 1, "x": "é"}}) == (
        '{"a":{"x":"é","y":1},"b":[1,2]}'.encode()
    )
    assert canonical_json({"n": np.int64(3), "f": np.float32(0.5)}) == b'{"f":0.5,"n":3}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(ValueError):
        canonical_json({"x": np.float64("inf")})


def test_config_hash_ignores_key_order_and_sees_values():
    a = config_hash({"env": "case14", "chronics": [0, 1], "horizon": 0})
    b = config_hash({"horizon": 0, "chronics": [0, 1], "env": "case14"})
    c = config_hash({"horizon": 1, "chronics": [0, 1], "env": "case14"})
    assert a == b != c
    assert len(a) == 64 and int(a, 16) >= 0


def test_dataset_id_sanitizes_label():
    h = "ab" * 32
    assert dataset_id("l2rpn_case14_sandbox", h) == "l2rpn_case14_sandbox-" + h[:12]
    assert dataset_id("/data/my env/", h) == "data_my_env-" + h[:12]
    assert dataset_id("///", h) == "dataset-" + h[:12]


# --- chunk files ----------------------------------------------------------------------------------


def test_write_chunk_file_is_deterministic_and_plain_parquet(tmp_path):
    df = target_frame(0, 50, 0, 3, full=True)
    info_a = write_chunk_file(tmp_path / "a" / "x.parquet", df)
    info_b = write_chunk_file(tmp_path / "b" / "x.parquet", df.copy())
    assert (tmp_path / "a" / "x.parquet").read_bytes() == (
        tmp_path / "b" / "x.parquet"
    ).read_bytes()
    assert info_a == info_b
    assert info_a.rows == 50
    assert info_a.bytes == (tmp_path / "a" / "x.parquet").stat().st_size
    assert info_a.sha256 == file_sha256(tmp_path / "a" / "x.parquet")
    back = pd.read_parquet(tmp_path / "a" / "x.parquet")  # plain pandas, no gridoracle
    pd.testing.assert_frame_equal(back, df)
    assert back["status::sub-1-0"].dtype == np.int8
    assert back["rho::sub-1-0::0"].dtype == np.float32


def test_write_chunk_file_same_bytes_in_another_process(tmp_path):
    df = state_frame(3, 20)
    info = write_chunk_file(tmp_path / "here.parquet", df)
    df.to_pickle(tmp_path / "df.pkl")
    code = (
        "import sys, pandas as pd; from pathlib import Path;"
        "from gridoracle.dataset.store import write_chunk_file;"
        "print(write_chunk_file(Path(sys.argv[2]), pd.read_pickle(sys.argv[1])).sha256)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "df.pkl"), str(tmp_path / "there.parquet")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == info.sha256
    assert (tmp_path / "here.parquet").read_bytes() == (tmp_path / "there.parquet").read_bytes()


def test_write_chunk_file_rejects_duplicate_columns(tmp_path):
    df = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    with pytest.raises(ValueError, match="duplicate"):
        write_chunk_file(tmp_path / "x.parquet", df)
    assert list(tmp_path.iterdir()) == []


# --- atomicity ------------------------------------------------------------------------------------


def test_failed_rename_leaves_nothing_under_final_name(tmp_path, monkeypatch):
    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    target = tmp_path / "states" / "chronic_0000.parquet"
    with pytest.raises(OSError):
        write_chunk_file(target, state_frame(0, 5))
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # temp file cleaned up too


def test_crash_while_writing_parquet_exposes_nothing(tmp_path, monkeypatch):
    def half_write(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(chunks_mod.pq, "write_table", half_write)
    target = tmp_path / "x.parquet"
    with pytest.raises(KeyboardInterrupt):
        write_chunk_file(target, state_frame(0, 5))
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_old_content_when_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / "manifest.json"
    atomic_write_json(path, {"v": 1})
    old = path.read_bytes()

    def boom(src, dst):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new content")
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_atomic_write_json_deterministic_and_rejects_nan(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"b": 1, "a": [1.5, None]})
    atomic_write_json(tmp_path / "b.json", {"a": [1.5, None], "b": 1})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.json").read_text().endswith("}\n")
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "c.json", {"x": float("nan")})
    assert not (tmp_path / "c.json").exists()


def test_open_removes_leftover_temp_files(tmp_path):
    store = open_store(tmp_path)
    (store.path / "states").mkdir()
    leftovers = [
        store.path / ".manifest.json.k2j3.tmp",
        store.path / "states" / ".chronic_0000.parquet.x8a.tmp",
    ]
    for p in leftovers:
        p.write_bytes(b"partial")
    keep = store.path / "states" / "notes.txt"
    keep.write_text("not ours to delete")
    open_store(tmp_path)
    assert not any(p.exists() for p in leftovers)
    assert keep.exists()


# --- manifest and chunks --------------------------------------------------------------------------


def test_open_writes_incomplete_manifest(tmp_path):
    store = open_store(tmp_path / "out" / "nested")
    m = on_disk_manifest(store)
    assert store.path.name == dataset_id("synthetic", store.config_hash)
    assert m["format"] == "gridoracle-dataset/1"
    assert m["complete"] is False and m["chunks"] == {}
    assert m["config_hash"] == store.config_hash == config_hash(m["config"])
    assert m["actions"] == ACTIONS and m["feature_columns"] == FEATURES
    assert m["versions"] == VERSIONS
    assert m["expected_chunks"] == chunk_plan([0, 1, 2])
    assert store.manifest == m
    store.manifest["complete"] = True  # a copy: the store is not changed through it
    assert store.manifest["complete"] is False


def test_two_identical_runs_give_identical_folders(tmp_path):
    a = build(tmp_path / "run1", full=True)
    b = build(tmp_path / "run2", full=True)
    a.append_run_log({"wall_s": 1.23})
    b.append_run_log({"wall_s": 4.56})
    assert a.path.name == b.path.name
    files_a, files_b = folder_bytes(a.path), folder_bytes(b.path)
    assert files_a == files_b
    assert MANIFEST_NAME in files_a and len(files_a) == 1 + len(chunk_plan([0, 1, 2]))


def test_other_config_gets_its_own_folder(tmp_path):
    a = open_store(tmp_path, seed=0)
    b = open_store(tmp_path, seed=1)
    assert a.path != b.path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([a.path.name, b.path.name])


def test_resume_keeps_registered_chunks(tmp_path):
    store = open_store(tmp_path)
    first = store.expected_chunks[:2]
    for rel in first:
        write_all_one(store, rel)
    again = open_store(tmp_path)
    assert again.manifest["chunks"] == store.manifest["chunks"]
    assert all(again.chunk_done(rel) for rel in first)
    assert again.missing_chunks() == store.expected_chunks[2:]


def write_all_one(store: DatasetStore, rel: str) -> ChunkInfo:
    chronic = int(rel.split("/")[1].split("_")[1].split(".")[0])
    if rel.startswith("states/"):
        df = state_frame(chronic, 5)
    else:
        lo, hi = rel.split("/")[2].removeprefix("actions_").removesuffix(".parquet").split("-")
        df = target_frame(chronic, 5, int(lo), int(hi) + 1, False)
    info = write_chunk_file(store.path / rel, df)
    store.register_chunk(rel, info)
    return info


def test_resumed_run_is_byte_identical_to_uninterrupted(tmp_path):
    reference = build(tmp_path / "ref")
    # interrupted run: some chunks registered, one written but not registered, one temp file
    store = open_store(tmp_path / "cut")
    rels = store.expected_chunks
    write_all_one(store, rels[0])
    write_all_one(store, rels[3])
    write_chunk_file(store.path / rels[1], state_frame(9, 2))  # bytes that are not the final ones
    (store.path / "states" / ".chronic_0001.parquet.zz.tmp").write_bytes(b"half")
    resumed = open_store(tmp_path / "cut")
    write_all(resumed)
    resumed.finalize({"rows": 15, "actions": len(ACTIONS)})
    assert folder_bytes(resumed.path) == folder_bytes(reference.path)


def test_chunk_done_detects_flipped_byte(tmp_path, caplog):
    store = build(tmp_path)
    rel = targets_relpath(1, 0, 2)
    path = store.path / rel
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="gridoracle.dataset.store"):
        assert store.chunk_done(rel) is False
    assert any(rel in r.getMessage() and "checksum" in r.getMessage() for r in caplog.records)
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    assert not path.exists()
    m = on_disk_manifest(store)
    assert rel not in m["chunks"] and m["complete"] is False
    assert store.is_complete() is False


def test_chunk_done_detects_truncated_file(tmp_path, caplog):
    store = build(tmp_path)
    rel = states_relpath(2)
    path = store.path / rel
    path.write_bytes(path.read_bytes()[:-10])
    with caplog.at_level(logging.WARNING):
        assert store.chunk_done(rel) is False
    assert any(rel in r.getMessage() for r in caplog.records)
    assert not path.exists()


def test_chunk_done_registered_but_missing(tmp_path, caplog):
    store = build(tmp_path)
    rel = states_relpath(0)
    (store.path / rel).unlink()
    with caplog.at_level(logging.WARNING):
        assert store.chunk_done(rel) is False
    assert any(rel in r.getMessage() and "missing" in r.getMessage() for r in caplog.records)
    assert rel not in on_disk_manifest(store)["chunks"]


def test_chunk_done_deletes_unregistered_file(tmp_path):
    store = open_store(tmp_path)
    rel = states_relpath(0)
    write_chunk_file(store.path / rel, state_frame(0, 5))  # crash before register_chunk
    assert (store.path / rel).exists()
    assert store.chunk_done(rel) is False
    assert not (store.path / rel).exists()
    assert store.chunk_done(targets_relpath(0, 0, 2)) is False  # neither file nor entry


def test_chunk_done_true_for_good_chunk(tmp_path):
    store = open_store(tmp_path)
    rel = states_relpath(0)
    info = write_all_one(store, rel)
    assert store.chunk_done(rel) is True
    assert on_disk_manifest(store)["chunks"][rel] == {
        "rows": info.rows,
        "sha256": info.sha256,
        "bytes": info.bytes,
    }


def test_register_chunk_checks_the_file(tmp_path):
    store = open_store(tmp_path)
    rel = states_relpath(0)
    with pytest.raises(ValueError, match="does not exist"):
        store.register_chunk(rel, ChunkInfo(rows=1, sha256="0" * 64, bytes=10))
    info = write_chunk_file(store.path / rel, state_frame(0, 5))
    with pytest.raises(ValueError, match="bytes"):
        store.register_chunk(rel, ChunkInfo(info.rows, info.sha256, info.bytes + 1))


@pytest.mark.parametrize(
    "bad", ["", "/abs/x.parquet", "../x.parquet", "a/../../x", "manifest.json"]
)
def test_invalid_chunk_paths_rejected(tmp_path, bad):
    store = open_store(tmp_path)
    with pytest.raises(ValueError, match="invalid chunk path"):
        store.chunk_done(bad)


def test_is_complete_lifecycle(tmp_path, caplog):
    store = open_store(tmp_path)
    assert store.is_complete() is False
    write_all(store)
    assert store.is_complete() is False  # all chunks, not finalized
    with pytest.raises(ValueError):
        open_store(tmp_path / "other").finalize({})  # nothing registered
    store.finalize({"rows": 15, "share_above_1": 0.25})
    assert store.is_complete() is True
    assert open_store(tmp_path).is_complete() is True  # cache hit from a new process
    assert on_disk_manifest(store)["summary"] == {"rows": 15, "share_above_1": 0.25}
    with pytest.raises(ValueError):
        store.finalize({"share_above_1": float("nan")})

    rel = targets_relpath(2, 2, 3)
    path = store.path / rel
    data = bytearray(path.read_bytes())
    data[20] ^= 0x01
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert store.is_complete() is False
    assert any(
        rel in r.getMessage() and "will regenerate" in r.getMessage() for r in caplog.records
    )
    m = on_disk_manifest(store)
    assert m["complete"] is False and rel not in m["chunks"]
    again = open_store(tmp_path)
    assert again.is_complete() is False
    assert again.missing_chunks() == [rel]
    write_all(again)
    again.finalize({"rows": 15, "share_above_1": 0.25})
    assert again.is_complete() is True


def test_force_keeps_every_chunk_until_its_new_file_lands(tmp_path):
    """Issue 12 item 2: a forced rebuild recomputes every chunk but deletes none up front."""
    store = build(tmp_path)
    before = folder_bytes(store.path)
    other = open_store(tmp_path, seed=7)
    sibling = tmp_path / "keep.txt"
    sibling.write_text("x")
    forced = open_store(tmp_path, force=True)
    assert forced.path == store.path and folder_bytes(store.path) == before
    assert not forced.is_complete()
    assert not any(forced.chunk_done(rel) for rel in forced.expected_chunks)
    assert folder_bytes(store.path) == before  # asking deletes nothing either
    write_all(forced)
    forced.finalize({"rows": 15, "actions": len(ACTIONS)})
    assert folder_bytes(store.path) == before and forced.is_complete()
    assert sibling.exists() and (other.path / MANIFEST_NAME).exists()


def _resign(manifest: dict) -> dict:
    """``manifest`` with the checksum of its (edited) content, as the store writes it."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return {**body, "manifest_sha256": hashlib.sha256(canonical_json(body)).hexdigest()}


def test_config_collision_is_an_error(tmp_path):
    store = open_store(tmp_path)
    m = on_disk_manifest(store)
    m["config_hash"] = "f" * 64
    (store.path / MANIFEST_NAME).write_text(json.dumps(_resign(m)))
    with pytest.raises(DatasetError, match="another config"):
        open_store(tmp_path)
    open_store(tmp_path, force=True)  # --force takes the folder over
    assert on_disk_manifest(store)["config_hash"] == store.config_hash


def test_other_versions_regenerate_with_warning(tmp_path, caplog):
    store = build(tmp_path)
    with caplog.at_level(logging.WARNING):
        newer = open_store(tmp_path, versions={**VERSIONS, "grid2op": "9.9.9"})
    assert newer.path == store.path
    assert any("versions" in r.getMessage() for r in caplog.records)
    assert newer.manifest["chunks"] == {} and not newer.is_complete()
    assert not (store.path / "states").exists()


def test_unreadable_manifest_regenerates_with_warning(tmp_path, caplog):
    store = build(tmp_path)
    (store.path / MANIFEST_NAME).write_text("{not json")
    with caplog.at_level(logging.WARNING):
        again = open_store(tmp_path)
    assert any("unreadable manifest" in r.getMessage() for r in caplog.records)
    assert again.manifest["chunks"] == {}


def test_output_root_is_a_file(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("a file in the way")
    with pytest.raises(OutputError, match="data") as exc:
        open_store(blocker)
    assert "\n" not in str(exc.value)
    with pytest.raises(OutputError):
        open_store(blocker / "sub")
    assert blocker.read_text() == "a file in the way"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_output_root_not_writable(tmp_path, monkeypatch):
    import tempfile

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() == 0:  # root writes anyway: deny as the kernel does for a user
        real_mkstemp = tempfile.mkstemp

        def mkstemp(*args, dir=None, **kwargs):
            if dir is not None and Path(dir).is_relative_to(locked):
                raise PermissionError(13, "Permission denied", str(dir))
            return real_mkstemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    try:
        with pytest.raises(OutputError, match="locked"):
            open_store(locked)
    finally:
        locked.chmod(0o700)


def test_output_permission_denied_is_one_line(tmp_path, monkeypatch):
    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    with pytest.raises(OutputError, match="Permission denied") as exc:
        open_store(tmp_path / "out")
    assert str(tmp_path / "out") in str(exc.value) and "\n" not in str(exc.value)


def test_output_error_is_user_error():
    assert issubclass(OutputError, GridOracleError) and issubclass(DatasetError, GridOracleError)


def test_append_run_log(tmp_path):
    store = build(tmp_path)
    before = (store.path / MANIFEST_NAME).read_bytes()
    store.append_run_log({"wall_s": 1.5, "pairs_per_s": float("inf"), "cache_hit": False})
    store.append_run_log({"wall_s": 0.1, "cache_hit": True})
    lines = (store.path / "runs.jsonl").read_text().splitlines()
    assert [json.loads(x)["cache_hit"] for x in lines] == [False, True]
    assert json.loads(lines[0])["pairs_per_s"] is None
    assert (store.path / MANIFEST_NAME).read_bytes() == before


def test_manifest_records_the_checksum_of_its_content(tmp_path):
    store = build(tmp_path)
    manifest = on_disk_manifest(store)
    assert manifest == _resign(manifest)
    assert store.manifest["manifest_sha256"] == manifest["manifest_sha256"]


@pytest.mark.parametrize("edit", ["cut actions", "drop checksum"])
def test_a_manifest_that_does_not_match_its_checksum_is_refused(tmp_path, edit, caplog):
    """Issue 12 item 12: cutting the action list no longer loads fewer targets silently."""
    store = build(tmp_path)
    manifest = on_disk_manifest(store)
    if edit == "cut actions":
        manifest["actions"] = manifest["actions"][:2]
    else:
        manifest.pop("manifest_sha256")
    (store.path / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
    with pytest.raises(DatasetError, match="checksum") as exc:
        load(store.path)
    assert str(store.path / MANIFEST_NAME) in str(exc.value) and "\n" not in str(exc.value)
    with caplog.at_level(logging.WARNING):
        again = open_store(tmp_path)  # the generator regenerates it
    assert any("checksum" in r.getMessage() for r in caplog.records)
    assert again.manifest["chunks"] == {} and on_disk_manifest(again) == _resign(again.manifest)


def test_append_run_log_on_storage_it_cannot_write_warns_once(tmp_path, caplog):
    store = build(tmp_path)
    (store.path / "runs.jsonl").mkdir()  # in the way of the log (as root too)
    with caplog.at_level(logging.WARNING):
        store.append_run_log({"event": "cache_hit"})
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "runs.jsonl" in record.getMessage() and "\n" not in record.getMessage()


# --- load -----------------------------------------------------------------------------------------


def test_load_round_trip(tmp_path):
    chronics = [12, 3, 1]  # written out of order: rows come back in increasing chronic order
    store = build(tmp_path, chronics=chronics, n_steps=4, full=True)
    ds = load(store.path)
    assert isinstance(ds, Dataset)
    n = 4 * len(chronics)
    assert len(ds) == n
    assert list(ds.X.columns) == FEATURES
    assert isinstance(ds.X.index, pd.RangeIndex) and ds.X.index.equals(pd.RangeIndex(n))
    assert ds.X["gen_p_0"].dtype == np.float32 and ds.X["line_status_0"].dtype == np.int8
    names = [a["name"] for a in ACTIONS]
    assert list(ds.Y.columns) == names == list(ds.status.columns) == ds.action_names
    assert all(ds.Y.dtypes == np.float64) and all(ds.status.dtypes == np.int8)
    # a dataset written without state metadata reads back with its defaults (episode states)
    assert list(ds.meta.columns) == ["chronic", "step", "state_source", "base_actions", "line_out"]
    assert all(ds.meta[["chronic", "step"]].dtypes == np.int32)
    assert set(ds.meta["state_source"]) == {"episode"} and set(ds.meta["base_actions"]) == {""}
    assert set(ds.meta["line_out"]) == {-1}
    assert ds.meta["chronic"].tolist() == [1] * 4 + [3] * 4 + [12] * 4
    assert ds.meta["step"].tolist() == [0, 1, 2, 3] * 3
    assert ds.chronics == [1, 3, 12]
    assert ds.actions == ACTIONS and ds.manifest["complete"] is True and ds.path == store.path

    # values match what was written, row for row
    block = slice(4, 8)  # chronic 3
    expected_x = state_frame(3, 4)[FEATURES]
    pd.testing.assert_frame_equal(ds.X.iloc[block].reset_index(drop=True), expected_x)
    t = pd.concat([target_frame(3, 4, 0, 2, True), target_frame(3, 4, 2, 3, True)], axis=1)
    np.testing.assert_array_equal(ds.Y.iloc[block].to_numpy(), t[names].to_numpy())
    assert np.isnan(ds.Y["sub-1-0"].iloc[5]) and ds.status["sub-1-0"].iloc[5] == 1
    assert int((ds.status.to_numpy() != 0).sum()) == 3  # one diverged state per chronic

    assert ds.rho is not None and set(ds.rho) == set(names)
    assert ds.rho_lines == ["0", "1", "2"]
    for name in names:
        assert ds.rho[name].shape == (n, N_LINE) and ds.rho[name].dtype == np.float32
    expected_rho = t[[f"rho::line-4-3::{i}" for i in range(N_LINE)]].to_numpy()
    np.testing.assert_array_equal(ds.rho["line-4-3"][block], expected_rho)


def test_load_without_full_rho(tmp_path):
    ds = load(build(tmp_path, full=False).path)
    assert ds.rho is None and ds.rho_lines is None
    assert ds.Y.shape == ds.status.shape == (15, len(ACTIONS))


def test_load_accepts_root_with_one_dataset_or_manifest(tmp_path):
    store = build(tmp_path)
    assert load(tmp_path).path == store.path
    assert load(store.path / MANIFEST_NAME).path == store.path
    assert len(load(str(store.path))) == 15


def test_load_root_with_several_datasets_lists_them(tmp_path):
    a = build(tmp_path)
    b = open_store(tmp_path, seed=5)
    with pytest.raises(DatasetError) as exc:
        load(tmp_path)
    msg = str(exc.value)
    assert a.path.name in msg and b.path.name in msg and "\n" not in msg


@pytest.mark.parametrize("what", ["missing", "file", "empty"])
def test_load_not_a_dataset(tmp_path, what):
    target = tmp_path / "x"
    if what == "file":
        target.write_text("hello")
    elif what == "empty":
        target.mkdir()
    with pytest.raises(DatasetError) as exc:
        load(target)
    assert str(target) in str(exc.value) and "\n" not in str(exc.value)


def test_load_incomplete_dataset(tmp_path):
    store = open_store(tmp_path)
    write_all(store)  # all chunks, but never finalized (interrupted before the end)
    with pytest.raises(DatasetError, match=r"incomplete.*generate"):
        load(store.path)


def test_load_corrupted_chunk_names_it_and_changes_nothing(tmp_path):
    store = build(tmp_path)
    rel = targets_relpath(0, 2, 3)
    path = store.path / rel
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x10
    path.write_bytes(bytes(data))
    before = folder_bytes(store.path)
    with pytest.raises(DatasetError, match="corrupted") as exc:
        load(store.path)
    assert str(path) in str(exc.value) and "generate" in str(exc.value)
    assert folder_bytes(store.path) == before  # load is read-only


def test_load_missing_chunk(tmp_path):
    store = build(tmp_path)
    (store.path / states_relpath(1)).unlink()
    with pytest.raises(DatasetError, match=r"chronic_0001\.parquet is missing"):
        load(store.path)


def test_load_foreign_manifest(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(DatasetError, match="not a gridoracle dataset"):
        load(tmp_path)


def test_load_target_chunk_missing_an_action(tmp_path):
    store = open_store(tmp_path, chronics=[0])
    write_all(store)
    rel = targets_relpath(0, 2, 3)
    df = target_frame(0, 5, 2, 3, False).drop(columns=["status::sub-1-0"])
    store.register_chunk(rel, write_chunk_file(store.path / rel, df))
    store.finalize({})
    with pytest.raises(DatasetError, match=r"no status for action.*sub-1-0"):
        load(store.path)


def test_load_row_count_mismatch(tmp_path):
    store = open_store(tmp_path, chronics=[0])
    write_all(store)
    rel = targets_relpath(0, 0, 2)
    store.register_chunk(rel, write_chunk_file(store.path / rel, target_frame(0, 4, 0, 2, False)))
    store.finalize({})
    with pytest.raises(DatasetError, match="4 rows"):
        load(store.path)


# --- Dataset.select -------------------------------------------------------------------------------


def test_select_by_mask_positions_and_slice(tmp_path):
    ds = load(build(tmp_path, full=True).path)
    mask = (ds.meta["chronic"] == 1).to_numpy()
    sub = ds.select(mask)
    assert len(sub) == 5 and sub.chronics == [1]
    assert sub.X.index.equals(pd.RangeIndex(5))
    pd.testing.assert_frame_equal(sub.Y, ds.Y[mask].reset_index(drop=True))
    assert sub.rho is not None and sub.rho["sub-1-0"].shape == (5, N_LINE)
    np.testing.assert_array_equal(sub.rho["sub-1-0"], ds.rho["sub-1-0"][mask])
    picked = ds.select([14, 0])
    assert picked.meta[["chronic", "step"]].values.tolist() == [[2, 4], [0, 0]]
    assert len(ds.select(slice(0, 3))) == 3
    assert len(ds.select(np.zeros(0, dtype=int))) == 0
    with pytest.raises(ValueError):
        ds.select(np.ones(3, dtype=bool))
    with pytest.raises(IndexError):
        ds.select([15])


def test_written_files_follow_the_umask(tmp_path):
    import os

    from gridoracle.dataset.store import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.txt", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
