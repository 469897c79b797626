"""On-disk dataset store: Parquet chunks plus a JSON manifest keyed by the config hash.

One dataset is one folder ``<root>/<label>-<config_hash[:12]>/``::

    manifest.json                       config, hash, versions, actions, checksums, complete flag
    runs.jsonl                          one JSON line per run (wall time, ...): not deterministic
    states/chronic_0000.parquet         features + "chronic" + "step", one row per visited state
    targets/chronic_0000/actions_00000-00099.parquet
                              "<action>" max rho, "status::<action>", ["rho::<action>::<line>"]

Guarantees
----------
- **Atomic.** Every file is written to a hidden temporary file in the same folder (``.*.tmp``),
  flushed with ``fsync`` and renamed over its final name, so a reader never sees half a file.
  Leftover temporary files of a killed run are removed when the store is opened again.
- **Checksummed.** Each chunk is registered in the manifest with its row count, size and SHA-256
  *after* its file is in place. A chunk whose file is missing, unregistered or does not match its
  checksum is deleted and reported as not done, so the generator recomputes it.
- **Deterministic.** The same DataFrame gives a byte-identical Parquet file and the same content
  gives a byte-identical ``manifest.json`` (sorted keys, fixed indentation, no timestamps). Run
  statistics that vary (wall time) go to ``runs.jsonl`` only.
- **Resumable.** A dataset is a cache: the same config finds the same folder, its finished chunks
  and its ``complete`` flag.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gridoracle.errors import DatasetError, OutputError
from gridoracle.io import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    canonical_json,
    config_hash,
    file_sha256,
    json_safe,
)

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "RHO_PREFIX",
    "RUN_LOG_NAME",
    "STATUS_PREFIX",
    "ChunkInfo",
    "DatasetStore",
    "atomic_write_bytes",
    "atomic_write_json",
    "canonical_json",
    "config_hash",
    "dataset_id",
    "file_sha256",
    "states_relpath",
    "targets_relpath",
    "write_chunk_file",
]

logger = logging.getLogger(__name__)

FORMAT = "gridoracle-dataset/1"
"""Value of the ``format`` field of every manifest written by this module."""

MANIFEST_NAME = "manifest.json"
RUN_LOG_NAME = "runs.jsonl"
STATUS_PREFIX = "status::"
"""Prefix of the int8 status column of an action in a targets chunk: ``status::<action>``."""
RHO_PREFIX = "rho::"
"""Prefix of the full rho columns of an action in a targets chunk: ``rho::<action>::<line>``."""

#: Parquet writer settings: fixed so that the same table always gives the same bytes.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "write_statistics": True,
    "use_dictionary": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "row_group_size": 1 << 20,
}

_LABEL_BAD = re.compile(r"[^A-Za-z0-9._-]+")
# Manifest fields that must match for an existing folder to be resumed rather than rebuilt.
_CONTENT_FIELDS = ("format", "versions", "actions", "feature_columns", "expected_chunks")


# --------------------------------------------------------------------------------------------------
# JSON, hashing and atomic files
# --------------------------------------------------------------------------------------------------


def dataset_id(label: str, config_hash_hex: str) -> str:
    """Folder name of a dataset: ``<label>-<hash[:12]>``, the label reduced to ``[A-Za-z0-9._-]``.

    A label such as an environment folder path is sanitized (``/data/my env`` → ``data_my_env``).

    Examples
    --------
    >>> dataset_id("l2rpn_case14_sandbox", "0123456789abcdef" * 4)
    'l2rpn_case14_sandbox-0123456789ab'
    """
    clean = _LABEL_BAD.sub("_", label).strip("._-") or "dataset"
    return f"{clean}-{config_hash_hex[:12]}"


# --------------------------------------------------------------------------------------------------
# Chunk files
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkInfo:
    """What the manifest records about one chunk file: row count, SHA-256 and size in bytes."""

    rows: int
    sha256: str
    bytes: int


def states_relpath(chronic: int) -> str:
    """Relative path of the states file of a chronic.

    Examples
    --------
    >>> states_relpath(3)
    'states/chronic_0003.parquet'
    """
    return f"states/chronic_{int(chronic):04d}.parquet"


def targets_relpath(chronic: int, start: int, stop: int) -> str:
    """Relative path of the targets of actions ``start`` to ``stop - 1`` (catalogue positions).

    Examples
    --------
    >>> targets_relpath(0, 0, 100)
    'targets/chronic_0000/actions_00000-00099.parquet'
    """
    if stop <= start:
        raise ValueError(f"empty action range [{start}, {stop})")
    return (
        f"targets/chronic_{int(chronic):04d}/actions_{int(start):05d}-{int(stop) - 1:05d}.parquet"
    )


def write_chunk_file(path: Path, df: pd.DataFrame) -> ChunkInfo:
    """Write ``df`` as a Parquet file atomically and deterministically; return its checksum.

    Pure function (no manifest, no global state): safe to call in worker processes, the parent then
    registers the returned :class:`ChunkInfo` with :meth:`DatasetStore.register_chunk`. The index is
    not stored, pandas metadata is dropped and the writer settings are fixed
    (:data:`PARQUET_OPTIONS`: zstd level 3, statistics on), so the same DataFrame always gives the
    same bytes with the same pyarrow version. Missing parent folders are created.

    Parameters
    ----------
    path : Path
        Final location of the file.
    df : pandas.DataFrame
        Columns with unique string names.

    Returns
    -------
    ChunkInfo
        Row count, SHA-256 and size of the written file.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> folder = Path(tempfile.mkdtemp())
    >>> info = write_chunk_file(folder / "a.parquet", pd.DataFrame({"x": [1.0, 2.0]}))
    >>> info.rows
    2
    """
    path = Path(path)
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"duplicate column names in chunk {path.name}: {dupes}")
    if not all(isinstance(c, str) for c in df.columns):
        raise ValueError(f"chunk {path.name}: column names must be strings")
    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)
        digest = file_sha256(tmp)
        size = tmp.stat().st_size
    return ChunkInfo(rows=int(table.num_rows), sha256=digest, bytes=int(size))


# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------


def _check_relpath(relpath: str) -> str:
    """Validate a chunk path relative to the dataset folder (POSIX, no ``..``, not absolute)."""
    pure = PurePosixPath(relpath)
    if (
        not relpath
        or pure.is_absolute()
        or "\\" in relpath
        or any(part in ("", ".", "..") for part in relpath.split("/"))
        or pure.name in (MANIFEST_NAME, RUN_LOG_NAME)
    ):
        raise ValueError(
            f"invalid chunk path {relpath!r}: expected e.g. 'states/chronic_0000.parquet'"
        )
    return relpath


def _is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def _clear_folder(folder: Path) -> None:
    """Delete everything inside ``folder`` (not the folder itself), never following symlinks out."""
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _output_error(root: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or type(exc).__name__
    where = exc.filename if exc.filename else root
    return OutputError(f"cannot write the dataset under output folder {root}: {reason} ({where})")


class DatasetStore:
    """One dataset folder: its manifest, its chunk files and their checksums.

    Create it with :meth:`open`; the generator then asks :meth:`chunk_done` for each expected chunk,
    writes the missing ones with :func:`write_chunk_file` (possibly in worker processes), registers
    them with :meth:`register_chunk` and ends with :meth:`finalize`. Only one process should write a
    given dataset folder at a time.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> root = Path(tempfile.mkdtemp())
    >>> store = DatasetStore.open(root, "demo", {"n": 1}, {}, actions=[], feature_columns=["x"],
    ...                           expected_chunks=["states/chronic_0000.parquet"])
    >>> rel = "states/chronic_0000.parquet"
    >>> store.chunk_done(rel)
    False
    >>> frame = pd.DataFrame({"x": [1.0], "chronic": [0], "step": [0]}).astype(
    ...     {"chronic": "int32", "step": "int32"})
    >>> store.register_chunk(rel, write_chunk_file(store.path / rel, frame))
    >>> store.finalize({"rows": 1})
    >>> store.is_complete()
    True
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self._path = Path(path)
        self._manifest = manifest

    # ---------------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        root: Path,
        label: str,
        config: dict[str, Any],
        versions: dict[str, Any],
        *,
        actions: list[dict[str, Any]],
        feature_columns: list[str],
        expected_chunks: list[str],
        force: bool = False,
    ) -> DatasetStore:
        """Open (creating if needed) the folder of the dataset defined by ``config`` under ``root``.

        Parameters
        ----------
        root : Path
            Output folder; created with its parents if missing.
        label : str
            Human-readable prefix of the folder name (e.g. the environment name).
        config : dict
            Everything that determines the content; its hash names the folder.
        versions : dict
            Versions of the packages that produced the content.
        actions : list of dict
            The action catalogue, each with at least ``name``, ``kind`` and ``grid2op``.
        feature_columns : list of str
            Feature column names of the states files, in order.
        expected_chunks : list of str
            Relative paths of every chunk the complete dataset holds.
        force : bool, default False
            Delete the existing content of this dataset's folder first.

        Returns
        -------
        DatasetStore

        Raises
        ------
        OutputError
            If ``root`` or the dataset folder cannot be created or written.
        DatasetError
            If the folder holds the manifest of another config (hash collision on the folder name).

        Notes
        -----
        An existing folder with the same config hash is resumed. If its manifest was written by
        other package versions, or lists other actions, features or chunks, or cannot be read, it
        is a stale cache: a WARNING is logged and the folder is emptied. Temporary files left by a
        killed run are removed.
        """
        root = Path(root)
        chash = config_hash(config)
        for rel in expected_chunks:
            _check_relpath(rel)
        if len(set(expected_chunks)) != len(expected_chunks):
            raise ValueError("expected_chunks contains duplicates")
        fresh: dict[str, Any] = {
            "format": FORMAT,
            "config": config,
            "config_hash": chash,
            "versions": versions,
            "actions": actions,
            "feature_columns": list(feature_columns),
            "chunks": {},
            "expected_chunks": list(expected_chunks),
            "complete": False,
            "summary": {},
        }
        # Round-trip through canonical JSON: validates (no NaN, serializable) and normalizes types
        # (tuples → lists, NumPy scalars → Python) so comparisons with a loaded manifest are exact.
        fresh = json.loads(canonical_json(fresh))

        if root.exists() and not root.is_dir():
            raise OutputError(f"cannot write the dataset under {root}: it is a file, not a folder")
        path = root / dataset_id(label, chash)
        try:
            root.mkdir(parents=True, exist_ok=True)
            if path.exists() and not path.is_dir():
                raise OutputError(f"cannot write the dataset to {path}: it is a file, not a folder")
            path.mkdir(exist_ok=True)
            if force:
                logger.info("forced rebuild: deleting the content of %s", path)
                _clear_folder(path)
            else:
                cls._remove_temp_files(path)
            manifest = cls._resume_manifest(path, fresh)
            if manifest is None:
                manifest = fresh
                atomic_write_json(path / MANIFEST_NAME, manifest)
        except OutputError:
            raise
        except OSError as exc:
            raise _output_error(root, exc) from exc
        return cls(path, manifest)

    def remove_temp_files(self) -> None:
        """Delete temporary files left by killed writers (call when no writer is running)."""
        self._remove_temp_files(self._path)

    @staticmethod
    def _remove_temp_files(path: Path) -> None:
        for folder, _dirs, files in os.walk(path):
            for name in files:
                if _is_temp_name(name):
                    leftover = Path(folder) / name
                    logger.info("removing temporary file of an interrupted run: %s", leftover)
                    with contextlib.suppress(FileNotFoundError):
                        leftover.unlink()

    @staticmethod
    def _resume_manifest(path: Path, fresh: dict[str, Any]) -> dict[str, Any] | None:
        """Return the existing manifest to resume, or None after emptying a stale folder."""
        mpath = path / MANIFEST_NAME
        if not mpath.exists():
            return None
        try:
            old = json.loads(mpath.read_text(encoding="utf-8"))
            if not isinstance(old, dict) or not isinstance(old.get("chunks"), dict):
                raise ValueError("not a manifest object")
        except (ValueError, UnicodeDecodeError) as exc:
            logger.warning("unreadable manifest %s (%s): regenerating the dataset", mpath, exc)
            _clear_folder(path)
            return None
        if old.get("config_hash") != fresh["config_hash"]:
            other = str(old.get("config_hash"))[:12]
            raise DatasetError(
                f"dataset folder {path} belongs to another config (hash {other}… instead of "
                f"{fresh['config_hash'][:12]}…): use another output folder or force a rebuild"
            )
        stale = [key for key in _CONTENT_FIELDS if old.get(key) != fresh[key]]
        if stale:
            logger.warning(
                "dataset %s was written with other %s: regenerating it", path, ", ".join(stale)
            )
            _clear_folder(path)
            return None
        if old.get("config") != fresh["config"]:  # same hash, so only a hand edit can do this
            old["config"] = fresh["config"]
        old.setdefault("summary", {})
        old["complete"] = bool(old.get("complete", False))
        return old

    # ---------------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The dataset folder (the one holding ``manifest.json``)."""
        return self._path

    @property
    def manifest(self) -> dict[str, Any]:
        """A copy of the current manifest."""
        return copy.deepcopy(self._manifest)

    @property
    def config_hash(self) -> str:
        """SHA-256 hex digest of the config."""
        return str(self._manifest["config_hash"])

    @property
    def expected_chunks(self) -> list[str]:
        """Relative paths of every chunk of the complete dataset."""
        return list(self._manifest["expected_chunks"])

    def chunk_path(self, relpath: str) -> Path:
        """Absolute path of a chunk given its path relative to the dataset folder."""
        return self._path / _check_relpath(relpath)

    # ---------------------------------------------------------------------------------------------
    def _save(self) -> None:
        atomic_write_json(self._path / MANIFEST_NAME, self._manifest)

    def _drop(self, relpath: str, *, delete_file: bool) -> None:
        """Unregister a chunk (and mark the dataset incomplete), saving the manifest."""
        self._manifest["chunks"].pop(relpath, None)
        self._manifest["complete"] = False
        self._save()
        if delete_file:
            with contextlib.suppress(FileNotFoundError):
                (self._path / relpath).unlink()

    def _verify(self, relpath: str, entry: Mapping[str, Any]) -> str | None:
        """Return why a registered chunk is bad, or None if its file matches the manifest."""
        fpath = self._path / relpath
        try:
            size = fpath.stat().st_size
        except FileNotFoundError:
            return "file missing"
        if size != entry.get("bytes"):
            return f"size {size} instead of {entry.get('bytes')}"
        if file_sha256(fpath) != entry.get("sha256"):
            return "checksum mismatch"
        return None

    def chunk_done(self, relpath: str) -> bool:
        """Whether a chunk is finished: registered, present and matching its checksum.

        A bad chunk is repaired so that it can be recomputed: a file whose checksum (or size) does
        not match is deleted and unregistered with a WARNING; a registered chunk whose file is gone
        is unregistered with a WARNING; a file present but not registered (the run was killed
        between writing it and registering it) is deleted.
        """
        _check_relpath(relpath)
        entry = self._manifest["chunks"].get(relpath)
        fpath = self._path / relpath
        if entry is None:
            if fpath.exists():
                logger.info(
                    "deleting unregistered chunk %s (interrupted run); will regenerate", fpath
                )
                fpath.unlink()
            return False
        problem = self._verify(relpath, entry)
        if problem is None:
            return True
        if problem == "file missing":
            logger.warning("chunk %s is missing, will regenerate", fpath)
        else:
            logger.warning("chunk %s: %s, will regenerate", fpath, problem)
        self._drop(relpath, delete_file=True)
        return False

    def register_chunk(self, relpath: str, info: ChunkInfo) -> None:
        """Record a written chunk in the manifest (atomically). Call from the parent process only.

        Raises
        ------
        ValueError
            If the chunk file is not in place or its size differs from ``info.bytes``.
        """
        fpath = self.chunk_path(relpath)
        try:
            size = fpath.stat().st_size
        except FileNotFoundError:
            raise ValueError(f"cannot register chunk {relpath}: {fpath} does not exist") from None
        if size != info.bytes:
            raise ValueError(
                f"cannot register chunk {relpath}: {size} bytes, info says {info.bytes}"
            )
        self._manifest["chunks"][relpath] = asdict(info)
        self._save()

    def is_complete(self) -> bool:
        """Whether the dataset is finished and intact (a cache hit).

        True when the manifest says complete and every expected chunk is registered, present and
        matches its size and SHA-256. A chunk that does not is dropped from the manifest (and its
        file deleted) with a WARNING naming it, and the dataset becomes incomplete.
        """
        if not self._manifest.get("complete"):
            return False
        ok = True
        for relpath in self._manifest["expected_chunks"]:
            entry = self._manifest["chunks"].get(relpath)
            if entry is None:
                logger.warning("chunk %s is not registered, will regenerate", self._path / relpath)
                ok = False
                continue
            problem = self._verify(relpath, entry)
            if problem is not None:
                logger.warning("chunk %s: %s, will regenerate", self._path / relpath, problem)
                self._manifest["chunks"].pop(relpath, None)
                with contextlib.suppress(FileNotFoundError):
                    (self._path / relpath).unlink()
                ok = False
        if not ok:
            self._manifest["complete"] = False
            self._save()
        return ok

    def missing_chunks(self) -> list[str]:
        """Expected chunks not registered yet, in the order of ``expected_chunks``."""
        chunks = self._manifest["chunks"]
        return [rel for rel in self._manifest["expected_chunks"] if rel not in chunks]

    def finalize(self, summary: dict[str, Any]) -> None:
        """Mark the dataset complete with its (deterministic) summary, atomically.

        Parameters
        ----------
        summary : dict
            Rows, actions, share of targets above 1.0, diverged count, ...: nothing that varies
            between identical runs (wall times go to :meth:`append_run_log`).

        Raises
        ------
        ValueError
            If an expected chunk is not registered, or ``summary`` holds NaN.
        """
        missing = self.missing_chunks()
        if missing:
            raise ValueError(
                f"cannot finalize {self._path}: {len(missing)} chunk(s) not registered, "
                f"first {missing[0]}"
            )
        summary = json.loads(canonical_json(summary))
        self._manifest["summary"] = summary
        self._manifest["complete"] = True
        self._save()

    def append_run_log(self, record: dict[str, Any]) -> None:
        """Append one JSON line to ``runs.jsonl`` (not covered by the byte-identity promise).

        Non-finite floats become ``null`` so every line stays valid JSON.
        """
        line = json.dumps(json_safe(record), sort_keys=True, ensure_ascii=False, default=str)
        with open(self._path / RUN_LOG_NAME, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def __repr__(self) -> str:
        state = "complete" if self._manifest.get("complete") else "incomplete"
        return f"DatasetStore({str(self._path)!r}, {state})"
