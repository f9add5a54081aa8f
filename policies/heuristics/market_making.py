"""Market-maker heuristics: constant spread, inventory skew, Avellaneda–Stoikov, GLFT.

A maker quotes ``P + δᵃ`` (ask) and ``P − δᵇ`` (bid) and returns the half-spreads ``(δᵃ, δᵇ)``
with shape ``(M, 2)``. All four ignore the other makers (a single maker against the reference
price, as Avellaneda–Stoikov assume; Guo & Jin §4). Long inventory (q > 0) lowers the ask and
raises the bid, so the maker sells more and buys less.

Symbols. The classical papers' risk aversion γ (exponential utility) is ``risk_aversion`` here;
their intensity decay k (fills ∝ A·exp(−kδ)) is ``intensity_decay``, which in the scenario's
fluid model is the market's exponential-intensity decay (the paper's γ of Λ(x) = exp(−γx), §4)
or, in the logit market, the share sharpness ς. σ is the reference-price volatility.

Defaults, when a parameter is absent:

* ``intensity_decay`` k: the market's (see above); required for a non-exponential Λ.
* ``half_spread`` s: 1/k, the monopolist's optimum of δ·exp(−kδ) (and the AS/GLFT quote as
  γ → 0, the ``1/γ`` of the paper's Thm 4.1).
* ``volatility`` σ: ``price.volatility``.
* ``risk_aversion`` γ: 2φ/σ² with φ the maker's running penalty, the mean–variance equivalence
  φ·Q² = (γ/2)·Var(Q dP)/dt (Cartea, Jaimungal & Penalva 2015, ch. 10); γ = 0 when φ = 0.
* ``arrival_rate`` A (GLFT): the time average of (noise buy + noise sell)/2 — the flow a lone
  maker quoting at the reference price would meet.
* ``lot_size`` Δ (GLFT): the scenario's ``lot_size`` (the order size of the Poisson and Bernoulli
  flows).

Every maker policy also accepts ``min_half_spread`` (default: none) to floor both half-spreads,
e.g. at 0 to forbid quoting through the reference price; the paper itself only bounds |δ| ≤ ξ,
which the engine enforces.
"""

from __future__ import annotations

import math
from abc import abstractmethod

import numpy as np

from policies.base import MarketState, Policy
from policies.heuristics._params import check_keys, param, where
from policies.registry import PolicyContext, register_policy


def _log1p_over(gamma: float, k: float) -> float:
    """(1/γ)·ln(1 + γ/k), continuous at γ = 0 where it equals 1/k."""
    return math.log1p(gamma / k) / gamma if gamma > 0 else 1.0 / k


def avellaneda_stoikov_quotes(
    q: np.ndarray, tau: float, risk_aversion: float, intensity_decay: float, volatility: float
) -> np.ndarray:
    """Avellaneda & Stoikov (2008), eqs. (29)–(30): half-spreads ``(δᵃ, δᵇ)``, shape ``(M, 2)``.

    Reservation price r = P − q·γσ²τ and total spread γσ²τ + (2/γ)ln(1 + γ/k), centred on r:

        δᵃ = γσ²τ/2 + (1/γ)ln(1 + γ/k) − q·γσ²τ,
        δᵇ = γσ²τ/2 + (1/γ)ln(1 + γ/k) + q·γσ²τ,       τ = T − t.
    """
    g, k, s2 = risk_aversion, intensity_decay, volatility**2
    half = 0.5 * g * s2 * tau + _log1p_over(g, k)
    skew = np.asarray(q, dtype=float) * g * s2 * tau
    return np.stack([half - skew, half + skew], axis=-1)


def gueant_lehalle_fernandez_tapia_quotes(
    q: np.ndarray,
    risk_aversion: float,
    intensity_decay: float,
    volatility: float,
    arrival_rate: float,
    lot_size: float = 1.0,
) -> np.ndarray:
    """Guéant, Lehalle & Fernandez-Tapia (2013), asymptotic (T → ∞) quotes, shape ``(M, 2)``.

    Orders have size Δ = ``lot_size`` (Guéant 2017, "Optimal market making", §4 closed-form
    approximations); q is in shares and A = ``arrival_rate`` in shares per unit time (A/Δ orders
    per unit time at the reference price). With ω = √(σ²γ/(2kA)·(1 + γΔ/k)^{1 + k/(γΔ)}):

        δᵇ ≈ (1/(γΔ))ln(1 + γΔ/k) + (2q + Δ)/2·ω,
        δᵃ ≈ (1/(γΔ))ln(1 + γΔ/k) − (2q − Δ)/2·ω,

    i.e. the unit-lot formulas in lot units (q/Δ lots, risk aversion γΔ per lot, A/Δ lots per
    unit time). ω → 0 as γ → 0, since (1 + γΔ/k)^{k/(γΔ)} → e.
    """
    g, k, lot = risk_aversion * lot_size, intensity_decay, lot_size
    base = _log1p_over(g, k)
    # (1 + γΔ/k)^{1 + k/(γΔ)} = exp(ln(1 + γΔ/k) + k·(1/(γΔ))ln(1 + γΔ/k))
    omega = math.sqrt(
        volatility**2
        * risk_aversion
        / (2 * k * arrival_rate)
        * math.exp(math.log1p(g / k) + k * base)
    )
    q = np.asarray(q, dtype=float)
    return np.stack([base - (2 * q - lot) / 2 * omega, base + (2 * q + lot) / 2 * omega], axis=-1)


