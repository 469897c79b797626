"""Candidate actions read from a file: a gridoracle catalogue or an Oracle4Grid action file.

:func:`load_action_source` is where ``gridoracle actions --from FILE`` starts instead of the
grid's enumerated catalogue (:func:`gridoracle.actions.strategies.choose_actions`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridoracle.actions.catalogue import FORMAT, catalogue_from_json
from gridoracle.actions.model import (
    DONOTHING,
    TOPOLOGY,
    CatalogueAction,
    donothing_action,
    line_action,
)
from gridoracle.actions.parse import SUB, detect_format, load_unitary_actions
from gridoracle.errors import ActionFileError
from gridoracle.files import parse_user_json, read_user_text

__all__ = ["ActionSource", "load_action_source"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActionSource:
    """Actions read from a file by :func:`load_action_source`.

    Attributes
    ----------
    actions : list of CatalogueAction
        ``donothing`` first (added when the file has none), then the file's actions in its
        order (Oracle4Grid's order for its formats), identical actions kept once.
    format : str
        ``gridoracle-actions/1`` (a catalogue file), or Oracle4Grid's ``reference``, ``parser1``
        or ``parser2``.
    sha256 : str
        Hash of the file's bytes.
    warnings : list of str
        One line each, naming the file: what the parser noted and the actions left out (also
        logged at WARNING level).
    """

    actions: list[CatalogueAction]
    format: str
    sha256: str
    warnings: list[str]


def load_action_source(path: str | os.PathLike[str], env: Any) -> ActionSource:
    """Read the actions of a file, in any format gridoracle reads, as catalogue actions.

    A JSON object with a ``format`` key is a gridoracle catalogue file
    (:func:`~gridoracle.actions.catalogue.load_catalogue`'s checks); anything else is read as an
    Oracle4Grid unitary-action file (:func:`~gridoracle.actions.parse.load_unitary_actions`:
    reference, parser1 or parser2 format). Oracle4Grid's substation actions become ``topology``
    actions named as Oracle4Grid names them (``sub-<sub id>-<k>``, k = position in the file);
    its line actions become ``line-<line id>-off`` (``set_line: -1``) or ``line-<line id>-on``.
    An action identical to an earlier one (same grid2op dict) is left out, with a warning.

    Parameters
    ----------
    path : path-like
        The file.
    env : grid2op Environment or ActionSpace
        The grid the actions are checked against.

    Returns
    -------
    ActionSource

    Raises
    ------
    ActionFileError
        One line naming the file and the problem (missing, not JSON, unknown format, an action
        that does not fit the grid, ...).
    """
    file = Path(path)
    label = f"actions file {file}"
    text = read_user_text(file, label, ActionFileError)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    data = parse_user_json(text, label, ActionFileError)
    if isinstance(data, dict) and "format" in data:
        actions = catalogue_from_json(data, env, source=label)
        fmt = FORMAT
        warnings: list[str] = []
    else:
        fmt = detect_format(data, source=label)
        unitary, warnings = load_unitary_actions(file, env)
        warnings = list(warnings)
        actions = []
        seen: dict[str, str] = {}
        for ua in unitary:
            if ua.asset_kind == SUB:
                action = CatalogueAction(name=ua.name, kind=TOPOLOGY, grid2op=ua.grid2op_dict())
            else:
                status = int(ua.grid2op["set_line_status"][0][1])
                action = line_action(ua.asset_id, connect=status == 1)
            key = json.dumps(action.grid2op, sort_keys=True)
            if key in seen:
                message = f"{label}: action {ua.name} left out: the same as {seen[key]}"
                warnings.append(message)
                logger.warning("%s", message)
                continue
            seen[key] = ua.name
            actions.append(action)
    if not any(a.kind == DONOTHING for a in actions):
        taken = next((a for a in actions if a.name == DONOTHING), None)
        if taken is not None:
            raise ActionFileError(
                f"{label}: action {DONOTHING!r} is a {taken.kind} action, not do nothing"
            )
        actions.insert(0, donothing_action())
    return ActionSource(actions=actions, format=fmt, sha256=digest, warnings=warnings)
