"""The Nash gap of a scenario's strategy profile, whatever its market.

For each strategic agent: its payoff under the profile, the payoff of its best response with
every other agent's strategy held fixed *as a process* (the open-loop notion of Guo & Jin,
Definitions 2.3 and 3.7), and the gain. The gain vanishes (as the grid refines) exactly when the
profile is a Nash equilibrium; for a heuristic it measures how exploitable the heuristic is.

The best responses themselves live with their games: :mod:`.execution_nash` (§2, a quadratic
programme) and :mod:`.market_making_nash` (§3–§4, a nonlinear control problem for the makers).
"""

from __future__ import annotations

import pandas as pd

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
