"""§5 logit market: shares ζ = softmax(−ςδ + o), volume conservation, ε·dW, the factor L."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from simulator import FactorSpec, NoiseSpec, market_spec, simulate
from tests.helpers import maker, scenario, trader

SIGMA, OFFSETS = 1.5, (0.0, 0.4, -0.3)
FACTOR = FactorSpec(
    initial=0.5,
    mean=-0.2,
    reversion=2.0,
    volatility=0.8,
    buy_base=3.0,
    sell_base=2.0,
    buy_loading=0.7,
    sell_loading=-0.4,
    cap=6.0,
)


def _logit(flow="fluid", lot=1.0, eps=0.0, steps=30):
    traders = (trader(0, -6.0, rate=3.0, phi=0.1), trader(1, 4.0, rate=-2.0, A=1.0))
    makers = (
        maker(0, ask=0.4, bid=0.6),
        maker(1, policy="test_skewed_spread", spread=0.5, skew=0.3),
        maker(2, ask=0.2, bid=0.9, A=0.5),
    )
    return scenario(
        "logit",
        traders,
        makers,
        noise=NoiseSpec(factor=FACTOR),
        steps=steps,
        temporary_impact=0.2,
        share_sharpness=SIGMA,
        share_offsets=OFFSETS,
        inventory_noise=eps,
        min_rate=0.5,
        max_rate=8.0,
        max_spread=2.0,
        flow=flow,
        lot_size=lot,
    )


def _sides(res):
    makers = [a for a in res.agents if a.role == "maker"]
    others = [a for a in res.agents if a.role != "maker"]
    return makers, others


@pytest.mark.parametrize(("flow", "lot"), [("fluid", 1.0), ("poisson", 0.05)])
def test_maker_volume_equals_trader_plus_noise_volume(flow, lot):
    res = simulate(_logit(flow, lot), paths=300, seed=3)
    makers, others = _sides(res)
    sold = sum(m.sell_volume for m in makers)
    bought = sum(m.buy_volume for m in makers)
    # every market buy order is filled by some maker's sale and vice versa; fluid shares sum to
    # one up to rounding (1e-15), Poisson orders are split multinomially: exact in lot counts
    np.testing.assert_allclose(sold, sum(o.buy_volume for o in others), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(bought, sum(o.sell_volume for o in others), rtol=1e-13, atol=1e-13)
    if flow == "poisson":
        for m in makers:
            lots = m.sell_volume / lot
            np.testing.assert_allclose(lots, np.rint(lots), atol=1e-9)


def test_fluid_shares_are_softmax_of_quotes_and_cash_at_own_quotes():
    res = simulate(_logit(), paths=16, seed=2)
    makers, others = _sides(res)
    dt = res.scenario.dt
    asks = np.stack([m.ask_spread for m in makers])
    bids = np.stack([m.bid_spread for m in makers])
    off = np.asarray(OFFSETS).reshape(-1, 1, 1)
    zeta_a = np.exp(-SIGMA * asks + off) / np.exp(-SIGMA * asks + off).sum(axis=0)
    zeta_b = np.exp(-SIGMA * bids + off) / np.exp(-SIGMA * bids + off).sum(axis=0)
    a_tilde = res.noise_buy_rate + res.agent("trader_0").rate  # the buyer (q0 < 0)
    b_tilde = res.noise_sell_rate - res.agent("trader_1").rate  # the seller (q0 > 0)
    p = res.reference_price[:-1]
    for j, m in enumerate(makers):
        np.testing.assert_allclose(m.sell_volume, zeta_a[j] * a_tilde * dt, rtol=1e-12)
        np.testing.assert_allclose(m.buy_volume, zeta_b[j] * b_tilde * dt, rtol=1e-12)
        np.testing.assert_allclose(
            np.diff(m.cash, axis=0),
            (p + m.ask_spread) * m.sell_volume - (p - m.bid_spread) * m.buy_volume,
            rtol=1e-10,
            atol=1e-13,
        )
    t1 = res.agent("trader_1")
    best_bid = bids.min(axis=0)
    np.testing.assert_allclose(res.best_bid, best_bid)
    np.testing.assert_allclose(
        np.diff(t1.cash, axis=0), -(p - best_bid) * t1.rate * dt - 0.2 * t1.rate**2 * dt, rtol=1e-11
    )


def test_inventory_noise_adds_independent_eps_dw_to_every_strategic_inventory():
    eps, m_paths = 0.3, 4000
    res = simulate(_logit(eps=eps, steps=10), paths=m_paths, seed=8)
    dt = res.scenario.dt
    noises = []
    for a in res.agents:
        shock = np.diff(a.inventory, axis=0) - (a.buy_volume - a.sell_volume)
        if a.role == "noise":
            np.testing.assert_allclose(shock, 0.0, atol=1e-13)
            continue
        noises.append(shock[-1])
        # sample variance of 4000 N(0, ε²dt) draws: relative SE √(2/4000) ≈ 2.2 %, allow 10 %
        assert shock.var() == pytest.approx(eps**2 * dt, rel=0.1)
    corr = np.corrcoef(np.stack(noises))
    assert np.abs(corr - np.eye(len(noises))).max() < 0.08  # |ρ̂| ≲ 4/√4000 for independence


def test_factor_is_exact_ou_and_noise_rates_are_capped_kappa_of_l():
    # exact OU transition: L_T ~ N(μ + (L0 − μ)e^{−θT}, σ²(1 − e^{−2θT})/(2θ)) for any dt
    m_paths = 8000
    res = simulate(_logit(steps=5), paths=m_paths, seed=6, record=True)
    lt = res.noise_factor[-1]
    th, mu, sd = FACTOR.reversion, FACTOR.mean, FACTOR.volatility
    mean = mu + (FACTOR.initial - mu) * math.exp(-th)
    var = sd**2 * (1 - math.exp(-2 * th)) / (2 * th)
    assert abs(lt.mean() - mean) < 4 * math.sqrt(var / m_paths)
    assert lt.var() == pytest.approx(var, rel=4 * math.sqrt(2 / m_paths))
    lk = res.noise_factor[:-1]
    np.testing.assert_allclose(res.noise_buy_rate, np.minimum(3.0 * np.exp(0.7 * lk), 6.0))
    np.testing.assert_allclose(res.noise_sell_rate, np.minimum(2.0 * np.exp(-0.4 * lk), 6.0))
    assert res.noise_buy_rate.max() == 6.0  # the cap binds on some paths


def test_factor_callables_use_euler_maruyama():
    f = dataclasses.replace(FACTOR, drift=lambda t, x: -x, diffusion=lambda t, x: 0.0 * x)
    sc = dataclasses.replace(_logit(steps=4), noise=NoiseSpec(factor=f))
    res = simulate(sc, paths=3, seed=0)
    # deterministic Euler: L_{k+1} = L_k (1 − dt)
    np.testing.assert_allclose(res.noise_factor[:, 0], 0.5 * (1 - 0.25) ** np.arange(5))


def test_poisson_maker_volumes_have_the_fluid_means():
    # Deterministic noise rates and constant actions: each maker's expected volume per step is
    # ζ·(a + v)·dt in both modes (multinomial thinning of Poisson arrivals keeps the mean), so
    # the totals agree within 4 Monte Carlo standard errors (fixed seed).
    fluid = scenario(
        "logit",
        (trader(0, -6.0, rate=3.0),),
        (maker(0, ask=0.4, bid=0.6), maker(1, ask=0.1, bid=0.2)),
        noise=NoiseSpec(buy_rate=2.0, sell_rate=(1.0, 3.0)),
        steps=20,
        temporary_impact=0.2,
        share_sharpness=SIGMA,
        share_offsets=(0.2, 0.0),
    )
    pois = dataclasses.replace(fluid, flow="poisson", lot_size=0.1)
    rf, rp = simulate(fluid, paths=1, seed=0), simulate(pois, paths=3000, seed=5)
    for name in ("maker_0", "maker_1"):
        for side in ("sell_volume", "buy_volume"):
            total_p = getattr(rp.agent(name), side).sum(axis=0)
            total_f = getattr(rf.agent(name), side).sum()
            se = total_p.std(ddof=1) / np.sqrt(total_p.size)
            assert abs(total_p.mean() - total_f) < 4 * se, (name, side)


def _with_shares(shares, flow="fluid"):
    base = _logit(flow=flow, lot=0.05)
    market = dataclasses.replace(base.market, shares=shares)
    return dataclasses.replace(base, market=market)


@pytest.mark.parametrize("flow", ["fluid", "poisson"])
def test_user_share_callable_equal_to_the_logit_reproduces_it_bit_for_bit(flow):
    offsets = np.asarray(OFFSETS)[:, None]

    def logit(deltas: np.ndarray) -> np.ndarray:  # the same arithmetic as the built-in ζ
        z = deltas * -SIGMA + offsets
        z -= z.max(axis=0, keepdims=True)
        z = np.exp(z)
        return z / z.sum(axis=0, keepdims=True)

    builtin = simulate(_with_shares("logit", flow), paths=64, seed=5)
    user = simulate(_with_shares(logit, flow), paths=64, seed=5)
    for a, b in zip(builtin.agents, user.agents, strict=True):
        np.testing.assert_array_equal(a.objective, b.objective)
        np.testing.assert_array_equal(a.inventory, b.inventory)


def test_user_share_callable_gives_volume_to_the_best_quote_only():
    def winner_takes_all(deltas: np.ndarray) -> np.ndarray:
        return (deltas == deltas.min(axis=0, keepdims=True)) / np.sum(
            deltas == deltas.min(axis=0, keepdims=True), axis=0, keepdims=True
        )

    res = simulate(_with_shares(winner_takes_all), paths=4, seed=0)
    ask = np.stack([res.agent(f"maker_{j}").ask_spread for j in range(3)])
    sold = np.stack([res.agent(f"maker_{j}").sell_volume for j in range(3)])
    best = ask == ask.min(axis=0, keepdims=True)
    assert np.all(sold[~best] == 0.0) and np.all(sold[best] > 0.0)


def test_user_shares_off_the_simplex_raise_naming_the_field():
    with pytest.raises(ValueError, match=r"market\.shares .*Σζ = 1"):
        simulate(_with_shares(lambda d: np.full_like(d, 0.5)), paths=2, seed=0)
    with pytest.raises(ValueError, match=r"market\.shares .* only used by market\.kind = 'logit'"):
        market_spec("best_quote", temporary_impact=0.1, shares=np.exp)
