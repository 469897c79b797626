"""The only orchestration: each pipeline takes a config, a parallel backend and a progress reporter.

- :mod:`~gridoracle.pipelines.generate`: the action-outcome dataset.
- :mod:`~gridoracle.pipelines.models`: train, evaluate and compare models on a dataset.
- :mod:`~gridoracle.pipelines.oracle`: the Oracle, steps 0 to 6, with its outputs.
- :mod:`~gridoracle.pipelines.figures`: every figure of a dataset and its models.
- :mod:`~gridoracle.pipelines.run`: the whole demo, ``gridoracle run``.

Domain packages (dataset, models, oracle, actions, engine) keep pure units and algorithms; the CLI
imports this package and :mod:`gridoracle.errors` only.
"""
