"""One way to map work units: serially, or over local processes.

Work units are pure: a function of explicit, picklable inputs that returns a value (and may write
its own output file atomically). The same function runs in this process or in a worker; the
caller merges the results, in any completion order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from gridoracle.errors import InvalidOption

U = TypeVar("U")
R = TypeVar("R")


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def check_workers(workers: int | None, option: str = "--workers") -> int:
    """Validate a number of workers given as ``option`` (None → number of cores)."""
    if workers is None:
        return default_workers()
    if workers < 1:
        raise InvalidOption(f"{option} {workers}: must be at least 1")
    return int(workers)


def _context() -> mp.context.BaseContext:
    # fork avoids re-importing grid2op (seconds) in every worker; spawn where fork is missing
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


def map_units(
    fn: Callable[[U], R],
    units: Sequence[U],
    workers: int = 1,
    initializer: Callable[[], None] | None = None,
) -> Iterator[tuple[U, R]]:
    """Yield ``(unit, fn(unit))`` for every unit, as they complete.

    With ``workers == 1`` (or a single unit) everything runs in this process, in order. Otherwise
    a pool of local processes runs them, at most ``2 * workers`` submitted at a time so that an
    interrupted run leaves little in flight. On any exception (including Ctrl-C) pending units
    are cancelled and the pool is shut down before the exception propagates.
    """
    if workers <= 1 or len(units) <= 1:
        if initializer is not None:
            initializer()
        for unit in units:
            yield unit, fn(unit)
        return
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(units)), mp_context=_context(), initializer=initializer
    )
    pending: dict[Future[R], U] = {}
    todo = list(units)
    todo.reverse()
    try:
        while todo or pending:
            while todo and len(pending) < 2 * workers:
                unit = todo.pop()
                pending[pool.submit(fn, unit)] = unit
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in done:
                unit = pending.pop(future)
                yield unit, future.result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def map_units_dask(
    fn: Callable[[U], R],
    units: Sequence[U],
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    retries: int = 3,
) -> Iterator[tuple[U, R]]:
    """Yield ``(unit, fn(unit))`` for every unit, computed on a Dask cluster, as they complete.

    Parameters
    ----------
    scheduler : str, optional
        Address of an existing cluster (``tcp://host:port``). Otherwise a LocalCluster of
        ``n_workers`` processes (one thread each) is started and stopped here.
    retries : int
        Times a unit is resubmitted when it fails or its worker dies (units are idempotent: they
        write their output atomically, so a unit run twice writes the same bytes).

    Units must be picklable and ``fn`` importable on the workers (a module-level function of an
    installed package). Workers and this process must see the same output folder.
    """
    import logging as _logging
    import uuid

    from distributed import Client, LocalCluster, as_completed

    cluster = None
    try:
        if scheduler is not None:
            client = Client(scheduler, timeout="10s")
        else:
            cluster = LocalCluster(
                n_workers=check_workers(n_workers, "--dask-workers"),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=_logging.ERROR,
            )
            client = Client(cluster)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise InvalidOption(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    run = uuid.uuid4().hex[:8]
    # a bounded window of units in flight: the scheduler and this process hold a few futures per
    # worker thread, not one per unit (a 118-bus study has hundreds of thousands of units)
    try:
        threads = sum(client.nthreads().values())
    except Exception:  # pragma: no cover - nthreads needs a live scheduler
        threads = 0
    window = max(8, 4 * threads)
    todo = list(enumerate(units))
    todo.reverse()
    futures: dict[Any, U] = {}

    def submit() -> Any:
        i, unit = todo.pop()
        future = client.submit(fn, unit, pure=False, retries=retries, key=f"gridoracle-{run}-{i}")
        futures[future] = unit
        return future

    try:
        pending = as_completed([submit() for _ in range(min(window, len(todo)))])
        for future in pending:
            unit = futures.pop(future)
            result = future.result()
            if todo:
                pending.add(submit())
            yield unit, result
    finally:
        client.cancel(list(futures))
        client.close()
        if cluster is not None:
            cluster.close()
