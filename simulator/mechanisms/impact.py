"""The §2 impact market: permanent impact I, noise drift ϖ, temporary impact with cross-impact π.

:class:`ImpactSpec` is its ``[market]`` table; :class:`ImpactMarket` its engine.

Fluid discretisation (controls piecewise constant on [t_k, t_{k+1}), the exact integrals of the
continuous game for such controls; discrete modes in :mod:`simulator.mechanisms.base`):
Δ_k = α/N·Σ_j v_j·dt, ω_k = α·(a_k − b_k)·dt, trader i fills v_i·dt at
P_k + I_k + ϖ_k + ½(Δ_k + ω_k) + β/N·(v_i + π·Σ_{j≠i} v_j); then I += Δ, ϖ += ω (S = P + I + ϖ).
Noise traders fill at the impact-free mid P_k + I_k + ϖ_k + ½(Δ_k + ω_k).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from simulator.mechanisms import rules
from simulator.mechanisms.base import Market, MarketSpec, trader_column
from simulator.validation import number, set_field

if TYPE_CHECKING:
    from simulator.processes import PathRandom
    from simulator.scenario import Scenario


@dataclass(frozen=True)
class ImpactSpec(MarketSpec):
    """The §2 market: permanent_impact α, temporary_impact β (:class:`MarketSpec`) and
    cross_impact π ∈ [0, 2) (Remark 2.1(3); π = 1 is the aggregated impact of the paper's main
    text). At least one trader and no makers; no Bernoulli flow."""

    kind: str = field(default="impact", init=False)
    permanent_impact: float = 0.0
    cross_impact: float = 1.0

    section: ClassVar[str] = "§2"
    has_quotes: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        p = "market"
        set_field(
            self,
            "permanent_impact",
            number(f"{p}.permanent_impact", self.permanent_impact, low=0.0),
        )
        pi = number(f"{p}.cross_impact", self.cross_impact)
        if not 0.0 <= pi < 2.0:
            raise ValueError(
                f"{p}.cross_impact = {self.cross_impact!r} must lie in [0, 2) (Remark 2.1(3))"
            )
        set_field(self, "cross_impact", pi)

    def own_temporary_cost(self, trader: int, traders: int) -> tuple[float, str]:
        """βⁱ/N: trader i fills at S + β/N·(vⁱ + π·Σ_{j≠i} vʲ), so its own cost is β/N·(vⁱ)²."""
        beta, source = super().own_temporary_cost(trader, traders)
        return beta / traders, f"{source}/{traders} (β/N)"

    def _check_kind(self, scenario: Scenario) -> None:
        self._refuse_bernoulli(
            scenario,
            "§2 has no quotes, and capping a trader at one lot per step would silently "
            "truncate its schedule",
        )
        if not scenario.traders:
            raise ValueError(
                "traders = [] is not allowed for market.kind = 'impact'; the §2 "
                "execution game needs at least one trader"
            )
        if scenario.makers:
            raise ValueError(
                f"makers has {len(scenario.makers)} entries but market.kind = 'impact' (§2) has "
                "no market makers; remove them or use best_quote/acas/logit"
            )


class ImpactMarket(Market):
    """§2: permanent impact I, noise drift ϖ, temporary impact with cross-impact π."""

    specs = (ImpactSpec,)
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
