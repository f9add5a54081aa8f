"""The Nash gap of a scenario's strategy profile, whatever its market.

For each strategic agent: its payoff under the profile, the payoff of its best response with
every other agent's strategy held fixed *as a process* (the open-loop notion of Guo & Jin,
Definitions 2.3 and 3.7), and the gain. The gain vanishes (as the grid refines) exactly when the
profile is a Nash equilibrium; for a heuristic it measures how exploitable the heuristic is.

This module plays the profile (one fluid path of :func:`simulator.simulate`: deterministic noise
rates make every profile deterministic) and hands the schedules to the array-level best
responses of the games: :mod:`policies.equilibrium.execution_nash` (§2, a quadratic programme)
and :mod:`policies.equilibrium.market_making_nash` (§3–§4, a nonlinear control problem for the
makers). :func:`best_responses` hands those best responses back as policies
(:class:`SchedulePolicy`), to be played in the simulator.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from policies.base import MarketState, Policy, Role
from policies.equilibrium.adapters import discrete_best_quote_game, execution_game
from policies.equilibrium.execution import ExecutionGame
from policies.equilibrium.execution_nash import execution_best_response, execution_nash_gap
from policies.equilibrium.market_making_nash import (
    DiscreteBestQuoteGame,
    maker_best_response,
    market_making_nash_gap,
    trader_best_response,
)
from simulator.scenario import Scenario
from simulator.simulation import build_policies, simulate

__all__ = [
    "BestResponses",
    "SchedulePolicy",
    "best_quote_profile",
    "best_responses",
    "execution_profile",
    "nash_gap",
    "scenario_nash_gap",
]


def _fluid(scenario: Scenario) -> None:
    if scenario.flow != "fluid":
        raise ValueError(f"flow = {scenario.flow!r}; the Nash gap needs flow = 'fluid'")


def execution_profile(scenario: Scenario, seed: int = 0) -> tuple[ExecutionGame, np.ndarray]:
    """The game of a fluid ``impact`` scenario and the rate schedules ``(steps, N)`` its
    policies play (one simulated fluid path: deterministic noise rates make every profile
    deterministic; σ of the reference price does not affect expected payoffs)."""
    _fluid(scenario)
    game = execution_game(scenario)
    res = simulate(scenario, paths=1, seed=seed)
    rates = np.column_stack([res.agent(name).rate[:, 0] for name in game.agent_names])
    return game, rates


def best_quote_profile(
    scenario: Scenario, seed: int = 0
) -> tuple[DiscreteBestQuoteGame, np.ndarray, np.ndarray]:
    """The market and the profile's schedules ``(N_t, n)``, ``(N_m, n, 2)`` played in a
    ``best_quote`` / ``acas`` scenario.

    Runs ``simulate(scenario, paths=1)`` in fluid mode with the reference price frozen at P₀
    (volatility 0: P is a martingale, so the expected payoffs are unchanged and a policy that
    reads the price cannot make the profile random). The policies are built from the original
    scenario, so parameters that default to the price volatility keep their values.
    """
    _fluid(scenario)
    market = discrete_best_quote_game(scenario)
    frozen = dataclasses.replace(
        scenario, price=dataclasses.replace(scenario.price, volatility=0.0)
    )
    played = dict(zip([a.name for a in scenario.agents], build_policies(scenario), strict=True))
    res = simulate(frozen, paths=1, seed=seed, policies=played)
    rates = np.stack([res.agent(a.name).rate[:, 0] for a in scenario.traders])
    quotes = np.stack(
        [
            np.stack(
                [res.agent(a.name).ask_spread[:, 0], res.agent(a.name).bid_spread[:, 0]], axis=1
            )
            for a in scenario.makers
        ]
    )
    return market, rates, quotes


def scenario_nash_gap(scenario: Scenario, seed: int = 0) -> pd.DataFrame:
    """The game's Nash-gap table of the profile a fluid scenario plays (no ``policy`` column)."""
    kind = scenario.market.kind
    if kind == "impact":
        return execution_nash_gap(*execution_profile(scenario, seed=seed))
    if kind in ("best_quote", "acas"):
        return market_making_nash_gap(*best_quote_profile(scenario, seed=seed))
    raise ValueError(
        f"market.kind = {kind!r} has no Nash-gap computation; allowed: 'impact', "
        "'best_quote', 'acas'"
    )


