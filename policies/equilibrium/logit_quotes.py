"""The makers' quote map of the §5 approximation game (Guo & Jin, (42)–(44)).

Maker i's ask maximises ``(δ − yⁱ)·ζⁱ(δ)`` over its own δⁱ (the bid: ``(δ + yⁱ)·ζⁱ(δ)``, i.e. the
same map at ``−y``). The square bracket of (42) is increasing in δⁱ (Definition 5.1), so the best
reply is the first-order condition (43) truncated to ``[−ξ, ξ]``::

    δⁱ = clip(yⁱ − ζⁱ(δ)/∂ᵢζⁱ(δ), −ξ, ξ),                 i = 1..N          (43)–(44)

and (38) makes ``F(δ, y) = 0`` of (44) uniquely solvable: δ = ψ(y).

* Logit shares ``ζⁱ = softmax(−ς·δ + o)ⁱ``: ``−ζⁱ/∂ᵢζⁱ = 1/(ς(1 − ζⁱ))``. Lambert's W solves the
  one-maker-against-an-outside-good version of this markup; with ``Σζ = 1`` the N conditions are
  coupled through the normalisation only. Write ``μ = −log Σₖ e^{−ςδᵏ + oᵏ}``; an untruncated
  maker's share then solves ``w(ζⁱ) = oⁱ − ςyⁱ + μ`` with ``w(s) = log s + 1/(1 − s)`` strictly
  increasing from −∞ to ∞ on (0, 1), so ``ζⁱ = w⁻¹(oⁱ − ςyⁱ + μ)`` and ``δⁱ = yⁱ + 1/(ς(1 − ζⁱ))``
  (a truncated maker: ``δⁱ = ±ξ``, ``ζⁱ = e^{oⁱ − ςδⁱ + μ}``). Every share is continuous and
  strictly increasing in μ, so ``Σζ(μ) = 1`` is ONE monotone scalar equation: a safeguarded
  (bracketed) Newton solve in μ, with ``w⁻¹`` by Newton in ``u = logit(s)`` where
  ``G(u) = w(σ(u)) = 1 + eᵘ + log σ(u)`` is convex and increasing, started above the root
  (monotone convergence). Vectorised over any leading axes.
* A user share function (Python callable mapping one side's quotes, shape ``(N, M)``, to shares of
  the same shape — the simulator's ``market.shares`` convention): ``∂ᵢζⁱ`` by central differences,
  (44) by Newton with a finite-difference Jacobian and an Armijo backtracking on ``‖F‖²`` (the
  Newton direction is a descent direction of ``‖F‖²`` wherever ∇F is non-singular, which (38)
  guarantees: positive diagonal, diagonal dominance).

The *untruncated* first-order root ``δ̃ⁱ`` (the root of (43)'s bracket with the other makers at their
equilibrium quotes, i.e. the quote maker i would post without the ±ξ truncation) is returned too:
the truncation of maker i starts or stops binding exactly where ``δ̃ⁱ`` crosses ±ξ.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class QuoteMapError(RuntimeError):
    """The makers' first-order conditions (44) could not be solved to tolerance."""


class Quotes(NamedTuple):
    """One side's equilibrium quotes ψ(y), the shares at them and the untruncated roots δ̃."""

    delta: np.ndarray  # (..., N)
    shares: np.ndarray  # (..., N), Σ = 1
    untruncated: np.ndarray  # (..., N)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _w_inverse(
    r: np.ndarray, tol: float = 1e-15, max_iter: int = 100, strict: bool = True
) -> np.ndarray:
    """``u = logit(s)`` with ``w(s) = log s + 1/(1 − s) = r``, i.e. ``G(u) = r``.

    ``G(u) = 1 + eᵘ − softplus(−u)`` is convex and increasing (``G' = 1 − σ(u) + eᵘ > 0``). Both
    ``r − 1`` (as ``G(u) ≥ u + 1``) and, for ``r > 0``, ``log(1 + r)`` (as ``G(log(1+r)) =
    2 + r + log((1+r)/(2+r)) ≥ r``) lie above the root, so Newton from their minimum decreases
    monotonically to it.
    """
    u = r - 1.0
    pos = r > 0
    if np.any(pos):
        u = np.where(pos, np.minimum(u, np.log1p(np.where(pos, r, 0.0))), u)
    for _ in range(max_iter):
        eu = np.exp(u)
        g = 1.0 + eu - _softplus(-u) - r
        dg = 1.0 + eu - 1.0 / (1.0 + np.exp(-u))
        step = g / dg
        u = u - step
        if np.all(np.abs(step) <= tol * (1.0 + np.abs(u))):
            return u
    if not strict:  # a starting point for an outer Newton
        return u
    raise QuoteMapError("w⁻¹ (logit markup) did not converge")


