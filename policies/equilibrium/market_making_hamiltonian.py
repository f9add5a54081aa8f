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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from policies.equilibrium.coefficients import vectorised

ArrayFn = Callable[[np.ndarray], np.ndarray]
CostKind = Literal["individual", "aggregated"]


class HamiltonianError(RuntimeError):
    """A pointwise fixed point (quotes or aggregated-cost rates) did not converge."""


@dataclass(frozen=True)
class Intensity:
    """An intensity Λ of Def. 3.4 with its first two derivatives.

    Build with :meth:`exponential` (``Λ(x) = exp(−γx)``) or :meth:`from_callable` (derivatives
    given or obtained by central differences). :meth:`validate` checks Def. 3.4 on a grid.
    """

    value: ArrayFn
    d1: ArrayFn
    d2: ArrayFn
    decay: float | None = None  # γ when exponential (closed-form quotes (17))
    name: str = "custom"

    @classmethod
    def build(cls, intensity: Any, decay: float) -> Intensity:
        """Λ from an intensity setting: ``"exponential"`` (γ = ``decay``), a callable Λ
        (derivatives by central differences; Definition 3.4 is assumed — :meth:`validate`
        checks it), or an :class:`Intensity` (returned as is, e.g. with exact derivatives)."""
        if isinstance(intensity, Intensity):
            return intensity
        if isinstance(intensity, str) and intensity == "exponential":
            return cls.exponential(decay)
        if callable(intensity):
            return cls.from_callable(intensity)
        raise ValueError(
            f"intensity = {intensity!r}: allowed 'exponential', a callable Λ(x) or an "
            "Intensity (Def. 3.4)"
        )

    @classmethod
    def exponential(cls, gamma: float) -> Intensity:
        if not np.isfinite(gamma) or gamma <= 0:
            raise ValueError(f"intensity_decay = {gamma!r}: γ must be a finite number > 0")
        g = float(gamma)
        return cls(
            value=lambda x: np.exp(-g * x),
            d1=lambda x: -g * np.exp(-g * x),
            d2=lambda x: g * g * np.exp(-g * x),
            decay=g,
            name=f"exp(-{g:g}x)",
        )

    @classmethod
    def from_callable(
        cls,
        fn: Callable,
        derivative: Callable | None = None,
        second_derivative: Callable | None = None,
        step: float = 1e-4,
    ) -> Intensity:
        """Wrap a user Λ; missing derivatives are central differences with ``step``."""
        if not callable(fn):
            raise ValueError(f"intensity = {fn!r}: must be 'exponential' or a callable Λ(x)")
        f = vectorised(fn)
        d1 = vectorised(derivative) if derivative is not None else None
        d2 = vectorised(second_derivative) if second_derivative is not None else None
        if d1 is None:

            def d1(x: np.ndarray) -> np.ndarray:
                return (f(x + step) - f(x - step)) / (2 * step)

        if d2 is None:

            def d2(x: np.ndarray) -> np.ndarray:
                return (f(x + step) - 2 * f(x) + f(x - step)) / (step * step)

        return cls(value=f, d1=d1, d2=d2, name=getattr(fn, "__name__", "custom"))

    def scale(self) -> float:
        """Natural length scale ``−Λ(0)/Λ'(0)`` (``1/γ`` for the exponential)."""
        return float(-self.value(np.zeros(1))[0] / self.d1(np.zeros(1))[0])

    def validate(self, half_width: float | None = None, points: int = 2001) -> None:
        """Check Def. 3.4 on ``[−L, L]`` (default ``L = 20·scale``); raise ``ValueError`` if not.

        (1) Λ > 0, (2) Λ' < 0, (3) ``ΛΛ''/Λ'² ≤ 1`` (log-concavity) and bounded below, and Λ
        decays: ``Λ(L) < 10⁻³ Λ(0)`` stands in for ``lim_{x→∞} Λ = 0``.
        """
        lam0 = self.value(np.zeros(1))[0]
        dlam0 = self.d1(np.zeros(1))[0]
        if not (np.isfinite(lam0) and lam0 > 0 and np.isfinite(dlam0) and dlam0 < 0):
            raise ValueError(
                f"intensity Λ: Λ(0) = {lam0!r}, Λ'(0) = {dlam0!r}; Def. 3.4 needs Λ > 0, Λ' < 0"
            )
        L = float(half_width) if half_width is not None else 20.0 * self.scale()
        x = np.linspace(-L, L, points)
        lam, d1, d2 = self.value(x), self.d1(x), self.d2(x)
        bad = ~np.isfinite(lam) | (lam <= 0)
        if bad.any():
            raise ValueError(f"intensity Λ(x) = {lam[bad][0]!r} at x = {x[bad][0]:g}; Λ > 0")
        bad = ~np.isfinite(d1) | (d1 >= 0)
        if bad.any():
            raise ValueError(
                f"intensity Λ'(x) = {d1[bad][0]!r} at x = {x[bad][0]:g}; Def. 3.4 needs Λ' < 0"
            )
        ratio = lam * d2 / (d1 * d1)
        tol = 1e-3  # finite-difference noise of the default numerical Λ''
        if ratio.max() > 1 + tol or not np.isfinite(ratio).all():
            i = int(np.nanargmax(np.where(np.isfinite(ratio), ratio, np.inf)))
            raise ValueError(
                f"intensity ΛΛ''/Λ'² = {ratio[i]:.4g} at x = {x[i]:g}; Def. 3.4(3) needs "
                "sup ΛΛ''/Λ'² ≤ 1 (Λ log-concave)"
            )
        if self.value(np.array([L]))[0] >= 1e-3 * lam0:
            raise ValueError(
                f"intensity Λ({L:g}) = {self.value(np.array([L]))[0]:.3g} does not decay; "
                "Def. 3.4(3) needs lim_{x→∞} Λ(x) = 0"
            )

    def ratio(self, x: np.ndarray) -> np.ndarray:
        """``Λ(x)/Λ'(x) = −s(x)`` with its degenerate limits made explicit (no 0/0, no x/0).

        Def. 3.4 makes ``s = −Λ/Λ' = 1/|(log Λ)'|`` positive and non-increasing (log-concavity),
        so ``s ≤ scale`` for ``x ≥ 0``. Where floating point loses the ratio: Λ and Λ' both
        underflow (far tail, x > 0; the fill rate is 0 to machine precision) → ``−scale``, the
        exponential-tail bound; Λ' underflows with Λ > 0 (saturated side, x < 0) → ``−∞``, the
        limit of ``−s`` there. Overflow of a finite quotient is also its ``−∞`` limit.
        """
        x = np.asarray(x, dtype=float)
        lam, d1 = self.value(x), self.d1(x)
        ok = (d1 < 0) & np.isfinite(lam) & np.isfinite(d1)
        with np.errstate(over="ignore"):  # |Λ/Λ'| > 1.8e308 → −inf, the saturated limit
            out = np.divide(lam, d1, out=np.full(np.shape(x), -np.inf), where=ok)
        tail = ~ok & (lam <= 0) & (x > 0)
        return np.where(tail, -self.scale(), out)

    def markup_slope(self, x: np.ndarray) -> np.ndarray:
        """``h'(x) = 2 − ΛΛ''/Λ'²``, floored at 1 (its bound under Def. 3.4); 1 where Λ'
        underflows and the quotient is lost (:meth:`markup` safeguards such steps by bisection)."""
        x = np.asarray(x, dtype=float)
        d1, d2 = self.d1(x), self.d2(x)
        ok = (d1 < 0) & np.isfinite(d2)
        r = self.ratio(x)
        with np.errstate(over="ignore", invalid="ignore"):
            q = np.divide(d2, d1, out=np.zeros(np.shape(x)), where=ok) * r
        return np.where(ok & np.isfinite(q), np.maximum(2.0 - q, 1.0), 1.0)

    def markup(
        self, z: np.ndarray, guess: np.ndarray | None = None, tol: float = 1e-12, max_iter: int = 80
    ) -> np.ndarray:
        """``h⁻¹(z)`` for ``h(x) = x + Λ(x)/Λ'(x)``: safeguarded Newton, vectorised.

        Bracket from Def. 3.4: ``h(x) < x`` gives the root ``> z``; ``s = −Λ/Λ' ≤ scale`` on
        ``x ≥ 0`` gives it ``≤ max(z + scale, 0)`` (widened by ``|h − z|`` should Λ violate
        log-concavity within the tolerance of :meth:`validate`, using ``h' ≥ 1``). Newton steps
        leaving the bracket are replaced by bisection, so far-out ``z`` (where Λ under- or
        saturates) converges without NaN.
        """
        z = np.asarray(z, dtype=float)
        if self.decay is not None:
            return z + 1.0 / self.decay
        scale = self.scale()
        lo = z - tol * (1.0 + np.abs(z))
        hi = np.maximum(z + scale, 0.0) + 0.01 * scale
        r_hi = hi + self.ratio(hi) - z
        hi = np.where(r_hi < 0, hi - r_hi, hi) + tol * (1.0 + np.abs(z))
        x = np.clip(z + scale if guess is None else np.broadcast_to(guess, z.shape), lo, hi)
        r = x + self.ratio(x) - z
        for _ in range(max_iter):
            # converged: residual small, or the bracket is down to rounding (steep h')
            done = (np.abs(r) <= tol * (1.0 + np.abs(z))) | (hi - lo <= 4e-16 * (1.0 + np.abs(x)))
            if np.all(done):
                return x
            lo = np.where(r > 0, lo, np.maximum(lo, x))
            hi = np.where(r > 0, np.minimum(hi, x), hi)
            step = x - r / self.markup_slope(x)  # r = −∞ (saturated Λ) → +∞ → bisection
            x = np.where((step > lo) & (step < hi) & np.isfinite(step), step, 0.5 * (lo + hi))
            r = x + self.ratio(x) - z
        if np.all(np.abs(r) <= 1e-8 * (1.0 + np.abs(z))):
            return x
        raise HamiltonianError(f"h⁻¹ did not converge (residual {np.abs(r).max():.3g})")


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
    if k == 1:
        return np.zeros_like(delta)
    if k == 2:
        return delta[..., ::-1]
    if frozen is None:
        part = np.partition(delta, 1, axis=-1)
        first, second = part[..., :1], part[..., 1:2]
        return np.where(delta == first, second, first)
    order = np.argsort(_base(delta, frozen), axis=-1)
    shape = delta.shape[:-1] + (1,)
    first = np.take_along_axis(delta, np.broadcast_to(order[..., :1], shape), -1)
    second = np.take_along_axis(delta, np.broadcast_to(order[..., 1:2], shape), -1)
    return np.where(np.arange(k) == order[..., :1], second, first)


