"""Best path by dynamic programming, against Oracle4Grid's networkx graph and search."""

from __future__ import annotations

import doctest
import itertools
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from gridoracle.errors import InvalidOption, OutputError
from gridoracle.oracle import graph_export
from gridoracle.oracle.core import _small
from gridoracle.oracle.core import best_path as best_path_module
from gridoracle.oracle.core.best_path import (
    BestPath,
    best_path,
    best_path_no_overload,
    best_paths,
    best_unconstrained,
    choose_method,
    insertion_rank,
    path_reward,
    truncate_weights,
)
from gridoracle.oracle.core.transitions import TransitionRules, allowed_transitions, combined_name
from gridoracle.oracle.graph_export import (
    build_graph,
    export_graph,
    node_name,
    reference_best_path,
    split_node_name,
    without_overload,
)

KINDS = ("longest", "shortest")


def random_actions(rng: np.random.Generator, n_max: int) -> list[str]:
    """Names of combinations (depth <= 3) of random unitary actions over a few substations and
    lines, k numbered over the whole set as in an Oracle4Grid action file, do nothing last."""
    units: dict[tuple[str, int], list[int]] = {}
    k = 0
    for kind, n_assets, n_ids in (("sub", 3, 3), ("line", 2, 2)):
        for asset in rng.choice(20, size=int(rng.integers(0, n_assets + 1)), replace=False):
            units[(kind, int(asset))] = list(range(k, k + int(rng.integers(1, n_ids + 1))))
            k += len(units[(kind, int(asset))])
    depth = int(rng.integers(1, 4))
    combos = [
        combined_name(dict(zip(assets, ids, strict=True)))
        for d in range(1, depth + 1)
        for assets in itertools.combinations(units, d)
        for ids in itertools.product(*(units[a] for a in assets))
    ]
    if len(combos) > n_max - 1:
        keep = np.sort(rng.choice(len(combos), size=n_max - 1, replace=False))
        combos = [combos[i] for i in keep]
    return [*combos, "donothing-0"]


