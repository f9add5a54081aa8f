"""Execution trader (Almgren–Chriss type): chooses a trading rate v, shape ``(M,)``."""

from __future__ import annotations

from agents.base import StrategicAgent


class ExecutionTrader(StrategicAgent):
    """Signed rate: v > 0 buys, v < 0 sells (q₀ > 0 sells down to zero). Acts after the makers
    have quoted, so its observation carries the best quotes."""

    role = "trader"
    sees_quotes = True
    action_shape = ()
    action_name = "a rate"
