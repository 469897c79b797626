"""One way to run work units: serially, over local processes, or on a Dask cluster.

Work units are pure: a function of explicit, picklable inputs that returns a value (and may write
its own output file atomically). The same function runs in this process, in a local worker or on
a Dask worker; the caller merges the results, in any completion order.

- :class:`Backend` says where units run. Build it once from the user's options with
  :meth:`Backend.from_options`, which checks them (one of ``scheduler`` and ``dask_workers`` at
  most, counts at least 1, a scheduler address with a port) before any work starts.
- :func:`map_units` runs ``fn`` over the units on a backend and yields ``(unit, result)``.
- :func:`worker_state` is the one per-process cache of what a worker keeps between units (an
  environment, an engine, the last episode). A unit carries everything needed to rebuild it, so
  units are self-contained under every start method (fork, spawn, a Dask worker); a parent may
  :func:`prime_worker_state` with what it has already built, which forked workers inherit.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import re
import signal
import uuid
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from gridoracle.errors import InvalidOption

__all__ = [
    "SERIAL",
    "Backend",
    "check_reachable",
    "check_workers",
    "default_workers",
    "map_units",
    "prime_worker_state",
    "worker_state",
]

U = TypeVar("U")
R = TypeVar("R")
T = TypeVar("T")

log = logging.getLogger(__name__)

_ADDRESS = re.compile(
    r"^(tcp|tls|ws|wss|ucx)://(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+):[0-9]{1,5}$|^inproc://\S+$"
)


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def check_workers(workers: int | None, param: str = "workers") -> int:
    """Validate a number of workers given as ``param`` (None → number of cores)."""
    if workers is None:
        return default_workers()
    if workers < 1:
        raise InvalidOption(f"{param} {workers}: must be at least 1", param=param)
    return int(workers)


def check_scheduler(address: str) -> str:
    """Validate a Dask scheduler address: ``tcp://host:port`` (or another Dask protocol)."""
    if not _ADDRESS.match(address):
        raise InvalidOption(
            f"scheduler {address}: not a scheduler address (expected tcp://HOST:PORT)",
            param="scheduler",
        )
    return address


@dataclass(frozen=True)
class Backend:
    """Where work units run.

    Attributes
    ----------
    kind : {"serial", "processes", "dask"}
        In this process; in a pool of ``workers`` local processes; on a Dask cluster.
    workers : int
        Local processes (``kind == "processes"``); 1 otherwise.
    scheduler : str, optional
        Address of an existing Dask cluster (``kind == "dask"``).
    dask_workers : int, optional
        Size of the LocalCluster started and stopped for the work (``kind == "dask"`` without
        ``scheduler``).
    start_method : {"fork", "spawn", "forkserver"}, optional
        How local processes start; by default fork where the platform has it (workers inherit
        what this process built), else spawn. Units never depend on it.

    Examples
    --------
    >>> Backend.from_options(workers=1).kind
    'serial'
    >>> Backend.from_options(dask_workers=2).describe()
    'a Dask LocalCluster of 2 processes'
    """

    kind: Literal["serial", "processes", "dask"] = "serial"
    workers: int = 1
    scheduler: str | None = None
    dask_workers: int | None = None
    start_method: str | None = None

    @classmethod
    def from_options(
        cls,
        *,
        workers: int | None = 1,
        scheduler: str | None = None,
        dask_workers: int | None = None,
    ) -> Backend:
        """The backend of a user's options, checked before any work starts.

        ``workers`` None means one process per core. ``scheduler`` and ``dask_workers`` choose
        Dask, and exclude each other.

        Raises
        ------
        InvalidOption
            Both ``scheduler`` and ``dask_workers``, a count below 1, or a malformed address;
            the error's ``param`` names the parameter.
        """
        if scheduler is not None and dask_workers is not None:
            raise InvalidOption(
                "scheduler and dask_workers: give one of them, not both",
                param="scheduler",
                also=("dask_workers",),
            )
        if scheduler is not None:
            return cls("dask", scheduler=check_scheduler(str(scheduler)))
        if dask_workers is not None:
            return cls("dask", dask_workers=check_workers(dask_workers, "dask_workers"))
        n = check_workers(workers)
        return cls("serial") if n == 1 else cls("processes", workers=n)

    @property
    def is_dask(self) -> bool:
        """True when units run on a Dask cluster."""
        return self.kind == "dask"

    @property
    def is_local(self) -> bool:
        """True when units run in this process or its own worker processes."""
        return self.kind != "dask"

    def describe(self) -> str:
        """A few words for progress lines and run logs."""
        if self.kind == "serial":
            return "this process"
        if self.kind == "processes":
            return f"{self.workers} local processes"
        if self.scheduler is not None:
            return f"the Dask cluster at {self.scheduler}"
        return f"a Dask LocalCluster of {self.dask_workers} processes"


SERIAL = Backend()
"""Everything in this process."""


