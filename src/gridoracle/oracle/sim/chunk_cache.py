"""Finished work of the Oracle on disk: what makes an interrupted Oracle resume.

- :class:`ChunkCache`: one ``.npy`` file per chunk of actions of the reward table, in a folder
  named by a hash of everything that determines the table (environment, reward, episode,
  actions, versions): a later run with the same inputs reads the chunks found there instead of
  solving them again; other inputs, another folder.
- :class:`RunCache`: one ``.npz`` file per grid2op run (the main runs and the multiverse runs of
  an environment with an opponent), in a folder named by a hash of what every run of the
  episode shares, the file named by a hash of what decides that run. Each file also holds the
  whole key it was written for; one whose key differs, or that cannot be read back whole, is
  run again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from gridoracle.io import atomic_write_bytes, canonical_json, config_hash

T = TypeVar("T")

log = logging.getLogger(__name__)

#: what one chunk holds: rewards (float64), overload flags (int8) and the ok mask (bool)
Chunk = tuple[np.ndarray, np.ndarray, np.ndarray]


class ChunkCache:
    """Finished chunks of a reward table, one ``.npy`` file each, in a folder named by its key.

    A file holds a float64 array of shape (3, T, n): rewards, overload flags and the ok mask of
    the chunk's n actions. It is written atomically; one that cannot be read back is solved again.

    Parameters
    ----------
    root : Path
        The cache folder (``<output>/.cache``); the chunks go to ``root/rewards-<hash>``.
    key : dict
        Everything that determines the table, JSON-serializable.
    """

    def __init__(self, root: Path, key: dict[str, Any]) -> None:
        text = json.dumps(key, sort_keys=True, separators=(",", ":"), allow_nan=False)
        self.folder = root / f"rewards-{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    def _path(self, start: int, stop: int) -> Path:
        return self.folder / f"actions_{start:06d}-{stop:06d}.npy"

    def read(self, start: int, stop: int, n_steps: int) -> Chunk | None:
        """The chunk of actions ``start:stop`` if it is there and readable, else None."""
        path = self._path(start, stop)
        if not path.is_file():
            return None
        try:
            data = np.load(path, allow_pickle=False)
            if data.shape != (3, n_steps, stop - start) or data.dtype != np.float64:
                raise ValueError(f"shape {data.shape}, dtype {data.dtype}")
        except (OSError, ValueError) as exc:
            log.warning("cached reward chunk %s is unreadable (%s): solving it again", path, exc)
            return None
        return data[0], data[1].astype(np.int8), data[2] != 0

    def write(
        self, start: int, stop: int, rewards: np.ndarray, flags: np.ndarray, ok: np.ndarray
    ) -> None:
        """Keep the chunk of actions ``start:stop`` (atomically)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        stacked = np.stack([rewards, flags.astype(np.float64), ok.astype(np.float64)])
        np.save(buffer, stacked, allow_pickle=False)
        atomic_write_bytes(self._path(start, stop), buffer.getvalue())


#: what a run file holds besides its arrays (a JSON text, as uint8 bytes)
_META = "meta"


class RunCache:
    """Finished grid2op runs, one ``.npz`` file each (atomic), in a folder named by ``key``.

    A run is named by its own key (``unit``: what decides that run beyond ``key``, e.g. the
    action and the window). Its file ``<kind>-<hash>.npz`` holds float64 arrays (the run's
    rewards, flags...) and a JSON text: the whole key (``key`` and ``unit``) and what the run
    returned besides its arrays. Reading checks the zip's CRCs, the dtypes and the stored key;
    anything wrong and :meth:`read` returns None with a warning naming the file: the run is
    done again, never trusted.

    Parameters
    ----------
    root : Path
        The cache folder (``<output>/.cache``); the runs go to ``root/<prefix>-<hash>``.
    key : dict
        What every run of the folder shares (environment, rules, episode, versions),
        JSON-serializable.
    prefix : str
        The folder's name before its hash.

    Examples
    --------
    >>> import tempfile
    >>> cache = RunCache(Path(tempfile.mkdtemp()), {"env": "x"})
    >>> cache.write("main", {"action": {}}, {"rewards": np.arange(3.0)}, {"why": ""})
    >>> cache.read("main", {"action": {}}, lambda arrays, meta: arrays["rewards"].tolist())
    [0.0, 1.0, 2.0]
    >>> cache.read("main", {"action": {"a": 1}}, lambda arrays, meta: 0) is None
    True
    """

    def __init__(self, root: Path, key: Mapping[str, Any], prefix: str = "opponent") -> None:
        self.key = dict(key)
        digest = config_hash(self.key)[:16]
        self.folder = Path(root) / f"{prefix}-{digest}"

    def _full_key(self, kind: str, unit: Mapping[str, Any]) -> dict[str, Any]:
        return {"folder": self.key, "kind": kind, "unit": dict(unit)}

    def path(self, kind: str, unit: Mapping[str, Any]) -> Path:
        """The file of the run ``unit`` of ``kind``."""
        digest = config_hash(self._full_key(kind, unit))[:24]
        return self.folder / f"{kind}-{digest}.npz"

    def read(
        self,
        kind: str,
        unit: Mapping[str, Any],
        decode: Callable[[dict[str, np.ndarray], Any], T],
    ) -> T | None:
        """``decode(arrays, meta)`` of the run kept for ``unit``, or None (not there, or bad).

        ``decode`` checks what it reads and raises :class:`ValueError` (or ``KeyError``,
        ``TypeError``) on anything unexpected: that run is then done again too.
        """
        path = self.path(kind, unit)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            stored = json.loads(bytes(arrays.pop(_META)).decode("utf-8"))
            if stored.get("key") != json.loads(canonical_json(self._full_key(kind, unit))):
                raise ValueError("it was written for another run")
            for name, array in arrays.items():
                if array.dtype != np.float64:
                    raise ValueError(f"array {name!r} has dtype {array.dtype}")
            return decode(arrays, stored.get("meta"))
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("cached run %s is unreadable (%s): running it again", path, exc)
            return None

    def write(
        self,
        kind: str,
        unit: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray],
        meta: Any = None,
    ) -> None:
        """Keep the run ``unit`` of ``kind``: its arrays (as float64) and ``meta`` (JSON)."""
        if _META in arrays:
            raise ValueError(f"an array may not be named {_META!r}")
        self.folder.mkdir(parents=True, exist_ok=True)
        text = canonical_json({"key": self._full_key(kind, unit), "meta": meta})
        payload: dict[str, Any] = {n: np.asarray(a, dtype=np.float64) for n, a in arrays.items()}
        payload[_META] = np.frombuffer(text, dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **payload)  # numeric arrays only: nothing is pickled
        atomic_write_bytes(self.path(kind, unit), buffer.getvalue())
