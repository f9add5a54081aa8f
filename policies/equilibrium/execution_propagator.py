"""Exact propagators for the §2 Riccati system with piecewise-constant coefficients.

The deviation modes of the class system (:mod:`policies.equilibrium.execution_riccati`) are stiff:
D has eigenvalue N/((2−π)β) on zero-sum vectors, so R relaxes at rate ~√(φN/β) (≈ 900 for
N = 10⁶). When α, β and the noise rates are constant on intervals (every scenario), the linear
Hamiltonian system of FBSDE (3) has a constant matrix on each interval and is propagated exactly
by matrix exponentials; R = Ψ X⁻¹ (Radon's lemma) is re-normalised every sub-step.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.linalg import LinAlgWarning, expm, lu_factor, lu_solve
from scipy.optimize import brentq

from policies.equilibrium.blas import single_threaded
from policies.equilibrium.execution_riccati import (
    ImpactCoefficients,
    RiccatiBlowUpError,
    StructuredField,
    TraderClasses,
    apply_class_w,
    blowup_bound,
    class_integrands,
    segments,
    terminal_value,
)
from simulator.resources import check_memory

_GAUSS_X, _GAUSS_W = np.polynomial.legendre.leggauss(8)
_GAUSS_X, _GAUSS_W = (_GAUSS_X + 1) / 2, _GAUSS_W / 2  # on [0, 1]


class _Segment:
    """Constant coefficients on [a, b]: the Hamiltonian matrices of the class system.

    Aggregate part (class-constant vectors), augmented with the constant 1 for the forcing:
    ``(q, ỹ, 1)' = 𝓗 (q, ỹ, 1)``, 𝓗 = [[M_E, M_D, 0], [M_G, M_F, −ϖ'·1], [0, 0, 0]]
    (Q' = D Ỹ + E Q, Ỹ' = F Ỹ + G Q − ϖ'); within-class part: K 2×2 blocks
    [[s_E/s_k, s_D/s_k], [2φ_k, 0]] (s_k: the class's temporary-impact scale, βⁱ = β s_k).
    ``expm`` is taken in variables ŷ = σ ỹ that balance the D and G blocks.
    """

    def __init__(self, co: ImpactCoefficients, cl: TraderClasses, a: float, b: float):
        self.a, self.b = a, b
        t = 0.5 * (a + b)
        self.s_d, self.s_e, self.c, self.f, self.g_o = co.scalars(t)
        self.alpha, self.beta, self.drift = co.alpha(t), co.beta(t), co.drift(t)
        k, phi, s = cl.count, cl.running_penalty, cl.impact_scale
        eye, one_n = np.diag(1.0 / s), np.outer(np.ones(k), cl.weights)  # S⁻¹, O S⁻¹
        h = np.zeros((2 * k + 1, 2 * k + 1))
        h[:k, :k] = self.s_e * (eye - self.c * one_n)
        h[:k, k : 2 * k] = self.s_d * (eye - self.c * one_n)
        h[k : 2 * k, :k] = np.diag(2 * phi) - self.g_o * one_n
        h[k : 2 * k, k : 2 * k] = -self.f * one_n
        h[k : 2 * k, 2 * k] = -self.drift
        g_norm = np.abs(h[k : 2 * k, :k]).sum(axis=0).max()
        sigma = np.sqrt(self.s_d / s.min() / g_norm) if g_norm > 0 else 1.0
        self.scale = np.concatenate([np.ones(k), np.full(k, 1.0 / sigma), [1.0]])
        self.h_hat = h * (self.scale[None, :] / self.scale[:, None])  # S⁻¹ 𝓗 S
        hd = np.zeros((k, 2, 2))
        hd[:, 0, 0], hd[:, 0, 1], hd[:, 1, 0] = self.s_e / s, self.s_d / s, 2 * phi
        self.sigma_d = np.where(phi > 0, np.sqrt(hd[:, 0, 1] / np.maximum(2 * phi, 1e-300)), 1.0)
        hd[:, 0, 1] /= self.sigma_d
        hd[:, 1, 0] *= self.sigma_d
        self.hd_hat = hd
        lam = np.abs(np.linalg.eigvals(self.h_hat[: 2 * k, : 2 * k])).max(initial=0.0)
        lam = max(lam, np.abs(np.linalg.eigvals(hd)).max(initial=0.0))
        self.rate = float(lam)

    def propagators(self, tau: float) -> tuple[np.ndarray, np.ndarray]:
        """exp(τ𝓗) (aggregate, (2K+1)²) and exp(τ h_d) (within-class, (K, 2, 2)), unscaled."""
        p = expm(tau * self.h_hat) * (self.scale[:, None] / self.scale[None, :])
        pd = expm_2x2(tau * self.hd_hat)
        pd[:, 0, 1] *= self.sigma_d
        pd[:, 1, 0] /= self.sigma_d
        return p, pd


def expm_2x2(a: np.ndarray) -> np.ndarray:
    """exp of a batch of real 2×2 matrices ``(..., 2, 2)`` in closed form (no BLAS, no Padé).

    With μ = tr/2 and d² = ((a₁₁ − a₂₂)/2)² + a₁₂a₂₁ (eigenvalues μ ± d):
    ``exp(A) = e^μ [cosh(d) I + sinh(d)/d (A − μI)]``; d² < 0 gives cos and sin of |d|.
    Cancellation between the two terms is bounded by e^{2|d|} (|d| ≤ θ on the propagator's
    sub-steps).
    """
    a = np.asarray(a, dtype=float)
    mu = 0.5 * (a[..., 0, 0] + a[..., 1, 1])
    half = 0.5 * (a[..., 0, 0] - a[..., 1, 1])
    d2 = half * half + a[..., 0, 1] * a[..., 1, 0]
    d = np.sqrt(np.abs(d2))
    small = d < 1e-4  # series: sinh(d)/d = 1 + d²/6 + d⁴/120, cosh(d) = 1 + d²/2 + d⁴/24
    with np.errstate(invalid="ignore", divide="ignore"):
        ch = np.where(d2 >= 0, np.cosh(d), np.cos(d))
        sh = np.where(d2 >= 0, np.sinh(d), np.sin(d)) / d
    ch = np.where(small, 1 + d2 / 2 + d2 * d2 / 24, ch)
    sh = np.where(small, 1 + d2 / 6 + d2 * d2 / 120, sh)
    e = np.exp(mu)
    out = np.empty(a.shape)
    out[..., 0, 0] = e * (ch + sh * half)
    out[..., 1, 1] = e * (ch - sh * half)
    out[..., 0, 1] = e * sh * a[..., 0, 1]
    out[..., 1, 0] = e * sh * a[..., 1, 0]
    return out


def _decoupling(p, pd, r, m, z, k):
    """X (K×K, aggregate), its affine part x and Ψ, ψ, and X_d (K, within-class) after exp(−τ𝓗)."""
    phi_lin = p[:, :k] + p[:, k : 2 * k] @ m
    phi_aff = p[:, k : 2 * k] @ z + p[:, 2 * k]
    xd = pd[:, 0, 0] + pd[:, 0, 1] * r
    return phi_lin, phi_aff, xd


def _det_sign(lu: np.ndarray, piv: np.ndarray) -> float:
    """Sign of det X from its LU factors (diagonal of U and the row swaps)."""
    swaps = np.count_nonzero(piv != np.arange(len(piv)))
    return float((-1.0) ** swaps * np.prod(np.sign(np.diag(lu))))


def _back_step(p, pd, r, m, z, k):
    """One backward propagation: (r, M, z) at t + τ → at t, with p = exp(−τ𝓗), pd = exp(−τ h_d).

    Also returns min(sign det X, min X_d): X(0) = I, so a value ≤ 0 means the decoupling passed
    through a singular X (a pole of R: Riccati blow-up) during the step.
    """
    phi_lin, phi_aff, xd = _decoupling(p, pd, r, m, z, k)
    x, psi = phi_lin[:k], phi_lin[k : 2 * k]
    with warnings.catch_warnings():  # a singular X is reported through ``health``
        warnings.simplefilter("ignore", LinAlgWarning)
        lu, piv = lu_factor(x.T, check_finite=False)
    m_new = lu_solve((lu, piv), psi.T, check_finite=False).T  # M = Ψ X⁻¹
    z_new = phi_aff[k : 2 * k] - m_new @ phi_aff[:k]
    r_new = (pd[:, 1, 0] + pd[:, 1, 1] * r) / xd
    health = min(_det_sign(lu, piv), float(np.min(xd, initial=1.0)))
    return r_new, m_new, z_new, health


def _singularity(seg: _Segment, tau: float, r, m, z, k) -> float:
    """min(det X, min X_d) after propagating the node state backward by τ (continuous in τ)."""
    p, pd = seg.propagators(-tau)
    phi_lin, _, xd = _decoupling(p, pd, r, m, z, k)
    return min(float(np.linalg.det(phi_lin[:k])), float(np.min(xd, initial=1.0)))


def _blow_up_time(seg: _Segment, j: int, r, m, z, k) -> float:
    """Locate the pole of R in [t_j, t_{j+1}] (brentq on the first sign change of det X)."""
    t_hi = seg.nodes[j + 1]
    taus = np.linspace(0.0, t_hi - seg.nodes[j], 9)
    vals = [_singularity(seg, tau, r, m, z, k) for tau in taus]
    for i in range(8):
        if vals[i] > 0 >= vals[i + 1] or not np.isfinite(vals[i + 1]):
            if not np.isfinite(vals[i + 1]):
                return float(t_hi - taus[i + 1])
            tau = brentq(
                lambda s: _singularity(seg, s, r, m, z, k), taus[i], taus[i + 1], xtol=1e-12
            )
            return float(t_hi - tau)
    return float(seg.nodes[j])


MAX_SUBSTEPS = 20_000
"""Most sub-steps h = θ/λ_max the exact propagator takes (each costs a few small matrix
products and exponentials; 2·10⁴ take seconds). The count is λ_max·T/θ: a stiffer system is
refused before any work (see :func:`_check_work`)."""


def _check_work(segs: list[_Segment], theta: float, k: int) -> None:
    """Refuse, before allocating anything, a system so stiff that the sub-steps would exceed
    :data:`MAX_SUBSTEPS` (λ_max ≫ 1/T: a tiny temporary impact β or a huge penalty makes the
    equilibrium rates react on a time scale far below the horizon)."""
    need = sum(seg.rate * (seg.b - seg.a) / theta for seg in segs)
    if need <= MAX_SUBSTEPS:
        # R, M, z at every node (k² + 2k floats), twice over for the value pass
        nodes = sum(np.ceil(seg.rate * (seg.b - seg.a) / theta) + 1 for seg in segs)
        check_memory(
            16 * nodes * (k * k + 2 * k),
            f"the §2 Riccati solution for {k} trader classes on {int(nodes)} nodes",
            "give fewer traders distinct (running_penalty, terminal_penalty, temporary_impact)",
        )
    if not need <= MAX_SUBSTEPS:  # also NaN/inf
        fastest = max(seg.rate for seg in segs)
        raise ValueError(
            f"the §2 Riccati system is too stiff to solve: its fastest mode relaxes at rate "
            f"λ = {fastest:.3g} (time scale {1 / fastest:.3g}), so the exact propagator needs "
            f"{need:.3g} sub-steps over the horizon (at most {MAX_SUBSTEPS}). A small "
            "temporary_impact β or a large running or terminal penalty (φ, A) against it "
            "does this: raise β, lower φ and A, or shorten the horizon"
        )


@single_threaded
def solve_structured_exponential(
    co: ImpactCoefficients,
    cl: TraderClasses,
    horizon: float,
    mean0: np.ndarray,
    theta: float = 2.0,
    careful: bool = False,
) -> StructuredField:
    """Exact flow for piecewise-constant coefficients (Radon's lemma, R = Ψ X⁻¹).

    On each interval of constant coefficients the Hamiltonian system is linear with constant
    matrix 𝓗; R and z at node t_j follow from those at t_{j+1} through exp(−h𝓗) (no
    truncation error). Sub-steps h = θ/λ_max (λ_max the largest |eigenvalue| of 𝓗) keep
    exp(λh) ≤ e^θ, so round-off is amplified by at most e^θ per step, and the value integrals
    are 8-point Gauss–Legendre on each sub-step of the exact path (error ~ (2θ)¹⁶/16!·…,
    about 1e-12 relative at θ = 2).

    Blow-up (a pole of R, i.e. X singular somewhere on the sub-step): X starts at I on every
    sub-step, so det X ≤ 0 (or X_d ≤ 0) at its end flags a crossing; with |λ|h ≤ θ = 2 < π each
    mode crosses at most once per sub-step. ``careful`` (used when neither Thm 2.7 nor Thm 2.10
    guarantees existence) also samples det X at ¼, ½, ¾ of every sub-step, so that two modes
    crossing in the same sub-step are caught too. The pole is then located by brentq.
    """
    k, n, phi, s = cl.count, cl.sizes, cl.running_penalty, cl.impact_scale
    bound = blowup_bound(phi, cl.terminal_penalty, horizon)
    check_memory(  # the Hamiltonian 𝓗 of each segment and its exponentials
        8 * 8 * (2 * k + 1) ** 2,
        f"the §2 Riccati system of {k} trader classes ({2 * k + 1}² Hamiltonian)",
        "give fewer traders distinct (running_penalty, terminal_penalty, temporary_impact)",
    )
    segs = [_Segment(co, cl, a, b) for a, b in segments(horizon, co.breakpoints)]
    _check_work(segs, theta, k)
    r = -2.0 * cl.terminal_penalty
    m = np.diag(r).copy()
    z = np.zeros(k)
    steps = 0
    for seg in reversed(segs):
        length = seg.b - seg.a
        subs = max(1, int(np.ceil(seg.rate * length / theta)))
        seg.nodes = seg.a + length * np.arange(subs + 1) / subs
        p, pd = seg.propagators(-length / subs)
        seg.r, seg.m, seg.z = (
            np.empty((subs + 1, k)),
            np.empty((subs + 1, k, k)),
            np.empty((subs + 1, k)),
        )
        seg.r[subs], seg.m[subs], seg.z[subs] = r, m, z
        probes = [seg.propagators(-f * length / subs) for f in (0.25, 0.5, 0.75)]
        for j in range(subs - 1, -1, -1):
            with np.errstate(all="ignore"):
                r1, m1, z1, health = _back_step(p, pd, r, m, z, k)
                if careful:  # also look for a pole inside the sub-step
                    for pp, ppd in probes:
                        phi_lin, _, xd = _decoupling(pp, ppd, r, m, z, k)
                        health = min(health, np.sign(np.linalg.det(phi_lin[:k])), xd.min())
            ok = (
                health > 0
                and np.all(np.isfinite(r1))
                and np.all(np.isfinite(m1))
                and max(np.abs(m1).max(), np.abs(r1).max()) <= bound
            )
            if not ok:
                with np.errstate(all="ignore"):
                    t_bad = _blow_up_time(seg, j, r, m, z, k)
                raise RiccatiBlowUpError(
                    f"Riccati ODE blows up on [0, T]: the decoupling X is singular (R has a "
                    f"pole) at t = {t_bad:.6g} (integrating backward from T = {horizon:g}); the "
                    "equilibrium of Thm 2.7 does not exist on this horizon for these "
                    "coefficients (check game.conditions(): Assumption 2.4, Thm 2.7, Thm 2.10)",
                    t_bad,
                )
            r, m, z = r1, m1, z1
            seg.r[j], seg.m[j], seg.z[j] = r, m, z
        steps += subs

    # forward: class means m, within-class decay ρ, ϖ̄ and the value quadratures
    mean, rho, w0 = np.asarray(mean0, float), np.ones(k), 0.0
    qa, qb, qc = np.zeros(k), np.zeros(k), np.zeros(k)
    for seg in segs:
        subs = len(seg.nodes) - 1
        h = (seg.b - seg.a) / subs
        p, pd = seg.propagators(h)
        states = np.empty((subs + 1, 2 * k + 1))
        dstates = np.empty((subs + 1, k, 2))
        for j in range(subs + 1):
            states[j] = np.concatenate([mean, seg.m[j] @ mean + seg.z[j], [1.0]])
            dstates[j, :, 0], dstates[j, :, 1] = rho, seg.r[j] * rho
            if j < subs:
                mean = (p @ states[j])[:k]
                rho = pd[:, 0, 0] * rho + pd[:, 0, 1] * seg.r[j] * rho
        seg.mean, seg.rho, seg.w0 = states[:, :k].copy(), dstates[:, :, 0].copy(), w0
        for x, wt in zip(_GAUSS_X, _GAUSS_W, strict=True):
            pg, pdg = seg.propagators(x * h)
            sg = states[:-1] @ pg.T
            dg = np.einsum("kab,jkb->jka", pdg, dstates[:-1])
            mg, yg, rg, eg = sg[:, :k], sg[:, k : 2 * k], dg[:, :, 0], dg[:, :, 1]
            dm = apply_class_w(seg.s_d, seg.c, cl, yg) + apply_class_w(seg.s_e, seg.c, cl, mg)
            drho = (seg.s_d * eg + seg.s_e * rg) / s
            wg = (w0 + seg.drift * (seg.nodes[:-1] + x * h - seg.a))[:, None]
            ia, ib, ic = class_integrands(
                seg.alpha, seg.beta, co.traders, co.cross_impact, n, s, phi, mg, dm, rg, drho, wg
            )
            qa += wt * h * ia.sum(axis=0)
            qb += wt * h * ib.sum(axis=0)
            qc += wt * h * ic.sum(axis=0)
        w0 += seg.drift * (seg.b - seg.a)
    coef = terminal_value(cl, mean, rho, w0, qa, qb, qc)
    lookup = _SegmentLookup(segs, k)
    return StructuredField(lookup.field, lookup.path, coef, steps, "exponential")


class _SegmentLookup:
    """R, z and the path at any t: exact propagation from the nearest node (last query cached)."""

    def __init__(self, segs: list[_Segment], k: int):
        self.segs, self.k = segs, k
        self.edges = np.array([s.a for s in segs[1:]])
        self._field_cache: tuple[float, Any] | None = None
        self._path_cache: tuple[float, Any] | None = None

    def _locate(self, t: float) -> tuple[_Segment, int]:
        seg = self.segs[int(np.searchsorted(self.edges, t, side="right"))]
        t = min(max(t, seg.a), seg.b)
        j = int(np.clip(np.searchsorted(seg.nodes, t, side="right") - 1, 0, len(seg.nodes) - 2))
        return seg, j

    @single_threaded
    def field(self, t: float):
        if self._field_cache is not None and self._field_cache[0] == t:
            return self._field_cache[1]
        seg, j = self._locate(t)
        tau = seg.nodes[j + 1] - min(max(t, seg.a), seg.b)
        if tau <= 0:
            out = seg.r[j + 1], seg.m[j + 1], seg.z[j + 1]
        else:
            p, pd = seg.propagators(-tau)
            out = _back_step(p, pd, seg.r[j + 1], seg.m[j + 1], seg.z[j + 1], self.k)[:3]
        self._field_cache = (t, out)
        return out

    @single_threaded
    def path(self, t: float):
        if self._path_cache is not None and self._path_cache[0] == t:
            return self._path_cache[1]
        out = self._path(t)
        self._path_cache = (t, out)
        return out

    def _path(self, t: float):
        seg, j = self._locate(t)
        k = self.k
        tc = min(max(t, seg.a), seg.b)
        tau = tc - seg.nodes[j]
        mean, rho = seg.mean[j], seg.rho[j]
        w = seg.w0 + seg.drift * (tc - seg.a)
        if tau <= 0:
            return mean, rho, w
        p, pd = seg.propagators(tau)
        state = np.concatenate([mean, seg.m[j] @ mean + seg.z[j], [1.0]])
        rho_t = pd[:, 0, 0] * rho + pd[:, 0, 1] * seg.r[j] * rho
        return (p @ state)[:k], rho_t, w