@dataclass(frozen=True)
class LogitShares:
    """ζⁱ(δ) = softmax(−ς·δ + o)ⁱ (Definition 5.1's first example), makers on the last axis."""

    sharpness: float
    offsets: np.ndarray  # (N,)

    @property
    def n(self) -> int:
        return int(self.offsets.size)

    def __call__(self, delta: np.ndarray) -> np.ndarray:
        z = -self.sharpness * np.asarray(delta, dtype=float) + self.offsets
        z = z - z.max(-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(-1, keepdims=True)

    def jacobian(self, delta: np.ndarray) -> np.ndarray:
        """``∂ζⁱ/∂δᵏ = −ς ζⁱ(1{i=k} − ζᵏ)``, shape (..., N, N)."""
        s = self(delta)
        return -self.sharpness * (s[..., :, None] * (np.eye(self.n) - s[..., None, :]))

    def quotes(self, y: np.ndarray, xi: float, tol: float = 1e-14) -> Quotes:
        """ψ(y) of (44) (ask side; bid side: ``quotes(−y)``), see the module docstring.

        Joint Newton on ``(u, μ)`` (``G(uⁱ) = cⁱ + μ``, ``Σζ = 1``; the linear system reduces to
        one scalar by a Schur complement) from the symmetric guess; entries it does not
        certify go to the bracketed nested solve (:meth:`_quotes_bracketed`).
        """
        y = np.asarray(y, dtype=float)
        sig, o, n = self.sharpness, self.offsets, self.n
        c = o - sig * y
        w_mean = math.log(1.0 / n) + n / (n - 1.0)  # w(1/N)
        # trial iterates may overflow; every row is certified below (else: bracketed solve)
        with np.errstate(all="ignore"):
            mu = w_mean - c.mean(-1)
            u = _w_inverse(c + mu[..., None], max_iter=8, strict=False)
            clip_lo, clip_hi = o + sig * xi, o - sig * xi  # log-share offsets of clipped makers
            ok = np.zeros(mu.shape, dtype=bool)
            for _ in range(30):
                eu = np.exp(np.minimum(u, 700.0))
                s_free = 1.0 / (1.0 + np.exp(-u))
                d_free = y + (1.0 + eu) / sig
                upper, lower = d_free > xi, d_free < -xi
                expo = np.where(upper, clip_hi, clip_lo) + mu[..., None]
                s = np.where(upper | lower, np.exp(np.minimum(expo, 700.0)), s_free)
                r = 1.0 + eu - _softplus(-u) - c - mu[..., None]  # G(u) − c − μ
                total = s.sum(-1) - 1.0
                ok = (np.abs(total) <= tol) & np.all(np.abs(r) <= 1e-13 * (1.0 + np.abs(c)), -1)
                if np.all(ok):
                    break
                g1 = 1.0 + eu - s_free  # G'(u)
                ds = s_free * (1.0 - s_free)
                clipped = upper | lower
                a = np.where(clipped, s, ds / g1).sum(-1)
                b = np.where(clipped, 0.0, ds * r / g1).sum(-1)
                dmu = (b - total) / a
                du = (dmu[..., None] - r) / g1
                mu = mu + dmu
                u = u + np.clip(du, -5.0, 5.0)
        delta = np.clip(d_free, -xi, xi)
        if np.all(ok) and np.all(np.isfinite(delta)):
            return Quotes(delta, s / s.sum(-1, keepdims=True), d_free)
        bad = ~ok | ~np.all(np.isfinite(delta), -1)
        q = self._quotes_bracketed(y[bad], xi, tol)
        delta[bad], d_free[bad], s[bad] = q.delta, q.untruncated, q.shares
        return Quotes(delta, s / s.sum(-1, keepdims=True), d_free)

    def _quotes_bracketed(self, y: np.ndarray, xi: float, tol: float, max_iter: int = 200):
        """The robust nested solve: ``Σζ(μ) = 1`` by Newton safeguarded by bisection on an
        explicit bracket, each ``ζⁱ(μ)`` by the monotone Newton of :func:`_w_inverse`.

        Bracket: ``ζⁱ(μ) = e^{oⁱ − ς·clip(δ̃ⁱ) + μ}`` lies between ``min(ζ̃ⁱ, e^{oⁱ+ςξ+μ})`` and
        ``max(ζ̃ⁱ, e^{oⁱ−ςξ+μ})`` (ζ̃ the untruncated share), so all shares are ≤ 1/N at
        ``min(w(1/N) − max c, −log N − max o + ςξ)`` and ≥ 1/N at
        ``max(w(1/N) − min c, −log N − min o − ςξ)``.
        """
        sig, o, n = self.sharpness, self.offsets, self.n
        c = o - sig * y
        w_mean = math.log(1.0 / n) + n / (n - 1.0)
        lo = w_mean - c.max(-1)
        hi = w_mean - c.min(-1)
        if math.isfinite(xi):
            lo = np.minimum(lo, -math.log(n) - o.max() + sig * xi)
            hi = np.maximum(hi, -math.log(n) - o.min() - sig * xi)

        def shares(mu: np.ndarray):
            u = _w_inverse(c + mu[..., None])
            eu = np.exp(u)
            s_free = 1.0 / (1.0 + np.exp(-u))
            d_free = y + (1.0 + eu) / sig
            delta = np.clip(d_free, -xi, xi)
            free = delta == d_free
            s = np.where(free, s_free, np.exp(np.minimum(o - sig * delta + mu[..., None], 700.0)))
            ds = np.where(free, s_free * (1.0 - s_free) / (1.0 + eu - s_free), s)
            return s, ds, delta, d_free

        mu = 0.5 * (lo + hi)
        previous = np.full(mu.shape, np.inf)
        for _ in range(max_iter):
            s, ds, delta, d_free = shares(mu)
            res = s.sum(-1) - 1.0
            if np.all(np.abs(res) <= tol) or np.all(hi - lo <= 4e-16 * (1.0 + np.abs(mu))):
                return Quotes(delta, s / s.sum(-1, keepdims=True), d_free)
            lo = np.where(res < 0, mu, lo)
            hi = np.where(res > 0, mu, hi)
            step = mu - res / ds.sum(-1)
            # Newton inside the bracket while it halves the residual; otherwise bisection
            newton = (step > lo) & (step < hi) & (np.abs(res) <= 0.5 * previous)
            previous = np.abs(res)
            mu = np.where(newton, step, 0.5 * (lo + hi))
        raise QuoteMapError(
            f"logit quote map: normalisation Σζ = 1 missed by {np.abs(res).max():.3g}"
        )


@dataclass(frozen=True)
class UserShares:
    """A user share function ζ (class ℶ of Definition 5.1 with Σζ = 1).

    ``fn`` maps one side's half-spreads of shape ``(N, M)`` to shares of the same shape (the
    simulator's ``market.shares`` convention). Derivatives by central differences of step ``h``.
    """

    fn: Callable[[np.ndarray], np.ndarray]
    n: int
    h: float = 1e-5

    def __call__(self, delta: np.ndarray) -> np.ndarray:
        d = np.asarray(delta, dtype=float)
        flat = d.reshape(-1, self.n)
        out = np.asarray(self.fn(np.ascontiguousarray(flat.T)), dtype=float)
        if out.shape != (self.n, flat.shape[0]):
            raise ValueError(
                f"shares returned shape {out.shape}; expected {(self.n, flat.shape[0])} "
                "(one share per maker and path)"
            )
        return out.T.reshape(d.shape)

    def jacobian(self, delta: np.ndarray) -> np.ndarray:
        """``∂ζⁱ/∂δᵏ`` (..., N, N) by central differences (one batched call)."""
        d = np.asarray(delta, dtype=float)
        e = self.h * np.eye(self.n)
        pts = np.stack([d[..., None, :] + e, d[..., None, :] - e])  # (2, ..., N(k), N)
        z = self(pts)
        return np.swapaxes((z[0] - z[1]) / (2 * self.h), -1, -2)  # [..., i, k]

    def _markup(self, delta: np.ndarray) -> np.ndarray:
        """``−ζⁱ/∂ᵢζⁱ`` at δ, (..., N)."""
        d = np.asarray(delta, dtype=float)
        e = self.h * np.eye(self.n)
        z0 = self(d)
        zp = self(d[..., None, :] + e)  # (..., k, N)
        zm = self(d[..., None, :] - e)
        dii = np.diagonal(zp - zm, axis1=-2, axis2=-1) / (2 * self.h)
        # ∂ᵢζⁱ < 0 by Definition 5.1 (checked at construction); a share that underflowed to 0
        # loses it: NaN makes the Newton line search step back
        return np.where(dii < 0, -z0 / np.where(dii < 0, dii, -1.0), np.nan)

    def quotes(self, y: np.ndarray, xi: float, tol: float = 1e-9, max_iter: int = 100) -> Quotes:
        """ψ(y) of (44) by safeguarded Newton (see the module docstring).

        ``tol``: the residual of (44) relative to ``1 + |y|``; the central differences of
        ``∂ᵢζⁱ`` (step h = 1e-5: truncation ~h², rounding ~1e-16/h) floor it near 1e-11.
        """
        y = np.asarray(y, dtype=float)
        n = self.n
        eye = np.eye(n)
        hj = 1e-6

        def resid(d):
            m = self._markup(d)
            return d - np.clip(y + m, -xi, xi), y + m

        # start: the markups at δ = y, each capped at 10× the smallest (a dominant maker's
        # markup −ζ/∂ζ explodes where its rivals' shares underflow)
        m0 = self._markup(y)
        m0 = np.minimum(m0, 10.0 * np.nanmin(m0, axis=-1, keepdims=True))
        delta = np.clip(y + np.where(np.isfinite(m0), m0, 0.0), -xi, xi)
        f, free = resid(delta)
        for _ in range(max_iter):
            norm = np.max(np.abs(f), axis=-1)
            if np.all(norm <= tol * (1.0 + np.abs(y).max(-1))):
                return Quotes(delta, self(delta), free)
            cols = [(resid(delta + hj * eye[k])[0] - f) / hj for k in range(n)]
            jac = np.stack(cols, axis=-1)
            step = np.linalg.solve(jac, -f[..., None])[..., 0]
            merit = (f * f).sum(-1)
            lam = np.ones(merit.shape)
            for _ in range(30):
                cand = delta + lam[..., None] * step
                fc, fr = resid(cand)
                with np.errstate(invalid="ignore"):
                    ok = (fc * fc).sum(-1) <= (1.0 - 1e-4 * lam) * merit
                if np.all(ok | (merit == 0)):
                    break
                lam = np.where(ok, lam, 0.5 * lam)
            keep = ~ok[..., None]  # no descent found: stay (and fail below if it persists)
            delta = np.where(keep, delta, cand)
            f, free = np.where(keep, f, fc), np.where(keep, free, fr)
        raise QuoteMapError(
            f"shares: Newton on (44) did not converge (residual {np.abs(f).max():.3g}); check "
            "that the share function is of class ℶ (Definition 5.1, (38))"
        )


ShareFunction = LogitShares | UserShares


def build_shares(
    shares: str | Callable, sharpness: float, offsets: tuple[float, ...] | None, n: int
) -> ShareFunction:
    """ζ from the game's parameters; raises ValueError naming the offending parameter."""
    if not (isinstance(sharpness, (int, float)) and math.isfinite(sharpness) and sharpness > 0):
        raise ValueError(f"share_sharpness = {sharpness!r}: ς must be a finite number > 0")
    if n < 2:
        raise ValueError(
            f"{n} maker(s): with one maker its share is ζ ≡ 1 (∂ζ/∂δ = 0), which Definition "
            "5.1(2) excludes; the §5 game needs at least 2 makers"
        )
    if callable(shares):
        user = UserShares(shares, n)
        check_shares(user)
        return user
    if shares != "logit":
        raise ValueError(f"shares = {shares!r}: allowed 'logit' or a callable ζ(δ)")
    offs = np.zeros(n) if not offsets else np.asarray(offsets, dtype=float).reshape(-1)
    if offs.size != n:
        raise ValueError(
            f"share_offsets = {tuple(offsets or ())!r}: expected one offset oⁱ per maker ({n})"
        )
    if not np.all(np.isfinite(offs)):
        raise ValueError(f"share_offsets = {tuple(offs)!r}: must be finite")
    return LogitShares(float(sharpness), offs)


def check_shares(shares: UserShares, scale: float = 3.0, points: int = 64, seed: int = 0) -> None:
    """Check a user ζ on random quote vectors in ``[−scale, scale]^N``: Σζ = 1, ζ ≥ 0,
    ``∂ᵢζⁱ < 0``, ``∂ₖζⁱ ≥ 0`` (k ≠ i), Definition 5.1(2). Raises ValueError."""
    rng = np.random.default_rng(seed)
    d = rng.uniform(-scale, scale, size=(points, shares.n))
    z = shares(d)
    total = z.sum(-1)
    if not np.all(np.isfinite(z)) or np.any(z < 0) or not np.allclose(total, 1.0, atol=1e-9):
        raise ValueError(
            f"shares: ζ(δ) must be ≥ 0 and sum to 1 over the makers (Σζ = 1, §5); got sums in "
            f"[{np.nanmin(total):.6g}, {np.nanmax(total):.6g}], min share {np.nanmin(z):.3g}"
        )
    jac = shares.jacobian(d)
    diag = np.diagonal(jac, axis1=-2, axis2=-1)
    off = jac - diag[..., None] * np.eye(shares.n)
    if np.any(diag >= 0):
        raise ValueError("shares: Definition 5.1(2) needs ∂ζⁱ/∂δⁱ < 0; found ≥ 0")
    if np.any(off < -1e-7):
        raise ValueError("shares: Definition 5.1(2) needs ∂ζⁱ/∂δᵏ ≥ 0 (k ≠ i); found < 0")
