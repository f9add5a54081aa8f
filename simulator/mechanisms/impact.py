"""The §2 impact market: permanent impact I, noise drift ϖ, temporary impact with cross-impact π.

Fluid discretisation (controls piecewise constant on [t_k, t_{k+1}), the exact integrals of the
continuous game for such controls; discrete modes in :mod:`simulator.mechanisms.base`):
Δ_k = α/N·Σ_j v_j·dt, ω_k = α·(a_k − b_k)·dt, trader i fills v_i·dt at
P_k + I_k + ϖ_k + ½(Δ_k + ω_k) + β/N·(v_i + π·Σ_{j≠i} v_j); then I += Δ, ϖ += ω (S = P + I + ϖ).
Noise traders fill at the impact-free mid P_k + I_k + ϖ_k + ½(Δ_k + ω_k).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.mechanisms import rules
from simulator.mechanisms.base import Market, trader_column

if TYPE_CHECKING:
    from simulator.processes import PathRandom
    from simulator.scenario import Scenario


class ImpactMarket(Market):
    """§2: permanent impact I, noise drift ϖ, temporary impact with cross-impact π."""

    has_quotes = False
    recorded_states = ("market_price",)  # S = P + I + ϖ (:meth:`mark_price`)
    recorded_steps = ()

    def __init__(self, scenario: Scenario, paths: int, random: PathRandom) -> None:
        super().__init__(scenario, paths, random)
        self.impact = np.zeros(paths)  # I_k = α/N ∫ Σ v dt
        self.noise_drift = np.zeros(paths)  # ϖ_k = α ∫ (a − b) dt
        m = self.spec
        self._alpha_n = m.permanent_impact / self.nt
        self._beta_n = trader_column(m.temporary_impact) / self.nt  # βⁱ/N
        self._pi = m.cross_impact
        # fluid §2 arithmetic carries a NaN or inf rate into the books within the step
        self.needs_finite_actions = self.discrete

    def clear(self, step: int, price: np.ndarray, nb: np.ndarray, ns: np.ndarray) -> None:
        self._volumes(step, nb, ns)
        delta = self.volume.sum(axis=0)
        delta *= self._alpha_n  # Δ_k
        omega = self.noise_buy - self.noise_sell
        omega *= self.spec.permanent_impact  # ω_k
        mid = price + self.impact + self.noise_drift + 0.5 * (delta + omega)
        rates = self.rates
        # β/N (v_i + π Σ_{j≠i} v_j) = β/N ((1 − π) v_i + π Σ_j v_j)
        rules.impact_price(mid, rates, self._beta_n, self._pi, out=self.trader_price)
        np.multiply(mid, self.noise_sell - self.noise_buy, out=self.noise_cash)
        self.noise_price[...] = mid
        self.impact += delta
        self.noise_drift += omega

    def mark_price(self, price: np.ndarray) -> np.ndarray:
        """S = P + I + ϖ (recorded as ``market_price``); §2's objective marks inventory at the
        market price S_T (J = E[−∫Ŝ v dt + S_T Q_T − ∫φQ² dt − A Q_T²])."""
        return price + self.impact + self.noise_drift
