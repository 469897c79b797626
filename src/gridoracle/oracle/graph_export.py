"""Oracle4Grid's networkx graph: the reference the dynamic programming is tested against, and
the ``--export-graph`` files (GraphML and ``edge_list.csv``).

:func:`build_graph` builds the graph exactly as Oracle4Grid's ``build_transition_graph`` does,
edge for edge and in the same insertion order (which decides networkx's ties):

1. ``init -> X_t0`` for each action X reachable from the reference topology, weight w(0, X);
2. for each action Y, for t = 1 .. T-1, for each X with X -> Y allowed, in action order:
   ``X_t(t-1) -> Y_tt``, weight w(t, Y);
3. ``X_t(T-1) -> end`` for each action X, weight 0.1.

Edges with a NaN weight are dropped; with ``significant_digits=d`` every weight becomes
``int64(w * 10**d)``; nodes get the ``overload_reward`` attribute (the overload flag). Node names
are ``<action name>_t<k>``, ``init`` and ``end``. :func:`without_overload` removes the nodes
flagged 0 and :func:`reference_best_path` runs Oracle4Grid's search on it.

The graph has about T x (allowed transitions) edges: build it for tests and for a user who asks
for the files, never to compute the path.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike

from gridoracle.errors import OutputError
from gridoracle.io import atomic_path
from gridoracle.oracle.core.best_path import END_NODE_REWARD, LONGEST, check_kind
from gridoracle.oracle.core.transitions import PartsLike, TransitionRules, allowed_transitions
from gridoracle.oracle.core.universes import UniverseTable, node_label

if TYPE_CHECKING:
    import pandas as pd

INIT_NODE = "init"
END_NODE = "end"
#: node attribute holding the overload flag (Oracle4Grid's name)
OVERLOAD_ATTRIBUTE = "overload_reward"
GRAPHML_FILE = "graph.graphml"
EDGE_LIST_FILE = "edge_list.csv"


def node_name(name: str, t: int) -> str:
    """Oracle4Grid's node name of action ``name`` at timestep ``t``.

    Examples
    --------
    >>> node_name("sub-1-0_line-4-3", 5)
    'sub-1-0_line-4-3_t5'
    """
    return f"{name}_t{t}"


def split_node_name(node: str) -> tuple[str, int]:
    """``(action name, timestep)`` of a node name (inverse of :func:`node_name`).

    Examples
    --------
    >>> split_node_name("sub-1-0_line-4-3_t12")
    ('sub-1-0_line-4-3', 12)
    """
    name, _, t = node.rpartition("_t")
    return name, int(t)


def _weights(values: np.ndarray, significant_digits: int | None) -> list[float] | list[int]:
    # Oracle4Grid: edge_df.weight = (edge_df.weight * 10**d).astype('int64'), after dropna
    if significant_digits is None:
        return [float(v) for v in values]
    return [int(v) for v in (values * 10 ** int(significant_digits)).astype(np.int64)]


def build_graph(
    rewards: ArrayLike,
    names: Sequence[str],
    rules: TransitionRules | Sequence[PartsLike],
    *,
    overload: ArrayLike | None = None,
    significant_digits: int | None = None,
    end_weight: float = END_NODE_REWARD,
) -> nx.DiGraph:
    """Oracle4Grid's transition graph over (action, timestep).

    Parameters
    ----------
    rewards : array-like of float, shape (T, N)
        The reward table.
    names : sequence of str
        The N action names (the node name prefixes).
    rules : TransitionRules or sequence of actions
        The allowed transitions, or the actions to build them from with Oracle4Grid's rules
        (one substation and one line per step).
    overload : array-like of int, shape (T, N), optional
        Overload flags, stored on the nodes as ``overload_reward``.
    significant_digits : int, optional
        Truncate the weights to ``int64(w * 10**d)``.
    end_weight : float, default 0.1
        Weight of the edges into ``end``.

    Returns
    -------
    networkx.DiGraph
        Edge attribute ``weight`` (int or float), node attribute ``overload_reward``.

    Examples
    --------
    >>> graph = build_graph([[1.0, 2.0]], ["donothing-0", "sub-1-0"], ["donothing-0", "sub-1-0"])
    >>> sorted(graph.edges(data="weight"))
    [('donothing-0_t0', 'end', 0.1), ('init', 'donothing-0_t0', 1.0), ('init', 'sub-1-0_t0', 2.0), ('sub-1-0_t0', 'end', 0.1)]
    """  # noqa: E501
    table = np.asarray(rewards, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != len(names):
        raise ValueError(f"rewards has shape {table.shape}, expected (T, {len(names)})")
    if not isinstance(rules, TransitionRules):
        rules = allowed_transitions(rules)
    n_steps, n_actions = table.shape
    allowed = rules.dense()
    from_init = np.asarray(rules.from_init, dtype=bool)

    sources: list[str] = []
    targets: list[str] = []
    raw: list[float] = []
    for y in np.flatnonzero(from_init).tolist():
        sources.append(INIT_NODE)
        targets.append(node_name(names[y], 0))
        raw.append(table[0, y])
    for y in range(n_actions):
        predecessors = np.flatnonzero(allowed[:, y]).tolist()
        for t in range(1, n_steps):
            target = node_name(names[y], t)
            for x in predecessors:
                sources.append(node_name(names[x], t - 1))
                targets.append(target)
                raw.append(table[t, y])
    for x in range(n_actions):
        sources.append(node_name(names[x], n_steps - 1))
        targets.append(END_NODE)
        raw.append(end_weight)

    values = np.asarray(raw, dtype=np.float64)
    keep = ~np.isnan(values)
    weights = _weights(values[keep], significant_digits)
    graph = nx.DiGraph()
    graph.add_edges_from(
        (u, v, {"weight": w})
        for u, v, w in zip(
            (s for s, k in zip(sources, keep, strict=True) if k),
            (s for s, k in zip(targets, keep, strict=True) if k),
            weights,
            strict=True,
        )
    )
    if overload is not None:
        flags = np.asarray(overload)
        if flags.shape != table.shape:
            raise ValueError(f"overload has shape {flags.shape}, rewards {table.shape}")
        for t in range(n_steps):
            for y in range(n_actions):
                node = node_name(names[y], t)
                if node in graph:
                    graph.nodes[node][OVERLOAD_ATTRIBUTE] = int(flags[t, y])
    return graph


def without_overload(graph: nx.DiGraph) -> nx.DiGraph:
    """A copy of the graph without the nodes whose ``overload_reward`` is 0.

    As Oracle4Grid's ``best_path_no_overload``: ``init``, ``end``, and nodes flagged 1 or -1
    (error) or without the attribute stay.
    """
    out = graph.copy()
    out.remove_nodes_from(
        [
            node
            for node, flag in graph.nodes(data=OVERLOAD_ATTRIBUTE)
            if node not in (INIT_NODE, END_NODE) and flag is not None and flag == 0
        ]
    )
    return out


@dataclass(frozen=True)
class ReferencePath:
    """A path found by networkx on the graph.

    Attributes
    ----------
    nodes : list of str
        The path as networkx returned it, ``init`` and ``end`` included when on it.
    value : float
        Sum of the weights along ``nodes`` (networkx's ``path_weight``); NaN when no path.
    """

    nodes: list[str]
    value: float

    @property
    def action_nodes(self) -> list[str]:
        """The nodes without ``init`` and ``end`` (Oracle4Grid's raw path)."""
        return [node for node in self.nodes if node not in (INIT_NODE, END_NODE)]

    @property
    def complete(self) -> bool:
        """Whether the path runs from ``init`` to ``end``."""
        return bool(self.nodes) and self.nodes[0] == INIT_NODE and self.nodes[-1] == END_NODE

    def indices(self, names: Sequence[str]) -> list[int]:
        """The action index of each node of the path (``init`` and ``end`` left out)."""
        position = {name: i for i, name in enumerate(names)}
        return [position[split_node_name(node)[0]] for node in self.action_nodes]


def reference_best_path(
    graph: nx.DiGraph, kind: str = LONGEST, *, strict: bool = False
) -> ReferencePath:
    """Oracle4Grid's best path search with networkx.

    Parameters
    ----------
    graph : networkx.DiGraph
        A graph from :func:`build_graph` (or :func:`without_overload`).
    kind : {"longest", "shortest"}
        ``longest``: ``nx.dag_longest_path(graph)``; ``shortest``:
        ``nx.bellman_ford_path(graph, "init", "end")``; both only when ``nx.has_path`` from
        ``init`` to ``end``, else no path, as in Oracle4Grid's ``compute_trajectory.best_path``.
    strict : bool, default False
        For ``longest``, search only the nodes on some ``init -> end`` path. Oracle4Grid runs
        ``dag_longest_path`` on the whole graph, which may return a path starting at an action
        not reachable from the reference topology (a source at t0, or after removed nodes) or
        ending at a dead end, when that is longer; ``strict=True`` gives the ``init -> end``
        optimum that :func:`gridoracle.oracle.core.best_path.best_path` computes.

    Returns
    -------
    ReferencePath
    """
    check_kind(kind)
    if (
        INIT_NODE not in graph
        or END_NODE not in graph
        or not nx.has_path(graph, INIT_NODE, END_NODE)
    ):
        return ReferencePath([], float("nan"))
    if kind == LONGEST:
        searched = graph
        if strict:
            on_paths = ({INIT_NODE} | nx.descendants(graph, INIT_NODE)) & (
                {END_NODE} | nx.ancestors(graph, END_NODE)
            )
            searched = graph.subgraph(on_paths)
        nodes = nx.dag_longest_path(searched, weight="weight")
    else:
        nodes = nx.bellman_ford_path(graph, INIT_NODE, END_NODE, weight="weight")
    return ReferencePath(list(nodes), float(nx.path_weight(graph, nodes, weight="weight")))


def export_graph(
    graph: nx.DiGraph, folder: str | os.PathLike[str], *, sep: str = ";"
) -> list[Path]:
    """Write the graph as ``graph.graphml`` and ``edge_list.csv`` into a folder, atomically.

    Parameters
    ----------
    graph : networkx.DiGraph
        A graph from :func:`build_graph`.
    folder : path
        Output folder (created if missing).
    sep : str, default ";"
        Separator of ``edge_list.csv`` (columns ``source``, ``target``, ``weight``), ``;`` as
        Oracle4Grid writes it.

    Returns
    -------
    list of Path
        The two files written.

    Raises
    ------
    OutputError
        If the folder or a file cannot be written.
    """
    out = Path(folder)
    graphml, edge_list = out / GRAPHML_FILE, out / EDGE_LIST_FILE
    try:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(graphml) as tmp:
            nx.write_graphml(graph, tmp)
        with atomic_path(edge_list) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, delimiter=sep)
            writer.writerow(["source", "target", "weight"])
            writer.writerows(graph.edges(data="weight"))
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the graph export ({exc.strerror or exc})") from exc
    return [graphml, edge_list]


# --------------------------------------------------------------------------------------------
# opponents: main and multiverse nodes (see gridoracle.oracle.core.universes)


def split_universe_node(node: str) -> tuple[str, int, float]:
    """``(action name, timestep, attack id)`` of a node name, NaN when it has no ``_atk`` part.

    Examples
    --------
    >>> split_universe_node("sub-1-0_t96_atk3.0")
    ('sub-1-0', 96, 3.0)
    >>> split_universe_node("donothing-0_t4")
    ('donothing-0', 4, nan)
    """
    head, _, attack = node.partition("_atk")
    name, t = split_node_name(head)
    return name, t, float(attack) if attack else float("nan")


def _universe_runs(table: UniverseTable, played: Sequence[int] | None) -> list[tuple[Any, ...]]:
    """Every run as (action, first timestep, rewards, flags, labels, label before the first)."""
    n_steps, n_actions = table.rewards.shape
    steps = [n_steps] * n_actions if played is None else [int(p) for p in played]
    runs: list[tuple[Any, ...]] = []
    for y in range(n_actions):
        s = steps[y]
        labels = table.attack_id[:s, y]
        runs.append((y, 0, table.rewards[:s, y], table.overload[:s, y], labels, float("nan")))
    for w, window in enumerate(table.windows):
        for k, a in enumerate(window.attacks):
            for y in range(n_actions):
                if window.native[k, y]:
                    continue
                values = table.multi_rewards[w][k, :, y]
                s = int(np.argmax(np.isnan(values))) if np.isnan(values).any() else len(values)
                if s == 0:
                    continue
                flags = table.multi_overload[w][k, :s, y]
                runs.append((y, window.begin + 1, values[:s], flags, np.full(s, a), a))
    return runs


def build_universe_graph(
    table: UniverseTable,
    names: Sequence[str],
    rules: TransitionRules,
    *,
    played: Sequence[int] | None = None,
    significant_digits: int | None = None,
    end_weight: float = END_NODE_REWARD,
) -> nx.DiGraph:
    """The graph of main and multiverse nodes as Oracle4Grid means it (networkx reference).

    Built run by run, independently of the dynamic programming: for each row ``(y, t)`` of a run
    (main, or multiverse of an attack), an edge from ``(x, t-1, label)`` for each x with x -> y
    allowed, ``label`` being the attack of the same run at t-1 (for a multiverse run's first row,
    its attack), when that node exists, and for a main row right after a window, from every node
    of x at t-1 (any universe); ``init`` to the main nodes at t0 reachable from the reference;
    every node at the last timestep to ``end``. See
    :mod:`gridoracle.oracle.core.universes` for where this differs from Oracle4Grid's
    construction (:func:`build_oracle4grid_attack_graph`).
    """
    allowed = rules.dense()
    n_steps = table.n_steps
    runs = _universe_runs(table, played)
    exists: set[str] = set()
    for y, first, values, _flags, labels, _before in runs:
        for j in range(len(values)):
            exists.add(node_label(names[y], first + j, labels[j]))
    sources: list[str] = []
    targets: list[str] = []
    raw: list[float] = []
    # the timesteps right after a window: their main nodes follow any node of the window's end
    ends = {w.end + 1 for w in table.windows} - {
        t for w in table.windows for t in range(w.begin, w.end + 1)
    }
    at: dict[tuple[int, int], list[str]] = {}
    for node in sorted(exists):
        name, t, _ = split_universe_node(node)
        at.setdefault((t, names.index(name)), []).append(node)
    for y, first, values, _flags, labels, before in runs:
        predecessors = np.flatnonzero(allowed[:, y]).tolist()
        if first == 0 and rules.from_init[y] and len(values):
            sources.append(INIT_NODE)
            targets.append(node_label(names[y], 0, labels[0]))
            raw.append(values[0])
        for j in range(len(values)):
            t = first + j
            if t == 0:
                continue
            previous = labels[j - 1] if j > 0 else before
            target = node_label(names[y], t, labels[j])
            if first == 0 and t in ends:  # leaving a window: from every universe
                for x in predecessors:
                    for source in at.get((t - 1, x), []):
                        sources.append(source)
                        targets.append(target)
                        raw.append(values[j])
                continue
            for x in predecessors:
                source = node_label(names[x], t - 1, previous)
                if source in exists:
                    sources.append(source)
                    targets.append(target)
                    raw.append(values[j])
    for node in sorted(exists):
        if split_universe_node(node)[1] == n_steps - 1:
            sources.append(node)
            targets.append(END_NODE)
            raw.append(end_weight)
    graph = _graph_of(sources, targets, raw, significant_digits)
    for y, first, values, flags, labels, _before in runs:
        for j in range(len(values)):
            node = node_label(names[y], first + j, labels[j])
            if node in graph:
                graph.nodes[node][OVERLOAD_ATTRIBUTE] = int(flags[j])
    return graph


def _graph_of(
    sources: Sequence[str],
    targets: Sequence[str],
    raw: Sequence[float],
    significant_digits: int | None,
) -> nx.DiGraph:
    values = np.asarray(raw, dtype=np.float64)
    keep = ~np.isnan(values)
    weights = _weights(values[keep], significant_digits)
    kept = np.flatnonzero(keep).tolist()
    graph = nx.DiGraph()
    graph.add_edges_from(
        (sources[i], targets[i], {"weight": w}) for i, w in zip(kept, weights, strict=True)
    )
    return graph


def build_oracle4grid_attack_graph(
    frame: pd.DataFrame,
    names: Sequence[str],
    rules: TransitionRules,
    n_steps: int,
    *,
    significant_digits: int | None = None,
    end_weight: float = END_NODE_REWARD,
) -> nx.DiGraph:
    """Oracle4Grid's ``build_transition_graph`` with attacks, line for line (its artifacts too).

    ``frame`` is the reward table in Oracle4Grid's row order
    (:func:`gridoracle.oracle.core.universes.universe_frame`). Each row at t > 0 links the
    predecessors of its action at t-1, named with the attack of the *previous row of the frame*
    (``prevAtk``, not updated on rows at t0); ``init`` links the unattacked names ``<name>_t0``
    and ``end`` the unattacked names ``<name>_t<T-1>``; attack nodes that are only sources
    (``to_dump``) are removed; rows with a NaN weight are dropped. Kept to show and test where
    :func:`build_universe_graph` differs.
    """
    allowed = rules.dense()
    position = {name: i for i, name in enumerate(names)}
    sources: list[str] = []
    targets: list[str] = []
    raw: list[float] = []
    main0 = frame[(frame["timestep"] == 0) & (~frame["multiverse"].astype(bool))]
    reward0 = dict(zip(main0["name"], main0["reward"], strict=True))
    for y in np.flatnonzero(rules.from_init).tolist():
        sources.append(INIT_NODE)
        targets.append(f"{names[y]}_t0")
        raw.append(float(reward0.get(names[y], float("nan"))))
    previous = float("nan")
    for name, attack, t, reward in zip(
        frame["name"], frame["attack_id"], frame["timestep"], frame["reward"], strict=True
    ):
        if t == 0:
            continue
        y = position[name]
        for x in np.flatnonzero(allowed[:, y]).tolist():
            targets.append(node_label(name, int(t), float(attack)))
            sources.append(node_label(names[x], int(t) - 1, previous))
            raw.append(float(reward))
        previous = float(attack)
    to_dump = {s for s in sources if "_atk" in s} - {t for t in targets if "_atk" in t}
    for name in names:
        sources.append(f"{name}_t{n_steps - 1}")
        targets.append(END_NODE)
        raw.append(end_weight)
    graph = _graph_of(sources, targets, raw, significant_digits)
    flags = dict(zip(frame["node_name"], frame["overload_reward"], strict=True))
    for node in graph.nodes:
        if node in flags:
            graph.nodes[node][OVERLOAD_ATTRIBUTE] = int(flags[node])
    graph.remove_nodes_from(to_dump)
    return graph


def reference_universe_path(
    graph: nx.DiGraph, kind: str = LONGEST
) -> tuple[list[tuple[str, int, float]], float]:
    """networkx's best ``init -> end`` path on a universe graph: its nodes as
    ``(action name, timestep, attack id)`` and its weight (NaN, ``[]`` when none)."""
    found = reference_best_path(graph, kind, strict=True)
    return [split_universe_node(node) for node in found.action_nodes], found.value
