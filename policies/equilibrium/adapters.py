"""Scenario → game: the only solver code that reads a :class:`~simulator.scenario.Scenario`.

The solvers take numbers (horizons, coefficients, one value per agent) and return solutions;
this module translates a validated scenario into the game its market kind defines:

* ``impact`` (§2) → :class:`~policies.equilibrium.execution.ExecutionGame`;
* ``best_quote`` (§3), ``acas`` (§4) → :class:`~policies.equilibrium.market_making.MarketMakingGame`
  (continuous time) and :class:`~policies.equilibrium.market_making_nash.DiscreteBestQuoteGame`
  (the engine's grid, for best responses and the Nash gap);
* ``logit`` (§5) → :class:`~policies.equilibrium.logit.LogitGame` and
  :class:`~policies.equilibrium.logit_nash.DiscreteLogitGame` (the engine's grid).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from policies.equilibrium.coefficients import Profile
from policies.equilibrium.execution import ExecutionGame
from policies.equilibrium.logit import FACTOR_KEYS, LogitGame
from policies.equilibrium.logit_nash import DiscreteLogitGame
from policies.equilibrium.market_making import MarketMakingGame
from policies.equilibrium.market_making_nash import DiscreteBestQuoteGame

if TYPE_CHECKING:
    from simulator.scenario import Scenario

__all__ = [
    "discrete_best_quote_game",
    "discrete_logit_game",
    "execution_game",
    "game_for",
    "logit_game",
    "market_making_game",
]


def _rate(value: float | tuple[float, ...]) -> float | Profile:
    """A scenario noise rate for the solvers: a list in the scenario is a time profile (the
    noise traders are one aggregate, so it cannot mean one value per agent)."""
    return Profile(value) if isinstance(value, tuple) else value


def execution_game(scenario: Scenario) -> ExecutionGame:
    """The §2 game of an ``impact`` scenario (α, β, π from the market, φ, A, q₀ per trader)."""
    market = scenario.market
    if market.kind != "impact":
        raise ValueError(
            f"market.kind = {market.kind!r}; allowed: 'impact' (the §2 execution game)"
        )
    if scenario.makers:
        raise ValueError(
            f"makers = {[m.name for m in scenario.makers]!r}; allowed: none in the §2 "
            "impact market (market makers appear only as 'zero intelligence', Remark 2.1(2))"
        )
    if getattr(scenario.noise, "factor", None) is not None:
        raise ValueError(
            "noise.factor is set; allowed: deterministic noise rates in the impact market"
        )
    tr = scenario.traders
    return ExecutionGame(
        horizon=float(scenario.horizon),
        permanent_impact=market.permanent_impact,
        temporary_impact=market.temporary_impact,
        cross_impact=market.cross_impact,
        running_penalty=[a.running_penalty for a in tr],
        terminal_penalty=[a.terminal_penalty for a in tr],
        initial_inventory=[a.initial_inventory for a in tr],
        noise_buy_rate=_rate(scenario.noise.buy_rate),
        noise_sell_rate=_rate(scenario.noise.sell_rate),
        names=[a.name for a in tr],
    )


def _best_quote_kind(scenario: Scenario) -> None:
    mk = scenario.market
    if mk.kind not in ("best_quote", "acas"):
        raise ValueError(
            f"market.kind = {mk.kind!r}; the best-quote games solve 'best_quote' and 'acas'"
        )
    if getattr(scenario.noise, "factor", None) is not None:
        raise ValueError(
            "noise.factor (§5 Markov noise) is set; the best-quote games need deterministic "
            "noise rates"
        )


def _players(scenario: Scenario) -> dict[str, Any]:
    """The keyword arguments every §3–§5 game takes from the scenario's agents: the horizon, the
    initial inventories, the penalties (one value per agent) and the names."""
    tr, mm = scenario.traders, scenario.makers
    return dict(
        horizon=scenario.horizon,
        trader_inventories=tuple(a.initial_inventory for a in tr),
        maker_inventories=tuple(a.initial_inventory for a in mm),
        trader_running_penalty=tuple(a.running_penalty for a in tr),
        trader_terminal_penalty=tuple(a.terminal_penalty for a in tr),
        maker_running_penalty=tuple(a.running_penalty for a in mm),
        maker_terminal_penalty=tuple(a.terminal_penalty for a in mm),
        trader_names=tuple(a.name for a in tr),
        maker_names=tuple(a.name for a in mm),
    )


def market_making_game(scenario: Scenario) -> MarketMakingGame:
    """The continuous-time game of a ``best_quote`` / ``acas`` scenario (§3–§4)."""
    _best_quote_kind(scenario)
    mk, noise = scenario.market, scenario.noise
    return MarketMakingGame(
        **_players(scenario),
        temporary_impact=mk.temporary_impact,
        intensity=mk.intensity,
        intensity_decay=mk.intensity_decay,
        temporary_cost=mk.temporary_cost,
        cost_coupling=mk.cost_coupling,
        noise_buy_rate=_rate(noise.buy_rate),
        noise_sell_rate=_rate(noise.sell_rate),
        min_rate=mk.min_rate,
        max_rate=mk.max_rate,
        max_spread=mk.max_spread,
        maker_policies=tuple(a.policy for a in scenario.makers),
    )


def discrete_best_quote_game(scenario: Scenario) -> DiscreteBestQuoteGame:
    """The best-quote game of a ``best_quote`` / ``acas`` scenario on its engine grid."""
    _best_quote_kind(scenario)
    m, noise = scenario.market, scenario.noise
    times = np.arange(scenario.steps) * scenario.dt
    return DiscreteBestQuoteGame(
        **_players(scenario),
        steps=scenario.steps,
        temporary_impact=m.temporary_impact,
        intensity=m.intensity,
        intensity_decay=m.intensity_decay,
        noise_buy_rate=[noise.buy_rate_at(t, scenario.horizon) for t in times],
        noise_sell_rate=[noise.sell_rate_at(t, scenario.horizon) for t in times],
        temporary_cost=m.temporary_cost,
        cost_coupling=m.cost_coupling,
        max_spread=m.max_spread,
        min_rate=m.min_rate,
        max_rate=m.max_rate,
    )


def logit_game(scenario: Scenario) -> LogitGame:
    """The §5 game of a ``logit`` scenario: ε = ``market.inventory_noise`` and the
    Ornstein–Uhlenbeck factor of ``[noise.factor]`` (deterministic when ε = 0 and the factor is
    absent or has volatility 0; otherwise the stochastic game, solved by regression)."""
    mk, noise = scenario.market, scenario.noise
    if mk.kind != "logit":
        raise ValueError(f"market.kind = {mk.kind!r}; LogitGame solves 'logit' (§5)")
    if mk.temporary_cost != "individual":
        raise ValueError(
            f"market.temporary_cost = {mk.temporary_cost!r}; allowed: 'individual' (βv²) for "
            "the §5 solver"
        )
    factor = noise.factor
    if factor is not None and (factor.drift is not None or factor.diffusion is not None):
        raise ValueError(
            "noise.factor.drift / diffusion callables are set; the §5 solver needs the "
            "Ornstein–Uhlenbeck factor of [noise.factor]"
        )
    return LogitGame(
        **_players(scenario),
        temporary_impact=mk.temporary_impact,
        share_sharpness=mk.share_sharpness,
        share_offsets=mk.share_offsets or None,
        shares=mk.shares,
        noise_buy_rate=_rate(noise.buy_rate),
        noise_sell_rate=_rate(noise.sell_rate),
        factor=None if factor is None else {k: getattr(factor, k) for k in FACTOR_KEYS},
        inventory_noise=mk.inventory_noise,
        min_rate=mk.min_rate,
        max_rate=mk.max_rate,
        max_spread=mk.max_spread,
    )


def discrete_logit_game(
    scenario: Scenario, noise_buy_rate: np.ndarray, noise_sell_rate: np.ndarray
) -> DiscreteLogitGame:
    """The logit market of a ``logit`` scenario on its engine grid, with the noise rates of each
    step given (``(steps,)``: the scenario's rates, or κ(L(t_k)) along a factor path). The
    logit shares only: a user share function has no effective competitor quote."""
    m = scenario.market
    if m.kind != "logit":
        raise ValueError(f"market.kind = {m.kind!r}; DiscreteLogitGame is the 'logit' market")
    if m.shares != "logit":
        raise ValueError(
            "market.shares is a user share function; the logit best responses need the logit "
            "shares ζ = softmax(−ς·δ + o) (market.shares = 'logit')"
        )
    if m.temporary_cost != "individual":
        raise ValueError(
            f"market.temporary_cost = {m.temporary_cost!r}; allowed: 'individual' (βv²) in §5"
        )
    return DiscreteLogitGame(
        **_players(scenario),
        share_sharpness=m.share_sharpness,
        share_offsets=m.share_offsets or None,
        steps=scenario.steps,
        temporary_impact=m.temporary_impact,
        noise_buy_rate=noise_buy_rate,
        noise_sell_rate=noise_sell_rate,
        max_spread=m.max_spread,
        min_rate=m.min_rate,
        max_rate=m.max_rate,
    )


def game_for(scenario: Scenario) -> ExecutionGame | MarketMakingGame | LogitGame:
    """The equilibrium game that a scenario's market mechanism defines."""
    kind = scenario.market.kind
    if kind == "impact":
        return execution_game(scenario)
    if kind in ("best_quote", "acas"):
        return market_making_game(scenario)
    if kind == "logit":
        return logit_game(scenario)
    raise ValueError(
        f"market.kind = {kind!r} has no equilibrium solver; equilibrium policies are "
        "available for 'impact' (§2), 'best_quote' (§3), 'acas' (§4) and 'logit' (§5)"
    )
