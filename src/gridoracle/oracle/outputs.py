"""What the Oracle writes: CSV, JSON and PNG files a person or another program can read.

No pickle: the reward table and KPIs are CSV, paths are JSON (per timestep: the action's name and
its grid2op dict), figures are PNG. Every file is written atomically. Figures are drawn on
``matplotlib.figure.Figure`` objects of their own (no pyplot, no process-wide backend).
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridoracle.io import atomic_write_bytes, json_safe

#: above this many actions or timesteps, graph.png shows a summary instead of every node
MAX_ACTIONS_DRAWN = 40
MAX_STEPS_DRAWN = 400


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """A DataFrame as CSV (no index), atomically."""
    atomic_write_bytes(path, frame.to_csv(index=False).encode())
    return path


def write_json(obj: Any, path: Path) -> Path:
    """An object as indented JSON, atomically (NaN written as null).

    A path document (:func:`path_document`'s) is rendered by :func:`_path_text`: the same
    bytes, each distinct action's ``grid2op`` dict encoded once.
    """
    text = _path_text(obj)
    if text is None:
        text = json.dumps(json_safe(obj), indent=2, sort_keys=False)
    atomic_write_bytes(path, (text + "\n").encode())
    return path


#: the keys of a step of a path document, in order (a step with others is not rendered by
#: :func:`_path_text`)
_STEP_KEYS = ("timestep", "action", "reward", "grid2op")
#: how ``json.dumps(..., indent=2)`` writes the one step of a document whose steps are [None]
_STEPS_MARK = '\n  "steps": [\n    null\n  ]'


def _path_text(document: Any) -> str | None:
    """``json.dumps(json_safe(document), indent=2)`` of a path document, byte for byte, with
    each step written from its parts (json's pure-Python indented encoder walks every step's
    ``grid2op`` dict: 0.1 s per 8064 steps); None when ``document`` is not one.

    A step's timestep (an int) and reward (a float, or null when not finite) are written as
    ``json`` writes them (``int.__repr__``, ``float.__repr__``), its action name and
    ``grid2op`` dict with ``json.dumps`` once per distinct action.
    """
    if not isinstance(document, dict) or not isinstance(document.get("steps"), list):
        return None
    steps = document["steps"]
    if not steps:
        return None
    for step in steps:
        if not (isinstance(step, dict) and tuple(step) == _STEP_KEYS):
            return None
        if type(step["timestep"]) is not int or type(step["reward"]) is not float:
            return None
    head = json.dumps(json_safe({**document, "steps": [None]}), indent=2, sort_keys=False)
    if head.count(_STEPS_MARK) != 1:
        return None
    around: dict[tuple[str, int], tuple[str, str]] = {}
    written = []
    for step in steps:
        key = (step["action"], id(step["grid2op"]))
        if key not in around:
            action = json.dumps(json_safe(step["action"]))
            grid2op = json.dumps(json_safe(step["grid2op"]), indent=2).replace("\n", "\n      ")
            around[key] = (
                f',\n      "action": {action},\n      "reward": ',
                f',\n      "grid2op": {grid2op}\n    }}',
            )
        middle, tail = around[key]
        reward = step["reward"]
        value = float.__repr__(reward) if math.isfinite(reward) else "null"
        timestep = int.__repr__(step["timestep"])
        written.append('    {\n      "timestep": ' + timestep + middle + value + tail)
    listed = ",\n".join(written)
    return head.replace(_STEPS_MARK, '\n  "steps": [\n' + listed + "\n  ]")


def path_document(
    path: Sequence[int],
    names: Sequence[str],
    dicts: Sequence[Mapping[str, Any]],
    rewards: np.ndarray,
    value: float,
    kind: str,
) -> dict[str, Any]:
    """best_path.json content: value, kind, and per timestep the action and its grid2op dict."""
    steps = [
        {"timestep": t, "action": names[i], "reward": float(rewards[t, i]), "grid2op": dicts[i]}
        for t, i in enumerate(path)
    ]
    return {"kind": kind, "value": value, "found": bool(path), "steps": steps}


#: resolution of the PNG figures
DPI = 110
#: room around a figure's default subplot area (inches: left, right, bottom, top), so that tick
#: labels, titles and legends outside the axes are drawn on the canvas and the tight crop of
#: :func:`_save` needs one draw
_MARGINS = (3.0, 0.6, 1.2, 0.6)


def _figure(width: float, height: float) -> tuple[Any, Any]:
    """A figure of its own and its axes: no pyplot, no backend switched for the process.

    The axes are where a ``width`` x ``height`` figure with matplotlib's default subplot
    parameters puts them; the canvas has :data:`_MARGINS` more around them, cropped away on
    saving (:func:`_save`).
    """
    from matplotlib import rcParams
    from matplotlib.figure import Figure

    left, right, bottom, top = _MARGINS
    total_w, total_h = width + left + right, height + bottom + top
    fig = Figure(figsize=(total_w, total_h))
    fig.subplots_adjust(
        left=(rcParams["figure.subplot.left"] * width + left) / total_w,
        right=(rcParams["figure.subplot.right"] * width + left) / total_w,
        bottom=(rcParams["figure.subplot.bottom"] * height + bottom) / total_h,
        top=(rcParams["figure.subplot.top"] * height + bottom) / total_h,
    )
    return fig, fig.subplots()


def _save(fig: Any, path: Path) -> Path:
    """``fig`` as PNG, cropped to what is drawn (matplotlib's ``bbox_inches="tight"``).

    The figure is drawn once on an Agg canvas and the pixels inside its tight bounding box
    (padded by ``savefig.pad_inches``) are written; ``savefig(bbox_inches="tight")`` draws it
    twice (a layout pass, then the drawing). A figure drawn past its canvas is saved with
    ``savefig`` (the same look, two draws).
    """
    from matplotlib import rcParams
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.image import imsave

    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(DPI)
    canvas.draw()
    pad = rcParams["savefig.pad_inches"]
    box = fig.get_tightbbox(canvas.get_renderer()).padded(pad)
    width, height = fig.get_size_inches()
    buffer = io.BytesIO()
    if box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height:
        pixels = np.asarray(canvas.buffer_rgba())
        rows = slice(round((height - box.y1) * DPI), round((height - box.y0) * DPI))
        cols = slice(round(box.x0 * DPI), round(box.x1 * DPI))
        imsave(buffer, pixels[rows, cols], format="png", dpi=DPI)
    else:
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def plot_graph(
    rewards: np.ndarray,
    names: Sequence[str],
    best: Sequence[int],
    best_no_overload: Sequence[int],
    overload: np.ndarray,
    path: Path,
) -> Path:
    """Action × time: rewards as colours, overloads hatched, both best paths drawn on top.

    With more than :data:`MAX_ACTIONS_DRAWN` actions only those on a best path and the best on
    average are drawn; with more than :data:`MAX_STEPS_DRAWN` timesteps the time axis is
    averaged over windows: the title says so.
    """
    n_steps, n_actions = rewards.shape
    keep = list(range(n_actions))
    note = ""
    if n_actions > MAX_ACTIONS_DRAWN:
        on_path = sorted(set(best) | set(best_no_overload))
        means = np.nanmean(rewards, axis=0)
        order = [int(i) for i in np.argsort(-np.nan_to_num(means, nan=-np.inf))]
        extra = [i for i in order if i not in on_path][: max(0, MAX_ACTIONS_DRAWN - len(on_path))]
        keep = sorted(set(on_path) | set(extra))
        note = f" ({len(keep)} of {n_actions} actions: those on a path and the best on average)"
    row_of = {a: r for r, a in enumerate(keep)}
    window = max(1, int(np.ceil(n_steps / MAX_STEPS_DRAWN)))
    shown = rewards[:, keep]
    over = overload[:, keep] == 0
    if window > 1:
        cut = (n_steps // window) * window
        shown = np.nanmean(shown[:cut].reshape(-1, window, len(keep)), axis=1)
        over = over[:cut].reshape(-1, window, len(keep)).any(axis=1)
        note += f" (time averaged over windows of {window} steps)"
    fig, ax = _figure(min(18, 4 + shown.shape[0] * 0.05 + 4), min(14, 2 + 0.3 * len(keep)))
    image = ax.imshow(shown.T, aspect="auto", interpolation="nearest", cmap="viridis")
    fig.colorbar(image, ax=ax, label="reward of the step")
    ys, xs = np.nonzero(over.T)
    ax.scatter(xs, ys, marker="x", s=8, color="red", linewidths=0.6, label="overload")
    t = np.arange(len(best)) / window
    if best:
        ax.plot(t, [row_of[i] for i in best], color="orange", lw=2, label="best path")
    if best_no_overload:
        ax.plot(
            np.arange(len(best_no_overload)) / window,
            [row_of[i] for i in best_no_overload],
            color="yellow",
            lw=1.5,
            ls="--",
            label="best path without overload",
        )
    ax.set_yticks(range(len(keep)))
    ax.set_yticklabels([names[i] for i in keep], fontsize=7)
    ax.set_xlabel("timestep" if window == 1 else f"timestep / {window}")
    ax.set_ylabel("combined action")
    ax.set_title("Oracle: reward of each action over time" + note, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.12), ncol=3, fontsize=7, frameon=False)
    return _save(fig, path)


def plot_topology_count(path_names: Sequence[str], n_best: int, title: str, path: Path) -> Path:
    """The n most played topologies of a path, as a bar chart."""
    counts = Counter(path_names).most_common(max(1, n_best))
    fig, ax = _figure(7, 0.6 + 0.35 * max(1, len(counts)))
    if counts:
        labels, values = zip(*counts, strict=True)
        ax.barh(range(len(values)), values, color="tab:orange")
        ax.set_yticks(range(len(values)))
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, "no path", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("timesteps played")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def write_figures(
    rewards: np.ndarray,
    names: Sequence[str],
    best: Sequence[int],
    best_no_overload: Sequence[int],
    overload: np.ndarray,
    n_best: int,
    folder: Path,
) -> list[Path]:
    """graph.png and the topology counts of both best paths, into ``folder``."""
    written = [plot_graph(rewards, names, best, best_no_overload, overload, folder / "graph.png")]
    for path, title, file in (
        (best, "Most played topologies of the best path", "best_path_topologies_count.png"),
        (
            best_no_overload,
            "Most played topologies of the best path without overload",
            "best_path_no_overload_topologies_count.png",
        ),
    ):
        written.append(plot_topology_count([names[i] for i in path], n_best, title, folder / file))
    return written


#: at most this many windows (rows) and attacks (columns) in universes.png
MAX_WINDOWS_DRAWN = 4
MAX_ATTACKS_DRAWN = 4


def plot_universes(
    table: Any,
    names: Sequence[str],
    paths: Sequence[tuple[str, Sequence[int], Sequence[float], str]],
    path: Path,
) -> Path:
    """universes.png (with an opponent): per attack window (a row) and attack seen (a column),
    the reward of each action in that attack's universe over the window, and the paths.

    ``table`` is a :class:`~gridoracle.oracle.core.universes.UniverseTable`; ``paths`` are
    ``(label, actions, attack per timestep, colour)``: a path with attacks (the best path) is
    drawn in the universe it goes through, one without (a robust path) in every one.
    """
    windows = table.windows[:MAX_WINDOWS_DRAWN]
    n_cols = max(1, min(MAX_ATTACKS_DRAWN, max((len(w.attacks) for w in windows), default=1)))
    fig = _new_figure(4.2 * n_cols, 0.8 + 0.28 * len(names) * max(1, len(windows)))
    axes = fig.subplots(max(1, len(windows)), n_cols, squeeze=False)
    for row, window in enumerate(windows):
        for col in range(n_cols):
            ax = axes[row][col]
            if col >= len(window.attacks) or window.n_steps < 2:
                ax.axis("off")
                continue
            attack = window.attacks[col]
            values = table.universe_rewards(row, col).T  # (N, n_steps - 1)
            steps = np.arange(window.begin + 1, window.end + 1)
            extent = (steps[0] - 0.5, steps[-1] + 0.5, len(names) - 0.5, -0.5)
            image = ax.imshow(
                values, aspect="auto", interpolation="nearest", cmap="viridis", extent=extent
            )
            fig.colorbar(image, ax=ax)
            native = np.flatnonzero(window.native[col])
            ax.scatter(np.full(len(native), steps[0]), native, marker=">", color="red", s=30)
            for label, actions, attacks, colour in paths:
                if not len(actions):
                    continue
                picked = np.asarray(actions)[steps]
                in_universe = not len(attacks) or all(a != a for a in attacks)
                if not in_universe and float(attacks[steps[0]]) != attack:
                    continue
                ax.plot(steps, picked, color=colour, lw=1.5, label=label)
            ax.set_yticks(range(len(names)))
            ax.set_yticklabels(names, fontsize=6)
            ax.set_title(
                f"window {window.begin}-{window.end}, attack on line {int(attack)} "
                f"(hit {len(native)} main runs, red)",
                fontsize=8,
            )
            ax.set_xlabel("timestep", fontsize=7)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=6, loc="lower right")
    more = len(table.windows) - len(windows)
    fig.suptitle(
        "Rewards in each attack's universe (main rows of the actions it hit, multiverse rows of"
        " the others)" + (f"; {more} more windows not drawn" if more > 0 else ""),
        fontsize=9,
    )
    return _save(fig, path)


def _new_figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(min(width, 18), min(height, 30)))
