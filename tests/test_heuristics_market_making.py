"""Maker heuristics: AS and GLFT quotes at hand-computed points, their monotonicity in the
inventory and γ → 0 limits, the simple spreads, factory defaults and parameter errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from policies.catalog import available_policies
from policies.heuristics import (
    AvellanedaStoikov,
    ConstantSpread,
    GueantLehalleFernandezTapia,
    InventorySkew,
    avellaneda_stoikov_quotes,
    gueant_lehalle_fernandez_tapia_quotes,
)
from simulator.scenario import FactorSpec, NoiseSpec
from tests.helpers import build, own_state, policy_scenario

QS = np.linspace(-5.0, 5.0, 41)  # one inventory per path


def maker_state(q, t: float = 0.0, horizon: float = 1.0):
    return own_state(np.asarray(q, dtype=float), t=t, horizon=horizon, role="maker")


# Hand computations (ln 2 = 0.693147181, ln 1.25 = 0.223143551, √2 = 1.414213562):
# AS γ = k = σ = τ = 1: half = γσ²τ/2 + ln(1 + γ/k)/γ = 0.5 + ln 2 = 1.193147181, skew = q.
# AS γ = 0.5, k = 2, σ = 2, τ = 0.5: γσ²τ = 1, half = 0.5 + 2·ln 1.25 = 0.946287103, skew = q.
@pytest.mark.parametrize(
    ("q", "tau", "gamma", "k", "sigma", "expected"),
    [
        (0.0, 1.0, 1.0, 1.0, 1.0, (1.193147181, 1.193147181)),
        (1.0, 1.0, 1.0, 1.0, 1.0, (0.193147181, 2.193147181)),
        (-2.0, 1.0, 1.0, 1.0, 1.0, (3.193147181, -0.806852819)),
        (0.5, 0.5, 0.5, 2.0, 2.0, (0.446287103, 1.446287103)),
    ],
)
def test_avellaneda_stoikov_quotes_match_hand_computed_points(q, tau, gamma, k, sigma, expected):
    got = AvellanedaStoikov(gamma, k, sigma).act(maker_state([q], t=1.0 - tau))
    np.testing.assert_allclose(got[0], expected, atol=1e-9)  # 9-digit hand arithmetic


# GLFT γ = k = σ = A = 1: base = ln 2, ω = √(½·2²) = √2; δᵇ = base + (2q+1)/2·ω,
#   δᵃ = base − (2q−1)/2·ω.  q = 0: both 0.693147181 + 0.707106781 = 1.400253962;
#   q = 1: δᵃ = 0.693147181 − 0.707106781 = −0.013959600, δᵇ = 0.693147181 + 2.121320344.
# GLFT γ = 2, k = 1, σ = 0.5, A = 4: base = ln 3/2 = 0.549306144,
#   ω = √(0.25·2/8 · 3^1.5) = √(0.0625·5.196152423) = 0.569876771;
#   q = −1: δᵃ = base + 1.5ω = 1.404121301, δᵇ = base − 0.5ω = 0.264367758.
@pytest.mark.parametrize(
    ("q", "gamma", "k", "sigma", "arrival", "expected"),
    [
        (0.0, 1.0, 1.0, 1.0, 1.0, (1.400253962, 1.400253962)),
        (1.0, 1.0, 1.0, 1.0, 1.0, (-0.013959600, 2.814467525)),
        (-1.0, 2.0, 1.0, 0.5, 4.0, (1.404121301, 0.264367758)),
    ],
)
def test_glft_quotes_match_hand_computed_points(q, gamma, k, sigma, arrival, expected):
    got = GueantLehalleFernandezTapia(gamma, k, sigma, arrival).act(maker_state([q]))
    np.testing.assert_allclose(got[0], expected, atol=1e-9)


@pytest.mark.parametrize(
    "policy",
    [
        InventorySkew(0.5, 0.2),
        AvellanedaStoikov(0.3, 1.5, 0.8),
        GueantLehalleFernandezTapia(0.3, 1.5, 0.8, 5.0),
    ],
    ids=["inventory_skew", "avellaneda_stoikov", "glft"],
)
def test_quotes_lean_against_inventory_with_a_constant_total_spread(policy):
    delta = policy.act(maker_state(QS, t=0.25))
    assert delta.shape == (QS.size, 2)
    # long inventory: lower ask (sell more), higher bid (buy less) — strictly monotone in q
    assert np.all(np.diff(delta[:, 0]) < 0)
    assert np.all(np.diff(delta[:, 1]) > 0)
    # all three skew linearly and keep δᵃ + δᵇ independent of q
    spread = delta.sum(axis=1)
    np.testing.assert_allclose(spread, spread[0], rtol=1e-12)
    np.testing.assert_allclose(np.diff(delta, 2, axis=0), 0.0, atol=1e-12)


def test_avellaneda_stoikov_skew_vanishes_at_the_horizon_and_grows_with_time_left():
    policy = AvellanedaStoikov(0.3, 1.5, 0.8)
    base = math.log1p(0.3 / 1.5) / 0.3
    at_end = avellaneda_stoikov_quotes(QS, 0.0, 0.3, 1.5, 0.8)
    np.testing.assert_allclose(at_end, base)  # τ = 0: symmetric (1/γ)ln(1 + γ/k)
    tilt = [np.ptp(policy.act(maker_state(QS, t=t))[:, 0]) for t in (0.9, 0.5, 0.0)]
    assert tilt[0] < tilt[1] < tilt[2]


def test_zero_risk_aversion_limit_is_the_monopoly_spread_one_over_k():
    k = 1.5
    for quotes in (
        avellaneda_stoikov_quotes(QS, 0.7, 0.0, k, 0.8),
        gueant_lehalle_fernandez_tapia_quotes(QS, 0.0, k, 0.8, 5.0),
    ):
        np.testing.assert_allclose(quotes, 1 / k, rtol=1e-15)
    # continuity: at γ = 1e-8 the quotes move by O(γ) from 1/k (AS) and by O(√γ) (GLFT's ω)
    np.testing.assert_allclose(avellaneda_stoikov_quotes(QS, 0.7, 1e-8, k, 0.8), 1 / k, atol=1e-6)
    glft = gueant_lehalle_fernandez_tapia_quotes(QS, 1e-8, k, 0.8, 5.0)
    np.testing.assert_allclose(glft, 1 / k, atol=6 * math.sqrt(1e-8))


def test_constant_spread_and_floor():
    np.testing.assert_array_equal(ConstantSpread(0.4).act(maker_state(QS)), 0.4)
    floored = InventorySkew(0.5, 0.2, min_half_spread=0.0).act(maker_state(QS))
    assert floored.min() == 0.0  # |q| = 5 would quote 0.5 − 1.0 < 0 without the floor
    np.testing.assert_array_equal(
        floored, np.maximum(InventorySkew(0.5, 0.2).act(maker_state(QS)), 0)
    )


# ---- factories ----------------------------------------------------------------------------------


def test_maker_heuristics_are_registered():
    names = {"constant_spread", "inventory_skew", "avellaneda_stoikov"}
    assert names | {"gueant_lehalle_fernandez_tapia"} <= set(available_policies("maker"))


def test_maker_factories_fill_defaults_from_the_scenario():
    trader = ({"policy": "twap"},)
    makers = (
        {"policy": "constant_spread"},
        {"policy": "avellaneda_stoikov", "running_penalty": 0.5},
        {"policy": "gueant_lehalle_fernandez_tapia"},
        {"policy": "inventory_skew", "params": {"skew": 0.1, "half_spread": 0.3}},
        {
            "policy": "avellaneda_stoikov",
            "params": {"risk_aversion": 0.2, "volatility": 0.1, "intensity_decay": 3.0},
        },
    )
    noise = NoiseSpec(buy_rate=(2.0, 4.0), sell_rate=6.0)
    scn = policy_scenario(
        traders=trader, makers=makers, market={"intensity_decay": 2.5}, noise=noise, volatility=2.0
    )
    assert build(scn, "maker_0").half_spread == 1 / 2.5
    ast = build(scn, "maker_1")
    # γ = 2φ/σ² = 2·0.5/4; k from market.intensity_decay; σ from price.volatility
    assert (ast.risk_aversion, ast.intensity_decay, ast.volatility) == (0.25, 2.5, 2.0)
    glft = build(scn, "maker_2")
    assert (glft.risk_aversion, glft.arrival_rate) == (0.0, (3.0 + 6.0) / 2)  # φ = 0 ⇒ γ = 0
    skew = build(scn, "maker_3")
    assert (skew.half_spread, skew.skew, skew.min_half_spread) == (0.3, 0.1, None)
    explicit = build(scn, "maker_4")
    assert (explicit.risk_aversion, explicit.intensity_decay, explicit.volatility) == (0.2, 3, 0.1)
    logit = policy_scenario(
        "logit", traders=trader, makers=makers[:1], market={"share_sharpness": 4.0}
    )
    assert build(logit, "maker_0").half_spread == 0.25  # logit: k = ς


def _bad_maker_cases():
    q = r"makers\[0\] \('maker_0'\)\.params\."
    return [
        ("constant_spread", {}, {"half_spread": -1}, q + r"half_spread = -1 .*\[0, ∞\)"),
        ("constant_spread", {}, {"spread": 1}, r"unknown key\(s\) \['spread'\]"),
        ("constant_spread", {}, {"intensity_decay": 0}, q + r"intensity_decay = 0 .*\(0, ∞\)"),
        ("inventory_skew", {}, {}, q + r"skew is required .*\[0, ∞\)"),
        ("inventory_skew", {}, {"skew": -0.1}, q + r"skew = -0\.1 "),
        ("avellaneda_stoikov", {}, {"risk_aversion": -1}, q + r"risk_aversion = -1 .*\[0, ∞\)"),
        ("avellaneda_stoikov", {}, {"volatility": -1}, q + r"volatility = -1 .*\[0, ∞\)"),
        ("avellaneda_stoikov", {}, {"min_half_spread": "x"}, q + r"min_half_spread = 'x' is not"),
        ("avellaneda_stoikov", {"volatility": 0.0}, {}, q + r"risk_aversion is required.*σ = 0"),
        ("gueant_lehalle_fernandez_tapia", {}, {"arrival_rate": 0}, q + r"arrival_rate = 0 "),
        (
            "gueant_lehalle_fernandez_tapia",
            {"noise": NoiseSpec(0.0, 0.0)},
            {},
            r"noise rates \(\(buy_rate \+ sell_rate\)/2\) = 0\.0 .*params\.arrival_rate",
        ),
        (
            "gueant_lehalle_fernandez_tapia",
            {"kind": "logit", "noise": NoiseSpec(factor=FactorSpec())},
            {},
            q + r"arrival_rate is required",
        ),
        (
            "constant_spread",
            {"market": {"intensity": lambda x: np.exp(-x)}},
            {},
            q + r"intensity_decay is required",
        ),
    ]


@pytest.mark.parametrize(("policy", "setting", "params", "message"), _bad_maker_cases())
def test_bad_maker_parameters_raise_errors_naming_field_value_and_range(
    policy, setting, params, message
):
    setting = dict(setting)
    volatility = setting.pop("volatility", 1.0)
    maker = {"policy": policy, "params": params, "running_penalty": 0.1}
    scn = policy_scenario(
        traders=({"policy": "twap"},), makers=(maker,), volatility=volatility, **setting
    )
    with pytest.raises(ValueError, match=message):
        build(scn, "maker_0")


@pytest.mark.parametrize("lot", [0.25, 1.0, 4.0])
def test_glft_quotes_scale_with_the_order_size(lot):
    # Guéant (2017) §4 with order size Δ and A_Δ = A/Δ orders per unit time, written out:
    # δᵇ = ln(1 + γΔ/k)/(γΔ) + (2q + Δ)/2·√(γσ²/(2A_ΔΔk)·(1 + γΔ/k)^{1 + k/(γΔ)})
    gamma, k, sigma, arrival = 0.3, 1.5, 0.8, 20.0
    q = np.array([-2.0, 0.0, 3.0])
    a_lots, g = arrival / lot, gamma * lot
    base = math.log(1 + g / k) / g
    omega = math.sqrt(gamma * sigma**2 / (2 * a_lots * lot * k) * (1 + g / k) ** (1 + k / g))
    expected = np.stack([base - (2 * q - lot) / 2 * omega, base + (2 * q + lot) / 2 * omega], -1)
    quotes = gueant_lehalle_fernandez_tapia_quotes(q, gamma, k, sigma, arrival, lot)
    np.testing.assert_allclose(quotes, expected, rtol=1e-13)
    # the policy reads the scenario's lot_size by default
    scn = policy_scenario(
        makers=(
            {
                "policy": "gueant_lehalle_fernandez_tapia",
                "params": {
                    "risk_aversion": gamma,
                    "intensity_decay": k,
                    "volatility": sigma,
                    "arrival_rate": arrival,
                },
            },
        )
    )
    scn = dataclasses.replace(scn, lot_size=lot)
    np.testing.assert_allclose(build(scn, "maker_0").act(maker_state(q)), expected, rtol=1e-13)
