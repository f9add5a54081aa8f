"""The market kinds: the registry ``kind → (spec, engine)`` (Guo & Jin §2, §3–§5).

A mechanism is one module of :mod:`simulator.mechanisms` holding the spec class of each market
kind it clears (a frozen :class:`~simulator.mechanisms.base.MarketSpec`: the ``[market]`` table,
validated) and its engine (a :class:`~simulator.mechanisms.base.Market` subclass: its
``clear``, its per-step buffers, what it records; ``specs`` lists its kinds). Registering a
mechanism is adding its engine to :data:`MECHANISMS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.mechanisms.base import Market, MarketSpec
from simulator.mechanisms.best_quote import BestQuoteMarket
from simulator.mechanisms.impact import ImpactMarket
from simulator.mechanisms.logit import LogitMarket

if TYPE_CHECKING:
    from simulator.processes import PathRandom
    from simulator.scenario import Scenario

MECHANISMS: tuple[type[Market], ...] = (ImpactMarket, BestQuoteMarket, LogitMarket)
"""Every engine; each clears the market kinds of its ``specs``."""

MARKET_SPECS: dict[str, type[MarketSpec]] = {
    spec.kind: spec for engine in MECHANISMS for spec in engine.specs
}
"""The spec class of each market kind (``scenario.market.kind``)."""

ENGINES: dict[str, type[Market]] = {
    spec.kind: engine for engine in MECHANISMS for spec in engine.specs
}
"""The engine of each market kind (``scenario.market.kind``)."""


def make_market(scenario: Scenario, paths: int, random: PathRandom) -> Market:
    """The engine for ``scenario.market.kind``."""
    return ENGINES[scenario.market.kind](scenario, paths, random)
