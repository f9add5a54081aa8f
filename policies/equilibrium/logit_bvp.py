"""The deterministic §5 game as a two-point BVP: drift, switching events and two solvers.

With ε = 0 and deterministic noise rates the martingales of (40)–(41) vanish and the equilibrium
is the BVP ::

    Q' = f(t, Y),   Y' = 2φ(t)·Q,   Q(0) = q₀,   Y(T) = −2A·Q(T)                (40)–(41)

``f``: traders' rates ``ϕ(Y)`` and makers' ``−âζⁱ(ψᵃ(Yᵐ)) + b̂ζⁱ(ψᵇ(Yᵐ))`` (Theorem 5.4). ``f`` is
only Lipschitz: it has kinks where a truncation starts or stops binding (a trader's rate reaches
ε or ξ̃, a maker's quote ±ξ, the best quote changes hands, a noise rate κ(L(t)) reaches its cap).
Both solvers locate those *switching times* and never integrate across one:

* :func:`solve_spectral` — Chebyshev collocation on pieces ``[τₖ, τₖ₊₁]`` whose ends are the
  coefficients' breakpoints and the switching times; Newton on all nodes at once (one vectorised
  drift call per iteration), then the switching times are re-located on the polynomial
  interpolant and the pieces re-split until they stop moving. Spectral accuracy on every piece
  (the error estimate is the size of the trailing Chebyshev coefficients); values J by
  Clenshaw–Curtis quadrature on each piece.
* :func:`solve_shooting` — Newton on ``Y(0)`` for ``Y(T) + 2AQ(T) = 0``, each trajectory by
  ``solve_ivp`` (DOP853) stopped at every switching event and restarted there; the Jacobian from
  the variational equations integrated alongside. The independent check of the first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy.integrate import solve_ivp

from policies.equilibrium.logit_quotes import LogitShares, Quotes, ShareFunction
from policies.equilibrium.protocol import Feedback  # noqa: F401 - the controls type, re-exported


class LogitSolveError(RuntimeError):
    """The §5 equilibrium BVP could not be solved to tolerance."""


Coef = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LogitProblem:
    """Numbers of the deterministic §5 game (agents: traders then makers)."""

    horizon: float
    n_traders: int
    n_makers: int
    buyer: np.ndarray  # (NT,) bool: q₀ < 0
    shares: ShareFunction
    max_spread: float  # ξ
    min_rate: float  # ε
    max_rate: float  # ξ̃
    noise_buy: Coef  # a(t) (or κᵃ(L(t)))
    noise_sell: Coef  # b(t)
    beta: Coef  # β(t)
    phi: Coef  # t (...,) -> (..., n)
    terminal: np.ndarray  # (n,) A
    breakpoints: tuple[float, ...]  # interior times where a coefficient jumps
    caps: tuple[tuple[str, Coef], ...] = ()  # time-only kinks: (label, g(t)) changing sign
    impact_scale: np.ndarray | None = None  # (NT,) sⁱ: trader i pays βⁱ = β·sⁱ; None: β shared

    def trader_impact(self, t: Any) -> np.ndarray:
        """β(t) with a trailing traders axis: β, or βⁱ(t) = β(t)·sⁱ."""
        beta = np.asarray(self.beta(t), dtype=float)[..., None]
        return beta if self.impact_scale is None else beta * self.impact_scale

    @property
    def n(self) -> int:
        return self.n_traders + self.n_makers

    def rate_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Buyers ``[ε, ξ̃]``, sellers ``[−ξ̃, −ε]`` (§3's admissible sets)."""
        lo = np.where(self.buyer, self.min_rate, -self.max_rate)
        hi = np.where(self.buyer, self.max_rate, -self.min_rate)
        return lo, hi


class Drift(NamedTuple):
    """``f(t, Y)`` with the controls and payoff rates behind it (leading axes broadcast)."""

    dq: np.ndarray  # (..., n)
    rate: np.ndarray  # (..., NT)
    ask: np.ndarray  # (..., NM)
    bid: np.ndarray  # (..., NM)
    payoff: np.ndarray  # (..., n) d(cash)/dt with P ≡ 0
    events: np.ndarray  # (..., E) switching functions (sign changes = kinks of f)


