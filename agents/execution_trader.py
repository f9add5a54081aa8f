"""Execution trader (Almgren–Chriss type): chooses a trading rate v, shape ``(M,)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from agents.base import StrategicAgent

if TYPE_CHECKING:
    import mesa

    from simulator.mechanisms.base import Market


class ExecutionTrader(StrategicAgent):
    """Signed rate: v > 0 buys, v < 0 sells (q₀ > 0 sells down to zero). Acts after the makers
    have quoted, so its observation carries the best quotes."""

    role = "trader"
    sees_quotes = True
    action_shape = ()
    action_name = "a rate"

    def trade(self, market: Market) -> None:
        """Choose this step's rate and hand it to the engine."""
        market.rates[self.row] = self.decide()


class TraderBatch:
    """Traders whose policies share a batch key (:meth:`policies.base.Policy.batch_key`): one
    policy call per step over an (M, k) block, so the Python cost is per group, not per agent."""

    def __init__(self, model: mesa.Model, traders: Sequence[ExecutionTrader]) -> None:
        self.model = model
        self.traders = tuple(traders)
        rows = np.array([a.row for a in self.traders])
        contiguous = np.array_equal(rows, np.arange(rows[0], rows[0] + rows.size))
        self.rows = slice(rows[0], rows[0] + rows.size) if contiguous else rows
        self.columns = self.rows  # MarketState columns are the books' rows (a slice: views)
        first = self.traders[0].policy
        self.policy = first.batched([a.policy for a in self.traders])
        self.policy_name = self.traders[0].policy_name

    def trade(self, market: Market) -> None:
        """Choose every member's rate in one call and hand them to the engine."""
        state = self.model.observe(self.columns, with_quotes=True)
        block = self.policy.act(state)
        expected = (self.model.paths, len(self.traders))
        if np.shape(block) != expected:
            raise ValueError(
                f"policy {self.policy_name!r} of the batch {self.traders[0].name}, … returned "
                f"rates of shape {np.shape(block)}; expected {expected} (paths, agents)"
            )
        market.rates[self.rows] = block.T
