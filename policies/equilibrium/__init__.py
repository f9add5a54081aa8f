"""Equilibrium solvers, one module per game of Guo & Jin, and the Nash gap.

* :class:`ExecutionGame` — §2, N traders with permanent and temporary impact (Thm 2.7).
* :class:`MarketMakingGame` — §3–§4, traders and makers in the best-quote market (Thm 4.1–4.3).
* :class:`MeanFieldGame` — §4, Proposition 4.5: a continuum of traders and two makers.
* :class:`LogitGame` — §5, the approximation (logit) game with ε = 0 (Thm 5.4, (40)–(44));
  :func:`solve_logit_pde` — its stochastic version (ε > 0, random factor) for ≤ 3 agents on a grid.
* best responses and Nash gaps of schedule profiles on the engine grid, in parallel:
  :func:`execution_best_response` / :func:`execution_nash_gap` (§2, :mod:`.execution_nash`) and
  :func:`market_making_best_response` / :func:`market_making_nash_gap` (§3–§5 on a
  :class:`DiscreteBestQuoteGame` or :class:`DiscreteLogitGame`, :mod:`.market_making_nash`),
  each best response a :class:`BestResponse` (:func:`simulator.nash_gap.nash_gap` plays a
  scenario's profile).
* :mod:`.adapters` — scenario → game (the only solver module that reads a scenario).

Every game satisfies the :class:`Game` protocol and its solution the :class:`Solution` protocol
(:mod:`.protocol`): ``solve()``, ``value``, ``path``, ``feedback(t, Q)``, ``policies()``,
``diagnostics``.

The scenario policies ``equilibrium`` (feedback map) and ``equilibrium_open_loop`` (equilibrium
schedule) live in :mod:`.play`, registered by :mod:`policies.catalog`.
"""

from policies.equilibrium.coefficients import Profile
from policies.equilibrium.execution import ExecutionGame, ExecutionSolution, RiccatiBlowUpError
from policies.equilibrium.execution_nash import (
    execution_best_response,
    execution_nash_gap,
    execution_payoffs,
)
from policies.equilibrium.logit import LogitGame, LogitSolution, LogitSolveError
from policies.equilibrium.logit_nash import DiscreteLogitGame
from policies.equilibrium.logit_pde import LogitPDESolution, solve_logit_pde
from policies.equilibrium.market_making import (
    MarketMakingGame,
    MarketMakingSolution,
    MarketMakingSolveError,
)
from policies.equilibrium.market_making_nash import (
    BestResponseError,
    DiscreteBestQuoteGame,
    market_making_best_response,
    market_making_nash_gap,
)
from policies.equilibrium.mean_field import MeanFieldGame, MeanFieldSolution
from policies.equilibrium.protocol import BestResponse, Feedback, Game, Solution

__all__ = [
    "BestResponse",
    "BestResponseError",
    "DiscreteBestQuoteGame",
    "DiscreteLogitGame",
    "ExecutionGame",
    "ExecutionSolution",
    "Feedback",
    "Game",
    "LogitGame",
    "LogitPDESolution",
    "LogitSolution",
    "LogitSolveError",
    "MarketMakingGame",
    "MarketMakingSolution",
    "MarketMakingSolveError",
    "MeanFieldGame",
    "MeanFieldSolution",
    "Profile",
    "RiccatiBlowUpError",
    "Solution",
    "execution_best_response",
    "execution_nash_gap",
    "execution_payoffs",
    "market_making_best_response",
    "market_making_nash_gap",
    "solve_logit_pde",
]
