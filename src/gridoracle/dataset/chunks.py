"""Chunk files of a dataset: their paths, their deterministic Parquet writer, their checksum.

Pure functions, safe in worker processes: :func:`write_chunk_file` writes one file atomically
and returns its :class:`ChunkInfo`, which the parent registers in the manifest
(:meth:`gridoracle.dataset.store.DatasetStore.register_chunk`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gridoracle.io import atomic_path, file_sha256

__all__ = [
    "PARQUET_OPTIONS",
    "RHO_PREFIX",
    "STATUS_PREFIX",
    "ChunkInfo",
    "arrow_table",
    "states_relpath",
    "targets_relpath",
    "write_chunk_file",
]

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


def arrow_table(df: pd.DataFrame) -> pa.Table:
    """The Arrow table of a chunk: ``pa.Table.from_pandas`` without index or pandas metadata.

    Columns of plain NumPy dtypes are converted one by one (``pa.array(..., from_pandas=True)``:
    the same types and nulls); pyarrow's whole-frame conversion costs several times more, most
    of all on its first call in a process (a tenth of a second). Frames with other dtypes
    (pandas extension types) or no rows go through :func:`arrow_table_pandas`, the reference
    the tests compare this with.
    """
    if len(df) == 0 or not all(isinstance(dtype, np.dtype) for dtype in df.dtypes):
        return arrow_table_pandas(df)
    arrays = [pa.array(df[name].to_numpy(), from_pandas=True) for name in df.columns]
    return pa.Table.from_arrays(arrays, names=[str(name) for name in df.columns])


def arrow_table_pandas(df: pd.DataFrame) -> pa.Table:
    """``pa.Table.from_pandas`` without index and with the pandas metadata dropped."""
    return pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)


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
    table = arrow_table(df)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)
        digest = file_sha256(tmp)
        size = tmp.stat().st_size
    return ChunkInfo(rows=int(table.num_rows), sha256=digest, bytes=int(size))
