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
  strictly increasing in μ, so ``Σζ(μ) = 1`` is ONE monotone scalar equation: Newton on
  ``log Σζ(μ)`` (one step where every maker is truncated) safeguarded by bisection on a bracket,
  with ``w⁻¹`` by Newton in ``u = logit(s)`` where ``G(u) = w(σ(u)) = 1 + eᵘ + log σ(u)`` is
  convex and increasing, kept above the root (monotone convergence) and warm-started from the
  previous μ-iterate. Cheap also where the truncation binds far off (|y| ≫ ξ), which the played
  feedback meets off the equilibrium path. Vectorised over any leading axes.
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


def _logistic(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``eᵘ``, ``σ(u) = 1/(1 + e⁻ᵘ)`` and ``softplus(−u) = log(1 + e⁻ᵘ)``, overflow-free, from
    two exponentials and one ``log1p``."""
    em = np.exp(-np.abs(u))
    sigma = np.where(u >= 0, 1.0, em) / (1.0 + em)
    return np.exp(u), sigma, np.maximum(-u, 0.0) + np.log1p(em)


def _w_inverse(
    r: np.ndarray,
    start: np.ndarray | None = None,
    tol: float = 1e-15,
    max_iter: int = 100,
) -> np.ndarray:
    """``u = logit(s)`` with ``w(s) = log s + 1/(1 − s) = r``, i.e. ``G(u) = r``.

    ``G(u) = 1 + eᵘ − softplus(−u)`` is convex and increasing (``G' = 1 − σ(u) + eᵘ > 1``). Both
    ``r − 1`` (as ``G(u) ≥ u + 1``) and, for ``r > 0``, ``log(1 + r)`` (as ``G(log(1+r)) =
    2 + r + log((1+r)/(2+r)) ≥ r``) lie above the root; their minimum ``ū`` is the cold start.
    Newton iterates are kept ≤ ``ū``: from a point above the root Newton decreases monotonically
    to it, and (G convex) one Newton step from any ``start`` below the root lands above it, so a
    warm ``start`` (e.g. the previous iterate of an outer solve) converges in a few steps.
    """
    upper = r - 1.0
    pos = r > 0
    if np.any(pos):
        upper = np.where(pos, np.minimum(upper, np.log1p(np.where(pos, r, 0.0))), upper)
    u = upper if start is None else np.minimum(start, upper)
    for _ in range(max_iter):
        eu, sigma, softplus = _logistic(u)
        step = (1.0 + eu - softplus - r) / (1.0 + eu - sigma)  # G(u) − r over G'(u)
        u = np.minimum(u - step, upper)
        if np.all(np.abs(step) <= tol * (1.0 + np.abs(u))):
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

    def quotes(self, y: np.ndarray, xi: float, tol: float = 1e-14, max_iter: int = 100) -> Quotes:
        """ψ(y) of (44) (ask side; bid side: ``quotes(−y)``), see the module docstring and
        :meth:`_solve`."""
        return self._solve(y, xi, tol, max_iter)[0]

    def quotes_with_derivative(
        self, y: np.ndarray, xi: float, tol: float = 1e-14, max_iter: int = 100
    ) -> tuple[Quotes, np.ndarray, np.ndarray]:
        """ψ(y) of (44) with ``∂δⁱ/∂yᵏ`` and ``∂ζⁱ/∂yᵏ`` (each (..., N, N), ``[..., i, k]``), by
        implicit differentiation of the parametrisation that solves it (module docstring).

        With ``cⁱ = oⁱ − ςyⁱ``: a free maker has ``uⁱ = G⁻¹(cⁱ + μ)``, ``ζⁱ = σ(uⁱ)``,
        ``δⁱ = yⁱ + (1 + e^{uⁱ})/ς``, so ``dζⁱ = aᵢ(dcⁱ + dμ)`` with ``aᵢ = σ'(uⁱ)/G'(uⁱ) =
        ζⁱ·pᵢ``, ``pᵢ = (1 − ζⁱ)/G'(uⁱ)``, and ``dδⁱ = pᵢ·dyⁱ + (1 − pᵢ)·dμ/ς`` (as
        ``e^{uⁱ}/G'(uⁱ) = 1 − pᵢ``); a truncated one has ``dδⁱ = 0`` and ``dζⁱ = aᵢ·dμ`` with
        ``aᵢ = ζⁱ``. ``Σζ = 1`` gives ``dμ = −Σ_free aᵢ·dcⁱ / Σ aᵢ = ς·Σ_free aᵢ·dyⁱ / Σ aᵢ``.
        One-sided (the free branch) where a truncation is exactly at its kink. Bid side: the map
        at ``−y``, whose derivatives in y are these with the sign flipped.
        """
        q, u = self._solve(y, xi, tol, max_iter)
        eu, sigma, _ = _logistic(u)
        free = q.delta == q.untruncated
        p = np.where(free, (1.0 - sigma) / (1.0 + eu - sigma), 0.0)  # 0 where eᵘ = ∞
        a = np.where(free, sigma * p, q.shares)
        dmu = self.sharpness * np.where(free, a, 0.0) / a.sum(-1, keepdims=True)  # dμ/dyᵏ
        eye = np.eye(self.n)
        ddelta = free[..., :, None] * (
            p[..., :, None] * eye + ((1.0 - p) / self.sharpness)[..., :, None] * dmu[..., None, :]
        )
        dzeta = a[..., :, None] * (dmu[..., None, :] - self.sharpness * free[..., :, None] * eye)
        return q, ddelta, dzeta

    def _solve(
        self, y: np.ndarray, xi: float, tol: float, max_iter: int
    ) -> tuple[Quotes, np.ndarray]:
        """ψ(y) of (44) and each maker's ``uⁱ = logit(ζⁱ)`` of the free branch.

        ``Σζ(μ) = 1`` by Newton on ``F(μ) = log Σζ(μ)`` (exact in one step where every maker is
        truncated, as ζ ∝ e^μ there; concave between the kinks where a truncation starts or
        stops binding), safeguarded by bisection on the bracket of :meth:`_bracket`; each
        ``uⁱ = G⁻¹(cⁱ + μ)`` by the monotone Newton of :func:`_w_inverse`, warm-started from the
        previous iterate. Starts from the symmetric guess ``ζ = 1/N``.
        """
        y = np.asarray(y, dtype=float)
        sig, o, n = self.sharpness, self.offsets, self.n
        flat = y.reshape(-1, n)
        out = np.empty((4, *flat.shape))  # δ, ζ, δ̃, u of the rows solved so far
        c = o - sig * flat
        lo, hi = self._bracket(c, xi)
        w_mean = math.log(1.0 / n) + n / (n - 1.0)  # w(1/N)
        mu = np.clip(w_mean - c.mean(-1), lo, hi)
        rows = np.arange(flat.shape[0])  # the rows still iterating (solved rows leave)
        u = None
        for _ in range(max_iter):
            u = _w_inverse(c + mu[:, None], start=u)
            eu, s_free, _ = _logistic(u)
            d_free = flat[rows] + (1.0 + eu) / sig
            delta = np.clip(d_free, -xi, xi)
            free = delta == d_free
            s = np.where(free, s_free, np.exp(np.minimum(o - sig * delta + mu[:, None], 700.0)))
            total = s.sum(-1)
            res = total - 1.0
            done = (np.abs(res) <= tol) | (hi - lo <= 4e-16 * (1.0 + np.abs(mu)))
            out[:, rows[done]] = delta[done], s[done] / total[done, None], d_free[done], u[done]
            if np.all(done):
                *quotes, u_out = (a.reshape(y.shape) for a in out)
                return Quotes(*quotes), u_out
            go = ~done
            rows, c, mu, u, res, total = rows[go], c[go], mu[go], u[go], res[go], total[go]
            lo = np.where(res < 0, mu, lo[go])
            hi = np.where(res > 0, mu, hi[go])
            # dζⁱ/dμ: s(1 − s)/G'(u) for a free maker, ζⁱ for a truncated one
            dg = 1.0 + eu[go] - s_free[go]  # G'(u) = du/dμ⁻¹
            sf = s_free[go]
            slope = np.where(free[go], sf * (1.0 - sf) / dg, s[go]).sum(-1)
            with np.errstate(divide="ignore", invalid="ignore"):  # Σζ underflowed to 0: bisect
                step = mu - np.log(total) * total / slope
            step = np.where((step >= lo) & (step <= hi), step, 0.5 * (lo + hi))
            u = u + (step - mu)[:, None] / dg  # warm start: u(μ) to first order
            mu = step
        raise QuoteMapError(
            f"logit quote map: normalisation Σζ = 1 missed by {np.abs(res).max():.3g}"
        )

    def _bracket(self, c: np.ndarray, xi: float) -> tuple[np.ndarray, np.ndarray]:
        """μ-bracket of ``Σζ(μ) = 1``: ``ζⁱ(μ) = e^{oⁱ − ς·clip(δ̃ⁱ) + μ}`` lies between
        ``min(ζ̃ⁱ, e^{oⁱ+ςξ+μ})`` and ``max(ζ̃ⁱ, e^{oⁱ−ςξ+μ})`` (ζ̃ the untruncated share), so all
        shares are ≤ 1/N at ``min(w(1/N) − max c, −log N − max o + ςξ)`` and ≥ 1/N at
        ``max(w(1/N) − min c, −log N − min o − ςξ)``."""
        sig, o, n = self.sharpness, self.offsets, self.n
        w_mean = math.log(1.0 / n) + n / (n - 1.0)
        lo = w_mean - c.max(-1)
        hi = w_mean - c.min(-1)
        if math.isfinite(xi):
            lo = np.minimum(lo, -math.log(n) - o.max() + sig * xi)
            hi = np.maximum(hi, -math.log(n) - o.min() - sig * xi)
        return lo, hi


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