def event_labels(pb: LogitProblem, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(agent, kind) of each column of :attr:`Drift.events`, in order."""
    nt, nm = pb.n_traders, pb.n_makers
    labels: list[tuple[str, str]] = []
    lo, hi = pb.rate_bounds()
    for i in range(nt):
        if math.isfinite(lo[i]):
            labels.append((names[i], "rate_lower_bound"))
        if math.isfinite(hi[i]):
            labels.append((names[i], "rate_upper_bound"))
    for side in ("ask", "bid"):
        if _side_has_traders(pb, side) and nm > 1:
            for j in range(nm):
                for k in range(j + 1, nm):
                    labels.append((f"{names[nt + j]}|{names[nt + k]}", f"best_{side}_changes"))
    if math.isfinite(pb.max_spread):
        for side in ("ask", "bid"):
            for j in range(nm):
                labels.append((names[nt + j], f"{side}_at_+max_spread"))
                labels.append((names[nt + j], f"{side}_at_-max_spread"))
    for label, _ in pb.caps:
        labels.append(("noise", label))
    return labels


def _side_has_traders(pb: LogitProblem, side: str) -> bool:
    return bool(np.any(pb.buyer)) if side == "ask" else bool(np.any(~pb.buyer))


def drift(
    pb: LogitProblem,
    t: np.ndarray | float,
    y: np.ndarray,
    events: bool = False,
    flows: tuple[np.ndarray, np.ndarray] | None = None,
) -> Drift:
    """``f(t, Y)`` of (40)–(41), vectorised over the leading axes of ``y`` (``t`` broadcasts).

    ``flows``: the noise rates (a, b) per leading index (e.g. κᵃ(L), κᵇ(L) path by path in the
    stochastic game) in place of ``pb.noise_buy(t)``, ``pb.noise_sell(t)``.

    Makers quote ψᵃ(Yᵐ), ψᵇ(Yᵐ) = ψ(−Yᵐ) of (44); traders' rates (Thm 3.9 with individual cost
    βv²) ``v = clip((Yᵉ − min δᵃ)/(2β), ε, ξ̃)`` for buyers and
    ``clip((Yᵉ + min δᵇ)/(2β), −ξ̃, −ε)`` for sellers; ``â = a + Σ_buyers v``,
    ``b̂ = b − Σ_sellers v``. Payoff rates (P ≡ 0): makers ``δᵃâζⁱ(δᵃ) + δᵇb̂ζⁱ(δᵇ)``, traders
    ``−(min δᵃ)v − βv²`` (buyers) or ``(min δᵇ)v − βv²`` (sellers); β is trader i's own βⁱ when
    the traders have one each.
    """
    y = np.asarray(y, dtype=float)
    ym = y[..., pb.n_traders :]
    qa = pb.shares.quotes(ym, pb.max_spread)
    qb = pb.shares.quotes(-ym, pb.max_spread)
    return _drift(pb, t, y, qa, qb, events, flows)[0]


def _drift(
    pb: LogitProblem,
    t: np.ndarray | float,
    y: np.ndarray,
    qa: Quotes,
    qb: Quotes,
    events: bool,
    flows: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[Drift, np.ndarray, np.ndarray]:
    """:func:`drift` given the makers' quotes ``qa = ψᵃ(Yᵐ)``, ``qb = ψᵇ(Yᵐ)``; also returns the
    total buy and sell flows ``â``, ``b̂`` (..., 1)."""
    nt, nm = pb.n_traders, pb.n_makers
    t = np.broadcast_to(np.asarray(t, dtype=float), y.shape[:-1])
    ye = y[..., :nt]
    best_ask = qa.delta.min(-1, keepdims=True)
    best_bid = qb.delta.min(-1, keepdims=True)
    beta = pb.trader_impact(t)
    if flows is None:
        flows = (pb.noise_buy(t), pb.noise_sell(t))
    a = np.asarray(flows[0], dtype=float)[..., None]
    b = np.asarray(flows[1], dtype=float)[..., None]
    lo, hi = pb.rate_bounds()
    raw = np.where(pb.buyer, ye - best_ask, ye + best_bid) / (2.0 * beta)
    v = np.clip(raw, lo, hi)
    a_hat = a + (v * pb.buyer).sum(-1, keepdims=True)
    b_hat = b - (v * ~pb.buyer).sum(-1, keepdims=True)
    dqm = -a_hat * qa.shares + b_hat * qb.shares
    price = np.where(pb.buyer, best_ask, -best_bid)
    pay_e = -price * v - beta * v * v
    pay_m = qa.delta * a_hat * qa.shares + qb.delta * b_hat * qb.shares
    ev = np.zeros(y.shape[:-1] + (0,))
    if events:
        cols = []
        for i in range(nt):
            if math.isfinite(lo[i]):
                cols.append(raw[..., i] - lo[i])
            if math.isfinite(hi[i]):
                cols.append(raw[..., i] - hi[i])
        for side, q in (("ask", qa), ("bid", qb)):
            if _side_has_traders(pb, side) and nm > 1:
                for j in range(nm):
                    for k in range(j + 1, nm):
                        cols.append(q.delta[..., j] - q.delta[..., k])
        if math.isfinite(pb.max_spread):
            for q in (qa, qb):
                for j in range(nm):
                    cols.append(q.untruncated[..., j] - pb.max_spread)
                    cols.append(q.untruncated[..., j] + pb.max_spread)
        for _, g in pb.caps:
            cols.append(np.asarray(g(t), dtype=float))
        if cols:
            ev = np.stack(cols, axis=-1)
    out = Drift(
        np.concatenate([v, dqm], -1),
        v,
        qa.delta,
        qb.delta,
        np.concatenate([pay_e, pay_m], -1),
        ev,
    )
    return out, a_hat, b_hat


def drift_jacobian(
    pb: LogitProblem,
    t: np.ndarray,
    y: np.ndarray,
    flows: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Drift, np.ndarray]:
    """``f`` and ``∂f/∂Y`` (..., n, n) by forward differences batched with the base point (the
    quote maps are vectorised, so the n extra points cost about as much as one); ``flows`` as
    in :func:`drift`."""
    n = pb.n
    h = 1e-7 * (1.0 + np.abs(y))
    pts = y[..., None, :] + np.concatenate([np.zeros((1, n)), np.eye(n)]) * h[..., None, :]
    tt = np.broadcast_to(np.asarray(t, dtype=float)[..., None], pts.shape[:-1])
    if flows is not None:
        flows = tuple(np.broadcast_to(np.asarray(f)[..., None], pts.shape[:-1]) for f in flows)
    d = drift(pb, tt, pts, flows=flows)
    base = d.dq[..., 0, :]
    jac = (d.dq[..., 1:, :] - base[..., None, :]) / h[..., :, None]  # [..., k, i] = ∂fᵢ/∂yₖ
    out = Drift(
        base,
        d.rate[..., 0, :],
        d.ask[..., 0, :],
        d.bid[..., 0, :],
        d.payoff[..., 0, :],
        d.events[..., 0, :],
    )
    return out, np.swapaxes(jac, -1, -2)


def drift_derivative(
    pb: LogitProblem,
    t: np.ndarray | float,
    y: np.ndarray,
    flows: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Drift, np.ndarray]:
    """``f`` of (40)–(41) (bit-identical to :func:`drift`) and ``∂f/∂Y`` (..., n, n),
    ``[..., i, k] = ∂fᵢ/∂Yᵏ``: exact for logit shares, :func:`drift_jacobian`'s differences for a
    user ζ. ``flows`` as in :func:`drift`.

    Chain rule through :func:`drift`, with ``∂ψ/∂y`` and ``∂ζ(ψ)/∂y`` of
    :meth:`~policies.equilibrium.logit_quotes.LogitShares.quotes_with_derivative` (the bid side
    ψᵇ(Yᵐ) = ψ(−Yᵐ) flips their sign): a trader's rate ``v = clip(raw, lo, hi)`` has
    ``∂v/∂Yᵉ = 1/(2β)`` and ``∂v/∂Yᵐ = ∓(1/(2β))·∂(min δ)/∂Yᵐ`` (the best-quoting maker's row;
    − for buyers at the ask, + for sellers at the bid) where it is not clipped, 0 where it is;
    ``â = a + Σ_buyers v``, ``b̂ = b − Σ_sellers v``; the makers' ``−âζᵃ + b̂ζᵇ`` by the product
    rule. One-sided at the kinks of f (a clip, a truncation or a tie for the best quote exactly
    at the point).
    """
    if not isinstance(pb.shares, LogitShares):
        return drift_jacobian(pb, t, y, flows=flows)
    nt, n = pb.n_traders, pb.n
    y = np.asarray(y, dtype=float)
    ym = y[..., nt:]
    qa, da, za = pb.shares.quotes_with_derivative(ym, pb.max_spread)
    qb, db, zb = pb.shares.quotes_with_derivative(-ym, pb.max_spread)
    d, a_hat, b_hat = _drift(pb, t, y, qa, qb, False, flows)
    lead = y.shape[:-1]
    beta = pb.trader_impact(np.broadcast_to(np.asarray(t, dtype=float), lead))
    lo, hi = pb.rate_bounds()
    gain = np.where((d.rate > lo) & (d.rate < hi), 0.5 / beta, 0.0)  # ∂v/∂raw · ∂raw/∂Yᵉ
    best_a = np.take_along_axis(da, d.ask.argmin(-1)[..., None, None], -2)[..., 0, :]
    best_b = -np.take_along_axis(db, d.bid.argmin(-1)[..., None, None], -2)[..., 0, :]
    dv = np.zeros((*lead, nt, n))  # ∂vⁱ/∂Yᵏ
    dv[..., :nt] = gain[..., :, None] * np.eye(nt)
    dv[..., nt:] = gain[..., :, None] * np.where(
        pb.buyer[:, None], -best_a[..., None, :], best_b[..., None, :]
    )
    da_hat = (dv * pb.buyer[:, None]).sum(-2)  # ∂â/∂Yᵏ
    db_hat = -(dv * ~pb.buyer[:, None]).sum(-2)
    dqm = (
        -qa.shares[..., :, None] * da_hat[..., None, :]
        + qb.shares[..., :, None] * db_hat[..., None, :]
    )
    dqm[..., nt:] += -a_hat[..., None] * za - b_hat[..., None] * zb
    return d, np.concatenate([dv, dqm], -2)


# --------------------------------------------------------------------------- Chebyshev tools
@dataclass(frozen=True)
class Cheb:
    """Chebyshev–Lobatto nodes ``x`` on [−1, 1] (increasing), differentiation matrix ``D`` and
    Clenshaw–Curtis weights ``w`` (degree K)."""

    x: np.ndarray
    D: np.ndarray
    w: np.ndarray

    @classmethod
    def build(cls, k: int) -> Cheb:
        j = np.arange(k + 1)
        x = -np.cos(np.pi * j / k)
        c = np.where((j == 0) | (j == k), 2.0, 1.0) * (-1.0) ** j
        dx = x[:, None] - x[None, :]
        d = np.outer(c, 1.0 / c) / (dx + np.eye(k + 1))
        d -= np.diag(d.sum(1))
        # Clenshaw–Curtis weights (Trefethen, Spectral Methods in MATLAB, clencurt)
        theta = np.pi * j / k
        w = np.zeros(k + 1)
        v = np.ones(k - 1)
        inner = theta[1:-1]
        if k % 2 == 0:
            w[0] = w[k] = 1.0 / (k * k - 1)
            for m in range(1, k // 2):
                v -= 2.0 * np.cos(2 * m * inner) / (4 * m * m - 1)
            v -= np.cos(k * inner) / (k * k - 1)
        else:
            w[0] = w[k] = 1.0 / (k * k)
            for m in range(1, (k - 1) // 2 + 1):
                v -= 2.0 * np.cos(2 * m * inner) / (4 * m * m - 1)
        w[1:-1] = 2.0 * v / k
        return cls(x, d, w)

    def coefficients(self, values: np.ndarray) -> np.ndarray:
        """Chebyshev coefficients of the interpolant of ``values`` (K+1, ...) (by DCT-I)."""
        k = self.x.size - 1
        j = np.arange(k + 1)
        tmat = np.cos(np.pi * np.outer(j, k - j) / k)  # T_m(x_j) with x_j = −cos(πj/K)
        wts = np.where((j == 0) | (j == k), 0.5, 1.0)
        coef = (tmat * wts[None, :]) @ values * (2.0 / k)
        coef[0] *= 0.5
        coef[k] *= 0.5
        return coef

    def interpolate(self, values: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Barycentric interpolation of ``values`` (K+1, ...) at points ``s`` in [−1, 1]."""
        k = self.x.size - 1
        j = np.arange(k + 1)
        bw = (-1.0) ** j * np.where((j == 0) | (j == k), 0.5, 1.0)
        diff = s[:, None] - self.x[None, :]
        exact = diff == 0
        diff = np.where(exact, 1.0, diff)
        mat = bw[None, :] / diff
        mat /= mat.sum(1, keepdims=True)
        hit = exact.any(1)
        mat[hit] = exact[hit].astype(float)
        return np.tensordot(mat, values, axes=(1, 0))


