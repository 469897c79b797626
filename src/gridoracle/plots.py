"""Figures of datasets and models, written as PNG files.

Every function takes data (arrays, DataFrames, a fitted model) and a file path, draws one titled and
labelled figure, and writes it atomically (a reader never sees half a PNG). Figures are built with
Matplotlib's object API on the Agg canvas: no pyplot state, no window, nothing left open.

Functions
---------
- :func:`plot_error_boxplot`: prediction error per action, the worst N actions by RMSE;
- :func:`plot_pred_vs_true`: predicted against true max rho;
- :func:`plot_feature_importances`: the top features (computed by
  :func:`gridoracle.models.importance.feature_importances`);
- :func:`plot_regret_cdf`: distribution of the regret of the chosen action, one curve per model;
- :func:`plot_max_rho_distribution`: max rho after each action over all states, and how often the
  action diverges or is illegal;
- :func:`plot_rho_heatmap`: max rho per action over the time steps of one chronic;
- :func:`plot_agent_survival`, :func:`plot_agent_max_rho`, :func:`plot_agent_calls_vs_survival`:
  the agents of ``gridoracle agents evaluate``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridoracle.errors import InvalidOption, OutputError
from gridoracle.io import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "OVERLOAD",
    "R2_DEFINITION",
    "plot_agent_calls_vs_survival",
    "plot_agent_max_rho",
    "plot_agent_survival",
    "plot_error_boxplot",
    "plot_feature_importances",
    "plot_max_rho_distribution",
    "plot_pred_vs_true",
    "plot_regret_cdf",
    "plot_rho_heatmap",
    "save_figure",
]

OVERLOAD = 1.0
"""Max rho above which a line is overloaded: drawn as a reference line on every rho axis."""

_DPI = 110
_OVERLOAD_STYLE: dict[str, Any] = {"color": "#c0392b", "linestyle": "--", "linewidth": 1.0}


# --------------------------------------------------------------------------------------------------
# Figure plumbing
# --------------------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    """A new figure on the Agg canvas (not registered with pyplot, so nothing to close)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Render ``fig`` to PNG bytes and write them atomically to ``path``.

    The parent folder is created if needed. The figure is cleared afterwards so that its memory
    is released at once.

    Raises
    ------
    OutputError
        If the folder cannot be created or the file cannot be written.
    """
    path = Path(path)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": "gridoracle"})
    finally:
        fig.clear()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:
        raise OutputError(f"cannot write figure {path}: {exc.strerror or exc}") from exc
    return path


def _frames(y_true: Any, y_pred: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Align truth and prediction as float DataFrames with the same columns (truth's order)."""
    t = y_true if isinstance(y_true, pd.DataFrame) else pd.DataFrame(np.asarray(y_true, float))
    p = y_pred if isinstance(y_pred, pd.DataFrame) else pd.DataFrame(np.asarray(y_pred, float))
    if t.shape != p.shape:
        raise ValueError(f"truth has shape {t.shape} but prediction {p.shape}")
    if isinstance(y_pred, pd.DataFrame) and isinstance(y_true, pd.DataFrame):
        missing = [c for c in t.columns if c not in p.columns]
        if missing:
            raise ValueError(f"prediction lacks action column(s) {missing[:5]}")
        p = p[t.columns]
    else:
        p = pd.DataFrame(p.to_numpy(), columns=t.columns)
    return t.astype(float).reset_index(drop=True), p.astype(float).reset_index(drop=True)


def _suffix(text: str | None) -> str:
    return f" ({text})" if text else ""


# --------------------------------------------------------------------------------------------------
# Model figures
# --------------------------------------------------------------------------------------------------


