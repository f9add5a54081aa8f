"""Two-point BVP of the best-quote game with deterministic coefficients (Guo & Jin (13)–(14)).

With deterministic noise rates, β and penalties the martingales of (13)–(14) vanish and every
player's FBSDE is the BVP ::

    Q' = s·f(t, Y),   Y' = s·2φ(t)·Q,   Q(t₀) = q,   Y(T) = −2A·Q(T)

(``s = 1``; ``s ∈ [0, 1]`` is the continuation parameter: at ``s = 0`` the solution is
``Y ≡ −2Aq``). ``f`` is :func:`~policies.equilibrium.market_making_hamiltonian.forward_drift`.

Solvers, all batched over ``P`` independent problems (paths for the exact feedback):

* :func:`solve_algebraic` — φ ≡ 0: Y is constant, so the BVP is the n-dimensional algebraic system
  ``y + 2A(q + s∫f(t, y)dt) = 0`` (Simpson quadrature = what RK4 does for a time-only drift);
* :func:`solve_shooting` — Newton on ``Y(t₀)`` for the residual ``Y(T) + 2AQ(T)``, classical RK4
  on a fixed grid, finite-difference Jacobian batched with the trajectory, multi-step line
  search;
* :func:`solve_collocation` — ``scipy.integrate.solve_bvp`` (independent method / baseline);
* :func:`continuation` — homotopy in ``s`` from the trivial problem when a direct solve fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy.integrate import solve_bvp

from policies.equilibrium.market_making_hamiltonian import Market, forward_drift


class MarketMakingSolveError(RuntimeError):
    """The equilibrium BVP could not be solved (Newton, continuation and collocation failed).

    ``iterate``: the failed method's last approximation ``t -> (Q, Y)`` when it has one
    (collocation), a starting point for another method; None otherwise.
    """

    def __init__(self, message: str, iterate: Callable[[Any], np.ndarray] | None = None):
        super().__init__(message)
        self.iterate = iterate


Coef = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Problem:
    """The deterministic data of (13)–(14): market, coefficients as vectorised callables of t."""

    market: Market
    horizon: float
    noise_buy: Coef  # a(t)
    noise_sell: Coef  # b(t)
    beta: Coef  # β(t)
    phi: Coef  # t (K,) -> (K, n) running penalties φⁱ(t)
    terminal: np.ndarray  # (n,) Aⁱ
    phi_zero: bool  # φ ≡ 0: the fast algebraic path applies
    smooth: bool = True  # no piecewise-constant profile (collocation needs no jump handling)

    @property
    def n(self) -> int:
        return self.market.n_traders + self.market.n_makers


@dataclass(frozen=True)
class Grid:
    """RK4 grid on [t₀, T] with coefficients at step starts, midpoints and (left-limit) ends.

    Piecewise-constant coefficients (noise profiles) are sampled as the engine does: the value at
    the start of a piece holds on the whole piece, so ends are evaluated at the left limit
    ``t_{k+1}⁻``, read 1e-7·h below the node — far outside the 1e-12 (of a piece) tolerance with
    which :func:`simulator.profiles.profile_index` snaps rounded grid times onto breakpoints, and
    a negligible shift (O(1e-7·h²) per step) for any smooth coefficient of the same problem.
    Smooth problems are read at ``t_{k+1}`` exactly.
    """

    t: np.ndarray  # (K+1,)
    coef: dict[str, np.ndarray]  # name -> (3, K) (+ trailing n for φ): start, mid, end

    @classmethod
    def build(cls, problem: Problem, t0: float, steps: int) -> Grid:
        t = np.linspace(t0, problem.horizon, steps + 1)
        h = t[1] - t[0]
        eps = 0.0 if problem.smooth else 1e-7 * h
        times = np.stack([t[:-1], t[:-1] + 0.5 * h, t[1:] - eps])
        coef = {
            "a": problem.noise_buy(times),
            "b": problem.noise_sell(times),
            "beta": problem.beta(times),
            "phi": problem.phi(times.ravel()).reshape(3, steps, problem.n),
        }
        return cls(t, coef)

    @property
    def steps(self) -> int:
        return self.t.size - 1

    def at_nodes(self, name: str) -> np.ndarray:
        """Coefficient at t₀..t_K (start values, and the left limit at T)."""
        c = self.coef[name]
        return np.concatenate([c[0], c[2][-1:]], axis=0)


class Trajectory(NamedTuple):
    q: np.ndarray  # (..., K+1, n)
    y: np.ndarray  # (..., K+1, n)
    cash: np.ndarray | None  # (..., n) ∫ payoff rate
    penalty: np.ndarray | None  # (..., n) ∫ φQ²


KINK_TOL = 1e-9  # relative drift difference that tells a different smooth piece (module doc)
_BISECTIONS = 14  # switching time to 2⁻¹⁴·h: the error of stepping past it is O((2⁻¹⁴h)²)
_MAX_KINKS = 4  # switching times located per step and trajectory


def integrate(
    problem: Problem,
    grid: Grid,
    q0: np.ndarray,
    y0: np.ndarray,
    s: float = 1.0,
    payoff: bool = False,
    frozen: int | None = None,
) -> Trajectory:
    """Classical RK4 for ``(Q, Y)`` (and cash, ∫φQ² when ``payoff``), batched over leading axes,
    with the drift's kinks located and stepped onto.

    The drift ``f(t, Y)`` is smooth on pieces separated by switching surfaces (a truncation
    ε, ξ̃, ξ starts or stops binding, two makers swap the best quote). Every step is taken on the
    smooth piece of its starting point (all stages follow that piece's branch, see
    ``hamiltonian.clip_piece``); if the end lies on another piece (the frozen and the true drift
    differ by more than :data:`KINK_TOL`, relatively), the switching time is located by bisection
    on sub-steps from the step's start and the step is split there, each part integrated on its
    own piece. RK4 then keeps its fourth order across kinks (without splitting: second order).

    ``frozen``: axis ``-2`` of ``y0`` holds a finite-difference batch (base first): the batch
    follows the base trajectory's pieces and switching times.
    """
    shape = np.broadcast_shapes(q0.shape, y0.shape)
    n = shape[-1]
    lead = shape[:-1] if frozen is None else shape[:-2]
    width = 1 if frozen is None else shape[-2]
    units = int(np.prod(lead, dtype=int))
    q = np.broadcast_to(q0, shape).reshape(units, width, n).astype(float)
    y = np.broadcast_to(y0, shape).reshape(units, width, n).astype(float)
    stepper = _PieceStepper(problem, s, payoff)
    qs, ys = [q], [y]
    cash = np.zeros_like(q) if payoff else None
    pen = np.zeros_like(q) if payoff else None
    c = grid.coef
    for k in range(grid.steps):
        t0, t1 = float(grid.t[k]), float(grid.t[k + 1])
        ref = y[:, :1]
        stages = [(c["a"][j, k], c["b"][j, k], c["beta"][j, k], c["phi"][j, k]) for j in range(3)]
        new = stepper.step(stages, t1 - t0, q, y, ref, cash, pen)
        off = stepper.off_piece(stages[2], new[1][:, :1], ref)
        if off.any():
            idx = np.flatnonzero(off)
            sub = stepper.split(
                t0,
                t1,
                grid.t[k + 1] - grid.t[k],
                *(None if a is None else a[idx] for a in (q, y, cash, pen)),
            )
            new = tuple(
                None if a is None else _put(a, idx, b) for a, b in zip(new, sub, strict=True)
            )
        q, y, cash, pen = new
        qs.append(q)
        ys.append(y)
    out_shape = shape[:-1]

    def back(arr: np.ndarray) -> np.ndarray:
        return arr.reshape(out_shape + arr.shape[-2:]) if arr.ndim == 4 else arr.reshape(shape)

    q_path = back(np.stack(qs, axis=-2))
    y_path = back(np.stack(ys, axis=-2))
    return Trajectory(
        q_path, y_path, None if cash is None else back(cash), None if pen is None else back(pen)
    )


def _put(a: np.ndarray, idx: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.copy()
    a[idx] = b
    return a


class _PieceStepper:
    """RK4 (sub-)steps on one smooth piece of the drift, and the switching-time search."""

    def __init__(self, problem: Problem, s: float, payoff: bool) -> None:
        self.pb, self.s, self.payoff = problem, s, payoff

    def coefficients(self, t: np.ndarray, t_end: float, h: float):
        """a, b, β, φ at times ``t`` (U,) inside a step ending at ``t_end`` (left limits for
        piecewise-constant profiles, as :class:`Grid` reads them)."""
        eps = 0.0 if self.pb.smooth else 1e-7 * h
        tt = np.minimum(t, t_end - eps)
        return self.pb.noise_buy(tt), self.pb.noise_sell(tt), self.pb.beta(tt), self.pb.phi(tt)

    def rhs(self, coef, q, y, ref):
        """Drift on ``ref``'s piece: (dQ, dY, payoff rate, φQ²) for y (U, B, n), ref (U, 1, n)."""
        a, b, beta, phi = coef
        col = (slice(None), None) if np.ndim(a) else ()
        yy = np.concatenate([ref, y], axis=1)
        d = forward_drift(
            self.pb.market,
            yy,
            np.asarray(a)[col],
            np.asarray(b)[col],
            np.asarray(beta)[col],
            self.payoff,
            frozen=-2,
        )
        phi = np.asarray(phi)
        phi = phi[:, None, :] if phi.ndim == 2 else phi
        s = self.s
        pay = (s * d.payoff[:, 1:], s * phi * q * q) if self.payoff else None
        return s * d.dq[:, 1:], s * 2.0 * phi * q, pay

    def step(self, stages, h, q, y, ref, cash, pen):
        """One RK4 step of length ``h`` ((U,) or scalar) with stage coefficients ``stages``
        (start, mid, end) on ``ref``'s piece."""
        hh = np.asarray(h, dtype=float)
        hh = hh[:, None, None] if hh.ndim else hh
        k1q, k1y, p1 = self.rhs(stages[0], q, y, ref)
        k2q, k2y, p2 = self.rhs(stages[1], q + 0.5 * hh * k1q, y + 0.5 * hh * k1y, ref)
        k3q, k3y, p3 = self.rhs(stages[1], q + 0.5 * hh * k2q, y + 0.5 * hh * k2y, ref)
        k4q, k4y, p4 = self.rhs(stages[2], q + hh * k3q, y + hh * k3y, ref)
        if self.payoff and cash is not None:
            cash = cash + hh / 6 * (p1[0] + 2 * p2[0] + 2 * p3[0] + p4[0])
            pen = pen + hh / 6 * (p1[1] + 2 * p2[1] + 2 * p3[1] + p4[1])
        q = q + hh / 6 * (k1q + 2 * k2q + 2 * k3q + k4q)
        y = y + hh / 6 * (k1y + 2 * k2y + 2 * k3y + k4y)
        return q, y, cash, pen

    def off_piece(self, coef, y, ref) -> np.ndarray:
        """(U,) whether the base state ``y`` (U, 1, n) lies off ``ref``'s smooth piece."""
        a, b, beta, _ = coef
        col = (slice(None), None) if np.ndim(a) else ()
        yy = np.concatenate([ref, y], axis=1)
        args = (np.asarray(a)[col], np.asarray(b)[col], np.asarray(beta)[col])
        on_ref = forward_drift(self.pb.market, yy, *args, frozen=-2).dq[:, 1]
        own = forward_drift(self.pb.market, y, *args).dq[:, 0]
        gap = np.max(np.abs(on_ref - own), axis=-1)
        return ~(gap <= KINK_TOL * (1.0 + np.max(np.abs(own), axis=-1)))

    def _switching_time(self, t0, span, t_end, h_step, q, y, trial, ref) -> np.ndarray:
        """First time (after ``t0``, within ``span``) at which the base trajectory of the trial
        sub-step leaves ``ref``'s piece: bisection on the cubic Hermite interpolant of Y
        (fourth-order accurate, like the step), returning the bracket's upper end."""
        y0, y1 = y[:, :1], trial[1][:, :1]
        phi0 = np.asarray(self.coefficients(t0, t_end, h_step)[3])
        phi1 = np.asarray(self.coefficients(t0 + span, t_end, h_step)[3])
        d0 = 2.0 * self.s * phi0[:, None, :] * q[:, :1]
        d1 = 2.0 * self.s * phi1[:, None, :] * trial[0][:, :1]
        h = span[:, None, None]
        lo, hi = np.zeros_like(span), span.copy()
        for _ in range(_BISECTIONS):
            mid = 0.5 * (lo + hi)
            x = (mid / span)[:, None, None]
            h00, h10 = (1 + 2 * x) * (1 - x) ** 2, x * (1 - x) ** 2
            h01, h11 = x * x * (3 - 2 * x), x * x * (x - 1)
            ym = h00 * y0 + h10 * h * d0 + h01 * y1 + h11 * h * d1
            coef = self.coefficients(t0 + mid, t_end, h_step)
            off = self.off_piece(coef, ym, ref)
            lo, hi = np.where(off, lo, mid), np.where(off, mid, hi)
        return hi

    def sub_step(self, t0, h, t_end, h_step, q, y, ref, cash, pen):
        """RK4 from times ``t0`` (U,) over ``h`` (U,) on ``ref``'s piece."""
        stages = [self.coefficients(t0 + f * h, t_end, h_step) for f in (0.0, 0.5, 1.0)]
        return self.step(stages, h, q, y, ref, cash, pen)

    def split(self, t0, t_end, h_step, q, y, cash, pen):
        """Integrate [t0, t_end] for units whose full step crossed a switching surface: locate
        each switching time (bisection along the cubic Hermite interpolant of Y over a trial
        sub-step on the old piece, Y' = 2φQ), step onto it on the old piece, continue on the new
        one; at most :data:`_MAX_KINKS` per step."""
        units = q.shape[0]
        tc = np.full(units, t0)
        done = np.zeros(units, dtype=bool)
        out = [q, y, cash, pen]
        for _ in range(_MAX_KINKS):
            act = np.flatnonzero(~done)
            qa, ya, ca, pa = (None if a is None else a[act] for a in out)
            ref, t_a = ya[:, :1], tc[act]
            span = t_end - t_a
            trial = self.sub_step(t_a, span, t_end, h_step, qa, ya, ref, None, None)
            tau = self._switching_time(t_a, span, t_end, h_step, qa, ya, trial, ref)
            qa, ya, ca, pa = self.sub_step(t_a, tau, t_end, h_step, qa, ya, ref, ca, pa)
            t_a = t_a + tau
            ref = ya[:, :1]
            fin = self.sub_step(t_a, t_end - t_a, t_end, h_step, qa, ya, ref, ca, pa)
            end = self.coefficients(np.full(act.size, t_end), t_end, h_step)
            again = self.off_piece(end, fin[1][:, :1], ref)
            keep = ~again
            for i, (a_new, a_fin) in enumerate(zip((qa, ya, ca, pa), fin, strict=True)):
                if out[i] is None:
                    continue
                out[i] = out[i].copy()
                out[i][act] = np.where(keep[:, None, None], a_fin, a_new)
            tc[act] = np.where(keep, t_end, t_a)
            done[act[keep]] = True
            if done.all():
                break
        if not done.all():  # more kinks than _MAX_KINKS in one step: finish on the last piece
            act = np.flatnonzero(~done)
            qa, ya, ca, pa = (None if a is None else a[act] for a in out)
            fin = self.sub_step(tc[act], t_end - tc[act], t_end, h_step, qa, ya, ya[:, :1], ca, pa)
            for i, a_fin in enumerate(fin):
                if out[i] is not None:
                    out[i] = out[i].copy()
                    out[i][act] = a_fin
        return tuple(out)


