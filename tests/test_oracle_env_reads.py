"""The Oracle's environment reads a chronic once for all its resets (oracle.sim.env).

The reference is grid2op's own reset, which reads the chronic's files every time (an environment
from :func:`gridoracle.grid.make_env`, without :func:`reuse_chronic_reads`): the reader of a
reset served from an earlier read must hold the same attributes and the episode must play the
same steps bit for bit; anything that changes what would be read reads again.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from grid2op.Chronics import GridStateFromFileWithForecasts

from gridoracle.grid import _grid2op_data_dir, make_env
from gridoracle.oracle.sim.env import _fingerprint, make_oracle_env, reuse_chronic_reads
from gridoracle.oracle.sim.episode import reset_episode

ENV = "l2rpn_case14_sandbox"


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The folders grid2op's reader really reads (each call of its initialize)."""
    done: list[str] = []
    initialize = GridStateFromFileWithForecasts.initialize

    def counted(self, *args, **kwargs):
        done.append(os.path.basename(os.fspath(self.path)))
        return initialize(self, *args, **kwargs)

    monkeypatch.setattr(GridStateFromFileWithForecasts, "initialize", counted)
    return done


#: the hooks of reuse_chronic_reads, and the action space grid2op gives the reader after its
#: initialize (an object of each environment: compared by class)
NOT_COMPARED = ("initialize", "_gridoracle_reads", "_GridValue__action_space")


def _reader(env) -> str:
    data = env.chronics_handler.real_data.data
    kept = {k: v for k, v in data.__dict__.items() if k not in NOT_COMPARED}
    kept["space_prng"] = data.space_prng.get_state()  # its random state, not its address
    return _fingerprint(kept) + type(data.action_space).__name__


def _episode(env, chronic: int, steps: int, seed: int = 0) -> tuple[str, list[np.ndarray]]:
    obs = reset_episode(env, chronic, seed, steps)
    state = _reader(env)
    out = [obs.to_vect()]
    for _ in range(steps):
        obs, reward, done, _ = env.step(env.action_space({}))
        out.append(np.append(obs.to_vect(), [reward, done]))
        if done:
            break
    return state, out


def _same(a, b) -> bool:
    return a[0] == b[0] and all(
        np.array_equal(x, y, equal_nan=True) for x, y in zip(a[1], b[1], strict=True)
    )


def test_a_reset_served_from_an_earlier_read_is_grid2ops_reset(reads):
    plain = make_env(ENV)
    oracle = reuse_chronic_reads(make_env(ENV))
    try:
        reads.clear()
        for chronic, steps, seed in [(0, 20, 0), (0, 20, 0), (1, 20, 3), (0, 20, 5), (0, 12, 0)]:
            assert _same(
                _episode(oracle, chronic, steps, seed), _episode(plain, chronic, steps, seed)
            )
        # the Oracle's then the plain one's: the Oracle's reads chronic 0 and 1 at 20 steps and
        # chronic 0 at 12 (another number of rows); chronic 0 at 20 again comes from memory
        assert reads == ["0000", "0000", "0000", "0001", "0001", "0000", "0000", "0000"]
    finally:
        plain.close()
        oracle.close()


def test_a_changed_file_is_read_again(tmp_path, reads):
    folder = tmp_path / ENV
    shutil.copytree(_grid2op_data_dir() / ENV, folder)
    env = make_oracle_env(str(folder))
    try:
        reset_episode(env, 0, 0, 10)
        reset_episode(env, 0, 0, 10)
        assert reads == ["0000", "0000"]  # the make's, then the first reset's
        load_p = folder / "chronics" / "0000" / "load_p.csv.bz2"
        info = load_p.stat()
        os.utime(load_p, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
        reset_episode(env, 0, 0, 10)
        assert reads == ["0000"] * 3
    finally:
        env.close()


def test_a_copy_of_the_environment_reads_for_itself(reads):
    env = make_oracle_env(ENV)
    try:
        reference = _episode(env, 0, 8)
        reset_episode(env, 0, 0, 8)  # grid2op copies no environment whose episode is over
        copied = env.copy()
        try:
            real = copied.chronics_handler.real_data
            assert real._get_nex_data.__self__ is real  # rebound to the copy
            assert _same(_episode(copied, 0, 8), reference)
            assert _same(_episode(copied, 1, 8), _episode(env, 1, 8))
        finally:
            copied.close()
    finally:
        env.close()


def test_an_oracle_environment_reads_its_chronic_once_per_length(reads):
    env = make_oracle_env(ENV)
    try:
        reads.clear()
        for _ in range(4):  # the Oracle's resets: filter at t0, reward table, two replays
            reset_episode(env, 0, 0, 30)
        assert reads == ["0000"]
    finally:
        env.close()
