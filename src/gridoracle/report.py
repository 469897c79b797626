"""One self-contained HTML page gathering the tables and figures of a run.

The page opens offline and can be mailed as one file: figures are embedded as base64 PNG, the style
sheet is inline, there is no script and no link outside the page. Every text is HTML-escaped.

- :func:`dataset_summary`: the facts of a dataset read from its manifest;
- :func:`find_oracle_results`: the Oracle's KPIs found under a results folder;
- :func:`render_report`: the HTML text; :func:`write_report` writes it atomically.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridoracle.dataset.split import format_chronics
from gridoracle.errors import OutputError
from gridoracle.io import atomic_write_bytes

__all__ = [
    "AgentsSection",
    "OracleResult",
    "ReportFigure",
    "dataset_summary",
    "find_oracle_results",
    "metrics_table",
    "read_agents_section",
    "render_report",
    "table_html",
    "write_report",
]


@dataclass(frozen=True)
class ReportFigure:
    """A PNG file to embed, with its caption."""

    path: Path
    caption: str
    section: str = "Figures"


@dataclass
class OracleResult:
    """The Oracle's KPIs on one scenario, read from its output folder."""

    folder: Path
    kpis: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        s = self.summary
        env = s.get("env", "?")
        chronic = s.get("chronic", self.folder.parent.name)
        actions = Path(str(s.get("actions_file", self.folder.name))).name
        return f"{env}, chronic {chronic}, actions {actions}"


@dataclass
class AgentsSection:
    """The results of ``gridoracle agents evaluate`` in one output folder."""

    folder: Path
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    figures: list[Path] = field(default_factory=list)


#: the figures of an agents folder, with their captions
AGENT_FIGURES: tuple[tuple[str, str], ...] = (
    ("survival.png", "Steps survived per agent and chronic; the Oracle's best path replayed."),
    ("max_rho.png", "Max rho after each step, per agent; one panel per chronic."),
    ("calls_vs_survival.png", "Simulate calls in the episode against steps survived."),
)