class Piecewise(NamedTuple):
    """A collocation solution: piece ends ``ends`` (P+1,), node values ``q``, ``y`` (P, K+1, n)."""

    ends: np.ndarray
    cheb: Cheb
    q: np.ndarray
    y: np.ndarray

    def times(self) -> np.ndarray:
        """Node times (P, K+1)."""
        a, b = self.ends[:-1, None], self.ends[1:, None]
        return a + 0.5 * (self.cheb.x[None, :] + 1.0) * (b - a)

    def coefficient_times(self) -> np.ndarray:
        """Node times at which to read the coefficients: each piece's last node moved 1e-9·T
        inside, so a piecewise-constant coefficient gives its left limit there (right-continuous
        profiles would otherwise put the next piece's value on this piece's end)."""
        tt = self.times()
        tt[:, -1] -= 1e-9 * (self.ends[-1] - self.ends[0])
        return tt

    def at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Q(t), Y(t) (len(t), n) by interpolation on the piece holding each t."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        p = np.clip(np.searchsorted(self.ends, t, side="right") - 1, 0, self.ends.size - 2)
        q = np.empty((t.size, self.q.shape[-1]))
        y = np.empty_like(q)
        for piece in np.unique(p):
            sel = p == piece
            a, b = self.ends[piece], self.ends[piece + 1]
            s = np.clip(2.0 * (t[sel] - a) / (b - a) - 1.0, -1.0, 1.0)
            q[sel] = self.cheb.interpolate(self.q[piece], s)
            y[sel] = self.cheb.interpolate(self.y[piece], s)
        return q, y


