"""``gridoracle envs``: the environments usable offline, with their size and chronics."""

from __future__ import annotations

from typing import Annotated

import typer

from gridoracle.cli import render
from gridoracle.cli.options import Quiet
from gridoracle.cli.progress import terminal_progress


def envs_cmd(
    envs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Environment names or folders to describe; default: every offline environment.",
            show_default=False,
            metavar="ENV",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print a JSON list (one object per environment) instead of a table."
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """List the environments usable offline (grid2op's shipped test data): grid size and chronics.

    Any name listed works as --env of the other commands; so does an environment folder's path.

    Each environment is loaded to read its facts (about half a minute for all of them).

    An environment that fails to load is listed with its error.

    Example: gridoracle envs l2rpn_case14_sandbox rte_case14_realistic --json
    """
    from gridoracle.pipelines.envs import list_envs

    with terminal_progress(quiet, "loading") as progress:
        listings = list_envs(envs, progress)
    if as_json:
        render.envs_json(listings)
    else:
        render.envs_table(listings, given=bool(envs))
