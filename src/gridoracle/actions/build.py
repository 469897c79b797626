"""Building unitary actions by hand: a substation's elements, and a file of the actions chosen.

Oracle4Grid's preliminary step (its ``Atomic_Actions_Helper`` notebook; here
``notebooks/actions.ipynb``) has a user look at one substation, set the buses of its elements
(or a line's status), check the action's effect and collect the actions worth combining into the
reference-format file the Oracle reads. This module holds the two pieces the other modules do
not have:

- :func:`substation_elements`: the elements of a substation in grid2op's order of its bus vector
  (the order a parser1 bus vector follows), with their names and current buses;
- :func:`collect_reference` and :func:`write_reference`: unitary actions (each checked by
  :func:`gridoracle.actions.parse.convert`) gathered into one reference-format file, which
  :func:`~gridoracle.actions.parse.load_unitary_actions` reads back as the same actions.

Checking an action and seeing its effect are :func:`gridoracle.actions.parse.convert` (the
Oracle's own reader, any of the three formats) and :func:`gridoracle.actions.show.judge_action`
(``obs.simulate(action, time_step=0)``, as the Oracle's filter at t0); drawing it is
:func:`gridoracle.actions.show.draw_grid`.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridoracle.actions._convert import _REF_KEY, ASSET_KINDS
from gridoracle.actions.catalogue import check_output_file
from gridoracle.actions.model import GridLayout
from gridoracle.actions.parse import UnitaryAction
from gridoracle.errors import InvalidOption, OutputError
from gridoracle.io import atomic_write_text

__all__ = [
    "ELEMENT_KINDS",
    "SubstationElement",
    "collect_reference",
    "reference_text",
    "substation_elements",
    "write_reference",
]

# grid2op set_bus key -> (kind shown to the user, prefix of grid2op's name_* attribute)
_KIND = {
    "loads_id": ("load", "name_load"),
    "generators_id": ("generator", "name_gen"),
    "lines_or_id": ("line origin", "name_line"),
    "lines_ex_id": ("line extremity", "name_line"),
    "storages_id": ("storage unit", "name_storage"),
}
#: the kinds of :attr:`SubstationElement.kind`
ELEMENT_KINDS: tuple[str, ...] = tuple(kind for kind, _ in _KIND.values())


@dataclass(frozen=True)
class SubstationElement:
    """One element of a substation, as :func:`substation_elements` lists it.

    Attributes
    ----------
    position : int
        Its position in the substation's bus vector (grid2op's ``*_to_sub_pos``): the entry a
        parser1 bus vector gives it.
    kind : str
        One of :data:`ELEMENT_KINDS`: ``load``, ``generator``, ``line origin``,
        ``line extremity``, ``storage unit``.
    element_id : int
        Its id among the elements of its type (the line id for a line end).
    name : str
        grid2op's name of the element (``name_load``, ``name_gen``, ``name_line``, ...).
    reference_key : str
        Its key in a reference-format substation action: ``loads_id_bus``, ``gens_id_bus``,
        ``lines_id_bus`` (both line ends: a line is named by its id), ``storages_id_bus``.
    bus : int or None
        Its bus in the observation given (1, 2, ..., or -1 when disconnected); None without one.
    other_substation : int or None
        For a line end, the substation at the line's other end; None for other elements.
    """

    position: int
    kind: str
    element_id: int
    name: str
    reference_key: str
    bus: int | None
    other_substation: int | None


def substation_elements(env: Any, sub_id: int, obs: Any = None) -> list[SubstationElement]:
    """The elements of substation ``sub_id``, in the order of its bus vector.

    Parameters
    ----------
    env : grid2op Environment or ActionSpace
        The grid (names are read from it).
    sub_id : int
        The substation.
    obs : grid2op Observation, optional
        When given, each element's :attr:`~SubstationElement.bus` is read from its
        ``topo_vect``.

    Returns
    -------
    list of SubstationElement
        Sorted by position: ``[e.bus for e in elements]`` is the substation's bus vector.

    Raises
    ------
    InvalidOption
        ``sub_id`` is not a substation of the grid (``param="sub_id"``).

    Examples
    --------
    >>> from gridoracle.grid import make_env
    >>> env = make_env("l2rpn_case14_sandbox")
    >>> [(e.position, e.kind, e.element_id) for e in substation_elements(env, 0)]
    [(0, 'line origin', 0), (1, 'line origin', 1), (2, 'generator', 5)]
    >>> env.close()
    """
    layout = GridLayout.of(env)
    if isinstance(sub_id, bool) or not isinstance(sub_id, int) or not 0 <= sub_id < layout.n_sub:
        raise InvalidOption(
            f"sub_id {sub_id!r}: not a substation of the grid (0 to {layout.n_sub - 1})",
            param="sub_id",
        )
    topo = None if obs is None else obs.topo_vect
    start = sum(layout.sub_sizes[:sub_id])
    grid = getattr(env, "action_space", env)
    out = []
    for key, element, pos in layout.elements(sub_id):
        kind, names_attr = _KIND[key]
        other = None
        if key == "lines_or_id":
            other = layout.to_subid["lines_ex_id"][element]
        elif key == "lines_ex_id":
            other = layout.to_subid["lines_or_id"][element]
        out.append(
            SubstationElement(
                position=pos,
                kind=kind,
                element_id=element,
                name=str(getattr(grid, names_attr)[element]),
                reference_key=_REF_KEY[key],
                bus=None if topo is None else int(topo[start + pos]),
                other_substation=other,
            )
        )
    return out


def collect_reference(actions: Iterable[UnitaryAction]) -> dict[str, Any]:
    """Unitary actions gathered into one reference-format dict, in the order chosen.

    Substation actions come first (under ``"sub"``), then line actions (under ``"line"``), as
    in Oracle4Grid's files; within each, the assets in the order of their first action, and the
    actions of an asset in the order given. An action identical to an earlier one of the same
    asset (same ``content``) is kept once, so that a notebook cell run twice adds nothing.
    The names the Oracle gives the actions follow from that order: read the file back with
    :func:`~gridoracle.actions.parse.load_unitary_actions` (or ``convert`` the dict) to see them.

    Parameters
    ----------
    actions : iterable of UnitaryAction
        Typically each the first action of :func:`~gridoracle.actions.parse.convert`'s output
        for one hand-made action; their own names and ``k`` do not matter here.

    Returns
    -------
    dict
        ``{"sub": {"<sub id>": [content, ...]}, "line": {"<line id>": [content, ...]}}``, kinds
        without an action left out; fresh copies of the contents.

    Raises
    ------
    ValueError
        No action at all (a reference file needs one), or an action of an unknown kind.
    """
    out: dict[str, dict[str, list[dict[str, Any]]]] = {kind: {} for kind in ASSET_KINDS}
    for action in actions:
        if action.asset_kind not in out:
            raise ValueError(f"action {action.name}: unknown asset kind {action.asset_kind!r}")
        per_asset = out[action.asset_kind].setdefault(str(action.asset_id), [])
        if action.content not in per_asset:
            per_asset.append(copy.deepcopy(action.content))
    if not any(out.values()):
        raise ValueError("no action to collect: a reference file needs at least one")
    return {kind: per_kind for kind, per_kind in out.items() if per_kind}


def reference_text(reference: dict[str, Any]) -> str:
    """A reference-format dict as the text of a file: one action per line, a final newline.

    The key order of ``reference`` is kept (it decides the Oracle's names), so the same dict
    always gives the same text.
    """
    lines = ["{"]
    kinds = list(reference.items())
    for i, (kind, per_asset) in enumerate(kinds):
        lines.append(f"  {json.dumps(kind)}: {{")
        assets = list(per_asset.items())
        for j, (asset, contents) in enumerate(assets):
            lines.append(f"    {json.dumps(str(asset))}: [")
            for m, content in enumerate(contents):
                comma = "," if m < len(contents) - 1 else ""
                lines.append(f"      {json.dumps(content)}{comma}")
            lines.append("    ]" + ("," if j < len(assets) - 1 else ""))
        lines.append("  }" + ("," if i < len(kinds) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_reference(path: str | os.PathLike[str], actions: Iterable[UnitaryAction]) -> Path:
    """Write unitary actions as a reference-format file the Oracle reads (``--actions``).

    The file is :func:`collect_reference`'s dict, written by :func:`reference_text` atomically
    (a reader sees the old file or the whole new one); the same actions give the same bytes.

    Parameters
    ----------
    path : str or path-like
        The JSON file to write or replace; its folder must exist.
    actions : iterable of UnitaryAction
        The actions, in the order wanted (see :func:`collect_reference`).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputError
        The folder does not exist, ``path`` is a folder, or the file cannot be written.
    ValueError
        No action (see :func:`collect_reference`).
    """

    text = reference_text(collect_reference(actions))
    out = check_output_file(path)
    try:
        atomic_write_text(out, text)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return out
