"""§3/§4 best-quote market: fills at the quoted prices, Λ competition, admissibility clipping."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulator import NoiseSpec, PriceSpec, simulate
from tests.helpers import maker, scenario, trader

GAMMA, BETA = 2.0, 0.2


def _noise_rates(res):
    return res.noise_buy_rate, res.noise_sell_rate


def test_acas_accounting_fills_at_quotes_and_intensity_of_best_other_quote(acas_scenario):
    sc = acas_scenario
    res = simulate(sc, paths=64, seed=4)
    dt = sc.dt
    p = res.reference_price[:-1]
    tr, m0, m1 = (res.agent(n) for n in ("trader_0", "maker_0", "maker_1"))
    a, b = _noise_rates(res)
    # traders: q0 < 0 buys at the best ask and pays λ = βv² (individual cost)
    assert np.all(tr.rate >= 0.5) and np.all(tr.rate <= 10.0)
    best_ask = np.minimum(m0.ask_spread, m1.ask_spread)
    np.testing.assert_array_equal(res.best_ask, best_ask)
    np.testing.assert_allclose(np.diff(tr.inventory, axis=0), tr.rate * dt, rtol=1e-12)
    np.testing.assert_allclose(
        np.diff(tr.cash, axis=0),
        -(p + best_ask) * tr.rate * dt - BETA * tr.rate**2 * dt,
        rtol=1e-11,
        atol=1e-13,
    )
    a_tilde, b_tilde = a + tr.rate, b
    for me, other in ((m0, m1), (m1, m0)):
        sold = a_tilde * np.exp(-GAMMA * (me.ask_spread - other.ask_spread)) * dt
        bought = b_tilde * np.exp(-GAMMA * (me.bid_spread - other.bid_spread)) * dt
        np.testing.assert_allclose(me.sell_volume, sold, rtol=1e-12)
        np.testing.assert_allclose(me.buy_volume, bought, rtol=1e-12)
        np.testing.assert_allclose(
            np.diff(me.inventory, axis=0), bought - sold, rtol=1e-10, atol=1e-13
        )
        np.testing.assert_allclose(
            np.diff(me.cash, axis=0),
            (p + me.ask_spread) * sold - (p - me.bid_spread) * bought,
            rtol=1e-10,
            atol=1e-13,
        )
    noise = res.agent("noise")
    np.testing.assert_allclose(
        np.diff(noise.cash, axis=0),
        -(p + best_ask) * a * dt + (p - res.best_bid) * b * dt,
        rtol=1e-11,
    )
    # the skewed maker's quotes respond to its own inventory (fluid fills do not depend on P,
    # so the inventory is the same on every path but moves in time)
    np.testing.assert_allclose(m1.ask_spread, 0.5 - 0.2 * m1.inventory[:-1], rtol=1e-12)
    assert np.ptp(m1.ask_spread[:, 0]) > 0.01


def test_objective_is_cash_plus_marked_inventory_minus_penalties(acas_scenario):
    res = simulate(acas_scenario, paths=32, seed=9)
    dt, p_t = acas_scenario.dt, res.reference_price[-1]
    for spec in acas_scenario.agents:
        a = res.agent(spec.name)
        q = a.inventory
        running = spec.running_penalty * dt / 3 * (q[:-1] ** 2 + q[:-1] * q[1:] + q[1:] ** 2)
        np.testing.assert_allclose(a.running_cost, running.sum(axis=0), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(a.terminal_cost, spec.terminal_penalty * q[-1] ** 2)
        np.testing.assert_allclose(
            a.objective,
            a.cash[-1] + p_t * q[-1] - a.running_cost - a.terminal_cost,
            rtol=1e-12,
            atol=1e-12,
        )


def test_single_maker_competes_with_the_reference_price():
    # With one maker δ̄ = 0: it sells ã·Λ(δᵃ)·dt = ã·exp(−γδᵃ)·dt.
    sc = scenario(
        "best_quote",
        (trader(0, 3.0, rate=-2.0),),
        (maker(0, ask=0.3, bid=-0.1),),
        noise=NoiseSpec(buy_rate=4.0, sell_rate=1.0),
        temporary_impact=BETA,
        intensity_decay=GAMMA,
        steps=10,
    )
    res = simulate(sc, paths=4, seed=0)
    m = res.agent("maker_0")
    np.testing.assert_allclose(m.sell_volume, 4.0 * np.exp(-GAMMA * 0.3) * sc.dt, rtol=1e-13)
    # the seller (q0 > 0) hits the bids: b̃ = b − v = 1 + 2
    np.testing.assert_allclose(m.buy_volume, 3.0 * np.exp(GAMMA * 0.1) * sc.dt, rtol=1e-13)


def test_three_makers_each_face_the_best_of_the_others_and_callable_intensity():
    quotes = [(0.3, 0.9), (0.1, 0.5), (0.7, 0.2)]
    makers = tuple(maker(j, ask=a, bid=b) for j, (a, b) in enumerate(quotes))
    sc = scenario(
        "best_quote",
        (trader(0, -1.0, rate=1.0),),
        makers,
        noise=NoiseSpec(buy_rate=2.0, sell_rate=2.0),
        temporary_impact=BETA,
        intensity=lambda x: 1.0 / (1.0 + np.exp(3.0 * x)),
        steps=5,
    )
    res = simulate(sc, paths=3, seed=0)
    for j, (a, b) in enumerate(quotes):
        others = [q for k, q in enumerate(quotes) if k != j]
        lam_a = 1.0 / (1.0 + np.exp(3.0 * (a - min(o[0] for o in others))))
        lam_b = 1.0 / (1.0 + np.exp(3.0 * (b - min(o[1] for o in others))))
        m = res.agent(f"maker_{j}")
        np.testing.assert_allclose(m.sell_volume, 3.0 * lam_a * sc.dt, rtol=1e-13)
        np.testing.assert_allclose(m.buy_volume, 2.0 * lam_b * sc.dt, rtol=1e-13)
    np.testing.assert_allclose(res.best_ask, 0.1)
    np.testing.assert_allclose(res.best_bid, 0.2)


def test_rates_and_quotes_are_clipped_to_the_admissible_sets():
    sc = scenario(
        "best_quote",
        (trader(0, -5.0, rate=50.0), trader(1, 5.0, rate=3.0), trader(2, 5.0, rate=-0.1)),
        (maker(0, ask=9.0, bid=-9.0),),
        temporary_impact=BETA,
        max_spread=2.0,
        min_rate=0.5,
        max_rate=10.0,
        steps=4,
    )
    res = simulate(sc, paths=2, seed=0)
    np.testing.assert_array_equal(res.agent("trader_0").rate, 10.0)  # buyer: v ≤ ξ̃
    np.testing.assert_array_equal(res.agent("trader_1").rate, -0.5)  # seller: v ≤ −ε
    np.testing.assert_array_equal(res.agent("trader_2").rate, -0.5)
    m = res.agent("maker_0")
    np.testing.assert_array_equal(m.ask_spread, 2.0)  # |δ| ≤ ξ
    np.testing.assert_array_equal(m.bid_spread, -2.0)


def test_aggregated_temporary_cost_couples_traders():
    c = 0.8
    sc = scenario(
        "best_quote",
        (trader(0, -5.0, rate=2.0), trader(1, -5.0, rate=4.0), trader(2, 5.0, rate=-1.0)),
        (maker(0, ask=0.2, bid=0.3),),
        temporary_impact=BETA,
        temporary_cost="aggregated",
        cost_coupling=c,
        steps=3,
        volatility=0.0,
    )
    res = simulate(sc, paths=2, seed=0)
    dt, v = sc.dt, np.array([2.0, 4.0, -1.0])
    for i in range(3):
        a = res.agent(f"trader_{i}")
        mean_others = (v.sum() - v[i]) / 2
        price = 0.2 if v[i] > 0 else -0.3
        expected = -(price * v[i] + BETA * v[i] * (v[i] + c * mean_others)) * dt
        np.testing.assert_allclose(np.diff(a.cash, axis=0), expected, rtol=1e-12)


def test_poisson_mean_equals_fluid_up_to_inventory_variance_terms():
    # Constant actions, P ≡ 0: cash and inventory are linear in the volumes, and the Poisson
    # volumes have the fluid intensities, so their means agree with fluid within Monte Carlo
    # error (4 standard errors; the seed is fixed). The penalties are quadratic: E[Q²] = (EQ)²
    # + Var Q with Var Q_k = lot·|v|·t_k for the trader, which gives the exact bias
    # A·lot·|v|·T + φ·lot·|v|·dt²·(n(n−1)/2 + n/3) of the objective (see the engine docstring).
    lot, v, phi, A, n = 0.05, 3.0, 0.5, 2.0, 20
    fluid = scenario(
        "best_quote",
        (trader(0, 4.0, rate=-v, phi=phi, A=A),),
        (maker(0, ask=0.2, bid=0.1), maker(1, ask=0.3, bid=0.05)),
        noise=NoiseSpec(buy_rate=2.0, sell_rate=1.5),
        temporary_impact=BETA,
        intensity_decay=GAMMA,
        steps=n,
        volatility=0.0,
    )
    pois = dataclasses.replace(fluid, flow="poisson", lot_size=lot)
    rf = simulate(fluid, paths=1, seed=0)
    rp = simulate(pois, paths=6000, seed=1, record=True)
    dt = fluid.dt

    def close(x_p, x_f, bias=0.0):
        se = x_p.std(ddof=1) / np.sqrt(x_p.size)
        assert abs(x_p.mean() - x_f - bias) < 4 * se + 1e-12, (x_p.mean(), x_f, bias, se)

    for name in ("trader_0", "maker_0", "maker_1", "noise"):
        a_p, a_f = rp.agent(name), rf.agent(name)
        close(a_p.inventory[-1], a_f.inventory[-1, 0])
        close(a_p.cash[-1], a_f.cash[-1, 0])
    bias = -A * lot * v * fluid.horizon - phi * lot * v * dt**2 * (n * (n - 1) / 2 + n / 3)
    close(rp.agent("trader_0").objective, rf.agent("trader_0").objective[0], bias)
    # and the variance shrinks with the lot: Var(Q_T) = lot·|v|·T for the trader
    q_t = rp.agent("trader_0").inventory[-1]
    assert q_t.var(ddof=1) == pytest.approx(lot * v * fluid.horizon, rel=0.1)  # 6000 paths: ±4%


def test_price_level_does_not_change_maker_spread_income():
    # Makers earn δ·volume + P·(net sales); with P ≡ P0 and the objective marking inventory at
    # P_T = P0, J does not depend on P0 (the reference price is a martingale).
    base = scenario(
        "best_quote",
        (trader(0, -2.0, rate=1.0),),
        (maker(0, ask=0.2, bid=0.1),),
        noise=NoiseSpec(buy_rate=1.0, sell_rate=1.0),
        temporary_impact=BETA,
        steps=8,
        volatility=0.0,
    )
    shifted = dataclasses.replace(base, price=PriceSpec(initial=100.0, volatility=0.0))
    r0, r1 = simulate(base, paths=2, seed=0), simulate(shifted, paths=2, seed=0)
    np.testing.assert_allclose(
        r1.agent("maker_0").objective, r0.agent("maker_0").objective, rtol=1e-10
    )
    np.testing.assert_allclose(
        r1.agent("trader_0").objective, r0.agent("trader_0").objective + 100.0 * -2.0, rtol=1e-10
    )
