"""Pointwise Hamiltonian maximisers of the §3 best-quote game (Guo & Jin, Thm 3.9, Thm 4.1).

Everything here is a pure function of the adjoint vector ``y`` (shape ``(..., n)``, traders first
then makers) and of the deterministic coefficients at one or many times (arrays broadcastable to
``y.shape[:-1]``), so the same code serves the BVP solvers (batches × time grid) and the feedback
policies (Monte Carlo paths).

* Makers, ψ of Thm 3.9: maker i's ask maximises ``Λ(δ − δ̄ⁱ)(δ − yⁱ)`` and its bid
  ``Λ(δ − δ̄ⁱ)(δ + yⁱ)`` with ``δ̄ⁱ = min_{k≠i} δᵏ`` (``δ̄ := 0`` for a single maker, whose
  competitor is the reference price). With ``h(x) = x + Λ(x)/Λ'(x)`` (strictly increasing,
  ``h' = 2 − ΛΛ''/Λ'² ≥ 1`` by Def. 3.4) the best reply is ``δ = δ̄ + h⁻¹(y − δ̄)`` clipped to
  ``[−ξ, ξ]``; its slope in ``δ̄`` is ``1 − 1/h' ∈ [0, 1)``, so the instantaneous quoting game is a
  sup-norm contraction and Picard iteration converges. Exponential Λ: ``δᵃ = 1/γ + y``,
  ``δᵇ = 1/γ − y`` (17), independent of the competitors.
* Traders, ϕ of Thm 3.9: ``∂λⁱ/∂vⁱ(v) = ỹⁱ`` with ``ỹⁱ = yⁱ − min_j δʲᵃ`` (buyers, q₀ < 0) or
  ``yⁱ + min_j δʲᵇ`` (sellers), truncated to ``[ε, ξ̃]`` / ``[−ξ̃, −ε]``. Individual cost ``βv²``:
  ``v = ỹ/(2β)``; aggregated cost ``βvⁱ(vⁱ + c·mean_{j≠i} vʲ)`` (Remark 3.3, class Υ iff c < 2):
  the untruncated system is of type (S) and solved in closed form, the truncated one by the
  Jacobi iteration (a contraction with factor c/2, the diagonal dominance of Thm 3.9's proof).
  With one βⁱ = β·sⁱ per trader (``Market.impact_scale``) the conditions read
  ``βⁱ(2vⁱ + k(S − vⁱ)) = ỹⁱ``: the same type-(S) system in ``z = ỹ/βⁱ``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from simulator.mechanisms import rules
from simulator.mechanisms.rules import HamiltonianError, Intensity, rate_bounds

__all__ = ["HamiltonianError", "Intensity", "rate_bounds"]  # re-exported (defined in rules)

CostKind = Literal["individual", "aggregated"]


def _base(x: np.ndarray, axis: int) -> np.ndarray:
    """Element 0 along ``axis`` (kept as a length-1 axis, so it broadcasts back)."""
    return np.take(x, [0], axis=axis)


def clip_piece(x: np.ndarray, lo, hi, frozen: int | None = None) -> np.ndarray:
    """``clip(x, lo, hi)``; with ``frozen`` the active bounds are those of the base element.

    Freezing keeps a finite-difference batch (base at index 0 of axis ``frozen``) on the base's
    smooth piece, so the difference quotient is a piece Jacobian (an element of the generalised
    Jacobian) even when the base sits on a kink — semismooth Newton then converges.
    """
    if lo is -np.inf and hi is np.inf:
        return x
    if frozen is None:
        return np.clip(x, lo, hi)
    b = _base(x, frozen)
    return np.where(b <= lo, lo, np.where(b >= hi, hi, x))


def best_other(delta: np.ndarray, frozen: int | None = None) -> np.ndarray:
    """``δ̄ⁱ = min_{k≠i} δᵏ`` along the last axis (0 for a single maker: the reference price).

    With ties at the minimum both tied makers see the other, i.e. the same value: correct.
    ``frozen``: the ordering is the base element's (see :func:`clip_piece`).
    """
    k = delta.shape[-1]
    if frozen is None or k <= 2:
        return rules.best_other_quote(delta, axis=-1)
    order = np.argsort(_base(delta, frozen), axis=-1)
    shape = delta.shape[:-1] + (1,)
    first = np.take_along_axis(delta, np.broadcast_to(order[..., :1], shape), -1)
    second = np.take_along_axis(delta, np.broadcast_to(order[..., 1:2], shape), -1)
    return np.where(np.arange(k) == order[..., :1], second, first)


def best_quote(delta: np.ndarray, frozen: int | None = None) -> np.ndarray:
    """``min_j δʲ`` (keepdims); with ``frozen`` the best maker is the base element's."""
    if frozen is None or delta.shape[-1] == 1:
        return rules.best_quote(delta, axis=-1, keepdims=True)
    if delta.shape[-1] == 2:
        b = _base(delta, frozen)
        return np.where(b[..., :1] <= b[..., 1:], delta[..., :1], delta[..., 1:])
    j = np.argmin(_base(delta, frozen), axis=-1)[..., None]
    return np.where(np.arange(delta.shape[-1]) == j, delta, 0.0).sum(-1, keepdims=True)


