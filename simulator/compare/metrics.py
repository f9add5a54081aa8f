"""Per-path metrics of one simulated profile, from the recorded arrays of a
:class:`~simulator.result.SimulationResult` (every path recorded).

Notation: x_k = bought − sold volume of step k (signed), p_k the per-share price of a trader's
fills (``fill_price``, temporary cost included), P_k the reference price at t_k, P₀ the arrival
price. Everything is read from what the engine recorded; nothing re-implements the mechanism.

**Traders.** Implementation shortfall against the arrival price, a cost (> 0 is bad):

    IS = Σ_k (p_k − P₀) x_k = timing + permanent impact + quote/spread cost + temporary cost,

* timing = Σ (P_k − P₀) x_k: the reference price's own moves (mean ≈ 0, P is a martingale);
* permanent impact (§2) = Σ (m_k − P_k) x_k with m_k = P_k + ½(D_k + D_{k+1}), D = S − P the
  recorded price displacement: the fill price's step-average displacement by the permanent
  impact of all flow (own, other traders', noise pressure ϖ); zero in §3–§5, where P is
  exogenous;
* quote/spread cost (§3–§5) = Σ s_k x_k with s_k the best half-spread on the trader's side
  (``best_ask`` for a buyer, −``best_bid`` for a seller; Eq. (12));
* temporary cost = Σ (p_k − m_k) x_k with m_k the impact-free price (§2) or the best quote
  (§3–§5): the engine's λ(v) per share.

The identity holds to rounding. ``penalties`` = ∫φQ²dt +
A·Q_T²; ``completion`` = 1 − Q_T/q₀, the executed fraction of the order; ``shortfall_bps`` =
IS/(|q₀|·P₀)·10⁴ when the scenario gives a price level P₀ > 0.

**Makers.** ``spread_captured`` = Σ (δᵃ_k·sold_k + δᵇ_k·bought_k) (fills at P ± δ); ``volume``
= Σ (bought + sold); ``inventory_std`` = the standard deviation of Q over the grid times of a
path; ``max_abs_inventory`` = max_t |Q_t|; ``terminal_inventory`` = Q_T; ``pnl`` = the
marked-to-market P&L cash_T − cash_0 + P_T Q_T − P₀ q₀ (no penalties).

**Market.** ``quoted_spread`` = best δᵃ + best δᵇ (§3–§5); ``effective_spread`` = 2 × the
volume-weighted cost per share of market orders (traders' and noise traders') against the
impact-free mid m_k (§2) or P_k (§3–§5); ``volume`` = the market orders' volume; ``price_impact``
(§2) = D_T = S_T − P_T; ``welfare`` = Σ of the strategic agents' J.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.result import AgentPath, SimulationResult

TRADER_METRICS = (
    "shortfall",
    "timing",
    "permanent_impact",
    "spread_cost",
    "temporary_cost",
    "penalties",
    "completion",
)
MAKER_METRICS = (
    "spread_captured",
    "volume",
    "inventory_std",
    "max_abs_inventory",
    "terminal_inventory",
    "pnl",
)
MARKET_METRICS = ("quoted_spread", "effective_spread", "volume", "price_impact", "welfare")


@dataclass(frozen=True)
class Fan:
    """5%, 50% and 95% quantiles over paths, ``(3, T)``, of an agent's inventory and actions."""

    inventory: np.ndarray
    actions: dict[str, np.ndarray]


def _check(result: SimulationResult) -> None:
    if result.recorded_paths != result.paths:
        raise ValueError(
            f"metrics need every path recorded; got {result.recorded_paths} of {result.paths}"
        )


def _displacement(result: SimulationResult) -> np.ndarray | None:
    """D = S − P on the grid (§2), None in §3–§5."""
    s = result.market.get("market_price")
    return None if s is None else s - result.reference_price


def _mid(result: SimulationResult) -> np.ndarray:
    """Impact-free price of each step, ``(n, M)``: P_k + ½(D_k + D_{k+1}) (§2) or P_k."""
    p = result.reference_price[:-1]
    d = _displacement(result)
    return p if d is None else p + 0.5 * (d[:-1] + d[1:])


