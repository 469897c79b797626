"""Read a finished dataset folder into memory: :func:`load` and :class:`Dataset`.

The folder layout is described in :mod:`gridoracle.dataset.store`. Loading checks that the dataset
is complete and that every chunk matches the size and SHA-256 recorded in its manifest, so a model
is never trained on half-written or corrupted data.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gridoracle.dataset.manifest import checksum_problem, describe
from gridoracle.dataset.split import split as _split
from gridoracle.dataset.store import FORMAT, MANIFEST_NAME, RHO_PREFIX, STATUS_PREFIX
from gridoracle.errors import DatasetError, GridOracleError

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "META_COLUMNS",
    "RHO_PREFIX",
    "STATE_META_COLUMNS",
    "STATUS_PREFIX",
    "Dataset",
    "find_dataset",
    "load",
    "read_json_document",
    "read_verified",
]

META_COLUMNS = ("chronic", "step")
#: metadata of states not from a do-nothing episode (see dataset.features), with their value for
#: a dataset that has no such column; never features
STATE_META_COLUMNS = {"state_source": "episode", "base_actions": "", "line_out": -1}

_STATES_RE = re.compile(r"^states/chronic_(\d+)\.parquet$")
_TARGETS_RE = re.compile(r"^targets/chronic_(\d+)/[^/]+\.parquet$")
_RERUN = "rerun the same `gridoracle generate` command to regenerate it"


@dataclass
class Dataset:
    """A loaded dataset: features, targets and metadata of every visited state, row-aligned.

    Attributes
    ----------
    X : pandas.DataFrame
        Feature columns only (names from the manifest), index a RangeIndex over all rows; rows are
        ordered by chronic, then step.
    Y : pandas.DataFrame
        Max rho after each action, one float64 column per action name in catalogue order; NaN where
        it could not be computed (see ``status``).
    status : pandas.DataFrame
        int8, same shape and columns as ``Y``: 0 ok, 1 diverged / game over, 2 illegal.
    rho : dict of str to numpy.ndarray or None
        Full rho vector after each action, shape ``(rows, n_line)``, float32; only when the dataset
        was generated with full targets.
    meta : pandas.DataFrame
        Columns ``chronic`` and ``step`` (int32) of each row.
    actions : list of dict
        The action catalogue (``name``, ``kind``, ``grid2op``), in column order of ``Y``.
    manifest : dict
        The dataset's manifest (config, versions, checksums, summary).
    path : Path
        The dataset folder.
    rho_lines : list of str or None
        Line identifiers of the columns of each ``rho`` array.

    Examples
    --------
    >>> ds = load("data/l2rpn_case14_sandbox-0123456789ab")  # doctest: +SKIP
    >>> train, test = ds.split(by="chronic", test_fraction=0.25, seed=0)  # doctest: +SKIP
    """

    X: pd.DataFrame
    Y: pd.DataFrame
    status: pd.DataFrame
    rho: dict[str, np.ndarray] | None
    meta: pd.DataFrame
    actions: list[dict[str, Any]]
    manifest: dict[str, Any]
    path: Path
    rho_lines: list[str] | None = field(default=None)

    def __len__(self) -> int:
        return len(self.X)

    @property
    def action_names(self) -> list[str]:
        """Names of the actions, in the column order of ``Y``."""
        return [str(c) for c in self.Y.columns]

    @property
    def chronics(self) -> list[int]:
        """Sorted chronic indices present in this dataset."""
        return sorted(int(c) for c in pd.unique(self.meta["chronic"]))

    def select(self, mask_or_index: Any) -> Dataset:
        """Return the subset of rows given by a boolean mask, integer positions or a slice.

        Parameters
        ----------
        mask_or_index : array-like of bool, array-like of int or slice
            A boolean mask of length ``len(self)``, or row positions (0-based, in the order wanted).

        Returns
        -------
        Dataset
            The selected rows, re-indexed from 0; actions, manifest and path are shared.
        """
        n = len(self)
        if isinstance(mask_or_index, slice):
            positions = np.arange(n)[mask_or_index]
        else:
            arr = np.asarray(mask_or_index)
            if arr.dtype == bool:
                if arr.shape != (n,):
                    raise ValueError(f"boolean mask of shape {arr.shape} for {n} rows")
                positions = np.flatnonzero(arr)
            elif arr.size == 0:
                positions = np.zeros(0, dtype=np.intp)
            elif np.issubdtype(arr.dtype, np.integer):
                positions = arr.astype(np.intp).ravel()
                if positions.min() < 0 or positions.max() >= n:
                    raise IndexError(f"row positions out of range for {n} rows")
            else:
                raise TypeError(f"cannot select rows with an array of dtype {arr.dtype}")

        def take(frame: pd.DataFrame) -> pd.DataFrame:
            return frame.iloc[positions].reset_index(drop=True)

        rho = None if self.rho is None else {k: v[positions] for k, v in self.rho.items()}
        return Dataset(
            X=take(self.X),
            Y=take(self.Y),
            status=take(self.status),
            rho=rho,
            meta=take(self.meta),
            actions=self.actions,
            manifest=self.manifest,
            path=self.path,
            rho_lines=self.rho_lines,
        )

    split = _split
    """Split into (train, test) by chronic or by time: :func:`gridoracle.dataset.split`."""

    def __repr__(self) -> str:
        return (
            f"Dataset({len(self)} rows, {self.X.shape[1]} features, {self.Y.shape[1]} actions, "
            f"chronics {self.chronics}, path={str(self.path)!r})"
        )


# --------------------------------------------------------------------------------------------------


def find_dataset(
    path: str | Path, *, horizon: int | None = None, config_hash: str | None = None
) -> Path:
    """Resolve ``path`` to a dataset folder (the one holding ``manifest.json``).

    Accepts the dataset folder itself, its ``manifest.json``, or an output folder holding one
    dataset folder, or several of which ``horizon`` and ``config_hash`` (a prefix of the hash is
    enough) pick one.

    Raises
    ------
    DatasetError
        If ``path`` does not exist or holds no dataset; if it holds several and the choice does
        not pick exactly one (the message lists them: folder, environment, horizon, config hash,
        chronics); if the dataset folder given is not the one chosen.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetError(f"dataset path {p} does not exist")
    if p.is_file():
        if p.name != MANIFEST_NAME:
            raise DatasetError(f"{p} is not a dataset: expected a folder holding {MANIFEST_NAME}")
        p = p.parent
    if (p / MANIFEST_NAME).is_file():
        found = [p]
    else:
        try:
            found = sorted(c for c in p.iterdir() if c.is_dir() and (c / MANIFEST_NAME).is_file())
        except OSError as exc:
            raise DatasetError(f"cannot read dataset folder {p}: {exc.strerror}") from exc
        if not found:
            raise DatasetError(
                f"{p} is not a dataset: no {MANIFEST_NAME} in it or in its sub-folders"
            )
    if len(found) == 1 and horizon is None and config_hash is None:
        return found[0]
    return _choose(p, found, horizon, config_hash)


