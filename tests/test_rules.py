"""One implementation of each market rule (simulator.mechanisms.rules), used by the engine and
by the best-response code: both are run on the same inputs and must agree.

The engine plays fixed schedules (open loop, σ = 0, fluid flow, so every path is the expected
one) and its objectives are compared with the payoffs that the Nash-gap code computes for the
same schedules; the rules themselves are checked against their definitions.
"""

from __future__ import annotations

import numpy as np
import pytest

from policies.equilibrium.adapters import discrete_best_quote_game, execution_game
from policies.equilibrium.execution_nash import execution_payoffs
from policies.equilibrium.market_making_nash import profile_payoffs, trader_best_response
from simulator import simulate
from simulator.mechanisms import rules
from simulator.nash_gap import SchedulePolicy, nash_gap
from simulator.scenario import NoiseSpec
from tests.helpers import maker, trader
from tests.helpers import scenario as build_scenario

STEPS = 40


def _play(scn, rates: np.ndarray, quotes: np.ndarray | None = None):
    """Simulate one path of ``scn`` with every agent playing its row of the schedules."""
    policies = {
        a.name: SchedulePolicy("trader", "schedule", rates[i]) for i, a in enumerate(scn.traders)
    }
    for j, a in enumerate(scn.makers):
        policies[a.name] = SchedulePolicy("maker", "schedule", quotes[j])
    return simulate(scn, paths=1, seed=0, policies=policies)


def test_best_quote_market_engine_and_best_response_code_agree():
    # three makers (the general best-other-quote rule), two buyers and a seller, aggregated λ,
    # running penalties (the exact ∫φQ²): every rule of the §3 market is exercised
    scn = build_scenario(
        "best_quote",
        (trader(0, -3.0, phi=0.3, A=1.0), trader(1, -1.0, phi=0.1, A=2.0), trader(2, 2.0, A=1.0)),
        (maker(0, 1.0, phi=0.2, A=1.0), maker(1, -1.0, A=0.5), maker(2, 0.0, phi=0.1, A=1.0)),
        steps=STEPS,
        volatility=0.0,
        noise=NoiseSpec(buy_rate=(2.0, 3.0), sell_rate=1.5),
        temporary_impact=0.4,
        temporary_cost="aggregated",
        cost_coupling=0.7,
        intensity_decay=1.5,
        max_spread=2.0,
        min_rate=0.2,
        max_rate=6.0,
    )
    rng = np.random.default_rng(3)
    rates = rng.uniform(0.5, 5.0, (3, STEPS)) * np.array([[1.0], [1.0], [-1.0]])
    quotes = rng.uniform(-0.5, 1.5, (3, STEPS, 2))
    res = _play(scn, rates, quotes)
    market = discrete_best_quote_game(scn)
    expected = profile_payoffs(market, rates, quotes).set_index("agent")["payoff"]
    for name, value in expected.items():
        assert res.agent(name).objective[0] == pytest.approx(value, rel=1e-12, abs=1e-12), name
    admissible = market.admissible_quotes(quotes)
    np.testing.assert_array_equal(res.best_ask[:, 0], rules.best_quote(admissible[:, :, 0]))
    np.testing.assert_array_equal(res.best_bid[:, 0], rules.best_quote(admissible[:, :, 1]))


def test_impact_market_engine_and_best_response_code_agree():
    scn = build_scenario(
        "impact",
        (trader(0, 4.0, phi=0.3, A=1.0), trader(1, -2.0, phi=0.1, A=2.0), trader(2, 1.0, A=0.5)),
        steps=STEPS,
        volatility=0.0,
        noise=NoiseSpec(buy_rate=(1.0, 2.0), sell_rate=0.5),
        permanent_impact=0.3,
        temporary_impact=0.5,
        cross_impact=0.6,
    )
    rates = np.random.default_rng(4).normal(0.0, 3.0, (3, STEPS))
    res = _play(scn, rates)
    payoffs = execution_payoffs(execution_game(scn), rates.T)
    for i, a in enumerate(scn.traders):
        assert res.agent(a.name).objective[0] == pytest.approx(payoffs[i], rel=1e-12, abs=1e-12)


def test_best_other_quote_and_best_quote_follow_their_definitions():
    q = np.random.default_rng(5).normal(size=(4, 2, 7))
    q[1, 0, 0] = q[2, 0, 0] = q[:, 0, 0].min() - 1.0  # a tie at the best quote
    others = rules.best_other_quote(q, axis=0)
    for j in range(4):
        np.testing.assert_array_equal(others[j], np.delete(q, j, axis=0).min(axis=0))
    np.testing.assert_array_equal(
        rules.best_other_quote(np.moveaxis(q, 0, -1), axis=-1), np.moveaxis(others, 0, -1)
    )
    np.testing.assert_array_equal(rules.best_other_quote(q[:1]), np.zeros_like(q[:1]))
    np.testing.assert_array_equal(rules.best_quote(q), q.min(axis=0))


def test_temporary_cost_and_running_penalty_follow_their_definitions():
    v = np.array([[1.0, -2.0], [3.0, 0.5], [-1.5, 2.0]])  # (traders, paths)
    beta, c = 0.4, 0.9
    mean_others = (v.sum(axis=0) - v) / 2
    np.testing.assert_allclose(
        rules.temporary_cost(v, beta, c), beta * v * (v + c * mean_others), rtol=1e-15
    )
    np.testing.assert_array_equal(rules.temporary_cost(v, beta), beta * v * v)
    q0, q1, phi, dt = np.array([1.0, -2.0]), np.array([3.0, 0.5]), 0.7, 0.1
    # ∫φQ² over the step of the linear path, by Simpson's rule (exact for a quadratic)
    mid = 0.5 * (q0 + q1)
    simpson = phi * dt / 6 * (q0**2 + 4 * mid**2 + q1**2)
    np.testing.assert_allclose(rules.running_penalty(q0, q1, phi, dt), simpson, rtol=1e-14)


def test_fixed_rate_min_rate_equal_max_rate_is_one_admissible_rate_everywhere():
    # the scenario admits ε = ξ̃; the engine, the best response and the Nash gap agree with it
    scn = build_scenario(
        "acas",
        (trader(0, -2.0, policy="twap", A=1.0),),
        (maker(0, 1.0, policy="constant_spread", A=1.0), maker(1, 0.0, policy="constant_spread")),
        steps=STEPS,
        volatility=0.0,
        noise=NoiseSpec(buy_rate=1.0, sell_rate=1.0),
        temporary_impact=0.5,
        intensity_decay=2.0,
        max_spread=3.0,
        min_rate=1.5,
        max_rate=1.5,
    )
    res = simulate(scn, paths=1, seed=0)
    np.testing.assert_array_equal(res.agent("trader_0").rate[:, 0], 1.5)
    market = discrete_best_quote_game(scn)
    assert market.rate_bounds(0) == (1.5, 1.5)
    quotes = np.full((2, STEPS, 2), 0.5)
    br = trader_best_response(market, np.full((1, STEPS), 1.5), quotes, 0)
    np.testing.assert_array_equal(br.schedule, 1.5)
    gap = nash_gap(scn).set_index("agent")
    assert gap.loc["trader_0", "gain"] == 0.0
