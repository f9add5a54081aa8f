"""Market maker (Avellaneda–Stoikov type): quotes half-spreads (δᵃ, δᵇ), shape ``(M, 2)``."""

from __future__ import annotations

import numpy as np

from agents.base import StrategicAgent


class MarketMaker(StrategicAgent):
    """Quotes P + δᵃ to sell and P − δᵇ to buy (Guo & Jin §3)."""

    role = "maker"

    def decide(self) -> np.ndarray:
        """The policy's half-spreads at the current step (quotes are posted before trades)."""
        d = self.policy.act(self.model.observe(self, with_quotes=False))
        if np.shape(d) not in ((self.model.paths, 2), (2,)):
            raise ValueError(
                f"policy {self.policy_name!r} of {self.name} returned quotes of shape "
                f"{np.shape(d)}; expected ({self.model.paths}, 2)"
            )
        return d
