"""The grid cache of :func:`gridoracle.grid.make_env`: the same environment, faster, never stale.

The reference is the environment made the normal way (``grid_cache=False``: grid2op's pandapower
backend reads grid.json, lightsim2grid converts it). With the cache, the second make restores the
backend without pandapower; both must hold the same state, play the same steps bit for bit and
give the Oracle the same outputs. A damaged or foreign cache file falls back to the normal load.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandapower
import pytest

from gridoracle import grid as grid_module
from gridoracle.grid import GRID_CACHE_ENV, grid_cache_folder, make_env
from gridoracle.io import versions
from gridoracle.oracle.config import read_config
from gridoracle.pipelines.oracle import OracleRequest, run_oracle

ENV = "l2rpn_case14_sandbox"
ROOT = Path(__file__).resolve().parents[1]
NOT_COMPARED = {"_init_pp_backend", "_my_kwargs"}


def _state_after_load(monkeypatch: pytest.MonkeyPatch, **kwargs) -> tuple[dict, list]:
    """The backend's attributes right after its grid is loaded (encoded, so that later steps
    change nothing of them), whether the load was the normal one, and 12 steps played after it."""
    from grid2op.Backend import Backend
    from lightsim2grid import LightSimBackend

    seen: dict = {"normal load": False}
    finish = LightSimBackend._aux_finish_setup_after_reading
    load_public = Backend.load_grid_public

    def after_reading(self):  # called at the end of every normal load, not on a cache hit
        finish(self)
        seen["normal load"] = True

    def load_grid_public(self, path, filename=None):
        load_public(self, path, filename)
        seen["state"] = {
            k: None if k in NOT_COMPARED else json.dumps(grid_module._encode(v))
            for k, v in self.__dict__.items()
        }

    monkeypatch.setattr(LightSimBackend, "_aux_finish_setup_after_reading", after_reading)
    monkeypatch.setattr(Backend, "load_grid_public", load_grid_public)
    env = make_env(ENV, seed=0, **kwargs)
    try:
        return {**seen["state"], "normal load": seen["normal load"]}, _play(env)
    finally:
        env.close()


def _play(env) -> list:
    """12 steps with a bus split, a line cut and its reconnection: observations and rewards."""
    env.set_id(0)
    obs = env.reset(seed=0)
    out = [obs.to_vect()]
    actions = [
        {},
        {"set_bus": {"substations_id": [(1, [1, 2, 1, 2, 1, 2])]}},
        {"set_line_status": [(4, -1)]},
        {},
        {"set_line_status": [(4, 1)]},
    ]
    for t in range(12):
        obs, reward, done, _ = env.step(env.action_space(actions[t % 5]))
        out.append(np.append(obs.to_vect(), [reward, done]))
        if done:
            break
    return out


def test_a_cached_grid_is_the_same_environment(tmp_path, monkeypatch):
    reference, played = _state_after_load(monkeypatch, grid_cache=False)
    assert reference.pop("normal load")
    assert not list(tmp_path.iterdir())

    cold, cold_played = _state_after_load(monkeypatch, grid_cache=tmp_path)
    assert cold.pop("normal load")  # the first make loads it, and writes the cache
    assert len(list(tmp_path.glob("*.json"))) == 1

    warm, warm_played = _state_after_load(monkeypatch, grid_cache=tmp_path)
    assert not warm.pop("normal load")  # restored: no pandapower
    for state in (cold, warm):
        assert state == reference  # every attribute but NOT_COMPARED, encoded
    for steps in (cold_played, warm_played):
        assert len(steps) == len(played) == 13
        assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(played, steps, strict=True))


def test_a_warm_load_reads_no_grid_file_through_pandapower(cached, tmp_path, monkeypatch):
    (tmp_path / cached[0]).write_bytes(cached[1])

    def refuse(*args, **kwargs):
        raise AssertionError("pandapower.from_json called on a cache hit")

    monkeypatch.setattr(pandapower, "from_json", refuse)
    env = make_env(ENV, grid_cache=tmp_path)
    try:
        assert env.n_sub == 14
        assert "load_grid" not in env.backend.__dict__  # the hook is gone after the first load
    finally:
        env.close()


@pytest.fixture(scope="module")
def cached(tmp_path_factory) -> tuple[str, bytes]:
    """The name and bytes of the cache file of ENV."""
    folder = tmp_path_factory.mktemp("grids")
    make_env(ENV, grid_cache=folder).close()
    (file,) = folder.glob("*.json")
    return file.name, file.read_bytes()


def _damage(file: Path, how: str) -> None:
    data = file.read_bytes()
    header, _, payload = data.partition(b"\n")
    if how == "truncated":
        file.write_bytes(data[: len(data) // 2])
    elif how == "a byte flipped":
        i = len(header) + 1 + len(payload) // 2
        file.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :])
    elif how == "not json":
        file.write_bytes(b"\x00\xff garbage")
    elif how == "empty":
        file.write_bytes(b"")
    elif how in ("another key", "an empty state", "an unknown tag", "an object array"):
        head = json.loads(header)
        body = {
            "another key": payload,
            "an empty state": b'{"dict":{}}',
            "an unknown tag": b'{"pickle":"gASV"}',
            "an object array": b'{"dict":{"x":{"array":["|O",[1],"AA==",true]}}}',
        }[how]
        if how == "another key":
            head["key"] = "0" * 64
        import hashlib

        head["payload_sha256"] = hashlib.sha256(body).hexdigest()
        file.write_bytes(json.dumps(head).encode() + b"\n" + body)
    else:
        raise ValueError(how)


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "a byte flipped",
        "not json",
        "empty",
        "another key",
        "an empty state",
        "an unknown tag",
        "an object array",
    ],
)
def test_a_damaged_cache_file_falls_back_to_the_normal_load(
    how, cached, tmp_path, monkeypatch, caplog
):
    name, good = cached
    file = tmp_path / name
    file.write_bytes(good)
    _damage(file, how)
    caplog.set_level(logging.INFO, logger="gridoracle.grid")
    state, _ = _state_after_load(monkeypatch, grid_cache=tmp_path)
    assert state["normal load"]  # loaded again, no exception
    assert any("is not usable" in r.getMessage() for r in caplog.records)
    assert file.read_bytes() == good  # and cached again, the same bytes


def test_the_cache_is_content_addressed_and_follows_the_settings(cached, tmp_path):
    make_env(ENV, grid_cache=tmp_path).close()
    assert [f.name for f in tmp_path.glob("*.json")] == [cached[0]]  # same grid, same key
    env = make_env(ENV, grid_cache=tmp_path, n_busbar=3)  # another backend class setting
    try:
        assert env.n_busbar_per_sub == 3
    finally:
        env.close()
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 2
    heads = [json.loads(f.read_bytes().partition(b"\n")[0]) for f in files]
    assert {h["key_parts"]["grid_sha256"] for h in heads} == {
        grid_module.file_sha256(grid_module._grid2op_data_dir() / ENV / "grid.json")
    }
    assert {h["key"] for h in heads} == {f.stem for f in files}
    # the versions read from the modules are those of the packages' metadata
    assert heads[0]["key_parts"]["versions"] == versions(*grid_module._CACHE_PACKAGES)


def test_the_folder_comes_from_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(GRID_CACHE_ENV, str(tmp_path / "grids"))
    assert grid_cache_folder() == tmp_path / "grids"
    make_env(ENV).close()
    assert len(list((tmp_path / "grids").glob("*.json"))) == 1
    for off in ("off", "0", "false", "NO", ""):
        monkeypatch.setenv(GRID_CACHE_ENV, off)
        assert grid_cache_folder() is None
    monkeypatch.delenv(GRID_CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert grid_cache_folder() == tmp_path / "xdg" / "gridoracle" / "grids"
    assert grid_cache_folder(True) == tmp_path / "xdg" / "gridoracle" / "grids"
    assert grid_cache_folder(False) is None


def test_an_unwritable_cache_folder_only_costs_the_cache(tmp_path, caplog):
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")  # holds as root, unlike a read-only folder
    caplog.set_level(logging.INFO, logger="gridoracle.grid")
    env = make_env(ENV, grid_cache=blocked / "grids")
    try:
        assert env.n_sub == 14
    finally:
        env.close()
    assert any("cannot write" in r.getMessage() for r in caplog.records)


def test_the_codec_refuses_what_it_cannot_restore():
    value = {
        "a": (1, 2.5, "x", None, True, [complex(1, -2)]),
        "b": np.arange(6, dtype=np.int32).reshape(2, 3),
        "c": np.float32(1.5),
        "d": np.array(["ab", "c"]),
    }
    back = grid_module._decode(json.loads(json.dumps(grid_module._encode(value))))
    assert back["a"] == value["a"]
    for k in "bcd":
        assert back[k].dtype == value[k].dtype and np.array_equal(back[k], value[k])
    frozen = np.zeros(3)
    frozen.flags.writeable = False
    assert not grid_module._decode(grid_module._encode(frozen)).flags.writeable
    for bad in (object(), np.array([object()]), {1: 2}, {1, 2}):
        with pytest.raises(TypeError):
            grid_module._encode(bad)
    for bad in ({"pickle": "x"}, {"a": 1, "b": 2}, {"array": ["|O", [1], "AA==", True]}):
        with pytest.raises(ValueError):
            grid_module._decode(bad)


def _oracle_outputs(out: Path) -> dict[str, bytes]:
    settings, _ = read_config(ROOT / "examples" / "config.ini")  # max_iter 6, max_depth 3
    request = OracleRequest(
        ENV, 0, ROOT / "examples" / "actions" / ENV / "reference.json", settings, out=out
    )
    run_oracle(request)
    files = {}
    for path in sorted(out.rglob("*")):
        timed = path.name in ("summary.json", "episode_times.json", "agent_exec_times.npz")
        if path.is_file() and ".cache" not in path.parts and not timed:
            files[str(path.relative_to(out))] = path.read_bytes()
    return files


def test_the_oracle_writes_the_same_with_and_without_the_cache(cached, tmp_path, monkeypatch):
    monkeypatch.setenv(GRID_CACHE_ENV, "off")
    reference = _oracle_outputs(tmp_path / "off")
    (tmp_path / "grids").mkdir()
    (tmp_path / "grids" / cached[0]).write_bytes(cached[1])
    monkeypatch.setenv(GRID_CACHE_ENV, str(tmp_path / "grids"))
    warm = _oracle_outputs(tmp_path / "warm")
    assert any(name.endswith("reward_df.csv") for name in reference)
    assert warm == reference
