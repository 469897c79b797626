"""The units of a dataset: episodes × actions → features and targets, one Parquet chunk each.

For every state of the chosen chronics (by default those a do-nothing agent visits; see
:mod:`gridoracle.dataset.sources` for the other sources), and every action of the catalogue,
the target is the max line loading (max rho) after applying that action to that state, with the
injections of the horizon (0: the same injections, what ``obs.simulate(a, time_step=0)``
computes; 1: the next-step forecast, what ``obs.simulate(a)`` computes). A pair the grid does not
survive (divergence, islanding, after grid2op's protections) is NaN with status 1; an action the
rules refuse in that state is NaN with status 2.

Work is cut into units: the states of one chronic, and the targets of one chronic for one chunk of
consecutive actions. A unit is a pure function of its inputs that writes one Parquet file
atomically and returns its checksum; the parent registers it in the manifest. A run that stops
(Ctrl-C, kill) resumes from the registered chunks, and every chunk is byte-identical whatever the
number of workers or interruptions.

This module holds the pure parts: the configuration (:class:`GenerateConfig`), the units
(:class:`Unit`, :func:`run_unit`, :class:`UnitOutcome`) and the summary read back from the chunks;
:func:`gridoracle.pipelines.generate.generate` runs them on a backend and keeps the store.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridoracle.actions.model import Action
from gridoracle.dataset.sources import (
    DEFAULT_SOURCE,
    VARIANT_POOL,
    SourceStates,
    build_states,
    do_nothing_episode,
)
from gridoracle.dataset.store import (
    RHO_PREFIX,
    STATUS_PREFIX,
    ChunkInfo,
    DatasetStore,
    canonical_json,
    output_error,
    states_relpath,
    targets_relpath,
    write_chunk_file,
)
from gridoracle.engine.base import STATUS_GAME_OVER, STATUS_ILLEGAL, STATUS_OK, EngineResult
from gridoracle.engine.states import check_horizon
from gridoracle.errors import InvalidOption

__all__ = [
    "ENGINES",
    "TARGETS",
    "GenerateConfig",
    "Unit",
    "UnitOutcome",
    "check_options",
    "do_nothing_episode",
    "keep_context",
    "open_context",
    "plan_units",
    "run_unit",
    "summarize_chunks",
    "targets_frame",
]

log = logging.getLogger(__name__)

ENGINES = ("batched", "reference")
TARGETS = ("max", "full")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class GenerateConfig:
    """Everything that decides a dataset's content (its hash names the dataset folder).

    Attributes
    ----------
    env : str
        Environment name (offline test data) or absolute path of an environment folder.
    chronics : tuple of int
        Chronic indices, in order.
    max_steps : int
        At most this many states per chronic (the episode also ends on game over).
    horizon : int
        0 (same injections) or 1 (next-step forecast).
    targets : str
        ``"max"`` (max rho per action) or ``"full"`` (also the whole rho vector).
    engine : str
        ``"batched"`` (lightsim2grid, default) or ``"reference"`` (grid2op ``obs.simulate``).
    seed : int
        Seed of the environment resets and of the action sampling.
    chunk_actions : int
        Actions per target chunk.
    actions : tuple of dict
        The catalogue: ``{"name", "kind", "grid2op"}`` per action.
    states : str
        Where the states come from (:data:`gridoracle.dataset.sources.STATE_SOURCES`).
    topologies, outages : int
        Per state, this many other topologies / single lines out (see
        :mod:`gridoracle.dataset.sources`).
    variant_pool : int
        Topology combinations drawn per chronic, among which the states take their variants.
    """

    env: str
    chronics: tuple[int, ...]
    max_steps: int
    horizon: int
    targets: str
    engine: str
    seed: int
    chunk_actions: int
    actions: tuple[dict[str, Any], ...] = field(repr=False)
    states: str = DEFAULT_SOURCE
    topologies: int = 0
    outages: int = 0
    variant_pool: int = VARIANT_POOL

    @property
    def default_states(self) -> bool:
        """Today's states (a do-nothing episode, nothing added): the layout before --states."""
        return self.states == DEFAULT_SOURCE and not self.topologies and not self.outages

    def hashed(self) -> dict[str, Any]:
        """The config as recorded in the manifest (the actions by their checksum).

        The state options are left out at their defaults, so that a dataset of do-nothing
        episodes keeps the hash (and the folder) it had before they existed.
        """
        data = asdict(self)
        defaults = (
            ("states", DEFAULT_SOURCE),
            ("topologies", 0),
            ("outages", 0),
            ("variant_pool", VARIANT_POOL),
        )
        for name, default in defaults:
            if data[name] == default:
                del data[name]
        data["chronics"] = list(self.chronics)
        data["actions"] = hashlib.sha256(canonical_json(list(self.actions))).hexdigest()
        data["n_actions"] = len(self.actions)
        data["format"] = FORMAT_VERSION
        return data

    def chunks(self) -> list[tuple[int, int]]:
        """``(start, stop)`` catalogue positions of every target chunk."""
        n = len(self.actions)
        return [(s, min(s + self.chunk_actions, n)) for s in range(0, n, self.chunk_actions)]


