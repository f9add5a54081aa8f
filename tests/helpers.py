"""Shared test scaffolding (no tests here): test policies, scenario and game builders.

The policies are legitimate test policies (constant rate, constant spread, linear inventory
feedback), not mocks: the engine must treat them exactly like production policies. They are
registered under ``test_*`` names when this module is imported (``tests/conftest.py`` does so).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from policies.base import MarketState, Policy
from policies.catalog import available_policies, build_policy
from policies.equilibrium.execution import ExecutionGame
from policies.equilibrium.market_making_nash import DiscreteBestQuoteGame
from policies.registry import PolicyContext, register_policy
from simulator.scenario import AgentSpec, NoiseSpec, PriceSpec, Scenario, market_spec

# ---- test policies -------------------------------------------------------------------------------


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


# ---- scenarios -----------------------------------------------------------------------------------


def _agent(role: str, default_policy: str):
    def spec(
        i: int,
        q0: float = 0.0,
        policy: str = default_policy,
        phi: float = 0.0,
        A: float = 0.0,
        **params: Any,
    ) -> AgentSpec:
        return AgentSpec(f"{role}_{i}", role, policy, q0, phi, A, params)

    spec.__name__ = spec.__qualname__ = role
    spec.__doc__ = (
        f"``AgentSpec('{role}_<i>', '{role}', policy, q0, φ, A, params)``; the default policy "
        f"is ``{default_policy}``, extra keywords are its params."
    )
    return spec


trader = _agent("trader", "test_constant_rate")
maker = _agent("maker", "test_constant_spread")


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
    """A scenario with P₀ = 0 (the solvers' convention) from :func:`trader`/:func:`maker` specs."""
    return Scenario(
        name=f"test_{kind}",
        market=market_spec(kind, **market),
        horizon=horizon,
        steps=steps,
        traders=traders,
        makers=makers,
        price=PriceSpec(initial=0.0, volatility=volatility),
        noise=noise or NoiseSpec(),
        flow=flow,
        lot_size=lot_size,
    )


def policy_scenario(
    kind: str = "best_quote",
    *,
    traders: tuple[dict[str, Any], ...] = (),
    makers: tuple[dict[str, Any], ...] = (),
    market: dict[str, Any] | None = None,
    noise: NoiseSpec | None = None,
    volatility: float = 1.0,
) -> Scenario:
    """A 100-step scenario for policy factories; agents are AgentSpec keyword dicts (name and
    role filled in, q₀ = 10 for traders); quote markets get a ``constant_spread`` maker if none."""
    specs_t = tuple(
        AgentSpec(**{"name": f"trader_{i}", "role": "trader", "initial_inventory": 10.0, **d})
        for i, d in enumerate(traders)
    )
    specs_m = tuple(
        AgentSpec(**{"name": f"maker_{i}", "role": "maker", "initial_inventory": 0.0, **d})
        for i, d in enumerate(makers)
    )
    if kind != "impact" and not specs_m:
        specs_m = (AgentSpec("maker_0", "maker", "constant_spread", 0.0),)
    return scenario(
        kind,
        specs_t,
        specs_m,
        steps=100,
        noise=noise or NoiseSpec(buy_rate=4.0, sell_rate=6.0),
        volatility=volatility,
        **{"temporary_impact": 0.5, **(market or {})},
    )


def build(scn: Scenario, name: str) -> Policy:
    """Build the policy of agent ``name`` of ``scn`` through the registry."""
    agent = next(a for a in scn.agents if a.name == name)
    return build_policy(PolicyContext(scenario=scn, agent=agent, cache={}))


def own_state(
    inventory: np.ndarray,
    *,
    t: float = 0.0,
    dt: float = 0.01,
    horizon: float = 1.0,
    initial: np.ndarray | None = None,
    buy: float | np.ndarray = 0.0,
    sell: float | np.ndarray = 0.0,
    role: str = "trader",
) -> MarketState:
    """The state seen by a lone agent (column 0) holding ``inventory`` on each path."""
    q = np.asarray(inventory, dtype=float)
    m = q.shape[0]
    q0 = q if initial is None else np.asarray(initial, dtype=float)
    return MarketState(
        t=t,
        step=round(t / dt),
        dt=dt,
        horizon=horizon,
        index=0,
        names=("me",),
        roles=(role,),
        inventories=q[:, None],
        initial_inventories=q0[:, None],
        reference_price=np.zeros(m),
        noise_drift=np.zeros(m),
        noise_buy_rate=np.broadcast_to(np.asarray(buy, dtype=float), (m,)),
        noise_sell_rate=np.broadcast_to(np.asarray(sell, dtype=float), (m,)),
    )


# ---- §2 execution games --------------------------------------------------------------------------

# The heterogeneous three-trader population used across the §2 tests: a large seller, a buyer
# with the strongest penalties and a small seller.
THREE_TRADERS = dict(
    initial_inventory=(5.0, -3.0, 2.0),
    running_penalty=(0.2, 0.5, 0.1),
    terminal_penalty=(1.0, 2.0, 0.5),
)


def execution_game(**kw: Any) -> ExecutionGame:
    """The :data:`THREE_TRADERS` game on T = 1 with α = 0.3, β = 0.5; ``kw`` overrides any field."""
    args = dict(horizon=1.0, permanent_impact=0.3, temporary_impact=0.5, **THREE_TRADERS)
    return ExecutionGame(**{**args, **kw})


def single_trader_game(
    alpha: float, beta: float, phi: float, a_pen: float, q0: float, horizon: float = 1.0
) -> ExecutionGame:
    """N = 1, no noise: Almgren–Chriss with permanent impact (see :func:`almgren_chriss_h`)."""
    return ExecutionGame(
        horizon=horizon,
        permanent_impact=alpha,
        temporary_impact=beta,
        running_penalty=phi,
        terminal_penalty=a_pen,
        initial_inventory=[q0],
    )


def almgren_chriss_h(tau: float, alpha: float, beta: float, phi: float, a_pen: float) -> float:
    """h(τ) of the N = 1 game: J = α/2 (Q_T² − q₀²) − ∫(βv² + φQ²) − A Q_T² is Almgren–Chriss
    with terminal penalty A' = A − α/2, so h_τ = φ − h²/β, h(0) = A', i.e.
    h = √(φβ)(A' + √(φβ) tanh κτ)/(√(φβ) + A' tanh κτ), κ = √(φ/β); v = −hQ/β and the value
    is J = −(h(T) + α/2) q₀²."""
    root, kappa, a_eff = math.sqrt(phi * beta), math.sqrt(phi / beta), a_pen - alpha / 2
    th = math.tanh(kappa * tau)
    return root * (a_eff + root * th) / (root + a_eff * th)


# ---- §3/§4 best-quote markets --------------------------------------------------------------------


# The §4 ACAS game (one buyer, two makers) shared by the market-making tests.
ACAS = dict(
    horizon=1.0,
    temporary_impact=0.5,
    intensity_decay=2.0,
    running_penalty=0.1,
    terminal_penalty=1.0,
    trader_inventory=-5.0,
    maker_inventories=(1.0, 0.0),
    noise_buy_rate=1.0,
    noise_sell_rate=1.0,
)


GRID_MARKET = dict(
    horizon=1.0,
    temporary_impact=0.5,
    trader_inventories=[-10.0],
    maker_inventories=[0.5, -1.0],
    trader_running_penalty=0.1,
    trader_terminal_penalty=1.0,
    maker_running_penalty=0.1,
    maker_terminal_penalty=1.0,
    noise_buy_rate=1.0,
    noise_sell_rate=1.5,
)
"""One buyer and two makers on the engine grid (β = 0.5), without the fill intensity."""


def best_quote_market(steps: int = 60, **kw: Any) -> DiscreteBestQuoteGame:
    """An ACAS-like discrete market (:data:`GRID_MARKET` with γ = 2); ``kw`` overrides."""
    return DiscreteBestQuoteGame(**{**GRID_MARKET, "steps": steps, "intensity_decay": 2.0, **kw})
