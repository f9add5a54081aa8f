"""Execution trader (Almgren–Chriss type): chooses a trading rate v, shape ``(M,)``."""

from __future__ import annotations

import numpy as np

from agents.base import StrategicAgent


class ExecutionTrader(StrategicAgent):
    """Signed rate: v > 0 buys, v < 0 sells (q₀ > 0 sells down to zero)."""

    role = "trader"

    def decide(self) -> np.ndarray:
        """The policy's rate at the current step (the model builds the observation)."""
        v = self.policy.act(self.model.observe(self, with_quotes=True))
        if np.shape(v) not in ((self.model.paths,), ()):
            raise ValueError(
                f"policy {self.policy_name!r} of {self.name} returned a rate of shape "
                f"{np.shape(v)}; expected ({self.model.paths},)"
            )
        return v