def best_quote(delta: np.ndarray, frozen: int | None = None) -> np.ndarray:
    """``min_j δʲ`` (keepdims); with ``frozen`` the best maker is the base element's."""
    if frozen is None or delta.shape[-1] == 1:
        return delta.min(-1, keepdims=True)
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


def rate_bounds(buyer: np.ndarray, min_rate: float, max_rate: float):
    """Admissible rates of §3: buyers ``[ε, ξ̃]``, sellers ``[−ξ̃, −ε]`` (arrays over traders)."""
    return np.where(buyer, min_rate, -max_rate), np.where(buyer, max_rate, -min_rate)


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
) -> np.ndarray:
    """ϕ of Thm 3.9: solve ``∂λⁱ/∂vⁱ(v) = ỹⁱ`` with the ε / ξ̃ truncations (traders on last axis).

    ``beta`` broadcasts to ``ytilde.shape[:-1]``.
    """
    beta = np.asarray(beta, dtype=float)[..., None]
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
    )


def temporary_cost(
    v: np.ndarray, beta: np.ndarray | float, cost: CostKind, coupling: float
) -> np.ndarray:
    """λⁱ(v): ``βvⁱ²`` or ``βvⁱ(vⁱ + c·mean_{j≠i} vʲ)`` (Remark 3.3), traders on the last axis."""
    beta = np.asarray(beta, dtype=float)[..., None]
    n = v.shape[-1]
    if cost == "individual" or n == 1:
        return beta * v * v
    others = (v.sum(-1, keepdims=True) - v) / (n - 1)
    return beta * v * (v + coupling * others)


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

    ``a, b, beta`` (noise buy/sell rates, temporary impact β) broadcast to ``y.shape[:-1]``.
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
            pay_e = -price * v - temporary_cost(v, beta, market.cost, market.coupling)
        else:
            pay_e = v
        pay = np.concatenate([pay_e, pay_m], axis=-1)
    return Drift(dq, v, ask, bid, pay)
