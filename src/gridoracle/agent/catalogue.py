"""The actions an agent plays: read from a model folder, a catalogue file or given in Python.

Every form ends as a list of :class:`~gridoracle.actions.model.Action` (name and grid2op dict),
checked against the agent's action space by the same reader as ``gridoracle actions`` files
(:func:`gridoracle.actions.catalogue.catalogue_from_json`): ids in range, buses valid, grid2op
accepts the action.

Where a model's catalogue comes from (:func:`load_catalogue`):

1. ``actions.json`` in the model folder, written by ``gridoracle train``
   (:func:`gridoracle.models.persist.read_actions`, checksummed in ``metadata.json``);
2. else the ``actions`` of the dataset manifest the model was trained on (``dataset.path`` in
   its metadata), picked by the model's action names;
3. else a :class:`~gridoracle.errors.ModelError` naming the folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gridoracle.actions.catalogue import FORMAT, catalogue_from_json, env_display_name
from gridoracle.actions.catalogue import load_catalogue as load_catalogue_file
from gridoracle.actions.model import (
    DONOTHING,
    LINE_OFF,
    LINE_ON,
    TOPOLOGY,
    Action,
    CatalogueAction,
    GridLayout,
)
from gridoracle.dataset.manifest import MANIFEST_NAME, checksum_problem
from gridoracle.dataset.reader import read_json_document
from gridoracle.dataset.store import FORMAT as DATASET_FORMAT
from gridoracle.errors import ActionFileError, ModelError, ModelMismatch
from gridoracle.models.persist import (
    ACTIONS_FILE,
    METADATA_FILE,
    MODEL_FILE,
    Predictor,
    read_actions,
    read_metadata,
)
from gridoracle.models.persist import load as load_model

__all__ = [
    "ActionsLike",
    "ModelLike",
    "check_same_names",
    "load_catalogue",
    "load_predictor",
    "resolve_actions",
]

ModelLike = str | os.PathLike[str] | Predictor
"""A model folder written by ``gridoracle train``, or a loaded :class:`Predictor`."""

ActionsLike = (
    str
    | os.PathLike[str]
    | Predictor
    | Sequence[tuple[str, Mapping[str, Any]] | Mapping[str, Any] | Action]
)
"""A catalogue file (``gridoracle actions`` output), a model folder or Predictor (its catalogue),
or a list of ``(name, grid2op dict)`` pairs, ``{"name", "grid2op"[, "kind"]}`` dicts or
:class:`Action` objects."""


def load_predictor(model: ModelLike) -> Predictor:
    """``model`` itself if it is a :class:`Predictor`, else the model of that folder."""
    if isinstance(model, Predictor):
        return model
    if not isinstance(model, str | os.PathLike):
        raise ModelError(
            f"model {model!r}: expected a model folder or a Predictor, got {type(model).__name__}",
            param="model",
        )
    return load_model(Path(model))


def _kind(d: Mapping[str, Any]) -> str | None:
    """The catalogue kind of a grid2op dict, or None when it is none of them (a combination)."""
    if not d:
        return DONOTHING
    if set(d) == {"set_bus"}:
        return TOPOLOGY
    if set(d) == {"set_line_status"}:
        try:
            statuses = {int(status) for _line, status in d["set_line_status"]}
        except (TypeError, ValueError):
            return None
        if statuses == {-1}:
            return LINE_OFF
        if statuses == {1}:
            return LINE_ON
    return None


def _entries(actions: Sequence[Any], source: str) -> list[dict[str, Any]]:
    """``{"name", "kind", "grid2op"}`` entries of a list given in Python (kind inferred)."""
    out: list[dict[str, Any]] = []
    for i, item in enumerate(actions):
        if isinstance(item, Action):
            name, g2op = item.name, item.grid2op
        elif isinstance(item, Mapping) and "name" in item and "grid2op" in item:
            name, g2op = item["name"], item["grid2op"]
        elif isinstance(item, tuple | list) and len(item) == 2:
            name, g2op = item
        else:
            raise ActionFileError(
                f"{source}: entry #{i} is not a (name, grid2op dict) pair, a dict with name and "
                f"grid2op, or an Action (got {type(item).__name__})",
                param="actions",
            )
        if not isinstance(g2op, Mapping):
            raise ActionFileError(
                f"{source}: action {name!r} has a {type(g2op).__name__}, not a grid2op dict",
                param="actions",
            )
        kind = item.get("kind") if isinstance(item, Mapping) else getattr(item, "kind", None)
        try:  # tuples become lists, numpy ints become ints: the dict as a JSON file holds it
            g2op = json.loads(json.dumps(g2op, default=_json_default))
        except (TypeError, ValueError) as exc:
            raise ActionFileError(
                f"{source}: action {name!r}: its grid2op dict is not JSON data ({exc})",
                param="actions",
            ) from None
        out.append({"name": name, "kind": kind or _kind(g2op), "grid2op": g2op})
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _check_entries(
    entries: list[dict[str, Any]], space: Any, source: str, param: str = "actions"
) -> list[Action]:
    """Entries checked against ``space`` (see the module docstring), in their order.

    Entries of a known kind go through the catalogue reader; the others (combinations of a
    topology and a line status, ...) are checked by building them with ``space``. Errors carry
    ``param``.
    """
    try:
        return _checked(entries, space, source)
    except ActionFileError as exc:
        if exc.param is not None:
            raise
        raise ActionFileError(str(exc), param=param) from None


def _checked(entries: list[dict[str, Any]], space: Any, source: str) -> list[Action]:
    if not entries:
        raise ActionFileError(f"{source}: no action")
    known = [e for e in entries if e["kind"] is not None]
    document = {
        "format": FORMAT,
        "env": env_display_name(space),
        "grid": GridLayout.of(space).to_json(),
        "actions": known,
    }
    checked = iter(catalogue_from_json(document, space, source=source) if known else [])
    out: list[Action] = []
    seen: set[str] = set()
    for entry in entries:
        name = str(entry["name"])
        if name in seen:
            raise ActionFileError(f"{source}: duplicate action name {name!r}")
        seen.add(name)
        if entry["kind"] is not None:
            out.append(next(checked))
            continue
        try:
            space(json.loads(json.dumps(entry["grid2op"])))
        except Exception as exc:  # grid2op raises many types; any refusal is the input's problem
            detail = " ".join(str(exc).split())[:240]
            raise ActionFileError(f"{source}: grid2op refuses action {name!r}: {detail}") from None
        out.append(Action(name=name, grid2op=json.loads(json.dumps(entry["grid2op"]))))
    return out


def _model_label(predictor: Predictor) -> str:
    return f"model {predictor.name}" + (
        f" ({predictor.path})" if predictor.path is not None else ""
    )


def _catalogue_entries(predictor: Predictor) -> tuple[list[dict[str, Any]], str]:
    """The raw catalogue entries of ``predictor`` (in its action order) and where they come from."""
    if predictor.path is not None and (Path(predictor.path) / METADATA_FILE).is_file():
        stored = read_actions(predictor.path)
        if stored is not None:
            return stored, f"model catalogue {Path(predictor.path) / ACTIONS_FILE}"
    label = _model_label(predictor)
    dataset = predictor.metadata.get("dataset")
    dpath = dataset.get("path") if isinstance(dataset, Mapping) else None
    if not dpath:
        raise ModelError(
            f"{label} has no catalogue (no actions.json, no dataset path in its metadata): "
            "train it again with gridoracle train, or give the actions",
            param="model",
        )
    mpath = Path(str(dpath)) / MANIFEST_NAME
    if not mpath.is_file():
        raise ModelError(
            f"{label} has no actions.json and its dataset manifest {mpath} is missing: train it "
            "again with gridoracle train, or give the actions",
            param="model",
        )
    try:
        manifest = read_json_document(
            mpath,
            fmt=DATASET_FORMAT,
            required=("actions",),
            what="dataset manifest",
            kind="a gridoracle dataset manifest",
            error=ModelError,
        )
    except ModelError as exc:
        raise ModelError(f"{label} has no actions.json and {exc}", param="model") from None
    problem = checksum_problem(manifest)
    if problem is not None:
        raise ModelError(
            f"{label} has no actions.json and its dataset manifest {mpath} is refused: {problem}",
            param="model",
        )
    entries = manifest["actions"] if isinstance(manifest["actions"], list) else []
    by_name = {str(e.get("name")): e for e in entries if isinstance(e, Mapping)}
    missing = [n for n in predictor.action_names if n not in by_name]
    if missing:
        raise ModelMismatch(
            f"{label} predicts {len(missing)} actions its dataset manifest {mpath} does not hold "
            f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})",
            param="model",
        )
    return [dict(by_name[n]) for n in predictor.action_names], f"dataset manifest {mpath}"


def load_catalogue(model_or_path: ModelLike, action_space: Any = None) -> list[Action]:
    """The actions a model predicts, in the order of its outputs, with their grid2op dicts.

    Parameters
    ----------
    model_or_path : str, Path or Predictor
        A model folder written by ``gridoracle train``, or a loaded model.
    action_space : grid2op ActionSpace or Environment, optional
        When given, every action is checked against it (ids, buses, grid2op accepts it).

    Returns
    -------
    list of Action
        :class:`~gridoracle.actions.model.CatalogueAction` for the catalogue's kinds.

    Raises
    ------
    ModelError
        One line naming the folder: no catalogue stored and no readable dataset manifest, a
        stored catalogue that is corrupted or does not hold the model's actions.
    ActionFileError
        An action the action space refuses.

    Examples
    --------
    >>> actions = load_catalogue("models/line_flows", env.action_space)  # doctest: +SKIP
    >>> actions[0].name, actions[0].grid2op  # doctest: +SKIP
    ('donothing', {})
    """
    if isinstance(model_or_path, Predictor):
        predictor = model_or_path
    else:
        folder = Path(model_or_path).expanduser()
        if folder.is_file() and folder.name in (ACTIONS_FILE, METADATA_FILE, MODEL_FILE):
            folder = folder.parent
        metadata = read_metadata(folder)  # one-line ModelError naming the folder
        predictor = Predictor(None, metadata, path=folder)
    entries, source = _catalogue_entries(predictor)
    if action_space is None:
        return [
            CatalogueAction.from_json(e)
            if e.get("kind") is not None
            else Action(name=str(e["name"]), grid2op=dict(e["grid2op"]))
            for e in entries
        ]
    space = getattr(action_space, "action_space", action_space)
    return _check_entries(entries, space, source, param="model")


def resolve_actions(actions: ActionsLike, action_space: Any) -> list[Action]:
    """The actions of a Greedy or RandomK agent, from any of :data:`ActionsLike`'s forms.

    A path is a model folder (its catalogue) when it is a folder or one of a model folder's files
    (``metadata.json``, ``model.joblib``, ``actions.json``), else a catalogue file
    (``gridoracle actions`` output).

    Raises
    ------
    ActionFileError
        A malformed catalogue file or entry, an action the action space refuses.
    ModelError
        A model folder without a catalogue (see :func:`load_catalogue`).
    """
    space = getattr(action_space, "action_space", action_space)
    if isinstance(actions, Predictor):
        return load_catalogue(actions, space)
    if isinstance(actions, str | os.PathLike):
        path = Path(actions).expanduser()
        in_model = path.name == ACTIONS_FILE and (path.parent / METADATA_FILE).is_file()
        if path.is_dir() or in_model or path.name in (METADATA_FILE, MODEL_FILE):
            return load_catalogue(path, space)
        if not path.exists():
            raise ActionFileError(
                f"actions {path}: no such catalogue file or model folder", param="actions"
            )
        try:
            return list(load_catalogue_file(path, space))
        except ActionFileError as exc:
            raise ActionFileError(str(exc), param="actions") from None
    if isinstance(actions, Mapping) or not isinstance(actions, Sequence):
        raise ActionFileError(
            f"actions: expected a catalogue file, a model folder or a list of (name, grid2op "
            f"dict) pairs, got {type(actions).__name__}",
            param="actions",
        )
    return _check_entries(_entries(actions, "actions"), space, "actions")


def check_same_names(given: Sequence[Action], predictor: Predictor, source: str) -> list[Action]:
    """``given`` reordered to the model's output order; :class:`ModelMismatch` unless the names
    are the model's actions (each once)."""
    names = [a.name for a in given]
    try:
        predictor.check_actions(names, where=source)
    except ModelMismatch as exc:
        raise ModelMismatch(str(exc), param="actions") from None
    by_name = {a.name: a for a in given}
    return [by_name[n] for n in predictor.action_names]