def nash_gap(scenario: Scenario, seed: int = 0) -> pd.DataFrame:
    """Nash gap of the profile that ``scenario``'s policies play (fluid flow, deterministic noise).

    Returns a DataFrame with columns agent, policy, role, payoff, best_response_payoff, gain
    (and any diagnostics the game adds), one row per strategic agent.
    """
    gap = scenario_nash_gap(scenario, seed=seed)
    policies = {a.name: a.policy for a in scenario.agents}
    gap.insert(1, "policy", gap["agent"].map(policies))
    return gap


class SchedulePolicy(Policy):
    """A deterministic schedule played open loop, the same on every path: ``(n,)`` rates for a
    trader or ``(n, 2)`` half-spreads (δᵃ, δᵇ) for a maker, on the engine grid."""

    def __init__(self, role: Role, name: str, schedule: np.ndarray) -> None:
        self.role, self.name = role, name
        self.schedule = np.asarray(schedule, dtype=float)

    def act(self, state: MarketState) -> np.ndarray:
        action = self.schedule[state.step]
        if self.role == "trader":
            return np.full(state.paths, action)
        return np.broadcast_to(action, (state.paths, 2))


@dataclass(frozen=True)
class BestResponses:
    """The best responses of :func:`nash_gap` as policies.

    ``profile``: every agent's schedule in the scenario's profile (named ``<policy>_schedule``);
    ``best``: every agent's best-response schedule (named ``best_response``). The Nash gap holds
    the others fixed *as processes* (open loop), so :meth:`deviation` plays the others'
    schedules: its fluid payoff for ``agent`` is ``best_response_payoff`` (the others' feedback
    policies would react to the deviation instead).
    """

    profile: dict[str, SchedulePolicy]
    best: dict[str, SchedulePolicy]

    def deviation(self, agent: str) -> dict[str, Policy]:
        """Policies for ``simulate(..., policies=...)``: ``agent`` best-responds, others fixed."""
        if agent not in self.best:
            raise ValueError(f"agent = {agent!r}; allowed: one of {sorted(self.best)}")
        return {**self.profile, agent: self.best[agent]}


def best_responses(scenario: Scenario, seed: int = 0) -> BestResponses:
    """Each strategic agent's best response to ``scenario``'s profile, as policies (same
    markets and fluid flow as :func:`nash_gap`)."""
    kind = scenario.market.kind
    played = {a.name: f"{a.policy}_schedule" for a in scenario.agents}
    profile: dict[str, SchedulePolicy] = {}
    best: dict[str, SchedulePolicy] = {}
    if kind == "impact":
        game, rates = execution_profile(scenario, seed=seed)
        for i, name in enumerate(game.agent_names):
            u = execution_best_response(game, rates, i)[0]
            profile[name] = SchedulePolicy("trader", played[name], rates[:, i])
            best[name] = SchedulePolicy("trader", "best_response", u)
    elif kind in ("best_quote", "acas"):
        market, rates, quotes = best_quote_profile(scenario, seed=seed)
        for i, name in enumerate(market.trader_names):
            br = trader_best_response(market, rates, quotes, i)
            profile[name] = SchedulePolicy("trader", played[name], rates[i])
            best[name] = SchedulePolicy("trader", "best_response", br.schedule)
        for j, name in enumerate(market.maker_names):
            br = maker_best_response(market, rates, quotes, j)
            profile[name] = SchedulePolicy("maker", played[name], quotes[j])
            best[name] = SchedulePolicy("maker", "best_response", br.schedule)
    else:
        raise ValueError(
            f"market.kind = {kind!r} has no best-response computation; allowed: 'impact', "
            "'best_quote', 'acas'"
        )
    return BestResponses(profile, best)
