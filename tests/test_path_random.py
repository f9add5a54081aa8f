"""Poisson counts by inversion: the exact quantile, one uniform per count, path by path."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulator.processes import BLOCK, POISSON, PathRandom, poisson_quantile


def test_poisson_quantile_is_the_exact_inverse_cdf():
    rng = np.random.default_rng(0)
    lam = np.concatenate(
        [[0.0, 1e-12, 0.3, 9.99, 10.0, 10.01, 47.0, 1e4, 3e9], rng.random(200) * 60]
    )
    u = rng.random((50, lam.size))
    u[0] = 0.0
    u[1] = np.nextafter(1.0, 0.0)
    lam = np.broadcast_to(lam, u.shape)
    got = poisson_quantile(u, lam, np.empty(u.shape))
    want = stats.poisson.ppf(u, lam)
    want[0] = 0.0  # scipy's ppf(0) is -1 (the support's lower end minus one)
    # the search accumulates the CDF in float64: it may differ from scipy's incomplete gamma
    # only when u lies within rounding (1e-13) of a CDF step
    cdf_gap = np.minimum(
        np.abs(stats.poisson.cdf(want, lam) - u), np.abs(stats.poisson.cdf(want - 1, lam) - u)
    )
    mismatch = got != want
    assert not mismatch[cdf_gap > 1e-13].any()
    assert mismatch.mean() < 0.01
    assert np.all(got[1] >= lam[1]) and np.all(got[1] < lam[1] + 40 * np.sqrt(lam[1]) + 40)


def test_poisson_quantile_has_the_poisson_law():
    rng = np.random.default_rng(1)
    for lam in (0.05, 4.0, 25.0):
        counts = poisson_quantile(rng.random(200_000), np.full(200_000, lam), np.empty(200_000))
        se = np.sqrt(lam / counts.size)
        assert abs(counts.mean() - lam) < 4 * se
        assert abs(counts.var() / lam - 1) < 0.03


def test_poisson_quantile_nan_and_bounds():
    out = poisson_quantile(np.array([0.5, 0.5]), np.array([np.nan, 2.0]), np.empty(2))
    assert np.isnan(out[0]) and out[1] == 2.0
    with pytest.raises(ValueError, match="Poisson mean -1.0 is outside"):
        poisson_quantile(np.array([0.5]), np.array([-1.0]), np.empty(1))
    with pytest.raises(ValueError, match="outside"):
        poisson_quantile(np.array([0.5]), np.array([np.inf]), np.empty(1))


def test_poisson_may_overwrite_its_means():
    lam = np.full((2, 5), 3.0)
    expected = PathRandom(3, 0, 5).poisson(0, lam, np.empty((2, 5)))
    np.testing.assert_array_equal(PathRandom(3, 0, 5).poisson(0, lam, lam), expected)


@pytest.mark.parametrize(("start", "stop"), [(0, 3000), (7, 1500), (1023, 1025), (2048, 2100)])
def test_every_draw_of_a_path_depends_only_on_seed_and_index(start, stop):
    whole = PathRandom(9, 0, 3 * BLOCK)
    part = PathRandom(9, start, stop)
    lam = np.linspace(0.0, 30.0, 3 * BLOCK)  # a different mean on every path
    lam = np.stack([lam, lam[::-1]])
    for step in (0, 1, 63, 64, 200):
        np.testing.assert_array_equal(
            part.normal(POISSON + 1, step), whole.normal(POISSON + 1, step)[start:stop]
        )
        a = whole.poisson(step, lam, np.empty_like(lam))
        b = part.poisson(step, lam[:, start:stop], np.empty((2, stop - start)))
        np.testing.assert_array_equal(b, a[:, start:stop])
