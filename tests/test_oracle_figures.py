"""The Oracle's PNG figures: drawn once and cropped, as matplotlib's tight bounding box does.

:func:`gridoracle.oracle.outputs._save` draws a figure once and writes the pixels inside its
tight bounding box; the reference is ``savefig(bbox_inches="tight")`` (two draws) of the same
figure. Tolerance: the size within one pixel (rounding of the crop), and at most 3 % of the
pixels visibly different once the two are aligned on the best of the offsets of at most one pixel.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from gridoracle.oracle import outputs


def _rewards(seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    rewards = 12 + np.cumsum(rng.normal(size=(120, 6)), axis=0) / 10
    overload = (rng.random((120, 6)) > 0.2).astype(np.int8)
    names = ["donothing-0", "sub-1-0", "sub-5-2_line-4-3", "line-4-3", "sub-1-1_sub-5-2", "x"]
    return rewards, names, overload


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def _reference(fig) -> np.ndarray:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=outputs.DPI, bbox_inches="tight")
    return _pixels(buffer.getvalue())


def _close(ours: np.ndarray, ref: np.ndarray) -> None:
    assert abs(ours.shape[0] - ref.shape[0]) <= 1 and abs(ours.shape[1] - ref.shape[1]) <= 1
    best = 1.0
    for dy in (0, 1):
        for dx in (0, 1):
            for a, b in ((ours, ref), (ref, ours)):
                h, w = min(a.shape[0] - dy, b.shape[0]), min(a.shape[1] - dx, b.shape[1])
                diff = np.abs(a[dy : dy + h, dx : dx + w] - b[:h, :w]).max(axis=2)
                best = min(best, float((diff > 40).mean()))
    assert best <= 0.03, best


@pytest.mark.parametrize("kind", ["graph", "topologies"])
def test_a_figure_drawn_once_is_the_tight_figure(tmp_path, monkeypatch, kind):
    rewards, names, overload = _rewards()
    made = []
    figure = outputs._figure

    def keep(width, height):
        fig, ax = figure(width, height)
        made.append(fig)
        return fig, ax

    monkeypatch.setattr(outputs, "_figure", keep)
    draws = []
    monkeypatch.setattr(type_of_canvas(), "draw", counting(type_of_canvas().draw, draws))
    if kind == "graph":
        path = outputs.plot_graph(
            rewards, names, [3] * 120, [1] * 120, overload, tmp_path / "g.png"
        )
    else:
        path = outputs.plot_topology_count(
            ["sub-5-2_line-4-3"] * 5 + ["line-4-3"], 2, "Most played", tmp_path / "t.png"
        )
    assert len(draws) == 1  # one draw, no second layout pass
    ours = _pixels(path.read_bytes())
    _close(ours, _reference(made[0]))


def test_a_figure_drawn_past_its_canvas_is_saved_by_savefig(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1))
    ax = fig.subplots()
    ax.set_yticks([0])
    ax.set_yticklabels(["a label much wider than the figure itself"])
    path = outputs._save(fig, tmp_path / "wide.png")
    ours = _pixels(path.read_bytes())
    assert ours.shape[1] > 2 * outputs.DPI  # the label is not cut off
    _close(ours, _reference(fig))


def type_of_canvas():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return FigureCanvasAgg


def counting(method, calls):
    def wrapped(self, *args, **kwargs):
        calls.append(1)
        return method(self, *args, **kwargs)

    return wrapped