@dataclass(frozen=True)
class Unit:
    """One piece of work: the states of a chronic (``start == stop == -1``) or a target chunk."""

    config: GenerateConfig
    folder: str
    chronic: int
    start: int = -1
    stop: int = -1

    @property
    def relpath(self) -> str:
        if self.start < 0:
            return states_relpath(self.chronic)
        return targets_relpath(self.chronic, self.start, self.stop)

    @property
    def n_pairs(self) -> int:
        return 0 if self.start < 0 else self.stop - self.start


def plan_units(config: GenerateConfig, folder: str = "") -> list[Unit]:
    """Every unit of ``config``: the states of each chronic, then each chronic's target chunks."""
    units = [Unit(config, folder, c) for c in config.chronics]
    units += [Unit(config, folder, c, s, e) for c in config.chronics for s, e in config.chunks()]
    return units


def in_folder(units: Sequence[Unit], folder: str) -> list[Unit]:
    """The same units, writing under ``folder``."""
    return [replace(u, folder=folder) for u in units]


def check_options(
    horizon: int, targets: str, engine: str, max_steps: int, chunk_actions: int
) -> int:
    """Check the options of a dataset before any work; return the horizon as an int.

    Raises
    ------
    InvalidOption
        An unknown horizon, target kind or engine, or a count below 1.
    """
    horizon = check_horizon(horizon)
    if targets not in TARGETS:
        raise InvalidOption(f"targets {targets}: must be one of {list(TARGETS)}", param="targets")
    if engine not in ENGINES:
        raise InvalidOption(f"engine {engine}: must be one of {list(ENGINES)}", param="engine")
    if max_steps < 1:
        raise InvalidOption(f"max_steps {max_steps}: must be at least 1", param="max_steps")
    if chunk_actions < 1:
        raise InvalidOption(
            f"chunk_actions {chunk_actions}: must be at least 1", param="chunk_actions"
        )
    return horizon


@dataclass
class UnitOutcome:
    """What a unit returns to the parent: the chunk written and its counts."""

    relpath: str
    info: ChunkInfo
    rows: int
    pairs: int = 0
    ok: int = 0
    above_one: int = 0
    game_over: int = 0
    illegal: int = 0
    cascades: int = 0
    skipped: int = 0
    seconds: float = 0.0


# -- episodes -------------------------------------------------------------------------------------


class _WorkerContext:
    """What a process keeps between units: the environment, engines and the last episodes.

    Engines are built right after the environment is made, so that their initial voltages (and
    therefore every number they produce) do not depend on what the process did before. The
    states' own power flows (and the greedy expert) use a batched engine built there too.
    """

    def __init__(self, env_arg: str, engine: str) -> None:
        from gridoracle.grid import make_env

        self.env = make_env(env_arg)
        self.engine = _make_engine(engine, self.env)
        self.state_engine = (
            self.engine if engine == "batched" else _make_engine("batched", self.env)
        )
        self.episodes: OrderedDict[tuple[Any, ...], SourceStates] = OrderedDict()
        _freeze_once()

    def states(self, config: GenerateConfig, chronic: int) -> SourceStates:
        key = (chronic, canonical_json(config.hashed()))
        states = self.episodes.get(key)
        if states is None:
            catalogue = [_catalogue_action(a) for a in config.actions]
            states = build_states(
                self.env,
                self.state_engine,
                source=config.states,
                chronic=chronic,
                max_steps=config.max_steps,
                seed=config.seed,
                horizon=config.horizon,
                actions=catalogue,
                topologies=config.topologies,
                outages=config.outages,
                variant_pool=config.variant_pool,
            )
            self.episodes[key] = states
            while len(self.episodes) > 2:
                self.episodes.popitem(last=False)
        return states


