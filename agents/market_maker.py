"""Market maker (Avellaneda–Stoikov type): quotes half-spreads (δᵃ, δᵇ), shape ``(M, 2)``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents.base import StrategicAgent

if TYPE_CHECKING:
    from simulator.mechanisms.base import Market


class MarketMaker(StrategicAgent):
    """Quotes P + δᵃ to sell and P − δᵇ to buy (Guo & Jin §3), before the traders act."""

    role = "maker"
    sees_quotes = False
    action_shape = (2,)
    action_name = "quotes"

    def quote(self, market: Market) -> None:
        """Choose this step's half-spreads and hand them to the engine (before the traders)."""
        market.set_quotes(self.row - market.nt, np.asarray(self.decide()))
