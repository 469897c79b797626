"""The foundation every writer uses: atomic files, canonical JSON, checksums and version stamps.

Nothing here knows about datasets, models or the Oracle; every module that writes a file or
stamps an artifact comes here, so there is one way to do each of these things:

- **Atomic writes** (:func:`atomic_write_bytes`, :func:`atomic_write_text`,
  :func:`atomic_write_json`, and :func:`atomic_path` for writers that want a path of their own):
  the data goes to a hidden temporary file in the same folder (``.<name>.<random>.tmp``), is
  flushed with ``fsync``, renamed over the final name and the folder is synced. Readers see the old
  file or the whole new one; on any failure the temporary file is removed and the target is
  untouched. New files get the usual mode (0o666 less the umask).
- **Canonical JSON** (:func:`canonical_json`, :func:`config_hash`): sorted keys, compact, UTF-8, no
  NaN; the same content always gives the same bytes. :func:`json_safe` turns NumPy values, paths,
  tuples and non-finite floats into what strict JSON can hold.
- **Checksums** (:func:`file_sha256`) and **version stamps** (:func:`versions`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "canonical_json",
    "check_writable",
    "config_hash",
    "file_sha256",
    "json_bytes",
    "json_default",
    "json_safe",
    "versions",
]

_BLOCK = 1 << 20

#: the packages whose versions stamp a dataset or an Oracle result (a model adds its own)
CORE_PACKAGES: tuple[str, ...] = ("grid2op", "lightsim2grid", "numpy", "pandas", "pyarrow")


# --------------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------------


def json_default(obj: Any) -> Any:
    """Encode NumPy scalars and arrays as their Python equivalents (anything else is an error)."""
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def json_safe(obj: Any, fallback: Any = None) -> Any:
    """``obj`` with only what strict JSON holds: NaN and infinities become ``None``.

    NumPy scalars become Python ones, arrays and tuples lists, paths strings, mapping keys
    strings. Any other object is returned as it is, or as ``fallback(obj)`` when given (e.g.
    ``repr``).

    Examples
    --------
    >>> json_safe({"a": float("nan"), 1: (np.int64(2), Path("x"))})
    {'a': None, '1': [2, 'x']}
    >>> json_safe(object(), fallback=lambda o: "?")
    '?'
    """
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v, fallback) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [json_safe(v, fallback) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj if fallback is None else fallback(obj)


def canonical_json(obj: Any) -> bytes:
    """Serialize ``obj`` to canonical JSON: sorted keys, compact separators, UTF-8, no NaN.

    Two equal objects always give the same bytes, which makes the result fit for hashing.

    Parameters
    ----------
    obj : Any
        JSON-compatible value (NumPy scalars and arrays are accepted and converted).

    Returns
    -------
    bytes
        The UTF-8 encoded JSON text.

    Raises
    ------
    ValueError
        If ``obj`` contains NaN or an infinity (they have no JSON spelling).

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [1.5, "é"]})
    b'{"a":[1.5,"\\xc3\\xa9"],"b":1}'
    """
    text = json.dumps(
        obj,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=json_default,
    )
    return text.encode("utf-8")


def json_bytes(obj: Any) -> bytes:
    """Deterministic, readable JSON: sorted keys, indent 2, UTF-8, no NaN, a final newline.

    Raises
    ------
    ValueError
        If ``obj`` contains NaN or an infinity.
    """
    text = json.dumps(
        obj,
        sort_keys=True,
        indent=2,
        ensure_ascii=False,
        allow_nan=False,
        default=json_default,
    )
    return (text + "\n").encode("utf-8")


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON of ``config`` (key order does not matter).

    Examples
    --------
    >>> config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    True
    >>> len(config_hash({}))
    64
    """
    return hashlib.sha256(canonical_json(dict(config))).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def versions(*packages: str) -> dict[str, str]:
    """Versions of what produced an artifact: gridoracle, Python and ``packages``.

    Without ``packages``, :data:`CORE_PACKAGES`. A package that is not installed is recorded as
    ``"not installed"``.
    """
    from gridoracle import __version__

    out = {"gridoracle": __version__, "python": sys.version.split()[0]}
    for pkg in packages or CORE_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[pkg] = "not installed"
    return out


# --------------------------------------------------------------------------------------------------
# Atomic files
# --------------------------------------------------------------------------------------------------


def fsync_dir(folder: Path) -> None:
    """Persist a rename in ``folder`` (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file (0o666 less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _temp_path(path: Path) -> Path:
    """Create and return a new empty temporary file next to ``path`` (``.<name>.<random>.tmp``).

    ``mkstemp`` creates it readable by its owner only; it gets the usual mode of a new file, so
    that the published file is as readable as any other the user writes.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode())
    finally:
        os.close(fd)
    return Path(tmp)


def _publish(tmp: Path, path: Path) -> None:
    """fsync ``tmp``, rename it over ``path`` and fsync the folder; remove ``tmp`` on failure."""
    try:
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path`` to write by any means; published when the block ends.

    For writers that want a file name of their own (networkx, pyarrow, matplotlib). On leaving the
    block without an exception the file is fsynced and renamed over ``path``; on an exception it
    is removed and ``path`` is untouched. The parent folder must exist.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "a.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (folder / "a.txt").read_text()
    'hello'
    """
    path = Path(path)
    tmp = _temp_path(path)
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _publish(tmp, path)


def check_writable(folder: Path) -> None:
    """Raise the :class:`OSError` that writing a new file in ``folder`` would raise, if any.

    Creates an empty temporary file there and removes it: a read-only or missing folder fails
    here, before any work, rather than after it.
    """
    _temp_path(Path(folder) / "check").unlink()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or all of the new one.

    The bytes go to a temporary file in the same folder (named ``.<name>.<random>.tmp``), which is
    flushed with ``fsync`` and renamed over ``path`` with :func:`os.replace`. The parent folder must
    exist. On any failure the temporary file is removed and ``path`` is untouched.
    """
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8, atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` atomically as deterministic JSON (:func:`json_bytes`).

    Raises
    ------
    ValueError
        If ``obj`` contains NaN or an infinity.
    """
    atomic_write_bytes(Path(path), json_bytes(obj))