_FROZEN = False


def _freeze_once() -> None:
    """Move what exists now (grid2op's modules, the first environment and engines) out of the
    collector's generations, once per process, so that a full collection during the units does
    not walk them again (one took 0.14 s of a 3 s ``generate --states chronic`` run on case14).

    A frozen object that later becomes cyclic garbage is never collected; doing it once per
    process (for its first context) bounds that to one environment, and a process that makes
    many contexts (tests, notebooks) keeps collecting the later ones as usual.
    """
    global _FROZEN
    if not _FROZEN:
        _FROZEN = True
        gc.freeze()


#: at most this many solver threads in a unit run in the main process
MAX_SOLVER_THREADS = 4


def solver_threads() -> int:
    """How many actions a unit solves at a time (threads of the batched engine).

    Units run in the main process only when they run one after the other (one worker, or a
    single unit): there the solver threads use the cores this process may run on (at most
    :data:`MAX_SOLVER_THREADS`). In a worker process (local pool, Dask) the workers already
    share the cores: one thread. The numbers do not depend on it (see
    :class:`gridoracle.engine.batched.BatchedEngine`).
    """
    import multiprocessing
    import os
    import threading

    if multiprocessing.parent_process() is not None:
        return 1
    if threading.current_thread() is not threading.main_thread():
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_SOLVER_THREADS, cores))


def _catalogue_action(data: dict[str, Any]) -> Any:
    from gridoracle.actions.model import CatalogueAction

    return CatalogueAction(
        name=str(data["name"]), kind=str(data.get("kind", "topology")), grid2op=data["grid2op"]
    )


def _make_engine(name: str, env: Any) -> Any:
    if name == "batched":
        from gridoracle.engine.batched import BatchedEngine

        return BatchedEngine(env)
    if name == "reference":
        from gridoracle.engine.reference import ReferenceEngine

        return ReferenceEngine(env)
    raise InvalidOption(f"engine {name}: must be one of {list(ENGINES)}", param="engine")


def _context(config: GenerateConfig) -> _WorkerContext:
    from gridoracle.parallel import worker_state

    key = ("generate", config.env, config.engine)
    return worker_state(key, lambda: _WorkerContext(config.env, config.engine))


def open_context(env_arg: str, engine: str) -> Any:
    """A fresh worker context (environment and engines) for the pipeline to resolve a request
    with; :func:`keep_context` then lets this process's units (and forked workers) reuse it
    instead of making the environment again."""
    return _WorkerContext(env_arg, engine)


def keep_context(config: GenerateConfig, context: Any) -> None:
    """Make ``context`` (from :func:`open_context`) the worker state of ``config``'s units."""
    from gridoracle.parallel import prime_worker_state

    prime_worker_state(("generate", config.env, config.engine), context)


# -- units ----------------------------------------------------------------------------------------


def targets_frame(result: EngineResult, names: Sequence[str], n_line: int) -> pd.DataFrame:
    """The target chunk of an engine result: max rho, status and (optionally) full rho columns."""
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        columns[name] = result.max_rho[:, j].astype(np.float64)
    for j, name in enumerate(names):
        columns[f"{STATUS_PREFIX}{name}"] = result.status[:, j].astype(np.int8)
    if result.rho is not None:
        for j, name in enumerate(names):
            for line in range(n_line):
                columns[f"{RHO_PREFIX}{name}::{line}"] = result.rho[:, j, line].astype(np.float32)
    return pd.DataFrame(columns)


