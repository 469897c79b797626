"""Opponents (Oracle4Grid's multiverse): main runs, windows, re-simulations, paths, pipeline.

The grid2op side is checked against grid2op itself: the main runs against a Runner with
``env_seeds=[seed]`` (the attacks equal, rewards within 1e-4), every multiverse run against
Oracle4Grid's way (a fresh ``FromNPY`` environment started at row begin+1 and a Runner), the
best path through the universes against networkx on the graph built run by run.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from gridoracle.grid import make_env
from gridoracle.oracle.core.best_path import best_path
from gridoracle.oracle.core.transitions import allowed_transitions
from gridoracle.oracle.core.universes import (
    UniverseTable,
    attack_windows,
    best_universe_path,
    drawn_value,
    robust_path,
    robust_values,
    universe_frame,
)
from gridoracle.oracle.graph_export import (
    build_oracle4grid_attack_graph,
    build_universe_graph,
    reference_universe_path,
    without_overload,
)

ENV = "rte_case14_opponent"
ACTIONS = Path(__file__).resolve().parent.parent / "examples/actions/rte_case14_opponent"
# an opponent that attacks from the first step, 4 steps, every 12: windows at 0-3 and 11-14
OPPONENT = {
    "opponent_attack_cooldown": 12,
    "opponent_attack_duration": 4,
    "opponent_init_budget": 20.0,
    "opponent_budget_per_ts": 0.5,
}
MAX_ITER = 16
TOL = 1e-4


def _make(**extra: Any) -> Any:
    from gridoracle.oracle.sim.agents import OracleL2RPNReward, OracleOverloadReward
    from gridoracle.oracle.sim.env import simulation_parameters

    return make_env(
        ENV,
        param=simulation_parameters(),
        reward_class=OracleL2RPNReward,
        other_rewards={"overload_reward": OracleOverloadReward},
        **OPPONENT,
        **extra,
    )


@pytest.fixture(scope="module")
def opp_env() -> Iterator[Any]:
    env = _make()
    yield env
    env.close()


@pytest.fixture(scope="module")
def actions(opp_env: Any) -> list[Any]:
    from gridoracle.actions.combine import combinations
    from gridoracle.actions.oracle_input import load_oracle_actions

    unitary, _, _ = load_oracle_actions(ACTIONS / "reference.json", opp_env)
    return list(combinations(unitary, 1))


@pytest.fixture(scope="module")
def episode(opp_env: Any, actions: list[Any]) -> tuple[Any, UniverseTable]:
    from gridoracle.oracle.sim.multiverse import main_runs, resimulate

    runs = main_runs(opp_env, actions, 0, MAX_ITER, 0)
    return runs, resimulate(opp_env, actions, runs, 0, 0)


def _runner(env: Any, action: dict[str, Any], seed: int) -> Any:
    from grid2op.Runner import Runner

    from gridoracle.oracle.sim.agents import OneChangeThenOnlyReconnect

    agent = OneChangeThenOnlyReconnect(env.action_space, dict(action))
    runner = Runner(**env.get_params_for_runner(), agentClass=None, agentInstance=agent)
    res = runner.run(
        nb_episode=1, max_iter=MAX_ITER, env_seeds=[seed], episode_id=[0], add_detailed_output=True
    )
    return res[0][-1]


def test_opponent_is_detected(opp_env: Any, env_case14: Any) -> None:
    from gridoracle.oracle.sim.env import has_opponent
    from gridoracle.oracle.sim.multiverse import opponent_settings

    assert has_opponent(opp_env)
    assert not has_opponent(env_case14)
    settings = opponent_settings(opp_env)
    assert settings["attack_duration"] == 4 and settings["class"] == "RandomLineOpponent"


def test_main_runs_see_the_attacks_of_a_runner_with_the_same_seed(
    opp_env: Any, actions: list[Any], episode: tuple[Any, UniverseTable]
) -> None:
    """--seed N gives the attacks of grid2op's Runner with env_seeds=[N] (Oracle4Grid's
    env_seed N), and the same rewards."""
    from grid2op.Rules import AlwaysLegal

    from gridoracle.oracle.sim.multiverse import attack_lines

    runs, _ = episode
    names = [a.name for a in actions]
    reference_env = _make(gamerules_class=AlwaysLegal)
    try:
        for name in ("donothing-0", "line-4-3"):
            j = names.index(name)
            data = _runner(reference_env, actions[j].grid2op, 0)
            rewards = np.asarray(data.rewards[:MAX_ITER], dtype=np.float64)
            np.testing.assert_allclose(runs.table.rewards[:, j], rewards, atol=TOL, rtol=0)
            seen = [attack_lines(data.attacks[t]) for t in range(MAX_ITER)]
            ids = [float(a[0]) if a else float("nan") for a in seen]
            np.testing.assert_array_equal(runs.attack_id[:, j], ids)
    finally:
        reference_env.close()
    # the opponent's draws differ between actions: line 4 out changes what it may attack
    windows = attack_windows(runs.attack_id)
    assert [(w.begin, w.end) for w in windows] == [(0, 3), (11, 14)]
    assert len(windows[1].attacks) == 2


def test_the_seed_decides_the_attacks(opp_env: Any, actions: list[Any]) -> None:
    from gridoracle.oracle.sim.multiverse import main_runs

    first = main_runs(opp_env, actions[-1:], 0, MAX_ITER, 0)
    again = main_runs(opp_env, actions[-1:], 0, MAX_ITER, 0)
    other = main_runs(opp_env, actions[-1:], 0, MAX_ITER, 1)
    np.testing.assert_array_equal(first.attack_id, again.attack_id)
    np.testing.assert_array_equal(first.table.rewards, again.table.rewards)
    assert not np.array_equal(first.attack_id, other.attack_id, equal_nan=True)


def test_every_multiverse_run_equals_oracle4grids_fresh_environment(
    opp_env: Any, actions: list[Any], episode: tuple[Any, UniverseTable]
) -> None:
    """One Runner on a fresh FromNPY environment at row begin+1 per (window, attack, action)."""
    from gridoracle.oracle.sim.multiverse import reference_universe_run

    runs, table = episode
    opp_env.reset(seed=0, options={"time serie id": 0})  # the chronic whose rows are copied
    checked = 0
    for w, window in enumerate(table.windows):
        for k, attack in enumerate(window.attacks):
            for y, action in enumerate(actions):
                if window.native[k, y]:
                    assert np.isnan(table.multi_rewards[w][k, :, y]).all()
                    continue
                expected = reference_universe_run(
                    opp_env, action.grid2op, runs.attacks[attack], window.begin, window.end, 0
                )
                assert len(expected) == window.end - window.begin
                got = table.multi_rewards[w][k, : len(expected), y]
                np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
                checked += 1
    assert checked == 5  # line-4-3 under the subs' attack, the four others under its own


def test_a_native_action_replayed_in_its_own_universe_is_its_main_run(
    opp_env: Any, actions: list[Any], episode: tuple[Any, UniverseTable]
) -> None:
    """The multiverse semantics: action + its own attack from row begin+1 = its main rows."""
    from gridoracle.oracle.sim.multiverse import make_universe_env, universe_run

    runs, table = episode
    window = table.windows[1]
    y = [a.name for a in actions].index("donothing-0")
    k = int(np.flatnonzero(window.native[:, y])[0])
    opp_env.reset(seed=0, options={"time serie id": 0})
    env = make_universe_env(opp_env)
    try:
        lines = runs.attacks[window.attacks[k]]
        got, _ = universe_run(env, actions[y].grid2op, lines, window, 0, 0)
    finally:
        env.close()
    main = runs.table.rewards[window.begin + 1 : window.end + 1, y]
    np.testing.assert_allclose(got, main, atol=TOL, rtol=0)


def test_best_path_through_universes_equals_networkx(
    actions: list[Any], episode: tuple[Any, UniverseTable]
) -> None:
    _, table = episode
    names = [a.name for a in actions]
    rules = allowed_transitions(names)
    for without in (False, True):
        found = best_universe_path(table, rules, without_overload=without, significant_digits=5)
        graph = build_universe_graph(table, names, rules, significant_digits=5)
        if without:
            graph = without_overload(graph)
        nodes, value = reference_universe_path(graph)
        if not found.found:
            assert nodes == [] and without  # every node of some timestep overloads
            continue
        assert found.value == value
        assert [(n, t) for n, t, _ in nodes] == [(names[y], t) for t, y in enumerate(found.path)]
        np.testing.assert_array_equal([a for _, _, a in nodes], found.attacks)
    # a path through a multiverse node exists in this table: the search uses them
    assert any(table.multi_rewards[1][~np.isnan(table.multi_rewards[1])])


def _random_table(rng: np.random.Generator, n: int) -> UniverseTable:
    n_steps = int(rng.integers(3, 9))
    rewards = rng.random((n_steps, n))
    ids = np.full((n_steps, n), np.nan)
    begin = int(rng.integers(0, n_steps - 1))
    end = int(rng.integers(begin, n_steps))
    ids[begin : end + 1] = rng.choice([3.0, 4.0, 14.0], size=n)[None, :]
    windows = attack_windows(ids)
    blocks, flags = [], []
    for w in windows:
        block = rng.random((len(w.attacks), w.n_steps - 1, n))
        block[np.broadcast_to(w.native[:, None, :], block.shape)] = np.nan
        blocks.append(block)
        flags.append(rng.choice([0.0, 1.0], size=block.shape, p=[0.2, 0.8]))
    overload = rng.choice([0.0, 1.0], size=rewards.shape, p=[0.2, 0.8])
    return UniverseTable(rewards, overload, ids, windows, blocks, flags)


NAMES = ["sub-1-0", "sub-1-1", "sub-2-0", "line-4-3", "donothing-0"]


@pytest.mark.parametrize("seed", range(4))
def test_random_tables_best_path_equals_networkx(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rules = allowed_transitions(NAMES)
    for _ in range(25):
        table = _random_table(rng, len(NAMES))
        for without in (False, True):
            found = best_universe_path(table, rules, without_overload=without)
            graph = build_universe_graph(table, NAMES, rules)
            if without:
                graph = without_overload(graph)
            nodes, value = reference_universe_path(graph)
            if not nodes:
                assert not found.found
                continue
            assert found.value == pytest.approx(value, abs=1e-12)
            assert [NAMES.index(n) for n, _, _ in nodes] == found.path


def test_without_windows_the_universe_path_is_the_best_path() -> None:
    rng = np.random.default_rng(7)
    rules = allowed_transitions(NAMES)
    rewards = rng.random((30, len(NAMES)))
    table = UniverseTable.without_universes(rewards, np.ones_like(rewards))
    assert table.windows == []
    found = best_universe_path(table, rules, significant_digits=5)
    reference = best_path(rewards, rules, significant_digits=5)
    assert found.path == reference.path and found.value == reference.value


def test_oracle4grids_previous_row_edges_are_not_built() -> None:
    """Oracle4Grid links a multiverse run's first row to the previous DataFrame row's universe
    (another attack's) and creates unattacked phantom sources; the graph here does neither, and
    leaves a window from any universe."""
    nan = float("nan")
    ids = np.full((6, 3), nan)
    ids[2:5] = [3.0, 3.0, 4.0]  # window 2-4: attack 3 on actions 0 and 1, attack 4 on action 2
    rng = np.random.default_rng(0)
    windows = attack_windows(ids)
    block = rng.random((2, 2, 3))
    block[0, :, :2] = nan  # natives are not re-simulated
    block[1, :, 2] = nan
    table = UniverseTable(
        rng.random((6, 3)), np.ones((6, 3)), ids, windows, [block], [np.ones_like(block)]
    )
    names = ["sub-1-0", "sub-1-1", "donothing-0"]
    rules = allowed_transitions(names)
    ours = build_universe_graph(table, names, rules)
    theirs = build_oracle4grid_attack_graph(universe_frame(table, names), names, rules, 6)
    # the first multiverse row of attack 4 follows the last row of attack 3's group
    cross = ("sub-1-1_t2_atk3.0", "sub-1-0_t3_atk4.0")
    assert theirs.has_edge(*cross) and not ours.has_edge(*cross)
    # leaving the window at t5: from every universe here, only from its own attack's there
    leave = ("sub-1-0_t4_atk3.0", "donothing-0_t5")
    assert ours.has_edge(*leave) and not theirs.has_edge(*leave)
    assert ours.has_edge("sub-1-0_t4_atk4.0", "donothing-0_t5")
    # every edge of ours into a universe node comes from the same universe
    for u, v in ours.edges:
        if "_atk" in u and "_atk" in v:
            assert u.split("_atk")[1] == v.split("_atk")[1]
    sources = [n for n in ours if ours.in_degree(n) == 0]
    assert sources == ["init"]
    assert [n for n in theirs if theirs.in_degree(n) == 0 and n != "init"]  # phantoms
    # and the search agrees with networkx on ours
    found = best_universe_path(table, rules)
    nodes, value = reference_universe_path(ours)
    assert found.value == pytest.approx(value) and [names.index(n) for n, _, _ in nodes] == (
        found.path
    )


def test_robust_paths_are_the_best_by_brute_force() -> None:
    rng = np.random.default_rng(3)
    rules = allowed_transitions(NAMES)
    allowed = rules.dense()
    for _ in range(12):
        table = _random_table(rng, len(NAMES))
        if table.n_steps > 5:
            continue
        best = {"worst": -np.inf, "expected": -np.inf}
        for seq in itertools.product(range(len(NAMES)), repeat=table.n_steps):
            if not rules.from_init[seq[0]]:
                continue
            if not all(allowed[a, b] for a, b in itertools.pairwise(seq)):
                continue
            worst, expected = robust_values(table, seq)
            best["worst"] = max(best["worst"], worst)
            best["expected"] = max(best["expected"], expected)
        for criterion in ("worst", "expected"):
            found = robust_path(table, rules, criterion)
            assert found.value == pytest.approx(best[criterion], abs=1e-12)
            worst, expected = robust_values(table, found.path)
            assert found.value == (worst if criterion == "worst" else expected)


def test_robust_values_order(episode: tuple[Any, UniverseTable], actions: list[Any]) -> None:
    """worst case <= expected for any path; the robust paths are the best of each."""
    _, table = episode
    rules = allowed_transitions([a.name for a in actions])
    best = best_universe_path(table, rules)
    worst_path = robust_path(table, rules, "worst")
    expected_path = robust_path(table, rules, "expected")
    for found in (best, worst_path, expected_path):
        worst, expected = robust_values(table, found.path)
        assert worst <= expected + 1e-9
    assert robust_values(table, worst_path.path)[0] >= robust_values(table, best.path)[0] - 1e-9
    assert expected_path.value >= robust_values(table, best.path)[1] - 1e-9
    assert best.reward >= expected_path.value - 1e-9  # the best path picks its universe
    # the best path's universe is the one its action at begin met: its value as drawn
    assert drawn_value(table, best.path) == pytest.approx(best.reward, rel=1e-12)
    assert drawn_value(table, worst_path.path) >= worst_path.value - 1e-9


def test_cli_end_to_end_with_an_opponent(tmp_path: Path) -> None:
    """gridoracle oracle on rte_case14_opponent: its first window (95-99) within 100 steps."""
    from gridoracle.cli import app

    args = [
        "oracle",
        "--env",
        ENV,
        "--chronic",
        "0",
        "--actions",
        str(ACTIONS / "reference.json"),
        "--max-iter",
        "100",
        "--seed",
        "0",
        "--quiet",
    ]
    outputs = []
    for run, workers in (("a", "1"), ("b", "2")):  # serial, then two local processes
        options = ["--out", str(tmp_path / run), "--nb-process", workers]
        result = CliRunner().invoke(app, [*args, *options])
        assert result.exit_code == 0, result.output
        assert "robust path (worst case)" in result.output
        outputs.append(tmp_path / run / ENV / "scenario_0" / "reference")
    folder = outputs[0]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["seed"] == 0
    opponent = summary["opponent"]
    assert [(w["begin"], w["end"]) for w in opponent["windows"]] == [(95, 99)]
    assert opponent["n_multiverse_runs"] > 0
    paths = opponent["paths"]
    assert paths["robust_path_worst_case"]["worst_case"] >= paths["best_path"]["worst_case"] - 1e-9
    frame = (folder / "reward_df.csv").read_text().splitlines()
    assert frame[0] == "name,timestep,reward,overload_reward,attacks,attack_id,node_name,multiverse"
    assert any("_t96_atk" in row and row.endswith(",True") for row in frame)
    # the KPIs' definitions with an opponent, from reward_df.csv itself
    import pandas as pd

    table = pd.read_csv(folder / "reward_df.csv")
    kpis = dict(pd.read_csv(folder / "kpis.csv").itertuples(index=False))
    assert (folder / "universes.png").read_bytes()[:4] == b"\x89PNG"
    main = table[~table["multiverse"]]
    donothing = main.loc[main["name"] == "donothing-0", "reward"].sum()
    assert kpis["Do Nothing in ref topo"] == pytest.approx(donothing, rel=1e-12)
    best_each_step = table.groupby("timestep")["reward"].max().sum()
    assert kpis["Best path without transition constraint"] == pytest.approx(best_each_step)
    best = json.loads((folder / "best_path.json").read_text())
    by_node = dict(zip(table["node_name"], table["reward"], strict=True))
    node_sum = sum(by_node[step["node"]] for step in best["steps"])
    assert kpis["Best possible path with game rules"] == pytest.approx(node_sum, rel=1e-12)
    assert kpis["Robust path: best worst case over the attacks seen"] == pytest.approx(
        paths["robust_path_worst_case"]["worst_case"]
    )
    # same config and seed, serial or in two processes: byte-identical tables
    names = ("reward_df.csv", "kpis.csv", "best_path.json", "robust_path_worst_case.json")
    for name in names:
        assert (outputs[0] / name).read_bytes() == (outputs[1] / name).read_bytes()
    # the runs are kept in .cache: with some of them lost (as after an interruption), the same
    # command plays only those again and writes the same files
    kept = sorted((folder / ".cache").glob("opponent-*/*.npz"))
    mains = [p for p in kept if p.name.startswith("main-")]
    assert len(mains) == summary["n_simulated"] and len(kept) > len(mains)
    for path in kept[::2]:
        path.unlink()
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    resumed = json.loads((folder / "summary.json").read_text())
    assert resumed["n_reused"] == len([p for p in kept[1::2] if p.name.startswith("main-")])
    assert sorted((folder / ".cache").glob("opponent-*/*.npz")) == kept
    for name in names:
        assert (folder / name).read_bytes() == (outputs[1] / name).read_bytes()


def test_replay_leaves_the_attacked_line_out(tmp_path: Path) -> None:
    """Under real rules an attacked line cannot be reconnected: a path's action that sets the
    bus of its end is played without that setting (as in the multiverse runs), not refused."""
    import pandas as pd

    from gridoracle.oracle.sim.env import replay_parameters
    from gridoracle.oracle.sim.replay import replay

    env = _make()
    env.change_parameters(replay_parameters())
    try:
        # window 11-14 of seed 0 attacks line 15 (3_6_15) for the substation actions
        move = {"set_bus": {"lines_or_id": [[15, 1], [6, 2]], "lines_ex_id": [[5, 2]]}}
        path = [{}] * 12 + [move]
        replay(env, path, 0.0, 0, seed=0, rel_tolerance=1e9, logs=tmp_path)
    finally:
        env.close()
    played = pd.read_csv(tmp_path / "steps.csv")["played"].tolist()
    assert "3_4_6" in played[12] and "3_6_15" not in played[12]


def test_replay_sees_the_attacks_of_the_main_runs(
    tmp_path: Path, actions: list[Any], episode: tuple[Any, UniverseTable]
) -> None:
    """The replay runs under real rules with the opponent and the same seed: doing nothing, it
    meets the attacks of do nothing's main run (grid2op's episode log records them) as long as
    it survives."""
    from grid2op.Episode import EpisodeData

    from gridoracle.oracle.sim.env import replay_parameters
    from gridoracle.oracle.sim.multiverse import attack_lines
    from gridoracle.oracle.sim.replay import EPISODE_FOLDER, replay

    runs, _ = episode
    y = [a.name for a in actions].index("donothing-0")
    env = _make()
    env.change_parameters(replay_parameters())
    try:
        result = replay(env, [{}] * MAX_ITER, 0.0, 0, seed=0, rel_tolerance=1e9, logs=tmp_path)
        name = env.chronics_handler.get_name()
    finally:
        env.close()
    # the second attack (line 15, from t11) overloads lines until the protections end it
    survived = result.steps_survived
    assert survived > 11
    data = EpisodeData.from_disk(str(tmp_path / EPISODE_FOLDER), name)
    seen = [attack_lines(data.attacks[t]) for t in range(survived)]
    ids = [float(a[0]) if a else float("nan") for a in seen]
    np.testing.assert_array_equal(ids, runs.attack_id[:survived, y])
    # before it, the same rewards as the main run (no line above its limit yet)
    np.testing.assert_allclose(result.rewards[:11], runs.table.rewards[:11, y], atol=TOL, rtol=0)


@pytest.mark.slow
def test_neurips_track1_weighted_opponent_matches_grid2op() -> None:
    """l2rpn_neurips_2020_track1 (36 substations, WeightedRandomOpponent: its draws depend on the
    line loadings), seed 3: sub-16-0 meets line 9 at t91 where do nothing meets line 13. The
    main runs see the Runner's attacks, and the multiverse runs equal Oracle4Grid's."""
    from grid2op.Rules import AlwaysLegal
    from grid2op.Runner import Runner

    from gridoracle.actions.combine import combinations
    from gridoracle.actions.oracle_input import load_oracle_actions
    from gridoracle.oracle.sim.agents import (
        OneChangeThenOnlyReconnect,
        OracleL2RPNReward,
        OracleOverloadReward,
    )
    from gridoracle.oracle.sim.env import make_oracle_env, simulation_parameters
    from gridoracle.oracle.sim.multiverse import (
        attack_lines,
        main_runs,
        reference_universe_run,
        resimulate,
    )

    folder = ACTIONS.parent / "l2rpn_neurips_2020_track1"
    env = make_oracle_env("l2rpn_neurips_2020_track1")
    reference_env = make_env(
        "l2rpn_neurips_2020_track1",
        param=simulation_parameters(),
        reward_class=OracleL2RPNReward,
        other_rewards={"overload_reward": OracleOverloadReward},
        gamerules_class=AlwaysLegal,
    )
    try:
        unitary, _, _ = load_oracle_actions(folder / "reference.json", env)
        chosen = [a for a in combinations(unitary, 1) if a.name in ("sub-16-0", "donothing-0")]
        n_steps = 100
        runs = main_runs(env, chosen, 0, n_steps, 3)
        for j, action in enumerate(chosen):
            agent = OneChangeThenOnlyReconnect(reference_env.action_space, dict(action.grid2op))
            runner = Runner(
                **reference_env.get_params_for_runner(), agentClass=None, agentInstance=agent
            )
            *_, data = runner.run(
                nb_episode=1,
                max_iter=n_steps,
                env_seeds=[3],
                episode_id=[0],
                add_detailed_output=True,
            )[0]
            ids = [
                float(a[0]) if a else float("nan")
                for a in (attack_lines(data.attacks[t]) for t in range(n_steps))
            ]
            np.testing.assert_array_equal(runs.attack_id[:, j], ids)
            np.testing.assert_allclose(
                runs.table.rewards[:, j], np.asarray(data.rewards[:n_steps]), atol=TOL, rtol=0
            )
        table = resimulate(env, chosen, runs, 0, 3)
        (window,) = table.windows
        assert (window.begin, window.attacks) == (91, (9.0, 13.0))
        env.reset(seed=3, options={"time serie id": 0})
        for k, attack in enumerate(window.attacks):
            y = int(np.flatnonzero(~window.native[k])[0])
            expected = reference_universe_run(
                env, chosen[y].grid2op, runs.attacks[attack], window.begin, window.end, 3
            )
            got = table.multi_rewards[0][k, : len(expected), y]
            np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
    finally:
        env.close()
        reference_env.close()


def test_without_artifacts_both_constructions_are_the_same_graph() -> None:
    """One attack per window (every action hit by it), t0 and the last timestep unattacked:
    Oracle4Grid's previous-row construction has nothing to get wrong, and gives this graph."""
    rng = np.random.default_rng(5)
    n_steps, names = 9, NAMES
    ids = np.full((n_steps, len(names)), np.nan)
    ids[2:5] = 3.0
    ids[6:8] = 14.0
    table = UniverseTable.without_universes(
        rng.random((n_steps, len(names))), np.ones((n_steps, len(names))), ids
    )
    rules = allowed_transitions(names)
    ours = build_universe_graph(table, names, rules, significant_digits=5)
    theirs = build_oracle4grid_attack_graph(
        universe_frame(table, names), names, rules, n_steps, significant_digits=5
    )
    assert sorted(ours.edges(data="weight")) == sorted(theirs.edges(data="weight"))
    found = best_universe_path(table, rules, significant_digits=5)
    nodes, value = reference_universe_path(theirs)
    assert found.value == value and [names.index(n) for n, _, _ in nodes] == found.path