def read_agents_section(folder: str | Path) -> AgentsSection | None:
    """The agents' results in ``folder`` (``results.json``, ``summary.json``, the figures), or
    None when it holds none (or they cannot be read)."""
    folder = Path(folder)
    try:
        rows = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rows, list) or not isinstance(summary, dict):
        return None
    figures = [folder / name for name, _ in AGENT_FIGURES if (folder / name).is_file()]
    return AgentsSection(folder, rows, summary, figures)


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       color: #1b2631; background: #fbfcfc; line-height: 1.4; }
header { background: #1f4e79; color: white; padding: 18px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 1.6em; }
header p { margin: 0; opacity: 0.85; font-size: 0.9em; }
nav { padding: 8px 32px; background: #eaf2f8; font-size: 0.9em; }
nav a { margin-right: 16px; color: #1f4e79; text-decoration: none; }
main { padding: 8px 32px 40px 32px; max-width: 1400px; }
h2 { border-bottom: 2px solid #1f4e79; padding-bottom: 4px; margin-top: 32px; }
h3 { margin-bottom: 6px; }
table { border-collapse: collapse; margin: 8px 0 16px 0; font-size: 0.88em; }
th, td { border: 1px solid #d5d8dc; padding: 4px 10px; }
th { background: #eaf2f8; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #f4f6f7; }
tr.best td { background: #e9f7ef; font-weight: 600; }
figure { display: inline-block; margin: 8px 16px 16px 0; vertical-align: top;
         background: white; border: 1px solid #d5d8dc; padding: 8px; }
figure img { max-width: min(100%, 1100px); height: auto; display: block; }
figcaption { font-size: 0.85em; color: #566573; margin-top: 6px; max-width: 900px; }
.note { color: #566573; font-size: 0.9em; }
.warn { color: #9a7d0a; font-size: 0.9em; }
"""


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


def dataset_summary(manifest: Mapping[str, Any], path: str | Path | None = None) -> dict[str, Any]:
    """Facts of a dataset for the report, read from its manifest.

    Parameters
    ----------
    manifest : mapping
        The dataset's ``manifest.json`` (``Dataset.manifest``).
    path : str or Path, optional
        The dataset folder, shown as is.

    Returns
    -------
    dict
        ``environment``, ``chronics``, ``rows``, ``actions``, ``features``, ``pairs``,
        ``share of targets > 1``, ``diverged / game over``, ``illegal``, ``horizon``,
        ``max steps``, ``engine``, ``config hash`` and ``folder`` (when given); missing facts are
        left out.
    """
    config = dict(manifest.get("config") or {})
    summary = dict(manifest.get("summary") or {})
    out: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value is not None:
            out[key] = value

    put("environment", config.get("env"))
    chronics = config.get("chronics")
    if chronics is not None:
        try:
            put("chronics", format_chronics([int(c) for c in chronics]))
        except (TypeError, ValueError):
            put("chronics", ", ".join(str(c) for c in chronics))
    put("rows", summary.get("rows"))
    actions = manifest.get("actions")
    put("actions", len(actions) if isinstance(actions, list) else summary.get("actions"))
    features = manifest.get("feature_columns")
    put("features", len(features) if isinstance(features, list) else None)
    put("pairs", summary.get("pairs"))
    share = summary.get("share_above_1")
    put("share of targets > 1", None if share is None else f"{float(share):.2%}")
    put("diverged / game over", summary.get("game_over"))
    put("illegal", summary.get("illegal"))
    put("horizon", config.get("horizon"))
    put("max steps", config.get("max_steps"))
    put("engine", config.get("engine"))
    digest = manifest.get("config_hash")
    put("config hash", str(digest)[:12] if digest else None)
    put("folder", None if path is None else str(path))
    return out


def find_oracle_results(root: str | Path, *, env: str | None = None) -> list[OracleResult]:
    """The Oracle outputs (``kpis.csv``) under ``root``, optionally only those of ``env``.

    Parameters
    ----------
    root : str or Path
        A folder written by ``gridoracle oracle --output`` (e.g. ``results/oracle``); a missing
        folder gives an empty list.
    env : str, optional
        Keep only results whose ``summary.json`` names this environment.

    Returns
    -------
    list of OracleResult
        Sorted by folder. A ``kpis.csv`` that cannot be read is skipped.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found: list[OracleResult] = []
    for kpis_path in sorted(root.rglob("kpis.csv")):
        folder = kpis_path.parent
        try:
            kpis = pd.read_csv(kpis_path)
        except (OSError, ValueError, pd.errors.ParserError):
            continue
        summary: dict[str, Any] = {}
        spath = folder / "summary.json"
        if spath.is_file():
            try:
                loaded = json.loads(spath.read_text(encoding="utf-8"))
                summary = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                summary = {}
        if env is not None and summary.get("env") not in (None, env):
            continue
        found.append(OracleResult(folder=folder, kpis=kpis, summary=summary))
    return found


# --------------------------------------------------------------------------------------------------
# HTML pieces
# --------------------------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> tuple[str, bool]:
    """Text of a table cell and whether it is numeric (right-aligned)."""
    if value is None:
        return "", False
    if isinstance(value, bool | np.bool_):
        return ("yes" if value else "no"), False
    if isinstance(value, int | np.integer):
        return f"{int(value):,}", True
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "n/a", True
        if math.isinf(v):
            return ("∞" if v > 0 else "-∞"), True
        if abs(v) >= 1e5:
            return f"{v:,.0f}", True
        if v != 0 and abs(v) < 1e-3:
            return f"{v:.3g}", True
        if abs(v) >= 100:
            return f"{v:,.1f}", True
        return f"{v:.4f}", True
    return str(value), False


def _percent(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    return "n/a" if math.isnan(v) else f"{v:.2%}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def table_html(
    frame: pd.DataFrame,
    *,
    index: bool = False,
    highlight_row: int | None = None,
    caption: str | None = None,
) -> str:
    """An HTML table of ``frame`` (escaped, numbers right-aligned and rounded)."""
    cols = [str(c) for c in frame.columns]
    head = "".join(f"<th>{_esc(c)}</th>" for c in ([str(frame.index.name or "")] if index else []))
    head += "".join(f"<th>{_esc(c)}</th>" for c in cols)
    rows = []
    for i, (idx, rec) in enumerate(zip(frame.index, frame.itertuples(index=False), strict=True)):
        cells = []
        if index:
            cells.append(f"<td>{_esc(idx)}</td>")
        for value in rec:
            text, numeric = _fmt(value)
            cells.append(
                f'<td class="num">{_esc(text)}</td>' if numeric else f"<td>{_esc(text)}</td>"
            )
        cls = ' class="best"' if highlight_row is not None and i == highlight_row else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _key_value_table(items: Mapping[str, Any]) -> str:
    frame = pd.DataFrame({"": list(items.keys()), "value": list(items.values())})
    return table_html(frame)


def _flatten(metrics: Mapping[str, Any], prefix: str = "", limit: int = 30) -> dict[str, Any]:
    """Scalar metrics of a nested dict as ``a.b.c`` keys; large per-item maps are left out."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if len(value) <= limit:
                out.update(_flatten(value, f"{name}.", limit))
        elif isinstance(value, bool | int | float | np.integer | np.floating | str) or (
            value is None
        ):
            out[name] = value
    return out


def metrics_table(metrics: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per scalar metric, one column per model (nested keys joined by dots)."""
    flat = {name: _flatten(m) for name, m in metrics.items()}
    keys: list[str] = []
    for m in flat.values():
        keys.extend(k for k in m if k not in keys)
    frame = pd.DataFrame(
        {
            name: pd.Series([m.get(k) for k in keys], index=keys, dtype=object)
            for name, m in flat.items()
        }
    )
    frame.index.name = "metric"
    return frame


def _figure_html(fig: ReportFigure) -> str:
    data = Path(fig.path).read_bytes()
    encoded = base64.b64encode(data).decode("ascii")
    alt = _esc(fig.caption)
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{encoded}">'
        f"<figcaption>{alt}</figcaption></figure>"
    )


def _highlighted_row(leaderboard: pd.DataFrame, name: str | None) -> int | None:
    """Position of the first row whose first column is ``name`` (None if absent)."""
    if name is None or leaderboard.shape[1] == 0:
        return None
    hits = np.flatnonzero(leaderboard.iloc[:, 0].astype(str).to_numpy() == str(name))
    return int(hits[0]) if hits.size else None


def _dataset_html(dataset: Mapping[str, Any], split: Iterable[Mapping[str, Any]] | None) -> str:
    """The dataset's facts, and the split's table when there is one."""
    body = _key_value_table(dataset)
    if split:
        rows = [
            {
                "set": r.get("set"),
                "chronics": format_chronics(r.get("chronics", [])),
                "rows": r.get("rows"),
                "finite targets": r.get("targets"),
                "share > 1": _percent(r.get("share_above_1")),
            }
            for r in split
        ]
        body += "<h3>Split by chronic</h3>" + table_html(pd.DataFrame(rows))
    return body


def _add_figures(sections: list[tuple[str, str]], figures: Sequence[ReportFigure]) -> None:
    """Append each figure to the section of its name (a new one at the end if none)."""
    for fig in figures:
        try:
            part = _figure_html(fig)
        except OSError as exc:
            raise OutputError(f"cannot read figure {fig.path}: {exc.strerror or exc}") from exc
        names = [name for name, _ in sections]
        if fig.section in names:
            i = names.index(fig.section)
            sections[i] = (fig.section, sections[i][1] + part)
        else:
            sections.append((fig.section, part))


def _oracle_html(oracle: Sequence[OracleResult]) -> str:
    """The KPIs, warnings and output folder of each Oracle result."""
    parts = []
    for res in oracle:
        kpis = res.kpis.copy()
        for col in kpis.columns:  # rewards differ in the 4th decimal: show them all
            if pd.api.types.is_float_dtype(kpis[col]):
                kpis[col] = [f"{v:,.4f}" if v == v else "n/a" for v in kpis[col]]
        parts.append(f"<h3>{_esc(res.label)}</h3>" + table_html(kpis))
        for warning in res.summary.get("warnings", [])[:5]:
            parts.append(f'<p class="warn">{_esc(warning)}</p>')
        parts.append(f'<p class="note">outputs: {_esc(res.folder)}</p>')
    return "".join(parts)


def _agents_html(section: AgentsSection) -> str:
    """Per-agent totals, the per-chronic table, the figures and how it was measured."""
    summary = section.summary
    config = summary.get("config") or {}
    totals = summary.get("totals") or {}
    head = [
        {
            "agent": name,
            "steps survived": t.get("steps"),
            "of": t.get("max_steps"),
            "reward (L2RPN)": t.get("reward"),
            "acting steps": t.get("acting_steps"),
            "simulate calls": t.get("simulate_calls"),
            "calls / acting step": t.get("calls_per_acting_step"),
            "decision ms / acting step": (
                None
                if t.get("decision_s_per_acting_step") is None
                else 1000 * float(t["decision_s_per_acting_step"])
            ),
            "reward gap to Oracle": t.get("reward_gap"),
            "steps gap to Oracle": t.get("steps_gap"),
        }
        for name, t in totals.items()
    ]
    columns = [
        "agent",
        "chronic",
        "steps",
        "max_steps",
        "reward",
        "acting_steps",
        "simulate_calls",
        "calls_per_acting_step",
        "decision_s_per_acting_step",
        "oracle_reward",
        "oracle_steps",
        "reward_gap",
        "steps_gap",
    ]
    rows = pd.DataFrame([{c: r.get(c) for c in columns} for r in section.rows], columns=columns)
    body = "<h3>Totals over the chronics</h3>" + table_html(pd.DataFrame(head))
    body += "<h3>Per agent and chronic</h3>" + table_html(rows)
    body += (
        f'<p class="note">Environment {_esc(config.get("env"))}, chronic(s) '
        f"{_esc(', '.join(map(str, config.get('chronic_names', []))))}, model "
        f"{_esc(config.get('model'))} ({_esc(config.get('n_actions'))} actions), k "
        f"{_esc(config.get('k'))}, threshold {_esc(config.get('threshold'))}, seed "
        f"{_esc(config.get('seed'))}. Episodes played by grid2op's Runner, scored with "
        "L2RPNReward; steps survived exclude a game over's step. Oracle: depth 1 over the "
        "model's catalogue; its best path and its best path without overload replayed under "
        "the real rules (same reward); the gaps are to the replayed path that survives longest, "
        "then of the higher reward. "
        "Decision times measured on this machine.</p>"
    )
    for warning in (summary.get("warnings") or [])[:5]:
        body += f'<p class="warn">{_esc(warning)}</p>'
    captions = dict(AGENT_FIGURES)
    for path in section.figures:
        body += _figure_html(ReportFigure(Path(path), captions.get(Path(path).name, ""), "Agents"))
    body += f'<p class="note">outputs: {_esc(section.folder)}</p>'
    return body


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------


def render_report(
    *,
    title: str = "gridoracle report",
    subtitle: str | None = None,
    dataset: Mapping[str, Any] | None = None,
    split: Iterable[Mapping[str, Any]] | None = None,
    leaderboard: pd.DataFrame | None = None,
    leaderboard_note: str | None = None,
    highlight: str | None = None,
    metrics: Mapping[str, Mapping[str, Any]] | None = None,
    figures: Sequence[ReportFigure] = (),
    oracle: Sequence[OracleResult] = (),
    agents: AgentsSection | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The HTML text of the report.

    Parameters
    ----------
    title, subtitle : str
        Page header.
    dataset : mapping, optional
        Dataset facts (see :func:`dataset_summary`).
    split : iterable of mapping, optional
        Split records (see :func:`gridoracle.dataset.split.split_summary`).
    leaderboard : pandas.DataFrame, optional
        One row per model.
    leaderboard_note : str, optional
        How the leaderboard was measured, written under it.
    highlight : str, optional
        The leaderboard row to highlight: the one whose first column (the model) has this value.
    metrics : mapping of str to mapping, optional
        Metrics of each model (as in ``metrics.json``); scalar ones are tabulated.
    figures : sequence of ReportFigure
        PNG files, embedded in base64, each in the section named by its ``section`` (Dataset,
        Leaderboard, Metrics, ...), or in a new section after the tables.
    oracle : sequence of OracleResult
        Oracle KPIs to show.
    agents : AgentsSection, optional
        The results of ``gridoracle agents evaluate`` (section "Agents").
    notes : sequence of str
        Free sentences shown at the end.

    Raises
    ------
    OutputError
        If a figure file cannot be read.
    """
    sections: list[tuple[str, str]] = []
    if dataset:
        sections.append(("Dataset", _dataset_html(dataset, split)))
    if leaderboard is not None and len(leaderboard):
        body = table_html(leaderboard, highlight_row=_highlighted_row(leaderboard, highlight))
        if leaderboard_note:
            body += f'<p class="note">{_esc(leaderboard_note)}</p>'
        sections.append(("Leaderboard", body))
    if metrics:
        body = table_html(metrics_table(metrics), index=True)
        body += (
            '<p class="note">Scalar metrics of each model on the test set; per-action metrics '
            "are in each model's metrics.json.</p>"
        )
        sections.append(("Metrics", body))
    _add_figures(sections, figures)
    if oracle:
        sections.append(("Oracle", _oracle_html(oracle)))
    if agents is not None:
        sections.append(("Agents", _agents_html(agents)))
    if notes:
        sections.append(("Notes", "".join(f'<p class="note">{_esc(n)}</p>' for n in notes)))

    nav = "".join(f'<a href="#{_slug(name)}">{_esc(name)}</a>' for name, _ in sections)
    content = "".join(
        f'<section id="{_slug(name)}"><h2>{_esc(name)}</h2>{body}</section>'
        for name, body in sections
    )
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sub = _esc(subtitle) + " · " if subtitle else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_esc(title)}</h1><p>{sub}generated {stamp} by gridoracle</p></header>"
        f"<nav>{nav}</nav><main>{content}</main></body></html>\n"
    )


def write_report(path: str | Path, **kwargs: Any) -> Path:
    """Render the report (see :func:`render_report` for the arguments) and write it atomically.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputError
        If the file cannot be written or a figure cannot be read.
    """
    path = Path(path)
    text = render_report(**kwargs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        raise OutputError(f"cannot write report {path}: {exc.strerror or exc}") from exc
    return path
