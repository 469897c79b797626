"""The fast paths of generate against the slow ones they replace, in the same test run.

- the batched engine's threads: every number (max rho, rho, status, cascades) bit for bit the
  same with 1 and 3 threads, on chronic states, topology variants and outages (cascades
  included) and for kept actions;
- its union-find islanding check against scipy's connected components, on every topology the
  catalogue and line cuts reach;
- the chunk writer's column-wise Arrow conversion against ``pa.Table.from_pandas``: the same
  Parquet bytes, NaN, strings and every dtype of the states and targets chunks included;
- ``solver_threads``: one thread in a worker process.
"""

from __future__ import annotations

import io
import multiprocessing

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from gridoracle.actions.enumerate import enumerate_actions, sample_actions
from gridoracle.dataset.chunks import PARQUET_OPTIONS, arrow_table, arrow_table_pandas
from gridoracle.dataset.sources import build_states
from gridoracle.dataset.units import solver_threads
from gridoracle.engine import batched
from gridoracle.engine.base import STATUS_OK
from gridoracle.engine.batched import BatchedEngine


@pytest.fixture(scope="module")
def setting(env_case14):
    engine = BatchedEngine(env_case14)
    actions = sample_actions(enumerate_actions(env_case14, "topology"), 40, seed=0)
    source = build_states(
        env_case14,
        engine,
        source="chronic",
        chronic=0,
        max_steps=60,
        seed=0,
        horizon=0,
        actions=actions,
        topologies=1,
        outages=1,
    )
    return engine, actions, source


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.max_rho, b.max_rho)  # NaN where not ok, on both
    np.testing.assert_array_equal(a.rho, b.rho)
    assert a.n_cascade == b.n_cascade


@pytest.mark.parametrize("kept", [False, True])
def test_threads_give_the_same_numbers(setting, kept, monkeypatch):
    engine, actions, source = setting
    pools = []

    class Pool(batched.ThreadPoolExecutor):
        def __init__(self, workers: int) -> None:
            pools.append(workers)
            super().__init__(workers)

    monkeypatch.setattr(batched, "ThreadPoolExecutor", Pool)
    engine.threads = 1
    serial = engine.evaluate(source.batch, actions, full=True, kept=kept)
    assert pools == []
    engine.threads = 3
    try:
        threaded = engine.evaluate(source.batch, actions, full=True, kept=kept)
        assert pools == [3]  # the threaded path ran
        few = source.batch.select(np.arange(batched.MIN_THREADED_STATES - 1))
        engine.evaluate(few, actions)
        assert pools == [3]  # too few states: no pool
    finally:
        engine.threads = 1
    _same(serial, threaded)
    # the states exercise every path: ok, game over and cascades
    assert (serial.status == STATUS_OK).any() and (serial.status != STATUS_OK).any()
    assert serial.n_cascade > 0


def test_threads_must_be_positive(env_case14):
    with pytest.raises(ValueError, match="threads 0"):
        BatchedEngine(env_case14, threads=0)


def test_union_find_islanding_equals_scipy(setting):
    engine, actions, source = setting
    batch = source.batch
    rng = np.random.default_rng(0)
    seen = islanded = 0
    for row in range(0, len(batch), 7):
        for action in actions:
            topo = engine.resulting_topology(
                action, batch.topo_vect[row], batch.prev_topo[row], batch.line_status[row]
            )
            variants = [topo]
            for k in (1, 2, 3):  # and with k more lines cut, as cascades do
                cut = topo.copy()
                lines = rng.choice(engine.n_line, size=k, replace=False)
                cut[engine.line_or_pos[lines]] = -1
                cut[engine.line_ex_pos[lines]] = -1
                variants.append(cut)
            for t in variants:
                fast = engine._compute_islanded(t)
                assert fast == _islanded_by_scipy(engine, t), t
                seen += 1
                islanded += fast
    assert seen > 1000 and 0 < islanded < seen


def _islanded_by_scipy(engine: BatchedEngine, topo: np.ndarray) -> bool:
    """The reference: scipy's connected components of the same bus graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if (topo[engine.load_pos] <= 0).any() or (topo[engine.gen_pos] <= 0).any():
        return True
    src, dst, buses = engine._element_buses(topo)
    n_bus = engine.n_sub * engine.n_busbar
    graph = coo_matrix((np.ones(src.size), (src, dst)), shape=(n_bus, n_bus))
    _, label = connected_components(graph, directed=False)
    return bool(np.unique(label[buses]).size > 1)


def _parquet_bytes(table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **PARQUET_OPTIONS)
    return buffer.getvalue()


def test_column_wise_arrow_equals_from_pandas(setting):
    _engine, _actions, source = setting
    states = source.frame.copy()
    states["chronic"] = np.zeros(len(states), dtype=np.int32)
    for name in source.meta.columns:  # strings (object) and int32
        states[name] = source.meta[name].to_numpy()
    states.loc[2, "rho_0"] = np.nan
    targets = pd.DataFrame(
        {
            "a": np.array([0.5, np.nan, 1.25]),
            "status::a": np.array([0, 1, 2], dtype=np.int8),
            "rho::a::0": np.array([0.1, np.nan, 0.2], dtype=np.float32),
        }
    )
    empty = states.iloc[:0]
    for frame in (states, targets, empty):
        fast, ref = arrow_table(frame), arrow_table_pandas(frame)
        assert fast.schema == ref.schema
        assert fast.equals(ref)
        assert _parquet_bytes(fast) == _parquet_bytes(ref)
    assert arrow_table(states).column("rho_0").null_count == 1  # NaN is null, as in pandas'


def _threads_in_worker(_: int) -> int:
    return solver_threads()


def test_solver_threads_is_one_in_a_worker():
    assert solver_threads() >= 1
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map(_threads_in_worker, [0]) == [1]
