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


# best_path.json: written from its parts, the same bytes as json.dumps(json_safe(...), indent=2)


def _generic(document) -> str:
    import json

    from gridoracle.io import json_safe

    return json.dumps(json_safe(document), indent=2, sort_keys=False)


def _document(n_steps: int = 50):
    names = ["donothing-0", "sub-1-0_line-4-3", "caf\u00e9 100%", 'q"uote\\']
    dicts = [
        {},
        {"set_bus": {"substations_id": [[1, [1, 2, 2]]]}, "set_line_status": [[4, -1]]},
        {"set_line_status": [[3, np.int64(-1)]], "x": {"a": [], "b": {}, "c": None}},
        {"change_bus": [True, False], "v": float("nan")},
    ]
    rng = np.random.default_rng(1)
    rewards = rng.normal(size=(n_steps, len(names))) * 10.0 ** rng.integers(-8, 8, (n_steps, 1))
    rewards[3, :] = np.nan
    rewards[4, :] = np.inf
    rewards[5, :] = 0.0
    path = rng.integers(0, len(names), n_steps).tolist()
    return outputs.path_document(path, names, dicts, rewards, float(rewards.sum()), "longest")


def test_a_path_document_is_written_as_json_writes_it(tmp_path):
    document = _document()
    assert outputs._path_text(document) == _generic(document)
    path = outputs.write_json(document, tmp_path / "best_path.json")
    assert path.read_text() == _generic(document) + "\n"
    for value in (float("nan"), 1e16, -0.0):  # the document's own value, as json writes it
        other = {**document, "value": value}
        assert outputs._path_text(other) == _generic(other)


def test_other_documents_go_through_json_dumps(tmp_path):
    document = _document(8)
    empty = {**document, "steps": [], "found": False}
    assert outputs._path_text(empty) is None
    universe = {**document, "steps": [{**s, "node": "x"} for s in document["steps"]]}
    assert outputs._path_text(universe) is None
    numpy_steps = [{**s, "reward": np.float64(1)} for s in document["steps"]]
    numpy_reward = {**document, "steps": numpy_steps}
    assert outputs._path_text(numpy_reward) is None
    for other in (empty, universe, numpy_reward):
        text = outputs.write_json(other, tmp_path / "p.json").read_text()
        assert text == _generic(other) + "\n"
