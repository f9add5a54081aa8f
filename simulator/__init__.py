"""marketgame simulator: scenarios, the Mesa market model and Monte Carlo entry points.

``simulate`` runs in memory; ``run`` (from :mod:`simulator.runner`, imported lazily) writes
payoffs, trajectories, plots and a summary to a directory.
"""

from __future__ import annotations

from typing import Any

from simulator.result import AgentPath, SimulationResult
from simulator.scenario import (
    AgentSpec,
    FactorSpec,
    MarketSpec,
    NoiseSpec,
    PriceSpec,
    Scenario,
    load_scenario,
)
from simulator.simulate import simulate

__all__ = [
    "AgentPath",
    "AgentSpec",
    "FactorSpec",
    "MarketSpec",
    "NoiseSpec",
    "PriceSpec",
    "Scenario",
    "SimulationResult",
    "load_scenario",
    "run",
    "simulate",
]


def __getattr__(name: str) -> Any:
    """``run`` is imported lazily: :mod:`simulator.runner` pulls in pyarrow and matplotlib."""
    if name == "run":
        from simulator.runner import run

        return run
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
