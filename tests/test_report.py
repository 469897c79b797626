"""The HTML report (gridoracle.report): self-contained, well-formed, escaped, tables and images."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridoracle import report
from gridoracle.errors import OutputError

VOID = {"meta", "img", "br", "hr", "link", "input", "source", "col", "wbr", "area", "base"}


class Checker(HTMLParser):
    """Collects tags, images and links, and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        for key in ("href", "src", "action", "data"):
            if key in a and tag != "img":
                self.links.append(a[key] or "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> Checker:
    checker = Checker()
    checker.feed(text)
    checker.close()
    assert not checker.errors, checker.errors
    assert checker.stack == [], f"unclosed elements: {checker.stack}"
    return checker


@pytest.fixture
def png(tmp_path: Path) -> Path:
    from gridoracle import plots

    fig = plots._figure(3, 2)
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [1, 0, 1])
    ax.set_title("tiny")
    return plots.save_figure(fig, tmp_path / "tiny.png")


@pytest.fixture
def oracle_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "oracle" / "scenario_0" / "reference"
    folder.mkdir(parents=True)
    (folder / "kpis.csv").write_text(
        "Indicator name,Reward value\nBest possible path with game rules,95.5\n"
        "Do Nothing in ref topo,92.25\n"
    )
    (folder / "summary.json").write_text(
        '{"env": "l2rpn_case14_sandbox", "chronic": 0, "actions_file": "x/reference.json",'
        ' "warnings": ["a <warning>"]}'
    )
    other = tmp_path / "oracle" / "scenario_1" / "other"
    other.mkdir(parents=True)
    (other / "kpis.csv").write_text("Indicator name,Reward value\nx,1.0\n")
    (other / "summary.json").write_text('{"env": "rte_case14_realistic", "chronic": 1}')
    return tmp_path / "oracle"


MANIFEST = {
    "config": {
        "env": "l2rpn_case14_sandbox",
        "chronics": [0, 1, 2],
        "horizon": 0,
        "max_steps": 575,
        "engine": "batched",
    },
    "summary": {"rows": 1725, "pairs": 172500, "share_above_1": 0.383486, "game_over": 19360},
    "actions": [{"name": f"a{i}"} for i in range(100)],
    "feature_columns": ["f0", "f1"],
    "config_hash": "c19b36f84771abd0c1ed9e9d77035e7e",
}


def test_dataset_summary() -> None:
    facts = report.dataset_summary(MANIFEST, "data/x")
    assert facts["environment"] == "l2rpn_case14_sandbox"
    assert facts["chronics"] == "0-2"
    assert facts["rows"] == 1725 and facts["actions"] == 100 and facts["features"] == 2
    assert facts["share of targets > 1"] == "38.35%"
    assert facts["diverged / game over"] == 19360
    assert facts["config hash"] == "c19b36f84771"
    assert "illegal" not in facts  # missing facts are left out, not invented


def test_find_oracle_results(oracle_dir: Path) -> None:
    found = report.find_oracle_results(oracle_dir)
    assert [r.folder.parent.name for r in found] == ["scenario_0", "scenario_1"]
    only = report.find_oracle_results(oracle_dir, env="l2rpn_case14_sandbox")
    assert len(only) == 1 and only[0].kpis.shape == (2, 2)
    assert only[0].label == "l2rpn_case14_sandbox, chronic 0, actions reference.json"
    assert report.find_oracle_results(oracle_dir / "missing") == []


def test_report_is_self_contained(tmp_path: Path, png: Path, oracle_dir: Path) -> None:
    leaderboard = pd.DataFrame(
        {
            "model": ["extra_trees", "mean", "<b>evil</b>"],
            "rmse": [0.1, 0.2, np.nan],
            "mean regret": [0.003, 0.01, 0.5],
            "train s": [1.5, 0.01, 2.0],
        }
    )
    metrics = {
        "extra_trees": {"rmse": 0.1, "n": 50443, "regret": {"mean": 0.003, "p95": 0.02}},
        "mean": {"rmse": 0.2, "per_action": {f"a{i}": {"rmse": 0.1} for i in range(50)}},
    }
    out = report.write_report(
        tmp_path / "sub" / "report.html",
        title="case14 & co",
        dataset=report.dataset_summary(MANIFEST),
        split=[
            {"set": "train", "chronics": [0, 1], "rows": 10, "targets": 90, "share_above_1": 0.2}
        ],
        leaderboard=leaderboard,
        highlight="extra_trees",
        metrics=metrics,
        figures=[
            report.ReportFigure(png, "A tiny figure", "Models"),
            report.ReportFigure(png, "Data figure", "Dataset"),
        ],
        oracle=report.find_oracle_results(oracle_dir, env="l2rpn_case14_sandbox"),
        notes=["measured on 2 cores"],
    )
    text = out.read_text(encoding="utf-8")
    checker = parse(text)
    # offline: no script, no external style, every link internal, images inline
    assert "script" not in checker.tags and "link" not in checker.tags
    assert all(link.startswith("#") for link in checker.links), checker.links
    assert not re.search(r"(?i)(https?:|//)[^\s\"']*\.(css|js|png)", text)
    assert len(checker.images) == 2
    for src in checker.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == png.read_bytes()
    # sections: one per name, figures in the section they name, in order
    ids = re.findall(r'<section id="([^"]+)">', text)
    assert ids == ["dataset", "leaderboard", "metrics", "models", "oracle", "notes"]
    dataset_section = text.split('<section id="dataset">')[1].split("</section>")[0]
    assert "Data figure" in dataset_section and "A tiny figure" not in dataset_section
    # tables and escaping
    assert checker.tags.count("table") == 5  # dataset, split, leaderboard, metrics, oracle
    assert "<b>evil</b>" not in text and "&lt;b&gt;evil&lt;/b&gt;" in text
    assert "case14 &amp; co" in text
    body = " ".join(checker.text)
    for expected in ("extra_trees", "0.0030", "regret.p95", "Best possible path with game rules"):
        assert expected in body
    assert "per_action" not in body  # large per-action maps are left to metrics.json
    assert ">20.00%<" in text  # split share as a percentage
    assert ">50,443<" in text  # an integer metric stays an integer beside float ones
    assert "a &lt;warning&gt;" in text
    assert re.search(r'<tr class="best"><td>extra_trees</td>', text)
    assert not list(out.parent.glob(".*.tmp"))


def test_report_minimal_and_missing_figure(tmp_path: Path) -> None:
    text = report.render_report(title="empty")
    parse(text)
    with pytest.raises(OutputError, match=r"missing\.png"):
        report.render_report(figures=[report.ReportFigure(tmp_path / "missing.png", "x")])


def test_number_formatting() -> None:
    frame = pd.DataFrame({"a": [1234567, 0.00001234, 12.345678, float("nan"), 250.04]})
    html = report.table_html(frame)
    for cell in ("1,234,567", "1.23e-05", "12.3457", "n/a", "250.0"):
        assert f">{cell}<" in html