def test_doctests() -> None:
    import doctest

    from gridoracle.oracle.core import universes
    from gridoracle.oracle.sim import chunk_cache

    for module in (universes, chunk_cache):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0


def test_an_attack_on_line_0_makes_a_window() -> None:
    """Oracle4Grid sums the attack ids per timestep and misses this one (its sum is 0)."""
    ids = np.full((4, 2), np.nan)
    ids[1:3] = 0.0
    assert [(w.begin, w.end, w.attacks) for w in attack_windows(ids)] == [(1, 2, (0.0,))]


class _Stop:
    """A Progress that raises KeyboardInterrupt once ``after`` runs of ``label`` are done."""

    def __init__(self, label: str, after: int) -> None:
        self.label, self.after = label, after

    def stage(self, text: str) -> None:
        pass

    def advance(self, done: int, total: int, label: str = "") -> None:
        if label == self.label and done >= self.after:
            raise KeyboardInterrupt


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[Any]:
    """Count the runs actually played by ``multiverse.<name>`` (the units it is given)."""
    from gridoracle.oracle.sim import multiverse

    calls: list[Any] = []
    real = getattr(multiverse, name)

    def counted(unit: Any) -> Any:
        calls.append(unit)
        return real(unit)

    monkeypatch.setattr(multiverse, name, counted)
    return calls


