"""The Oracle's simulations with grid2op: the reward table, the replay, their environment.

- :mod:`~gridoracle.oracle.sim.env`: the one environment factory, the rules as a parameter.
- :mod:`~gridoracle.oracle.sim.rewards`: step 2, the reward table (batched engine, in chunks on a
  parallel backend), and Oracle4Grid's way with a Runner per action as the reference.
- :mod:`~gridoracle.oracle.sim.chunk_cache`: the reward table's finished chunks on disk.
- :mod:`~gridoracle.oracle.sim.agents`: grid2op rewards and agents with Oracle4Grid's semantics.
- :mod:`~gridoracle.oracle.sim.replay`: step 6, a best path replayed under real rules.

Import the submodule you need. This package module imports only :mod:`gridoracle.grid` (which
every submodule needs anyway: they import grid2op): grid2op is imported there under the guard
that keeps its import-time warning "Numba cannot be loaded" off the user's stderr, so that no
import path of the Oracle's simulations prints it.
"""

import gridoracle.grid  # noqa: F401  (grid2op imported first under its warning guard)
