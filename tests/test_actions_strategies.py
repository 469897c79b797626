"""Choosing actions on big grids: `select_actions`, `load_action_source` and `gridoracle actions`.

Expected values are recomputed here from grid2op itself (``sub_info``, ``*_to_subid``, the
``set_bus`` vectors of the grid2op actions), not from the package's helpers.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gridoracle.actions import (
    FORMAT,
    busiest_substations,
    enumerate_actions,
    lines_moved,
    load_action_source,
    load_catalogue,
    parse_ids,
    sample_actions,
    select_actions,
)
from gridoracle.actions.parse import load_unitary_actions
from gridoracle.cli import main
from gridoracle.cli.app import user_message
from gridoracle.errors import ActionFileError, InvalidOption
from gridoracle.grid import make_env

CASE14 = "l2rpn_case14_sandbox"
WCCI = "l2rpn_wcci_2022_dev"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "actions" / CASE14
FORMATS = ("reference", "parser1", "parser2")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code: int, stderr: str, *words: str) -> None:
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture(scope="module")
def env14():
    env = make_env(CASE14)
    yield env
    env.close()


@pytest.fixture(scope="module")
def cat14(env14):
    return enumerate_actions(env14, "all")


# -- independent facts from grid2op ----------------------------------------------------------------


def _g2op_subs(env, action) -> set[int]:
    """Substations where the grid2op action sets a bus (from its set_bus topology vector)."""
    act = action.to_grid2op(env.action_space)
    ends = np.cumsum(env.action_space.sub_info)
    positions = np.flatnonzero(act.set_bus)
    return {int(np.searchsorted(ends, p, side="right")) for p in positions}


def _g2op_lines_moved(env, action) -> int:
    act = action.to_grid2op(env.action_space)
    return int((act.line_or_set_bus >= 2).sum() + (act.line_ex_set_bus >= 2).sum())


def _g2op_busiest(env, n: int) -> list[int]:
    sizes = np.asarray(env.action_space.sub_info)
    return sorted(range(len(sizes)), key=lambda s: (-int(sizes[s]), s))[:n]


def _line_of(action) -> int:
    (pair,) = action.grid2op["set_line_status"]
    return int(pair[0])


def _is_subsequence(part, whole) -> bool:
    it = iter(whole)
    return all(any(a is b or a == b for b in it) for a in part)


# -- the library -----------------------------------------------------------------------------------


def test_busiest_substations_follow_sub_info_with_lower_id_on_ties(env14):
    sizes = [int(s) for s in env14.action_space.sub_info]
    for n in (1, 3, 7, 14):
        got = busiest_substations(env14, n)
        assert list(got) == _g2op_busiest(env14, n)
        assert [sizes[s] for s in got] == sorted((sizes[s] for s in got), reverse=True)
    # case14: substation 5 has 7 elements, 1 and 3 tie at 6 -> the lower id first
    assert busiest_substations(env14, 3) == (5, 1, 3)


def test_substations_keep_their_topologies_and_the_lines_ending_there(env14, cat14):
    chosen = {4, 5, 11}
    got = select_actions(cat14, env14, substations=[11, 4, 5, 5])
    space = env14.action_space
    or_sub, ex_sub = space.line_or_to_subid, space.line_ex_to_subid
    expected = [
        a
        for a in cat14
        if a.kind == "donothing"
        or (a.kind == "topology" and _g2op_subs(env14, a) <= chosen)
        or (
            a.kind in ("line_off", "line_on")
            and (or_sub[_line_of(a)] in chosen or ex_sub[_line_of(a)] in chosen)
        )
    ]
    assert got == expected
    kinds = Counter(a.kind for a in got)
    assert kinds["topology"] > 0 and kinds["line_off"] == kinds["line_on"] > 0
    assert {s for a in got if a.kind == "topology" for s in _g2op_subs(env14, a)} == chosen


def test_busiest_is_the_same_as_listing_those_substations(env14, cat14):
    for n in (1, 4):
        listed = _g2op_busiest(env14, n)
        assert select_actions(cat14, env14, busiest=n) == select_actions(
            cat14, env14, substations=listed
        )


def test_per_substation_draws_at_most_k_per_substation_with_the_seed(env14, cat14):
    k = 5
    per_sub_all = Counter(min(_g2op_subs(env14, a)) for a in cat14 if a.kind == "topology")
    got = select_actions(cat14, env14, per_substation=k, seed=7)
    per_sub = Counter(min(_g2op_subs(env14, a)) for a in got if a.kind == "topology")
    assert per_sub == {s: min(k, n) for s, n in per_sub_all.items()}
    assert _is_subsequence(got, cat14)  # catalogue order
    assert [a for a in got if a.kind != "topology"] == [a for a in cat14 if a.kind != "topology"]
    # the documented draw: one numpy default_rng(seed), substations by increasing id
    rng = np.random.default_rng(7)
    expected_names = set()
    for sub in sorted(per_sub_all):
        names = [a.name for a in cat14 if a.kind == "topology" and _g2op_subs(env14, a) == {sub}]
        if len(names) <= k:
            expected_names.update(names)
        else:
            expected_names.update(names[int(i)] for i in rng.choice(len(names), k, replace=False))
    assert {a.name for a in got if a.kind == "topology"} == expected_names
    # deterministic; another seed draws others
    assert select_actions(cat14, env14, per_substation=k, seed=7) == got
    assert select_actions(cat14, env14, per_substation=k, seed=8) != got
    # k above every substation's count keeps everything
    assert select_actions(cat14, env14, per_substation=10_000) == cat14


def test_lines_moved_counts_line_ends_on_bus_2_as_grid2op_reads_the_action(env14, cat14):
    counts = [lines_moved(a) for a in cat14]
    assert counts == [_g2op_lines_moved(env14, a) for a in cat14]
    assert max(counts) >= 3 and min(counts) == 0
    assert all(c == 0 for a, c in zip(cat14, counts, strict=True) if a.kind != "topology")


def test_most_lines_keeps_the_n_topologies_moving_most_lines(env14, cat14):
    n = 12
    got = select_actions(cat14, env14, most_lines=n)
    topo = [a for a in cat14 if a.kind == "topology"]
    ranked = sorted(topo, key=lambda a: -_g2op_lines_moved(env14, a))  # stable: catalogue order
    assert {a.name for a in got if a.kind == "topology"} == {a.name for a in ranked[:n]}
    kept_min = min(_g2op_lines_moved(env14, a) for a in got if a.kind == "topology")
    dropped_max = max(_g2op_lines_moved(env14, a) for a in ranked[n:])
    assert kept_min >= dropped_max
    # ties at the threshold go to the earlier actions of the catalogue
    at_threshold = [a.name for a in topo if _g2op_lines_moved(env14, a) == kept_min]
    kept_at_threshold = [a.name for a in got if a.kind == "topology" and lines_moved(a) == kept_min]
    assert kept_at_threshold == at_threshold[: len(kept_at_threshold)]
    assert _is_subsequence(got, cat14)
    # donothing and line actions are untouched
    assert [a for a in got if a.kind != "topology"] == [a for a in cat14 if a.kind != "topology"]


def test_limit_applies_last_and_keeps_donothing(env14, cat14):
    first = select_actions(cat14, env14, busiest=3, most_lines=20)
    got = select_actions(cat14, env14, busiest=3, most_lines=20, limit=6, seed=4)
    assert got == sample_actions(first, 6, 4)
    assert len(got) == 6 and got[0].kind == "donothing"


def test_options_compose_in_the_documented_order(env14, cat14):
    busiest = set(_g2op_busiest(env14, 2))
    got = select_actions(cat14, env14, kind="topology", busiest=2, per_substation=4, most_lines=5)
    assert got[0].kind == "donothing"
    topo = got[1:]
    assert len(topo) == 5 and all(a.kind == "topology" for a in topo)
    assert all(_g2op_subs(env14, a) <= busiest for a in topo)
    # the 5 come from the per-substation draw, and move the most lines among it
    drawn = select_actions(cat14, env14, kind="topology", busiest=2, per_substation=4)
    assert len(drawn) == 1 + 8
    assert _is_subsequence(topo, drawn)
    left = [a for a in drawn[1:] if a not in topo]
    assert min(map(lines_moved, topo)) >= max(map(lines_moved, left))


def test_kind_filter(env14, cat14):
    assert select_actions(cat14, env14, kind="all") == cat14
    lines = select_actions(cat14, env14, kind="line")
    assert Counter(a.kind for a in lines) == {"donothing": 1, "line_off": 20, "line_on": 20}
    assert select_actions(cat14, env14, kind="topology") == enumerate_actions(env14, "topology")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"substations": [1], "busiest": 2}, ["--substations", "--busiest", "combined"]),
        ({"substations": [3, 14]}, ["substation 14", "0 to 13"]),
        ({"substations": [-1]}, ["substation -1", "0 to 13"]),
        ({"substations": []}, ["--substations", "empty"]),
        ({"busiest": 0}, ["--busiest", "got 0"]),
        ({"busiest": 15}, ["--busiest", "14"]),
        ({"per_substation": 0}, ["--per-substation", "at least 1"]),
        ({"most_lines": -2}, ["--most-lines", "at least 1"]),
        ({"limit": 0}, ["--limit", "at least 1"]),
        ({"seed": -1}, ["--seed"]),
        ({"kind": "lines"}, ["--kind", "'lines'"]),
    ],
)
def test_bad_library_inputs(env14, cat14, kwargs, words):
    with pytest.raises(InvalidOption) as info:
        select_actions(cat14, env14, **kwargs)
    message = user_message(info.value)  # as the command line shows it: parameters as flags
    assert "\n" not in message
    for word in words:
        assert word in message


def test_parse_ids():
    assert parse_ids("4,5,11") == (4, 5, 11)
    assert parse_ids(" 11, 4 ,4") == (4, 11)
    for bad in ("", " , ", "4,x", "4,,5", "-1", "4.0", "٣"):
        with pytest.raises(InvalidOption) as info:
            parse_ids(bad)
        assert re.search("--substations", user_message(info.value))


# -- actions from a file ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_load_action_source_reads_the_three_oracle4grid_formats(env14, fmt):
    path = EXAMPLES / f"{fmt}.json"
    source = load_action_source(path, env14)
    unitary, _ = load_unitary_actions(path, env14)
    assert source.format == fmt
    assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert source.actions[0].kind == "donothing"
    rest = source.actions[1:]
    assert len(rest) == len(unitary)
    for mine, ua in zip(rest, unitary, strict=True):
        assert mine.grid2op == ua.grid2op
        if ua.asset_kind == "sub":
            assert (mine.name, mine.kind) == (ua.name, "topology")
        else:
            status = ua.content["set_line"]
            assert mine.name == f"line-{ua.asset_id}-{'off' if status == -1 else 'on'}"
        mine.to_grid2op(env14.action_space)  # grid2op plays it


def test_the_three_formats_give_the_same_topologies(env14):
    sources = {fmt: load_action_source(EXAMPLES / f"{fmt}.json", env14) for fmt in FORMATS}
    assert sources["reference"].actions == sources["parser2"].actions
    topo = [a for a in sources["reference"].actions if a.kind != "line_off"]
    assert sources["parser1"].actions == topo


def test_duplicate_oracle4grid_actions_are_kept_once(tmp_path, env14, caplog):
    path = tmp_path / "dups.json"
    content = {"lines_id_bus": [[7, 1], [8, 2], [9, 2], [17, 1]], "loads_id_bus": [[4, 2]]}
    path.write_text(
        json.dumps(
            {
                "sub": {"5": [content, content]},
                "line": {"4": [{"set_line": -1}, {"set_line": -1}]},
            }
        )
    )
    source = load_action_source(path, env14)
    assert [a.name for a in source.actions] == ["donothing", "sub-5-0", "line-4-off"]
    assert any("sub-5-1 left out" in w for w in source.warnings)
    assert any("line-4-3 left out" in w for w in source.warnings)


def test_a_catalogue_file_without_donothing_gets_one(tmp_path, env14, cat14):
    from gridoracle.actions import save_catalogue

    path = tmp_path / "c.json"
    save_catalogue(path, cat14[1:4], env_name=CASE14, grid=env14)
    source = load_action_source(path, env14)
    assert source.format == FORMAT
    assert source.actions == [cat14[0], *cat14[1:4]]


# -- the command -----------------------------------------------------------------------------------


def test_cli_writes_the_same_bytes_for_the_same_options(tmp_path, capsys, env14, cat14):
    args = ["actions", "--env", CASE14, "--kind", "all", "--busiest", "3"]
    args += ["--per-substation", "6", "--most-lines", "10", "--limit", "20", "--seed", "2"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    code, stdout, err = run([*args, "--out", str(a)], capsys)
    assert code == 0, err
    code, _, err = run([*args, "--out", str(b)], capsys)
    assert code == 0, err
    assert a.read_bytes() == b.read_bytes()
    got = load_catalogue(a, env14)
    assert got == select_actions(
        cat14, env14, busiest=3, per_substation=6, most_lines=10, limit=20, seed=2
    )
    counts = Counter(a.kind for a in got)
    assert stdout.strip() == (
        f"wrote 20 of 219 actions ({counts['donothing']} donothing, {counts['topology']} topology, "
        f"{counts['line_off']} line_off, {counts['line_on']} line_on) for {CASE14} to {a}"
    )
    assert json.loads(a.read_text())["extra"] == {
        "available": 219,
        "busiest": 3,
        "kind": "all",
        "limit": 20,
        "most_lines": 10,
        "per_substation": 6,
        "seed": 2,
        "substations": sorted(_g2op_busiest(env14, 3)),
    }
    code, _, _ = run([*args[:-1], "3", "--out", str(b)], capsys)
    assert code == 0 and a.read_bytes() != b.read_bytes()


def test_cli_substations(tmp_path, capsys, env14, cat14):
    out = tmp_path / "s.json"
    code, stdout, err = run(
        ["actions", "--env", CASE14, "--substations", "4,5,11", "--out", str(out)], capsys
    )
    assert code == 0, err
    got = load_catalogue(out, env14)
    expected = [
        a
        for a in cat14
        if a.kind == "donothing" or (a.kind == "topology" and _g2op_subs(env14, a) <= {4, 5, 11})
    ]
    assert got == expected
    assert f"wrote {len(expected)} of 179 actions" in stdout
    extra = json.loads(out.read_text())["extra"]
    assert extra["substations"] == [4, 5, 11] and "busiest" not in extra


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_from_each_oracle4grid_format(tmp_path, capsys, env14, fmt):
    path = EXAMPLES / f"{fmt}.json"
    out = tmp_path / "o.json"
    code, stdout, err = run(
        ["actions", "--env", CASE14, "--from", str(path), "--out", str(out)], capsys
    )
    assert code == 0, err
    got = load_catalogue(out, env14)
    assert got == load_action_source(path, env14).actions
    assert f"from {path}" in stdout
    extra = json.loads(out.read_text())["extra"]
    assert extra["from"]["format"] == fmt and extra["from"]["file"] == str(path)
    assert extra["kind"] == "all" and extra["available"] == len(got)
    # with the other filters: substation 5 -> its two topologies and the lines ending there
    code, _, err = run(
        ["actions", "--env", CASE14, "--from", str(path), "--substations", "5", "--out", str(out)],
        capsys,
    )
    assert code == 0, err
    space = env14.action_space
    picked = load_catalogue(out, env14)
    assert [a.name for a in picked if a.kind == "topology"] == ["sub-5-3", "sub-5-4"]
    for action in picked:
        if action.kind == "line_off":
            line = _line_of(action)
            assert 5 in (space.line_or_to_subid[line], space.line_ex_to_subid[line])
    n_lines = sum(a.kind == "line_off" for a in picked)
    assert n_lines == (1 if fmt != "parser1" else 0)  # line 17 ends at 5, line 4 does not
    # --kind topology drops the file's line actions
    code, _, err = run(
        ["actions", "--env", CASE14, "--from", str(path), "--kind", "topology", "--out", str(out)],
        capsys,
    )
    assert code == 0, err
    assert {a.kind for a in load_catalogue(out, env14)} == {"donothing", "topology"}


def test_cli_from_a_catalogue_file(tmp_path, capsys, env14):
    full, direct, chained = tmp_path / "full.json", tmp_path / "d.json", tmp_path / "c.json"
    base = ["actions", "--env", CASE14, "--kind", "all"]
    assert run([*base, "--out", str(full)], capsys)[0] == 0
    opts = ["--busiest", "2", "--most-lines", "7"]
    assert run([*base, *opts, "--out", str(direct)], capsys)[0] == 0
    code, _, err = run([*base, *opts, "--from", str(full), "--out", str(chained)], capsys)
    assert code == 0, err
    assert load_catalogue(chained, env14) == load_catalogue(direct, env14)
    extra = json.loads(chained.read_text())["extra"]
    assert extra["from"]["format"] == FORMAT


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--substations", "4,x"], ["--substations", "'x'"]),
        (["--substations", ""], ["--substations", "empty"]),
        (["--substations", "-1"], ["--substations", "'-1'"]),
        (["--substations", "2,14"], ["substation 14", "0 to 13"]),
        (["--busiest", "0"], ["--busiest", "at least 1"]),
        (["--busiest", "15"], ["--busiest", "14 substations"]),
        (["--busiest", "2", "--substations", "1"], ["--substations", "--busiest"]),
        (["--per-substation", "0"], ["--per-substation", "at least 1"]),
        (["--most-lines", "0"], ["--most-lines", "at least 1"]),
        (["--limit", "0"], ["--limit", "at least 1"]),
        (["--seed", "-2"], ["--seed"]),
        (["--kind", "lines"], ["--kind"]),
    ],
)
def test_cli_bad_options(tmp_path, capsys, extra, words):
    out = tmp_path / "a.json"
    code, _, err = run(["actions", "--env", CASE14, *extra, "--out", str(out)], capsys)
    _assert_one_line_error(code, err, *words)
    assert not out.exists()


def test_cli_non_integer_count_is_a_usage_error(tmp_path, capsys):
    # parsed by Click (Typer): its usage error, exit code 2, naming the option
    out = tmp_path / "a.json"
    code, _, err = run(["actions", "--env", CASE14, "--most-lines", "x", "--out", str(out)], capsys)
    assert code == 2 and "--most-lines" in err and "Traceback" not in err
    assert not out.exists()


def _bad_files(tmp: Path) -> list[tuple[Path, list[str]]]:
    cases = {
        "missing.json": (None, ["no such file"]),
        "notjson.json": ("{oops", ["not valid JSON", "line 1"]),
        "unknown.json": ('{"switch": {}}', ["unknown format"]),
        "number.json": ("3", ["unknown format"]),
        "badsub.json": ('{"sub": {"99": [{"lines_id_bus": [[0, 2]]}]}}', ["99"]),
        "othergrid.json": (
            json.dumps(
                {
                    "format": FORMAT,
                    "grid": {"n_sub": 5, "n_line": 8, "n_gen": 2, "n_load": 3},
                    "actions": [{"name": "donothing", "kind": "donothing", "grid2op": {}}],
                }
            ),
            ["another grid"],
        ),
    }
    out = []
    for name, (text, words) in cases.items():
        path = tmp / name
        if text is not None:
            path.write_text(text)
        out.append((path, words))
    folder = tmp / "folder.json"
    folder.mkdir()
    out.append((folder, ["folder"]))
    return out


def test_cli_bad_from_files(tmp_path, capsys, env14):
    out = tmp_path / "out.json"
    for path, words in _bad_files(tmp_path):
        code, _, err = run(
            ["actions", "--env", CASE14, "--from", str(path), "--out", str(out)], capsys
        )
        _assert_one_line_error(code, err, str(path), *words)
        with pytest.raises(ActionFileError):
            load_action_source(path, env14)
    assert not out.exists()


def test_help_documents_the_strategies(capsys):
    code, out, _ = run(["actions", "--help"], capsys)
    assert code == 0
    for option in ("--substations", "--busiest", "--per-substation", "--most-lines", "--from"):
        assert option in out


# -- the 118-bus grid ------------------------------------------------------------------------------


def test_busiest_20_on_the_118_bus_grid(tmp_path, capsys):
    out = tmp_path / "wcci.json"
    code, stdout, err = run(
        ["actions", "--env", WCCI, "--busiest", "20", "--out", str(out)], capsys
    )
    assert code == 0, err
    env = make_env(WCCI)
    try:
        space = env.action_space
        busiest = _g2op_busiest(env, 20)
        per_sub: dict[int, int] = {}
        for sub in busiest:
            (count,) = space.get_all_unitary_topologies_set(space, sub_id=sub, _count_only=True)
            per_sub[sub] = int(count)
        data = json.loads(out.read_text())
        names = [a["name"] for a in data["actions"]]
        got = Counter(int(n.split("-")[1]) for n in names[1:])
        assert names[0] == "donothing"
        assert got == {s: n for s, n in per_sub.items() if n}
        assert data["extra"]["substations"] == sorted(busiest)
        assert len(names) == 1 + sum(per_sub.values())
        assert f"wrote {len(names)} of " in stdout
    finally:
        env.close()
