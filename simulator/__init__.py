"""marketgame simulator: scenarios, the Mesa market model and Monte Carlo entry points.

``simulate`` runs in memory; ``run`` writes payoffs, trajectories, plots and a summary to a
directory. Every name is imported on first use (``simulate`` from :mod:`simulator.simulation`,
``run`` from :mod:`simulator.runner`): importing this package loads nothing, so that the
bottom layers (:mod:`simulator.profiles`, :mod:`simulator.mechanisms`) can be imported by the
solvers without Mesa, the model, the agents or the policy catalogue.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.mechanisms.base import MarketSpec
    from simulator.mechanisms.best_quote import AcasSpec, BestQuoteSpec
    from simulator.mechanisms.impact import ImpactSpec
    from simulator.mechanisms.logit import LogitSpec
    from simulator.result import AgentPath, SimulationResult
    from simulator.runner import run
    from simulator.scenario import (
        AgentSpec,
        FactorSpec,
        NoiseSpec,
        PriceSpec,
        Scenario,
        load_scenario,
        market_spec,
    )
    from simulator.simulation import simulate

_HOMES = {
    "AgentPath": "simulator.result",
    "SimulationResult": "simulator.result",
    "AgentSpec": "simulator.scenario",
    "FactorSpec": "simulator.scenario",
    "MarketSpec": "simulator.mechanisms.base",
    "ImpactSpec": "simulator.mechanisms.impact",
    "BestQuoteSpec": "simulator.mechanisms.best_quote",
    "AcasSpec": "simulator.mechanisms.best_quote",
    "LogitSpec": "simulator.mechanisms.logit",
    "market_spec": "simulator.scenario",
    "NoiseSpec": "simulator.scenario",
    "PriceSpec": "simulator.scenario",
    "Scenario": "simulator.scenario",
    "load_scenario": "simulator.scenario",
    "run": "simulator.runner",
    "simulate": "simulator.simulation",
}

__all__ = [
    "AcasSpec",
    "AgentPath",
    "AgentSpec",
    "BestQuoteSpec",
    "FactorSpec",
    "ImpactSpec",
    "LogitSpec",
    "MarketSpec",
    "NoiseSpec",
    "PriceSpec",
    "Scenario",
    "SimulationResult",
    "load_scenario",
    "market_spec",
    "run",
    "simulate",
]


def __getattr__(name: str) -> Any:
    """Every public name is imported on first use, so that ``import simulator.cli`` starts
    without numpy (Ctrl-C is handled from the first instant of a command) and ``simulate`` /
    ``run`` pull in Mesa, the policy catalogue, pyarrow and matplotlib only when used."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    return getattr(import_module(home), name)