class QuotingPolicy(Policy):
    """A maker heuristic: :meth:`half_spreads` floored at ``min_half_spread`` (if set)."""

    role = "maker"

    def __init__(self, min_half_spread: float | None = None) -> None:
        self.min_half_spread = min_half_spread

    @abstractmethod
    def half_spreads(self, state: MarketState) -> np.ndarray:
        """Unfloored ``(δᵃ, δᵇ)``, shape ``(M, 2)``."""

    def act(self, state: MarketState) -> np.ndarray:
        delta = self.half_spreads(state)
        return delta if self.min_half_spread is None else np.maximum(delta, self.min_half_spread)


class ConstantSpread(QuotingPolicy):
    """δᵃ = δᵇ = s on every path."""

    name = "constant_spread"

    def __init__(self, half_spread: float, min_half_spread: float | None = None) -> None:
        super().__init__(min_half_spread)
        self.half_spread = half_spread

    def half_spreads(self, state: MarketState) -> np.ndarray:
        return np.full((state.paths, 2), self.half_spread)


class InventorySkew(QuotingPolicy):
    """δᵃ = s − k·Q, δᵇ = s + k·Q: long inventory cheapens the ask (to sell) and the bid."""

    name = "inventory_skew"

    def __init__(self, half_spread: float, skew: float, min_half_spread: float | None = None):
        super().__init__(min_half_spread)
        self.half_spread, self.skew = half_spread, skew

    def half_spreads(self, state: MarketState) -> np.ndarray:
        tilt = self.skew * state.inventory
        return np.stack([self.half_spread - tilt, self.half_spread + tilt], axis=-1)


class AvellanedaStoikov(QuotingPolicy):
    """:func:`avellaneda_stoikov_quotes` at the maker's inventory and the time left T − t."""

    name = "avellaneda_stoikov"

    def __init__(
        self,
        risk_aversion: float,
        intensity_decay: float,
        volatility: float,
        min_half_spread: float | None = None,
    ) -> None:
        super().__init__(min_half_spread)
        self.risk_aversion, self.intensity_decay = risk_aversion, intensity_decay
        self.volatility = volatility

    def half_spreads(self, state: MarketState) -> np.ndarray:
        return avellaneda_stoikov_quotes(
            state.inventory,
            state.time_left,
            self.risk_aversion,
            self.intensity_decay,
            self.volatility,
        )


class GueantLehalleFernandezTapia(QuotingPolicy):
    """:func:`gueant_lehalle_fernandez_tapia_quotes` at the maker's inventory (time-free)."""

    name = "gueant_lehalle_fernandez_tapia"

    def __init__(
        self,
        risk_aversion: float,
        intensity_decay: float,
        volatility: float,
        arrival_rate: float,
        min_half_spread: float | None = None,
        lot_size: float = 1.0,
    ) -> None:
        super().__init__(min_half_spread)
        self.risk_aversion, self.intensity_decay = risk_aversion, intensity_decay
        self.volatility, self.arrival_rate = volatility, arrival_rate
        self.lot_size = lot_size

    def half_spreads(self, state: MarketState) -> np.ndarray:
        return gueant_lehalle_fernandez_tapia_quotes(
            state.inventory,
            self.risk_aversion,
            self.intensity_decay,
            self.volatility,
            self.arrival_rate,
            self.lot_size,
        )


# ---- factories: read and validate params, fill scenario defaults --------------------------------

_POSITIVE = {"low": 0.0, "open_low": True}
_NON_NEGATIVE = {"low": 0.0}


def _intensity_decay(context: PolicyContext) -> float:
    market = context.scenario.market
    default, source = market.spread_decay() or (None, "")
    why = f"market.kind = {market.kind!r} has no exponential decay of a maker's fills in its "
    why += "half-spread to default to (market.intensity is not 'exponential', or no quotes)"
    return param(
        context, "intensity_decay", default, default_from=source, why_required=why, **_POSITIVE
    )


