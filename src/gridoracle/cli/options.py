"""The options that several commands share, each defined once (Typer's ``Annotated`` style).

A command names a shared concept with the type alias of this module, so that ``--seed``,
``--quiet``, ``--workers`` and the others are spelled, typed and explained the same everywhere::

    def split_cmd(data: Data, seed: Seed = 0, quiet: Quiet = False) -> None: ...

Options whose help must say what they act on in one command (``--out``, ``--test-chronics``) are
built by a function of this module, so that their names and aliases still come from one place.
Defaults are written where a command declares the option. Nothing here imports numpy: the CLI
starts in a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

#: the gap's default: ``gridoracle.pipelines.models.DEFAULT_GAP`` (tests/test_split.py checks that
#: they agree), written here so that the CLI starts without importing numpy
DEFAULT_GAP = 12
#: the environment of ``generate`` and ``run`` when none is given
DEFAULT_ENV = "l2rpn_case14_sandbox"

_ENV_HELP = "Environment name (see `gridoracle envs`) or folder."
_DATA_HELP = (
    "Dataset folder, or an output folder of datasets (several: pick one with --horizon and "
    "--config-hash)."
)


def chronic_list(text: str | None) -> list[int] | None:
    """The chronics of a ``--test-chronics`` list (``2``, ``2,3``, ``0-3``); None when not given."""
    from gridoracle.pipelines.datasets import parse_chronic_list

    return parse_chronic_list(text) if text is not None else None


def dataset_folder(data: str, horizon: int | None, config_hash: str | None) -> Path:
    """The dataset folder that ``--data``, ``--horizon`` and ``--config-hash`` name."""
    from gridoracle.pipelines.datasets import find_dataset

    return find_dataset(data, horizon=horizon, config_hash=config_hash)


def optional(help: str, *names: str) -> Any:
    """An option whose default is not shown: None (not given), or said in its help."""
    return typer.Option(*names, help=help, show_default=False)


def out_option(help: str, *aliases: str, show_default: bool = True) -> Any:
    """``--out`` (where the command writes), with the command's help and any old spellings."""
    return typer.Option("--out", *aliases, help=help, show_default=show_default)


def workers_option(help: str, *aliases: str) -> Any:
    """``--workers`` (local processes), with the command's help and any old spellings."""
    return typer.Option("--workers", *aliases, help=help, show_default=False)


def test_chronics_option(help: str) -> Any:
    """``--test-chronics``: a list such as ``2`` or ``2,3``, with the command's help."""
    return typer.Option("--test-chronics", help=help, show_default=False)


Env = Annotated[str, typer.Option("--env", help=_ENV_HELP)]
OptionalEnv = Annotated[str | None, typer.Option("--env", help=_ENV_HELP, show_default=False)]
Data = Annotated[str, typer.Option("--data", help=_DATA_HELP)]
DataHorizon = Annotated[
    int | None,
    typer.Option(
        "--horizon",
        help="Of several datasets under --data, the one of this horizon.",
        show_default=False,
    ),
]
ConfigHash = Annotated[
    str | None,
    typer.Option(
        "--config-hash",
        help="Of several datasets under --data, the one whose config hash starts so.",
        show_default=False,
    ),
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed", help="Seed of the command's random draws: same inputs and seed, same outputs."
    ),
]
Quiet = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress bar or step lines (also off when not a TTY)."),
]
Workers = Annotated[
    int | None, workers_option("Local worker processes [default: number of cores].")
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Run the work on this Dask cluster (tcp://HOST:PORT) instead of local processes.",
        show_default=False,
    ),
]
DaskWorkers = Annotated[
    int | None,
    typer.Option(
        "--dask-workers",
        help="Run the work on a Dask LocalCluster of N processes (started and stopped here).",
        show_default=False,
    ),
]
UnitaryActions = Annotated[
    Path,
    typer.Option(
        "--actions",
        "--actions-file",
        help="Unitary actions (Oracle4Grid reference, parser1 or parser2 JSON).",
    ),
]
TestFraction = Annotated[
    float,
    typer.Option(
        "--test-fraction",
        help="Share of chronics held out (split by time: of each chronic's steps), in (0, 1).",
    ),
]
SplitBy = Annotated[
    str,
    typer.Option(
        "--split-by",
        help="chronic: whole chronics held out; time: the last --test-fraction of every chronic "
        "held out, --gap steps left out before it (datasets with one chronic).",
    ),
]
Gap = Annotated[
    int, typer.Option("--gap", help="Split by time: steps left out between training and test.")
]

#: help of ``--test-chronics`` where a split draws the test chronics
TEST_CHRONICS_HELP = (
    "Chronics of the test set, comma-separated (e.g. 2 or 2,3 or 0-3); "
    "default: drawn with --test-fraction and --seed."
)
