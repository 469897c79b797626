"""The Oracle: the best achievable trajectory of topologies over one episode.

- :mod:`gridoracle.oracle.core`: the pure-algorithm core on plain arrays (NumPy and SciPy, no
  grid2op, no files): transitions under the game rules, the best paths by dynamic programming,
  the KPIs, the reward's formula.
- :mod:`gridoracle.oracle.sim`: the simulations with grid2op: the one environment factory, the
  reward table (with its chunk cache), the rewards and agents, the replay under real rules.
- :mod:`gridoracle.oracle.config`: Oracle4Grid's settings (``config.ini`` as is, or TOML).
- :mod:`gridoracle.oracle.graph_export`: Oracle4Grid's networkx graph, kept as a test oracle and
  for ``--export-graph`` (GraphML and ``edge_list.csv``).
- :mod:`gridoracle.oracle.outputs`: what the Oracle writes (CSV, JSON, PNG).

The Oracle's steps 0 to 6 are run by :func:`gridoracle.pipelines.oracle.run_oracle`. This package
module imports nothing heavy: import the submodule you need.
"""

from __future__ import annotations
