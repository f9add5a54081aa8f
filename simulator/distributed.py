"""The distributed engine: one place that opens a Dask cluster for datasets, runs and sweeps.

``open_client()`` starts a :class:`distributed.LocalCluster` on loopback (one single-threaded
worker process per core by default) and closes it on exit; ``open_client(scheduler=ADDRESS)``
connects to an existing cluster and leaves it running. Tasks are pure functions of
``(scenario, seed, coordinates)``, so results never depend on which worker ran them.

Each worker runs one task at a time with one BLAS thread: the work is numpy over paths, and
oversubscribing the cores with BLAS threads only slows the small dense algebra of the solvers.

The workers keep glibc's own memory tuning: Dask's default ``MALLOC_TRIM_THRESHOLD_`` (set before
a worker starts) also switches off glibc's dynamic mmap threshold, so every array above 128 KiB
is mapped afresh and unmapped when freed. A path block allocates many such arrays (numpy over
paths), and the worker then spent a third more CPU on page faults than the same block in one
process (``benchmarks/bench_datasets.py``). A block's arrays are freed when it ends
(:meth:`simulator.model.MarketModel.release`), so the heap a worker keeps is one block's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client

_ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


_TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


def default_workers() -> int:
    """The number of cores this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def open_client(
    workers: int | None = None,
    scheduler: str | None = None,
    *,
    memory_limit: str | int = "auto",
    connect_timeout: float = 10.0,
) -> Iterator[Client]:
    """A Dask client: a new loopback ``LocalCluster`` with ``workers`` processes (default: the
    cores), or the existing cluster at ``scheduler`` (``tcp://host:port``) when given.

    Raises ``ValueError`` for a worker count below 1 or both arguments at once, and
    ``ConnectionError`` (one line, naming the address) when no scheduler answers within
    ``connect_timeout`` seconds.
    """
    if workers is not None and scheduler is not None:
        raise ValueError("give either workers (a local cluster) or scheduler (an existing one)")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers = {workers!r} must be a whole number >= 1")

    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=f"{connect_timeout}s")
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(
                f"no Dask scheduler answered at {scheduler!r} within {connect_timeout:g} s ({exc})"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return

    import dask

    n = workers if workers is not None else default_workers()
    with dask.config.set({_TRIM: None}):  # glibc's default (see the module's docstring)
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # loopback, any free port: never a clash on 8787
            memory_limit=memory_limit,
            env=dict(_ONE_THREAD),
        )
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()
