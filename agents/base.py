"""Accounting shared by every Mesa agent: inventory, cash and running penalty over M paths.

An agent's state is a set of numpy rows (views into the model's ``(agents, M)`` books), so one
call advances all Monte Carlo paths. The strategic agents settle together
(:meth:`Books.settle`, one block operation over all their rows), so the Python cost of the
accounting is per step, not per agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from simulator.mechanisms import rules

if TYPE_CHECKING:
    from policies.base import Policy
    from simulator.scenario import AgentSpec


class Books:
    """The model's ``(n_agents, M)`` inventory, cash and running-penalty arrays.

    ``running_penalties``: φ per row (default 0), used by :meth:`settle`; ``traders``: the
    number of trader rows (the first ones), whose fills :meth:`settle` takes as signed volumes.
    """

    def __init__(
        self,
        initial_inventories: np.ndarray,
        paths: int,
        running_penalties: np.ndarray | None = None,
        traders: int = 0,
    ) -> None:
        q0 = np.asarray(initial_inventories, dtype=float).reshape(-1, 1)
        self.inventory = np.repeat(q0, paths, axis=1)
        self.cash = np.zeros_like(self.inventory)
        self.running = np.zeros_like(self.inventory)
        phi = np.zeros(q0.shape[0]) if running_penalties is None else running_penalties
        phi = np.asarray(phi, dtype=float)
        rows = np.flatnonzero(phi)  # rows with a running penalty (others pay none)
        contiguous = rows.size and rows[-1] - rows[0] + 1 == rows.size
        self._penalised = slice(rows[0], rows[-1] + 1) if contiguous else rows
        phi = phi[self._penalised, None]
        # one φ for every penalised row: a scalar (the same products, without a broadcast)
        self._phi = float(phi[0, 0]) if rows.size and (phi == phi[0, 0]).all() else phi
        self._prev = np.empty((rows.size, paths))
        self._tmp = np.empty((rows.size, paths))

    def settle(
        self,
        traders: int,
        volume: np.ndarray,
        price: np.ndarray,
        bought: np.ndarray,
        sold: np.ndarray,
        cash_flow: np.ndarray,
        dt: float,
        diffusion: np.ndarray | None = None,
    ) -> None:
        """Every strategic agent at once (rows ``[0, traders)`` the traders, then the makers).

        Traders fill a signed ``volume`` (> 0 bought) at a per-share ``price``: Q += volume,
        X −= price·volume (the same bits as Q + max(volume, 0) − max(−volume, 0) and
        X + (−price·volume), without those passes); ``volume`` is consumed (it ends holding
        price·volume: one buffer less in the cache). Makers: Q += ``bought`` − ``sold``,
        X += ``cash_flow`` (their rows only). Then ε·ΔW (``diffusion``, all strategic rows) and
        the exact running penalty of the linear inventory path
        (:func:`simulator.mechanisms.rules.running_penalty`) for the rows with φ > 0."""
        p = self._penalised
        if self._prev.size:
            self._prev[...] = self.inventory[p]
        n = traders + bought.shape[0]
        if traders:
            self.inventory[:traders] += volume
            volume *= price  # the traders' cost price·volume, in the volume's buffer
            self.cash[:traders] -= volume
        if n > traders:
            q = self.inventory[traders:n]
            q += bought
            q -= sold
            self.cash[traders:n] += cash_flow
        if diffusion is not None:
            self.inventory[:n] += diffusion
        if self._prev.size:
            t = rules.running_penalty(
                self._prev, self.inventory[p], self._phi, dt, self._tmp, scratch=self._prev
            )
            self.running[p] += t


class AccountingAgent(mesa.Agent):
    """Holds row ``row`` of the books and settles fills into it."""

    role: str = ""

    def __init__(
        self,
        model: mesa.Model,
        name: str,
        books: Books,
        row: int,
        running_penalty: float = 0.0,
        terminal_penalty: float = 0.0,
    ) -> None:
        super().__init__(model)
        self.name = name
        self.row = row
        self.inventory = books.inventory[row]
        self.cash = books.cash[row]
        self.running_cost = books.running[row]
        self.running_penalty = running_penalty
        self.terminal_penalty = terminal_penalty

    def settle(
        self,
        bought: np.ndarray,
        sold: np.ndarray,
        cash_flow: np.ndarray,
        dt: float,
        diffusion: np.ndarray | None = None,
    ) -> None:
        """Q_{k+1} = Q_k + bought − sold (+ ε·ΔW), X += cash_flow, and the exact running
        penalty of a linear inventory path, φ·dt·(Q_k² + Q_k·Q_{k+1} + Q_{k+1}²)/3."""
        q, phi = self.inventory, self.running_penalty
        prev = q.copy() if phi else None  # (the strategic agents settle in Books.settle)
        q += bought
        q -= sold
        if diffusion is not None:
            q += diffusion
        self.cash += cash_flow
        if phi:  # in place: Q_k (``prev``) is no longer needed after it is read
            self.running_cost += rules.running_penalty(prev, q, phi, dt, scratch=prev)

    def terminal_cost(self) -> np.ndarray:
        """A·Q_T²."""
        return self.terminal_penalty * self.inventory**2

    def objective(self, final_price: np.ndarray) -> np.ndarray:
        """The paper's J: X_T + P_T·Q_T − ∫φQ²dt − A·Q_T² (``final_price`` = S_T in §2)."""
        return self.cash + final_price * self.inventory - self.running_cost - self.terminal_cost()


class StrategicAgent(AccountingAgent):
    """An agent whose actions come from a :class:`~policies.base.Policy`.

    Subclasses say what they see and what they return: ``sees_quotes`` (traders act after the
    makers have quoted) and ``action_shape`` (per path: ``()`` for a rate, ``(2,)`` for (δᵃ, δᵇ)).
    """

    sees_quotes: bool
    action_shape: tuple[int, ...]
    action_name: str

    def __init__(
        self, model: mesa.Model, spec: AgentSpec, books: Books, row: int, policy: Policy
    ) -> None:
        super().__init__(model, spec.name, books, row, spec.running_penalty, spec.terminal_penalty)
        self.spec = spec
        self.policy = policy
        self.policy_name = getattr(policy, "name", spec.policy)

    def decide(self) -> np.ndarray:
        """The policy's action at the current step (the model builds the observation)."""
        action = self.policy.act(self.model.observe(self.row, with_quotes=self.sees_quotes))
        expected = (self.model.paths, *self.action_shape)
        if np.shape(action) not in (expected, self.action_shape):
            raise ValueError(
                f"policy {self.policy_name!r} of {self.name} returned {self.action_name} of "
                f"shape {np.shape(action)}; expected {expected}"
            )
        return action
