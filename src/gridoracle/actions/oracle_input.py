"""The Oracle's unitary actions from any file gridoracle reads: Oracle4Grid's or a catalogue.

:func:`load_oracle_actions` reads Oracle4Grid's three formats as
:func:`~gridoracle.actions.parse.load_unitary_actions` does, and a ``gridoracle actions``
catalogue (``"format": "gridoracle-actions/1"``, checked by
:func:`~gridoracle.actions.catalogue.catalogue_from_json`). A catalogue's actions become unitary
actions with the same grid2op dicts:

- ``donothing`` is left out (the Oracle adds its own ``donothing-0``);
- a topology action sets buses at one substation ``s``: it keeps its name when it is
  ``sub-<s>-<k>``, else it is named ``sub-<s>-<k>`` with ``k`` its position in the catalogue;
- a line action (``line-<l>-off``, or ``line-<l>-on``, which warns as a reconnection does in
  Oracle4Grid's files) sets one line's status: it is named ``line-<l>-<k>``.

Positions ``k`` count the catalogue's actions without do nothing, so that a catalogue made from an
Oracle4Grid file (``gridoracle actions --from``) gives the Oracle that file's names. An action on
two substations or two lines is not a unitary action: refused, in one line naming it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from gridoracle.actions._convert import LINE, SUB, _check_bus, _Problem, _sub_dicts
from gridoracle.actions.catalogue import FORMAT, catalogue_from_json
from gridoracle.actions.model import DONOTHING, TOPOLOGY, CatalogueAction, GridLayout
from gridoracle.actions.model import substation_vectors as _substation_vectors
from gridoracle.actions.parse import UnitaryAction, detect_format, load_unitary_actions
from gridoracle.errors import ActionFileError
from gridoracle.files import parse_user_json, read_user_text

__all__ = ["load_oracle_actions"]

_SUB_NAME = re.compile(r"^sub-([0-9]+)-([0-9]+)$")


def load_oracle_actions(
    path: str | os.PathLike[str], env: Any
) -> tuple[list[UnitaryAction], list[str], str]:
    """The unitary actions of a file: Oracle4Grid's formats or a gridoracle catalogue.

    Parameters
    ----------
    path : str or path-like
        The JSON file.
    env : grid2op Environment or ActionSpace
        The grid the actions are checked against.

    Returns
    -------
    (actions, warnings, format)
        The unitary actions in file order; warnings, one line each naming the file; the format:
        ``gridoracle-actions/1``, or Oracle4Grid's ``reference``, ``parser1`` or ``parser2``.

    Raises
    ------
    ActionFileError
        One line naming the file, and the action where one is at fault.
    """
    file = Path(path)
    label = f"actions file {os.fspath(path)!r}"
    text = read_user_text(file, label, ActionFileError)
    data = parse_user_json(text, label, ActionFileError)
    if isinstance(data, dict) and "format" in data:
        catalogue = catalogue_from_json(data, env, source=label)
        actions, warnings = unitary_from_catalogue(catalogue, GridLayout.of(env), label)
        return actions, warnings, FORMAT
    fmt = detect_format(data, source=label)
    actions, warnings = load_unitary_actions(file, env)
    return actions, warnings, fmt


def unitary_from_catalogue(
    catalogue: list[CatalogueAction], layout: GridLayout, label: str
) -> tuple[list[UnitaryAction], list[str]]:
    """A catalogue's actions as the Oracle's unitary actions (see the module doc).

    Raises
    ------
    ActionFileError
        An action on two assets, a bus the Oracle does not set, or a name already taken.
    """
    actions: list[UnitaryAction] = []
    warnings: list[str] = []
    taken: dict[str, str] = {}
    for action in catalogue:
        if action.kind == DONOTHING:
            continue
        k = len(actions)
        try:
            if action.kind == TOPOLOGY:
                unitary = _topology(action, layout, k)
            else:
                unitary = _line(action, k)
        except _Problem as exc:
            raise ActionFileError(f"{label}: action {action.name!r} {exc}") from None
        if unitary.name in taken:
            raise ActionFileError(
                f"{label}: action {action.name!r} is named {unitary.name} for the Oracle, "
                f"as {taken[unitary.name]!r} is: rename one of them"
            )
        taken[unitary.name] = action.name
        if unitary.asset_kind == LINE and unitary.content["set_line"] == 1:
            warnings.append(
                f"{label}: action {action.name!r} reconnects line {unitary.asset_id}: the "
                "Oracle's line actions disconnect lines; a reconnection has no effect while the "
                "line is connected"
            )
        actions.append(unitary)
    return actions, warnings


def _topology(action: CatalogueAction, layout: GridLayout, k: int) -> UnitaryAction:
    vectors = _substation_vectors(layout, action.grid2op["set_bus"])
    if len(vectors) != 1:
        subs = sorted(vectors)
        listed = ", ".join(str(s) for s in subs[:-1]) + f" and {subs[-1]}"
        raise _Problem(
            f"sets buses at substations {listed}: the Oracle combines unitary actions, "
            "each on one substation or one line"
        )
    ((sub, vector),) = vectors.items()
    buses = {pos: bus for pos, bus in enumerate(vector) if bus != 0}
    for pos, bus in buses.items():
        _check_bus(layout, bus, f"element {pos} of substation {sub}")
    content, _ = _sub_dicts(layout, sub, buses)
    match = _SUB_NAME.match(action.name)
    if match is not None and int(match.group(1)) == sub:
        k = int(match.group(2))
    return UnitaryAction(
        asset_kind=SUB,
        asset_id=sub,
        k=k,
        name=f"sub-{sub}-{k}",
        content=content,
        grid2op=action.grid2op_dict(),
    )


def _line(action: CatalogueAction, k: int) -> UnitaryAction:
    pairs = action.grid2op["set_line_status"]
    if len(pairs) != 1:
        lines = sorted(int(line) for line, _ in pairs)
        listed = ", ".join(str(x) for x in lines[:-1]) + f" and {lines[-1]}"
        raise _Problem(
            f"sets the status of lines {listed}: the Oracle combines unitary actions, "
            "each on one substation or one line"
        )
    ((line, status),) = pairs
    return UnitaryAction(
        asset_kind=LINE,
        asset_id=int(line),
        k=k,
        name=f"line-{int(line)}-{k}",
        content={"set_line": int(status)},
        grid2op=action.grid2op_dict(),
    )