def map_units(
    fn: Callable[[U], R],
    units: Sequence[U],
    backend: Backend = SERIAL,
    *,
    retries: int = 3,
) -> Iterator[tuple[U, R]]:
    """Yield ``(unit, fn(unit))`` for every unit, as they complete, on ``backend``.

    Serially (or for a single local unit) everything runs in this process, in order. Local
    processes run at most ``2 * workers`` units at a time, so that an interrupted run leaves
    little in flight; on any exception (Ctrl-C included) pending units are cancelled and the pool
    is shut down before the exception propagates. On Dask a bounded window of units (4 per
    worker thread) is in flight, and a unit whose worker dies is resubmitted up to ``retries``
    times (units are idempotent).

    ``fn`` must be a module-level function of an installed package and the units picklable for
    the process and Dask backends: workers may be spawned, not forked, and see no global state of
    this process.

    Examples
    --------
    >>> sorted(map_units(abs, [-2, 1]))
    [(-2, 2), (1, 1)]
    """
    if backend.is_dask:
        yield from _map_dask(fn, units, backend, retries)
    elif backend.kind == "serial" or len(units) <= 1:
        for unit in units:
            yield unit, fn(unit)
    else:
        yield from _map_processes(fn, units, backend.workers, backend.start_method)


def _context(method: str | None) -> mp.context.BaseContext:
    # fork avoids re-importing grid2op (seconds) in every worker; spawn where fork is missing
    if method is None:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    return mp.get_context(method)


def _die_with_parent(parent: int) -> None:
    """Run in each local worker: end it when the process that started it dies (even by SIGKILL).

    On Linux the kernel sends SIGKILL to the worker when its parent exits
    (``PR_SET_PDEATHSIG``); a parent that died before that was set is caught by its pid.
    Elsewhere workers end when the pool's pipe breaks, as usual.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if os.getppid() != parent:  # the parent is already gone
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _map_processes(
    fn: Callable[[U], R], units: Sequence[U], workers: int, method: str | None
) -> Iterator[tuple[U, R]]:
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(units)),
        mp_context=_context(method),
        initializer=_die_with_parent,
        initargs=(os.getpid(),),
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


def _dask_client(backend: Backend) -> tuple[Any, Any]:
    """A Dask client of ``backend`` and the LocalCluster started for it (None for a scheduler)."""
    from distributed import Client, LocalCluster

    cluster = None
    try:
        if backend.scheduler is not None:
            return Client(backend.scheduler, timeout="10s"), None
        cluster = LocalCluster(
            n_workers=backend.dask_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        return Client(cluster), cluster
    except (OSError, TimeoutError, ValueError) as exc:
        if cluster is not None:
            cluster.close()
        if backend.scheduler is None:
            raise InvalidOption(
                f"dask_workers {backend.dask_workers}: the local Dask cluster did not start "
                f"({exc})",
                param="dask_workers",
            ) from None
        raise InvalidOption(
            f"scheduler {backend.scheduler}: cannot connect ({exc})", param="scheduler"
        ) from None


def check_reachable(backend: Backend) -> None:
    """Connect to the scheduler of ``backend`` (if it has one) and close again.

    An unreachable scheduler then fails, as :class:`InvalidOption` naming it, before the caller
    writes or replaces anything, rather than once the work is submitted.
    """
    if backend.scheduler is None:
        return
    with _quiet_dask():
        client, _cluster = _dask_client(backend)
        client.close()


def _map_dask(
    fn: Callable[[U], R], units: Sequence[U], backend: Backend, retries: int
) -> Iterator[tuple[U, R]]:
    with _quiet_dask():
        yield from _map_dask_quietly(fn, units, backend, retries)


def _map_dask_quietly(
    fn: Callable[[U], R], units: Sequence[U], backend: Backend, retries: int
) -> Iterator[tuple[U, R]]:
    from distributed import as_completed

    client, cluster = _dask_client(backend)
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


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Keep Dask's INFO lines (scheduler start, worker registration) out of the user's terminal."""
    import distributed  # noqa: F401 - its loggers exist once it is imported

    names = [
        name
        for name in ["distributed", "dask", *logging.root.manager.loggerDict]
        if name.split(".")[0] in ("distributed", "dask")
    ]
    loggers = [logging.getLogger(name) for name in dict.fromkeys(names)]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


# --------------------------------------------------------------------------------------------------
# What a worker keeps between units
# --------------------------------------------------------------------------------------------------

_STATE: dict[Hashable, Any] = {}


def worker_state(key: Hashable, build: Callable[[], T]) -> T:
    """The object this process keeps for ``key``, built by ``build()`` the first time.

    One object per process at a time: asking for another key drops the previous one (a worker
    holds one environment, not one per environment it ever saw).
    """
    if key not in _STATE:
        _STATE.clear()
        _STATE[key] = build()
    return _STATE[key]  # type: ignore[no-any-return]


def prime_worker_state(key: Hashable, value: Any) -> None:
    """Make ``value`` this process's state for ``key`` (what it already built for the work).

    Forked workers inherit it; spawned and Dask workers rebuild it from their units.
    """
    _STATE.clear()
    _STATE[key] = value


def clear_worker_state() -> None:
    """Forget this process's worker state (frees its environment)."""
    _STATE.clear()
