"""The §5 logit market: makers share the order flow by a logit of their quotes.

Maker i takes the share ζⁱ = softmax_i(−ς·δⁱ + oⁱ) of ã and of b̃ (Σζ = 1: maker volume = trader
+ noise volume); strategic inventories also get ε·ΔW (``diffusion``).
Quotes, trader rates and temporary costs are those of every quote-driven market
(:class:`~simulator.mechanisms.best_quote.QuoteMarket`); Poisson flow splits each order source
among the makers (:mod:`simulator.mechanisms.base`).

:class:`LogitSpec` is its ``[market]`` table; :class:`LogitMarket` its engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from simulator.mechanisms.best_quote import QuoteMarket, QuoteSpec
from simulator.processes import INVENTORY
from simulator.validation import choice, number, set_field

if TYPE_CHECKING:
    from simulator.processes import PathRandom
    from simulator.scenario import Scenario


@dataclass(frozen=True)
class LogitSpec(QuoteSpec):
    """The §5 market: shares ζ, "logit" (ζⁱ = softmax(−ς·δⁱ + oⁱ) with share_sharpness ς and
    share_offsets oⁱ, one per maker; an empty tuple means all zero) or a callable (Python only)
    mapping one side's half-spreads, shape (n_makers, M), to shares of the same shape (class ℶ
    of Def. 5.1 with Σζ = 1, checked every step); inventory_noise ε (the ε·dW on
    inventories); the temporary cost, quotes and rates of :class:`QuoteSpec`; noise rates κ(L)
    (``noise.factor``). No Bernoulli flow."""

    kind: str = field(default="logit", init=False)
    shares: str | Callable[[Any], Any] = "logit"
    share_sharpness: float = 1.0
    share_offsets: tuple[float, ...] = ()
    inventory_noise: float = 0.0

    section: ClassVar[str] = "§5"
    uses_noise_factor: ClassVar[bool] = True
    routes_orders: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        p = "market"
        if not callable(self.shares):
            choice(f"{p}.shares", self.shares, ("logit",))
        set_field(
            self,
            "share_sharpness",
            number(f"{p}.share_sharpness", self.share_sharpness, low=0.0, strict=True),
        )
        if not isinstance(self.share_offsets, list | tuple):
            raise ValueError(
                f"{p}.share_offsets = {self.share_offsets!r} must be a list of "
                "numbers (one per maker)"
            )
        set_field(
            self,
            "share_offsets",
            tuple(number(f"{p}.share_offsets[{i}]", o) for i, o in enumerate(self.share_offsets)),
        )
        set_field(
            self, "inventory_noise", number(f"{p}.inventory_noise", self.inventory_noise, low=0.0)
        )

    def spread_decay(self) -> tuple[float, str] | None:
        """ς: a maker's logit share softmax(−ς·δ + o) decays like exp(−ς·δ) in its half-spread."""
        return self.share_sharpness, "market.share_sharpness"

    def _check_kind(self, scenario: Scenario) -> None:
        self._refuse_bernoulli(
            scenario,
            "§5 routes the realised market orders among the makers, so several order "
            "streams can hit one quote side in a step",
        )
        super()._check_kind(scenario)
        nm = len(scenario.makers)
        if self.share_offsets and len(self.share_offsets) != nm:
            raise ValueError(
                f"market.share_offsets = {list(self.share_offsets)!r} has "
                f"{len(self.share_offsets)} entries; the logit shares (§5) need "
                f"one offset per maker ({nm}), or none (all zero)"
            )