def run_unit(unit: Unit) -> UnitOutcome:
    """Compute one unit and write its chunk (pure: same unit → same bytes)."""
    tick = time.perf_counter()
    cfg = unit.config
    ctx = _context(cfg)
    source = ctx.states(cfg, unit.chronic)
    states = source.batch
    path = Path(unit.folder) / unit.relpath
    if unit.start < 0:
        frame = source.frame.copy()
        frame["chronic"] = np.full(len(states), unit.chronic, dtype=np.int32)
        frame["step"] = states.steps.astype(np.int32)
        if not cfg.default_states:
            for name in source.meta.columns:
                frame[name] = source.meta[name].to_numpy()
        info = _write_chunk(unit, path, frame)
        return UnitOutcome(
            unit.relpath,
            info,
            rows=len(states),
            skipped=source.skipped,
            seconds=time.perf_counter() - tick,
        )
    actions = [Action(str(a["name"]), a["grid2op"]) for a in cfg.actions[unit.start : unit.stop]]
    if hasattr(ctx.engine, "threads"):
        ctx.engine.threads = solver_threads()
    result = ctx.engine.evaluate(states, actions, full=cfg.targets == "full")
    names = [a.name for a in actions]
    info = _write_chunk(unit, path, targets_frame(result, names, int(ctx.env.n_line)))
    ok = result.status == STATUS_OK
    return UnitOutcome(
        unit.relpath,
        info,
        rows=len(states),
        pairs=int(result.status.size),
        ok=int(ok.sum()),
        above_one=int((ok & (np.nan_to_num(result.max_rho) > 1.0)).sum()),
        game_over=int((result.status == STATUS_GAME_OVER).sum()),
        illegal=int((result.status == STATUS_ILLEGAL).sum()),
        cascades=int(result.n_cascade),
        seconds=time.perf_counter() - tick,
    )


def _write_chunk(unit: Unit, path: Path, frame: pd.DataFrame) -> ChunkInfo:
    """Write a unit's chunk; a failed write (a full disk) is one OutputError naming the folder.

    The chunk is written atomically: on failure no part of it is left behind.
    """
    try:
        return write_chunk_file(path, frame)
    except OSError as exc:
        raise output_error(Path(unit.folder).parent, exc) from None


# -- the summary ----------------------------------------------------------------------------------


def _read_parquet(path: Path, columns: list[str] | None = None) -> Any:
    """One Parquet file as an Arrow table, with ``ParquetFile.read``: the same table as
    ``pq.read_table``, whose first call in a process costs ~0.25 s more (it loads pyarrow's
    dataset machinery) -- most of the summary's time on a small dataset."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read(columns=columns, use_threads=False)


def summarize_chunks(store: DatasetStore, config: GenerateConfig) -> dict[str, Any]:
    """Deterministic summary, read back from the target chunks (same whatever was resumed)."""
    import pyarrow.parquet as pq

    rows = pairs = ok = above = game_over = illegal = 0
    per_chronic: dict[str, int] = {}
    for chronic in config.chronics:
        n = pq.ParquetFile(store.chunk_path(states_relpath(chronic))).metadata.num_rows
        per_chronic[str(chronic)] = int(n)
        rows += n
        for start, stop in config.chunks():
            table = _read_parquet(store.chunk_path(targets_relpath(chronic, start, stop)))
            names = [a["name"] for a in config.actions[start:stop]]
            rho = np.column_stack([table.column(n).to_numpy() for n in names])
            status = np.column_stack(
                [table.column(f"{STATUS_PREFIX}{n}").to_numpy() for n in names]
            )
            pairs += status.size
            good = status == STATUS_OK
            ok += int(good.sum())
            above += int((good & (np.nan_to_num(rho) > 1.0)).sum())
            game_over += int((status == STATUS_GAME_OVER).sum())
            illegal += int((status == STATUS_ILLEGAL).sum())
    extra: dict[str, Any] = {}
    if not config.default_states:
        by_source: dict[str, int] = {}
        for chronic in config.chronics:
            table = _read_parquet(store.chunk_path(states_relpath(chronic)), ["state_source"])
            for value, count in pd.Series(table.column(0).to_pylist()).value_counts().items():
                by_source[str(value)] = by_source.get(str(value), 0) + int(count)
        extra["rows_per_source"] = dict(sorted(by_source.items()))
    return {
        **extra,
        "rows": rows,
        "rows_per_chronic": per_chronic,
        "actions": len(config.actions),
        "pairs": pairs,
        "ok": ok,
        "share_above_1": round(above / ok, 6) if ok else 0.0,
        "game_over": game_over,
        "illegal": illegal,
    }
