"""The ``gridoracle`` command line: thin, it parses, calls the pipelines and prints with Rich.

- :mod:`~gridoracle.cli.app`: the Typer app and :func:`main` (user errors: one red line, exit 2).
- :mod:`~gridoracle.cli.options`: the options several commands share, defined once.
- :mod:`~gridoracle.cli.render`: one renderer per table or report.
- :mod:`~gridoracle.cli.progress`: the one progress adapter (Rich bar, timed step lines).
- a module per verb group: :mod:`~gridoracle.cli.envs`, :mod:`~gridoracle.cli.actions`,
  :mod:`~gridoracle.cli.data` (generate, split), :mod:`~gridoracle.cli.models` (train, evaluate,
  compare), :mod:`~gridoracle.cli.oracle`, :mod:`~gridoracle.cli.run` (run, plot).

The CLI imports :mod:`gridoracle.pipelines` and :mod:`gridoracle.errors` only, and those lazily
inside the commands: ``gridoracle --help`` does not import numpy or grid2op.
"""

from gridoracle.cli.app import app, main

__all__ = ["app", "main"]
