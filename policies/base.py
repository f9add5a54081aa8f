"""The policy interface shared by heuristics and equilibrium solvers.

A policy maps ``(time, observation)`` to an action, vectorised over the M Monte Carlo paths a
model carries at once:

* a **trader** policy returns its trading rate ``v`` with shape ``(M,)`` (signed: ``v < 0`` sells,
  ``v > 0`` buys, as everywhere in marketgame);
* a **maker** policy returns its half-spreads ``(δᵃ, δᵇ)`` with shape ``(M, 2)``: it quotes
  ``P + δᵃ`` to sell and ``P − δᵇ`` to buy (Guo & Jin §3).

Policies see the market only through :class:`MarketState`; they never touch an agent's cash, and
the order-flow engine (not the policy) decides what an action means for the market.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Role = Literal["trader", "maker"]


@dataclass(frozen=True)
class MarketState:
    """What the acting agent observes at the start of step ``step`` (time ``t = step·dt``).

    Every array has the paths on its first axis. ``inventories`` has one column per *strategic*
    agent (traders first, then makers, in scenario order); ``names`` and ``roles`` label those
    columns and ``index`` is the acting agent's own column, or, for a batch of agents acting
    together (:meth:`Policy.batch_key`), their columns (a slice or an integer array).

    ``initial_inventories`` is ``(M, n_agents)`` (a broadcast view of q₀). The model passes its
    live buffers (``inventories`` is a transposed view of its books, prices and noise rates are
    updated in place every step): read them during ``act`` and copy anything you keep.

    ``best_ask`` / ``best_bid`` are the best half-spreads ``min_j δʲ`` quoted by the makers at this
    step; they are ``None`` for makers (who quote before traders act) and in the §2 impact market,
    where there are no makers. ``noise_factor`` is the level L of the §5 noise factor (39) per
    path (``None`` when the noise rates have no factor).
    """

    t: float
    step: int
    dt: float
    horizon: float
    index: int | slice | np.ndarray
    names: tuple[str, ...]
    roles: tuple[str, ...]
    inventories: np.ndarray
    initial_inventories: np.ndarray
    reference_price: np.ndarray
    noise_drift: np.ndarray
    noise_buy_rate: np.ndarray
    noise_sell_rate: np.ndarray
    best_ask: np.ndarray | None = None
    best_bid: np.ndarray | None = None
    noise_factor: np.ndarray | None = None

    @property
    def paths(self) -> int:
        """Number of Monte Carlo paths M."""
        return self.inventories.shape[0]

    @property
    def inventory(self) -> np.ndarray:
        """The acting agent's own inventory, shape ``(M,)`` (``(M, k)`` for a batch)."""
        return self.inventories[:, self.index]

    @property
    def time_left(self) -> float:
        """``T − t``."""
        return self.horizon - self.t


class Policy(ABC):
    """A strategy: ``act(state)`` returns the action for every path at once.

    Subclasses set ``role`` ("trader" or "maker") and a short ``name`` used in reports
    (e.g. ``"twap"``, ``"equilibrium"``). ``reset(paths)`` is called once before a run, so that a
    stateful policy can allocate its per-path arrays; stateless policies need not override it.
    """

    role: Role
    name: str

    def reset(self, paths: int) -> None:  # noqa: B027 - optional hook, deliberately empty
        """Prepare for a run over ``paths`` Monte Carlo paths."""

    def batch_key(self) -> Hashable | None:
        """Agents whose policies return equal keys (not None) act as one batch: the model calls
        :meth:`batched` once and then, every step, one ``act`` for all of them, with
        ``state.index`` their columns (a slice or an integer array); the action is ``(M, k)`` for
        k traders.
        The key must determine the policy's parameters (e.g. ``(type(self), params…)``), so that
        the batch plays exactly what each agent would. None (the default): act alone."""
        return None

    def batched(self, group: Sequence[Policy]) -> Policy:
        """The policy that acts for ``group`` (this policy first, all with this batch key) in one
        call. The default, ``self``, suits policies whose parameters the key fixes and which
        read the agent only through ``state.index``."""
        return self

    @abstractmethod
    def act(self, state: MarketState) -> np.ndarray:
        """Trader: rates, shape ``(M,)``. Maker: half-spreads ``(δᵃ, δᵇ)``, shape ``(M, 2)``."""
