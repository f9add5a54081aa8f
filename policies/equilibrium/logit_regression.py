"""The stochastic §5 game: the decoupling field u(t, Q, L) by regression Monte Carlo.

With inventory noise ε > 0 and/or a volatile factor L of (39), the FBSDE (39)–(41) is Markovian
in X = (Q, L) and Y = u(t, X). The adjoint equation ``dY = 2φQ dt + dM``, ``Y_T = −2A·Q_T`` has a
driver linear in the forward state, so on the grid ``t_j = jΔt`` (Δt = T/N)::

    u_j(x) = E[u_{j+1}(X_{j+1}) | X_j = x] − 2φ(t_j)·q·Δt,                               (*)
    X_{j+1} = (q + f(t_j, ℓ, u_j(x))·Δt + ε·ΔW,  m + (ℓ − m)·e^{−θΔt} + s_L·Z),

``f`` the drift of (40)–(41) with the noise rates κᵃ(ℓ), κᵇ(ℓ) of the factor (or a(t), b(t)).
The drift is taken at the step's own adjoint u_j(x) (implicit): on the linearisation ``f ≈ G·Y``
the scheme is the implicit Euler step of the Riccati equation ``R' = 2φ − RGR``, stable where
the explicit one needs ``Δt·|RG| < 2`` (with ``R(T) = −2A`` and ``G ~ 1/(2β)`` that is no small
step). Every u_j is a polynomial of total degree ``degree`` in the state standardised by the
regression points of step j. Given the drift, X_{j+1} is Gaussian, so ``E[u_{j+1}(X_{j+1})|X_j]``
is the heat semigroup applied to a polynomial, in closed form ("regression later": no Monte Carlo
noise in the conditional expectation). (*) is then a fixed-point equation for u_j(x) at every
regression point x (solved by Newton, vectorised over the points), and
u_j is the least-squares fit of those values on the basis: one small dense solve per step, run
on one BLAS thread.

Regression points: the states of a forward simulation of (Q, L) under the current field, jittered
by ``dispersion`` (Gaussian, in every coordinate) so that the field is fitted on a neighbourhood
of the paths even where ε is small (the feedback is also used off the path: deviations,
heuristic opponents). Picard iteration on the FBSDE: simulate under uᵏ, fit T(uᵏ) backwards on
those paths, until the fixed-point residual ``max |T(uᵏ) − uᵏ| / (1 + max |T(uᵏ)|)`` on the paths
is ≤ ``tolerance`` (the returned field is T(uᵏ)); u⁰ is the deterministic game's first-order
decoupling field (ε = 0, the factor on its mean path). The same random numbers serve every
Picard iteration, so T is a deterministic map. T depends on uᵏ only through where the paths put
the regression points, but where a truncation binds (ε, ξ̃, ξ) the fitted polynomial moves with
them and T need not contract: iterated as is it can cycle at the regression's error level.
The iteration is therefore relaxed, ``uᵏ⁺¹ = (1 − ω_k)·uᵏ + ω_k·T(uᵏ)`` (same fixed points),
with Aitken's dynamic factor ω_k (Irons & Tuck 1969; Küttler & Wall 2008), the secant estimate
of the best factor along the dominant error mode, kept in [1/16, 1] (ω = 1 where plain Picard
contracts monotonically); the blend of two fitted polynomials is exact (:meth:`Field.blend`).
One that does not converge raises :class:`~policies.equilibrium.logit_bvp.LogitSolveError`.

Values J: an independent Monte Carlo of the converged feedback on the same grid with the engine's
accounting (payoff rates × Δt, the exact ∫φQ² of the linear inventory path of each step,
−A·Q_T²), reported with their standard errors. The same simulation counts, for every rate bound
and ±ξ, the fraction of path-steps where it binds (the stochastic counterpart of the
deterministic game's switching times).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg

from policies.equilibrium.logit_bvp import (
    Drift,
    LogitProblem,
    LogitSolveError,
    drift,
    drift_derivative,
)

FieldFn = Callable[[int, np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- polynomial basis
class Basis:
    """Monomials of total degree ≤ ``degree`` in ``dim`` variables (graded order), with the
    coefficient maps of the partial derivatives and of the Gaussian expectation."""

    def __init__(self, dim: int, degree: int) -> None:
        exps = [np.zeros(dim, dtype=int)]
        last = [0]
        parent: list[int] = []
        var: list[int] = []
        prev = [0]
        self.blocks: list[slice] = []
        for _ in range(degree):
            start, cur = len(exps), []
            for p in prev:
                for v in range(last[p], dim):
                    e = exps[p].copy()
                    e[v] += 1
                    exps.append(e)
                    last.append(v)
                    parent.append(p)
                    var.append(v)
                    cur.append(len(exps) - 1)
            self.blocks.append(slice(start, len(exps)))
            prev = cur
        self.dim, self.degree = dim, degree
        self.exponents = np.array(exps)
        self.parent = np.array(parent, dtype=int)
        self.var = np.array(var, dtype=int)
        index = {tuple(e): i for i, e in enumerate(exps)}
        k = len(exps)
        self.deriv = np.zeros((dim, k, k))  # deriv[l] @ coef: coefficients of ∂u/∂z_l
        for i, e in enumerate(exps):
            for ell in range(dim):
                if e[ell]:
                    lower = e.copy()
                    lower[ell] -= 1
                    self.deriv[ell, index[tuple(lower)], i] = e[ell]
        self._second = np.einsum("lij,ljk->lik", self.deriv, self.deriv)

    @property
    def size(self) -> int:
        return self.exponents.shape[0]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """The monomials at points z (M, dim) → (M, K)."""
        out = np.empty((z.shape[0], self.size))
        out[:, 0] = 1.0
        for blk in self.blocks:
            par = self.parent[blk.start - 1 : blk.stop - 1]  # indexed from monomial 1
            var = self.var[blk.start - 1 : blk.stop - 1]
            np.multiply(out[:, par], z[:, var], out=out[:, blk])
        return out

    def heat(self, coef: np.ndarray, variance: np.ndarray) -> np.ndarray:
        """Coefficients of ``z ↦ E[u(z + W)]``, W ~ N(0, diag(variance)), for u = basis·coef:
        ``exp(½ Σ_l variance_l ∂²_l)`` on polynomials (a finite sum: the operator is
        nilpotent)."""
        lap = 0.5 * np.tensordot(variance, self._second, axes=1)
        out, term = coef.copy(), coef
        for m in range(1, self.degree // 2 + 1):
            term = lap @ term / m
            out += term
        return out

    def affine(self, coef: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """Coefficients of ``z ↦ u(scale ⊙ z + shift)`` for u = basis·coef (exact): Taylor's
        shift ``exp(Σ_l shift_l ∂_l)`` (nilpotent on polynomials), then each monomial z^e
        times ``Π_l scale_l^{e_l}``."""
        step = np.tensordot(shift, self.deriv, axes=1)
        out, term = coef.copy(), coef
        for m in range(1, self.degree + 1):
            term = step @ term / m
            out += term
        factor = np.prod(np.asarray(scale, dtype=float) ** self.exponents, axis=1)
        return out * factor.reshape((-1,) + (1,) * (coef.ndim - 1))

    def gradient(self, coef: np.ndarray, z: np.ndarray) -> np.ndarray:
        """∂u/∂z at points z (M, dim) for u = basis·coef (K, n) → (M, dim, n)."""
        b = self(z)
        return np.stack([b @ (d @ coef) for d in self.deriv], axis=1)


# --------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class StochasticLogit:
    """The stochastic §5 game: the deterministic numbers of :class:`LogitProblem` (its noise
    rates are used when there is no factor), ε and the Ornstein–Uhlenbeck factor (floats)."""

    problem: LogitProblem
    inventory_noise: float
    factor: dict[str, float] | None

    @property
    def dim(self) -> int:
        """State dimension: n inventories (+ the factor level)."""
        return self.problem.n + (self.factor is not None)

    def initial_state(self, q0: np.ndarray) -> np.ndarray:
        x0 = np.asarray(q0, dtype=float)
        if self.factor is not None:
            x0 = np.append(x0, self.factor["initial"])
        return x0

    def flows(self, t: float, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Noise rates (a, b) per path: κᵃ(L), κᵇ(L) = min(base·e^{loading·L}, cap), or a(t),
        b(t) broadcast."""
        m = x.shape[0]
        f = self.factor
        if f is None:
            pb = self.problem
            return np.full(m, float(pb.noise_buy(t))), np.full(m, float(pb.noise_sell(t)))
        level = x[:, -1]
        out = []
        for base, loading in (
            (f["buy_base"], f["buy_loading"]),
            (f["sell_base"], f["sell_loading"]),
        ):
            expo = np.minimum(loading * level, math.log(f["cap"] / base) + 1.0)
            out.append(np.minimum(base * np.exp(expo), f["cap"]))
        return out[0], out[1]

    def transition(self, dt: float) -> tuple[float, float]:
        """Exact OU step of L: ``L' = m + (L − m)·decay + sd·Z``."""
        f = self.factor
        if f is None:
            return 1.0, 0.0
        th, vol = f["reversion"], f["volatility"]
        decay = math.exp(-th * dt)
        sd = vol * (math.sqrt((1.0 - decay * decay) / (2.0 * th)) if th > 0 else math.sqrt(dt))
        return decay, sd

    def noise_variance(self, dt: float) -> np.ndarray:
        """Variance of the Gaussian part of one step, per state coordinate (D,)."""
        var = np.full(self.dim, self.inventory_noise**2 * dt)
        if self.factor is not None:
            var[-1] = self.transition(dt)[1] ** 2
        return var

    def mean_step(self, x: np.ndarray, dq: np.ndarray, dt: float) -> np.ndarray:
        """The conditional mean of X_{j+1}: ``(q + f·Δt, m + (ℓ − m)·decay)``."""
        n = self.problem.n
        out = np.empty_like(x)
        out[:, :n] = x[:, :n] + dq * dt
        if self.factor is not None:
            decay, _ = self.transition(dt)
            m = self.factor["mean"]
            out[:, n] = m + (x[:, n] - m) * decay
        return out


