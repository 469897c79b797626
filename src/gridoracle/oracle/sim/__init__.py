"""The Oracle's simulations with grid2op: the reward table, the replay, their environment.

- :mod:`~gridoracle.oracle.sim.env`: the one environment factory, the rules as a parameter.
- :mod:`~gridoracle.oracle.sim.rewards`: step 2, the reward table (batched engine, in chunks on a
  parallel backend), and Oracle4Grid's way with a Runner per action as the reference.
- :mod:`~gridoracle.oracle.sim.chunk_cache`: the reward table's finished chunks on disk.
- :mod:`~gridoracle.oracle.sim.agents`: grid2op rewards and agents with Oracle4Grid's semantics.
- :mod:`~gridoracle.oracle.sim.replay`: step 6, a best path replayed under real rules.

This package module imports nothing (grid2op is heavy): import the submodule you need.
"""
