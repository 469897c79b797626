"""The action-outcome dataset pipeline: ``gridoracle generate``.

:func:`generate` takes a :class:`GenerateRequest` (what to generate), a
:class:`~gridoracle.parallel.Backend` (where the units run) and a
:class:`~gridoracle.progress.Progress` (``advance(pairs_done, pairs_total, "pairs")`` after each
unit). It resolves the request into a :class:`~gridoracle.dataset.units.GenerateConfig`, opens
the dataset's store (reusing every chunk already registered), runs the missing units of
:mod:`gridoracle.dataset.units` on the backend, registers them as they finish and writes the
summary. A complete dataset of the same configuration is a cache hit: nothing runs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridoracle.dataset.sources import VARIANT_POOL, check_source
from gridoracle.dataset.store import DatasetStore
from gridoracle.dataset.units import (
    GenerateConfig,
    Unit,
    check_options,
    in_folder,
    keep_context,
    open_context,
    plan_units,
    run_unit,
    summarize_chunks,
)
from gridoracle.io import versions
from gridoracle.parallel import SERIAL, Backend, check_reachable, map_units
from gridoracle.progress import SILENT, Progress

if TYPE_CHECKING:
    from gridoracle.actions.effects import DistinctActions
    from gridoracle.actions.model import CatalogueAction

__all__ = ["GenerateReport", "GenerateRequest", "generate"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateRequest:
    """What to generate (see :func:`generate`).

    Attributes
    ----------
    env : str
        Environment name (see ``gridoracle envs``) or folder.
    chronics : str or sequence, optional
        ``"0,1,2"``, ``"0-2"``, ``"all"`` (default) or a list.
    max_steps : int
        States per chronic at most.
    horizon : {0, 1}
        0: same injections (``obs.simulate(a, time_step=0)``); 1: next-step forecast.
    n_actions, actions_file
        Sample this many actions of the catalogue, or read them from a catalogue file.
    seed : int
        Seed of resets and sampling.
    targets : {"max", "full"}
        Also store every line's rho with ``"full"``.
    engine : {"batched", "reference"}
        The fast lightsim2grid engine or grid2op's ``obs.simulate``.
    out : Path
        Root folder; the dataset goes to ``out/<env>-h<horizon>-<config hash>``.
    force : bool
        Regenerate even if a complete dataset exists.
    chunk_actions : int
        Actions per target chunk (the unit of work and of resumption).
    states : str
        Where the states come from: ``episode`` (default), ``chronic``, ``random-topology``,
        ``greedy`` (see :mod:`gridoracle.dataset.sources`).
    topologies, outages : int
        Per state, also this many other topologies / single lines out.
    variant_pool : int
        Topology combinations (one or two catalogue actions) drawn per chronic, among which each
        state takes its ``topologies`` (default 32). More combinations: more topologies met in
        training.
    keep_no_op : bool
        Keep the actions that change nothing on the reference topology, and those of the same
        effect as an earlier action (:func:`gridoracle.actions.effects.distinct_actions`); by
        default they are left out and listed (``distinct_actions`` in the summary and the run
        log), as the Oracle lists and drops its actions without effect. Do nothing stays. Only
        states in the reference topology (``episode``, ``chronic``, no topologies or outages)
        are filtered: elsewhere these actions act.
    """

    env: str
    chronics: str | Sequence[int | str] | None = None
    max_steps: int = 575
    horizon: int = 0
    n_actions: int | None = 100
    actions_file: Path | None = None
    seed: int = 0
    targets: str = "max"
    engine: str = "batched"
    out: Path = Path("data")
    force: bool = False
    chunk_actions: int = 50
    states: str = "episode"
    topologies: int = 0
    outages: int = 0
    variant_pool: int = VARIANT_POOL
    keep_no_op: bool = False


@dataclass
class GenerateReport:
    """What a call to :func:`generate` did."""

    path: Path
    summary: dict[str, Any]
    cache_hit: bool
    units_run: int
    units_reused: int
    wall_seconds: float
    pairs_computed: int

    @property
    def pairs_per_second(self) -> float:
        return self.pairs_computed / self.wall_seconds if self.wall_seconds > 0 else float("nan")


def generate(
    request: GenerateRequest, backend: Backend = SERIAL, progress: Progress = SILENT
) -> GenerateReport:
    """Generate (or reuse) the dataset of ``request`` under ``request.out``.

    Parameters
    ----------
    request : GenerateRequest
        What to generate.
    backend : Backend, default serial
        Where the units run (this process, local processes or a Dask cluster whose workers see
        ``request.out``).
    progress : Progress, default silent
        ``advance(pairs_done, pairs_total, "pairs")`` after every finished unit.

    Returns
    -------
    GenerateReport
        Where the dataset is, its summary, whether it was a cache hit, timings.

    Raises
    ------
    InvalidOption
        A bad option (horizon, targets, engine, counts, chronics, actions), or a scheduler that
        cannot be reached (checked before anything is written).
    OutputError
        An output folder that cannot be written, or a write that fails (a full disk).

    Notes
    -----
    With ``force`` every chunk is recomputed, but the old dataset stays until each new chunk
    lands in its place. A request for more actions than the catalogue holds takes them all:
    the summary records ``actions`` (taken) and ``actions_requested``, and a WARNING says so.

    Examples
    --------
    >>> report = generate(GenerateRequest("l2rpn_case14_sandbox", chronics="0", max_steps=10,
    ...                                   n_actions=5))  # doctest: +SKIP
    >>> report.summary["rows"]  # doctest: +SKIP
    10
    """
    from gridoracle.grid import env_label

    tick = time.perf_counter()
    config, columns, distinct = _resolve_config(request)
    drawn = len(config.actions) + (distinct.dropped if distinct is not None else 0)
    requested = _requested_actions(request, drawn, len(config.actions))
    units = plan_units(config)
    store = DatasetStore.plan(
        Path(request.out),
        f"{env_label(request.env)}-h{config.horizon}",
        config.hashed(),
        versions(),
        actions=list(config.actions),
        feature_columns=columns,
        expected_chunks=[u.relpath for u in units],
        force=request.force,
    )
    actions = {
        "actions": len(config.actions),
        "actions_requested": requested,
        "distinct_actions": distinct.record() if distinct is not None else None,
    }
    if store.is_complete():  # read only: a cache hit works on storage it cannot write
        summary = {**store.manifest.get("summary", {}), **actions}
        wall = time.perf_counter() - tick
        _log_run(store, {"event": "cache_hit", "wall_seconds": wall, **actions})
        return GenerateReport(store.path, summary, True, 0, len(units), wall, 0)
    check_reachable(backend)  # before the store writes (or empties) anything
    store.prepare()
    todo = in_folder([u for u in units if not store.chunk_done(u.relpath)], str(store.path))
    computed_pairs, cascades, skipped = _run_units(store, todo, backend, progress)
    if skipped:
        log.info("%d state(s) skipped: their own power flow diverged", skipped)
    store.remove_temp_files()  # a killed worker may have left one behind
    summary = summarize_chunks(store, config)
    store.finalize(summary)
    wall = time.perf_counter() - tick
    record = {
        "event": "generate",
        "units_run": len(todo),
        "units_reused": len(units) - len(todo),
        "pairs_computed": computed_pairs,
        "cascades": cascades,
        "states_skipped": skipped,
        "wall_seconds": wall,
        "workers": backend.workers if backend.is_local else None,
        "scheduler": backend.scheduler,
        "dask_workers": backend.dask_workers,
        **actions,
    }
    _log_run(store, record)
    return GenerateReport(
        store.path,
        {**summary, **actions},
        False,
        len(todo),
        len(units) - len(todo),
        wall,
        computed_pairs,
    )


def _requested_actions(request: GenerateRequest, taken: int, kept: int) -> int:
    """How many actions ``request`` asked for; a WARNING when the catalogue had fewer.

    ``taken`` actions were drawn (or read), ``kept`` of them are in the dataset.
    """
    if request.actions_file is not None or request.n_actions is None:
        return taken
    if request.n_actions > taken:
        copies = f", {taken - kept} of them without an effect of their own" if kept < taken else ""
        log.warning(
            "%d actions requested, but the catalogue of %s has %d (do nothing included%s): "
            "the dataset has %d",
            request.n_actions,
            request.env,
            taken,
            copies,
            kept,
        )
    return int(request.n_actions)


def _log_run(store: DatasetStore, record: dict[str, Any]) -> None:
    """Append ``record`` to the run log of a complete dataset; an interrupt now loses nothing.

    The dataset is complete when this runs: a Ctrl-C that lands here stops nothing worth
    reporting as interrupted, so the run ends normally (without its log line).
    """
    try:
        store.append_run_log(record)
    except KeyboardInterrupt:
        log.info("interrupted after %s was complete: this run is not in its log", store.path)


def _resolve_config(
    request: GenerateRequest,
) -> tuple[GenerateConfig, list[str], DistinctActions[CatalogueAction] | None]:
    """The configuration of ``request`` (chronics and catalogue resolved), its feature columns
    and the actions left out as copies (None when kept: see ``keep_no_op``).

    Checks the options first, then opens the environment once to resolve the chronics, the
    catalogue and the feature columns.
    """
    from gridoracle.actions.catalogue import resolve_actions
    from gridoracle.dataset.features import feature_columns
    from gridoracle.grid import resolve_chronics

    horizon = check_options(
        request.horizon, request.targets, request.engine, request.max_steps, request.chunk_actions
    )
    check_source(
        request.states, request.topologies, request.outages, request.engine, request.variant_pool
    )
    env_arg = str(request.env)
    if Path(env_arg).exists():
        env_arg = str(Path(env_arg).resolve())
    context = open_context(env_arg, request.engine)  # this process's units reuse it
    grid_env = context.env
    try:
        chronic_ids = resolve_chronics(grid_env, request.chronics)
        catalogue = resolve_actions(
            grid_env,
            n_actions=request.n_actions if request.actions_file is None else None,
            actions_file=request.actions_file,
            seed=request.seed,
        )
        catalogue, distinct = _distinct(request, grid_env, catalogue, chronic_ids[0])
        obs_cls = type(grid_env.reset(seed=request.seed, options={"time serie id": chronic_ids[0]}))
        columns = feature_columns(obs_cls, horizon)
    except BaseException:
        grid_env.close()
        raise
    config = GenerateConfig(
        env=env_arg,
        chronics=tuple(chronic_ids),
        max_steps=int(request.max_steps),
        horizon=horizon,
        targets=request.targets,
        engine=request.engine,
        seed=int(request.seed),
        chunk_actions=int(request.chunk_actions),
        actions=tuple(json.loads(json.dumps(a.to_json())) for a in catalogue),
        states=request.states,
        topologies=int(request.topologies),
        outages=int(request.outages),
        variant_pool=int(request.variant_pool),
    )
    keep_context(config, context)
    return config, columns, distinct


def _distinct(
    request: GenerateRequest, env: Any, catalogue: list[CatalogueAction], chronic: int
) -> tuple[list[CatalogueAction], DistinctActions[CatalogueAction] | None]:
    """The catalogue without copies of do nothing or of an earlier action, and what was left out.

    Judged on the first observation of the first chronic; kept as it is with ``keep_no_op`` or
    when the states leave the reference topology (there sub-k-0 or line-k-on act).
    """
    from gridoracle.actions.effects import ReferenceTopology, distinct_actions

    if request.keep_no_op:
        return catalogue, None
    if request.states not in ("episode", "chronic") or request.topologies or request.outages:
        log.info("states outside the reference topology: actions without effect there are kept")
        return catalogue, None
    reference = ReferenceTopology.of(env, chronic=chronic, seed=request.seed)
    distinct = distinct_actions(catalogue, reference)
    if distinct.dropped:
        log.info(
            "%d action(s) left out: %d change nothing on the reference topology, %d repeat "
            "the effect of an earlier one",
            distinct.dropped,
            len(distinct.no_ops),
            distinct.dropped - len(distinct.no_ops),
        )
    return distinct.actions, distinct


def _run_units(
    store: DatasetStore, todo: Sequence[Unit], backend: Backend, progress: Progress
) -> tuple[int, int, int]:
    """Run ``todo`` on ``backend``, registering each chunk as it finishes.

    Returns
    -------
    (int, int, int)
        Pairs computed, cascades seen and states skipped (their own power flow diverged).
    """
    total_pairs = sum(u.n_pairs for u in todo)
    pairs_done = computed_pairs = cascades = skipped = 0
    for unit, outcome in map_units(run_unit, todo, backend):
        store.register_chunk(unit.relpath, outcome.info)
        computed_pairs += outcome.pairs
        cascades += outcome.cascades
        skipped += outcome.skipped
        pairs_done += unit.n_pairs
        progress.advance(pairs_done, total_pairs, "pairs")
    return computed_pairs, cascades, skipped
