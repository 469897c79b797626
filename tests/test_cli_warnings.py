"""A warning naming hundreds of actions is cut on the terminal, whole in the outputs."""

from __future__ import annotations

import pytest

from gridoracle.cli import render


def test_a_long_warning_is_cut_at_a_separator(capsys: pytest.CaptureFixture[str]) -> None:
    names = ", ".join(f"sub-{i}-1_sub-{i + 1}-2 (108 of 864 steps)" for i in range(200))
    message = f"200 actions were not simulated until the last timestep: {names}"
    render.warnings([message, "short one"], whole_in="summary.json")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[1] == "warning: short one"
    first = lines[0]
    assert first.endswith(", ... (the whole line in summary.json)")
    kept = first.removeprefix("warning: ").removesuffix(", ... (the whole line in summary.json)")
    assert message.startswith(kept) and message[len(kept) : len(kept) + 2] == ", "
    assert len(kept) <= render.WARNING_CHARS
    render.warnings([message])  # no place named: printed whole
    assert capsys.readouterr().err.strip() == f"warning: {message}"
