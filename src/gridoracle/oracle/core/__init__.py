"""The Oracle's pure core: arrays in, arrays out (NumPy and SciPy; no grid2op, no files).

- :mod:`~gridoracle.oracle.core.transitions`: which combined action may follow which under the
  game rules (substations and lines changed per step, reachability from the reference topology).
- :mod:`~gridoracle.oracle.core.best_path`: the best path over (time, action) by dynamic
  programming, with Oracle4Grid's semantics and networkx's ties (public API; the kernels are
  the private modules ``_dense``, ``_sparse``, ``_recursion``, ``_small`` and ``_ties``).
- :mod:`~gridoracle.oracle.core.kpis`: Oracle4Grid's indicators and their order check.
- :mod:`~gridoracle.oracle.core.margins`: the reward and overload flag of a step from its flows.

This package module imports nothing: import the submodule you need.
"""
