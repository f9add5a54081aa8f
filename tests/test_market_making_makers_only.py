"""A best-quote game with makers and no traders (its value is well defined: makers meet the
noise flow only)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from policies.equilibrium.market_making import MarketMakingGame
from simulator import NoiseSpec, simulate
from tests.helpers import maker, scenario

GAMMA, A_BUY, B_SELL, A_PEN = 1.5, 5.0, 4.0, 0.7


def test_single_maker_without_traders_matches_the_closed_form():
    # φ = 0: Y ≡ −2A·Q_T, δᵃ = 1/γ + Y, δᵇ = 1/γ − Y (17), Λ(δ − 0) = e^{−γδ}, so
    # Q' = e^{−1}(−a·e^{−γY} + b·e^{γY}) is constant and Y solves Y = −2A(q₀ + T·Q').
    q0, horizon = 1.0, 1.0

    def drift(y):
        return math.exp(-1.0) * (-A_BUY * math.exp(-GAMMA * y) + B_SELL * math.exp(GAMMA * y))

    y = brentq(lambda y: y + 2 * A_PEN * (q0 + horizon * drift(y)), -10, 10, xtol=1e-15)
    q_t = q0 + horizon * drift(y)
    ask, bid = 1 / GAMMA + y, 1 / GAMMA - y
    cash = horizon * (ask * A_BUY * math.exp(-GAMMA * ask) + bid * B_SELL * math.exp(-GAMMA * bid))
    value = cash - A_PEN * q_t**2
    game = MarketMakingGame(
        horizon=horizon,
        trader_inventories=(),
        maker_inventories=(q0,),
        intensity_decay=GAMMA,
        maker_terminal_penalty=A_PEN,
        noise_buy_rate=A_BUY,
        noise_sell_rate=B_SELL,
    )
    sol = game.solve()
    assert sol.value["maker_0"] == pytest.approx(value, rel=1e-12)
    # Newton stops at |Y(T) + 2AQ(T)| ≤ 1e-10·(1 + 2A|q₀|)
    np.testing.assert_allclose(sol.inventory[-1, 0], q_t, atol=1e-9)


def test_two_makers_without_traders_agree_across_methods_and_simulate():
    game = MarketMakingGame(
        horizon=1.0,
        trader_inventories=(),
        maker_inventories=(1.0, -0.5),
        intensity_decay=GAMMA,
        maker_running_penalty=0.1,
        maker_terminal_penalty=A_PEN,
        noise_buy_rate=A_BUY,
        noise_sell_rate=B_SELL,
    )
    sol = game.solve()
    shoot = game.solve(method="shooting", steps=200)
    colloc = game.solve(method="collocation")
    np.testing.assert_allclose(sol.value, shoot.value, rtol=1e-8)
    np.testing.assert_allclose(sol.value, colloc.value, rtol=1e-7)
    # and from a scenario of makers only (no temporary_impact), simulated with the equilibrium
    sc = scenario(
        "best_quote",
        (),
        (
            maker(0, q0=1.0, policy="equilibrium", phi=0.1, A=A_PEN),
            maker(1, q0=-0.5, policy="equilibrium", phi=0.1, A=A_PEN),
        ),
        steps=200,
        noise=NoiseSpec(buy_rate=A_BUY, sell_rate=B_SELL),
        volatility=0.0,
        intensity_decay=GAMMA,
        max_spread=10.0,
    )
    payoffs = simulate(sc, paths=4, seed=0).payoffs().set_index("agent")["mean"]
    np.testing.assert_allclose(payoffs[["maker_0", "maker_1"]], sol.value, rtol=2e-3)
