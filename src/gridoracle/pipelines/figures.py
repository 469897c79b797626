"""Every figure of a dataset and its models: ``gridoracle plot``.

:func:`plot` takes a :class:`PlotRequest` (folders, not loaded objects) and a
:class:`~gridoracle.progress.Progress`; :func:`make_plots` is the same on a loaded dataset and
models (what ``gridoracle run`` calls).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gridoracle.errors import InvalidOption
from gridoracle.pipelines.run import figure_rows, make_plots
from gridoracle.progress import SILENT, Progress

if TYPE_CHECKING:
    from gridoracle.models.persist import Predictor
    from gridoracle.report import ReportFigure

__all__ = ["PlotRequest", "figure_rows", "make_plots", "plot"]


@dataclass(frozen=True)
class PlotRequest:
    """The figures to draw (see :func:`plot`).

    Attributes
    ----------
    data : str or Path
        A dataset folder.
    out : Path
        Folder of the PNG files.
    models : sequence of path
        Model folders written by ``gridoracle train``.
    test_chronics : sequence of int, optional
        Rows of the model figures; default: the first model's test chronics, or every chronic.
    chronic : int, optional
        Chronic of the heat map; default: the first test chronic.
    worst : int
        Actions in the error box plots.
    seed : int
        Seed of the subsamples (scatter, permutation importance).
    """

    data: str | Path
    out: Path = Path("results/plots")
    models: Sequence[str | Path] = ()
    test_chronics: Sequence[int] | None = None
    chronic: int | None = None
    worst: int = 20
    seed: int = 0


def plot(request: PlotRequest, progress: Progress = SILENT) -> list[ReportFigure]:
    """Load the dataset and models of ``request`` and draw every figure; the figures written.

    Raises
    ------
    InvalidOption
        ``worst`` below 1, or two models of the same name.
    """
    from gridoracle.dataset import load
    from gridoracle.models import load as load_model

    if request.worst < 1:
        raise InvalidOption(f"worst must be at least 1, got {request.worst}", param="worst")
    ds = load(request.data)
    predictors: dict[str, Predictor] = {}
    for folder in request.models:
        predictor = load_model(folder)
        name = predictor.name if predictor.name not in predictors else Path(folder).name
        if name in predictors:
            raise InvalidOption(
                f"model {folder}: a model named {name!r} is already given", param="model"
            )
        predictors[name] = predictor
    return make_plots(
        ds,
        request.out,
        models=predictors,
        test_chronics=request.test_chronics,
        chronic=request.chronic,
        worst=request.worst,
        seed=request.seed,
        progress=progress.stage,
    )