def trader_metrics(result: SimulationResult, agent: AgentPath) -> dict[str, np.ndarray]:
    """Per-path trader metrics (module docstring), each ``(M,)``."""
    _check(result)
    x = agent.buy_volume - agent.sell_volume
    p_ref = result.reference_price
    p0 = p_ref[0]
    pk = p_ref[:-1]
    mid = _mid(result)
    if not result.scenario.market.has_quotes:
        quote = mid
    else:
        quote = pk + (result.best_ask if agent.inventory[0, 0] < 0 else -result.best_bid)
    out = {
        "shortfall": ((agent.fill_price - p0) * x).sum(axis=0),
        "timing": ((pk - p0) * x).sum(axis=0),
        "permanent_impact": ((mid - pk) * x).sum(axis=0),
        "spread_cost": ((quote - mid) * x).sum(axis=0),
        "temporary_cost": ((agent.fill_price - quote) * x).sum(axis=0),
        "penalties": agent.running_cost + agent.terminal_cost,
        "completion": 1.0 - agent.inventory[-1] / agent.inventory[0],
    }
    level = result.scenario.price.initial
    if level > 0:
        out["shortfall_bps"] = out["shortfall"] / (abs(agent.inventory[0]) * level) * 1e4
    return out


def maker_metrics(result: SimulationResult, agent: AgentPath) -> dict[str, np.ndarray]:
    """Per-path maker metrics (module docstring), each ``(M,)``."""
    _check(result)
    q, p = agent.inventory, result.reference_price
    return {
        "spread_captured": (
            agent.ask_spread * agent.sell_volume + agent.bid_spread * agent.buy_volume
        ).sum(axis=0),
        "volume": (agent.buy_volume + agent.sell_volume).sum(axis=0),
        "inventory_std": q.std(axis=0),
        "max_abs_inventory": np.abs(q).max(axis=0),
        "terminal_inventory": q[-1],
        "pnl": agent.cash[-1] - agent.cash[0] + p[-1] * q[-1] - p[0] * q[0],
    }


def market_metrics(result: SimulationResult) -> dict[str, float | np.ndarray]:
    """Market metrics: scalars, and ``welfare`` per path ``(M,)`` (module docstring)."""
    _check(result)
    mid = _mid(result)
    cost, volume = np.zeros(result.paths), np.zeros(result.paths)
    for a in result.agents:
        if a.role == "trader":
            x = a.buy_volume - a.sell_volume
            cost += ((a.fill_price - mid) * x).sum(axis=0)
            volume += np.abs(x).sum(axis=0)
        elif a.role == "noise":
            cost += ((a.buy_price - mid) * a.buy_volume).sum(axis=0)
            cost += ((mid - a.sell_price) * a.sell_volume).sum(axis=0)
            volume += (a.buy_volume + a.sell_volume).sum(axis=0)
    total = float(volume.sum())
    out: dict[str, float | np.ndarray] = {
        "effective_spread": 2.0 * float(cost.sum()) / total if total > 0 else float("nan"),
        "volume": float(volume.mean()),
        "welfare": sum(a.objective for a in result.agents if a.role in ("trader", "maker")),
    }
    if "best_ask" in result.market:
        out["quoted_spread"] = float((result.best_ask + result.best_bid).mean())
    d = _displacement(result)
    if d is not None:
        out["price_impact"] = float(d[-1].mean())
    return out


def fan(agent: AgentPath) -> Fan:
    """The 5/50/95% quantiles over paths of ``agent``'s inventory, rate or half-spreads."""
    qs = (0.05, 0.5, 0.95)
    actions = {}
    for key in ("rate", "ask_spread", "bid_spread"):
        arr = getattr(agent, key)
        if arr is not None:
            actions[key] = np.quantile(arr, qs, axis=1)
    return Fan(np.quantile(agent.inventory, qs, axis=1), actions)
