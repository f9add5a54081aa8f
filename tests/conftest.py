"""Test configuration: single-threaded BLAS, the ``test_*`` policies, shared fixtures.

Builders and the test policies live in :mod:`tests.helpers`; importing it registers the
policies before any test module is collected.
"""

from __future__ import annotations

import os
import signal

# Pin BLAS/OpenMP to one thread before numpy is imported (this conftest is loaded before any
# test module): the suite's matrix operations are small, and on this shared 2-core machine a
# multithreaded BLAS made them 10–40× slower. ``setdefault`` keeps an explicit user setting.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402

from simulator.scenario import NoiseSpec, Scenario  # noqa: E402
from tests.helpers import maker, scenario, trader  # noqa: E402  (registers the test policies)


@pytest.fixture
def acas_scenario() -> Scenario:
    """§4 ACAS market: one buyer, a constant and an inventory-skewed maker, time-varying noise."""
    return scenario(
        "acas",
        (trader(0, -5.0, rate=4.0, phi=0.1, A=1.0),),
        (
            maker(0, ask=0.4, bid=0.6, phi=0.05, A=0.5),
            maker(1, policy="test_skewed_spread", spread=0.5, skew=0.2),
        ),
        noise=NoiseSpec(buy_rate=3.0, sell_rate=(2.0, 4.0)),
        temporary_impact=0.2,
        intensity_decay=2.0,
        max_spread=3.0,
        min_rate=0.5,
        max_rate=10.0,
    )


@pytest.fixture(scope="session")
def cluster():
    """One real 2-worker loopback Dask ``LocalCluster`` shared by the dataset tests (its
    scheduler address): a cluster costs seconds to start on a loaded machine."""
    from simulator.distributed import open_client

    with open_client(workers=2) as client:
        yield client.scheduler.address


@pytest.fixture
def ctrl_c_handled():
    """Python's own Ctrl-C handler (``KeyboardInterrupt``) in this process for the test: a
    shell that runs a job in the background makes it ignore SIGINT, and children inherit that."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
