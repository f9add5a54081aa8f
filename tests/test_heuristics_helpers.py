"""Shared builders for the heuristics tests (no tests here): a ``MarketState``, small scenarios."""

from __future__ import annotations

from typing import Any

import numpy as np

from policies.base import MarketState
from policies.registry import PolicyContext, build_policy
from simulator.scenario import AgentSpec, MarketSpec, NoiseSpec, PriceSpec, Scenario


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


def scenario(
    kind: str = "best_quote",
    *,
    traders: tuple[dict[str, Any], ...] = (),
    makers: tuple[dict[str, Any], ...] = (),
    market: dict[str, Any] | None = None,
    noise: NoiseSpec | None = None,
    volatility: float = 1.0,
) -> Scenario:
    """A small scenario; agents are given as AgentSpec keyword dicts (name/role filled in)."""
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
    return Scenario(
        name="heuristics-test",
        market=MarketSpec(kind=kind, **{"temporary_impact": 0.5, **(market or {})}),
        horizon=1.0,
        steps=100,
        traders=specs_t,
        makers=specs_m,
        price=PriceSpec(volatility=volatility),
        noise=noise or NoiseSpec(buy_rate=4.0, sell_rate=6.0),
    )


def build(scn: Scenario, name: str):
    """Build the policy of agent ``name`` of ``scn`` through the registry."""
    agent = next(a for a in scn.agents if a.name == name)
    return build_policy(PolicyContext(scenario=scn, agent=agent, cache={}))
