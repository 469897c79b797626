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
  checksum is deleted and reported as not done, so the generator recomputes it. The manifest
  records the SHA-256 of its own content (``manifest_sha256``, see
  :mod:`gridoracle.dataset.manifest`): one edited by hand is refused.
- **Never destroyed up front.** Nothing is written before :meth:`DatasetStore.prepare` (a cache
  hit only reads), and a forced rebuild keeps every old chunk registered until its new file
  lands in its place.
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
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Any

from gridoracle.dataset.chunks import (
    PARQUET_OPTIONS,
    RHO_PREFIX,
    STATUS_PREFIX,
    ChunkInfo,
    states_relpath,
    targets_relpath,
    write_chunk_file,
)
from gridoracle.dataset.manifest import FORMAT, MANIFEST_NAME, checksum_problem, signed
from gridoracle.errors import DatasetError, OutputError
from gridoracle.io import (
    atomic_write_bytes,
    atomic_write_json,
    canonical_json,
    check_writable,
    config_hash,
    file_sha256,
    json_safe,
)

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "PARQUET_OPTIONS",
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
    "output_error",
    "states_relpath",
    "targets_relpath",
    "write_chunk_file",
]

logger = logging.getLogger(__name__)

RUN_LOG_NAME = "runs.jsonl"
_LABEL_BAD = re.compile(r"[^A-Za-z0-9._-]+")
# Manifest fields that must match for an existing folder to be resumed rather than rebuilt.
_CONTENT_FIELDS = ("format", "versions", "actions", "feature_columns", "expected_chunks")


# --------------------------------------------------------------------------------------------------
# Names
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


def output_error(root: Path, exc: OSError) -> OutputError:
    """The one-line error of a failed write under ``root`` (a full disk, a read-only folder)."""
    reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    where = exc.filename if exc.filename else root
    return OutputError(f"cannot write the dataset under output folder {root}: {reason} ({where})")


