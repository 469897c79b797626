"""The one progress protocol: how work below the CLI tells how far it has got.

Nothing below the CLI prints. A pipeline or a domain function that does long work takes a
:class:`Progress` and calls it; the CLI hands in one that draws Rich progress bars and status
lines, a library user hands in their own or nothing (:data:`SILENT`).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["SILENT", "Progress", "Silent"]


class Progress(Protocol):
    """What long work reports: the stages it goes through and how far each one is.

    Examples
    --------
    >>> class Printer:
    ...     def stage(self, text: str) -> None:
    ...         print(text)
    ...     def advance(self, done: int, total: int, label: str = "") -> None:
    ...         print(f"{label} {done}/{total}")
    >>> p: Progress = Printer()
    >>> p.stage("2 - rewards"); p.advance(3, 12, "combined actions")
    2 - rewards
    combined actions 3/12
    """

    def stage(self, text: str) -> None:
        """A new stage begins; ``text`` is one line saying what it does."""

    def advance(self, done: int, total: int, label: str = "") -> None:
        """``done`` of ``total`` units of the current stage are finished (``label``: of what)."""


class Silent:
    """A :class:`Progress` that reports nothing."""

    def stage(self, text: str) -> None:
        """Ignore the stage."""

    def advance(self, done: int, total: int, label: str = "") -> None:
        """Ignore the advance."""


SILENT: Progress = Silent()
"""Report nothing (the default everywhere)."""