# --------------------------------------------------------------------------- spectral solver
def _assemble(pb: LogitProblem, sol: Piecewise, q0: np.ndarray, t0: float):
    """Residual and Jacobian of the collocation system (see :func:`solve_spectral`)."""
    n = pb.n
    ends, ch = sol.ends, sol.cheb
    npieces, k1 = sol.q.shape[0], ch.x.size
    tt = sol.coefficient_times()
    d, jf = drift_jacobian(pb, tt, sol.y)  # (P, K+1, n), (P, K+1, n, n)
    phi = np.asarray(pb.phi(tt), dtype=float)  # (P, K+1, n)
    block = 2 * n * k1
    size = npieces * block
    res = np.zeros(size)
    jac = np.zeros((size, size))
    eye = np.eye(n)

    def qi(p, j):  # index of Q_{p,j} components
        return p * block + j * n

    def yi(p, j):
        return p * block + k1 * n + j * n

    for p in range(npieces):
        scale = 2.0 / (ends[p + 1] - ends[p])
        dm = scale * ch.D
        qp, yp = sol.q[p], sol.y[p]
        dq = dm @ qp - d.dq[p]
        dy = dm @ yp - 2.0 * phi[p] * qp
        kron = np.kron(dm, eye)
        q_rows = slice(qi(p, 0), qi(p, 0) + k1 * n)
        y_rows = slice(yi(p, 0), yi(p, 0) + k1 * n)
        # Q' = f(Y): rows j = 1..K (row 0: initial condition / continuity)
        res[q_rows] = dq.ravel()
        jac[q_rows, q_rows] = kron
        for j in range(k1):
            r = qi(p, j)
            jac[r : r + n, yi(p, j) : yi(p, j) + n] = -jf[p, j]
        # Y' = 2φQ: rows j = 0..K−1 (row K: terminal condition / continuity)
        res[y_rows] = dy.ravel()
        jac[y_rows, y_rows] = kron
        for j in range(k1):
            r = yi(p, j)
            jac[r : r + n, qi(p, j) : qi(p, j) + n] = -2.0 * np.diag(phi[p, j])
        # replaced rows
        r0 = qi(p, 0)
        jac[r0 : r0 + n] = 0.0
        jac[r0 : r0 + n, r0 : r0 + n] = eye
        if p == 0:
            res[r0 : r0 + n] = qp[0] - q0
        else:
            res[r0 : r0 + n] = qp[0] - sol.q[p - 1, -1]
            jac[r0 : r0 + n, qi(p - 1, k1 - 1) : qi(p - 1, k1 - 1) + n] = -eye
        rk = yi(p, k1 - 1)
        jac[rk : rk + n] = 0.0
        jac[rk : rk + n, rk : rk + n] = eye
        if p == npieces - 1:
            res[rk : rk + n] = yp[-1] + 2.0 * pb.terminal * qp[-1]
            jac[rk : rk + n, qi(p, k1 - 1) : qi(p, k1 - 1) + n] = 2.0 * np.diag(pb.terminal)
        else:
            res[rk : rk + n] = yp[-1] - sol.y[p + 1, 0]
            jac[rk : rk + n, yi(p + 1, 0) : yi(p + 1, 0) + n] = -eye
    return res, jac