def _quote_newton(
    y: np.ndarray, intensity: Intensity, xi: float, delta: np.ndarray, max_iter: int = 12
) -> np.ndarray:
    """Newton on the makers' first-order conditions ``δⁱ − yⁱ + Λ(xⁱ)/Λ'(xⁱ) = 0``,
    ``xⁱ = δⁱ − δ̄ⁱ`` (Jacobian: ``1 + r'(xⁱ)`` on the diagonal, ``−r'(xⁱ)`` at the best other,
    ``r' = 1 − ΛΛ''/Λ'²``); each iterate is clipped to [−ξ, ξ]. A fast predictor only: the
    Picard iteration of :func:`quote_equilibrium` certifies (and if need be finishes) the fixed
    point.
    """
    k = delta.shape[-1]
    for _ in range(max_iter):
        dbar = best_other(delta)
        x = delta - dbar
        g = delta - y + intensity.ratio(x)
        if not np.all(np.isfinite(g)):
            break
        if np.max(np.abs(g), initial=0.0) <= 1e-11 * (1.0 + np.max(np.abs(y), initial=0.0)):
            break
        rp = intensity.markup_slope(x) - 1.0
        jac = np.zeros(delta.shape + (k,))
        if k > 1:
            order = np.argsort(delta, axis=-1)
            jstar = np.where(np.arange(k) == order[..., :1], order[..., 1:2], order[..., :1])
            np.put_along_axis(jac, jstar[..., None], -rp[..., None], axis=-1)
        jac += (1.0 + rp)[..., None] * np.eye(k)
        step = np.linalg.solve(jac, -g[..., None])[..., 0]
        if not np.all(np.isfinite(step)):
            break
        delta = clip_piece(delta + step, -xi, xi)
    return delta


def quote_equilibrium(
    y: np.ndarray,
    intensity: Intensity,
    xi: float,
    frozen: int | None = None,
    tol: float = 1e-11,
    max_iter: int = 500,
) -> np.ndarray:
    """One side's instantaneous quoting game: ``δⁱ = clip(δ̄ⁱ + h⁻¹(yⁱ − δ̄ⁱ), −ξ, ξ)``.

    ``y`` has the makers on the last axis (pass ``y`` for the ask side, ``−y`` for the bid side).
    General Λ: Newton predictor on the first-order conditions, then Picard iteration of the best
    replies, a sup-norm contraction (slope ``1 − 1/h'`` in ``δ̄``, see module docstring), which
    certifies the fixed point. Exponential Λ: closed form (17).
    """
    if intensity.decay is not None:  # (17): no dependence on the competitors
        if xi == np.inf:
            return y + 1.0 / intensity.decay
        return clip_piece(y + 1.0 / intensity.decay, -xi, xi, frozen)
    delta = _quote_newton(y, intensity, xi, clip_piece(y + intensity.scale(), -xi, xi))
    # unfrozen to convergence first, then (FD batches) on the base's piece
    for fr in (None,) if frozen is None else (None, frozen):
        for _ in range(max_iter):
            dbar = best_other(delta, fr)
            new = clip_piece(dbar + intensity.markup(y - dbar, delta - dbar), -xi, xi, fr)
            done = np.max(np.abs(new - delta), initial=0.0) <= tol * (1.0 + np.max(np.abs(new)))
            delta = new
            if done:
                break
        else:
            raise HamiltonianError(
                f"makers' quoting game did not converge in {max_iter} Picard iterations; check "
                "that Λ satisfies Def. 3.4 (inf ΛΛ''/Λ'² > −∞ makes the best reply a contraction)"
            )
    return delta


