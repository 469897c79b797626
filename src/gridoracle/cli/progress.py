"""The CLI's one progress adapter: what a pipeline reports, drawn on the terminal.

:class:`TerminalProgress` implements :class:`gridoracle.progress.Progress`: ``stage(text)`` prints
a dim line with the seconds since the command started, ``advance(done, total, label)`` moves a Rich
progress bar (removed when the next stage starts or the command ends). With ``--quiet``, or when
stderr is not a terminal (a pipe, a log file, a test), it prints nothing.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

__all__ = ["TerminalProgress", "terminal_progress"]


class TerminalProgress:
    """Progress of one command on stderr: timed stage lines and a progress bar.

    Use it as a context manager, so that the bar is removed however the command ends.

    Parameters
    ----------
    console : rich.console.Console
        Where to draw (stderr).
    title : str
        What the bar does, left of it (``"simulating"``); none by default (the stage line above
        the bar says it).
    enabled : bool
        False: report nothing.

    Examples
    --------
    >>> from rich.console import Console
    >>> with TerminalProgress(Console(stderr=True), enabled=False) as progress:
    ...     progress.stage("2 - rewards")
    ...     progress.advance(3, 12, "combined actions")
    """

    def __init__(self, console: Console, *, title: str = "", enabled: bool = True) -> None:
        self.console = console
        self.title = title
        self.enabled = enabled
        self._start = time.perf_counter()
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop_bar()

    def stage(self, text: str) -> None:
        """A dim line: seconds since the start, then ``text``; ends the current bar."""
        if not self.enabled:
            return
        self._stop_bar()
        elapsed = time.perf_counter() - self._start
        self.console.print(f"[dim]{elapsed:6.1f} s  {escape(text)}[/dim]", highlight=False)

    def advance(self, done: int, total: int, label: str = "") -> None:
        """Move the bar to ``done`` of ``total`` (``label``: of what, or the item under way)."""
        if not self.enabled:
            return
        if self._bar is None:
            self._start_bar()
        assert self._bar is not None and self._task is not None
        self._bar.update(self._task, completed=done, total=total, label=escape(label))

    def _start_bar(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns: list[Any] = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[label]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        self._bar = Progress(*columns, console=self.console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task(escape(self.title), total=None, label="")

    def _stop_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar = None
        self._task = None


def terminal_progress(quiet: bool, title: str = "") -> TerminalProgress:
    """The progress of a command: on stderr when it is a terminal and ``--quiet`` is not given."""
    console = Console(stderr=True)
    return TerminalProgress(console, title=title, enabled=not quiet and console.is_terminal)
