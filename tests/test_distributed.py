"""The Dask entry point starts a real loopback LocalCluster and runs tasks on its workers."""

from __future__ import annotations

import os

import pytest

from simulator.distributed import open_client


def _pid_and_threads(_: int) -> tuple[int, str]:
    return os.getpid(), os.environ.get("OPENBLAS_NUM_THREADS", "")


def test_local_cluster_runs_tasks_in_worker_processes_with_one_blas_thread() -> None:
    with open_client(workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        results = client.gather(client.map(_pid_and_threads, range(8)))
    assert all(pid != os.getpid() for pid, _ in results)
    assert {threads for _, threads in results} == {"1"}


def _malloc_trim(_: int) -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_workers_keep_glibc_memory_tuning(monkeypatch) -> None:
    """Dask sets MALLOC_TRIM_THRESHOLD_ in its workers (and in the process that starts them),
    which switches off glibc's dynamic mmap threshold: every large array faulted in afresh, a
    third more CPU per dataset block. Our clusters leave glibc's default, here and there."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with open_client(workers=1) as client:
        seen = set(client.gather(client.map(_malloc_trim, range(2))))
    assert seen == {None}
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ


def test_connecting_to_an_existing_cluster_by_address_leaves_it_running() -> None:
    with open_client(workers=1) as owner:
        address = owner.scheduler.address
        with open_client(scheduler=address) as guest:
            assert guest.submit(sum, [1, 2, 3]).result() == 6
        assert owner.submit(sum, [4, 5]).result() == 9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, "workers = 0 must be a whole number >= 1"),
        ({"workers": 1, "scheduler": "tcp://127.0.0.1:1"}, "either workers"),
    ],
)
def test_bad_cluster_arguments_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message), open_client(**kwargs):
        pass


def test_an_unreachable_scheduler_is_one_clear_error() -> None:
    with pytest.raises(ConnectionError, match="no Dask scheduler answered at 'tcp://127.0.0.1:9'"):
        with open_client(scheduler="tcp://127.0.0.1:9", connect_timeout=1.0):
            pass