def plot_error_boxplot(
    y_true: pd.DataFrame,
    y_pred: pd.DataFrame,
    path: str | Path,
    *,
    worst: int = 20,
    label: str | None = None,
) -> Path:
    """Box plots of the prediction error (predicted - true max rho) of the worst actions.

    Actions are ranked by RMSE over the states where the true max rho is finite; the worst
    ``worst`` are drawn, worst on top, each box labelled with its RMSE.

    Parameters
    ----------
    y_true, y_pred : pandas.DataFrame
        True and predicted max rho, one column per action (NaN in ``y_true`` is skipped).
    path : str or Path
        PNG file to write.
    worst : int, default 20
        Number of actions drawn.
    label : str, optional
        Model (and data) named in the title.

    Returns
    -------
    Path
        ``path``.
    """
    if worst < 1:
        raise InvalidOption(f"worst {worst}: must be at least 1")
    t, p = _frames(y_true, y_pred)
    err = p - t  # NaN where the truth is NaN
    rmse = np.sqrt((err**2).mean(axis=0, skipna=True))
    ranked = rmse.dropna().sort_values(ascending=False).head(worst)
    if ranked.empty:
        raise ValueError("no finite target: cannot draw prediction errors")
    names = list(ranked.index)[::-1]  # worst on top of a horizontal box plot
    data = [err[n].dropna().to_numpy() for n in names]
    fig = _figure(8.0, max(3.0, 0.32 * len(names) + 1.6))
    ax = fig.add_subplot()
    ax.boxplot(
        data,
        orientation="horizontal",
        whis=(5, 95),
        showfliers=True,
        flierprops={"marker": ".", "markersize": 2, "alpha": 0.4},
        medianprops={"color": "#1f4e79"},
    )
    ax.set_yticks(
        range(1, len(names) + 1), [f"{n}  (RMSE {rmse[n]:.3f})" for n in names], fontsize=8
    )
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("prediction error: predicted - true max rho")
    ax.set_ylabel("action")
    ax.set_title(
        f"Prediction error of the {len(names)} worst actions by RMSE{_suffix(label)}\n"
        "boxes: quartiles, whiskers: 5th-95th percentile",
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


def plot_pred_vs_true(
    y_true: pd.DataFrame,
    y_pred: pd.DataFrame,
    path: str | Path,
    *,
    label: str | None = None,
    max_points: int = 20_000,
    seed: int = 0,
) -> Path:
    """Predicted against true max rho over every (state, action) pair with a finite truth.

    Many pairs are drawn as a hexagonal density (log counts), few as points. The diagonal is the
    perfect prediction; dashed lines mark rho = 1. RMSE and R² are printed in the corner, the R²
    as the leaderboard defines it (around each action's mean, see :data:`R2_DEFINITION`, written
    under the figure).

    Parameters
    ----------
    y_true, y_pred : pandas.DataFrame
        True and predicted max rho, one column per action.
    path : str or Path
        PNG file to write.
    label : str, optional
        Model (and data) named in the title.
    max_points : int, default 20000
        Pairs drawn at most (a seeded subsample beyond); the metrics use every pair.
    seed : int, default 0
        Seed of the subsample.
    """
    t, p = _frames(y_true, y_pred)
    rmse, r2 = _pooled_scores(t.to_numpy(dtype=float), p.to_numpy(dtype=float))
    tv, pv = t.to_numpy().ravel(), p.to_numpy().ravel()
    ok = np.isfinite(tv) & np.isfinite(pv)
    tv, pv = tv[ok], pv[ok]
    if tv.size > max_points:
        keep = np.random.default_rng(seed).choice(tv.size, size=max_points, replace=False)
        tv_d, pv_d = tv[keep], pv[keep]
    else:
        tv_d, pv_d = tv, pv
    lo = float(min(tv_d.min(), pv_d.min()))
    hi = float(max(tv_d.max(), pv_d.max()))
    pad = 0.02 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    fig = _figure(6.4, 5.6)
    ax = fig.add_subplot()
    if tv_d.size > 2000:
        hb = ax.hexbin(
            tv_d, pv_d, gridsize=70, bins="log", mincnt=1, cmap="viridis", extent=(lo, hi, lo, hi)
        )
        fig.colorbar(hb, ax=ax, label="pairs per cell (log scale)")
    else:
        ax.scatter(tv_d, pv_d, s=6, alpha=0.5, color="#1f77b4", linewidths=0)
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.9, label="perfect prediction")
    ax.axvline(OVERLOAD, **_OVERLOAD_STYLE, label="rho = 1 (overload)")
    ax.axhline(OVERLOAD, **_OVERLOAD_STYLE)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("true max rho")
    ax.set_ylabel("predicted max rho")
    shown = f"{tv_d.size:,} of {tv.size:,} pairs" if tv_d.size < tv.size else f"{tv.size:,} pairs"
    ax.set_title(f"Predicted vs true max rho{_suffix(label)}\n{shown}", fontsize=10)
    ax.text(
        0.03,
        0.97,
        f"RMSE {rmse:.4f}\nR² {r2:.4f}",
        transform=ax.transAxes,
        va="top",
        fontsize=9,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.supxlabel(R2_DEFINITION, fontsize=7, color="#555555")  # the layout makes room for it
    return save_figure(fig, path)


R2_DEFINITION = (
    "R² = 1 − Σ(pred − true)² / Σ(true − its action's mean)², over every finite (state, action) "
    "pair\n(as in the leaderboard, see gridoracle.models.metrics); RMSE over the same pairs."
)
"""What the R² printed on :func:`plot_pred_vs_true` is (written under the figure)."""


def _pooled_scores(t: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """RMSE and R² over the (state, action) pairs where truth and prediction are finite.

    The R² is the leaderboard's (:func:`gridoracle.models.metrics.regression_metrics`): the
    squared errors of every pair over the squared deviations of each true value from the mean of
    its own action, not from one mean of every pair (which credits a model for the spread between
    actions).
    """
    ok = np.isfinite(t) & np.isfinite(p)
    n = int(ok.sum())
    if n == 0:
        raise ValueError("no finite target: cannot draw predicted against true")
    err = np.where(ok, p - t, 0.0)
    counts = ok.sum(axis=0)
    means = np.where(ok, t, 0.0).sum(axis=0) / np.maximum(counts, 1)
    ss_tot = float((np.where(ok, t - means, 0.0) ** 2).sum())
    sse = float((err**2).sum())
    return float(np.sqrt(sse / n)), (1.0 - sse / ss_tot if ss_tot > 0 else float("nan"))


def plot_feature_importances(
    importances: pd.Series,
    path: str | Path,
    *,
    top: int = 20,
    label: str | None = None,
    method: str | None = None,
) -> Path:
    """Horizontal bars of the ``top`` most important features (largest on top).

    Parameters
    ----------
    importances : pandas.Series
        Importance per feature name (see :func:`feature_importances`).
    path : str or Path
        PNG file to write.
    top : int, default 20
        Features drawn.
    label : str, optional
        Model named in the title.
    method : str, optional
        How the importances were computed, written under the title and on the x axis.
    """
    if top < 1:
        raise InvalidOption(f"top {top}: must be at least 1")
    s = importances.dropna().sort_values(ascending=False).head(top)
    if s.empty:
        raise ValueError("no feature importance to draw")
    s = s.iloc[::-1]
    fig = _figure(7.5, max(3.0, 0.25 * len(s) + 1.4))
    ax = fig.add_subplot()
    ax.barh([str(i) for i in s.index], s.to_numpy(), color="#2e86c1")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel(f"importance: {method}" if method else "importance", fontsize=9)
    ax.set_ylabel("feature")
    ax.set_title(f"Top {len(s)} features{_suffix(label)}", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


def plot_regret_cdf(
    regrets: Mapping[str, Any],
    path: str | Path,
    *,
    label: str | None = None,
) -> Path:
    """Empirical CDF of the per-state regret, one curve per model (or baseline).

    The value of a curve at 0 is the share of states where the model chose a best action; the
    legend gives the mean and 95th percentile of each. Non-finite regrets are left out and counted
    in the legend.

    Parameters
    ----------
    regrets : mapping of str to array-like
        Per-state regret (true max rho of the chosen action minus the best) of each model, e.g.
        the ``regret`` column of :func:`gridoracle.models.metrics.per_state_decisions`.
    path : str or Path
        PNG file to write.
    label : str, optional
        Data named in the title (e.g. the test chronics).
    """
    if not regrets:
        raise ValueError("no model to draw a regret CDF of")
    fig = _figure(10.0, 4.8)
    ax = fig.add_subplot()
    upper = 0.0
    styles = ["-", "--", "-.", ":"]
    for i, (name, values) in enumerate(regrets.items()):
        arr = np.asarray(values, dtype=float).ravel()
        finite = np.sort(arr[np.isfinite(arr)])
        dropped = arr.size - finite.size
        if finite.size == 0:
            continue
        text = f"{name}: mean {finite.mean():.4f}, p95 {np.percentile(finite, 95):.4f}"
        if dropped:
            text += f", {dropped} n/a"
        ax.ecdf(finite, linestyle=styles[(i // 10) % len(styles)], label=text)
        upper = max(upper, float(np.percentile(finite, 99)))
    # symlog: linear below 1e-3 (zero regret visible), logarithmic above, so that models with
    # small regrets stay apart from those with large ones
    ax.set_xscale("symlog", linthresh=1e-3, linscale=0.5)
    ax.set_xlim(0.0, max(upper * 1.2, 1e-2))
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel(
        "regret: true max rho of the chosen action - best true max rho\n"
        "(symmetric log scale, linear below 0.001; up to the 99th percentile)"
    )
    ax.set_ylabel("share of states with regret ≤ x")
    ax.set_title(f"Regret of the chosen action, CDF per model{_suffix(label)}", fontsize=10)
    ax.grid(alpha=0.3)
    # outside the axes: the curves of weak models run through the lower right corner
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="model: regret")
    return save_figure(fig, path)


# --------------------------------------------------------------------------------------------------
# Data figures
# --------------------------------------------------------------------------------------------------


def _sparse_ticks(n: int, most: int = 40) -> np.ndarray:
    return np.arange(0, n, max(1, math.ceil(n / most)))


def plot_max_rho_distribution(
    Y: pd.DataFrame,
    path: str | Path,
    *,
    status: pd.DataFrame | None = None,
    label: str | None = None,
) -> Path:
    """Distribution of max rho after each action over all states, actions sorted by median.

    Top: box plots (quartiles, whiskers at the 5th and 95th percentiles) with the overload line.
    Bottom: share of states where the action diverges or is illegal (NaN in ``Y``), which the top
    panel cannot show.

    Parameters
    ----------
    Y : pandas.DataFrame
        Max rho, one column per action, NaN where not computable.
    path : str or Path
        PNG file to write.
    status : pandas.DataFrame, optional
        Status codes (0 ok, 1 diverged, 2 illegal) to split the bottom bars.
    label : str, optional
        Dataset named in the title.
    """
    if Y.shape[1] == 0 or len(Y) == 0:
        raise ValueError("no action or no row: cannot draw the max rho distribution")
    medians = Y.median(axis=0, skipna=True).fillna(np.inf)
    order = list(medians.sort_values(kind="stable").index)
    n = len(order)
    data = [Y[c].dropna().to_numpy() for c in order]
    fig = _figure(max(8.0, min(18.0, 0.14 * n + 4.0)), 6.4)
    top, bottom = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}, squeeze=True
    )
    positions = np.arange(n)
    keep = [i for i, d in enumerate(data) if d.size]
    top.boxplot(
        [data[i] for i in keep],
        positions=positions[keep],
        widths=0.7,
        whis=(5, 95),
        showfliers=False,
        medianprops={"color": "#1f4e79"},
        patch_artist=True,
        boxprops={"facecolor": "#aed6f1", "linewidth": 0.6},
    )
    top.axhline(OVERLOAD, **_OVERLOAD_STYLE, label="rho = 1 (overload)")
    top.set_ylabel("max rho after the action")
    top.legend(loc="upper left", fontsize=8)
    top.grid(axis="y", alpha=0.3)
    share_above = (Y[order] > OVERLOAD).sum(axis=0) / Y[order].notna().sum(axis=0).clip(lower=1)
    top.set_title(
        f"Max rho after each of {n} actions over {len(Y):,} states{_suffix(label)}\n"
        f"sorted by median; whiskers 5th-95th percentile; "
        f"{float(np.mean(share_above > 0)):.0%} of actions overload in some state",
        fontsize=10,
    )
    if status is not None:
        st = status[order]
        diverged = (st == 1).mean(axis=0).to_numpy()
        illegal = (st == 2).mean(axis=0).to_numpy()
    else:
        diverged = Y[order].isna().mean(axis=0).to_numpy()
        illegal = np.zeros(n)
    bottom.bar(positions, diverged, color="#7f8c8d", label="diverged / game over")
    bottom.bar(positions, illegal, bottom=diverged, color="#e67e22", label="illegal")
    bottom.set_ylabel("share of states")
    bottom.set_ylim(0, max(0.05, float((diverged + illegal).max()) * 1.15))
    bottom.legend(loc="upper left", fontsize=8)
    bottom.grid(axis="y", alpha=0.3)
    ticks = _sparse_ticks(n)
    bottom.set_xticks(ticks, [order[i] for i in ticks], rotation=90, fontsize=7)
    step = int(ticks[1] - ticks[0]) if len(ticks) > 1 else 1
    bottom.set_xlabel("action" + (f" (one name in {step} written)" if step > 1 else ""))
    return save_figure(fig, path)


def plot_rho_heatmap(
    Y: pd.DataFrame,
    meta: pd.DataFrame,
    chronic: int,
    path: str | Path,
    *,
    label: str | None = None,
    max_actions: int | None = None,
) -> Path:
    """Heat map of max rho after each action (rows) at each time step (columns) of one chronic.

    Colours are centred on rho = 1 (blue: margin, red: overload); black cells are NaN (diverged or
    illegal). Rows are sorted by mean max rho, best on top.

    Parameters
    ----------
    Y : pandas.DataFrame
        Max rho, one column per action.
    meta : pandas.DataFrame
        ``chronic`` and ``step`` of each row of ``Y``.
    chronic : int
        The chronic drawn.
    path : str or Path
        PNG file to write.
    label : str, optional
        Dataset named in the title.
    max_actions : int, optional
        Draw only this many actions (the first ones in sorted order).

    Raises
    ------
    InvalidOption
        If ``chronic`` has no row.
    """
    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm

    rows = np.flatnonzero(meta["chronic"].to_numpy() == int(chronic))
    if rows.size == 0:
        have = sorted({int(c) for c in pd.unique(meta["chronic"])})
        raise InvalidOption(f"chronic {chronic} is not in the data (chronics {have})")
    steps = meta["step"].to_numpy()[rows]
    order_rows = rows[np.argsort(steps, kind="stable")]
    block = Y.iloc[order_rows]
    means = block.mean(axis=0, skipna=True).fillna(np.inf)
    order = list(means.sort_values(kind="stable").index)
    if max_actions is not None:
        order = order[:max_actions]
    mat = block[order].to_numpy(dtype=float).T  # actions x steps
    finite = mat[np.isfinite(mat)]
    vmin = float(finite.min()) if finite.size else 0.0
    vmax = float(finite.max()) if finite.size else 2.0
    vmin, vmax = min(vmin, OVERLOAD - 1e-3), max(vmax, OVERLOAD + 1e-3)
    cmap = colormaps["coolwarm"].with_extremes(bad="black")
    n = len(order)
    fig = _figure(10.0, max(3.5, min(12.0, 0.1 * n + 2.0)))
    ax = fig.add_subplot()
    im = ax.imshow(
        np.ma.masked_invalid(mat),
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        norm=TwoSlopeNorm(vcenter=OVERLOAD, vmin=vmin, vmax=vmax),
        extent=(float(steps.min()) - 0.5, float(steps.max()) + 0.5, n - 0.5, -0.5),
    )
    fig.colorbar(im, ax=ax, label="max rho after the action (1 = overload)")
    ticks = _sparse_ticks(n, 50)
    ax.set_yticks(ticks, [order[i] for i in ticks], fontsize=6 if n > 30 else 8)
    ax.set_xlabel("time step of the chronic")
    ax.set_ylabel("action (sorted by mean max rho)")
    n_nan = int(np.isnan(mat).sum())
    ax.set_title(
        f"Max rho per action over chronic {chronic}{_suffix(label)}\n"
        f"{n} actions x {mat.shape[1]} steps; black: diverged or illegal ({n_nan:,} cells)",
        fontsize=10,
    )
    return save_figure(fig, path)


# --------------------------------------------------------------------------------------------------
# Agents (gridoracle agents evaluate)
# --------------------------------------------------------------------------------------------------


def _agent_colours(agents: list[str]) -> dict[str, Any]:
    """A colour per agent: do nothing black, greedy red, random-k blues and screening-k greens
    (darker for a larger k), any other agent from tab10."""
    from matplotlib import colormaps

    fixed = {"do_nothing": "#1b2631", "greedy": "#c0392b"}
    families = {"random": colormaps["Blues"], "screening": colormaps["Greens"]}
    colours: dict[str, Any] = {}
    others = colormaps["tab10"]
    for family, cmap in families.items():
        members = [a for a in agents if a.startswith(family + "_")]
        for i, name in enumerate(members):
            colours[name] = cmap(0.45 + 0.5 * (i / max(1, len(members) - 1)))
    for i, name in enumerate(a for a in agents if a not in colours):
        colours[name] = fixed.get(name, others(i % others.N))
    return colours


def plot_agent_survival(rows: Any, agents: list[str], path: str | Path) -> Path:
    """Steps survived per agent (a bar per chronic), the Oracle's replayed best path as a mark.

    Parameters
    ----------
    rows : sequence of mapping
        Rows of ``results.csv`` (``agent``, ``chronic``, ``steps``, ``max_steps``,
        ``oracle_steps``).
    agents : list of str
        Agents in the order of the bars.
    path : str or Path
        PNG file to write.
    """
    frame = pd.DataFrame(list(rows))
    chronics = list(dict.fromkeys(frame["chronic"].tolist()))
    fig = _figure(max(6.0, 0.7 * len(agents) * max(1, len(chronics)) ** 0.5 + 3), 4.2)
    ax = fig.add_subplot()
    width = 0.8 / len(chronics)
    x = np.arange(len(agents))
    for j, chronic in enumerate(chronics):
        part = frame[frame["chronic"] == chronic].set_index("agent").reindex(agents)
        offset = (j - (len(chronics) - 1) / 2) * width
        ax.bar(x + offset, part["steps"].to_numpy(dtype=float), width, label=f"chronic {chronic}")
        limit = part["max_steps"].to_numpy(dtype=float)
        ax.hlines(limit, x + offset - width / 2, x + offset + width / 2, colors="black", lw=0.8)
        oracle = pd.to_numeric(part["oracle_steps"], errors="coerce").to_numpy(dtype=float)
        if np.isfinite(oracle).any():
            ax.plot(x + offset, oracle, "v", color="#8e44ad", ms=5)
    ax.plot([], [], "v", color="#8e44ad", label="Oracle (best path, replayed)")
    ax.plot([], [], "-", color="black", lw=0.8, label="episode length")
    ax.set_xticks(x, agents, rotation=30, ha="right")
    ax.set_ylabel("steps survived")
    ax.set_title("Steps survived per agent")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3)
    return save_figure(fig, path)


def plot_agent_max_rho(
    traces: Mapping[str, Mapping[str, Any]], agents: list[str], path: str | Path
) -> Path:
    """Max rho over time, a line per agent, one panel per chronic.

    Parameters
    ----------
    traces : mapping
        ``{chronic label: {agent: [max rho per step (None where no observation)]}}``.
    agents : list of str
        Agents drawn, in the legend's order.
    path : str or Path
        PNG file to write.
    """
    colours = _agent_colours(agents)
    labels = list(traces)
    fig = _figure(9.0, 2.6 * max(1, len(labels)) + 0.6)
    axes = fig.subplots(max(1, len(labels)), 1, squeeze=False)[:, 0]
    for ax, label in zip(axes, labels, strict=False):
        for name in agents:
            values = np.array(
                [np.nan if v is None else float(v) for v in traces[label].get(name, [])]
            )
            steps = np.arange(1, len(values) + 1)
            ax.plot(steps, values, lw=0.9, color=colours[name], label=name)
        ax.axhline(OVERLOAD, **_OVERLOAD_STYLE)
        ax.set_title(f"chronic {label}", fontsize="medium")
        ax.set_ylabel("max rho")
    axes[-1].set_xlabel("step")
    axes[0].legend(fontsize="x-small", ncol=min(4, len(agents)), loc="upper right")
    fig.suptitle("Max rho over time per agent (after each step)")
    return save_figure(fig, path)


def plot_agent_calls_vs_survival(rows: Any, agents: list[str], path: str | Path) -> Path:
    """Simulate calls (log scale) against steps survived, a point per agent and chronic.

    Agents that never simulate (do nothing) sit at the left edge, marked at one call.
    """
    frame = pd.DataFrame(list(rows))
    colours = _agent_colours(agents)
    fig = _figure(7.0, 4.6)
    ax = fig.add_subplot()
    markers = "osD^vP*X"
    chronics = list(dict.fromkeys(frame["chronic"].tolist()))
    for name in agents:
        part = frame[frame["agent"] == name]
        for _, row in part.iterrows():
            calls = max(float(row["simulate_calls"]), 1.0)
            marker = markers[chronics.index(row["chronic"]) % len(markers)]
            ax.plot(calls, float(row["steps"]), marker, color=colours[name], ms=7, alpha=0.85)
        ax.plot([], [], "o", color=colours[name], label=name)
    for j, chronic in enumerate(chronics):
        marker = markers[j % len(markers)]
        ax.plot([], [], marker, mfc="none", mec="grey", label=f"chronic {chronic}")
    ax.set_xscale("log")
    ax.set_xlabel("simulate calls in the episode (log; 0 drawn at 1)")
    ax.set_ylabel("steps survived")
    ax.set_title("Simulate calls vs steps survived")
    ax.legend(fontsize="x-small", ncol=2, loc="best")
    return save_figure(fig, path)
