"""One temporary impact βⁱ per trader (the individual λⁱ of §3): scenario, engine, solvers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import expm

from policies.equilibrium.adapters import (
    discrete_best_quote_game,
    execution_game,
    market_making_game,
)
from policies.equilibrium.execution import ExecutionGame
from policies.equilibrium.execution_nash import (
    equilibrium_rates,
    execution_nash_gap,
    execution_payoffs,
)
from policies.equilibrium.logit import LogitGame
from policies.equilibrium.market_making_nash import market_making_nash_gap
from simulator import simulate
from simulator.nash_gap import best_quote_profile, scenario_nash_gap
from simulator.scenario import NoiseSpec
from tests.helpers import THREE_TRADERS, almgren_chriss_h, maker, trader
from tests.helpers import execution_game as three_traders
from tests.helpers import scenario as build_scenario
from tests.test_execution_simulation import scenario as execution_scenario
from tests.test_logit_equilibrium import game_kwargs

BETAS = [0.3, 0.9, 0.5]


def impact_scenario(beta, volatility: float = 1.0):
    """The three-trader §2 scenario of test_execution_simulation, every trader in equilibrium."""
    return execution_scenario("equilibrium", volatility, temporary_impact=beta)


def test_equal_per_trader_impacts_are_bit_identical_to_the_shared_beta():
    shared = three_traders(temporary_impact=0.5).solve()
    listed = three_traders(temporary_impact=[0.5, 0.5, 0.5]).solve()
    assert listed.values.tobytes() == shared.values.tobytes()
    a = simulate(impact_scenario(0.5), paths=3, seed=1)
    b = simulate(impact_scenario((0.5, 0.5, 0.5)), paths=3, seed=1)
    for name in ("trader_0", "trader_1", "trader_2"):
        assert a.agent(name).objective.tobytes() == b.agent(name).objective.tobytes()


def test_unequal_impacts_without_coupling_are_three_almgren_chriss_problems():
    # α = 0 and π = 0: trader i pays βⁱ/N (vⁱ)² and nothing couples the traders, so each solves
    # Almgren–Chriss with η = βⁱ/N: J = −h(T) q₀² (closed form, tests.helpers).
    game = three_traders(permanent_impact=0.0, cross_impact=0.0, temporary_impact=BETAS)
    assert game.classes().count == 3
    q0, phi, a_pen = (np.asarray(THREE_TRADERS[k], float) for k in THREE_TRADERS)
    exact = [
        -almgren_chriss_h(1.0, 0.0, b / 3, p, a) * q * q
        for b, p, a, q in zip(BETAS, phi, a_pen, q0, strict=True)
    ]
    for kw in ({}, {"integrator": "dop853"}, {"method": "dense"}):
        np.testing.assert_allclose(game.solve(**kw).values, exact, rtol=1e-8)


def two_trader_closed_form(alpha, betas, pi, phi, a_pen, q0, t):
    """(Y(0), Q(t)) of the N = 2 game without noise, from the first-order conditions and the
    adjoint equations alone: βⁱ((2−π)vⁱ + π(v¹ + v²)) = N yⁱ + α qⁱ and
    dyⁱ/dt = 2φⁱqⁱ − (α/N)(v¹ + v²), y_T = −2A q_T. The system (q, y)' = M (q, y) is linear with
    constant M, so one 4×4 exponential solves the two-point problem exactly."""
    n = 2
    b = np.diag(betas) @ ((2 - pi) * np.eye(n) + pi * np.ones((n, n)))
    vq, vy = alpha * np.linalg.inv(b), n * np.linalg.inv(b)  # v = vq q + vy y
    total = alpha / n * np.ones((n, n))
    m = np.block([[vq, vy], [2 * np.diag(phi) - total @ vq, -total @ vy]])
    c = np.hstack([2 * np.diag(a_pen), np.eye(n)]) @ expm(m)  # y(T) + 2A q(T) = 0
    y0 = np.linalg.solve(c[:, n:], -c[:, :n] @ q0)
    return y0, (expm(m * t) @ np.concatenate([q0, y0]))[:n]


@pytest.mark.parametrize("cross_impact", [1.0, 0.6])
def test_two_traders_with_unequal_impacts_match_the_closed_form(cross_impact):
    q0 = np.array([5.0, -3.0])
    kw = dict(phi=[0.2, 0.5], a_pen=[1.0, 2.0], q0=q0)
    y0, q_t = two_trader_closed_form(0.3, [0.4, 1.1], cross_impact, t=0.4, **kw)
    game = ExecutionGame(
        horizon=1.0,
        permanent_impact=0.3,
        temporary_impact=[0.4, 1.1],
        cross_impact=cross_impact,
        running_penalty=kw["phi"],
        terminal_penalty=kw["a_pen"],
        initial_inventory=q0,
    )
    for solve, tol in (({}, 1e-12), ({"integrator": "dop853"}, 1e-9), ({"method": "dense"}, 1e-9)):
        sol = game.solve(**solve)
        np.testing.assert_allclose(sol.adjoint(0.0, q0), y0, rtol=tol, atol=tol)
        np.testing.assert_allclose(sol.inventory(0.4), q_t, rtol=tol, atol=tol)


@pytest.mark.parametrize("cross_impact", [1.0, 0.4])
def test_unequal_impacts_class_solver_agrees_with_the_dense_solver(cross_impact):
    # 5 traders, 2 classes of 2 sharing (φ, A) but not β: the classes split by β too
    game = ExecutionGame(
        horizon=1.0,
        permanent_impact=0.3,
        temporary_impact=[0.4, 0.4, 0.8, 0.8, 0.4],
        cross_impact=cross_impact,
        running_penalty=[0.2, 0.2, 0.2, 0.2, 0.5],
        terminal_penalty=1.0,
        initial_inventory=[5.0, -3.0, 2.0, 1.0, -4.0],
        noise_buy_rate=0.1,
    )
    assert game.classes().count == 3
    structured, dense = game.solve(), game.solve(method="dense")
    np.testing.assert_allclose(structured.values, dense.values, rtol=1e-8)
    np.testing.assert_allclose(
        structured.feedback(0.3, np.arange(5.0)), dense.feedback(0.3, np.arange(5.0)), rtol=1e-7
    )


def test_nash_gap_of_unequal_impact_equilibrium_vanishes_at_second_order():
    # independent check: the discrete best responses (engine formulas, βⁱ per trader) against
    # the equilibrium played on finer and finer grids; the shared-β equilibrium is exploitable
    game = three_traders(temporary_impact=BETAS, noise_buy_rate=0.1, noise_sell_rate=0.3)
    sol = game.solve()
    grids = (50, 100, 200)
    gains = np.array(
        [execution_nash_gap(game, equilibrium_rates(sol, n)).gain.max() for n in grids]
    )
    orders = np.log2(gains[:-1] / gains[1:])
    assert np.all(gains >= -1e-12)
    assert np.all((orders > 1.8) & (orders < 2.2)), orders
    wrong = three_traders(temporary_impact=0.5, noise_buy_rate=0.1, noise_sell_rate=0.3).solve()
    assert execution_nash_gap(game, equilibrium_rates(wrong, 200)).gain.max() > 1e3 * gains[-1]


def test_engine_charges_each_trader_its_own_impact():
    sc = impact_scenario(tuple(BETAS), volatility=0.0)
    game = execution_game(sc)
    assert game.trader_impact(0.0).tolist() == BETAS
    res = simulate(sc, paths=2, seed=0)
    rates = equilibrium_rates(game.solve(), sc.steps)
    objective = np.stack([res.agent(n).objective[0] for n in game.agent_names])
    np.testing.assert_allclose(objective, execution_payoffs(game, rates), rtol=1e-10)
    # and differ from what the shared β would charge for the same schedules
    shared = execution_game(impact_scenario(0.5))
    assert not np.allclose(objective, execution_payoffs(shared, rates), rtol=1e-3)


@pytest.mark.parametrize(
    ("beta", "message"),
    [
        ((0.5, 0.5), r"market.temporary_impact = \[0.5, 0.5\] has 2 values but there are 3"),
        ((0.5, -0.1, 0.5), r"market.temporary_impact\[1\] = -0.1 is not allowed; it must be >= 0"),
        ((0.5, 0.0, 0.5), r"market.temporary_impact\[1\] = 0.0 is not allowed; it must be > 0"),
        ((0.5, math.nan, 0.5), r"market.temporary_impact\[1\] = nan must be a finite number"),
        ((0.5, math.inf, 0.5), r"market.temporary_impact\[1\] = inf must be a finite number"),
        ((), r"market.temporary_impact = \(\) must be a number or a non-empty list"),
        ((0.5, "x", 0.5), r"market.temporary_impact\[1\] = 'x' must be a number"),
    ],
)
def test_bad_per_trader_impacts_name_the_field(beta, message):
    with pytest.raises(ValueError, match=message):
        impact_scenario(beta)


def test_bad_per_trader_impacts_in_the_solver_name_the_argument():
    with pytest.raises(ValueError, match=r"temporary_impact has 2 values .* one value per trader"):
        three_traders(temporary_impact=[0.5, 0.4])
    with pytest.raises(ValueError, match=r"temporary_impact\[2\] = -0.4; allowed: finite βⁱ > 0"):
        three_traders(temporary_impact=[0.5, 0.4, -0.4])
    with pytest.raises(ValueError, match=r"temporary_impact\[1\] = nan; allowed: finite βⁱ > 0"):
        three_traders(temporary_impact=[0.5, math.nan, 0.4])


# ---- §3–§5: the traders' temporary cost λⁱ = βⁱv² (or aggregated) ---------------------------


def best_quote_scenario(beta, steps: int, cost: str = "individual"):
    """A buyer and a seller against two makers, every agent playing the equilibrium."""
    tr = tuple(trader(i, q, "equilibrium", phi=0.1, A=1.0) for i, q in enumerate((-3.0, 2.0)))
    mm = tuple(maker(j, q, "equilibrium", phi=0.1, A=1.0) for j, q in enumerate((1.0, 0.0)))
    return build_scenario(
        "best_quote",
        tr,
        mm,
        steps=steps,
        noise=NoiseSpec(buy_rate=1.0, sell_rate=1.0),
        temporary_impact=beta,
        intensity_decay=2.0,
        temporary_cost=cost,
    )


@pytest.mark.parametrize(
    ("cost", "grids"), [("individual", (50, 100, 200)), ("aggregated", (50, 100))]
)
def test_best_quote_equilibrium_with_unequal_impacts_has_a_vanishing_nash_gap(cost, grids):
    # the §3 solver (trader i's FOC with βⁱ) against the discrete best responses on the engine
    # grid (βⁱ per trader), the profile played by the simulator's equilibrium policies
    gains = np.array(
        [scenario_nash_gap(best_quote_scenario((0.4, 1.0), n, cost)).gain.max() for n in grids]
    )
    orders = np.log2(gains[:-1] / gains[1:])
    assert np.all((orders > 1.8) & (orders < 2.2)), (gains, orders)
    # the shared-β equilibrium played in the same market is far from a best response
    market = discrete_best_quote_game(best_quote_scenario((0.4, 1.0), grids[-1], cost))
    _, rates, quotes = best_quote_profile(best_quote_scenario(0.7, grids[-1], cost))
    assert market_making_nash_gap(market, rates, quotes).gain.max() > 100 * gains[-1]


def test_best_quote_and_logit_equal_impacts_are_bit_identical_to_the_shared_beta():
    shared = market_making_game(best_quote_scenario(0.7, 50)).solve()
    listed = market_making_game(best_quote_scenario((0.7, 0.7), 50)).solve()
    assert shared.value.to_numpy().tobytes() == listed.value.to_numpy().tobytes()
    kw = logit_kwargs()
    a = LogitGame(**{**kw, "temporary_impact": 0.3}).solve()
    b = LogitGame(**{**kw, "temporary_impact": [0.3, 0.3]}).solve()
    assert a.value.to_numpy().tobytes() == b.value.to_numpy().tobytes()


def logit_kwargs():
    """test_logit_equilibrium's game with a second, smaller buyer."""
    kw = game_kwargs(trader_inventories=(-4.0, -2.0))
    del kw["temporary_impact"]
    return kw


def test_logit_impacts_follow_their_traders():
    # βⁱ belongs to trader i: listing the traders in the other order (with their q₀ and βⁱ)
    # permutes the equilibrium values; swapping only the βⁱ changes them
    kw = logit_kwargs()
    game = LogitGame(**{**kw, "temporary_impact": [0.1, 0.4]})
    swapped = LogitGame(
        **{**kw, "trader_inventories": (-2.0, -4.0), "temporary_impact": [0.4, 0.1]}
    )
    v, w = game.solve().value.to_numpy(), swapped.solve().value.to_numpy()
    np.testing.assert_allclose(v[[1, 0, 2, 3]], w, rtol=1e-9)
    other = LogitGame(**{**kw, "temporary_impact": [0.4, 0.1]}).solve().value.to_numpy()
    assert np.abs(other[:2] - v[:2]).max() > 1e-2 * np.abs(v[:2]).max()
