"""Bad inputs to the best-quote game raise ValueError naming the field and the paper's condition."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policies.equilibrium.coefficients import Profile
from policies.equilibrium.market_making import MarketMakingGame
from policies.equilibrium.market_making_hamiltonian import Intensity

BASE = dict(horizon=1.0, trader_inventories=(-5.0,), maker_inventories=(1.0, 0.0))


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"horizon": 0.0}, "horizon"),
        ({"horizon": math.inf}, "horizon"),
        ({"trader_inventories": (-1.0, 0.0)}, "q₀ ≠ 0"),
        ({"maker_inventories": ()}, "Assumption 3.6"),
        ({"maker_inventories": (1.0, math.nan)}, "maker_inventories"),
        ({"temporary_cost": "quadratic"}, "temporary_cost"),
        ({"temporary_cost": "aggregated", "cost_coupling": 2.0}, "class Υ"),
        ({"min_rate": -0.1}, "min_rate"),
        ({"min_rate": 2.0, "max_rate": 1.0}, "max_rate"),
        ({"max_spread": 0.0}, "max_spread"),
        ({"intensity_decay": -1.0}, "intensity_decay"),
        ({"intensity": "linear"}, "intensity"),
        ({"intensity": lambda x: np.exp(-x) + np.exp(-3 * x)}, "log-concave"),
        ({"intensity": lambda x: np.exp(x)}, "Λ' < 0"),
        ({"temporary_impact": 0.0}, "temporary_impact"),
        ({"temporary_impact": lambda t: 1.0 - 2 * t}, "temporary_impact"),
        ({"noise_buy_rate": -1.0}, "noise_buy_rate"),
        ({"noise_sell_rate": Profile((1.0, -2.0))}, "noise_sell_rate = -2.0"),
        ({"noise_sell_rate": "high"}, "noise_sell_rate"),
        ({"maker_running_penalty": (0.1,)}, "one value per agent"),
        ({"trader_running_penalty": -0.1}, "running_penalty"),
        ({"maker_terminal_penalty": (1.0, -1.0)}, "terminal_penalty"),
        ({"trader_names": ("a", "b")}, "names"),
    ],
)
def test_invalid_game_parameters_raise_value_error_naming_the_field(override, match):
    with pytest.raises(ValueError, match=match):
        MarketMakingGame(**{**BASE, **override})


def test_acas_constructor_rejects_seller_and_wrong_number_of_makers():
    with pytest.raises(ValueError, match="trader_inventory"):
        MarketMakingGame.acas(trader_inventory=3.0)
    with pytest.raises(ValueError, match="2 makers"):
        MarketMakingGame.acas(maker_inventories=(1.0, 0.0, 0.0))


def test_solve_options_are_validated():
    game = MarketMakingGame.acas(running_penalty=0.1)
    with pytest.raises(ValueError, match="φ ≡ 0"):
        game.solve(method="algebraic")
    with pytest.raises(ValueError, match="method"):
        game.solve(method="euler")
    with pytest.raises(ValueError, match="decoupling"):
        game.solve(decoupling="magic")
    with pytest.raises(ValueError, match="steps"):
        game.solve(steps=1)
    sol = game.solve()
    with pytest.raises(ValueError, match="agent_name"):
        sol.feedback_policy("nobody")


def test_intensity_validation_accepts_def_3_4_examples():
    Intensity.exponential(3.0).validate()
    Intensity.from_callable(lambda x: np.exp(-x - np.logaddexp(0.0, x))).validate()


def test_assumption_4_4_violation_is_reported_and_truncation_binding_flagged():
    # q₀ᵉ − q₀¹ᵐ = −0.1 > −1/(2Aγ) = −0.25: Assumption 4.4 fails; with a = b = 0 the buyer's
    # rate hits ε on the whole path (Thm 4.3: v = 0 when the assumption fails at equality).
    sol = MarketMakingGame.acas(
        trader_inventory=-0.1, maker_inventories=(0.0, -1.0), min_rate=0.05
    ).solve()
    assert sol.diagnostics["assumption_4_4"] is False
    assert sol.diagnostics["assumption_4_4_margin"] < 0
    assert sol.diagnostics["truncation_binding"]["trader_0.min_rate"] == 1.0
    np.testing.assert_allclose(sol.rate, 0.05)