def trader_rates(
    ytilde: np.ndarray,
    buyer: np.ndarray,
    beta: np.ndarray | float,
    cost: CostKind,
    coupling: float,
    min_rate: float,
    max_rate: float,
    frozen: int | None = None,
    tol: float = 1e-13,
    max_iter: int = 2000,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """ϕ of Thm 3.9: solve ``∂λⁱ/∂vⁱ(v) = ỹⁱ`` with the ε / ξ̃ truncations (traders on last axis).

    ``beta`` broadcasts to ``ytilde.shape[:-1]``; ``scale`` (None, or one sⁱ per trader) makes
    trader i's impact βⁱ = β·sⁱ.
    """
    beta = trader_impact(beta, scale)
    lo, hi = rate_bounds(buyer, min_rate, max_rate)
    n = ytilde.shape[-1]
    if cost == "individual" or n == 1:
        return clip_piece(ytilde / (2.0 * beta), lo, hi, frozen)
    # aggregated: β(2vⁱ + k(S − vⁱ)) = ỹⁱ, k = c/(N−1), S = Σv; type (S) closed form
    k = coupling / (n - 1)
    z = ytilde / beta
    s = z.sum(-1, keepdims=True) / (2.0 - k + n * k)
    v = np.clip((z - k * s) / (2.0 - k), lo, hi)
    for _ in range(max_iter):  # Jacobi on the truncated system, contraction factor c/2
        s = v.sum(-1, keepdims=True)
        new = np.clip((z - k * (s - v)) / 2.0, lo, hi)
        if np.max(np.abs(new - v), initial=0.0) <= tol * (1.0 + np.max(np.abs(new))):
            break
        v = new
    else:
        raise HamiltonianError("traders' first-order conditions (aggregated cost) did not converge")
    if frozen is None:
        return new
    # the base's active set, then the type-(S) system on the free traders in closed form
    b = _base(new, frozen)
    at_lo, at_hi = b <= lo, b >= hi
    free = ~(at_lo | at_hi)
    fixed = np.where(at_lo, lo, np.where(at_hi, hi, 0.0))
    m = free.sum(-1, keepdims=True)
    s_fixed = fixed.sum(-1, keepdims=True)
    s_free = (np.where(free, z, 0.0).sum(-1, keepdims=True) - m * k * s_fixed) / (2 - k + m * k)
    return np.where(free, (z - k * (s_free + s_fixed)) / (2.0 - k), fixed)


def trader_response(
    market: Market,
    ye: np.ndarray,
    best_ask: np.ndarray,
    best_bid: np.ndarray,
    beta: np.ndarray | float,
    frozen: int | None = None,
) -> np.ndarray:
    """ϕ of Thm 3.9 given the traders' adjoints ``ye`` (..., NT) and the best quotes (..., 1):
    ``ỹ = Yᵉ − min_j δʲᵃ`` for buyers, ``Yᵉ + min_j δʲᵇ`` for sellers, then :func:`trader_rates`
    (individual cost: ``v = ỹ/(2β)`` truncated to ``[ε, ξ̃]`` / ``[−ξ̃, −ε]``, (17)/(21))."""
    ytilde = np.where(market.buyer, ye - best_ask, ye + best_bid)
    return trader_rates(
        ytilde,
        market.buyer,
        beta,
        market.cost,
        market.coupling,
        market.min_rate,
        market.max_rate,
        frozen,
        scale=market.impact_scale,
    )


def trader_impact(beta: np.ndarray | float, scale: np.ndarray | None) -> np.ndarray:
    """β(t) (broadcasting to the batch shape) with a trailing traders axis: β, or βⁱ = β·sⁱ."""
    beta = np.asarray(beta, dtype=float)[..., None]
    return beta if scale is None else beta * scale


def temporary_cost(
    v: np.ndarray,
    beta: np.ndarray | float,
    cost: CostKind,
    coupling: float,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """λⁱ(v): ``βⁱvⁱ²`` or ``βⁱvⁱ(vⁱ + c·mean_{j≠i} vʲ)`` (Remark 3.3), traders on the last axis;
    βⁱ = β·sⁱ with ``scale`` s (None: β for every trader)."""
    beta = trader_impact(beta, scale)
    return rules.temporary_cost(v, beta, coupling if cost == "aggregated" else 0.0, axis=-1)


class Drift(NamedTuple):
    """Forward drift ``f(t, Y)`` of (13)–(14) and the controls/payoff rates behind it."""

    dq: np.ndarray  # (..., n) inventory rates, traders then makers
    rate: np.ndarray  # (..., NT) trader rates v = ϕ(Y)
    ask: np.ndarray  # (..., NM) δᵃ = ψᵃ(Yᵐ)
    bid: np.ndarray  # (..., NM) δᵇ = ψᵇ(Yᵐ)
    payoff: np.ndarray | None  # (..., n) d(cash)/dt (spread income, −price paid − λ)


@dataclass(frozen=True)
class Market:
    """Static description of the best-quote market used by :func:`forward_drift`."""

    n_traders: int
    n_makers: int
    buyer: np.ndarray  # (NT,) bool, q₀ < 0
    intensity: Intensity
    cost: CostKind
    coupling: float
    min_rate: float  # ε
    max_rate: float  # ξ̃
    max_spread: float  # ξ
    impact_scale: np.ndarray | None = None  # (NT,) sⁱ with βⁱ = β·sⁱ; None: β shared


def forward_drift(
    market: Market,
    y: np.ndarray,
    a: np.ndarray | float,
    b: np.ndarray | float,
    beta: np.ndarray | float,
    payoff: bool = False,
    frozen: int | None = None,
) -> Drift:
    """``f(t, Y)`` of (13)–(14): makers' inventory rates ``−âΛ(δᵃ−δ̄ᵃ) + b̂Λ(δᵇ−δ̄ᵇ)`` and
    traders' rates ``ϕ(Y)``, with ``â = a + Σ_{buyers} v``, ``b̂ = b − Σ_{sellers} v``.

    ``a, b, beta`` (noise buy/sell rates, temporary impact β) broadcast to ``y.shape[:-1]``
    (trader i's impact is β·sⁱ with ``market.impact_scale`` s).
    ``frozen``: axis of ``y`` holding a finite-difference batch whose element 0 is the base;
    every min / truncation then follows the base's branch (:func:`clip_piece`).
    """
    nt = market.n_traders
    ye, ym = y[..., :nt], y[..., nt:]
    ask = quote_equilibrium(ym, market.intensity, market.max_spread, frozen)
    bid = quote_equilibrium(-ym, market.intensity, market.max_spread, frozen)
    lam_a = market.intensity.value(ask - best_other(ask, frozen))
    lam_b = market.intensity.value(bid - best_other(bid, frozen))
    best_ask, best_bid = best_quote(ask, frozen), best_quote(bid, frozen)
    a = np.asarray(a, dtype=float)[..., None]
    b = np.asarray(b, dtype=float)[..., None]
    if nt:
        v = trader_response(market, ye, best_ask, best_bid, beta, frozen)
        a_hat = a + (v @ market.buyer.astype(float))[..., None]
        b_hat = b - (v @ (~market.buyer).astype(float))[..., None]
    else:
        a_hat, b_hat = a, b
    dqm = -a_hat * lam_a + b_hat * lam_b
    if not nt:  # makers only: no rates, shaped like the makers' drift (coefficients broadcast)
        v = np.zeros(dqm.shape[:-1] + (0,))
    dq = np.concatenate([v, dqm], axis=-1)
    pay = None
    if payoff:
        pay_m = ask * a_hat * lam_a + bid * b_hat * lam_b
        if nt:
            price = np.where(market.buyer, best_ask, -best_bid)
            pay_e = -price * v - temporary_cost(
                v, beta, market.cost, market.coupling, market.impact_scale
            )
        else:
            pay_e = v
        pay = np.concatenate([pay_e, pay_m], axis=-1)
    return Drift(dq, v, ask, bid, pay)