def switching_times(
    problem: Problem, t: np.ndarray, adjoint: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Times in (t_k, t_{k+1}) at which a smooth adjoint path ``Y(t)`` (``adjoint(times)`` →
    (len, n)) crosses a switching surface of the drift: steps whose end lies off the piece of
    their start, then bisection to 2⁻⁴⁰ of the step (one switching time per step)."""
    stepper = _PieceStepper(problem, 1.0, False)
    y = adjoint(t)
    coef = stepper.coefficients(t[1:], np.inf, 1.0)
    off = stepper.off_piece(coef, y[1:, None, :], y[:-1, None, :])
    k = np.flatnonzero(off)
    if not k.size:
        return np.empty(0)
    ref = y[k, None, :]
    lo, hi = t[k].copy(), t[k + 1].copy()
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        out = stepper.off_piece(stepper.coefficients(mid, np.inf, 1.0), adjoint(mid)[:, None], ref)
        lo, hi = np.where(out, lo, mid), np.where(out, mid, hi)
    return 0.5 * (lo + hi)


class NewtonResult(NamedTuple):
    y: np.ndarray  # (P, n) unknowns
    residual: float
    iterations: int
    converged: bool


FD_STEP = 1e-8  # relative forward-difference step (kinks are handled by freezing the branch)
_ALPHAS = np.array([1.0, 0.5, 0.25, 0.1, 0.03, 0.01])


def newton(
    residual: Callable[[np.ndarray], np.ndarray],
    y0: np.ndarray,
    tol: float,
    max_iter: int = 30,
) -> NewtonResult:
    """Batched damped Newton for ``residual(y) = 0``, ``y`` of shape ``(P, n)``.

    ``residual(y, fd)`` maps ``(P, B, n) -> (P, B, n)``; ``fd=True`` marks a finite-difference
    batch (base first) to be kept on the base's smooth piece. The Jacobian is a forward
    difference computed in the same call as the residual (batch ``B = n + 1``), so a full
    Newton step that reduces
    every residual costs one call; otherwise the step length is the best of ``_ALPHAS`` (all
    tried in one batched call) and the Jacobian is recomputed at the new point.
    """
    y = np.array(y0, dtype=float)
    p, n = y.shape
    shifts = np.concatenate([np.zeros((1, n)), np.eye(n)], 0)[None]

    def with_jacobian(y):
        hstep = FD_STEP * (1.0 + np.abs(y))
        rb = residual(y[:, None, :] + shifts * hstep[:, None, :], True)
        r = rb[:, 0]
        jac = np.swapaxes((rb[:, 1:] - r[:, None]) / hstep[:, :, None], 1, 2)
        return r, jac

    def size(r):
        m = np.max(np.abs(r), axis=-1)
        return np.where(np.isfinite(m), m, np.inf)

    r, jac = with_jacobian(y)
    for it in range(max_iter + 1):
        norms = size(r)
        res = float(norms.max()) if norms.size else 0.0
        if not np.isfinite(res):
            return NewtonResult(y, res, it, False)
        if res <= tol:
            return NewtonResult(y, res, it, True)
        if it == max_iter:
            break
        try:
            dy = np.linalg.solve(jac, -r[..., None])[..., 0]
        except np.linalg.LinAlgError:
            dy = -r  # singular Jacobian: fall back to a residual step
        r_new, jac_new = with_jacobian(y + dy)
        if np.all(size(r_new) < norms):
            y, r, jac = y + dy, r_new, jac_new
            continue
        trial = y[:, None, :] + _ALPHAS[None, :, None] * dy[:, None, :]
        tn = size(residual(trial, False))
        best = np.argmin(tn, axis=1)
        improve = tn[np.arange(p), best] < norms
        if not improve.any():
            return NewtonResult(y, res, it, False)
        y = np.where(improve[:, None], trial[np.arange(p), best], y)
        r, jac = with_jacobian(y)
    return NewtonResult(y, res, max_iter, False)


def _tolerance(problem: Problem, q0: np.ndarray) -> float:
    return 1e-10 * (1.0 + float(np.max(np.abs(2 * problem.terminal * q0))))


def solve_algebraic(
    problem: Problem,
    grid: Grid,
    q0: np.ndarray,
    guess: np.ndarray,
    s: float = 1.0,
    max_iter: int = 30,
) -> NewtonResult:
    """φ ≡ 0 fast path: ``y + 2A(q + s∫f(t,y)dt) = 0`` (Y constant), Simpson in time."""
    c = grid.coef
    h = np.diff(grid.t)
    w = np.stack([h / 6, 4 * h / 6, h / 6]).ravel()  # Simpson weights per (stage, step)
    a, b, beta = (c[k].ravel() for k in ("a", "b", "beta"))
    two_a = 2.0 * problem.terminal

    def residual(y: np.ndarray, fd: bool) -> np.ndarray:
        f = forward_drift(problem.market, y[..., None, :], a, b, beta, frozen=-3 if fd else None)
        f = f.dq
        return y + two_a * (q0[:, None, :] + s * np.einsum("k,pbkn->pbn", w, f))

    return newton(residual, guess, _tolerance(problem, q0), max_iter)


def solve_shooting(
    problem: Problem,
    grid: Grid,
    q0: np.ndarray,
    guess: np.ndarray,
    s: float = 1.0,
    max_iter: int = 30,
) -> NewtonResult:
    """Newton shooting on ``Y(t₀)``: residual ``Y(T) + 2A·Q(T)`` of the RK4 trajectory."""
    two_a = 2.0 * problem.terminal

    def residual(y: np.ndarray, fd: bool) -> np.ndarray:
        tr = integrate(problem, grid, q0[:, None, :], y, s, frozen=-2 if fd else None)
        return tr.y[..., -1, :] + two_a * tr.q[..., -1, :]

    return newton(residual, guess, _tolerance(problem, q0), max_iter)


def continuation(
    solver: Callable[..., NewtonResult],
    problem: Problem,
    grid: Grid,
    q0: np.ndarray,
    homotopy: str = "inventory",
    min_step: float = 1.0 / 128,
    max_iter: int = 15,
    max_steps: int = 60,
) -> tuple[NewtonResult, int]:
    """Homotopy ``s: 0 → 1`` from an easy problem; adaptive steps (×2 on success, ÷2 on failure).

    * ``"inventory"``: initial inventories and noise rates scaled by s (``q₀ → s·q₀``,
      ``a, b → s·a, s·b``); at s = 0 nothing trades but ε and the solution is Y ≈ 0. Adjoint
      differences grow gradually, so the exponential fill rates stay moderate along the path.
    * ``"drift"``: drift f and φ scaled by s (≈ horizon s·T); exact ``Y ≡ −2Aq₀`` at s = 0,
      which can put γ·|Y¹ᵐ − Y²ᵐ| far out when A·|q¹ᵐ − q²ᵐ| is large.

    Returns the result at s = 1 and the number of steps; raises :class:`MarketMakingSolveError`.
    """
    if homotopy == "drift":

        def at(s: float, y: np.ndarray) -> NewtonResult:
            return solver(problem, grid, q0, y, s, max_iter)

        y = -2.0 * problem.terminal * q0
    elif homotopy == "inventory":

        def at(s: float, y: np.ndarray) -> NewtonResult:
            coef = {**grid.coef, "a": s * grid.coef["a"], "b": s * grid.coef["b"]}
            return solver(problem, Grid(grid.t, coef), s * q0, y, 1.0, max_iter)

        start = at(0.0, np.zeros_like(q0))
        if not start.converged:
            raise MarketMakingSolveError("inventory homotopy: the s = 0 problem did not converge")
        y = start.y
    else:
        raise ValueError(f"homotopy = {homotopy!r}: allowed 'inventory', 'drift'")
    s, ds, steps = 0.0, 0.25, 0
    res = None
    while s < 1.0:
        target = min(1.0, s + ds)
        res = at(target, y)
        steps += 1
        if res.converged:
            s, y, ds = target, res.y, min(2 * ds, 1.0)
        else:
            ds /= 2
            if ds < min_step or steps >= max_steps:
                raise MarketMakingSolveError(
                    f"continuation ({homotopy} homotopy) stalled at s = {s:.4f} (Newton "
                    f"residual {res.residual:.3g}); the BVP (13)–(14) may have no solution for "
                    "these parameters (Thm 3.10 only guarantees small T)"
                )
    return res, steps


def solve_collocation(
    problem: Problem,
    q0: np.ndarray,
    guess_t: np.ndarray,
    guess_q: np.ndarray,
    guess_y: np.ndarray,
    tol: float = 1e-8,
    max_nodes: int = 5000,
):
    """``scipy.integrate.solve_bvp`` on ``z = (Q, Y)`` (one problem; q0 of shape (n,))."""
    n = problem.n
    m = problem.market
    two_a = 2.0 * problem.terminal

    def fun(t, z):
        y = z[n:].T
        d = forward_drift(m, y, problem.noise_buy(t), problem.noise_sell(t), problem.beta(t))
        return np.vstack([d.dq.T, 2.0 * problem.phi(t).T * z[:n]])

    def bc(za, zb):
        return np.concatenate([za[:n] - q0, zb[n:] + two_a * zb[:n]])

    z0 = np.vstack([guess_q.T, guess_y.T])
    sol = solve_bvp(fun, bc, guess_t, z0, tol=tol, max_nodes=max_nodes)
    if not sol.success:
        raise MarketMakingSolveError(f"solve_bvp failed: {sol.message}", iterate=sol.sol)
    return sol
