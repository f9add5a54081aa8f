"""Decoupling field of the best-quote game: variational Riccati (23) and Radon's formula (Thm 4.3).

Linearising (13)–(14) around the equilibrium path gives the variational system
``δQ' = G δY, δY' = 2φ δQ, δY(T) = −2A δQ(T)`` with ``G(t) = ∂f/∂Y(t, Ŷ(t))``; the ansatz
``δY = R δQ`` yields the Riccati equation (23)/(27) ::

    R' = diag(2φ) − R G R,   R(T) = −diag(2A),

so that ``Y ≈ Ŷ(t) + R(t)(Q − Q̂(t))``. The code works in the original coordinates (traders then
makers); the paper's transformed coordinates (22) are the linear change ``Q ↦ MQ`` under which
``R ↦ M R M⁻¹`` (M: :func:`market_making.acas_transform`). Radon's lemma: ``R = U V⁻¹`` with
``V' = G U``, ``U' = diag(2φ) V``, ``V(T) = I``, ``U(T) = −diag(2A)``; when φ ≡ 0 it is explicit,
``R(t) = −D[I + ∫_t^T G(s)ds·D]⁻¹`` (D = diag(2A); = ``−2A[I + 2A∫G]⁻¹`` of Thm 4.3).
"""

from __future__ import annotations

import numpy as np

from policies.equilibrium.market_making_bvp import Grid, Problem
from policies.equilibrium.market_making_hamiltonian import forward_drift


def drift_jacobian(
    problem: Problem, y: np.ndarray, a: np.ndarray, b: np.ndarray, beta: np.ndarray
) -> np.ndarray:
    """``G = ∂f/∂Y`` at points ``y`` (..., n) by central differences (one batched call).

    Where a truncation or the min of quotes switches, this is the two-sided average, i.e. an
    element of the generalised Jacobian used in the proof of Thm 4.2.
    """
    n = y.shape[-1]
    hstep = 1e-6 * (1.0 + np.abs(y))
    eye = np.eye(n)
    pert = np.concatenate([eye, -eye], axis=0)  # (2n, n)
    ys = y[..., None, :] + pert * hstep[..., None, :]
    ex = (..., None)
    f = forward_drift(problem.market, ys, a[ex], b[ex], beta[ex]).dq  # (..., 2n, n)
    # column j = ∂f/∂y_j
    return np.swapaxes((f[..., :n, :] - f[..., n:, :]) / (2 * hstep[..., :, None]), -1, -2)


def jacobians_on_grid(problem: Problem, grid: Grid, q: np.ndarray, y: np.ndarray) -> np.ndarray:
    """G at step starts, midpoints and ends, shape (3, K, n, n), along a path (K+1, n).

    Midpoint Y by cubic Hermite interpolation with the exact slope ``Y' = 2φQ`` (O(h⁴)).
    """
    c = grid.coef
    h = np.diff(grid.t)[:, None]
    dy0 = 2.0 * c["phi"][0] * q[:-1]
    dy1 = 2.0 * c["phi"][2] * q[1:]
    ymid = 0.5 * (y[:-1] + y[1:]) + h / 8.0 * (dy0 - dy1)
    ys = np.stack([y[:-1], ymid, y[1:]])
    return drift_jacobian(problem, ys, c["a"], c["b"], c["beta"])


def riccati(grid: Grid, g: np.ndarray, phi2: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Integrate (23) backward with RK4: ``R' = Φ − RGR``, ``R(T) = −D``. Returns (K+1, n, n).

    ``g``: (3, K, n, n) from :func:`jacobians_on_grid`; ``phi2``: (3, K, n) = 2φ; ``d``: (n,) = 2A.
    """
    k_steps = grid.steps
    h = np.diff(grid.t)
    r = -np.diag(d).astype(float)
    out = [r]

    def rhs(stage, k, r):
        return np.diag(phi2[stage, k]) - r @ g[stage, k] @ r

    for k in range(k_steps - 1, -1, -1):
        hk = -h[k]
        k1 = rhs(2, k, r)
        k2 = rhs(1, k, r + 0.5 * hk * k1)
        k3 = rhs(1, k, r + 0.5 * hk * k2)
        k4 = rhs(0, k, r + hk * k3)
        r = r + hk / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if not np.all(np.isfinite(r)):
            raise FloatingPointError(f"Riccati (23) blew up at t = {grid.t[k]:.4g}")
        out.append(r)
    return np.stack(out[::-1])


def radon(grid: Grid, g: np.ndarray, phi2: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Radon's lemma ``R = UV⁻¹``; explicit (Thm 4.3) when φ ≡ 0, else the linear ODE by RK4."""
    n = d.size
    h = np.diff(grid.t)
    dmat = np.diag(d).astype(float)
    if not np.any(phi2):
        # ∫_t^T G ds by Simpson on each step, accumulated from T backwards
        step_int = h[:, None, None] / 6 * (g[0] + 4 * g[1] + g[2])
        tail = np.concatenate([np.cumsum(step_int[::-1], axis=0)[::-1], np.zeros((1, n, n))])
        v = np.eye(n) + tail @ dmat
        return -dmat @ np.linalg.inv(v)
    v, u = np.eye(n), -dmat
    vs, us = [v], [u]

    def rhs(stage, k, v, u):
        return g[stage, k] @ u, phi2[stage, k][:, None] * v

    for k in range(grid.steps - 1, -1, -1):
        hk = -h[k]
        a1, b1 = rhs(2, k, v, u)
        a2, b2 = rhs(1, k, v + 0.5 * hk * a1, u + 0.5 * hk * b1)
        a3, b3 = rhs(1, k, v + 0.5 * hk * a2, u + 0.5 * hk * b2)
        a4, b4 = rhs(0, k, v + hk * a3, u + hk * b3)
        v = v + hk / 6 * (a1 + 2 * a2 + 2 * a3 + a4)
        u = u + hk / 6 * (b1 + 2 * b2 + 2 * b3 + b4)
        vs.append(v)
        us.append(u)
    v, u = np.stack(vs[::-1]), np.stack(us[::-1])
    return u @ np.linalg.inv(v)
