"""The action vocabulary: catalogues of candidate topology actions and their files.

- :mod:`gridoracle.actions.model`: :class:`CatalogueAction` (name, kind, grid2op dict) and
  :class:`GridLayout` (what an action needs to know about the grid).
- :mod:`gridoracle.actions.enumerate`: the catalogue of a grid from its action space, samples.
- :mod:`gridoracle.actions.catalogue`: catalogue files (atomic writes, checked reads) and the
  choice of the actions of a run (``--actions N`` / ``--actions-file FILE``).
- :mod:`gridoracle.actions.strategies`: choosing actions on big grids (chosen or busiest
  substations, a sample per substation, the topologies that move the most lines), the checked
  options of a choice (:class:`Selection`) and its record.
- :mod:`gridoracle.actions.source`: the actions of a file to choose from (a catalogue, or an
  Oracle4Grid file in any of its formats).
- :mod:`gridoracle.actions.show`: each unitary action of an Oracle4Grid file judged and drawn.
- :mod:`gridoracle.actions.effects`: what an action does to the reference topology: no-op actions
  and actions of identical effect.
- :mod:`gridoracle.actions.build`: building unitary actions by hand (a substation's elements, the
  reference-format file of the actions chosen).
"""

from __future__ import annotations

from gridoracle.actions.catalogue import (
    FORMAT,
    check_output_file,
    load_catalogue,
    resolve_actions,
    save_catalogue,
)
from gridoracle.actions.effects import (
    DistinctActions,
    Effect,
    EffectGroup,
    ReferenceTopology,
    distinct_actions,
    group_by_effect,
    is_no_op,
)
from gridoracle.actions.enumerate import ACTION_SETS, enumerate_actions, sample_actions
from gridoracle.actions.model import KINDS, CatalogueAction, GridLayout, count_kinds
from gridoracle.actions.source import ActionSource, load_action_source
from gridoracle.actions.strategies import (
    ChosenActions,
    Selection,
    busiest_substations,
    choose_actions,
    lines_moved,
    parse_ids,
    select_actions,
)

__all__ = [
    "ACTION_SETS",
    "FORMAT",
    "KINDS",
    "ActionSource",
    "CatalogueAction",
    "ChosenActions",
    "DistinctActions",
    "Effect",
    "EffectGroup",
    "GridLayout",
    "ReferenceTopology",
    "Selection",
    "busiest_substations",
    "check_output_file",
    "choose_actions",
    "count_kinds",
    "distinct_actions",
    "enumerate_actions",
    "group_by_effect",
    "is_no_op",
    "lines_moved",
    "load_action_source",
    "load_catalogue",
    "parse_ids",
    "resolve_actions",
    "sample_actions",
    "save_catalogue",
    "select_actions",
]