class LogitMarket(QuoteMarket):
    """§5: shares ζⁱ = softmax(−ς·δ + o), volume conserved; ε·ΔW on strategic inventories."""

    specs = (LogitSpec,)

    def __init__(self, scenario: Scenario, paths: int, random: PathRandom) -> None:
        super().__init__(scenario, paths, random)
        m = self.spec
        offsets = m.share_offsets or (0.0,) * self.nm
        self._offsets = np.asarray(offsets, dtype=float).reshape(-1, 1, 1)
        self._sigma = m.share_sharpness
        self._user_shares = m.shares if callable(m.shares) else None
        self._eps_sqdt = m.inventory_noise * math.sqrt(self.dt)
        if self._eps_sqdt:
            self.diffusion = np.zeros((self.nt + self.nm, paths))
        # Poisson splitting: the side of the book each order source hits (0 asks, 1 bids)
        nt = self.nt
        self._source_side = np.array([0 if q else 1 for q in self._buyers[:, 0]] + [0, 1])
        self._ask_sources = [*self._buyer_rows, nt]
        self._bid_sources = [*self._seller_rows, nt + 1]
        if self.discrete:
            self.routes = np.zeros((nt + 2, self.nm, paths))

    @staticmethod
    def route_sources(scenario: Scenario) -> int:
        return len(scenario.traders) + 2 if scenario.flow != "fluid" else 0

    def _compute_shares(self) -> np.ndarray:
        z = self._shares
        if self._user_shares is not None:
            for side in (0, 1):
                z[:, side] = self._checked_user_shares(self.quotes[:, side])
            return z
        np.multiply(self.quotes, -self._sigma, out=z)
        z += self._offsets
        z -= z.max(axis=0, keepdims=True)
        self._exp(z)
        z /= z.sum(axis=0, keepdims=True)
        return z

    def _checked_user_shares(self, half_spreads: np.ndarray) -> np.ndarray:
        """The user's ζ(δ) for one side, checked: shape (n_makers, M), ζ ≥ 0, Σζ = 1 (§5)."""
        shares = np.asarray(self._user_shares(half_spreads.copy()), dtype=float)
        if shares.shape != half_spreads.shape:
            raise ValueError(
                f"market.shares returned shape {shares.shape}; expected {half_spreads.shape} "
                "(one share per maker and path)"
            )
        if not (np.all(shares >= 0.0) and np.allclose(shares.sum(axis=0), 1.0, atol=1e-9)):
            raise ValueError(
                "market.shares returned shares outside the simplex (min "
                f"{shares.min():.3g}, column sums in [{shares.sum(axis=0).min():.6g}, "
                f"{shares.sum(axis=0).max():.6g}]); the logit market (§5) needs ζ ≥ 0, Σζ = 1"
            )
        return shares

    def _maker_volumes(self, step: int, nb: np.ndarray, ns: np.ndarray) -> None:
        shares = self._compute_shares()
        self._diffuse(step)
        if self.discrete:  # Poisson (the scenario rejects Bernoulli flow here)
            self._split_volumes(step, nb, ns, shares)
            return
        self._fluid_volumes(nb, ns)
        # ã·dt and b̃·dt: noise + traders of the matching side
        vol = self.volume
        bought = self._row_sum(vol, self._buyer_rows)
        asks = (
            self.noise_buy if bought is None else np.add(self.noise_buy, bought, out=self._a_tilde)
        )
        sold = self._row_sum(vol, self._seller_rows)  # (reuses _row_sum's scratch: after asks)
        bids = (
            self.noise_sell
            if sold is None
            else np.subtract(self.noise_sell, sold, out=self._b_tilde)
        )
        np.multiply(shares[:, 0], asks, out=self.sell)
        np.multiply(shares[:, 1], bids, out=self.buy)

    def _split_volumes(self, step: int, nb: np.ndarray, ns: np.ndarray, shares: np.ndarray) -> None:
        """Poisson mode: source s (each trader, noise buys, noise sells) sends lot × Poisson(
        intensityₛ·ζʲ·dt/lot) orders to maker j, ζ of the side s hits (asks for buyers and noise
        buys). A source's volume is the sum over makers; a maker's the sum over sources."""
        nt = self.nt
        rates = self._intensities(nb, ns)  # (nt + 2, M): |v|, a, b
        split = self.routes
        np.multiply(rates[:, None, :], shares[:, self._source_side].swapaxes(0, 1), out=split)
        self._discrete_volumes(step, split.reshape(-1, self.paths))
        volumes = split.sum(axis=1)
        np.copysign(volumes[:nt], self.rates, out=self.volume)
        self.noise_buy[:] = volumes[nt]
        self.noise_sell[:] = volumes[nt + 1]
        split[self._ask_sources].sum(axis=0, out=self.sell)
        split[self._bid_sources].sum(axis=0, out=self.buy)

    def _diffuse(self, step: int) -> None:
        """ε·ΔW on the strategic inventories (§5), if ε > 0."""
        if self.diffusion is not None:
            z = self.random.normal(INVENTORY, step, width=self.diffusion.shape[0])
            np.multiply(z, self._eps_sqdt, out=self.diffusion)