def _newton(pb: LogitProblem, sol: Piecewise, q0: np.ndarray, t0: float, tol: float):
    """Damped Newton on the collocation system; returns (solution, iterations, residual)."""
    n, npieces, k1 = pb.n, sol.q.shape[0], sol.cheb.x.size
    scale = 1.0 + float(np.max(np.abs(sol.y))) + float(np.max(np.abs(q0)))

    def unpack(z):
        z = z.reshape(npieces, 2, k1, n)
        return sol._replace(q=z[:, 0], y=z[:, 1])

    def pack(s):
        return np.stack([s.q, s.y], axis=1).ravel()

    z = pack(sol)
    res, jac = _assemble(pb, sol, q0, t0)
    norm = float(np.max(np.abs(res)))
    for it in range(60):
        if norm <= tol * scale:
            return unpack(z), it, norm
        step = np.linalg.solve(jac, -res)
        lam = 1.0
        for _ in range(30):
            cand = unpack(z + lam * step)
            with np.errstate(all="ignore"):
                r2, j2 = _assemble(pb, cand, q0, t0)
            n2 = float(np.max(np.abs(r2)))
            if np.isfinite(n2) and n2 < (1.0 - 1e-4 * lam) * norm:
                break
            lam *= 0.5
        else:
            if norm <= 1e-9 * scale:  # the rounding floor of the residual: converged
                return unpack(z), it, norm
            raise LogitSolveError(
                f"collocation Newton stalled at residual {norm:.3g} (line search failed)"
            )
        z, res, jac, norm = pack(cand), r2, j2, n2
    raise LogitSolveError(f"collocation Newton did not converge (residual {norm:.3g})")


