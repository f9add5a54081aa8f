"""Equilibrium solvers, one module per game of Guo & Jin, and the Nash gap.

* :class:`ExecutionGame` — §2, N traders with permanent and temporary impact (Thm 2.7).
* :class:`MarketMakingGame` — §3–§4, traders and makers in the best-quote market (Thm 4.1–4.3).
* :class:`MeanFieldGame` — §4, Proposition 4.5: a continuum of traders and two makers.
* :func:`nash_gap` — each agent's best-response gain against any scenario's profile;
  :func:`best_responses` — those best responses as policies (:class:`SchedulePolicy`).

Importing this package registers the scenario policies ``equilibrium`` (feedback map) and
``equilibrium_open_loop`` (equilibrium schedule) for traders and makers.
"""

from policies.equilibrium import play  # noqa: F401  (registers the "equilibrium" policies)
from policies.equilibrium.execution import ExecutionGame, ExecutionSolution, RiccatiBlowUpError
from policies.equilibrium.execution_nash import (
    execution_best_response,
    execution_nash_gap,
    execution_payoffs,
)
from policies.equilibrium.market_making import (
    MarketMakingGame,
    MarketMakingSolution,
    MarketMakingSolveError,
)
from policies.equilibrium.market_making_nash import (
    BestResponseError,
    DiscreteBestQuoteGame,
    market_making_nash_gap,
)
from policies.equilibrium.mean_field import MeanFieldGame
from policies.equilibrium.nash_gap import BestResponses, SchedulePolicy, best_responses, nash_gap

__all__ = [
    "BestResponseError",
    "BestResponses",
    "DiscreteBestQuoteGame",
    "ExecutionGame",
    "ExecutionSolution",
    "MarketMakingGame",
    "MarketMakingSolution",
    "MarketMakingSolveError",
    "MeanFieldGame",
    "RiccatiBlowUpError",
    "SchedulePolicy",
    "best_responses",
    "execution_best_response",
    "execution_nash_gap",
    "execution_payoffs",
    "market_making_nash_gap",
    "nash_gap",
]
