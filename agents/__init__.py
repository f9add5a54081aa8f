"""Mesa agents: execution traders, market makers and noise traders (state over M paths)."""

from agents.base import AccountingAgent, Books, StrategicAgent
from agents.execution_trader import ExecutionTrader, TraderBatch
from agents.market_maker import MarketMaker
from agents.noise_trader import NoiseTrader

__all__ = [
    "AccountingAgent",
    "Books",
    "ExecutionTrader",
    "MarketMaker",
    "NoiseTrader",
    "StrategicAgent",
    "TraderBatch",
]
