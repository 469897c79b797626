"""The action vocabulary: catalogues of candidate topology actions and their files.

- :mod:`gridoracle.actions.model`: :class:`CatalogueAction` (name, kind, grid2op dict) and
  :class:`GridLayout` (what an action needs to know about the grid).
- :mod:`gridoracle.actions.enumerate`: the catalogue of a grid from its action space, samples.
- :mod:`gridoracle.actions.catalogue`: catalogue files (atomic writes, checked reads) and the
  choice of the actions of a run (``--actions N`` / ``--actions-file FILE``).
"""

from __future__ import annotations

from gridoracle.actions.catalogue import (
    FORMAT,
    check_output_file,
    load_catalogue,
    resolve_actions,
    save_catalogue,
)
from gridoracle.actions.enumerate import ACTION_SETS, enumerate_actions, sample_actions
from gridoracle.actions.model import KINDS, CatalogueAction, GridLayout, count_kinds

__all__ = [
    "ACTION_SETS",
    "FORMAT",
    "KINDS",
    "CatalogueAction",
    "GridLayout",
    "check_output_file",
    "count_kinds",
    "enumerate_actions",
    "load_catalogue",
    "resolve_actions",
    "sample_actions",
    "save_catalogue",
]
