"""marketgame simulator: scenarios, the Mesa market model and Monte Carlo entry points.

``simulate`` runs in memory; ``run`` writes payoffs, trajectories, plots and a summary to a
directory. Both are imported on first use (from :mod:`simulator.simulation` and
:mod:`simulator.runner`): importing this package loads only the scenario layer, so that the
bottom layers (:mod:`simulator.profiles`, :mod:`simulator.mechanisms`) can be imported by the
solvers without Mesa, the model, the agents or the policy catalogue.
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
    """``simulate`` and ``run`` are imported lazily (they pull in Mesa, the policy catalogue,
    pyarrow and matplotlib)."""
    if name == "simulate":
        from simulator.simulation import simulate

        return simulate
    if name == "run":
        from simulator.runner import run

        return run
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
