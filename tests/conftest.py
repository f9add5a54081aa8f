"""Test scaffolding: tiny policies registered under ``test_*`` names, and scenario builders.

These are legitimate test policies (constant rate, constant spread, linear inventory feedback),
not mocks: the engine must treat them exactly like production policies.
"""

from __future__ import annotations

import os

# Pin BLAS/OpenMP to one thread before numpy is imported (this conftest is loaded before any
# test module): the suite's matrix operations are small, and on this shared 2-core machine a
# multithreaded BLAS made them 10–40× slower. ``setdefault`` keeps an explicit user setting.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from policies.base import MarketState, Policy
from policies.registry import PolicyContext, available_policies, register_policy
from simulator.scenario import AgentSpec, MarketSpec, NoiseSpec, PriceSpec, Scenario


class ConstantRate(Policy):
    """Trader: v = ``rate`` on every path."""

    role = "trader"
    name = "test_constant_rate"

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def act(self, state: MarketState) -> np.ndarray:
        return np.full(state.paths, self.rate)


class InventoryFeedback(Policy):
    """Trader: v = −Q/(T − t) (liquidate linearly; a state-dependent policy)."""

    role = "trader"
    name = "test_feedback"

    def act(self, state: MarketState) -> np.ndarray:
        return -state.inventory / state.time_left


class ConstantSpread(Policy):
    """Maker: (δᵃ, δᵇ) = (``ask``, ``bid``) on every path."""

    role = "maker"
    name = "test_constant_spread"

    def __init__(self, ask: float, bid: float) -> None:
        self.quotes = np.array([ask, bid])

    def act(self, state: MarketState) -> np.ndarray:
        return np.broadcast_to(self.quotes, (state.paths, 2))


class SkewedSpread(Policy):
    """Maker: δᵃ = s − k·Q, δᵇ = s + k·Q (inventory-skewed, path dependent)."""

    role = "maker"
    name = "test_skewed_spread"

    def __init__(self, spread: float, skew: float) -> None:
        self.spread, self.skew = spread, skew

    def act(self, state: MarketState) -> np.ndarray:
        q = state.inventory
        return np.stack([self.spread - self.skew * q, self.spread + self.skew * q], axis=1)


def _register() -> None:
    if "test_constant_rate" in available_policies("trader"):
        return

    @register_policy("trader", "test_constant_rate")
    def _rate(ctx: PolicyContext) -> Policy:
        return ConstantRate(float(ctx.params.get("rate", 0.0)))

    @register_policy("trader", "test_feedback")
    def _feedback(ctx: PolicyContext) -> Policy:
        return InventoryFeedback()

    @register_policy("maker", "test_constant_spread")
    def _spread(ctx: PolicyContext) -> Policy:
        return ConstantSpread(float(ctx.params.get("ask", 1.0)), float(ctx.params.get("bid", 1.0)))

    @register_policy("maker", "test_skewed_spread")
    def _skew(ctx: PolicyContext) -> Policy:
        return SkewedSpread(
            float(ctx.params.get("spread", 1.0)), float(ctx.params.get("skew", 0.1))
        )


_register()


def trader(
    i: int,
    q0: float,
    policy: str = "test_constant_rate",
    phi: float = 0.0,
    A: float = 0.0,
    **params: Any,
) -> AgentSpec:
    return AgentSpec(f"trader_{i}", "trader", policy, q0, phi, A, params)


def maker(
    i: int,
    q0: float = 0.0,
    policy: str = "test_constant_spread",
    phi: float = 0.0,
    A: float = 0.0,
    **params: Any,
) -> AgentSpec:
    return AgentSpec(f"maker_{i}", "maker", policy, q0, phi, A, params)


def scenario(
    kind: str,
    traders: tuple,
    makers: tuple = (),
    *,
    steps: int = 50,
    horizon: float = 1.0,
    noise: NoiseSpec | None = None,
    flow: str = "fluid",
    lot_size: float = 1.0,
    volatility: float = 1.0,
    **market: Any,
) -> Scenario:
    return Scenario(
        name=f"test_{kind}",
        market=MarketSpec(kind=kind, **market),
        horizon=horizon,
        steps=steps,
        traders=traders,
        makers=makers,
        price=PriceSpec(initial=0.0, volatility=volatility),
        noise=noise or NoiseSpec(),
        flow=flow,
        lot_size=lot_size,
    )


@pytest.fixture
def acas_scenario() -> Scenario:
    return scenario(
        "acas",
        (trader(0, -5.0, rate=4.0, phi=0.1, A=1.0),),
        (
            maker(0, ask=0.4, bid=0.6, phi=0.05, A=0.5),
            maker(1, policy="test_skewed_spread", spread=0.5, skew=0.2),
        ),
        noise=NoiseSpec(buy_rate=3.0, sell_rate=(2.0, 4.0)),
        temporary_impact=0.2,
        intensity_decay=2.0,
        max_spread=3.0,
        min_rate=0.5,
        max_rate=10.0,
    )
