"""``gridoracle actions`` (write a catalogue) and ``gridoracle actions show`` (draw actions).

``actions`` is a group: its callback writes the catalogue when no subcommand is given, so that
subcommands such as ``show`` hang under it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridoracle.cli import render
from gridoracle.cli.options import (
    Env,
    OptionalEnv,
    Quiet,
    Seed,
    UnitaryActions,
    optional,
    out_option,
)
from gridoracle.cli.progress import terminal_progress
from gridoracle.errors import InvalidOption

Kind = Annotated[
    str | None,
    optional(
        "topology: every unitary substation topology; line: disconnection and reconnection of "
        "every line; all: both. donothing is always first. Default: topology, or every action "
        "of the --from file."
    ),
]
Substations = Annotated[
    str | None,
    optional(
        "Only the topologies of these substations (ids such as 4,5,11), and the line actions of "
        "lines with an end at one of them."
    ),
]
Busiest = Annotated[
    int | None,
    optional("As --substations with the N substations of most elements (ties: lower id)."),
]
PerSubstation = Annotated[
    int | None, optional("At most K topologies per substation, drawn with --seed.")
]
MostLines = Annotated[
    int | None,
    optional(
        "Only the N topologies that put the most line ends on bus 2 or higher (ties: catalogue "
        "order); line actions are kept."
    ),
]
FromFile = Annotated[
    Path | None,
    optional(
        "Start from the actions of this file (a gridoracle catalogue, or an Oracle4Grid "
        "reference, parser1 or parser2 file) instead of the grid's catalogue.",
        "--from",
    ),
]
Limit = Annotated[
    int | None,
    optional(
        "Keep this many actions, donothing included, drawn with --seed, after the other options "
        "(default: all of them)."
    ),
]
Distinct = Annotated[
    bool,
    typer.Option(
        "--distinct",
        help="First drop the actions that change nothing on the reference topology (chronic 0's "
        "first observation; donothing stays) and keep the first of each group of actions of "
        "identical effect (e.g. a line end alone on a bus = that line disconnected, for a line "
        "without charging); each group is listed and recorded in the file's extra.",
    ),
]
CatalogueFile = Annotated[
    Path | None,
    out_option(
        "Catalogue file to write (JSON, replaced atomically); its folder must exist.",
        show_default=False,
    ),
]


def actions_cmd(
    ctx: typer.Context,
    env: OptionalEnv = None,
    kind: Kind = None,
    substations: Substations = None,
    busiest: Busiest = None,
    per_substation: PerSubstation = None,
    most_lines: MostLines = None,
    from_file: FromFile = None,
    limit: Limit = None,
    distinct: Distinct = False,
    seed: Seed = 0,
    out: CatalogueFile = None,
    quiet: Quiet = False,
) -> None:
    """Write the action catalogue of an environment: candidate actions with stable names.

    Names: `donothing`, `sub-<sub id>-<k>`, `line-<line id>-off`, `line-<line id>-on`.

    k numbers the unitary topologies of a substation in grid2op's enumeration order.

    Each action comes with the grid2op dict that plays it. Same options, same file, byte for byte.

    Big grids: these options compose, applied in this order; donothing is always kept (added
    first when a --from file has none) and the output keeps the catalogue's order:

    - `--from FILE`: start from a file's actions instead of the grid's catalogue (Oracle4Grid
      substation actions keep their names `sub-<sub id>-<k>`, k = position in the file; line
      actions become `line-<id>-off`/`-on`; an action repeating an earlier one is kept once).
    - `--kind`: keep one kind of actions.
    - `--distinct`: drop the actions that change nothing on the reference topology, keep one
      action per effect (each merged group is listed: kept <- merged).
    - `--substations 4,5,11` or `--busiest N`: the topologies acting only on those
      substations, and the line actions of lines with an end there.
    - `--per-substation K`: at most K topologies per substation, drawn with `--seed`.
    - `--most-lines N`: the N topologies with the most line ends on bus 2 or higher.
    - `--limit N`: N actions in all, drawn with `--seed`.

    `--per-substation` and `--most-lines` leave line actions as they are. The file's `extra`
    records the options.

    Use the file with `gridoracle generate --actions-file`.

    Example: gridoracle actions --env l2rpn_case14_sandbox --limit 50 --seed 0 --out actions.json

    Example: gridoracle actions --env l2rpn_wcci_2022_dev --busiest 20 --per-substation 50
    --out actions118.json
    """
    if ctx.invoked_subcommand is not None:
        return
    from gridoracle.pipelines.actions import (
        CatalogueRequest,
        Selection,
        parse_ids,
        write_catalogue,
    )

    # the group cannot require its options (`actions show` has its own): checked here
    if env is None:
        raise InvalidOption("missing --env: the environment to list actions of (see envs)")
    if out is None:
        raise InvalidOption("missing --out: the catalogue file to write (e.g. actions.json)")
    selection = Selection(  # checks the options before the environment is loaded
        kind=kind,  # type: ignore[arg-type]  # checked by Selection
        substations=None if substations is None else parse_ids(substations),
        busiest=busiest,
        per_substation=per_substation,
        most_lines=most_lines,
        limit=limit,
        seed=seed,
        from_file=from_file,
        distinct=distinct,
    )
    request = CatalogueRequest(env=env, out=out, selection=selection)
    with terminal_progress(quiet) as progress:
        report = write_catalogue(request, progress)
    render.catalogue_written(report, from_file)


def actions_show_cmd(
    env: Env,
    actions: UnitaryActions,
    out: Annotated[
        Path | None,
        out_option(
            "Folder of the drawings (default: results/actions_show/<actions file stem>).",
            show_default=False,
        ),
    ] = None,
    chronic: Annotated[
        str, typer.Option(help="Chronic index or name whose first observation is used.")
    ] = "0",
    quiet: Quiet = False,
) -> None:
    """Draw each unitary action of an action file on the grid and report its validity.

    Each action is simulated on the first observation of the chronic (time step 0).

    Validity: ok, diverges, no effect (topology and line status unchanged) or illegal.

    Writes `<out>/<action name>.png` (the grid after the action, the acted asset in magenta).

    Also writes `<out>/actions.csv`: name, kind, asset, validity, max rho before and after.

    Example: gridoracle actions show --env rte_case14_realistic
    --actions examples/actions/rte_case14_realistic/reference.json
    """
    from gridoracle.pipelines.actions import ShowRequest, show_actions

    request = ShowRequest(env=env, actions_file=actions, out=out, chronic=chronic)
    with terminal_progress(quiet, "drawing") as progress:
        report = show_actions(request, progress)
    render.shown_actions(report, actions, chronic)
