"""The ``gridoracle`` command line: thin, it parses, calls the library and prints with Rich.

User errors (:class:`gridoracle.errors.GridOracleError`) become one red line and exit code 2.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

from gridoracle.errors import GridOracleError

app = typer.Typer(
    name="gridoracle",
    help="Fast, cross-checked answers about topology actions on grid2op power grids.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err_console = Console(stderr=True)


# --- commands are added below this line (one function per verb) ---------------------------------


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gridoracle`` script: run the app, turn user errors into one line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv, standalone_mode=False)
    except GridOracleError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/yellow]: finished work is kept; run the same "
                          "command again to resume", highlight=False)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
