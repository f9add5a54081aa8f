"""The §3 best-quote market (and the §4 ACAS market): makers compete with the best other quote.

:class:`QuoteSpec` / :class:`QuoteMarket` hold what every quote-driven market (§3–§5) shares;
:class:`BestQuoteSpec` and :class:`AcasSpec` are the ``[market]`` tables of §3 and §4, and
:class:`BestQuoteMarket` their engine.

Fluid discretisation (controls piecewise constant on [t_k, t_{k+1}), the exact integrals of the
continuous game for such controls; discrete modes and the intensity guard in
:mod:`simulator.mechanisms.base`): quotes clipped to [−ξ, ξ]; trader rates clipped to [ε, ξ̃]
(q₀ < 0) or [−ξ̃, −ε] (q₀ > 0). ã = a + Σ_buyers v, b̃ = b − Σ_sellers v. Maker j sells
ã·Λ(δʲᵃ − δ̄ʲᵃ)·dt at P + δʲᵃ and buys b̃·Λ(δʲᵇ − δ̄ʲᵇ)·dt at P − δʲᵇ, δ̄ʲ = min_{l≠j} δˡ (0 with
a single maker). Traders fill at the best quote P + min δᵃ / P − min δᵇ and pay λⁱ(v)·dt,
λⁱ = β·vⁱ² or β·vⁱ(vⁱ + c·mean_{j≠i} vʲ) (Remark 3.3). Noise traders fill at the best quotes
too. Not volume-conserving (as in the paper: Λ is an intensity, not a share).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from simulator.mechanisms import rules
from simulator.mechanisms.base import MAX_LOTS_PER_STEP, Market, MarketSpec, trader_column
from simulator.validation import choice, number, set_field

if TYPE_CHECKING:
    from simulator.processes import PathRandom
    from simulator.scenario import Scenario


@dataclass(frozen=True)
class QuoteSpec(MarketSpec):
    """What every quote-driven market (§3–§5) holds besides β: the temporary cost
    ("individual": λ(v) = βv², or "aggregated": vⁱ(β vⁱ + β·c·mean v⁻ⁱ) with c = cost_coupling,
    |c| < 2: class Υ, Remark 3.3), max_spread ξ > 0 (quotes in [−ξ, ξ]), min_rate ε and
    max_rate ξ̃ (the admissible trading rates, ε ≤ ξ̃). At least one maker (Assumption 3.6);
    every trader has q₀ ≠ 0 (§3 trades in the direction of sign(−q₀))."""

    temporary_cost: Literal["individual", "aggregated"] = "individual"
    cost_coupling: float = 1.0
    max_spread: float = float("inf")
    min_rate: float = 0.0
    max_rate: float = float("inf")

    def __post_init__(self) -> None:
        super().__post_init__()
        p = "market"
        choice(f"{p}.temporary_cost", self.temporary_cost, ("individual", "aggregated"))
        c = number(f"{p}.cost_coupling", self.cost_coupling)
        if abs(c) >= 2.0:
            raise ValueError(
                f"{p}.cost_coupling = {self.cost_coupling!r} must satisfy |c| < 2 "
                "(class Υ of temporary costs, Remark 3.3)"
            )
        set_field(self, "cost_coupling", c)
        xi = number(f"{p}.max_spread", self.max_spread, low=0.0, strict=True, allow_inf=True)
        eps = number(f"{p}.min_rate", self.min_rate, low=0.0)
        xi_t = number(f"{p}.max_rate", self.max_rate, low=0.0, strict=True, allow_inf=True)
        rules.check_rate_bounds(eps, xi_t, prefix=f"{p}.")
        set_field(self, "max_spread", xi)
        set_field(self, "min_rate", eps)
        set_field(self, "max_rate", xi_t)

    def _check_kind(self, scenario: Scenario) -> None:
        if not scenario.makers:
            raise ValueError(
                f"makers = [] is not allowed for market.kind = {self.kind!r}; the "
                "best quotes must be offered by at least one maker "
                "(Assumption 3.6)"
            )
        for i, a in enumerate(scenario.traders):
            if a.initial_inventory == 0.0:
                raise ValueError(
                    f"traders[{i}].initial_inventory = 0.0 is not allowed for market.kind = "
                    f"{self.kind!r}: §3 requires q₀ ≠ 0 (q₀ < 0 buys at rates in [ε, ξ̃], "
                    "q₀ > 0 sells at rates in [-ξ̃, -ε])"
                )


@dataclass(frozen=True)
class BestQuoteSpec(QuoteSpec):
    """The §3 market: makers compete with the best other quote through the intensity
    ``intensity`` ("exponential": Λ(x) = exp(−γx) with γ = intensity_decay, or a callable Λ),
    with the fields of :class:`QuoteSpec`."""

    kind: str = field(default="best_quote", init=False)
    intensity: str | Callable[[Any], Any] = "exponential"
    intensity_decay: float = 1.0

    section: ClassVar[str] = "§3"

    def __post_init__(self) -> None:
        super().__post_init__()
        p = "market"
        if not callable(self.intensity):
            choice(f"{p}.intensity", self.intensity, ("exponential",))
        set_field(
            self,
            "intensity_decay",
            number(f"{p}.intensity_decay", self.intensity_decay, low=0.0, strict=True),
        )

    def spread_decay(self) -> tuple[float, str] | None:
        """γ of Λ(x) = exp(−γx) (None for a user Λ)."""
        if self.intensity != "exponential":
            return None
        return self.intensity_decay, "market.intensity_decay"


@dataclass(frozen=True)
class AcasSpec(BestQuoteSpec):
    """The §4 ACAS market: the §3 market with exactly one trader and two makers, Λ(x) =
    exp(−γx) and the individual cost βv²."""

    kind: str = field(default="acas", init=False)

    section: ClassVar[str] = "§4"

    def __post_init__(self) -> None:
        super().__post_init__()
        p = "market"
        if self.intensity != "exponential":
            raise ValueError(
                f"{p}.intensity = {self.intensity!r} is not allowed for acas; "
                "§4 uses Λ(x) = exp(-γx): intensity = 'exponential'"
            )
        if self.temporary_cost != "individual":
            raise ValueError(
                f"{p}.temporary_cost = {self.temporary_cost!r} is not allowed "
                "for acas; §4 uses λ(v) = βv²: temporary_cost = 'individual'"
            )

    def _check_kind(self, scenario: Scenario) -> None:
        super()._check_kind(scenario)
        nt, nm = len(scenario.traders), len(scenario.makers)
        if (nt, nm) != (1, 2):
            raise ValueError(
                f"market.kind = 'acas' needs exactly 1 trader and 2 makers (§4); got "
                f"{nt} trader(s) and {nm} maker(s)"
            )


class QuoteMarket(Market):
    """What every quote-driven engine (§3–§5) shares: quotes clipped to [−ξ, ξ], the best
    quotes, trader rates clipped to their admissible set, and the step's cash flows at the
    quotes; a subclass says how the flow is shared among the makers (:meth:`_maker_volumes`)."""

    def __init__(self, scenario: Scenario, paths: int, random: PathRandom) -> None:
        super().__init__(scenario, paths, random)
        m = self.spec
        self.best_ask = np.zeros(paths)
        self.best_bid = np.zeros(paths)
        self._xi = m.max_spread
        # admissible set A^{i,e} of §3
        self._rate_lo, self._rate_hi = rules.rate_bounds(self._buyers, m.min_rate, m.max_rate)
        self._beta = trader_column(m.temporary_impact)  # β, or βⁱ per trader row
        self._coupling = m.cost_coupling if m.temporary_cost == "aggregated" else 0.0
        self._shares = np.zeros((self.nm, 2, paths))
        # preallocated per-step buffers (the usual step allocates no temporaries)
        self._a_tilde = np.empty(paths)
        self._b_tilde = np.empty(paths)
        self._ask = self.noise_price[0]  # P + min δᵃ (noise buys fill there)
        self._bid = self.noise_price[1]  # P − min δᵇ
        self._scratch = np.empty((max(self.nm, 1), paths))
        self._same = np.empty(paths, dtype=bool)

    # -- quotes ------------------------------------------------------------------------------------
    def set_quotes(self, maker: int, half_spreads: np.ndarray) -> None:
        """As :meth:`Market.set_quotes`, clipped to [−ξ, ξ] in the same pass as the copy."""
        d = half_spreads
        d = d.T if d.ndim == 2 else d[:, None]
        q = self.quotes[maker]
        if not math.isfinite(self._xi):
            q[...] = d
        elif d.dtype == q.dtype:
            np.clip(d, -self._xi, self._xi, out=q)
        else:  # e.g. float32 quotes: convert first, then clip in float64
            q[...] = d
            np.clip(q, -self._xi, self._xi, out=q)

    def post_quotes(self) -> None:
        q = self.quotes
        rules.best_quote(q[:, 0], out=self.best_ask)
        rules.best_quote(q[:, 1], out=self.best_bid)

    def _exp(self, x: np.ndarray) -> None:
        """x ← exp(x) in place, row by row along the paths axis.

        exp is the dearest ufunc of a step (numpy has no SIMD float64 exp without AVX-512), and
        a row often holds one value on every path: in fluid mode with inventory- and time-driven
        quotes (constant spreads, inventory skew, Avellaneda–Stoikov, the §4 feedback
        equilibrium) all paths carry the same inventories, so the same quotes. Such a row gets
        one exp, copied to every path: the same ufunc loop on the same value, bit-identical.
        The test costs one scalar comparison when the paths differ (first vs last path).
        """
        same = self._same
        for idx in np.ndindex(x.shape[:-1]):
            row = x[idx]  # a view: written in place
            first = row[0]
            if row[-1] == first and np.equal(row, first, out=same).all():
                np.exp(row[:1], out=row[:1])
                row[1:] = row[0]
            else:
                np.exp(row, out=row)

    # -- clearing ----------------------------------------------------------------------------------
    def _maker_volumes(self, step: int, nb: np.ndarray, ns: np.ndarray) -> None:
        """Draw all volumes of the step; maker sells into ``sell``, buys into ``buy``."""
        raise NotImplementedError

    def clear(self, step: int, price: np.ndarray, nb: np.ndarray, ns: np.ndarray) -> None:
        nt = self.nt
        if nt:
            np.clip(self.rates, self._rate_lo, self._rate_hi, out=self.rates)
        self._maker_volumes(step, nb, ns)
        # makers: + (P + δᵃ)·sold − (P − δᵇ)·bought
        q, tmp = self.quotes, self._scratch
        mc = self.cash
        np.add(price, q[:, 0], out=mc)
        mc *= self.sell
        np.subtract(price, q[:, 1], out=tmp)
        tmp *= self.buy
        mc -= tmp
        ask = np.add(price, self.best_ask, out=self._ask)
        bid = np.subtract(price, self.best_bid, out=self._bid)
        if nt:
            v, unit = self.rates, self.trader_price
            # per-share temporary cost β(vⁱ + c·mean_{j≠i} vʲ) at the chosen rates
            rules.temporary_price(v, self._beta, self._coupling, out=unit)
            # plus the best quote of the trader's side (ask for buyers, bid otherwise)
            if len(self._buyer_rows) == nt:
                unit += ask
            elif not self._buyer_rows:
                unit += bid
            else:
                unit += np.where(self._buyers, ask, bid)
        np.multiply(bid, self.noise_sell, out=self.noise_cash)
        np.multiply(ask, self.noise_buy, out=tmp[0])
        self.noise_cash -= tmp[0]


class BestQuoteMarket(QuoteMarket):
    """§3 (and §4): makers compete with the best other quote through the intensity Λ."""

    specs = (BestQuoteSpec, AcasSpec)

    def __init__(self, scenario: Scenario, paths: int, random: PathRandom) -> None:
        super().__init__(scenario, paths, random)
        m = self.spec
        lam = rules.Intensity.build(m.intensity, m.intensity_decay)
        self._gamma = lam.decay  # exponential Λ: evaluated in place below (None otherwise)
        self._intensity = lam.value
        self._maker_names = tuple(a.name for a in scenario.makers)

    def _compute_shares(self) -> np.ndarray:
        """Λ(δʲ − δ̄ʲ) for both sides, ``(nm, 2, M)``."""
        s = self._shares
        if self._gamma is not None and self.nm == 2:
            # two makers: x¹ = −x⁰, so Λ(x¹) = exp(γx⁰) = 1/Λ(x⁰) (one exp instead of two)
            np.subtract(self.quotes[0], self.quotes[1], out=s[0])
            s[0] *= -self._gamma
            self._exp(s[0])
            np.divide(1.0, s[0], out=s[1])
            return s
        if self._gamma is not None:  # Λ(x) = exp(−γx), in place
            np.subtract(self.quotes, rules.best_other_quote(self.quotes), out=s)
            s *= -self._gamma
            self._exp(s)
            return s
        s[...] = self._intensity(self.quotes - rules.best_other_quote(self.quotes))
        return s

    def _flows(self, nb: np.ndarray, ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ã = a + Σ_buyers v and b̃ = b − Σ_sellers v (intended rates)."""
        v = self.rates
        # no trader on a side: ã = a (= a + 0), b̃ = b (= b − 0)
        bought = self._row_sum(v, self._buyer_rows)
        a_tilde = nb if bought is None else np.add(nb, bought, out=self._a_tilde)
        sold = self._row_sum(v, self._seller_rows)  # (reuses _row_sum's scratch: after ã)
        b_tilde = ns if sold is None else np.subtract(ns, sold, out=self._b_tilde)
        return a_tilde, b_tilde

    def _maker_volumes(self, step: int, nb: np.ndarray, ns: np.ndarray) -> None:
        """Draw all volumes; maker sells into ``sell``, buys into ``buy``."""
        nt, nm = self.nt, self.nm
        a_tilde, b_tilde = self._flows(nb, ns)
        shares = self._compute_shares()
        sold, bought = self.sell, self.buy
        # maker intensities ã·Λ and b̃·Λ, written in place, then checked
        np.multiply(shares[:, 0], a_tilde, out=sold)
        np.multiply(shares[:, 1], b_tilde, out=bought)
        self._check_intensities(step, sold, bought)
        if not self.discrete:
            self._fluid_volumes(nb, ns)
            sold *= self.dt
            bought *= self.dt
            return
        buf = self._intensities(nb, ns, extra=2 * nm)
        mk = buf[nt + 2 :].reshape(nm, 2, self.paths)
        mk[:, 0] = sold
        mk[:, 1] = bought
        self._draw(step, buf)  # maker rows become lot × Poisson or Bernoulli counts
        sold[...] = mk[:, 0]
        bought[...] = mk[:, 1]

    def _check_intensities(self, step: int, sold: np.ndarray, bought: np.ndarray) -> None:
        """Raise if a maker's expected volume ã·Λ·dt (or b̃·Λ·dt) of this step exceeds
        :data:`MAX_LOTS_PER_STEP` lots or is not finite (module docstring: a runaway quote)."""
        limit = MAX_LOTS_PER_STEP * self.lot / self.dt
        peak = max(sold.max(), bought.max())
        if peak <= limit:  # False for NaN too
            return
        for side, name, lam in ((0, "ask", sold), (1, "bid", bought)):
            bad = ~(lam <= limit)
            if not bad.any():
                continue
            j, path = (int(i[0]) for i in np.nonzero(bad))
            maker = self._maker_names[j]
            delta = self.quotes[j, side, path]
            raise ValueError(
                f"maker {maker!r} quoted {name} half-spread δ = {delta:.6g} at step {step} "
                f"(t = {step * self.dt:.6g}, path {path}): its fill intensity "
                f"{lam[j, path]:.3g} exceeds {limit:.3g} ({MAX_LOTS_PER_STEP:.3g} lots of "
                f"{self.lot:g} per step) — a runaway quote (e.g. Avellaneda–Stoikov with a large "
                "risk_aversion and inventory). Bound the quotes: set market.max_spread (ξ; "
                f"Λ ≤ e^{{2γξ}}) or makers[{j}].params.min_half_spread"
            )