def random_case(seed: int, ties: bool = False) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Actions, rewards (T, N) and overload flags of a random episode; ``ties``: few distinct
    rewards, so that truncated weights tie often."""
    rng = np.random.default_rng(seed)
    names = random_actions(rng, n_max=30)
    n_steps = int(rng.integers(1, 41))
    shape = (n_steps, len(names))
    if ties:
        rewards = rng.integers(0, 3, shape) + rng.uniform(0.0, 0.05, shape)
    else:
        rewards = rng.uniform(0.0, 1.0, shape) * rng.uniform(0.5, 20.0)
    flags = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=shape, p=[0.05, 0.3, 0.65])
    return names, rewards, flags


def check_path(
    found: BestPath, rewards: np.ndarray, rules: TransitionRules, flags: np.ndarray | None
) -> None:
    """The path follows the rules, avoids dead nodes and has the value it claims."""
    path = found.path
    assert len(path) == rewards.shape[0]
    assert rules.from_init[path[0]]
    allowed = rules.dense()
    assert all(allowed[x, y] for x, y in itertools.pairwise(path))
    if flags is not None:
        assert all(flags[t, y] != 0 for t, y in enumerate(path))
    weights = truncate_weights(rewards, found.significant_digits)
    edge_weights = [weights[t, y] for t, y in enumerate(path)]
    assert found.edge_weights[:-1].tolist() == edge_weights
    assert found.reward == pytest.approx(path_reward(rewards, path), rel=1e-12)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_equals_networkx_on_random_tables(seed: int, ties: bool) -> None:
    names, rewards, flags = random_case(seed + 100 * ties, ties=ties)
    rules = allowed_transitions(names)
    for digits in (None, 1 if ties else 3):
        graph = build_graph(rewards, names, rules, overload=flags, significant_digits=digits)
        graph_no_overload = without_overload(graph)
        for kind, no_overload in itertools.product(KINDS, (False, True)):
            searched = graph_no_overload if no_overload else graph
            reference = reference_best_path(searched, kind, strict=True)
            oracle4grid = reference_best_path(searched, kind)
            overload = flags if no_overload else None
            found = best_path(
                rewards, rules, kind=kind, overload=overload, significant_digits=digits
            )
            by_index = best_path(
                rewards,
                rules,
                kind=kind,
                overload=overload,
                significant_digits=digits,
                ties="index",
            )
            case = (seed, ties, digits, kind, no_overload)
            if not reference.nodes:
                assert not found.found and not by_index.found, case
                assert np.isnan(found.value) and np.isnan(found.reward)
                assert found.blocked_at is not None
                assert oracle4grid.nodes == []
                continue
            assert reference.complete
            # same summation order as networkx: equal to the last bit, floats included
            assert found.value == reference.value == by_index.value, case
            # the very same path, ties included
            assert found.path == reference.indices(names), case
            check_path(found, rewards, rules, overload)
            check_path(by_index, rewards, rules, overload)
            # Oracle4Grid's dag_longest_path on the whole graph: the same here
            assert oracle4grid.nodes == reference.nodes, case


def test_unique_optimum_gives_identical_paths() -> None:
    rng = np.random.default_rng(7)
    names = random_actions(rng, n_max=25)
    rules = allowed_transitions(names)
    rewards = rng.permutation(40 * len(names)).reshape(40, len(names)) / 7.0  # all distinct
    graph = build_graph(rewards, names, rules)
    for kind in KINDS:
        reference = reference_best_path(graph, kind)
        paths = {
            tuple(best_path(rewards, rules, kind=kind, ties=ties, method=method).path)
            for ties in ("oracle4grid", "index")
            for method in ("dense", "sparse")
        }
        assert paths == {tuple(reference.indices(names))}


def test_hand_computed_paths() -> None:
    # sub-1-0_sub-2-1 acts on two substations: not reachable from the reference topology nor
    # from do nothing in one step
    names = ["sub-1-0", "sub-2-1", "sub-1-0_sub-2-1", "donothing-0"]
    rules = allowed_transitions(names)
    rewards = np.array([[1.0, 1.5, 9.0, 2.0], [1.0, 1.0, 5.0, 0.0], [1.0, 1.0, 5.0, 0.0]])
    found = best_path(rewards, rules)
    assert found.path == [1, 2, 2]
    assert found.reward == 11.5
    assert found.value == 11.5 + 0.1
    assert found.edge_weights.tolist() == [1.5, 5.0, 5.0, 0.1]
    assert found.names(names) == ["sub-2-1", "sub-1-0_sub-2-1", "sub-1-0_sub-2-1"]
    shortest = best_path(rewards, rules, kind="shortest")
    assert shortest.path == [0, 3, 3] and shortest.reward == 1.0
    flags = np.ones_like(rewards, dtype=np.int8)
    flags[1, 2] = 0  # overload of the two-substation action at t1
    no_overload = best_path_no_overload(rewards, rules, flags)
    assert no_overload.path == [3, 0, 2] and no_overload.reward == 8.0
    flags[1, 2] = -1  # an error is not an overload: the node stays (as in Oracle4Grid)
    assert best_path_no_overload(rewards, rules, flags).path == [1, 2, 2]


def test_truncated_weights_follow_oracle4grid() -> None:
    names = ["donothing-0", "sub-1-0"]
    rules = allowed_transitions(names)
    rewards = np.array([[1.001, 1.009], [1.0, 1.0]])
    assert best_path(rewards, rules).path[0] == 1  # float weights: 1.009 wins
    truncated = best_path(rewards, rules, significant_digits=2)  # 100 and 100 tie: index 0
    assert truncated.path == [0, 0]
    assert truncated.value == 100 + 100 + 10
    graph = build_graph(rewards, names, rules, significant_digits=2)
    assert reference_best_path(graph).indices(names) == [0, 0]
    assert all(isinstance(w, int) for _, _, w in graph.edges(data="weight"))
    assert truncate_weights([0.129, -0.129, np.nan], 2)[:2].tolist() == [12.0, -12.0]
    assert truncate_weights(0.1, 0) == 0.0
    # sd = 0 truncates the end weight to 0
    assert best_path(rewards, rules, significant_digits=0).edge_weights[-1] == 0.0


def test_no_path_cases() -> None:
    names = ["donothing-0", "sub-1-0", "sub-1-0_sub-2-1"]
    rules = allowed_transitions(names)
    rewards = np.ones((4, 3))
    flags = np.ones((4, 3), dtype=np.int8)
    flags[0, :2] = 0  # only the unreachable action is free at t0
    found = best_path(rewards, rules, overload=flags)
    assert found.path == [] and not found.found and found.blocked_at == 0
    assert np.isnan(found.value) and np.isnan(found.reward) and len(found.edge_weights) == 0
    flags[0] = 1
    flags[2] = 0  # every action overloaded at t2
    found = best_path(rewards, rules, overload=flags)
    assert found.path == [] and found.blocked_at == 2
    graph = without_overload(build_graph(rewards, names, rules, overload=flags))
    assert reference_best_path(graph).nodes == []
    assert reference_best_path(graph, "shortest").nodes == []
    # NaN rewards are missing nodes, as the edges Oracle4Grid drops
    rewards[1] = np.nan
    assert best_path(rewards, rules).blocked_at == 1
    empty = best_path(np.zeros((3, 0)), TransitionRules(np.zeros((0, 0), bool), np.zeros(0, bool)))
    assert not empty.found


def test_dag_longest_path_may_leave_init() -> None:
    # Oracle4Grid runs dag_longest_path on the whole graph: when an action unreachable from the
    # reference topology is worth more than a timestep, its path starts at that action's t0
    # node, which the rules forbid. The dynamic programming keeps to init -> end paths.
    names = ["donothing-0", "sub-1-0_sub-2-1"]
    rules = allowed_transitions(names)
    rewards = np.array([[1.0, 0.0], [1.0, 10.0]])
    graph = build_graph(rewards, names, rules)
    oracle4grid = reference_best_path(graph)
    assert oracle4grid.nodes == ["sub-1-0_sub-2-1_t0", "sub-1-0_sub-2-1_t1", "end"]
    assert not oracle4grid.complete
    strict = reference_best_path(graph, strict=True)
    found = best_path(rewards, rules)
    assert found.path == strict.indices(names) == [0, 0]
    assert found.value == strict.value == pytest.approx(2.1)


def test_sparse_equals_dense_on_larger_case() -> None:
    rng = np.random.default_rng(11)
    units = {("sub", s): [3 * s, 3 * s + 1, 3 * s + 2] for s in range(5)}
    units |= {("line", line): [15 + line] for line in range(3)}
    names = [
        combined_name(dict(zip(assets, ids, strict=True)))
        for depth in (1, 2, 3)
        for assets in itertools.combinations(units, depth)
        for ids in itertools.product(*(units[a] for a in assets))
    ]
    names = [names[i] for i in np.sort(rng.choice(len(names), 299, replace=False))]
    names.append("donothing-0")
    rewards = 15.0 + rng.integers(0, 4, size=(40, 300)) / 4.0  # many ties
    flags = (rng.uniform(size=rewards.shape) > 0.2).astype(np.int8)
    dense_rules = allowed_transitions(names)
    sparse_rules = allowed_transitions(names, sparse=True)
    assert choose_method(dense_rules) == "sparse"  # about 6 % of the transitions allowed
    for kind, overload, ties, digits in itertools.product(
        KINDS, (None, flags), ("oracle4grid", "index"), (None, 2)
    ):
        results = [
            best_path(
                rewards,
                rules,
                kind=kind,
                overload=overload,
                ties=ties,
                method=method,
                significant_digits=digits,
            )
            for rules in (dense_rules, sparse_rules)
            for method in ("dense", "sparse")
        ]
        assert results[0].found
        for other in results[1:]:
            assert other.path == results[0].path
            assert other.value == results[0].value


def test_insertion_rank_is_the_graph_node_order() -> None:
    names, rewards, _ = random_case(5)
    rewards = rewards[:3] if len(rewards) >= 3 else np.vstack([rewards] * 3)[:3]
    rules = allowed_transitions(names)
    graph = build_graph(rewards, names, rules)
    layer_1 = [split_node_name(n)[0] for n in graph.nodes if n.endswith("_t1")]
    rank = insertion_rank(rules)
    assert [names[i] for i in np.argsort(rank)] == layer_1
    # a copy lists predecessors in node order: the order dag_longest_path sees
    copy = graph.copy()
    target = node_name(names[-1], 2)
    assert [split_node_name(n)[0] for n in copy.pred[target]] == [
        names[i] for i in np.argsort(rank) if rules.dense()[i, len(names) - 1]
    ]


def test_best_unconstrained_and_path_reward() -> None:
    table = np.array([[1.0, 3.0, 2.0], [5.0, 4.0, np.nan], [np.nan, np.nan, np.nan]])
    assert best_unconstrained(table) == 8.0
    assert best_unconstrained(table, "shortest") == 5.0
    assert path_reward(table[:2], [1, 0]) == 8.0
    assert np.isnan(path_reward(table, []))
    with pytest.raises(ValueError):
        path_reward(table, [0])


def test_bad_arguments() -> None:
    rules = allowed_transitions(["donothing-0", "sub-1-0"])
    rewards = np.ones((3, 2))
    with pytest.raises(InvalidOption, match="best_path_type 'widest'"):
        best_path(rewards, rules, kind="widest")
    with pytest.raises(InvalidOption, match="reward_significant_digit"):
        best_path(rewards, rules, significant_digits=-1)
    with pytest.raises(InvalidOption, match="2\\*\\*53"):
        best_path(rewards * 1e6, rules, significant_digits=12)
    with pytest.raises(ValueError, match="rules are for 2 actions"):
        best_path(np.ones((3, 3)), rules)
    with pytest.raises(ValueError, match="overload"):
        best_path(rewards, rules, overload=np.ones((2, 2)))
    with pytest.raises(ValueError):
        best_path(np.ones((0, 2)), rules)
    with pytest.raises(ValueError):
        best_path(rewards, rules, method="magic")
    with pytest.raises(ValueError):
        best_path(rewards, rules, ties="random")


def test_export_graph(tmp_path: Path) -> None:
    names, rewards, flags = random_case(2)
    rules = allowed_transitions(names)
    graph = build_graph(rewards, names, rules, overload=flags, significant_digits=4)
    written = export_graph(graph, tmp_path / "out")
    assert [p.name for p in written] == ["graph.graphml", "edge_list.csv"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in written)
    read = nx.read_graphml(written[0])
    assert read.number_of_nodes() == graph.number_of_nodes()
    assert read.number_of_edges() == graph.number_of_edges()
    u, v, w = next(iter(graph.edges(data="weight")))
    assert read.edges[u, v]["weight"] == w
    node = node_name(names[0], 0)
    assert read.nodes[node]["overload_reward"] == flags[0, 0]
    lines = written[1].read_text().splitlines()
    assert lines[0] == "source;target;weight"
    assert len(lines) == 1 + graph.number_of_edges()
    n_steps = rewards.shape[0]
    assert graph.number_of_edges() == (
        int(rules.from_init.sum()) + (n_steps - 1) * rules.n_transitions + len(names)
    )
    with pytest.raises(OutputError, match="cannot write"):
        export_graph(graph, written[1])  # a file, not a folder


def test_doctests() -> None:
    for module in (best_path_module, graph_export):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0


def assert_same_path(found: BestPath, expected: BestPath, case: object) -> None:
    """The same result to the last bit (NaN values of a missing path included)."""
    assert found.path == expected.path, case
    assert found.blocked_at == expected.blocked_at, case
    assert (found.kind, found.significant_digits) == (expected.kind, expected.significant_digits)
    for got, want in ((found.value, expected.value), (found.reward, expected.reward)):
        assert got == want or (np.isnan(got) and np.isnan(want)), case
    assert found.edge_weights.tolist() == expected.edge_weights.tolist(), case


def stress_case(seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A random episode of up to 64 actions: many ties, repeated columns, NaN or dead nodes."""
    rng = np.random.default_rng(1000 + seed)
    names = random_actions(rng, n_max=64)
    shape = (int(rng.integers(1, 50)), len(names))
    rewards = rng.integers(0, 3, shape) + (rng.uniform(0.0, 0.05, shape) if seed % 2 else 0.0)
    if seed % 3 == 0:
        rewards[:, ::2] = rewards[:, :1]  # equal runs: equal path values
    if seed % 5 == 0:
        rewards[rng.uniform(size=shape) < 0.05] = np.nan
    p_overload = 0.6 if seed % 4 == 0 else 0.3
    flags = rng.choice(
        np.array([-1, 0, 1], dtype=np.int8), size=shape, p=[0.05, p_overload, 0.95 - p_overload]
    )
    return names, rewards, flags


