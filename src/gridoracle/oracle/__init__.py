"""The Oracle: the best achievable trajectory of topologies over one episode.

The pure-algorithm core works on plain arrays and imports neither grid2op nor networkx:

- :mod:`gridoracle.oracle.transitions`: which combined action may follow which under the game
  rules (substations and lines changed per step, reachability from the reference topology).
- :mod:`gridoracle.oracle.best_path`: the best path over (time, action) by dynamic programming.
- :mod:`gridoracle.oracle.kpis`: Oracle4Grid's indicators and their order check.
- :mod:`gridoracle.oracle.graph_export`: Oracle4Grid's networkx graph, kept as a test oracle and
  for ``--export-graph`` (GraphML and ``edge_list.csv``).

This package module imports nothing heavy: import the submodule you need.
"""

from __future__ import annotations