def _switching_times(
    pb: LogitProblem, sol: Piecewise, per_piece: int = 48
) -> list[tuple[float, int]]:
    """Roots of the event functions along the interpolant: (time, event column) sorted."""
    ends = sol.ends
    grid = np.unique(
        np.concatenate(
            [np.linspace(ends[p], ends[p + 1], per_piece + 1) for p in range(ends.size - 1)]
        )
    )
    _, y = sol.at(grid)
    ev = drift(pb, grid, y, events=True).events
    if ev.shape[-1] == 0:
        return []
    out = []
    # a zero (e.g. at a piece end placed on a root) takes the sign before it, so the crossing
    # is still seen between it and the next point; values at rounding level count as zero
    # (identical makers tie exactly: their quote difference is rounding noise, not a switch)
    noise = 1e-10 * (1.0 + np.max(np.abs(y)))
    sgn = np.where(np.abs(ev) <= noise, 0.0, np.sign(ev))
    for i in range(1, sgn.shape[0]):
        sgn[i] = np.where(sgn[i] == 0, sgn[i - 1], sgn[i])

    def event(t: float, col: int) -> float:
        return float(drift(pb, np.array([t]), sol.at(np.array([t]))[1], events=True).events[0, col])

    for col in range(ev.shape[-1]):
        idx = np.nonzero(sgn[:-1, col] * sgn[1:, col] < 0)[0]
        for i in idx:
            out.append(
                (
                    _root(
                        lambda t, c=col: event(t, c),
                        grid[i],
                        grid[i + 1],
                        ev[i, col],
                        ev[i + 1, col],
                        sgn[i, col],
                        pb.horizon,
                    ),
                    col,
                )
            )
    return sorted(out)


