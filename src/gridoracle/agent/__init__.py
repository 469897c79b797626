"""grid2op agents built on a predictor of action outcomes: screening, greedy and random-k.

Public API::

    from gridoracle.agent import ScreeningAgent, GreedyAgent, RandomKAgent, load_catalogue

    agent = ScreeningAgent(env.action_space, "models/line_flows", k=10, threshold=0.95)
    expert = GreedyAgent(env.action_space, "models/line_flows")  # the model's catalogue
    baseline = RandomKAgent(env.action_space, "actions.json", k=10, seed=0)
    action = agent.act(obs, reward=0.0)
    agent.summary()  # simulate calls, acting steps, decision time

All three play the same policy (see :mod:`gridoracle.agent.agents`); they differ only in which
catalogue actions they simulate with ``obs.simulate`` when the grid is loaded: all legal ones
(greedy), ``k`` drawn at random (random-k), or the ``k`` of lowest predicted max rho (screening).
With ``recover=r`` each also returns a substation to the episode's initial (reference) topology
when max rho is below ``r`` and the simulated return stays below the threshold.
"""

from __future__ import annotations

from gridoracle.agent.agents import (
    DONOTHING,
    RECOVER,
    GreedyAgent,
    RandomKAgent,
    ScreeningAgent,
    SimulatingAgent,
)
from gridoracle.agent.catalogue import load_catalogue, resolve_actions
from gridoracle.agent.features import FeatureRow

__all__ = [
    "DONOTHING",
    "RECOVER",
    "FeatureRow",
    "GreedyAgent",
    "RandomKAgent",
    "ScreeningAgent",
    "SimulatingAgent",
    "load_catalogue",
    "resolve_actions",
]
