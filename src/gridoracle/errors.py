"""User-facing errors.

Every error a user can cause by their input (a path, an environment name, a file, an option value)
is a :class:`GridOracleError`. The CLI prints its message on one line and exits with code 2; other
exceptions are programming errors and keep their traceback.
"""

from __future__ import annotations

from collections.abc import Mapping


class GridOracleError(Exception):
    """Base class of errors caused by user input; the message names the input and the problem.

    Parameters
    ----------
    message : str
        One line. When the error is about a parameter, it starts with that parameter's name as
        the library spells it (``"dask_workers 0: must be at least 1"``).
    param : str, optional
        That parameter's name. A front end that knows the parameter by another name (the CLI's
        ``--dask-workers``) shows its own name instead: see :meth:`message_for`.

    Examples
    --------
    >>> err = InvalidOption("dask_workers 0: must be at least 1", param="dask_workers")
    >>> err.message_for({"dask_workers": "--dask-workers"})
    '--dask-workers 0: must be at least 1'
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    def message_for(self, names: Mapping[str, str]) -> str:
        """The message with the parameter's name replaced by ``names[param]`` where it leads."""
        message = str(self)
        if self.param is None or self.param not in names:
            return message
        if message.startswith(self.param + " ") or message.startswith(self.param + ":"):
            return names[self.param] + message[len(self.param) :]
        return message


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
