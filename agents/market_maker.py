"""Market maker (Avellaneda–Stoikov type): quotes half-spreads (δᵃ, δᵇ), shape ``(M, 2)``."""

from __future__ import annotations

from agents.base import StrategicAgent


class MarketMaker(StrategicAgent):
    """Quotes P + δᵃ to sell and P − δᵇ to buy (Guo & Jin §3), before the traders act."""

    role = "maker"
    sees_quotes = False
    action_shape = (2,)
    action_name = "quotes"
