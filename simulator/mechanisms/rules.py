"""The market rules of Guo & Jin, written once (bottom layer: numpy only).

The engine (the mechanism modules of :mod:`simulator.mechanisms`), the Mesa agents'
accounting (:mod:`agents.base`), the equilibrium solvers
(:mod:`policies.equilibrium.market_making_hamiltonian`) and the best responses on the engine
grid (:mod:`policies.equilibrium.market_making_nash`, :mod:`policies.equilibrium.execution_nash`)
all call these functions, so a rule cannot drift
between the market that is simulated and the market that is solved.

Agents are on ``axis`` (0 in the engine, whose arrays are ``(agents, ..., M)``; −1 in the
Hamiltonian code, whose arrays are ``(..., agents)``). Functions that run in the engine's step
take ``out=`` so that the step allocates no temporaries.

* admissible rates of §3: buyers (q₀ < 0) ``[ε, ξ̃]``, sellers ``[−ξ̃, −ε]``
  (:func:`check_rate_bounds`, :func:`rate_bounds`);
* the best quote (12) ``min_j δʲ`` and the best other quote ``δ̄ʲ = min_{l≠j} δˡ`` of Def. 3.4
  (0, the reference price, for a single maker) (:func:`best_quote`, :func:`best_other_quote`);
* the traders' temporary cost λⁱ (Def. 3.2, Remark 3.3) per share: ``β(vⁱ + c·mean_{j≠i} vʲ)``
  (c = 0: the individual cost βv²) (:func:`temporary_price`, :func:`temporary_cost`);
* the §2 fill price ``mid + β/N·(vⁱ + π·Σ_{j≠i} vʲ)`` (Remark 2.1(3)) (:func:`impact_price`);
* the intensity Λ of Def. 3.4 with its derivatives (:class:`Intensity`);
* the exact running penalty ``∫φQ²dt = φ·dt·(Q_k² + Q_kQ_{k+1} + Q_{k+1}²)/3`` of a linear
  inventory path over one step (:func:`running_penalty`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

ArrayFn = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------------------------
# admissible rates (§3)
# ---------------------------------------------------------------------------------------------
def check_rate_bounds(min_rate: Any, max_rate: Any, prefix: str = "market.") -> None:
    """Raise ValueError unless ``0 ≤ ε ≤ ξ̃`` with ξ̃ > 0 (ε = ξ̃ fixes the rate; ξ̃ may be inf).

    ``prefix`` names the fields as the caller spells them (``market.`` in a scenario).
    """
    eps, xit = float(min_rate), float(max_rate)
    if not (math.isfinite(eps) and eps >= 0.0):
        raise ValueError(f"{prefix}min_rate = {min_rate!r}: ε must be a finite number >= 0")
    if not xit > 0.0:
        raise ValueError(f"{prefix}max_rate = {max_rate!r}: ξ̃ must be > 0 (or inf)")
    if eps > xit:
        raise ValueError(
            f"{prefix}min_rate = {min_rate!r} exceeds {prefix}max_rate = {max_rate!r}: the "
            "admissible rates [ε, ξ̃] of §3 are empty; need min_rate <= max_rate"
        )


def rate_bounds(buyer: Any, min_rate: float, max_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Admissible rates of §3 per trader: buyers ``[ε, ξ̃]``, sellers ``[−ξ̃, −ε]``."""
    return np.where(buyer, min_rate, -max_rate), np.where(buyer, max_rate, -min_rate)


# ---------------------------------------------------------------------------------------------
# quotes (§3, (12) and Def. 3.4)
# ---------------------------------------------------------------------------------------------
def best_quote(
    quotes: np.ndarray, axis: int = 0, out: np.ndarray | None = None, keepdims: bool = False
) -> np.ndarray:
    """The best quote (12), ``min_j δʲ`` over the makers on ``axis``."""
    return np.minimum.reduce(quotes, axis=axis, out=out, keepdims=keepdims)


