"""The atomic-action helper: each unitary action of an Oracle4Grid file drawn on the grid.

Oracle4Grid's preliminary step (its ``Atomic_Actions_Helper`` notebook) lets a user look at the
unitary actions of an action file before running the Oracle. :func:`show_actions` does that
without a notebook: each unitary action is simulated on the first observation of a chronic, judged,
and drawn with grid2op's own plotting (:class:`grid2op.PlotGrid.PlotMatplot`), one PNG per action,
next to an ``actions.csv`` summary.

Validity of an action (``obs.simulate(action, time_step=0)`` on the first observation, under the
environment's own parameters and rules, as Oracle4Grid's filter at t0 judges combined actions):

``ok``
    It changes the topology vector or the line status, and the power flow converges.
``diverges``
    The simulation raises, reports an exception (a diverged power flow) or ends the episode.
``no effect``
    Neither ``topo_vect`` nor ``line_status`` changes (e.g. it sets the buses they already have):
    Oracle4Grid drops such an action.
``illegal``
    The environment's rules refuse it, grid2op finds it ambiguous, or the environment's action
    class cannot express it.

Each PNG shows the observation after the action (the initial observation when the action
diverges or is illegal), the acted substation circled or the acted line underlined in magenta,
and a title with the name, the validity and max rho before and after.

:func:`draw_grid` is that drawing alone (an observation, or the grid's layout with its line ids,
an asset highlighted), for a notebook building actions by hand (``notebooks/actions.ipynb``).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gridoracle.actions.parse import UnitaryAction, load_unitary_actions
from gridoracle.errors import InvalidOption, OutputError
from gridoracle.progress import SILENT, Progress

__all__ = [
    "CSV_COLUMNS",
    "VALIDITIES",
    "ShownAction",
    "default_out",
    "draw_grid",
    "judge_action",
    "show_actions",
]

logger = logging.getLogger(__name__)

OK = "ok"
DIVERGES = "diverges"
NO_EFFECT = "no effect"
ILLEGAL = "illegal"
#: the validities an action can have, see the module doc
VALIDITIES: tuple[str, ...] = (OK, DIVERGES, NO_EFFECT, ILLEGAL)

#: columns of ``actions.csv``, in order
CSV_COLUMNS: tuple[str, ...] = (
    "name",
    "kind",
    "asset",
    "validity",
    "max_rho_before",
    "max_rho_after",
    "warnings",
    "detail",
)
CSV_NAME = "actions.csv"
_HIGHLIGHT = "magenta"
_MAX_DETAIL = 200


@dataclass(frozen=True)
class ShownAction:
    """What :func:`show_actions` found about one unitary action.

    Attributes
    ----------
    name : str
        Oracle4Grid's name (``sub-1-0``, ``line-4-3``).
    kind : str
        ``"sub"`` or ``"line"``.
    asset_id : int
        The substation or line acted on.
    validity : str
        One of :data:`VALIDITIES`.
    detail : str
        Why, when the validity is not ``ok`` (the divergence message, the rule refusing it); empty
        otherwise.
    max_rho_before : float
        Max rho of the initial observation.
    max_rho_after : float
        Max rho after the action; NaN when it diverges or is illegal (nothing was computed).
    warnings : tuple of str
        The parser's warnings that name this action.
    png : pathlib.Path
        The drawing.
    """

    name: str
    kind: str
    asset_id: int
    validity: str
    detail: str
    max_rho_before: float
    max_rho_after: float
    warnings: tuple[str, ...]
    png: Path

    @property
    def asset(self) -> str:
        """``"substation 1"`` or ``"line 4"``."""
        return _asset_text(self.kind, self.asset_id)


def default_out(actions_file: str | os.PathLike[str]) -> Path:
    """The default output folder: ``results/actions_show/<actions file stem>/``."""
    return Path("results") / "actions_show" / Path(actions_file).stem


def judge_action(action: UnitaryAction, env: Any, obs: Any) -> tuple[str, str, float, Any | None]:
    """Simulate ``action`` on ``obs`` (``obs.simulate(..., time_step=0)``) and judge it.

    Parameters
    ----------
    action : UnitaryAction
        The unitary action.
    env : grid2op Environment
        The environment ``obs`` comes from (its action space builds the action).
    obs : grid2op Observation
        The observation the action is applied to.

    Returns
    -------
    validity : str
        One of :data:`VALIDITIES`.
    detail : str
        Why, when not ``ok``; empty otherwise.
    max_rho_after : float
        NaN when the action diverges or is illegal.
    sim_obs : grid2op Observation or None
        The observation after the action; None when it diverges or is illegal.
    """
    nan = math.nan
    try:
        g2op_action = env.action_space(action.grid2op_dict())
    except Exception as exc:  # the action class cannot express it, or grid2op refuses it
        return ILLEGAL, f"grid2op refuses the action: {_one_line(exc)}", nan, None
    try:
        sim_obs, _reward, done, info = obs.simulate(g2op_action, time_step=0)
    except Exception as exc:  # a raise of the simulation is a divergence, as in Oracle4Grid
        return DIVERGES, f"the simulation raised {_one_line(exc)}", nan, None
    exceptions = info.get("exception") or []
    first = _one_line(exceptions[0]) if exceptions else ""
    if info.get("is_illegal"):
        return ILLEGAL, first or "refused by the environment's rules", nan, None
    if info.get("is_ambiguous"):
        return ILLEGAL, f"ambiguous action: {first}" if first else "ambiguous action", nan, None
    if exceptions:
        return DIVERGES, first, nan, None
    if done:
        return DIVERGES, "the simulation ends the episode", nan, None
    after = float(sim_obs.rho.max()) if sim_obs.n_line else 0.0
    changed = bool((sim_obs.topo_vect != obs.topo_vect).any()) or bool(
        (sim_obs.line_status != obs.line_status).any()
    )
    if not changed:
        return NO_EFFECT, "changes neither the topology nor the line status", after, sim_obs
    return OK, "", after, sim_obs


def show_actions(
    env: Any,
    actions_file: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    chronic: int | str = 0,
    seed: int | None = 0,
    progress: Progress = SILENT,
) -> list[ShownAction]:
    """Judge and draw each unitary action of an Oracle4Grid action file.

    The chronic is reset (``env.reset(seed=seed, options={"time serie id": chronic})``) and each
    unitary action is simulated on its first observation (see :func:`judge_action`), drawn with
    :class:`grid2op.PlotGrid.PlotMatplot` into ``<out>/<action name>.png`` and summarised in
    ``<out>/actions.csv`` (columns :data:`CSV_COLUMNS`; ``warnings`` joined with `` | ``). Files
    are written atomically; other files in ``out`` are left alone. Figures are drawn on
    :class:`matplotlib.figure.Figure` objects (no pyplot, no change of matplotlib's backend).

    Parameters
    ----------
    env : grid2op Environment
        The environment, reset to ``chronic`` and left open (an environment made from a name:
        :func:`gridoracle.pipelines.actions.show_actions`).
    actions_file : str or path-like
        Unitary actions in any of Oracle4Grid's three formats.
    out : str or path-like, optional
        Output folder, created if needed; default :func:`default_out`.
    chronic : int or str
        Chronic index or folder name (one chronic).
    seed : int, optional
        Seed passed to ``env.reset``.
    progress : Progress
        ``progress.advance(done, total, name)`` before each action is drawn, and
        ``advance(total, total)`` at the end.

    Returns
    -------
    list of ShownAction
        One per unitary action, in file order.

    Raises
    ------
    ActionFileError
        Unreadable or malformed action file (see
        :func:`gridoracle.actions.parse.load_unitary_actions`).
    InvalidOption
        ``chronic`` is not one chronic of the environment, or the environment cannot be drawn.
    OutputError
        The output folder cannot be created or written.
    """
    from gridoracle.grid import resolve_chronics

    actions, warnings = load_unitary_actions(actions_file, env)
    chronics = resolve_chronics(env, [chronic])
    if len(chronics) != 1:
        raise InvalidOption(
            f"chronic {chronic!r}: give one chronic, not {len(chronics)}", param="chronic"
        )
    if getattr(env.observation_space, "grid_layout", None) is None:
        raise InvalidOption(
            f"environment {env.name!r} has no grid layout (grid_layout.json): it cannot be drawn"
        )
    folder = Path(out) if out is not None else default_out(actions_file)
    _make_folder(folder)

    obs = env.reset(seed=seed, options={"time serie id": chronics[0]})
    before = float(obs.rho.max()) if obs.n_line else 0.0
    plotter = _plotter(env)
    records: list[ShownAction] = []
    for done, action in enumerate(actions):
        progress.advance(done, len(actions), action.name)
        validity, detail, after, sim_obs = judge_action(action, env, obs)
        png = folder / f"{action.name}.png"
        title = _title(action, validity, detail, before, after)
        _write(png, _render(plotter, env, sim_obs if sim_obs is not None else obs, action, title))
        named = tuple(_naming(warnings, action.name))
        records.append(
            ShownAction(
                action.name,
                action.asset_kind,
                action.asset_id,
                validity,
                detail,
                before,
                after,
                named,
                png,
            )
        )
        logger.info("%s: %s %s", action.name, validity, detail)
    progress.advance(len(actions), len(actions))
    _write(folder / CSV_NAME, _csv_bytes(records))
    return records


def _make_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"output folder {str(folder)!r} is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create output folder {str(folder)!r}: {exc.strerror or exc}"
        ) from exc
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder {str(folder)!r} is not writable")


def _write(path: Path, data: bytes) -> None:
    from gridoracle.io import atomic_write_bytes

    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise OutputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc


def _naming(warnings: Sequence[str], name: str) -> list[str]:
    """The warnings that mention ``name`` as a whole word (``sub-1-1`` is not in ``sub-1-10``)."""
    pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    return [w for w in warnings if pattern.search(w)]


def _asset_text(kind: str, asset_id: int) -> str:
    return f"{'substation' if kind == 'sub' else 'line'} {asset_id}"


def _one_line(exc: Any) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    name = type(exc).__name__
    if isinstance(exc, BaseException) and name not in text:
        text = f"{name}: {text}"
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _rho_text(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _title(action: UnitaryAction, validity: str, detail: str, before: float, after: float) -> str:
    head = (
        f"{action.name} ({_asset_text(action.asset_kind, action.asset_id)}): {validity}, "
        f"max rho {_rho_text(before)} -> {_rho_text(after)}"
    )
    if validity in (DIVERGES, ILLEGAL):
        shown = "diverged" if validity == DIVERGES else "is illegal"
        reason = textwrap.shorten(detail, width=110, placeholder=" ...")
        head += f"\nthe action {shown}: initial grid shown ({reason})"
    return head


def _plotter(env: Any) -> Any:
    from grid2op.PlotGrid import PlotMatplot

    return PlotMatplot(env.observation_space)


def draw_grid(
    env: Any,
    obs: Any = None,
    *,
    asset: tuple[str, int] | None = None,
    title: str | None = None,
    figure: Any = None,
    plotter: Any = None,
) -> Any:
    """Draw the grid with grid2op's :class:`~grid2op.PlotGrid.PlotMatplot`, an asset highlighted.

    With ``obs``, the observation (``plot_obs``: the loading rho of each line, the bus of each
    element); without, the grid's layout with each line's id written on it (``plot_info``; loads
    and generators carry their ids in their symbols). The substation of ``asset`` is circled, or
    its line underlined, in magenta (the drawings of ``gridoracle actions show``).

    Parameters
    ----------
    env : grid2op Environment
        The grid; it needs a layout (``grid_layout.json``).
    obs : grid2op Observation, optional
        The state to draw.
    asset : (str, int), optional
        ``("sub", substation id)`` or ``("line", line id)`` to highlight
        (:attr:`UnitaryAction.asset <gridoracle.actions.parse.UnitaryAction.asset>`).
    title : str, optional
        The figure's title.
    figure : matplotlib Figure, optional
        Where to draw (e.g. ``plt.figure(figsize=(13, 7))`` in a notebook); by default a new
        :class:`matplotlib.figure.Figure` of grid2op's size (not made by pyplot: nothing to
        close).
    plotter : PlotMatplot, optional
        A plotter to reuse (making one reads the layout).

    Returns
    -------
    matplotlib Figure
        The figure drawn on.

    Raises
    ------
    InvalidOption
        The environment has no layout (``param="env"``), or ``asset`` is not a substation or
        line of the grid (``param="asset"``).
    """
    from matplotlib.figure import Figure

    if getattr(env.observation_space, "grid_layout", None) is None:
        raise InvalidOption(
            f"env {env.name!r}: no grid layout (grid_layout.json): it cannot be drawn", param="env"
        )
    if asset is not None:
        _check_asset(env, asset)
    if plotter is None:
        plotter = _plotter(env)
    if figure is None:
        figure = Figure(figsize=(plotter.width / plotter.dpi, plotter.height / plotter.dpi))
        figure.set_dpi(plotter.dpi)
    if obs is not None:
        plotter.plot_obs(obs, figure=figure)
    else:
        plotter.plot_info(figure=figure, line_values=list(range(env.n_line)))
    if asset is not None:
        _highlight(plotter, env, asset[0], int(asset[1]))
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure


def _check_asset(env: Any, asset: Any) -> None:
    ok = isinstance(asset, tuple | list) and len(asset) == 2 and asset[0] in ("sub", "line")
    if ok:
        count = env.n_sub if asset[0] == "sub" else env.n_line
        ident = asset[1]
        ok = isinstance(ident, int | np.integer) and not isinstance(ident, bool)
        ok = ok and 0 <= int(ident) < count
    if not ok:
        raise InvalidOption(
            f"asset {asset!r}: expected ('sub', substation id) or ('line', line id) of the grid "
            f"({env.n_sub} substations, {env.n_line} lines)",
            param="asset",
        )


def _render(plotter: Any, env: Any, obs: Any, action: UnitaryAction, title: str) -> bytes:
    """The PNG of ``obs`` drawn by ``plotter``, the acted asset highlighted, titled.

    The figure is a plain :class:`~matplotlib.figure.Figure` of the plotter's size (grid2op's own
    figure would come from pyplot): nothing to close, matplotlib's backend left as it is.
    """
    fig = draw_grid(env, obs, asset=action.asset, title=title, plotter=plotter)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _highlight(plotter: Any, env: Any, kind: str, asset_id: int) -> None:
    """Circle the substation, or underline the line, ``asset_id`` on the plotter's axes."""
    from matplotlib import patches

    ax = plotter.ax
    layout = plotter._grid_layout  # grid2op's positions of the substations, by name
    radius = float(plotter.settings.sub.radius)
    if kind == "sub":
        x, y = layout[env.name_sub[asset_id]]
        ring = 2.4 * radius
        ax.add_patch(
            patches.Circle(
                (x, y), radius=ring, fill=False, edgecolor=_HIGHLIGHT, linewidth=2.5, zorder=10
            )
        )
        points = [(x - ring, y - ring), (x + ring, y + ring)]
    else:
        line = asset_id
        x0, y0 = layout[env.name_sub[env.line_or_to_subid[line]]]
        x1, y1 = layout[env.name_sub[env.line_ex_to_subid[line]]]
        ax.plot([x0, x1], [y0, y1], color=_HIGHLIGHT, linewidth=8, alpha=0.35, zorder=0)
        points = [(x0, y0), (x1, y1)]
    # keep the highlight inside the axes: grid2op fits the limits to the substations only
    (xmin, xmax), (ymin, ymax) = ax.get_xlim(), ax.get_ylim()
    pad = 0.5 * radius
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    ax.set_xlim(min(xmin, min(xs) - pad), max(xmax, max(xs) + pad))
    ax.set_ylim(min(ymin, min(ys) - pad), max(ymax, max(ys) + pad))


def _csv_bytes(records: Sequence[ShownAction]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        writer.writerow(
            [
                r.name,
                r.kind,
                r.asset_id,
                r.validity,
                _csv_float(r.max_rho_before),
                _csv_float(r.max_rho_after),
                " | ".join(r.warnings),
                r.detail,
            ]
        )
    return text.getvalue().encode("utf-8")


def _csv_float(value: float) -> str:
    return "" if math.isnan(value) else repr(round(float(value), 6))