def _root(
    f: Callable[[float], float],
    lo: float,
    hi: float,
    f_lo: float,
    f_hi: float,
    sign_lo: float,
    horizon: float,
) -> float:
    """The zero of ``f`` in ``[lo, hi]`` to 1e-14·max(1, T): the Illinois variant of regula
    falsi (superlinear; the retained end's value is halved when the same end is kept twice)
    where ``f_lo``, ``f_hi`` bracket it, bisection on the sign (``sign_lo`` at ``lo``) where
    an end lies within rounding of zero."""
    tol = 1e-14 * max(1.0, horizon)
    if f_lo * f_hi < 0.0:
        kept = 0
        for _ in range(60):
            mid = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
            f_mid = f(mid)
            if f_mid == 0.0:
                return mid
            if (f_mid > 0.0) == (f_hi > 0.0):
                hi, f_hi = mid, f_mid
                if kept == -1:
                    f_lo *= 0.5
                kept = -1
            else:
                lo, f_lo = mid, f_mid
                if kept == 1:
                    f_hi *= 0.5
                kept = 1
            if hi - lo <= tol or abs(f_mid) <= 1e-15 * (1.0 + abs(f_lo) + abs(f_hi)):
                return mid
        return 0.5 * (lo + hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        f_mid = f(mid)
        if f_mid == 0 or hi - lo <= tol:
            break
        if np.sign(f_mid) == sign_lo:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


class SpectralResult(NamedTuple):
    solution: Piecewise
    switching: list[tuple[float, int]]
    newton_iterations: int
    residual: float
    estimated_error: float


def _initial(
    pb: LogitProblem, ends: np.ndarray, cheb: Cheb, q0: np.ndarray, prev: Piecewise | None
):
    npieces, k1 = ends.size - 1, cheb.x.size
    if prev is None:
        q = np.broadcast_to(q0, (npieces, k1, pb.n)).copy()
        y = np.broadcast_to(-2.0 * pb.terminal * q0, (npieces, k1, pb.n)).copy()
        return Piecewise(ends, cheb, q, y)
    a, b = ends[:-1, None], ends[1:, None]
    tt = (a + 0.5 * (cheb.x[None, :] + 1.0) * (b - a)).ravel()
    q, y = prev.at(tt)
    return Piecewise(ends, cheb, q.reshape(npieces, k1, -1), y.reshape(npieces, k1, -1))


def _tails(sol: Piecewise) -> np.ndarray:
    """Error estimate per piece: the last two Chebyshev coefficients of Q and Y, relative to
    the solution's size."""
    size = 1.0 + max(float(np.max(np.abs(sol.q))), float(np.max(np.abs(sol.y))))
    out = np.zeros(sol.q.shape[0])
    for p in range(sol.q.shape[0]):
        for arr in (sol.q[p], sol.y[p]):
            c = sol.cheb.coefficients(arr)
            out[p] = max(out[p], float(np.max(np.abs(c[-2:]))))
    return out / size


def solve_spectral(
    pb: LogitProblem,
    q0: np.ndarray,
    t0: float = 0.0,
    degree: int = 24,
    tol: float = 1e-10,
    max_rounds: int = 60,
) -> SpectralResult:
    """Chebyshev collocation of the BVP on [t0, T] with switching times located (see module).

    Each round: Newton on the pieces (ends: breakpoints, current switching times and any
    refinement cuts), then the switching times are re-located on the interpolant. When they
    agree with the previous round to 1e-11·T: done if every piece's trailing Chebyshev
    coefficients are below ``tol``; else the degree rises to 32 and then the offending
    pieces are halved (a kink the events do not know, e.g. inside a user's callable rate).
    Raises :class:`LogitSolveError`.
    """
    T = pb.horizon
    fixed = {t0, T} | {b for b in pb.breakpoints if t0 < b < T}
    switch: list[tuple[float, int]] = []
    prev: Piecewise | None = None
    k = degree
    total_it = 0
    for _ in range(max_rounds):
        ends = np.array(sorted(fixed | {s for s, _ in switch}), dtype=float)
        ends = ends[np.concatenate([[True], np.diff(ends) > 1e-12 * T])]
        cheb = Cheb.build(k)
        sol0 = _initial(pb, ends, cheb, q0, prev)
        with np.errstate(over="ignore", invalid="ignore"):
            sol, its, res = _newton(pb, sol0, q0, t0, 1e-12)
        total_it += its
        new = [(s, c) for s, c in _switching_times(pb, sol) if t0 + 1e-12 * T < s < T - 1e-12 * T]
        tails = _tails(sol)
        moved = len(new) != len(switch) or any(
            abs(a - b) > 1e-11 * T or c1 != c2
            for (a, c1), (b, c2) in zip(new, switch, strict=False)
        )
        prev, switch = sol, new
        if moved:
            continue
        if tails.max() <= tol:
            return SpectralResult(sol, new, total_it, res, float(tails.max()))
        if k < 32:
            k = 32
        else:
            bad = np.nonzero(tails > tol)[0]
            fixed |= {0.5 * (ends[p] + ends[p + 1]) for p in bad}
    raise LogitSolveError(
        f"collocation: not converged in {max_rounds} rounds (switching times {switch!r} still "
        f"moving, or trailing Chebyshev coefficients {float(_tails(prev).max()):.3g} > {tol:g})"
    )


def values_spectral(pb: LogitProblem, sol: Piecewise) -> np.ndarray:
    """J (n,) with P₀ = 0: Clenshaw–Curtis on each piece of ``∫(pay − φQ²)dt − A·Q(T)²``."""
    tt = sol.coefficient_times()
    d = drift(pb, tt, sol.y)
    phi = np.asarray(pb.phi(tt), dtype=float)
    rate = d.payoff - phi * sol.q * sol.q
    half = 0.5 * np.diff(sol.ends)
    integral = np.einsum("p,k,pki->i", half, sol.cheb.w, rate)
    return integral - pb.terminal * sol.q[-1, -1] ** 2


# --------------------------------------------------------------------------- shooting
class ShootingResult(NamedTuple):
    y0: np.ndarray
    values: np.ndarray
    q_end: np.ndarray
    switching: list[tuple[float, int]]
    newton_iterations: int
    residual: float


def _integrate(pb: LogitProblem, q0: np.ndarray, y0: np.ndarray, t0: float, rtol: float):
    """One trajectory with the variational equations; stops and restarts at every event."""
    n = pb.n
    z = np.concatenate([q0, y0, np.zeros(n), np.eye(2 * n)[:, n:].ravel()])

    def rhs(t, z):
        q, y = z[:n], z[n : 2 * n]
        phi = np.asarray(pb.phi(np.array(t)), dtype=float)
        d, jf = drift_jacobian(pb, np.array(t), y)
        sens = z[3 * n :].reshape(2 * n, n)  # ∂(Q, Y)/∂Y₀
        dsens = np.concatenate([jf @ sens[n:], 2.0 * phi[:, None] * sens[:n]])
        return np.concatenate([d.dq, 2.0 * phi * q, d.payoff - phi * q * q, dsens.ravel()])

    cache: dict = {}

    def events_at(t, z):
        key = (t, z[n : 2 * n].tobytes())
        if cache.get("key") != key:
            cache["key"] = key
            cache["ev"] = drift(pb, np.array(t), z[n : 2 * n], events=True).events
        return cache["ev"]

    n_ev = drift(pb, np.array(t0), y0, events=True).events.shape[-1]
    fixed = [t0] + [b for b in pb.breakpoints if t0 < b < pb.horizon] + [pb.horizon]
    switching: list[tuple[float, int]] = []
    directions = np.zeros(n_ev)
    for a, b in zip(fixed[:-1], fixed[1:], strict=True):
        t = a
        while t < b - 1e-13 * pb.horizon:
            evs = []
            for col in range(n_ev):

                def g(tt, zz, col=col):
                    return events_at(tt, zz)[col]

                g.terminal = True
                g.direction = directions[col]
                evs.append(g)
            out = solve_ivp(rhs, (t, b), z, method="DOP853", rtol=rtol, atol=rtol, events=evs)
            if not out.success and out.status != 1:
                raise LogitSolveError(f"shooting: solve_ivp failed ({out.message})")
            z = out.y[:, -1]
            directions[:] = 0.0
            if out.status == 1:
                hit = [c for c in range(n_ev) if out.t_events[c].size]
                t_hit = float(out.t[-1])
                for c in hit:
                    switching.append((t_hit, c))
                    # restart with only the opposite crossing armed (the event sits at ~0 now)
                    directions[c] = np.sign(events_at(out.t[-2], out.y[:, -2])[c])
                t = t_hit
            else:
                t = b
    return z, switching


def solve_shooting(
    pb: LogitProblem, q0: np.ndarray, y0: np.ndarray, t0: float = 0.0, rtol: float = 1e-10
) -> ShootingResult:
    """Newton on Y(t0) (see module); ``y0`` is the starting guess. Raises LogitSolveError."""
    n = pb.n
    scale = 1.0 + float(np.max(np.abs(2.0 * pb.terminal * q0)))
    y = np.asarray(y0, dtype=float).copy()
    norm = math.inf
    for it in range(40):
        z, switching = _integrate(pb, q0, y, t0, rtol)
        q_end, y_end = z[:n], z[n : 2 * n]
        res = y_end + 2.0 * pb.terminal * q_end
        new_norm = float(np.max(np.abs(res)))
        if new_norm <= 1e-9 * scale:
            values = z[2 * n : 3 * n] - pb.terminal * q_end**2
            return ShootingResult(y, values, q_end, switching, it, new_norm)
        sens = z[3 * n :].reshape(2 * n, n)
        jac = sens[n:] + 2.0 * pb.terminal[:, None] * sens[:n]
        step = np.linalg.solve(jac, -res)
        if new_norm > norm:  # damp
            step *= 0.5
        norm = new_norm
        y = y + step
    raise LogitSolveError(f"shooting Newton did not converge (residual {norm:.3g})")
