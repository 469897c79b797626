"""Save and load trained models: a joblib file plus ``metadata.json``, checked on load.

A model folder holds:

``model.joblib``
    The fitted estimator and the per-action mean baseline fitted on the same training rows
    (joblib, i.e. pickle: load only model folders you trust).
``actions.json``
    The catalogue the model predicts (when :func:`save` is given it, as ``gridoracle train``
    does): ``{"format": "gridoracle-model-actions-1", "actions": [{"name", "kind", "grid2op"},
    ...]}`` in the order of the model's outputs, entries as a dataset manifest holds them. Read
    it with :func:`read_actions` (the agents of :mod:`gridoracle.agent` play these actions).
``metadata.json``
    Feature names (in the order the estimator expects), action names (the order of its outputs),
    the dataset it was trained on (path and config hash), the training configuration (model name,
    parameters, seed, train and test chronics), the versions of gridoracle, scikit-learn and NumPy,
    the size and SHA-256 of ``model.joblib`` (and of ``actions.json``), and the metrics once
    evaluated.

Both files are written atomically. :func:`load` refuses a model file whose checksum differs from
its metadata (corrupted or replaced), and :meth:`Predictor.check_dataset` /
:meth:`Predictor.predict` refuse data with other features or actions than the training data.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridoracle.dataset.reader import Dataset, read_json_document, read_verified
from gridoracle.errors import ModelError, ModelMismatch

__all__ = [
    "ACTIONS_FILE",
    "METADATA_FILE",
    "MODEL_FILE",
    "MODEL_FORMAT",
    "Predictor",
    "load",
    "model_versions",
    "read_actions",
    "save",
    "update_metadata",
]

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
ACTIONS_FILE = "actions.json"
MODEL_FORMAT = "gridoracle-model-1"
ACTIONS_FORMAT = "gridoracle-model-actions-1"
_SHOWN = 5  # names shown in a mismatch message


def model_versions() -> dict[str, str]:
    """Versions of the packages a saved model depends on."""
    from gridoracle.io import versions

    return versions("scikit-learn", "numpy", "pandas", "joblib")


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(str(n) for n in names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _differences(expected: Sequence[str], found: Sequence[str]) -> tuple[list[str], list[str]]:
    """(names expected but not found, names found but not expected), each in its own order."""
    found_set, expected_set = set(found), set(expected)
    return [n for n in expected if n not in found_set], [n for n in found if n not in expected_set]


@dataclass(eq=False, repr=False)
class Predictor:
    """A trained model ready to predict: the estimator with the names it was trained on.

    Parameters
    ----------
    estimator : estimator
        A fitted multi-output regressor (see :func:`gridoracle.models.make_model`).
    metadata : dict
        At least ``model`` (name), ``features`` and ``actions`` (lists of names); see the module
        docstring for the rest.
    baseline : estimator, optional
        The per-action mean fitted on the same training rows (used by the evaluation).
    path : Path, optional
        The folder it was loaded from or saved to.

    Examples
    --------
    >>> predictor = load("models/random_forest")  # doctest: +SKIP
    >>> predictor.predict(ds.X).columns.tolist()[:2]  # doctest: +SKIP
    ['donothing', 'sub-0-0']
    """

    estimator: Any
    metadata: dict[str, Any]
    baseline: Any = None
    path: Path | None = None

    @property
    def name(self) -> str:
        """The zoo name of the model (``random_forest``, ...)."""
        return str(self.metadata.get("model", type(self.estimator).__name__))

    @property
    def feature_names(self) -> list[str]:
        """Feature columns, in the order the estimator takes them."""
        return [str(f) for f in self.metadata["features"]]

    @property
    def action_names(self) -> list[str]:
        """Action names, in the order of the estimator's outputs."""
        return [str(a) for a in self.metadata["actions"]]

    def _label(self) -> str:
        return f"model {self.name}" + (f" ({self.path})" if self.path is not None else "")

    def check_features(self, columns: Sequence[str], where: str = "the data") -> None:
        """Raise :class:`ModelMismatch` unless ``columns`` are the training features (any order)."""
        self._check_names(
            self.feature_names,
            columns,
            where,
            f"was trained on {len(self.feature_names)} features",
            "of its features",
            "it was not trained on",
        )

    def check_actions(self, names: Sequence[str], where: str = "the data") -> None:
        """Raise :class:`ModelMismatch` unless ``names`` are the training actions (any order)."""
        self._check_names(
            self.action_names,
            names,
            where,
            f"predicts {len(self.action_names)} actions",
            "of its actions",
            "others",
        )

    def _check_names(
        self,
        expected: Sequence[str],
        given: Sequence[str],
        where: str,
        what: str,
        missing_label: str,
        extra_label: str,
    ) -> None:
        missing, extra = _differences(expected, [str(n) for n in given])
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"lacks {len(missing)} {missing_label} ({_names(missing)})")
            if extra:
                parts.append(f"has {len(extra)} {extra_label} ({_names(extra)})")
            raise ModelMismatch(f"{self._label()} {what}; {where} {' and '.join(parts)}")

    def check_dataset(self, ds: Dataset) -> None:
        """Raise :class:`ModelMismatch` if ``ds`` has other features or actions than the model."""
        where = f"dataset {ds.path}"
        self.check_features(list(ds.X.columns), where)
        self.check_actions(ds.action_names, where)

    def features_array(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """``X`` as the float64 array the estimator takes (columns reordered by name)."""
        if isinstance(X, pd.DataFrame):
            self.check_features(list(X.columns))
            return X[self.feature_names].to_numpy(dtype=np.float64)
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != len(self.feature_names):
            raise ModelMismatch(
                f"{self._label()} takes {len(self.feature_names)} features per state; got an "
                f"array of shape {arr.shape}"
            )
        return arr

    def predict(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """Predicted max rho after each action, for every state of ``X``.

        Parameters
        ----------
        X : DataFrame or ndarray of shape (n_states, n_features)
            A DataFrame must have exactly the training feature columns (in any order); an array
            must have them in training order.

        Returns
        -------
        DataFrame
            One float64 column per action name (training order), same index as ``X``.

        Raises
        ------
        ModelMismatch
            If the features differ from the training features.
        """
        arr = self.features_array(X)
        index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(arr))
        pred = np.asarray(self.estimator.predict(arr), dtype=np.float64).reshape(len(arr), -1)
        return pd.DataFrame(pred, columns=self.action_names, index=index)

    def __repr__(self) -> str:
        return (
            f"Predictor({self.name}, {len(self.feature_names)} features, "
            f"{len(self.action_names)} actions, path={str(self.path)!r})"
        )


def _model_folder(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if p.is_file() and p.name in (MODEL_FILE, METADATA_FILE, ACTIONS_FILE):
        return p.parent
    return p


def _actions_document(predictor: Predictor, actions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``actions.json`` document: ``actions``' entries in the order of the model's outputs."""
    by_name: dict[str, Mapping[str, Any]] = {}
    for entry in actions:
        by_name.setdefault(str(entry["name"]), entry)
    missing = [n for n in predictor.action_names if n not in by_name]
    if missing:  # the caller hands the catalogue the model was trained on
        raise ValueError(f"the actions given to save lack {len(missing)} ({_names(missing)})")
    entries = [
        {"name": n, "kind": by_name[n]["kind"], "grid2op": by_name[n]["grid2op"]}
        for n in predictor.action_names
    ]
    return {"format": ACTIONS_FORMAT, "actions": entries}


def save(
    predictor: Predictor,
    path: str | Path,
    *,
    actions: Sequence[Mapping[str, Any]] | None = None,
) -> Path:
    """Write ``predictor`` to the folder ``path`` (created if needed); return the folder.

    ``model.joblib`` is written first, then ``actions.json`` (with ``actions``), then
    ``metadata.json`` with their checksums, each atomically: an interrupted save never leaves
    files that load together but do not belong together.

    Parameters
    ----------
    predictor : Predictor
    path : str or Path
        The model folder.
    actions : sequence of dict, optional
        The catalogue the model predicts (``{"name", "kind", "grid2op"}`` entries, e.g. a dataset
        manifest's ``actions``); every action name of the model must be among them. Written to
        ``actions.json`` in the model's output order.
    """
    import joblib

    from gridoracle.io import atomic_write_bytes, atomic_write_json, json_bytes

    folder = Path(path).expanduser()
    document = _actions_document(predictor, actions) if actions is not None else None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        bundle = {
            "format": MODEL_FORMAT,
            "estimator": predictor.estimator,
            "baseline": predictor.baseline,
        }
        joblib.dump(bundle, buffer)
        data = buffer.getvalue()
        atomic_write_bytes(folder / MODEL_FILE, data)
        metadata = dict(predictor.metadata)
        metadata["format"] = MODEL_FORMAT
        metadata["files"] = {
            MODEL_FILE: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        }
        if document is not None:
            text = json_bytes(document)
            atomic_write_bytes(folder / ACTIONS_FILE, text)
            metadata["files"][ACTIONS_FILE] = {
                "bytes": len(text),
                "sha256": hashlib.sha256(text).hexdigest(),
            }
        elif (folder / ACTIONS_FILE).exists():  # an older model's catalogue: not this model's
            (folder / ACTIONS_FILE).unlink()
        atomic_write_json(folder / METADATA_FILE, metadata)
    except OSError as exc:
        from gridoracle.errors import OutputError

        raise OutputError(f"cannot write model folder {folder}: {exc.strerror or exc}") from exc
    predictor.metadata = metadata
    predictor.path = folder
    return folder


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``metadata.json`` of a model folder (checked for format and required fields)."""
    folder = _model_folder(path)
    if not folder.exists():
        raise ModelError(f"model folder {folder} does not exist (train one with gridoracle train)")
    mpath = folder / METADATA_FILE
    if not mpath.is_file():
        raise ModelError(f"{folder} is not a gridoracle model: it has no {METADATA_FILE}")
    return read_json_document(
        mpath,
        fmt=MODEL_FORMAT,
        required=("model", "features", "actions", "files"),
        what="model metadata",
        kind="gridoracle model metadata",
        error=ModelError,
    )


def load(path: str | Path) -> Predictor:
    """Load a model folder written by :func:`save` (or ``gridoracle train``).

    Parameters
    ----------
    path : str or Path
        The model folder, or its ``model.joblib`` or ``metadata.json``.

    Returns
    -------
    Predictor

    Raises
    ------
    ModelError
        If the folder or one of its files is missing, unreadable, or the model file does not match
        the size and SHA-256 recorded in the metadata.

    Examples
    --------
    >>> model = load("models/random_forest")  # doctest: +SKIP
    >>> model.predict(ds.X).shape == (len(ds.X), len(model.action_names))  # doctest: +SKIP
    True
    """
    import joblib

    folder = _model_folder(path)
    metadata = read_metadata(folder)
    fpath = folder / MODEL_FILE
    entry = metadata["files"].get(MODEL_FILE) if isinstance(metadata["files"], dict) else None
    data = read_verified(
        fpath,
        entry,
        what="model file",
        missing=" (train the model again)",
        corrupted=(
            f" or was replaced (checksum differs from {METADATA_FILE}); train the model again"
        ),
        error=ModelError,
    )
    try:
        bundle = joblib.load(io.BytesIO(data))
    except Exception as exc:  # unpickling errors have many types; report them on one line
        raise ModelError(f"cannot load model file {fpath}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(bundle, dict) or bundle.get("format") != MODEL_FORMAT:
        raise ModelError(f"model file {fpath} is not a gridoracle model")
    saved = metadata.get("versions", {}).get("scikit-learn")
    current = model_versions()["scikit-learn"]
    if saved and saved != current:
        log.warning(
            "model %s was saved with scikit-learn %s, loaded with %s", folder, saved, current
        )
    return Predictor(bundle["estimator"], metadata, baseline=bundle.get("baseline"), path=folder)


def read_actions(path: str | Path) -> list[dict[str, Any]] | None:
    """The catalogue stored with a model (``actions.json``), or None for a model saved without.

    Returns
    -------
    list of dict or None
        ``{"name", "kind", "grid2op"}`` entries in the order of the model's outputs.

    Raises
    ------
    ModelError
        If ``actions.json`` is missing, unreadable, differs from the size and SHA-256 recorded in
        the metadata, or does not hold the model's action names in its order.
    """
    import json

    folder = _model_folder(path)
    metadata = read_metadata(folder)
    files = metadata["files"] if isinstance(metadata["files"], dict) else {}
    if ACTIONS_FILE not in files:
        return None
    fpath = folder / ACTIONS_FILE
    data = read_verified(
        fpath,
        files[ACTIONS_FILE],
        what="model catalogue",
        missing=" (train the model again)",
        corrupted=(
            f" or was replaced (checksum differs from {METADATA_FILE}); train the model again"
        ),
        error=ModelError,
    )
    try:
        document = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise ModelError(f"cannot read model catalogue {fpath}: {exc}") from exc
    entries = document.get("actions") if isinstance(document, dict) else None
    if (
        not isinstance(document, dict)
        or document.get("format") != ACTIONS_FORMAT
        or not isinstance(entries, list)
        or not all(isinstance(e, dict) and {"name", "kind", "grid2op"} <= set(e) for e in entries)
    ):
        raise ModelError(f"model catalogue {fpath} is not a gridoracle model catalogue")
    names = [str(e["name"]) for e in entries]
    if names != [str(a) for a in metadata["actions"]]:
        raise ModelError(
            f"model catalogue {fpath} does not hold the model's {len(metadata['actions'])} "
            f"actions in its order ({len(names)} entries); train the model again"
        )
    return entries


def update_metadata(path: str | Path, **fields: Any) -> dict[str, Any]:
    """Set top-level ``fields`` of a model's ``metadata.json`` (atomically); return the result."""
    from gridoracle.io import atomic_write_json

    folder = _model_folder(path)
    metadata = read_metadata(folder)
    metadata.update(fields)
    try:
        atomic_write_json(folder / METADATA_FILE, metadata)
    except OSError as exc:
        from gridoracle.errors import OutputError

        raise OutputError(f"cannot write {folder / METADATA_FILE}: {exc.strerror}") from exc
    return metadata
