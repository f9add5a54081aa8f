"""The engine of each market kind: the registry ``kind → mechanism`` (Guo & Jin §2, §3–§5).

A mechanism is one :class:`~simulator.mechanisms.base.Market` subclass in its own module of
:mod:`simulator.mechanisms` (its ``clear``, its per-step buffers, what it records); the model
builds the engine of a scenario through :func:`make_market`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.mechanisms.base import Market
from simulator.mechanisms.best_quote import BestQuoteMarket
from simulator.mechanisms.impact import ImpactMarket
from simulator.mechanisms.logit import LogitMarket

if TYPE_CHECKING:
    from simulator.processes import PathRandom
    from simulator.scenario import Scenario

ENGINES: dict[str, type[Market]] = {
    "impact": ImpactMarket,
    "best_quote": BestQuoteMarket,
    "acas": BestQuoteMarket,
    "logit": LogitMarket,
}
"""The engine of each market kind (``scenario.market.kind``)."""


def make_market(scenario: Scenario, paths: int, random: PathRandom) -> Market:
    """The engine for ``scenario.market.kind``."""
    return ENGINES[scenario.market.kind](scenario, paths, random)
