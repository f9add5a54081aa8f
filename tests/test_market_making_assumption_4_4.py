"""Assumption 4.4 is reported with both of its parts: inventories and the lower truncation ε."""

from __future__ import annotations

import math

import pytest

from policies.equilibrium import MarketMakingGame
from tests.helpers import ACAS

# Theorem 4.3's setting: φ = 0, no noise flow.
RISK_NEUTRAL = {**ACAS, "running_penalty": 0.0, "noise_buy_rate": 0.0, "noise_sell_rate": 0.0}


def diagnostics(**kw) -> dict:
    return MarketMakingGame.acas(**{**RISK_NEUTRAL, **kw}).solve(steps=20).diagnostics


def test_epsilon_bound_is_the_papers_p_formula():
    d = diagnostics(trader_inventory=-5.0)
    # hand computation: A = 1, γ = 2, T = 1, β = 0.5, q¹ᵐ − q²ᵐ = 1
    margin = -1 / (2 * 1 * 2) - (-5.0 - 1.0)
    p = 2 / (1 / 1 + 1 / 0.5 * (1 + math.exp(2 * 1 * 2 * 1)))
    assert d["assumption_4_4_margin"] == pytest.approx(margin, rel=1e-12)
    assert d["assumption_4_4_epsilon_bound"] == pytest.approx(p * margin / (2 * 0.5), rel=1e-12)
    assert d["assumption_4_4"] is True


def test_assumption_fails_when_epsilon_exceeds_its_bound_or_inventories_are_too_close():
    bound = diagnostics(trader_inventory=-5.0)["assumption_4_4_epsilon_bound"]
    assert diagnostics(trader_inventory=-5.0, min_rate=2 * bound)["assumption_4_4"] is False
    # q₀ᵉ − q₀¹ᵐ = −0.1 − 0 is not below −1/(2Aγ) = −0.25: the inventory part fails.
    close = diagnostics(trader_inventory=-0.1, maker_inventories=(0.0, -0.5))
    assert close["assumption_4_4_margin"] < 0 and close["assumption_4_4"] is False
