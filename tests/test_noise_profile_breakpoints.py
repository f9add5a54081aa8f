"""Piecewise-constant noise profiles are read the same way by the engine and by every solver.

Grid times t_k = k·T/n computed in floating point can land a few ulps below the profile
breakpoint they stand for; a naive ⌊t·m/T⌋ then reads the previous piece. The engine uses the
exact integer rule ⌊k·m/n⌋; `simulator.profiles.profile_at` must agree with it everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest

from policies.equilibrium.market_making_nash import profile_payoffs
from simulator import Scenario, simulate
from simulator.nash_gap import best_quote_profile
from simulator.profiles import profile_at, profile_on_grid
from tests.helpers import ACAS


@pytest.mark.parametrize("horizon", [1.0, 0.7, 3.0, 2.5])
def test_profile_at_grid_times_agrees_with_the_engine_rule(horizon):
    for pieces in range(2, 8):
        profile = tuple(float(i) for i in range(pieces))
        for steps in range(pieces, 300, pieces):
            grid = np.arange(steps) * (horizon / steps)
            np.testing.assert_array_equal(
                profile_at(profile, grid, horizon), profile_on_grid(profile, steps)
            )


def test_best_quote_payoff_accounting_matches_the_engine_on_a_breakpoint_grid():
    # T = 1, 98 steps, a 2-piece profile: t_49 = 49·(1/98) is a few ulps below 0.5. Before the
    # fix the Nash-gap accounting read the first piece there (maker_0 payoff off by 1.87).
    scenario = Scenario.from_dict(
        {
            "name": "breakpoint",
            "horizon": 1.0,
            "steps": 98,
            "market": {"kind": "best_quote", "temporary_impact": 0.5, "intensity_decay": 2.0},
            "price": {"volatility": 0.0},
            "noise": {"buy_rate": 1.0, "sell_rate": [1.0, 30.0]},
            "traders": [{"policy": "twap", "initial_inventory": -3.0, "terminal_penalty": 1.0}],
            "makers": [
                {"policy": "constant_spread", "initial_inventory": 1.0, "terminal_penalty": 0.5},
                {
                    "policy": "inventory_skew",
                    "initial_inventory": 0.0,
                    "terminal_penalty": 0.5,
                    "params": {"skew": 0.1},
                },
            ],
        }
    )
    market, rates, quotes = best_quote_profile(scenario)
    accounted = profile_payoffs(market, rates, quotes).set_index("agent")["payoff"]
    res = simulate(scenario, paths=1, seed=0)
    for agent in accounted.index:
        # both are the same finite sums; only summation order differs
        assert accounted[agent] == pytest.approx(res.agent(agent).objective[0], abs=1e-10)


def test_market_making_solver_reads_profile_pieces_on_its_rk4_nodes():
    # T = 0.7 and a 5-piece profile: with 50 steps, several RK4 nodes land a few ulps below a
    # breakpoint. Read correctly, the 50-step values are 9e-4 from a 1000-step reference (RK4
    # error plus the O(dt) resolution of the jumps; bound 2e-3); reading the previous piece
    # there put them 5e-2 off.
    from policies.equilibrium import MarketMakingGame, Profile

    def values(steps: int) -> np.ndarray:
        profile = Profile((1.0, 6.0, 1.0, 6.0, 1.0))
        game = MarketMakingGame.acas(**{**ACAS, "horizon": 0.7, "noise_buy_rate": profile})
        return game.solve(steps=steps).value.to_numpy()

    assert np.abs(values(50) - values(1000)).max() < 2e-3