def best_other_quote(quotes: np.ndarray, axis: int = 0) -> np.ndarray:
    """``δ̄ʲ = min_{l≠j} δˡ`` for every maker j on ``axis`` (same shape as ``quotes``).

    A single maker competes with the reference price: δ̄ = 0. With ties at the minimum both tied
    makers see the other, i.e. the same value.
    """
    q = np.moveaxis(quotes, axis, 0)
    k = q.shape[0]
    if k == 1:
        out = np.zeros_like(q)
    elif k == 2:
        out = q[::-1]
    else:
        part = np.partition(q, 1, axis=0)
        first, second = part[:1], part[1:2]
        out = np.where(q == first, second, first)
    return np.moveaxis(out, 0, axis)


# ---------------------------------------------------------------------------------------------
# traders' costs and prices
# ---------------------------------------------------------------------------------------------
def temporary_price(
    v: np.ndarray,
    beta: Any,
    coupling: float = 0.0,
    axis: int = 0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """λⁱ(v)/vⁱ = ``β(vⁱ + c·mean_{j≠i} vʲ)``, the temporary cost per share (Remark 3.3), for
    every trader on ``axis``; c = ``coupling`` (0, or a single trader: the individual λ = βv²).

    ``beta`` broadcasts against ``v`` (a scalar, or per time with the traders' axis kept).
    """
    out = np.multiply(v, beta, out=out)
    n = v.shape[axis]
    if coupling and n > 1:
        out += (beta * (coupling / (n - 1))) * (v.sum(axis=axis, keepdims=True) - v)
    return out


def temporary_cost(v: np.ndarray, beta: Any, coupling: float = 0.0, axis: int = 0) -> np.ndarray:
    """λⁱ(v) = ``β vⁱ(vⁱ + c·mean_{j≠i} vʲ)`` (Def. 3.2, Remark 3.3), traders on ``axis``."""
    return temporary_price(v, beta, coupling, axis) * v


def impact_price(
    mid: np.ndarray,
    rates: np.ndarray,
    beta_n: Any,
    cross: float,
    axis: int = 0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """§2 fill price of every trader (on ``axis``): ``mid + β/N·(vⁱ + π·Σ_{j≠i} vʲ)``
    (Remark 2.1(3)), evaluated as ``β/N((1 − π)vⁱ + πΣ_j vʲ)``; ``beta_n`` = β/N."""
    out = np.multiply(rates, beta_n * (1.0 - cross), out=out)
    out += (beta_n * cross) * rates.sum(axis=axis, keepdims=True)
    out += mid
    return out


# ---------------------------------------------------------------------------------------------
# inventory penalty
# ---------------------------------------------------------------------------------------------
def running_penalty(
    q0: np.ndarray,
    q1: np.ndarray,
    phi: Any,
    dt: float,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """``∫φQ²dt`` over one step of a linear inventory path from Q_k = ``q0`` to Q_{k+1} = ``q1``:
    ``φ·dt·(Q_k² + Q_kQ_{k+1} + Q_{k+1}²)/3``, evaluated as ``(φ·dt/3)·(Q_k(Q_k + Q_{k+1}) +
    Q_{k+1}²)``. ``scratch`` receives Q_{k+1}² (it may be ``q0``, which is read first)."""
    out = np.add(q0, q1, out=out)
    out *= q0
    out += np.multiply(q1, q1, out=scratch)
    out *= phi * dt / 3.0
    return out


# ---------------------------------------------------------------------------------------------
# intensity Λ (Def. 3.4)
# ---------------------------------------------------------------------------------------------
def vectorised(fn: Callable) -> Callable[[np.ndarray], np.ndarray]:
    """Call ``fn`` on arrays; fall back to element-wise evaluation if it is scalar-only."""

    def call(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        try:
            out = np.asarray(fn(x), dtype=float)
            if out.shape == x.shape:
                return out
        except (TypeError, ValueError):
            pass
        return np.vectorize(lambda s: float(fn(float(s))), otypes=[float])(x)

    return call


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
