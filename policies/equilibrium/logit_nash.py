"""Exact discrete best responses of the §5 logit market (Guo & Jin, Definition 5.1, Theorem 5.4).

With every other maker's quotes held fixed, maker j's logit share of a side is a logistic
intensity of its own half-spread against one *effective competitor quote*::

    ζʲ(δ) = e^{−ςδ + oʲ} / (e^{−ςδ + oʲ} + Σ_{l≠j} e^{−ςδˡ + oˡ}) = Λ(δ − δ̄ʲ),
    Λ(x) = 1 / (1 + e^{ςx}),   δ̄ʲ = (oʲ − log Σ_{l≠j} e^{−ςδˡ + oˡ}) / ς      (a soft minimum)

(δ̄ʲ = δˡ for two makers with equal offsets). Λ is of Definition 3.4's class: ``ΛΛ''/Λ'² =
(1 − 2Λ)/(1 − Λ) ≤ 1``, so maker j's deviation problem is concave in fill variables exactly as in
the §3 best-quote market. The traders' payoffs are those of §3 (they pay the best quote and βv²).
The logit market on the engine grid is therefore the §3 :class:`DiscreteBestQuoteGame` with this
Λ and this δ̄, and its exact best responses, payoffs and Nash gap are those of
:mod:`policies.equilibrium.market_making_nash` (a bounded QP for a trader, projected Newton in
fill variables certified by the discrete Pontryagin conditions for a maker).

Fluid flow with deterministic noise rates (inventory noise ε = 0; a factor's noise rates
κ(L(t_k)) along its path given per step). :mod:`simulator.nash_gap` uses it for the mean model
of a random logit market.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, logsumexp

from policies.equilibrium.market_making_nash import DiscreteBestQuoteGame
from simulator.mechanisms.rules import Intensity

__all__ = ["DiscreteLogitGame", "logistic_intensity"]


def logistic_intensity(sharpness: float) -> Intensity:
    """``Λ(x) = 1/(1 + e^{ςx})`` with exact derivatives ``Λ' = −ςΛ(1 − Λ)``,
    ``Λ'' = ς²Λ(1 − Λ)(1 − 2Λ)`` (overflow-free through ``expit``)."""
    s = float(sharpness)
    if not (np.isfinite(s) and s > 0):
        raise ValueError(f"share_sharpness = {sharpness!r}: ς must be a finite number > 0")

    def value(x: np.ndarray) -> np.ndarray:
        return expit(-s * np.asarray(x, dtype=float))

    def d1(x: np.ndarray) -> np.ndarray:
        lam = value(x)
        return -s * lam * (1.0 - lam)

    def d2(x: np.ndarray) -> np.ndarray:
        lam = value(x)
        return s * s * lam * (1.0 - lam) * (1.0 - 2.0 * lam)

    return Intensity(value=value, d1=d1, d2=d2, name=f"logistic({s:g})")


class DiscreteLogitGame(DiscreteBestQuoteGame):
    """The §5 logit market on the engine grid (fluid flow, deterministic noise rates per step).

    Keyword arguments as :class:`DiscreteBestQuoteGame` without ``intensity``,
    ``intensity_decay``, ``temporary_cost`` (the §5 traders pay βv²), plus ``share_sharpness``
    ς > 0 and ``share_offsets`` oʲ (one per maker; default 0). At least two makers (Definition
    5.1's shares split the flow among competitors).
    """

    def __init__(self, *, share_sharpness: float, share_offsets: Any = None, **market: Any) -> None:
        for key in ("intensity", "intensity_decay", "temporary_cost", "cost_coupling"):
            if key in market:
                raise ValueError(f"{key}: not a parameter of the logit market (§5)")
        super().__init__(intensity=logistic_intensity(share_sharpness), **market)
        nm = self.n_makers
        if nm < 2:
            raise ValueError(f"maker_inventories: {nm} maker(s); the logit market needs ≥ 2")
        offsets = np.zeros(nm) if share_offsets is None else np.asarray(share_offsets, float)
        if offsets.shape != (nm,) or not np.all(np.isfinite(offsets)):
            raise ValueError(
                f"share_offsets = {share_offsets!r}; allowed: {nm} finite numbers (one per maker)"
            )
        self.sharpness = float(share_sharpness)
        self.offsets = offsets

    def competitor_quotes(self, quotes: np.ndarray, j: int) -> np.ndarray:
        """δ̄ʲ of the module docstring (soft minimum of the others' quotes), shape (n, 2)."""
        s, o = self.sharpness, self.offsets
        others = np.delete(np.arange(self.n_makers), j)
        logits = -s * quotes[others] + o[others, None, None]  # (N_m − 1, n, 2)
        return (o[j] - logsumexp(logits, axis=0)) / s

    def shares(self, quotes: np.ndarray) -> np.ndarray:
        """ζ of every maker, (N_m, n, 2): softmax over makers of ``−ς·δ + o``."""
        z = -self.sharpness * quotes + self.offsets[:, None, None]
        return np.exp(z - logsumexp(z, axis=0, keepdims=True))
