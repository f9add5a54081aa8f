"""Best responses and Nash gaps in the §2 impact market on the engine's grid (execution_nash)."""

from __future__ import annotations

import numpy as np
import pytest

from policies.equilibrium.coefficients import Profile
from policies.equilibrium.execution import ExecutionGame
from policies.equilibrium.execution_nash import (
    equilibrium_rates,
    execution_best_response,
    execution_nash_gap,
    execution_payoffs,
)
from tests.helpers import almgren_chriss_h, execution_game, single_trader_game

GRIDS = (50, 100, 200, 400)


def make_game(**kw) -> ExecutionGame:
    """The three-trader game with a piecewise-constant noise imbalance."""
    return execution_game(**{"noise_buy_rate": 0.1, "noise_sell_rate": Profile((0.3, 0.1)), **kw})


@pytest.mark.parametrize(
    "kw",
    [
        {},  # the paper's aggregated impact, π = 1
        {"cross_impact": 0.4},  # Remark 2.1(3): the FOC with π ≠ 1 is checked independently here
        {"permanent_impact": lambda t: 0.3 + 0.2 * t, "temporary_impact": lambda t: 0.5 - 0.1 * t},
    ],
)
def test_nash_gap_of_equilibrium_vanishes_at_second_order_under_refinement(kw):
    # The feedback played on the grid is an O(dt) perturbation of the discrete game's
    # equilibrium; each player's payoff is quadratic in its own schedule and stationary at the
    # best response, so the gain of deviating is quadratic in that O(dt) distance: O(dt²).
    game = make_game(**kw)
    sol = game.solve()
    gains = np.array(
        [execution_nash_gap(game, equilibrium_rates(sol, n)).gain.max() for n in GRIDS]
    )
    orders = np.log2(gains[:-1] / gains[1:])
    print("max gains", gains, "observed orders", orders)
    assert np.all(gains >= -1e-12)
    assert np.all((orders > 1.8) & (orders < 2.2)), orders
    assert gains[-1] < 1e-5


def test_equilibrium_discrete_payoff_converges_to_value_at_first_order():
    # Piecewise-constant controls sampled from the feedback: payoff bias O(dt).
    game = make_game()
    sol = game.solve()
    bias = np.array(
        [
            np.abs(execution_payoffs(game, equilibrium_rates(sol, n)) - sol.values).max()
            for n in GRIDS
        ]
    )
    orders = np.log2(bias[:-1] / bias[1:])
    assert np.all((orders > 0.9) & (orders < 1.1)), orders


def test_twap_profile_has_a_clearly_positive_nash_gap():
    game = make_game()
    twap = np.tile(-game.initial_inventory / game.horizon, (200, 1))
    gap = execution_nash_gap(game, twap)
    print(gap)
    # TWAP ignores penalties and the others' impact: gains are O(0.1–1), i.e. 10⁴ times the
    # equilibrium's gap at the same grid.
    assert (gap.gain > 0.05).all()
    assert list(gap.columns) == ["agent", "payoff", "best_response_payoff", "gain"]


def test_best_response_is_the_maximum_of_the_direct_engine_payoff():
    game = make_game(cross_impact=0.7)
    rng = np.random.default_rng(2)
    rates = rng.normal(size=(60, 3))
    br = execution_best_response(game, rates, "trader_1")
    u, best = br.schedule, br.payoff
    assert (br.agent, br.role) == ("trader_1", "trader")
    assert br.profile_payoff == execution_payoffs(game, rates)[1] and br.gain > 0
    assert br.optimality_residual < 1e-9 * (1 + np.abs(u).max())  # the gradient Hu + ℓ
    played = rates.copy()
    played[:, 1] = u
    # the quadratic form and the step-by-step engine formulas agree to round-off
    assert execution_payoffs(game, played)[1] == pytest.approx(best, rel=1e-11, abs=1e-11)
    for _ in range(5):
        other = played.copy()
        other[:, 1] += 0.1 * rng.normal(size=60)
        assert execution_payoffs(game, other)[1] < best


def test_best_response_of_single_trader_converges_to_almgren_chriss_at_second_order():
    # N = 1: the best response to nothing is the optimal control, value −(h(T) + α/2) q₀² (see
    # test_execution_solver). Piecewise-constant schedules are a subspace, so the discrete
    # optimum is below the exact one by a quadratic form of an O(dt) distance: O(dt²).
    alpha, beta, phi, a_pen, q0 = 0.6, 0.4, 0.3, 1.0, 4.0
    game = single_trader_game(alpha, beta, phi, a_pen, q0)
    exact = -(almgren_chriss_h(1.0, alpha, beta, phi, a_pen) + alpha / 2) * q0**2
    best = [execution_best_response(game, np.zeros((n, 1)), 0).payoff for n in GRIDS]
    err = exact - np.array(best)
    assert np.all(err > 0)
    orders = np.log2(err[:-1] / err[1:])
    assert np.all((orders > 1.9) & (orders < 2.1)), orders


def test_nash_gap_rejects_bad_profiles_and_unbounded_best_responses():
    game = make_game()
    with pytest.raises(ValueError, match=r"rates has shape \(10, 2\); allowed: \(steps, 3\)"):
        execution_nash_gap(game, np.zeros((10, 2)))
    with pytest.raises(ValueError, match="agent = 'bob'"):
        execution_best_response(game, np.zeros((10, 3)), "bob")
    # N = 1, α = 2 > 2β/T, φ = A = 0: J = α/2 (Q_T² − q₀²) − β∫v² is unbounded above.
    wild = single_trader_game(alpha=2.0, beta=0.5, phi=0.0, a_pen=0.0, q0=1.0)
    with pytest.raises(ValueError, match="not concave .* Assumption 2.4"):
        execution_nash_gap(wild, np.zeros((20, 1)))