def test_small_kernel_equals_step_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # the kernel for few actions (forced up to 64 actions, in chunks of a few timesteps), for
    # one search or both at once, gives what the loop over timesteps gives, bit for bit
    def kernel(on: bool) -> None:
        monkeypatch.setattr(best_path_module, "_SMALL_MAX_ACTIONS", 64 if on else 0)
        monkeypatch.setattr(best_path_module, "_SMALL_MAX_ACTIONS_QUEUE", 64 if on else 0)

    outcomes = {"compared": 0, "no path": 0, "queue order": 0}
    for seed in range(40):
        names, rewards, flags = stress_case(seed)
        rules = allowed_transitions(names, max_sub=1 + seed % 2, max_line=seed % 3 // 2)
        monkeypatch.setattr(_small, "_CHUNK_ELEMENTS", 64 * (1 + seed % 3))
        for kind, ties, digits in itertools.product(KINDS, ("oracle4grid", "index"), (None, 1)):
            options = {"kind": kind, "ties": ties, "significant_digits": digits, "method": "dense"}
            kernel(False)
            loop = [
                best_path(rewards, rules, **options),
                best_path(rewards, rules, overload=flags, **options),
            ]
            kernel(True)
            one_by_one = [
                best_path(rewards, rules, **options),
                best_path_no_overload(rewards, rules, flags, **options),
            ]
            together = best_paths(rewards, rules, flags, **options)
            for expected, found, again in zip(loop, one_by_one, together, strict=True):
                assert_same_path(found, expected, (seed, options))
                assert_same_path(again, expected, (seed, options))
                outcomes["compared"] += 1
                outcomes["no path"] += not expected.found
            if kind == "shortest" and ties == "oracle4grid":
                by_index = best_path(rewards, rules, **options | {"ties": "index"})
                outcomes["queue order"] += loop[0].found and by_index.path != loop[0].path
    # the cases where the queue order decides a tie, and those without a path, were met
    assert outcomes["no path"] > 10 and outcomes["queue order"] > 5, outcomes


def test_shortest_path_last_tie_follows_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0 -> {0, 2} and 1 -> {1, 2}: Bellman-Ford's queue at t1 is [0, 2, 1], so between the
    # equally short ends at 1 and 2 it keeps 2, not the least index
    names = ["sub-1-0", "sub-2-0", "sub-1-0_sub-2-0"]
    rules = allowed_transitions(names)
    rewards = np.array([[1.0, 1.0, 9.0], [5.0, 1.0, 1.0]])
    reference = reference_best_path(build_graph(rewards, names, rules), "shortest")
    assert reference.indices(names) == [0, 2]
    for limit in (0, 64):  # the loop over timesteps, the kernel
        monkeypatch.setattr(best_path_module, "_SMALL_MAX_ACTIONS_QUEUE", limit)
        assert best_path(rewards, rules, kind="shortest").path == [0, 2]
        assert best_path(rewards, rules, kind="shortest", ties="index").path == [1, 1]


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_best_paths_equals_the_two_calls(seed: int, ties: bool) -> None:
    names, rewards, flags = random_case(seed + 100 * ties, ties=ties)
    rules = allowed_transitions(names)
    for kind, tie_rule, digits, method in itertools.product(
        KINDS, ("oracle4grid", "index"), (None, 2), ("auto", "sparse")
    ):
        options = {"kind": kind, "ties": tie_rule, "significant_digits": digits, "method": method}
        best, best_no_overload = best_paths(rewards, rules, flags, **options)
        case = (seed, ties, options)
        assert_same_path(best, best_path(rewards, rules, **options), case)
        assert_same_path(
            best_no_overload, best_path_no_overload(rewards, rules, flags, **options), case
        )


def test_best_paths_on_many_actions_and_bad_arguments() -> None:
    names, rewards, flags = stress_case(22)
    rules = allowed_transitions(names)
    assert len(names) == 46  # the loop over timesteps for the longest path
    best, best_no_overload = best_paths(rewards, rules, flags)
    assert best.found and best_no_overload.found
    assert_same_path(best, best_path(rewards, rules), "best")
    assert_same_path(best_no_overload, best_path_no_overload(rewards, rules, flags), "no overload")
    with pytest.raises(ValueError, match="overload has shape"):
        best_paths(rewards, rules, flags[:-1])
    with pytest.raises(InvalidOption, match="2\\*\\*53"):
        best_paths(rewards * 1e9, rules, flags, significant_digits=9)


def test_insertion_rank_dense_equals_sparse() -> None:
    rng = np.random.default_rng(3)
    for n in [0, 1, 2, *rng.integers(3, 60, size=40)]:
        allowed = rng.uniform(size=(n, n)) < rng.uniform()
        if n % 2:
            np.fill_diagonal(allowed, True)
        dense = TransitionRules(allowed, np.ones(n, dtype=bool))
        sparse = TransitionRules(sp.csr_array(allowed), np.ones(n, dtype=bool))
        rank = insertion_rank(dense)
        assert rank.dtype == np.int64
        assert rank.tolist() == insertion_rank(sparse).tolist(), n
