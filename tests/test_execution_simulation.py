"""The §2 equilibrium played in the simulator: scenario policies, payoffs, Monte Carlo value."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from policies.equilibrium.adapters import execution_game
from policies.equilibrium.execution import ExecutionGame
from policies.equilibrium.execution_nash import equilibrium_rates, execution_payoffs
from simulator import simulate
from simulator.nash_gap import nash_gap, scenario_nash_gap
from simulator.scenario import NoiseSpec, Scenario
from tests.helpers import THREE_TRADERS, trader
from tests.helpers import scenario as build_scenario

STEPS = 200


def scenario(policy: str = "equilibrium", volatility: float = 1.0, **market) -> Scenario:
    """The three-trader §2 game of tests.helpers.execution_game as a 200-step scenario."""
    pop = zip(
        *(THREE_TRADERS[k] for k in ("initial_inventory", "running_penalty", "terminal_penalty")),
        strict=True,
    )
    traders = tuple(trader(i, q, policy, phi=p, A=a) for i, (q, p, a) in enumerate(pop))
    return build_scenario(
        "impact",
        traders,
        steps=STEPS,
        noise=NoiseSpec(buy_rate=0.1, sell_rate=(0.3, 0.1)),
        volatility=volatility,
        **{"permanent_impact": 0.3, "temporary_impact": 0.5, **market},
    )


def rates_of(res, game: ExecutionGame) -> np.ndarray:
    return np.stack([res.agent(name).rate for name in game.agent_names], axis=1)


def test_adapter_reads_market_traders_and_noise_profiles():
    sc = scenario(cross_impact=0.6)
    game = execution_game(sc)
    assert game.agent_names == ("trader_0", "trader_1", "trader_2")
    np.testing.assert_array_equal(game.running_penalty, [0.2, 0.5, 0.1])
    assert game.coefficients.cross_impact == 0.6
    assert game.coefficients.sell(0.25) == 0.3 and game.coefficients.sell(0.75) == 0.1
    with pytest.raises(ValueError, match="market.kind = 'logit'; allowed: 'impact'"):
        execution_game(SimpleNamespace(market=SimpleNamespace(kind="logit")))


@pytest.mark.parametrize("cross_impact", [1.0, 0.6])
def test_simulator_plays_the_solver_feedback_and_charges_the_discrete_payoff(cross_impact):
    sc = scenario(cross_impact=cross_impact)
    game = execution_game(sc)
    sol = game.solve()
    res = simulate(sc, paths=4, seed=3)
    rates = rates_of(res, game)  # (steps, N, paths): deterministic in fluid mode
    expected = equilibrium_rates(sol, STEPS)
    np.testing.assert_allclose(rates, np.repeat(expected[:, :, None], 4, axis=2), atol=1e-12)
    # per path: objective = discrete payoff (P₀ = 0) + Σ_k Q_{k+1}(P_{k+1} − P_k), exactly
    q = np.vstack([game.initial_inventory, game.initial_inventory + np.cumsum(expected, 0) * sc.dt])
    martingale = (q[1:, :, None] * np.diff(res.reference_price, axis=0)[:, None, :]).sum(axis=0)
    objective = np.stack([res.agent(n).objective for n in game.agent_names])
    np.testing.assert_allclose(
        objective, execution_payoffs(game, expected)[:, None] + martingale, rtol=1e-10, atol=1e-10
    )


def test_monte_carlo_mean_payoff_matches_equilibrium_value():
    sc = scenario()
    game = execution_game(sc)
    sol = game.solve()
    table = simulate(sc, paths=2000, seed=11, record=False).payoffs().set_index("agent")
    # time-step bias of piecewise-constant play, measured exactly by the discrete payoff
    # (O(dt), ≈ 2e-3 here; see test_equilibrium_discrete_payoff_converges_to_value_...)
    bias = execution_payoffs(game, equilibrium_rates(sol, STEPS)) - sol.values
    for i, name in enumerate(game.agent_names):
        mean, se = table.loc[name, "mean"], table.loc[name, "std_error"]
        assert abs(mean - sol.value[name]) <= 3 * se + abs(bias[i]), (name, mean, se)


def test_open_loop_policy_tracks_the_feedback_schedule_to_first_order():
    sc = scenario(policy="equilibrium_open_loop", volatility=0.0)
    game = execution_game(sc)
    res = simulate(sc, paths=1, seed=0)
    open_loop = rates_of(res, game)[:, :, 0]
    np.testing.assert_allclose(
        open_loop, equilibrium_rates(game.solve(), STEPS, "open_loop"), atol=1e-12
    )
    feedback = equilibrium_rates(game.solve(), STEPS)
    # both sample the same continuous equilibrium; they differ by the O(dt) drift of the
    # closed loop on the grid (rates are O(5)).
    assert np.abs(open_loop - feedback).max() < 5 * 5 * sc.dt


def test_scenario_nash_gap_small_for_equilibrium_large_for_twap():
    eq = scenario(volatility=0.0)
    gap_eq = nash_gap(eq)  # execution_nash.scenario_nash_gap plus the policy column
    gap_twap = nash_gap(scenario(policy="twap", volatility=0.0))
    print(gap_eq, gap_twap, sep="\n")
    # equilibrium on 200 steps: gap O(dt²) ≈ 1e-5 (test_execution_nash); TWAP: O(0.1)
    assert (gap_eq.gain < 5e-5).all() and (gap_eq.gain > -1e-12).all()
    assert (gap_twap.gain > 0.05).all()
    assert list(gap_eq.policy) == ["equilibrium"] * 3


def test_feedback_policy_runs_in_poisson_mode_with_random_noise_drift():
    sc = dataclasses.replace(
        scenario(),
        steps=50,
        noise=NoiseSpec(buy_rate=20.0, sell_rate=10.0),
        flow="poisson",
        lot_size=0.1,
    )
    res = simulate(sc, paths=64, seed=2)
    rates = rates_of(res, execution_game(sc))
    assert np.all(np.isfinite(rates))
    assert np.ptp(rates[-1], axis=1).max() > 0  # reacts to the realised (random) inventories


def test_open_loop_schedule_keeps_inventories_on_the_equilibrium_path():
    # equilibrium_open_loop plays the step average (Q̄(t_{k+1}) − Q̄(t_k))/dt, so the simulated
    # inventories are the equilibrium path at every grid time up to round-off.
    sc = scenario(policy="equilibrium_open_loop", volatility=0.0)
    sol = execution_game(sc).solve()
    res = simulate(sc, paths=1, seed=0)
    simulated = np.column_stack([res.agent(n).inventory[:, 0] for n in sol.game.agent_names])
    expected = np.array([sol.inventory(t) for t in res.time])
    np.testing.assert_allclose(simulated, expected, rtol=0, atol=1e-10)


def test_open_loop_nash_gap_is_fourth_order_on_grids_aligned_with_the_noise_profile():
    # With the noise breakpoint (T/2) on the grid, the step-averaged equilibrium schedule is an
    # O(dt²) perturbation of the discrete equilibrium in a direction the quadratic payoff barely
    # sees: measured gains 1.2e-9, 7.2e-11 at n = 50, 100 (ratio 16 = order 4; kept well above
    # the ~1e-12 round-off of the payoffs, which are O(1)).
    gains = []
    for steps in (50, 100):
        sc = dataclasses.replace(scenario("equilibrium_open_loop", volatility=0.0), steps=steps)
        gains.append(scenario_nash_gap(sc)["gain"].max())
    assert gains[0] < 1e-8
    assert gains[0] / gains[1] > 12  # order ≥ 3.6
