"""The ``gridoracle`` Typer app and :func:`main`, the script's entry point.

User errors (:class:`gridoracle.errors.GridOracleError`) become one red line and exit code 2;
the parameter an error names (its ``param``) is shown as the command line spells it
(``--dask-workers``). Ctrl-C exits 130 saying that finished work is kept; usage errors keep
click's message and code.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import warnings

import typer
from rich.markup import escape

from gridoracle.cli import actions, agents, data, envs, models, oracle, reduce, run
from gridoracle.cli.render import stderr
from gridoracle.errors import GridOracleError

__all__ = ["INTERRUPTED", "app", "build_app", "flag", "main", "user_message"]

INTERRUPTED = 130
#: library parameters whose option is not ``--`` and the name with ``-`` for ``_``
FLAGS = {"n_actions": "--actions"}


def _typer(**settings: object) -> typer.Typer:
    return typer.Typer(
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="markdown",
        **settings,  # type: ignore[arg-type]
    )


def build_app() -> typer.Typer:
    """The ``gridoracle`` app: a command per verb, ``actions`` a group with ``show`` under it."""
    root = _typer(
        name="gridoracle",
        help="Fast, cross-checked answers about topology actions on grid2op power grids.",
        no_args_is_help=True,
    )
    commands = (
        ("envs", envs.envs_cmd),
        ("generate", data.generate_cmd),
        ("split", data.split_cmd),
        ("train", models.train_cmd),
        ("evaluate", models.evaluate_cmd),
        ("compare", models.compare_cmd),
        ("plot", run.plot_cmd),
        ("oracle", oracle.oracle_cmd),
        ("run", run.run_cmd),
    )
    for name, command in commands:
        root.command(name)(command)
    group = _typer()
    group.callback(invoke_without_command=True)(actions.actions_cmd)
    group.command("show")(actions.actions_show_cmd)
    group.command("reduce")(reduce.actions_reduce_cmd)
    root.add_typer(group, name="actions")
    agents_group = _typer(
        help="Agents built on a model, measured against the Oracle.", no_args_is_help=True
    )
    agents_group.command("evaluate")(agents.agents_evaluate_cmd)
    root.add_typer(agents_group, name="agents")
    return root


app = build_app()


def flag(param: str) -> str:
    """The option that sets a library parameter: ``dask_workers`` → ``--dask-workers``."""
    return FLAGS.get(param, "--" + param.replace("_", "-"))


def user_message(error: GridOracleError) -> str:
    """The error's message as the command line shows it: the parameters it leads with as flags.

    ``dask_workers 0: must be at least 1`` (``param="dask_workers"``) becomes ``--dask-workers 0:
    must be at least 1``; a message about two parameters names both first, joined by ``and``
    (``scheduler and dask_workers: give one of them``, ``also=("dask_workers",)``), and both
    become flags.

    Examples
    --------
    >>> from gridoracle.errors import InvalidOption
    >>> user_message(InvalidOption("n_actions must be at least 1, got 0", param="n_actions"))
    '--actions must be at least 1, got 0'
    >>> both = InvalidOption("scheduler and x: one", param="scheduler", also=("x",))
    >>> user_message(both)
    '--scheduler and --x: one'
    """
    return error.message_for({param: flag(param) for param in error.params})


def _click_exceptions() -> tuple[type[Exception], ...]:
    """Usage-error classes: click's, and the copy of click that recent Typer versions vendor."""
    classes: list[type[Exception]] = []
    try:
        import click

        classes.append(click.ClickException)
    except ImportError:  # pragma: no cover - Typer without click
        pass
    try:
        from typer._click.exceptions import ClickException as VendoredClickException

        classes.append(VendoredClickException)
    except ImportError:  # pragma: no cover - Typer that uses click itself
        pass
    return tuple(classes)


def _interrupted() -> None:
    stderr().print(
        "[yellow]interrupted[/yellow]: finished work is kept; run the same command again to resume",
        highlight=False,
    )
    sys.exit(INTERRUPTED)


#: warnings of other packages that say nothing to a user of gridoracle (message starts)
SILENCED_WARNINGS = (
    # pandapower, imported by grid2op: gridoracle runs on lightsim2grid, not on pandapower's solver
    "Numba cannot be loaded",
)


def quiet_third_party_warnings() -> None:
    """Hide :data:`SILENCED_WARNINGS` here and in every worker process this command starts.

    Workers that are spawned (Dask's, or local ones under spawn) start a new interpreter: they
    learn the filters from ``PYTHONWARNINGS``, which they inherit.
    """
    rules = [f"ignore:{text}:UserWarning" for text in SILENCED_WARNINGS]
    for text in SILENCED_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(text), category=UserWarning)
    given = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join([*([given] if given else []), *rules])


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gridoracle`` script: run the app, turn user errors into one line.

    User errors exit 2 with one red line, Ctrl-C exits 130 saying that finished work is kept,
    usage errors keep click's message and code.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_third_party_warnings()
    try:
        _run(argv)
    finally:
        if argv is None:  # the script: its outcome is decided, a Ctrl-C while Python tears
            # down (atexit, Dask and grid2op cleanup) must not turn it into a traceback or 130
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(argv: list[str] | None) -> None:
    try:
        # standalone_mode=False: errors come back to us, and an exit code comes back as a
        # return value (Typer turns Ctrl-C into Exit(130), returned here)
        code = app(args=argv, standalone_mode=False)
    except GridOracleError as exc:
        message = escape(user_message(exc))
        stderr().print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _interrupted()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except _click_exceptions() as exc:  # usage errors: click's message and exit code (2)
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    if code == INTERRUPTED:
        _interrupted()
    if isinstance(code, int) and code != 0:
        sys.exit(code)
