"""§2 impact market: the fluid engine charges the exact integrals for piecewise-constant rates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulator import NoiseSpec, PriceSpec, simulate
from tests.helpers import scenario, trader

ALPHA, BETA, PI = 0.3, 0.5, 0.6
RATES = (-8.0, 3.0, -1.5)
Q0 = (10.0, -4.0, 2.0)
PHI, A = (0.2, 0.0, 0.4), (1.0, 2.0, 0.0)
NOISE_A, NOISE_B = 2.0, 0.5


def _impact_scenario(steps: int, **kw):
    traders = tuple(trader(i, Q0[i], phi=PHI[i], A=A[i], rate=RATES[i]) for i in range(3))
    return scenario(
        "impact",
        traders,
        steps=steps,
        horizon=2.0,
        permanent_impact=ALPHA,
        temporary_impact=BETA,
        cross_impact=PI,
        noise=NoiseSpec(buy_rate=NOISE_A, sell_rate=NOISE_B),
        **kw,
    )


def _closed_form(i: int, horizon: float, p0: float) -> float:
    """J for constant rates with P ≡ P0 (continuous time, Guo & Jin §2 objective
    J = −∫Ŝ v dt + S_T Q_T − ∫φQ² dt − A Q_T²): S_t = P0 + c·t with c = α/N·Σv + α(a − b),
    Ŝ = S + β/N(vᵢ + π Σ_{j≠i} vⱼ), so J = P0 q0 + c q0 T + c vᵢ T²/2
    − β/N(vᵢ + πΣ_{j≠i}vⱼ) vᵢ T − φ∫(q0 + vᵢt)²dt − A(q0 + vᵢT)²."""
    n, v, q0, t = len(RATES), RATES[i], Q0[i], horizon
    c = ALPHA / n * sum(RATES) + ALPHA * (NOISE_A - NOISE_B)
    temp = BETA / n * (v + PI * (sum(RATES) - v))
    qt = q0 + v * t
    running = PHI[i] * (qt**3 - q0**3) / (3 * v)
    return p0 * q0 + c * q0 * t + c * v * t**2 / 2 - temp * v * t - running - A[i] * qt**2


@pytest.mark.parametrize("steps", [1, 7, 40])
def test_fluid_payoff_of_constant_rates_equals_closed_form_integral_at_any_step_count(steps):
    # Exactness of the discretisation: for piecewise-constant (here constant) rates the engine
    # charges the exact integrals, so J matches the continuous formula to rounding (1e-10),
    # whatever dt. The martingale part P_T q0 + Σ_k (P_T − P_k) v dt is removed path by path.
    sc = _impact_scenario(steps)
    sc = dataclasses.replace(sc, price=PriceSpec(initial=2.5, volatility=0.7))
    res = simulate(sc, paths=16, seed=5)
    p = res.reference_price
    for i in range(3):
        a = res.agent(f"trader_{i}")
        martingale = (p[-1] - 2.5) * Q0[i] + ((p[-1] - p[:-1]) * RATES[i] * sc.dt).sum(axis=0)
        np.testing.assert_allclose(
            a.objective - martingale, _closed_form(i, 2.0, 2.5), rtol=1e-10, atol=1e-10
        )


def test_fills_and_cash_match_the_step_prices_and_price_consistency():
    sc = _impact_scenario(25)
    res = simulate(sc, paths=8, seed=2)
    dt, n = sc.dt, len(RATES)
    s = res.market_price
    p = res.reference_price
    # S = P + I + ϖ moves by Δ + ω = α/N Σ v dt + α (a − b) dt each step
    drift = (ALPHA / n * sum(RATES) + ALPHA * (NOISE_A - NOISE_B)) * dt
    np.testing.assert_allclose(np.diff(s - p, axis=0), drift, rtol=1e-12)
    mid = s[:-1] + 0.5 * drift
    total_price_volume = np.zeros_like(mid)
    for i in range(n):
        a = res.agent(f"trader_{i}")
        vol = a.buy_volume - a.sell_volume
        np.testing.assert_allclose(np.diff(a.inventory, axis=0), vol, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(vol, a.rate * dt, rtol=1e-12)
        # price of trader i: mid + β/N (vᵢ + π Σ_{j≠i} vⱼ)
        price = mid + BETA / n * (RATES[i] + PI * (sum(RATES) - RATES[i]))
        np.testing.assert_allclose(np.diff(a.cash, axis=0), -price * vol, rtol=1e-11, atol=1e-12)
        total_price_volume += price * vol
    # Σᵢ priceᵢ·volᵢ = mid·Σvol + β/N[(1−π)Σv² + π(Σv)²]·dt  (aggregate consistency)
    v = np.asarray(RATES)
    expected = mid * v.sum() * dt + BETA / n * ((1 - PI) * (v**2).sum() + PI * v.sum() ** 2) * dt
    np.testing.assert_allclose(total_price_volume, expected, rtol=1e-11)
    noise = res.agent("noise")
    np.testing.assert_allclose(noise.buy_volume, NOISE_A * dt)
    np.testing.assert_allclose(
        np.diff(noise.cash, axis=0), -mid * (NOISE_A - NOISE_B) * dt, rtol=1e-11
    )


def test_feedback_policy_sees_its_inventory_and_liquidates():
    sc = scenario(
        "impact",
        (trader(0, 6.0, policy="test_feedback"),),
        steps=30,
        permanent_impact=0.1,
        temporary_impact=0.2,
    )
    res = simulate(sc, paths=4, seed=0)
    a = res.agent("trader_0")
    # v = −Q/(T − t) held on each step liquidates exactly: Q_k = q0 (1 − k/n)
    np.testing.assert_allclose(a.inventory[:, 0], 6.0 * (1 - res.time / sc.horizon), atol=1e-12)


def test_poisson_impact_volumes_are_lots_with_fluid_means():
    # The trader's volume per step is lot × Poisson(|v| dt / lot): integer multiples of the lot
    # whose total over 40 steps × 4000 paths has mean |v|T (fluid) within 4 standard errors.
    sc = dataclasses.replace(_impact_scenario(40), flow="poisson", lot_size=0.25)
    res = simulate(sc, paths=4000, seed=11)
    a = res.agent("trader_0")
    lots = a.sell_volume / 0.25
    np.testing.assert_allclose(lots, np.rint(lots), atol=1e-9)
    sold = a.sell_volume.sum(axis=0)
    se = sold.std(ddof=1) / np.sqrt(sold.size)
    assert abs(sold.mean() - 8.0 * 2.0) < 4 * se


def test_poisson_own_lots_cost_half_their_permanent_impact():
    # One seller at constant rate v, no noise, σ = 0: in Poisson mode the step's permanent impact
    # is that of the realised lots, and fills pay the step-average price, so E[cash] moves by
    # −½·(α/N)·lot·|v|·T (the seller's lots push its own fill price down by half their impact)
    # — exactly: E[X²] = Var X + (EX)² for the Poisson volume X. Tolerance: 4 standard errors.
    alpha, lot, v, horizon = 0.4, 0.5, -4.0, 1.0
    seller = (trader(0, 4.0, rate=v),)
    fluid = scenario(
        "impact",
        seller,
        steps=20,
        horizon=horizon,
        permanent_impact=alpha,
        temporary_impact=0.3,
        volatility=0.0,
    )
    poisson = dataclasses.replace(fluid, flow="poisson", lot_size=lot)
    cash_fluid = simulate(fluid, paths=1, seed=0).agent("trader_0").cash[-1, 0]
    cash = simulate(poisson, paths=20000, seed=3, record=20000).agent("trader_0").cash[-1]
    se = cash.std(ddof=1) / np.sqrt(cash.size)
    expected = cash_fluid - 0.5 * alpha * lot * abs(v) * horizon
    assert abs(cash.mean() - expected) < 4 * se
    assert abs(cash.mean() - cash_fluid) > 4 * se  # the effect is resolved, not noise
