"""Power-flow evaluation of (state, action) pairs: the reference (grid2op) and the batched engine.

Import the submodule you need. This package module imports only :mod:`gridoracle.grid`: the
engines import lightsim2grid, which imports grid2op, and :mod:`gridoracle.grid` imports grid2op
under the guard that keeps its import-time warning "Numba cannot be loaded" off the user's stderr.
"""

import gridoracle.grid  # noqa: F401  (grid2op imported first under its warning guard)