def _peek(folder: Path) -> dict[str, Any] | None:
    """The manifest of ``folder`` as JSON, unchecked (None when it cannot be read)."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _choose(
    root: Path, found: Sequence[Path], horizon: int | None, config_hash: str | None
) -> Path:
    """The one dataset of ``found`` of this horizon and config hash prefix, or DatasetError."""
    manifests = {folder: _peek(folder) for folder in found}
    prefix = None if config_hash is None else str(config_hash).strip().lower()

    def config(folder: Path) -> dict[str, Any]:
        value = (manifests[folder] or {}).get("config")
        return value if isinstance(value, dict) else {}

    def fits(folder: Path) -> bool:
        if horizon is not None and config(folder).get("horizon") != horizon:
            return False
        chash = str((manifests[folder] or {}).get("config_hash", ""))
        return prefix is None or chash.startswith(prefix)

    chosen = [folder for folder in found if fits(folder)]
    if len(chosen) == 1:
        return chosen[0]
    if len(found) == 1:  # the dataset folder itself, of another horizon or hash
        folder = found[0]
        if horizon is not None and config(folder).get("horizon") != horizon:
            got = config(folder).get("horizon")
            raise DatasetError(f"dataset {folder} has horizon {got}, not {horizon}")
        raise DatasetError(f"dataset {folder} has no config hash starting with {prefix}")
    wanted = " and ".join(
        [f"horizon {horizon}"] * (horizon is not None)
        + [f"a config hash starting with {prefix}"] * (prefix is not None)
    )
    if not wanted:
        head, listed = f"{root} holds {len(found)} datasets", found
    elif chosen:
        head, listed = f"{len(chosen)} datasets under {root} have {wanted}", chosen
    else:
        head, listed = f"no dataset under {root} has {wanted}; it holds", found
    described = "; ".join(describe(folder, manifests[folder]) for folder in listed)
    how = "pass the dataset's own folder, or choose one by horizon and config hash (a prefix)"
    raise DatasetError(f"{head}: {described}; {how}")


def read_json_document(
    path: Path,
    *,
    fmt: str,
    required: Sequence[str],
    what: str,
    kind: str,
    error: type[GridOracleError],
) -> dict[str, Any]:
    """A JSON object of format ``fmt`` holding the fields ``required``, or ``error``.

    ``what`` names the file in messages ("dataset manifest"), ``kind`` is what it is not when the
    format differs ("a gridoracle dataset manifest").
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise error(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != fmt:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise error(f"{path} is not {kind} (format {found!r})")
    missing = [k for k in required if k not in document]
    if missing:
        raise error(f"{what} {path} lacks field(s) {', '.join(missing)}")
    return document


def read_verified(
    path: Path,
    entry: Mapping[str, Any] | None,
    *,
    what: str,
    missing: str,
    corrupted: str,
    error: type[GridOracleError],
) -> bytes:
    """The bytes of ``path`` when their size and SHA-256 are those ``entry`` records, or ``error``.

    The messages: ``"<what> <path> is missing<missing>"``, ``"cannot read <what> <path>: ..."``
    and ``"<what> <path> is corrupted<corrupted>"`` (also without an ``entry``).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} {path} is missing{missing}") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from exc
    if (
        not isinstance(entry, Mapping)
        or len(data) != entry.get("bytes")
        or hashlib.sha256(data).hexdigest() != entry.get("sha256")
    ):
        raise error(f"{what} {path} is corrupted{corrupted}")
    return data


def _read_manifest(folder: Path) -> dict[str, Any]:
    manifest = read_json_document(
        folder / MANIFEST_NAME,
        fmt=FORMAT,
        required=("actions", "feature_columns", "chunks", "expected_chunks", "complete"),
        what="dataset manifest",
        kind="a gridoracle dataset manifest",
        error=DatasetError,
    )
    problem = checksum_problem(manifest)
    if problem is not None:
        raise DatasetError(
            f"dataset manifest {folder / MANIFEST_NAME} is refused: {problem}; {_RERUN}"
        )
    return manifest


def _read_chunk(folder: Path, relpath: str, entry: dict[str, Any] | None) -> pa.Table:
    """Read one chunk after checking its size and SHA-256 against the manifest."""
    fpath = folder / relpath
    if entry is None:
        raise DatasetError(f"chunk {fpath} is not registered in the manifest; {_RERUN}")
    data = read_verified(
        fpath,
        entry,
        what="chunk",
        missing=f"; {_RERUN}",
        corrupted=f" (checksum mismatch); {_RERUN}",
        error=DatasetError,
    )
    table = pq.read_table(pa.BufferReader(data))
    if table.num_rows != entry.get("rows"):
        raise DatasetError(
            f"chunk {fpath} has {table.num_rows} rows, manifest says {entry['rows']}"
        )
    return table


def _column(table: pa.Table, name: str, dtype: npt.DTypeLike) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(), dtype=dtype)


def load(
    path: str | Path, *, horizon: int | None = None, config_hash: str | None = None
) -> Dataset:
    """Load a complete dataset folder, checking every chunk against its checksum.

    Parameters
    ----------
    path : str or Path
        The dataset folder (holding ``manifest.json``), the manifest itself, or an output folder
        holding one dataset, or several of which ``horizon`` and ``config_hash`` pick one.
    horizon : int, optional
        Choose the dataset of this horizon.
    config_hash : str, optional
        Choose the dataset whose config hash starts with this (the hex digits of its folder
        name are enough).

    Returns
    -------
    Dataset
        Rows of every chronic in increasing chronic order (steps in stored order).

    Raises
    ------
    DatasetError
        If the path is not a dataset (or several, and the choice does not pick one), the dataset
        is incomplete, its manifest does not match its checksum, or a chunk is missing, corrupted
        or inconsistent; the message names the file.

    Examples
    --------
    >>> ds = load("data/")  # doctest: +SKIP
    >>> ds.X.shape, ds.Y.shape  # doctest: +SKIP
    ((1725, 177), (1725, 100))
    """
    folder = find_dataset(path, horizon=horizon, config_hash=config_hash)
    manifest = _read_manifest(folder)
    if not manifest["complete"]:
        raise DatasetError(
            f"dataset {folder} is incomplete (generation interrupted?): rerun the same "
            "`gridoracle generate` command to finish it"
        )
    actions = list(manifest["actions"])
    names = [str(a["name"]) for a in actions]
    if len(set(names)) != len(names):
        raise DatasetError(f"dataset manifest {folder / MANIFEST_NAME} has duplicate action names")
    states, targets = _chunks_by_chronic(folder, manifest["expected_chunks"])
    features = [str(c) for c in manifest["feature_columns"]]
    chunks = manifest["chunks"]
    parts = _Parts(folder, names)
    for chronic in sorted(states):
        srel = states[chronic]
        n = parts.add_states(chronic, _read_chunk(folder, srel, chunks.get(srel)), srel, features)
        tables = (  # read one at a time, as they are added
            (trel, _read_chunk(folder, trel, chunks.get(trel)))
            for trel in sorted(targets.get(chronic, []))
        )
        parts.add_targets(chronic, n, tables)
    return parts.dataset(actions, manifest)


def _chunks_by_chronic(
    folder: Path, expected: Sequence[str]
) -> tuple[dict[int, str], dict[int, list[str]]]:
    """The states file and the target chunks of each chronic, from the manifest's chunk list."""
    states: dict[int, str] = {}
    targets: dict[int, list[str]] = {}
    for rel in expected:
        if m := _STATES_RE.match(rel):
            states[int(m.group(1))] = rel
        elif m := _TARGETS_RE.match(rel):
            targets.setdefault(int(m.group(1)), []).append(rel)
    orphans = sorted(set(targets) - set(states))
    if orphans:
        raise DatasetError(f"dataset {folder} has targets but no states for chronic(s) {orphans}")
    if not states:
        raise DatasetError(f"dataset {folder} holds no states file")
    return states, targets


class _Parts:
    """The pieces of a dataset, chronic by chronic, checked as they come; then one Dataset."""

    def __init__(self, folder: Path, names: list[str]) -> None:
        self.folder = folder
        self.names = names
        self.xs: list[pd.DataFrame] = []
        self.metas: list[pd.DataFrame] = []
        self.ys: list[np.ndarray] = []
        self.sts: list[np.ndarray] = []
        self.rho_parts: dict[str, list[np.ndarray]] = {}
        self.rho_lines: list[str] | None = None
        self.seen_rho: bool | None = None

    def add_states(self, chronic: int, table: pa.Table, srel: str, features: Sequence[str]) -> int:
        """Add the features and meta columns of a states file; return its number of rows."""
        absent = [c for c in (*features, *META_COLUMNS) if c not in table.column_names]
        if absent:
            raise DatasetError(f"states file {self.folder / srel} lacks column(s) {absent[:5]}")
        n = table.num_rows
        chronic_col = _column(table, "chronic", np.int32)
        if n and not np.all(chronic_col == chronic):
            raise DatasetError(f"states file {self.folder / srel} holds rows of another chronic")
        self.xs.append(table.select(list(features)).to_pandas())
        meta = pd.DataFrame({"chronic": chronic_col, "step": _column(table, "step", np.int32)})
        for name, default in STATE_META_COLUMNS.items():
            if name in table.column_names:
                values = table.column(name).to_numpy(zero_copy_only=False)
                meta[name] = values.astype(np.int32) if name == "line_out" else values
            else:
                meta[name] = np.full(n, default, dtype=np.int32 if name == "line_out" else object)
        self.metas.append(meta)
        return n

    def add_targets(self, chronic: int, n: int, tables: Iterable[tuple[str, pa.Table]]) -> None:
        """Add the max rho, status and full rho columns of a chronic's target chunks."""
        folder, names = self.folder, self.names
        y: dict[str, np.ndarray] = {}
        st: dict[str, np.ndarray] = {}
        rho: dict[str, dict[str, np.ndarray]] = {}
        for trel, ttable in tables:
            if ttable.num_rows != n:
                raise DatasetError(
                    f"targets file {folder / trel} has {ttable.num_rows} rows, its states file {n}"
                )
            for col in ttable.column_names:
                if col.startswith(STATUS_PREFIX):
                    st[col[len(STATUS_PREFIX) :]] = _column(ttable, col, np.int8)
                elif col.startswith(RHO_PREFIX):
                    action, sep, line = col[len(RHO_PREFIX) :].rpartition("::")
                    if not sep:
                        raise DatasetError(f"bad column {col!r} in {folder / trel}")
                    rho.setdefault(action, {})[line] = _column(ttable, col, np.float32)
                else:
                    y[col] = _column(ttable, col, np.float64)
        for what, got in (("max rho", y), ("status", st)):
            lacking = [a for a in names if a not in got]
            if lacking:
                raise DatasetError(
                    f"dataset {folder}: chronic {chronic} has no {what} for action(s) {lacking[:5]}"
                    f"{'…' if len(lacking) > 5 else ''}; {_RERUN}"
                )
        self.ys.append(np.column_stack([y[a] for a in names]) if names else np.zeros((n, 0)))
        self.sts.append(
            np.column_stack([st[a] for a in names]) if names else np.zeros((n, 0), np.int8)
        )
        self._add_rho(chronic, rho)

    def _add_rho(self, chronic: int, rho: dict[str, dict[str, np.ndarray]]) -> None:
        has_rho = bool(rho)
        if self.seen_rho is not None and has_rho != self.seen_rho:
            raise DatasetError(
                f"dataset {self.folder}: chronic {chronic} {'has' if has_rho else 'lacks'} "
                f"full rho columns, unlike the chronics before it; {_RERUN}"
            )
        self.seen_rho = has_rho
        if not has_rho:
            return
        for a in self.names:
            lines = list(rho.get(a, {}))
            if self.rho_lines is None:
                self.rho_lines = lines
            if not lines or lines != self.rho_lines:
                raise DatasetError(
                    f"dataset {self.folder}: chronic {chronic}, action {a}: full rho columns "
                    f"differ from the other actions; {_RERUN}"
                )
            self.rho_parts.setdefault(a, []).append(np.column_stack([rho[a][ln] for ln in lines]))

    def dataset(self, actions: list[dict[str, Any]], manifest: dict[str, Any]) -> Dataset:
        """The rows of every chronic added, in the order added."""
        names = self.names
        index = pd.RangeIndex(sum(len(m) for m in self.metas))
        X = pd.concat(self.xs, ignore_index=True)
        X.index = index
        Y = pd.DataFrame(np.concatenate(self.ys).astype(np.float64), columns=names, index=index)
        status = pd.DataFrame(np.concatenate(self.sts).astype(np.int8), columns=names, index=index)
        meta = pd.concat(self.metas, ignore_index=True).astype(
            {"chronic": np.int32, "step": np.int32}
        )
        meta.index = index
        rho_full = (
            {a: np.concatenate(self.rho_parts[a]).astype(np.float32, copy=False) for a in names}
            if self.seen_rho and names
            else None
        )
        return Dataset(
            X=X,
            Y=Y,
            status=status,
            rho=rho_full,
            meta=meta,
            actions=actions,
            manifest=manifest,
            path=self.folder,
            rho_lines=self.rho_lines if rho_full is not None else None,
        )
