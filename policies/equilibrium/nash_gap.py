"""The Nash gap of a scenario's strategy profile, whatever its market.

For each strategic agent: its payoff under the profile, the payoff of its best response with
every other agent's strategy held fixed *as a process* (the open-loop notion of Guo & Jin,
Definitions 2.3 and 3.7), and the gain. The gain vanishes (as the grid refines) exactly when the
profile is a Nash equilibrium; for a heuristic it measures how exploitable the heuristic is.

The best responses themselves live with their games: :mod:`.execution_nash` (§2, a quadratic
programme) and :mod:`.market_making_nash` (§3–§4, a nonlinear control problem for the makers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from policies.base import MarketState, Policy, Role
from policies.equilibrium import execution_nash, market_making_nash
from simulator.scenario import Scenario


def nash_gap(scenario: Scenario, seed: int = 0) -> pd.DataFrame:
    """Nash gap of the profile that ``scenario``'s policies play (fluid flow, deterministic noise).

    Returns a DataFrame with columns agent, policy, role, payoff, best_response_payoff, gain
    (and any diagnostics the game adds), one row per strategic agent.
    """
    kind = scenario.market.kind
    if kind == "impact":
        gap = execution_nash.scenario_nash_gap(scenario, seed=seed)
    elif kind in ("best_quote", "acas"):
        gap = market_making_nash.scenario_nash_gap(scenario, seed=seed)
    else:
        raise ValueError(
            f"market.kind = {kind!r} has no Nash-gap computation; allowed: 'impact', "
            "'best_quote', 'acas'"
        )
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
        game, rates = execution_nash.scenario_profile(scenario, seed=seed)
        for i, name in enumerate(game.agent_names):
            u = execution_nash.execution_best_response(game, rates, i)[0]
            profile[name] = SchedulePolicy("trader", played[name], rates[:, i])
            best[name] = SchedulePolicy("trader", "best_response", u)
    elif kind in ("best_quote", "acas"):
        mm = market_making_nash
        market, rates, quotes = mm.scenario_profile(scenario, seed=seed)
        for i, name in enumerate(market.trader_names):
            br = mm.trader_best_response(market, rates, quotes, i)
            profile[name] = SchedulePolicy("trader", played[name], rates[i])
            best[name] = SchedulePolicy("trader", "best_response", br.schedule)
        for j, name in enumerate(market.maker_names):
            br = mm.maker_best_response(market, rates, quotes, j)
            profile[name] = SchedulePolicy("maker", played[name], quotes[j])
            best[name] = SchedulePolicy("maker", "best_response", br.schedule)
    else:
        raise ValueError(
            f"market.kind = {kind!r} has no best-response computation; allowed: 'impact', "
            "'best_quote', 'acas'"
        )
    return BestResponses(profile, best)
