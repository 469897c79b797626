"""The Oracle's reward table on Dask and from its chunk cache: identical to the serial table.

A Dask worker makes its own environment and engine and replays the reconnect-only run itself, so
these tests check that nothing the parent process did before changes a number (exact equality).
"""

from __future__ import annotations

import json
import os
import signal
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from gridoracle.engine.batched import BatchedEngine
from gridoracle.oracle.sim.env import make_oracle_env
from gridoracle.oracle.sim.rewards import reward_table
from gridoracle.parallel import Backend

distributed = pytest.importorskip("distributed")

ENV = "rte_case14_realistic"
STEPS = 20


@pytest.fixture(scope="module")
def oracle_env():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_oracle_env(ENV)
    engine = BatchedEngine(env)
    yield env, engine
    env.close()


def _actions(env):
    space = env.action_space
    topo = space.get_all_unitary_topologies_set(space)
    acts = [SimpleNamespace(name="donothing-0", grid2op={})]
    acts += [
        SimpleNamespace(name=f"t{k}", grid2op=topo[k].as_serializable_dict())
        for k in (3, 20, 41, 60, 80, 100)
    ]
    acts.append(SimpleNamespace(name="line-0", grid2op={"set_line_status": [[0, -1]]}))
    acts.append(SimpleNamespace(name="combo", grid2op=(topo[20] + topo[60]).as_serializable_dict()))
    return acts


class _OnAdvance:
    """A Progress that calls ``advance(done, total)`` after each chunk of the reward table."""

    def __init__(self, advance) -> None:
        self._advance = advance

    def stage(self, text: str) -> None:
        pass

    def advance(self, done: int, total: int, label: str = "") -> None:
        self._advance(done, total)


def _same(a, b) -> None:
    assert a.names == b.names
    np.testing.assert_array_equal(a.rewards, b.rewards)
    np.testing.assert_array_equal(a.overload, b.overload)
    np.testing.assert_array_equal(a.played, b.played)


def test_dask_table_is_identical_and_survives_a_killed_worker(oracle_env):
    env, engine = oracle_env
    actions = _actions(env)
    serial = reward_table(env, engine, actions, chronic=0, max_iter=STEPS, seed=0, chunk=1)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    pid = next(iter(client.run(os.getpid).values()))
    killed: list[int] = []

    def progress(done: int, total: int) -> None:
        if done >= 2 and not killed:  # both workers are warm: kill one mid-run
            os.kill(pid, signal.SIGKILL)
            killed.append(done)

    try:
        table = reward_table(
            env,
            engine,
            actions,
            chronic=0,
            max_iter=STEPS,
            seed=0,
            chunk=1,
            env_name=ENV,
            backend=Backend.from_options(scheduler=cluster.scheduler_address),
            progress=_OnAdvance(progress),
        )
    finally:
        client.close()
        cluster.close()
    assert killed and killed[0] < len(actions), "no worker was killed during the run"
    _same(table, serial)


def test_an_interrupted_table_resumes_from_its_cache(oracle_env, tmp_path, caplog):
    env, engine = oracle_env
    actions = _actions(env)
    cache = tmp_path / ".cache"
    serial = reward_table(env, engine, actions, chronic=0, max_iter=STEPS, seed=0, chunk=2)

    def interrupt(done: int, total: int) -> None:
        if done >= 4:
            raise KeyboardInterrupt

    cached_run = {"chunk": 2, "cache": cache, "env_name": ENV}  # env_name: part of the key
    with pytest.raises(KeyboardInterrupt):
        reward_table(
            env, engine, actions, 0, STEPS, 0, progress=_OnAdvance(interrupt), **cached_run
        )
    files = sorted(cache.rglob("*.npy"))
    assert len(files) == 2 and not list(cache.rglob("*.tmp"))
    resumed = reward_table(env, engine, actions, 0, STEPS, 0, **cached_run)
    assert resumed.reused == 4
    _same(resumed, serial)
    # everything cached: no cluster is needed (this address answers nothing)
    cached = reward_table(
        env,
        engine,
        actions,
        0,
        STEPS,
        0,
        backend=Backend.from_options(scheduler="tcp://127.0.0.1:9"),
        **cached_run,
    )
    assert cached.reused == len(actions)
    _same(cached, serial)
    # a damaged chunk is solved again, with a warning naming it
    files[0].write_bytes(b"not numpy")
    with caplog.at_level("WARNING"):
        again = reward_table(env, engine, actions, 0, STEPS, 0, **cached_run)
    assert str(files[0]) in caplog.text
    assert again.reused == len(actions) - 2
    _same(again, serial)
    # other inputs, other key: nothing reused
    other = reward_table(env, engine, actions, 0, STEPS - 1, 0, **cached_run)
    assert other.reused == 0


def test_oracle_cli_on_a_local_cluster_matches_the_local_run(tmp_path):
    from gridoracle.cli import main

    actions = Path(__file__).parents[1] / "examples/actions/rte_case14_realistic/reference.json"
    common = [
        "oracle",
        "--env",
        ENV,
        "--chronic",
        "0",
        "--actions",
        str(actions),
        "--max-depth",
        "2",
        "--max-iter",
        str(STEPS),
        "--no-replay",
        "--quiet",
    ]
    for name, extra in (("local", []), ("dask", ["--dask-workers", "2"])):
        main([*common, "--output", str(tmp_path / name), *extra])  # returns: exit code 0
    folder = Path(ENV) / "scenario_0" / actions.stem
    for file in ("reward_df.csv", "kpis.csv", "best_path.json", "best_path_no_overload.json"):
        assert (tmp_path / "dask" / folder / file).read_bytes() == (
            tmp_path / "local" / folder / file
        ).read_bytes(), file
    summary = json.loads((tmp_path / "dask" / folder / "summary.json").read_text())
    assert summary["dask_workers"] == 2 and summary["n_reused"] == 0


def test_oracle_scheduler_and_dask_workers_together_is_one_line(tmp_path, capsys):
    from gridoracle.cli import main

    with pytest.raises(SystemExit) as info:
        main(
            [
                "oracle",
                "--env",
                ENV,
                "--chronic",
                "0",
                "--actions",
                "x.json",
                "--scheduler",
                "tcp://127.0.0.1:9",
                "--dask-workers",
                "2",
            ]
        )
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--dask-workers" in err and "Traceback" not in err
