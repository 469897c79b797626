"""Finished chunks of a reward table on disk: what makes an interrupted Oracle resume.

One ``.npy`` file per chunk of actions, in a folder named by a hash of everything that
determines the table (environment, reward, episode, actions, versions): a later run with the same
inputs reads the chunks found there instead of solving them again; other inputs, another folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from gridoracle.io import atomic_write_bytes

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
