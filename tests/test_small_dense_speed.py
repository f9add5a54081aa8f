"""Small dense linear algebra: one BLAS thread inside the solvers, closed-form 2×2 exponentials,
O(N) trader classes (the §2 N = 10⁶ case; timings live in benchmarks/bench_execution.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm
from threadpoolctl import threadpool_info, threadpool_limits

import policies.equilibrium.execution_propagator as propagator
from policies.equilibrium.execution import ExecutionGame
from policies.equilibrium.execution_riccati import TraderClasses


def _blas_threads() -> int:
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def test_section_2_propagators_run_on_one_blas_thread_whatever_the_callers_setting(monkeypatch):
    seen = []

    def probe(a):
        seen.append(_blas_threads())
        return expm(a)

    monkeypatch.setattr(propagator, "expm", probe)
    game = ExecutionGame(
        horizon=1.0,
        permanent_impact=0.3,
        temporary_impact=0.5,
        terminal_penalty=1.0,
        running_penalty=np.array([0.1, 0.2, 0.2, 0.3]),
        initial_inventory=np.array([1.0, -2.0, 0.5, 3.0]),
    )
    with threadpool_limits(limits=2, user_api="blas"):
        sol = game.solve()
        sol.feedback(0.3, game.initial_inventory)
        assert _blas_threads() == 2  # the caller's setting is restored
    assert seen and max(seen) == 1


def test_closed_form_2x2_exponential_matches_pade():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 2, 2)) * rng.choice([1e-7, 0.1, 1.0, 2.0], size=(400, 1, 1))
    a[:5] = [[1.0, 2.0], [-3.0, 1.0]]  # complex eigenvalues (d² < 0)
    a[5] = [[0.3, 1.0], [0.0, 0.3]]  # a Jordan block (d = 0)
    got = propagator.expm_2x2(a)
    want = np.array([expm(x) for x in a])
    scale = np.abs(want).max(axis=(1, 2), keepdims=True)
    assert np.max(np.abs(got - want) / scale) < 1e-12


@pytest.mark.parametrize("terminal", ["constant", "two values"])
def test_trader_classes_group_equal_penalties_ordered_by_phi_then_a(terminal):
    rng = np.random.default_rng(1)
    n = 5000
    phi = rng.choice([0.3, 0.1, 0.2, 0.25], size=n)
    a = np.ones(n) if terminal == "constant" else rng.choice([2.0, 1.0], size=n)
    cl = TraderClasses.detect(phi, a)
    pairs = sorted(set(zip(phi.tolist(), a.tolist(), strict=True)))
    assert list(zip(cl.running_penalty, cl.terminal_penalty, strict=True)) == pairs
    np.testing.assert_array_equal(cl.running_penalty[cl.labels], phi)
    np.testing.assert_array_equal(cl.terminal_penalty[cl.labels], a)
    np.testing.assert_array_equal(cl.sizes, np.bincount(cl.labels))
    x = rng.normal(size=(3, n))
    want = np.stack([np.bincount(cl.labels, weights=row) for row in x])
    np.testing.assert_allclose(cl.sums(x), want, rtol=1e-12)