# --------------------------------------------------------------------------- the field
@dataclass(frozen=True)
class Field:
    """Adjoint u_j and value V_j (n each): ``basis((x − μ_j)/s_j)·C_j`` for j < N with
    ``C_j = [adjoint | value]`` (K, 2n); ``u_N = −2A·q``, ``V_N = −A·q²``. ``variance``: the
    Gaussian part of one step per coordinate, for the conditional expectations."""

    basis: Basis
    dt: float
    center: np.ndarray  # (N, D)
    scale: np.ndarray  # (N, D)
    coef: np.ndarray  # (N, K, 2n)
    terminal: np.ndarray  # (n,) A
    variance: np.ndarray  # (D,)
    _heat: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def steps(self) -> int:
        return self.coef.shape[0]

    def _both(self, j: int, x: np.ndarray) -> np.ndarray:
        n = self.terminal.size
        if j >= self.steps:
            q = x[:, :n]
            return np.concatenate([-2.0 * self.terminal * q, -self.terminal * q * q], axis=1)
        return self.basis((x - self.center[j]) / self.scale[j]) @ self.coef[j]

    def __call__(self, j: int, x: np.ndarray) -> np.ndarray:
        """u_j(x) (M, n)."""
        n = self.terminal.size
        if j >= self.steps:
            return -2.0 * self.terminal * x[:, :n]
        c = self.coef[j, :, :n]
        return self.basis((x - self.center[j]) / self.scale[j]) @ c

    def value(self, j: int, x: np.ndarray) -> np.ndarray:
        """V_j(x) (M, n)."""
        return self._both(j, x)[:, self.terminal.size :]

    def _heat_coef(self, j: int) -> np.ndarray:
        if j not in self._heat:
            self._heat[j] = self.basis.heat(self.coef[j], self.variance / self.scale[j] ** 2)
        return self._heat[j]

    def expected(self, j: int, mean: np.ndarray) -> np.ndarray:
        """``E[(u_j, V_j)(mean + W)]`` (M, 2n), W the Gaussian part of a step (exact)."""
        n = self.terminal.size
        if j >= self.steps:
            q = mean[:, :n]
            var_q = self.variance[:n]
            return np.concatenate(
                [-2.0 * self.terminal * q, -self.terminal * (q * q + var_q)], axis=1
            )
        return self.basis((mean - self.center[j]) / self.scale[j]) @ self._heat_coef(j)

    def expected_gradient(self, j: int, mean: np.ndarray) -> np.ndarray:
        """``∂/∂x E[u_j(x + W)]`` at ``mean`` (M, D, n)."""
        n = self.terminal.size
        if j >= self.steps:
            g = np.zeros((mean.shape[0], mean.shape[1], n))
            g[:, np.arange(n), np.arange(n)] = -2.0 * self.terminal
            return g
        s = self.scale[j]
        z = (mean - self.center[j]) / s
        return self.basis.gradient(self._heat_coef(j)[:, :n], z) / s[None, :, None]

    def blend(self, other: Field, weight: float) -> Field:
        """The field ``(1 − weight)·self + weight·other`` (adjoint and value), exactly, in
        ``other``'s standardisation: polynomials of total degree d stay polynomials of degree d
        under the affine change of variables between two standardisations."""
        coef = np.empty_like(other.coef)
        for j in range(other.steps):
            moved = self.basis.affine(
                self.coef[j],
                other.scale[j] / self.scale[j],
                (other.center[j] - self.center[j]) / self.scale[j],
            )
            coef[j] = (1.0 - weight) * moved + weight * other.coef[j]
        return Field(
            other.basis, other.dt, other.center, other.scale, coef, other.terminal, other.variance
        )

    def at_time(self, t: float, x: np.ndarray) -> np.ndarray:
        """u(t, x), linear in t between grid times."""
        s = min(max(t / self.dt, 0.0), float(self.steps))
        j = int(round(s))
        if abs(s - j) <= 1e-9 * max(1.0, s):
            return self(j, x)
        j = int(math.floor(s))
        w = s - j
        return (1.0 - w) * self(j, x) + w * self(j + 1, x)


