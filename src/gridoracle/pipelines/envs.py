"""The environments usable offline and their facts: ``gridoracle envs``.

:func:`list_envs` loads each environment (grid2op's shipped test data, or the names and folders
given) and returns one :class:`EnvListing` each: its facts (:class:`gridoracle.grid.EnvFacts`), or
the error that kept it from loading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from gridoracle.errors import GridOracleError
from gridoracle.progress import SILENT, Progress

if TYPE_CHECKING:
    from gridoracle.grid import EnvFacts

__all__ = ["EnvListing", "list_envs"]

_MAX_ERROR = 200


@dataclass(frozen=True)
class EnvListing:
    """One environment of :func:`list_envs`.

    Attributes
    ----------
    name : str
        The name or folder as given (or as grid2op lists it).
    facts : EnvFacts, optional
        Grid size and chronics; None when it failed to load.
    error : str, optional
        Why it failed to load (one line); None when it loaded.
    """

    name: str
    facts: EnvFacts | None
    error: str | None

    def record(self) -> dict[str, object]:
        """A JSON object: every field of :class:`~gridoracle.grid.EnvFacts` (null when unknown),
        ``name`` and ``error``; the same keys for every environment."""
        from gridoracle.grid import EnvFacts

        record: dict[str, object] = dict.fromkeys(f.name for f in fields(EnvFacts))
        if self.facts is not None:
            record.update(asdict(self.facts))
        record["name"] = self.name
        record["error"] = self.error
        return record


def list_envs(names: Sequence[str] | None = None, progress: Progress = SILENT) -> list[EnvListing]:
    """Load each environment and read its facts (about half a minute for all offline ones).

    Parameters
    ----------
    names : sequence of str, optional
        Environment names or folders; default: every offline environment
        (:func:`gridoracle.grid.offline_env_names`).
    progress : Progress
        ``advance(done, total, name)`` before each environment loads.

    Returns
    -------
    list of EnvListing
        In the order given (or listed). Without ``names``, an environment that fails to load is
        listed with its error (the exception's class and first line).

    Raises
    ------
    GridOracleError
        When one of the ``names`` given cannot be loaded (a name the user typed: their error).
    """
    from gridoracle import grid

    targets = list(names) if names else grid.offline_env_names()
    listings: list[EnvListing] = []
    for done, target in enumerate(targets):
        progress.advance(done, len(targets), target)
        try:
            listings.append(EnvListing(target, grid.load_env_facts(target), None))
        except GridOracleError as exc:
            if names:
                raise
            listings.append(EnvListing(target, None, str(exc)))
        except Exception as exc:  # listed with its error, not a traceback over the table
            message = (str(exc).strip().splitlines() or [""])[0]
            listings.append(
                EnvListing(target, None, f"{type(exc).__name__}: {message}"[:_MAX_ERROR])
            )
    progress.advance(len(targets), len(targets))
    return listings
