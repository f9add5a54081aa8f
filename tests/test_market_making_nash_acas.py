"""Nash gap of the §4 ACAS equilibrium on the engine grid; agreement with the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from policies.equilibrium.market_making import MarketMakingGame
from policies.equilibrium.market_making_nash import market_making_nash_gap, profile_payoffs
from simulator import simulate
from simulator.nash_gap import best_quote_profile, scenario_nash_gap
from simulator.scenario import NoiseSpec, Scenario
from tests.helpers import ACAS, best_quote_market, maker, trader
from tests.helpers import scenario as build_scenario


def acas_game(phi: float) -> MarketMakingGame:
    """The ACAS game of tests.helpers.ACAS with running penalty φ for all three agents."""
    return MarketMakingGame.acas(**{**ACAS, "running_penalty": phi})


def acas_gap(phi: float, steps: int, sol=None):
    """The gap of the ACAS equilibrium schedules sampled at t_k (piecewise constant)."""
    sol = sol or acas_game(phi).solve()
    market = best_quote_market(  # the discrete market of ACAS
        steps,
        trader_inventories=[-5.0],
        maker_inventories=[1.0, 0.0],
        trader_running_penalty=phi,
        maker_running_penalty=phi,
        noise_sell_rate=1.0,
    )
    t = market.time
    rates = np.interp(t, sol.time, sol.rate[:, 0])[None, :]
    quotes = np.stack(
        [
            np.stack(
                [np.interp(t, sol.time, sol.ask[:, j]), np.interp(t, sol.time, sol.bid[:, j])],
                axis=1,
            )
            for j in range(2)
        ]
    )
    return market_making_nash_gap(market, rates, quotes), sol


def test_nash_gap_of_acas_equilibrium_vanishes_at_second_order_under_refinement():
    grids = [50, 100, 200, 400]
    sol = acas_game(0.2).solve(steps=400)
    gains = np.array([acas_gap(0.2, n, sol)[0]["gain"].to_numpy() for n in grids])
    assert np.all(gains >= 0)
    # piecewise-constant sampling is an O(dt) deviation from the discrete best response and the
    # gain is quadratic in it: order 2 (observed ≈ 1.95–2.0 for trader and both makers)
    orders = -np.polyfit(np.log(grids), np.log(gains), 1)[0]
    assert np.all((orders > 1.8) & (orders < 2.2)), orders
    assert np.all(gains[-1] < 2e-5)
    assert np.all(np.diff(gains, axis=0) < 0)


def test_constant_acas_equilibrium_is_an_exact_equilibrium_of_the_discrete_game():
    # φ = 0 and constant noise: Y is constant (Thm 4.3 setting), so the equilibrium controls are
    # constant and piecewise-constant play loses nothing: the gap is rounding only
    gap, _ = acas_gap(0.0, 80)
    assert np.all(np.abs(gap["gain"]) < 1e-10)


def scenario(trader_policy: str, maker_policy: str, phi: float = 0.2, steps: int = 60) -> Scenario:
    """ACAS as a frozen-price scenario (P₀ = 0, σ = 0): the engine's J is the discrete payoff."""
    return build_scenario(
        "acas",
        (trader(0, -5.0, trader_policy, phi, 1.0),),
        (maker(0, 1.0, maker_policy, phi, 1.0), maker(1, 0.0, maker_policy, phi, 1.0)),
        steps=steps,
        volatility=0.0,
        noise=NoiseSpec(buy_rate=1.0, sell_rate=1.0),
        temporary_impact=0.5,
        intensity_decay=2.0,
    )


def assert_profile_payoffs_are_the_engine_objectives(sc: Scenario) -> None:
    market, rates, quotes = best_quote_profile(sc)
    ours = profile_payoffs(market, rates, quotes)["payoff"].to_numpy()
    res = simulate(sc, paths=1, seed=0)
    engine = np.array([res.agent(a.name).objective[0] for a in sc.agents])
    # same discretisation, same arithmetic up to summation order
    assert np.allclose(ours, engine, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize(
    ("trader", "maker"), [("equilibrium", "equilibrium"), ("twap", "constant_spread")]
)
def test_profile_payoff_reproduces_the_simulator_fluid_objective(trader, maker):
    assert_profile_payoffs_are_the_engine_objectives(scenario(trader, maker))


def test_equilibrium_feedback_gap_is_small_and_heuristic_gap_is_large():
    eq = scenario_nash_gap(scenario("equilibrium", "equilibrium"))
    heur = scenario_nash_gap(scenario("twap", "constant_spread"))
    # n = 60: the O(dt²) gain of the sampled equilibrium is ≈ 3e-4·(50/60)² at most
    assert np.all(eq["gain"] < 5e-4)
    assert np.all(heur["gain"] > 1.0)


def test_general_best_quote_payoffs_reproduce_the_simulator():
    # §3 market: 2 buyers + 1 seller, aggregated cost, 3 makers, bounds, time-varying noise
    sc = build_scenario(
        "best_quote",
        (
            trader(0, -6.0, "twap", phi=0.1, A=1.0),
            trader(1, 4.0, "twap", phi=0.2, A=1.0),
            trader(2, -2.0, "twap", A=1.0),
        ),
        (
            maker(0, 0.5, "constant_spread", phi=0.1, A=0.5),
            maker(1, -1.0, "constant_spread", phi=0.05, A=0.5),
            maker(2, 0.0, "constant_spread", A=0.5),
        ),
        steps=50,
        horizon=2.0,
        volatility=0.0,
        noise=NoiseSpec(buy_rate=(1.0, 3.0), sell_rate=(2.0, 0.5, 1.0)),
        temporary_impact=0.3,
        intensity_decay=1.5,
        temporary_cost="aggregated",
        cost_coupling=0.7,
        max_spread=2.0,
        min_rate=0.2,
        max_rate=20.0,
    )
    assert_profile_payoffs_are_the_engine_objectives(sc)
    gap = scenario_nash_gap(sc)
    assert np.all(gap["gain"] > 0.1) and np.all(gap["optimality_residual"] < 1e-6)