def _fit(b: np.ndarray, y: np.ndarray, scored: int) -> tuple[np.ndarray, float]:
    """Least squares ``b·C ≈ y`` by Cholesky on the normal equations (a relative ridge of 1e-12
    keeps a rank-deficient design solvable); returns C and the relative RMS residual of the
    first ``scored`` columns."""
    gram = b.T @ b
    gram[np.diag_indices_from(gram)] += 1e-12 * max(np.trace(gram) / gram.shape[0], 1e-300)
    coef = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram), b.T @ y)
    resid = (b @ coef[:, :scored] - y[:, :scored]).ravel()
    scale = max(float(np.sqrt(np.mean(y[:, :scored] ** 2))), 1e-300)
    return coef, float(np.sqrt(np.mean(resid * resid))) / scale


def _standardise(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    center = points.mean(axis=0)
    scale = points.std(axis=0)
    return center, np.where(scale > 1e-12 * (1.0 + np.abs(center)), scale, 1.0)


def _implicit_step(
    model: StochasticLogit,
    t: float,
    dt: float,
    x: np.ndarray,
    nxt: Field,
    j: int,
    y0: np.ndarray,
    tol: float = 1e-9,
    max_iterations: int = 40,
) -> tuple[np.ndarray, int]:
    """Solve (*) for y = u_j(x) at the points x (M, D): ``y = E[u_{j+1}](mean_step(x, f(y)))
    − 2φq·Δt`` by Newton path by path (Jacobian ``I − Δt·(∂E[u]/∂q)(∂f/∂y)``, ∂f/∂y exact for
    logit shares), iterating only the points not yet converged; a point whose full step
    does not lower its residual (Newton cycling across a kink of f) has its step halved. At most
    1% of the points may fail to converge: they take the explicit step (drift at ``y0``) and are
    counted; more raise :class:`LogitSolveError`."""
    pb, n = model.problem, model.problem.n
    flows = model.flows(t, x)
    penalty = 2.0 * np.asarray(pb.phi(t), dtype=float) * x[:, :n] * dt
    eye = np.eye(n)

    def residual(idx: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d, f_y = drift_derivative(pb, t, y, flows=(flows[0][idx], flows[1][idx]))
        mean = model.mean_step(x[idx], d.dq, dt)
        r = y - nxt.expected(j + 1, mean)[:, :n] + penalty[idx]
        g_q = nxt.expected_gradient(j + 1, mean)[:, :n, :]  # [m, l, i] = ∂E[u_i]/∂q_l
        return r, eye - dt * np.einsum("mli,mlk->mik", g_q, f_y)

    y = y0.copy()
    active = np.arange(x.shape[0])  # points not yet converged
    r, jac = residual(active, y)
    lam = np.ones(active.size)  # damping: halved where a full step does not lower |r| (kinks)
    for _ in range(max_iterations):
        size = np.abs(r).max(axis=1)
        done = size <= tol * (1.0 + np.abs(y[active]).max(axis=1))
        active, r, jac, lam, size = active[~done], r[~done], jac[~done], lam[~done], size[~done]
        if active.size == 0:
            return y, 0
        step = np.linalg.solve(jac, r[..., None])[..., 0]
        trial = y[active] - lam[:, None] * step
        if not np.all(np.isfinite(trial)):
            break
        r_t, jac_t = residual(active, trial)
        ok = (np.abs(r_t).max(axis=1) < size) | (lam < 1e-3)
        y[active[ok]] = trial[ok]
        r[ok], jac[ok] = r_t[ok], jac_t[ok]
        lam = np.where(ok, np.minimum(1.0, 2.0 * lam), 0.5 * lam)
    if active.size > 0.01 * x.shape[0] or not np.all(np.isfinite(y)):
        raise LogitSolveError(
            f"the implicit regression step at t = {t:.6g} did not converge at {active.size} of "
            f"{x.shape[0]} regression points (Δt·|∂u/∂Q·∂f/∂Y| too large or a poor fit); "
            "increase steps or paths"
        )
    # the few stragglers (tail points where the fitted u_{j+1} leaves (*) without a nearby
    # root): the explicit step, drift at the first guess
    d = drift(pb, t, y0[active], flows=(flows[0][active], flows[1][active]))
    mean = model.mean_step(x[active], d.dq, dt)
    y[active] = nxt.expected(j + 1, mean)[:, :n] - penalty[active]
    return y, active.size


def backward(
    model: StochasticLogit, basis: Basis, points: np.ndarray, dt: float, start: FieldFn
) -> tuple[Field, float, float]:
    """Fit (u_j, V_j) for j = N−1, …, 0 on the regression points (N, M, D): u_j by (*), V_j by
    ``V_j(x) = E[V_{j+1}(X_{j+1})] + payoff rate·Δt − E∫φQ²`` at the controls u_j(x) (the value
    of the field, for the control variate). ``start`` gives the first guess of the implicit
    solves. Returns the field, the largest relative RMS regression residual of u and the
    fraction of regression points that took the explicit step."""
    pb = model.problem
    nsteps, _, dim = points.shape
    n = pb.n
    var = model.noise_variance(dt)
    center = np.empty((nsteps, dim))
    scale = np.empty((nsteps, dim))
    coef = np.empty((nsteps, basis.size, 2 * n))
    fld = Field(basis, dt, center, scale, coef, np.asarray(pb.terminal, dtype=float), var)
    worst, stragglers = 0.0, 0
    for j in range(nsteps - 1, -1, -1):
        t, x = j * dt, points[j]
        y, failed = _implicit_step(model, t, dt, x, fld, j, start(j, x))
        stragglers += failed
        d = drift(pb, t, y, flows=model.flows(t, x))
        mean = model.mean_step(x, d.dq, dt)
        q0, q1 = x[:, :n], mean[:, :n]
        running = (
            np.asarray(pb.phi(t), dtype=float) * dt / 3.0 * (q0 * (q0 + q1) + q1 * q1 + var[:n])
        )
        v = fld.expected(j + 1, mean)[:, n:] + d.payoff * dt - running
        center[j], scale[j] = _standardise(x)
        coef[j], resid = _fit(basis((x - center[j]) / scale[j]), np.hstack([y, v]), n)
        worst = max(worst, resid)
    return fld, worst, stragglers / points[:, :, 0].size


# --------------------------------------------------------------------------- forward Monte Carlo
class Forward(NamedTuple):
    """A forward simulation: states (N+1, M, D); payoffs J (M, n) and, with a value field, the
    payoffs minus the martingale ``Σ_j V_{j+1}(X_{j+1}) − E[V_{j+1}(X_{j+1}) | X_j]`` (same
    mean, smaller variance: the control variate); mean path; where the truncations bind."""

    states: np.ndarray
    payoffs: np.ndarray | None
    controlled: np.ndarray | None
    mean_adjoint: np.ndarray  # (N+1, n)
    mean_rate: np.ndarray  # (N+1, NT)
    mean_ask: np.ndarray  # (N+1, NM)
    mean_bid: np.ndarray  # (N+1, NM)
    binding: dict[tuple[int, str], float]  # (agent index, kind): fraction of path-steps


def _binding(pb: LogitProblem, d: Drift) -> dict[tuple[int, str], np.ndarray]:
    """Paths (M,) bool per (agent index, kind) where a truncation binds at the controls ``d``:
    a trader's rate at a finite bound of ``[ε, ξ̃]`` (``rate_lower_bound`` / ``_upper_``, as in
    the deterministic game's switching labels), a maker's quote at ±ξ."""
    out: dict[tuple[int, str], np.ndarray] = {}
    lo, hi = pb.rate_bounds()
    for i in range(pb.n_traders):
        for kind, bound in (("rate_lower_bound", lo[i]), ("rate_upper_bound", hi[i])):
            if math.isfinite(bound):
                out[i, kind] = d.rate[:, i] == bound
    if math.isfinite(pb.max_spread):
        for j in range(pb.n_makers):
            for side, quote in (("ask", d.ask[:, j]), ("bid", d.bid[:, j])):
                out[pb.n_traders + j, f"{side}_at_+max_spread"] = quote == pb.max_spread
                out[pb.n_traders + j, f"{side}_at_-max_spread"] = quote == -pb.max_spread
    return out


def simulate(
    model: StochasticLogit,
    feedback: FieldFn,
    x0: np.ndarray,
    normals: np.ndarray,
    dt: float,
    values: Field | None = None,
) -> Forward:
    """(Q, L) under ``feedback`` with the engine's discretisation: controls at t_j from the
    state at t_j, ``Q += f·Δt + ε·ΔW``, L by its exact OU step. With ``values`` (a fitted
    :class:`Field`), the payoffs by the engine's accounting (payoff rates × Δt, exact ∫φQ² of
    each step's linear path, −A·Q_T²) and their control-variate version."""
    pb = model.problem
    nsteps, m, dim = normals.shape
    n = pb.n
    eps = model.inventory_noise * math.sqrt(dt)
    _, sd = model.transition(dt)
    states = np.empty((nsteps + 1, m, dim))
    states[0] = x0
    cash = np.zeros((m, n))
    running = np.zeros((m, n))
    martingale = np.zeros((m, n))
    mean_y = np.empty((nsteps + 1, n))
    mean_r = np.empty((nsteps + 1, pb.n_traders))
    mean_a = np.empty((nsteps + 1, pb.n_makers))
    mean_b = np.empty((nsteps + 1, pb.n_makers))
    binds: dict[tuple[int, str], int] = {}
    for j in range(nsteps + 1):
        t = min(j * dt, pb.horizon)
        x = states[j]
        y = feedback(j, x)
        d = drift(pb, t, y, flows=model.flows(t, x))
        mean_y[j], mean_r[j] = y.mean(0), d.rate.mean(0)
        mean_a[j], mean_b[j] = d.ask.mean(0), d.bid.mean(0)
        if j == nsteps:
            break
        for key, hit in _binding(pb, d).items():
            binds[key] = binds.get(key, 0) + int(np.count_nonzero(hit))
        mean = model.mean_step(x, d.dq, dt)
        nxt = mean.copy()
        nxt[:, :n] += eps * normals[j, :, :n]
        if model.factor is not None:
            nxt[:, n] += sd * normals[j, :, n]
        states[j + 1] = nxt
        if values is not None:
            q0, q1 = x[:, :n], nxt[:, :n]
            cash += d.payoff * dt
            running += np.asarray(pb.phi(t), dtype=float) * dt / 3.0 * (q0 * (q0 + q1) + q1 * q1)
            martingale += values.value(j + 1, nxt) - values.expected(j + 1, mean)[:, n:]
    pay = ctl = None
    if values is not None:
        qt = states[-1, :, :n]
        pay = cash - running - np.asarray(pb.terminal) * qt * qt
        ctl = pay - martingale
    binding = {key: count / (nsteps * m) for key, count in binds.items()}
    return Forward(states, pay, ctl, mean_y, mean_r, mean_a, mean_b, binding)


# --------------------------------------------------------------------------- the solver
class RegressionResult(NamedTuple):
    field: Field  # noqa: F811 (the NamedTuple's attribute)
    values: np.ndarray  # (n,) Monte Carlo mean of J
    std_errors: np.ndarray  # (n,) with the control variate
    plain_std_errors: np.ndarray  # (n,) without it
    regression_values: np.ndarray  # (n,) V_0(x₀) of the fitted value field
    forward: Forward  # the value simulation (mean path)
    picard_iterations: int
    picard_residual: float
    picard_history: list[float]
    relaxation: float  # the Picard iteration's final relaxation factor ω
    regression_residual: float
    explicit_fraction: float  # regression points of the last sweep that took the explicit step


MIN_RELAXATION = 1.0 / 16.0
"""The smallest relaxation factor ω of the Picard iteration."""


def _aitken(
    relaxation: float, residual: np.ndarray, previous: tuple[FieldFn, Field], states: np.ndarray
) -> float:
    """Aitken's dynamic relaxation factor ``ω_k = −ω_{k−1}·⟨r_{k−1}, r_k − r_{k−1}⟩ /
    |r_k − r_{k−1}|²`` from the fixed-point residuals r = T(u) − u of the last two iterates,
    both evaluated on the current paths ``states`` (N, M, D); kept in [MIN_RELAXATION, 1]."""
    field_before, fitted_before = previous
    before = np.stack(
        [fitted_before(j, x) - field_before(j, x) for j, x in enumerate(states)]
    ).ravel()
    diff = residual.ravel() - before
    norm = float(diff @ diff)
    if norm == 0.0:
        return relaxation
    return min(max(-relaxation * float(before @ diff) / norm, MIN_RELAXATION), 1.0)


def solve_regression(
    model: StochasticLogit,
    q0: np.ndarray,
    warm: FieldFn,
    steps: int,
    paths: int,
    degree: int,
    dispersion: float,
    tolerance: float,
    max_iterations: int,
    seed: int,
) -> RegressionResult:
    """Relaxed Picard iteration of simulate → backward from the field ``warm``, then the value
    Monte Carlo (see the module docstring). Raises :class:`LogitSolveError` if the fixed-point
    residual does not reach ``tolerance`` within ``max_iterations``."""
    pb = model.problem
    dt = pb.horizon / steps
    dim = model.dim
    x0 = model.initial_state(q0)
    train_rng, jitter_rng, value_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    normals = train_rng.standard_normal((steps, paths, dim))
    jitter = dispersion * jitter_rng.standard_normal((steps, paths, dim))
    basis = Basis(dim, degree)
    current: FieldFn = warm
    history: list[float] = []
    relaxation = 1.0
    previous: tuple[FieldFn, Field] | None = None  # (u^{k−1}, T(u^{k−1}))
    fld, resid, stragglers = None, 0.0, 0.0
    for _ in range(max_iterations):
        fwd = simulate(model, current, x0, normals, dt)
        # step 0 starts at one point: its regression points are step 1's states
        pts = fwd.states[:-1].copy()
        pts[0] = fwd.states[1]
        pts += jitter
        fld, resid, stragglers = backward(model, basis, pts, dt, current)
        states = fwd.states[:-1]
        new = np.stack([fld(j, x) for j, x in enumerate(states)])
        residual = new - np.stack([current(j, x) for j, x in enumerate(states)])
        history.append(float(np.max(np.abs(residual))) / (1.0 + float(np.max(np.abs(new)))))
        if history[-1] <= tolerance:
            break
        if previous is not None:
            relaxation = _aitken(relaxation, residual, previous, states)
        previous = current, fld
        relaxed = relaxation < 1.0 and isinstance(current, Field)
        current = current.blend(fld, relaxation) if relaxed else fld
    else:
        raise LogitSolveError(
            f"max_iterations = {max_iterations}: the Picard iteration did not reach tolerance "
            f"= {tolerance:g} (fixed-point residuals {[f'{h:.2e}' for h in history[-4:]]}, "
            f"relaxation {relaxation:g}); raise max_iterations or tolerance, or refine steps "
            "or paths"
        )
    value_normals = value_rng.standard_normal((steps, paths, dim))
    fwd = simulate(model, fld, x0, value_normals, dt, values=fld)
    values = fwd.controlled.mean(axis=0)
    se = fwd.controlled.std(axis=0, ddof=1) / math.sqrt(paths)
    plain_se = fwd.payoffs.std(axis=0, ddof=1) / math.sqrt(paths)
    if not (np.all(np.isfinite(values)) and np.all(np.isfinite(fwd.states))):
        raise LogitSolveError("the regression field gives non-finite paths or values")
    return RegressionResult(
        fld,
        values,
        se,
        plain_se,
        fld.value(0, x0[None, :])[0],
        fwd,
        len(history),
        history[-1],
        history,
        relaxation,
        resid,
        stragglers,
    )


def describe(
    result: RegressionResult,
    steps: int,
    paths: int,
    degree: int,
    dispersion: float,
    dim: int,
    names: Sequence[str],
) -> dict[str, Any]:
    """The ``diagnostics`` of a regression solve."""
    se = float(np.max(result.std_errors))
    return {
        "method": "regression Monte Carlo (Picard on the FBSDE, implicit regression-later "
        "backward step)",
        "basis": f"polynomials of total degree {degree} in {dim} standardised state variables "
        f"({result.field.basis.size} terms)",
        "steps": steps,
        "paths": paths,
        "dispersion": dispersion,
        "picard_iterations": result.picard_iterations,
        "picard_residual": result.picard_residual,
        "picard_history": list(result.picard_history),
        "picard_relaxation": result.relaxation,
        "regression_residual": result.regression_residual,
        "explicit_step_fraction": result.explicit_fraction,
        "value_std_error": se,
        "value_std_error_without_control_variate": float(np.max(result.plain_std_errors)),
        "regression_value": [float(v) for v in result.regression_values],
        "estimated_error": result.picard_residual
        + result.regression_residual
        + se / max(1.0, float(np.max(np.abs(result.values)))),
        # where the truncations bind under the converged feedback (the value simulation)
        "truncation_binds": any(f > 0 for f in result.forward.binding.values()),
        "binding_fractions": [
            {"agent": names[i], "kind": kind, "fraction": f}
            for (i, kind), f in result.forward.binding.items()
            if f > 0
        ],
    }
