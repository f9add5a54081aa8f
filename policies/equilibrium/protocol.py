"""What every equilibrium game and solution of :mod:`policies.equilibrium` provides.

A game holds the numbers of one of Guo & Jin's games and solves it; its solution answers the
same questions whatever the game:

* ``value``: the equilibrium objectives Jⁱ at t = 0 with P₀ = 0, a ``pandas.Series`` indexed by
  agent name (traders first, then makers);
* ``path``: the tidy equilibrium path, one row per time and agent, with the columns
  :data:`PATH_COLUMNS` (a trader's spreads and a maker's rate are NaN; the §2 game has no
  makers and no spread columns);
* ``feedback(t, inventories)``: the equilibrium actions at any state, vectorised over the M rows
  of ``inventories`` (M, n) — the §2 rates ``v = D Y + E Q`` of eq. (2) as an (M, N) array, and
  for the games with makers (§3–§5) a :class:`Feedback` (the decoupling field Y(t, Q) and the
  Hamiltonian maximisers ϕ, ψᵃ, ψᵇ at it: (17) for ACAS, Thm 3.9, Thm 5.4);
* ``policies(open_loop=False)``: the scenario-playable policies by agent name, the same objects
  the scenario policies ``equilibrium`` / ``equilibrium_open_loop`` build
  (:mod:`policies.equilibrium.play`), ready for ``simulate(scenario, policies=...)``;
* ``diagnostics``: a dict describing how the solution was obtained (method, residuals,
  conditions of the paper that hold).

Every best response — one agent's best schedule against a profile held fixed, on the engine's
grid — is a :class:`BestResponse`, whatever the market: :func:`~policies.equilibrium.
execution_nash.execution_best_response` (§2) and :func:`~policies.equilibrium.
market_making_nash.market_making_best_response` (§3–§5).

A new solver implements :class:`Game` and :class:`Solution`; the tests check every game class
exported by :mod:`policies.equilibrium` against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from policies.base import Policy

__all__ = ["PATH_COLUMNS", "BestResponse", "Feedback", "Game", "PolicyTable", "Solution"]

PATH_COLUMNS = ("time", "agent", "role", "inventory", "adjoint", "rate")
"""The columns every solution's ``path`` has (§3–§5 add ``ask_spread`` and ``bid_spread``)."""


class Feedback(NamedTuple):
    """Equilibrium controls at given states: adjoint Y (M, n), trader rates (M, NT), makers'
    half-spreads ask / bid (M, NM); agents in game order (traders, then makers)."""

    adjoint: np.ndarray
    rate: np.ndarray
    ask: np.ndarray
    bid: np.ndarray


@runtime_checkable
class Solution(Protocol):
    """An equilibrium: values, path, feedback map, policies and diagnostics (module doc)."""

    @property
    def value(self) -> pd.Series: ...

    @property
    def path(self) -> pd.DataFrame: ...

    @property
    def diagnostics(self) -> dict[str, Any]: ...

    def feedback(self, t: float, inventories: np.ndarray) -> np.ndarray | Feedback: ...

    def policies(self, open_loop: bool = False) -> dict[str, Policy]: ...


@runtime_checkable
class Game(Protocol):
    """A game of the paper with deterministic coefficients, solved by :meth:`solve`."""

    def solve(self) -> Solution: ...


class PolicyTable:
    """``policies()`` of a solution with ``feedback_policy(name)``, ``open_loop_policy(name)``
    and ``value`` (whose index holds every agent's name)."""

    def policies(self, open_loop: bool = False) -> dict[str, Policy]:
        """Every agent's equilibrium policy by name: ``open_loop=False`` the feedback
        (scenario policy ``equilibrium``), ``True`` the schedule (``equilibrium_open_loop``)."""
        owner: Any = self
        make = owner.open_loop_policy if open_loop else owner.feedback_policy
        return {name: make(name) for name in owner.value.index}


@dataclass(frozen=True)
class BestResponse:
    """One agent's best response to a profile whose other strategies are held fixed as
    schedules (the open-loop Nash notion of Definitions 2.3 and 3.7) on the engine's grid.

    ``schedule``: the best response, (n,) rates of a trader or (n, 2) half-spreads (δᵃ, δᵇ)
    of a maker; ``payoff``: its objective (P₀ = 0); ``profile_payoff``: the agent's objective
    under the profile; ``optimality_residual``: the discrete first-order (Pontryagin / KKT)
    residual that certifies the optimum; :attr:`gain` = ``payoff − profile_payoff`` ≥ 0 (0 at
    an equilibrium of the discretised game).
    """

    agent: str
    role: Literal["trader", "maker"]
    schedule: np.ndarray
    payoff: float
    profile_payoff: float
    optimality_residual: float

    @property
    def gain(self) -> float:
        return self.payoff - self.profile_payoff
