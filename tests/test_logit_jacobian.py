"""Exact ∂f/∂Y of the §5 drift (40)–(41) for logit shares (``logit_bvp.drift_derivative``, the
quote map's derivative ``LogitShares.quotes_with_derivative``) against central differences, and
the stochastic regression solve it speeds up unchanged to the Newton tolerance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policies.equilibrium import logit_regression
from policies.equilibrium.logit import LogitGame
from policies.equilibrium.logit_bvp import drift, drift_derivative, drift_jacobian, event_labels
from policies.equilibrium.logit_quotes import build_shares
from tests.test_logit_equilibrium import OFFSETS, game_kwargs, logit_callable
from tests.test_logit_stochastic import FACTOR, GAME

H = 1e-6  # central-difference step
# Central differences of a smooth map: truncation h²·|f'''| ~ 1e-12·O(10²) and rounding
# ε·|f|/h ~ 1e-16·O(10²)/1e-6 ~ 1e-8, relative to 1 + |∂f/∂Y| (which is O(1/β) ~ 10): an exact
# Jacobian agrees to well below 1e-6; a wrong term (a sign, a missing product-rule term) is O(1).
RTOL = 1e-6
# states whose switching functions (a clip, a ±ξ truncation, a tie for the best quote) are
# within MARGIN of a sign change are left out: the differences straddle a kink there
MARGIN = 1e-4


def central(fn, y: np.ndarray) -> np.ndarray:
    """``[..., i, k] = ∂fnᵢ/∂yᵏ`` by central differences of step H."""
    e = np.eye(y.shape[-1]) * H
    return np.stack([(fn(y + e[k]) - fn(y - e[k])) / (2 * H) for k in range(y.shape[-1])], -1)


def relative_error(exact: np.ndarray, approx: np.ndarray) -> np.ndarray:
    scale = 1.0 + np.abs(approx).max((-1, -2))
    return np.abs(exact - approx).max((-1, -2)) / scale


@pytest.mark.parametrize("xi", [1.0, math.inf])
def test_quote_map_derivative_matches_central_differences(xi):
    """∂ψ/∂y and ∂ζ(ψ(y))/∂y of (44) by implicit differentiation against central differences
    of the quote map, on states where ±ξ binds for none, some and all makers; Σᵢ∂ζⁱ = 0."""
    shares = build_shares("logit", 2.0, OFFSETS, 3)
    y = np.random.default_rng(3).normal(0.0, 2.0, size=(400, 3))
    q, ddelta, dzeta = shares.quotes_with_derivative(y, xi)
    base = shares.quotes(y, xi)
    for a, b in zip(q, base, strict=True):
        assert np.array_equal(a, b)
    if math.isfinite(xi):
        gap = np.abs(np.abs(q.untruncated) - xi).min(-1)  # distance to a truncation's kink
        keep = gap > MARGIN
        bound = (np.abs(q.delta) == xi).sum(-1)[keep]
        assert min(np.sum(bound == 0), np.sum(bound == 1), np.sum(bound == 3)) >= 10
    else:
        keep = np.ones(y.shape[0], dtype=bool)
    y, ddelta, dzeta = y[keep], ddelta[keep], dzeta[keep]
    assert relative_error(ddelta, central(lambda z: shares.quotes(z, xi).delta, y)).max() < RTOL
    assert relative_error(dzeta, central(lambda z: shares.quotes(z, xi).shares, y)).max() < RTOL
    assert np.abs(dzeta.sum(-2)).max() < 1e-14


def three_by_three() -> LogitGame:
    """2 buyers and 1 seller with their own impact βⁱ, 3 makers, ξ = 1, rates in [0.1, 5]: at
    Y ~ N(0, 2²) the truncation binds for no, one and every maker, rates clip at both bounds."""
    return LogitGame(
        **game_kwargs(
            trader_inventories=(-4.0, 3.0, -1.0),
            maker_inventories=(2.0, 0.0, -1.0),
            share_offsets=OFFSETS,
            temporary_impact=(0.1, 0.2, 0.15),
            max_spread=1.0,
            min_rate=0.1,
            max_rate=5.0,
        )
    )


def away_from_kinks(pb, t, y, flows) -> np.ndarray:
    """States whose switching functions (``logit_bvp.event_labels``) are all > MARGIN away from
    a sign change, except a tie for the best quote between makers both truncated at the same
    bound (no kink: the quotes are constant there)."""
    d = drift(pb, t, y, events=True, flows=flows)
    labels = event_labels(pb, tuple(str(i) for i in range(pb.n)))
    far = np.abs(d.events) > MARGIN
    for col, (who, kind) in enumerate(labels):
        if kind.startswith("best_"):
            j, k = (int(i) - pb.n_traders for i in who.split("|"))
            quote = d.ask if kind == "best_ask_changes" else d.bid
            pinned = np.abs(quote[:, j]) == pb.max_spread
            far[:, col] |= pinned & (quote[:, j] == quote[:, k])
    return far.all(-1)


@pytest.mark.parametrize("with_flows", [False, True])
@pytest.mark.parametrize("case", ["three_by_three", "untruncated"])
def test_exact_drift_jacobian_matches_central_differences(case, with_flows):
    """∂f/∂Y of (40)–(41) (traders' clipped rates through the best quote, makers' −âζᵃ + b̂ζᵇ)
    against central differences of ``drift``, with the game's noise rates and with rates per
    state (the factor's κ(L)); the Drift values bit-identical to ``drift``'s."""
    game = three_by_three() if case == "three_by_three" else LogitGame(**game_kwargs())
    pb = game.problem
    rng = np.random.default_rng(11)
    m = 1500
    y = rng.normal(0.0, 2.0, size=(m, pb.n))
    t = rng.uniform(0.0, pb.horizon, size=m)
    flows = tuple(rng.uniform(5.0, 25.0, size=(2, m))) if with_flows else None
    d, jac = drift_derivative(pb, t, y, flows=flows)
    for a, b in zip(d, drift(pb, t, y, flows=flows), strict=True):
        assert np.array_equal(a, b)
    keep = away_from_kinks(pb, t, y, flows)
    if case == "three_by_three":
        lo, hi = pb.rate_bounds()
        rate, ask = d.rate[keep], d.ask[keep]
        assert np.sum(rate == lo) >= 10 and np.sum(rate == hi) >= 10
        assert np.sum((rate > lo) & (rate < hi)) >= 10
        bound = (np.abs(ask) == pb.max_spread).sum(-1)
        assert min(np.sum(bound == 0), np.sum(bound == 1), np.sum(bound == 3)) >= 10
    assert keep.sum() >= 200

    def f(z):
        return drift(
            pb, t[keep], z, flows=None if flows is None else (flows[0][keep], flows[1][keep])
        ).dq

    assert relative_error(jac[keep], central(f, y[keep])).max() < RTOL


def test_user_share_function_keeps_the_finite_difference_jacobian():
    """A user ζ has no closed-form quote map: ``drift_derivative`` is ``drift_jacobian``."""
    pb = LogitGame(**game_kwargs(shares=logit_callable, maker_inventories=(2.0, 0.0, 1.0))).problem
    y = np.random.default_rng(5).normal(0.0, 1.0, size=(20, pb.n))
    (d1, j1), (d2, j2) = drift_derivative(pb, 0.3, y), drift_jacobian(pb, 0.3, y)
    assert np.array_equal(j1, j2) and np.array_equal(d1.dq, d2.dq)


def test_regression_solve_is_unchanged_by_the_exact_jacobian(monkeypatch):
    """The implicit steps' Newton converges to the same roots (to 1e-9) with the exact and the
    finite-difference ∂f/∂Y, so a small stochastic solve's values and mean path agree to far
    below the regression's own error."""
    game = LogitGame(**GAME, factor=FACTOR, inventory_noise=0.3)
    options = dict(steps=10, paths=100, tolerance=1e-3)
    exact = game.solve(**options)
    monkeypatch.setattr(logit_regression, "drift_derivative", drift_jacobian)
    differences = game.solve(**options)
    scale = np.abs(exact.value.to_numpy()).max()
    assert np.abs(exact.value.to_numpy() - differences.value.to_numpy()).max() < 1e-6 * scale
    assert np.abs(exact.adjoint - differences.adjoint).max() < 1e-6 * np.abs(exact.adjoint).max()