def _resumable_manifest(path: Path, fresh: dict[str, Any], force: bool) -> dict[str, Any] | None:
    """The existing manifest of ``path`` to resume, or None (none, or stale: logged)."""
    mpath = path / MANIFEST_NAME
    if not mpath.exists():
        return None
    try:
        old = json.loads(mpath.read_text(encoding="utf-8"))
        if not isinstance(old, dict) or not isinstance(old.get("chunks"), dict):
            raise ValueError("not a manifest object")
    except (ValueError, UnicodeDecodeError) as exc:
        logger.warning("unreadable manifest %s (%s): regenerating the dataset", mpath, exc)
        return None
    problem = checksum_problem(old)
    if problem is not None:
        logger.warning("manifest %s: %s; regenerating the dataset", mpath, problem)
        return None
    if old.get("config_hash") != fresh["config_hash"]:
        if force:
            return None
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
        return None
    old.setdefault("summary", {})
    old["complete"] = bool(old.get("complete", False))
    return old


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
        self._reset = False  # prepare() empties the folder (its content is of no use)
        self._rebuild: set[str] = set()  # chunks to recompute although registered (force)

    # ---------------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls, root: Path, label: str, config: dict[str, Any], versions: dict[str, Any], **layout: Any
    ) -> DatasetStore:
        """Open (creating if needed) the folder of the dataset defined by ``config`` under ``root``.

        :meth:`plan` then :meth:`prepare`: the parameters (``layout``: ``actions``,
        ``feature_columns``, ``expected_chunks``, ``force``) and the errors are :meth:`plan`'s.

        Returns
        -------
        DatasetStore
        """
        store = cls.plan(root, label, config, versions, **layout)
        store.prepare()
        return store

    @classmethod
    def plan(
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
        """The store of the dataset ``config`` under ``root``, read but not written yet.

        Nothing is written until :meth:`prepare`, so that a caller can check what may fail
        before work starts (and serve a cache hit from storage it cannot write): an existing
        folder with the same config hash is resumed (:meth:`is_complete` tells a cache hit).

        Parameters
        ----------
        root : Path
            Output folder; created with its parents (by :meth:`prepare`) if missing.
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
            Recompute every chunk (see the notes).

        Raises
        ------
        OutputError
            If ``root`` or the dataset folder is a file, or cannot be read.
        DatasetError
            If the folder holds the manifest of another config (hash collision on the folder
            name), unless ``force``.

        Notes
        -----
        With ``force``, every chunk is recomputed, but an intact dataset is not deleted: each old
        chunk stays registered until its new file lands. A manifest written by other package
        versions, or listing other actions, features or chunks, or unreadable, or not matching
        its checksum, is a stale cache: a WARNING is logged and :meth:`prepare` empties the
        folder.
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
        if path.exists() and not path.is_dir():
            raise OutputError(f"cannot write the dataset to {path}: it is a file, not a folder")
        try:
            old = _resumable_manifest(path, fresh, force)
        except OSError as exc:
            raise output_error(root, exc) from exc
        store = cls(path, fresh if old is None else old)
        if old is None:
            store._reset = (path / MANIFEST_NAME).exists()
        elif force:
            logger.info("forced rebuild of %s: each chunk is replaced as it lands", path)
            store._rebuild = set(expected_chunks)
        return store

    def prepare(self) -> None:
        """Make the folder ready for writing: created, emptied if stale, checked writable.

        Writes the manifest of a new (or stale) dataset and removes temporary files left by a
        killed run.

        Raises
        ------
        OutputError
            If the output folder or the dataset folder cannot be created or written.
        """
        root = self._path.parent
        try:
            root.mkdir(parents=True, exist_ok=True)
            self._path.mkdir(exist_ok=True)
            if self._reset:
                logger.info("emptying %s: its content is no dataset of this config", self._path)
                _clear_folder(self._path)
                self._reset = False
            self._remove_temp_files(self._path)
            if not (self._path / MANIFEST_NAME).exists():
                self._save()
            else:
                check_writable(self._path)
        except OutputError:
            raise
        except OSError as exc:
            raise output_error(root, exc) from exc

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
        signed(self._manifest)
        try:
            atomic_write_json(self._path / MANIFEST_NAME, self._manifest)
        except OSError as exc:
            raise output_error(self._path, exc) from exc

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
        if relpath in self._rebuild:
            return False  # forced: recomputed, and kept registered until its new file lands
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
        entry = asdict(info)
        if self._manifest["chunks"].get(relpath) != entry:
            self._manifest["complete"] = False  # other content: complete again when finalized
        self._manifest["chunks"][relpath] = entry
        self._rebuild.discard(relpath)
        self._save()

    def is_complete(self) -> bool:
        """Whether the dataset is finished and intact (a cache hit).

        True when the manifest says complete and every expected chunk is registered, present and
        matches its size and SHA-256. A chunk that does not is dropped from the manifest (and its
        file deleted) with a WARNING naming it, and the dataset becomes incomplete. False while a
        forced rebuild has chunks to recompute.
        """
        if not self._manifest.get("complete") or self._rebuild:
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
        missing = self.missing_chunks() or sorted(self._rebuild)
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

        Non-finite floats become ``null`` so every line stays valid JSON. On storage this process
        cannot write (a cache hit on a read-only or shared folder) the line is skipped with one
        WARNING: the log records runs, the dataset does not depend on it.
        """
        line = json.dumps(json_safe(record), sort_keys=True, ensure_ascii=False, default=str)
        log_path = self._path / RUN_LOG_NAME
        try:
            with open(log_path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            logger.warning("this run is not recorded in %s: %s", log_path, reason)

    def __repr__(self) -> str:
        state = "complete" if self._manifest.get("complete") else "incomplete"
        return f"DatasetStore({str(self._path)!r}, {state})"