def _min_half_spread(context: PolicyContext) -> float | None:
    if "min_half_spread" not in context.params:
        return None
    return param(context, "min_half_spread")


def _volatility(context: PolicyContext) -> float:
    sigma = context.scenario.price.volatility
    return param(context, "volatility", sigma, default_from="price.volatility", **_NON_NEGATIVE)


def _risk_aversion(context: PolicyContext, volatility: float) -> float:
    """γ from params, else 2φ/σ² (module doc)."""
    phi = context.agent.running_penalty
    if "risk_aversion" in context.params or phi == 0:
        return param(context, "risk_aversion", 0.0, **_NON_NEGATIVE)
    if volatility == 0:
        raise ValueError(
            f"{where(context)}.params.risk_aversion is required: its default 2φ/σ² is undefined "
            f"with running_penalty φ = {phi!r} and volatility σ = 0 (a number in [0, ∞))"
        )
    return param(
        context,
        "risk_aversion",
        2 * phi / volatility**2,
        default_from=f"{where(context)}.running_penalty (γ = 2φ/σ²)",
        **_NON_NEGATIVE,
    )


def _mean_noise_rate(context: PolicyContext) -> float | None:
    """Time average of (a + b)/2 for deterministic noise profiles; None if factor-driven."""
    noise = context.scenario.noise
    if noise.factor is not None:
        return None
    buy, sell = (np.mean(np.atleast_1d(r)) for r in (noise.buy_rate, noise.sell_rate))
    return float(buy + sell) / 2


_QUOTING_KEYS = ("min_half_spread",)


@register_policy("maker", "constant_spread")
def _constant_spread(context: PolicyContext) -> ConstantSpread:
    """params: ``half_spread`` s ≥ 0 (default 1/k), ``intensity_decay`` k > 0 (for the default)."""
    check_keys(context, ("half_spread", "intensity_decay", *_QUOTING_KEYS))
    s = _half_spread(context)
    return ConstantSpread(s, _min_half_spread(context))


def _half_spread(context: PolicyContext) -> float:
    if "half_spread" in context.params:
        return param(context, "half_spread", **_NON_NEGATIVE)
    return 1.0 / _intensity_decay(context)


@register_policy("maker", "inventory_skew")
def _inventory_skew(context: PolicyContext) -> InventorySkew:
    """params: ``half_spread`` s ≥ 0 (default 1/k), ``skew`` k_q ≥ 0 (required)."""
    check_keys(context, ("half_spread", "skew", "intensity_decay", *_QUOTING_KEYS))
    skew = param(context, "skew", **_NON_NEGATIVE)
    return InventorySkew(_half_spread(context), skew, _min_half_spread(context))


@register_policy("maker", "avellaneda_stoikov")
def _avellaneda_stoikov(context: PolicyContext) -> AvellanedaStoikov:
    """params: ``risk_aversion`` γ ≥ 0, ``intensity_decay`` k > 0, ``volatility`` σ ≥ 0."""
    check_keys(context, ("risk_aversion", "intensity_decay", "volatility", *_QUOTING_KEYS))
    sigma = _volatility(context)
    return AvellanedaStoikov(
        _risk_aversion(context, sigma),
        _intensity_decay(context),
        sigma,
        _min_half_spread(context),
    )


@register_policy("maker", "gueant_lehalle_fernandez_tapia")
def _glft(context: PolicyContext) -> GueantLehalleFernandezTapia:
    """params: as ``avellaneda_stoikov`` plus ``arrival_rate`` A > 0 (default mean noise rate)
    and ``lot_size`` Δ > 0 (default the scenario's ``lot_size``)."""
    keys = (
        "risk_aversion",
        "intensity_decay",
        "volatility",
        "arrival_rate",
        "lot_size",
        *_QUOTING_KEYS,
    )
    check_keys(context, keys)
    sigma = _volatility(context)
    arrival = param(
        context,
        "arrival_rate",
        _mean_noise_rate(context),
        default_from="noise rates ((buy_rate + sell_rate)/2)",
        why_required="the noise rates are factor-driven, κ(L), so there is no constant default",
        **_POSITIVE,
    )
    return GueantLehalleFernandezTapia(
        _risk_aversion(context, sigma),
        _intensity_decay(context),
        sigma,
        arrival,
        _min_half_spread(context),
        param(
            context,
            "lot_size",
            context.scenario.lot_size,
            default_from="lot_size",
            **_POSITIVE,
        ),
    )
