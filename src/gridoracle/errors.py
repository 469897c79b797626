"""User-facing errors.

Every error a user can cause by their input (a path, an environment name, a file, an option value)
is a :class:`GridOracleError`. The CLI prints its message on one line and exits with code 2; other
exceptions are programming errors and keep their traceback.
"""

from __future__ import annotations


class GridOracleError(Exception):
    """Base class of errors caused by user input; the message names the input and the problem."""


class EnvironmentNotFound(GridOracleError):
    """An environment name that is neither shipped test data nor an environment folder."""


class InvalidOption(GridOracleError):
    """An option value out of its allowed range (chronic index, number of actions, ...)."""


class ActionFileError(GridOracleError):
    """A malformed action file, or one that does not fit the grid."""


class DatasetError(GridOracleError):
    """A missing, incomplete or corrupted dataset folder."""


class OutputError(GridOracleError):
    """An output location that cannot be written."""


class OracleOrderError(GridOracleError):
    """Oracle KPIs out of their necessary order (e.g. do nothing above the best path)."""


class ModelError(GridOracleError):
    """A missing, incomplete or corrupted model folder."""


class ModelMismatch(ModelError):
    """A model used with a dataset whose features or actions differ from its training data."""