def _same_runs(a: Any, b: Any) -> None:
    np.testing.assert_array_equal(a.table.rewards, b.table.rewards)
    np.testing.assert_array_equal(a.table.overload, b.table.overload)
    np.testing.assert_array_equal(a.table.played, b.table.played)
    np.testing.assert_array_equal(a.attack_id, b.attack_id)
    assert a.attacks == b.attacks and a.attack_text == b.attack_text
    assert a.table.stopped == b.table.stopped


def _same_universes(a: UniverseTable, b: UniverseTable) -> None:
    assert [(w.begin, w.end, w.attacks) for w in a.windows] == [
        (w.begin, w.end, w.attacks) for w in b.windows
    ]
    for x, y in zip(a.multi_rewards, b.multi_rewards, strict=True):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a.multi_overload, b.multi_overload, strict=True):
        np.testing.assert_array_equal(x, y)


def test_interrupted_opponent_runs_resume_from_the_cache(
    opp_env: Any,
    actions: list[Any],
    episode: tuple[Any, UniverseTable],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Main and multiverse runs killed part way resume from .cache: the finished runs are read,
    not played again, and the result equals the uninterrupted one exactly."""
    from gridoracle.oracle.sim.multiverse import MAIN_LABEL, MULTIVERSE_LABEL, main_runs, resimulate
    from gridoracle.parallel import Backend

    runs, table = episode
    cache = tmp_path / ".cache"
    n = len(actions)
    with pytest.raises(KeyboardInterrupt):
        main_runs(opp_env, actions, 0, MAX_ITER, 0, _Stop(MAIN_LABEL, 2), cache=cache)
    files = sorted(cache.rglob("main-*.npz"))
    assert len(files) == 2 and not list(cache.rglob("*.tmp"))
    played = _counting(monkeypatch, "run_main_unit")
    resumed = main_runs(opp_env, actions, 0, MAX_ITER, 0, cache=cache)
    assert len(played) == n - 2 and resumed.table.reused == 2
    _same_runs(resumed, runs)
    # the multiverse: 5 runs, interrupted after 3
    with pytest.raises(KeyboardInterrupt):
        resimulate(opp_env, actions, resumed, 0, 0, _Stop(MULTIVERSE_LABEL, 3), cache=cache)
    assert len(list(cache.rglob("universe-*.npz"))) == 3
    simulated = _counting(monkeypatch, "run_universe_unit")
    universes = resimulate(opp_env, actions, resumed, 0, 0, cache=cache)
    assert len(simulated) == 2
    _same_universes(universes, table)
    # everything cached: nothing is played, no backend is needed (this address answers nothing)
    nowhere = {"cache": cache, "backend": Backend.from_options(scheduler="tcp://127.0.0.1:9")}
    again = main_runs(opp_env, actions, 0, MAX_ITER, 0, **nowhere)
    assert len(played) == n - 2 and again.table.reused == n
    _same_runs(again, runs)
    _same_universes(resimulate(opp_env, actions, again, 0, 0, **nowhere), table)
    assert len(simulated) == 2
    # a truncated file, a file of another run, garbage: run again (with a warning), never trusted
    universe_files = sorted(cache.rglob("universe-*.npz"))
    files[0].write_bytes(files[0].read_bytes()[:-40])
    # another run's intact file (the names are hashes, so which one sorts where varies)
    another = next(p for p in sorted(cache.rglob("main-*.npz")) if p not in files)
    files[1].write_bytes(another.read_bytes())
    universe_files[0].write_bytes(b"not a zip")
    with caplog.at_level("WARNING"):
        repaired = main_runs(opp_env, actions, 0, MAX_ITER, 0, cache=cache)
        _same_universes(resimulate(opp_env, actions, repaired, 0, 0, cache=cache), table)
    for path in (files[0], files[1], universe_files[0]):
        assert str(path) in caplog.text
    assert "written for another run" in caplog.text
    assert len(played) == n and repaired.table.reused == n - 2 and len(simulated) == 3
    _same_runs(repaired, runs)
    # another seed, another folder: nothing is reused
    other = main_runs(opp_env, actions[:1], 0, MAX_ITER, 1, cache=cache)
    assert other.table.reused == 0 and len(list(cache.glob("opponent-*"))) == 2
