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
    also : tuple of str
        Further parameters the message leads with, joined by ``and``
        (``"scheduler and dask_workers: give one of them"``).

    Examples
    --------
    >>> err = InvalidOption("dask_workers 0: must be at least 1", param="dask_workers")
    >>> err.message_for({"dask_workers": "--dask-workers"})
    '--dask-workers 0: must be at least 1'
    >>> both = InvalidOption("a_b and c: one, not both", param="a_b", also=("c",))
    >>> both.message_for({"a_b": "--a-b", "c": "--c"})
    '--a-b and --c: one, not both'
    """

    def __init__(
        self, message: str, *, param: str | None = None, also: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.param = param
        self.params: tuple[str, ...] = () if param is None else (param, *also)

    def message_for(self, names: Mapping[str, str]) -> str:
        """The message with the parameters it leads with replaced by ``names[...]``.

        Only a leading name is replaced (``param``, then each of ``also`` after `` and ``), and
        only as a whole word; a parameter missing from ``names`` keeps its own name.
        """
        head: list[str] = []
        rest = str(self)
        for i, param in enumerate(self.params):
            sep = " and " if i else ""
            after = rest[len(sep + param) :]
            if not rest.startswith(sep + param) or after[:1] not in (" ", ":"):
                break
            head.append(sep + names.get(param, param))
            rest = after
        return "".join(head) + rest


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
