"""Riccati and linear ODEs of the §2 execution game (Guo & Jin, Thm 2.7), solved by class structure.

The equilibrium of the N-trader game is the affine decoupling ``Y = R(t) Q + H(t)`` of FBSDE (3),
with (proof of Thm 2.7)

    R' = G + F R − R E − R D R,                              R_T = −L,
    H' = −R D H + R·(N/(c_π β))·w + F H + (N α/(c_π β))·w,   H_T = w_T,

and the rate (2) ``v = D Y + E Q − N/(c_π β)·w``. For the general cross impact π ∈ [0, 2) of
Remark 2.1(3) the first-order condition ``(2−π) vⁱ + π Σ_j vʲ = (N/β)(yⁱ − ϖ) + (α/β) qⁱ``
inverts with ``W = [(2−π)I + πO]⁻¹ = (I − (π/c_π) O)/(2−π)``, ``c_π = 2 − π + Nπ``:

    D = (N/β) W,  E = (α/β) W,  F = −α/(c_π β) O,  G = 2 diag(φ) − α²/(N c_π β) O,  L = 2 diag(A);

π = 1 gives c_π = N + 1 and the paper's matrices (B = (N+1)I − O). Writing ``Z = H − w``
(``D w = N/(c_π β) w`` and ``F w = −N α/(c_π β) w``) the H equation becomes the cleaner

    Z' = (F − R D) Z − ϖ'(t)·1,   Z_T = 0,   ϖ' = α (buy − sell),                            (Z)

and the rate is ``v = D (R Q + Z) + E Q``: only the noise *drift* enters, not the level of ϖ.

**One βⁱ per trader.** Trader i may pay its own temporary impact βⁱ(t) = β(t)·sⁱ (the
individual λⁱ of §3; ``sⁱ`` = ``impact_scale``, 1 when β is common). Its first-order condition
is ``βⁱ((2−π) vⁱ + π Σ_j vʲ) = N(yⁱ − ϖ) + α qⁱ``, so with S⁻¹ = diag(1/sⁱ) every formula above
holds with D = (N/β) W S⁻¹, E = (α/β) W S⁻¹ and, from the adjoint equation
``dYⁱ = (2φⁱ qⁱ − (α/N) Σ_j vʲ) dt``, F = −(α/N) O D = −α/(c_π β)·O S⁻¹ and
G = 2 diag(φ) − (α/N) O E = 2 diag(φ) − α²/(N c_π β)·O S⁻¹ (O W = O/c_π). The ϖ-level argument
is unchanged (the rate reads Y − ϖ).

**Class structure.** Traders with equal (φⁱ, Aⁱ, sⁱ) form a class; U is the N×K class indicator.
Every matrix above lies in the algebra ``X = diag(d_{c(i)}) + U C Uᵀ``, closed under products.
The algebra is isomorphic to pairs ``(d, M)`` with ``d ∈ R^K`` (action on within-class zero-sum
vectors) and ``M = diag(d) + C diag(n) ∈ R^{K×K}`` (action on class-constant vectors ``U h``),
multiplied componentwise: ``(d₁, M₁)(d₂, M₂) = (d₁d₂, M₁M₂)``. Hence R = (r, M_R) solves K
decoupled scalar Riccati equations for r plus one K×K Riccati equation for M_R, and Z = U z is
class-constant (K unknowns): K + K² + K unknowns whatever N. Matrix-vector products cost
O(N + K²) via class sums (never an N×N matrix). S⁻¹ is (1/s, diag(1/s)) and O S⁻¹ is
(0, 1 (n/s)ᵀ): with s = 1 every class formula reduces, operation by operation, to the common-β
one (multiplying or dividing by 1.0 is exact, so the results are bit-identical).

Integration. The deviation modes are stiff: D has eigenvalue N/((2−π)β) on zero-sum vectors, so
R relaxes at rate ~√(φN/β). Two integrators, same representation:

* ``exponential`` (:mod:`policies.equilibrium.execution_propagator`; constant or piecewise-
  constant coefficients, i.e. every scenario): on each interval
  of constant coefficients the linear Hamiltonian system of (3) is propagated exactly by matrix
  exponentials and R = Ψ X⁻¹ (Radon's lemma) is re-normalised every sub-step (no truncation
  error; the sub-step only bounds round-off amplification and the Gauss quadrature of values);
* ``dop853`` (callable α, β, noise): scipy ``solve_ivp`` with embedded error control (``rtol``,
  ``atol`` on every unknown) and dense output, on each interval between breakpoints.

Blow-up (a conjugate point of the Riccati equation: singular X, |R| beyond a bound, non-finite
values, solver failure) raises :class:`RiccatiBlowUpError` naming the time. The dense path
(``method="dense"``) integrates the N×N equations with DOP853 and generic matrix products: an
independent cross-check for small N.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

from policies.equilibrium.coefficients import Coefficient


class RiccatiBlowUpError(RuntimeError):
    """The Riccati ODE of Thm 2.7 left every bound (or the solver failed) at some t ∈ [0, T]."""

    def __init__(self, message: str, time: float):
        super().__init__(message)
        self.time = time


@dataclass(frozen=True)
class ImpactCoefficients:
    """α(t), β(t), the noise drift ϖ'(t) = α(t)(buy(t) − sell(t)), N and π of the §2 market."""

    alpha: Coefficient
    beta: Coefficient
    buy: Coefficient
    sell: Coefficient
    traders: int
    cross_impact: float

    @property
    def c_pi(self) -> float:
        """c_π = 2 − π + Nπ (= N + 1 for the paper's π = 1)."""
        return 2.0 - self.cross_impact + self.traders * self.cross_impact

    def drift(self, t: float) -> float:
        """ϖ'(t) = α(t)·(buy(t) − sell(t)): buy pressure pushes the price up."""
        return self.alpha(t) * (self.buy(t) - self.sell(t))

    def scalars(self, t: float) -> tuple[float, float, float, float, float]:
        """(s_D, s_E, c, f, g_O) with D = s_D(I − cO), E = s_E(I − cO), F = −f O, G = 2Φ − g_O O."""
        a, b = self.alpha(t), self.beta(t)
        n, p = self.traders, self.cross_impact
        return (
            n / ((2.0 - p) * b),
            a / ((2.0 - p) * b),
            p / self.c_pi,
            a / (self.c_pi * b),
            a * a / (n * self.c_pi * b),
        )

    @property
    def breakpoints(self) -> tuple[float, ...]:
        pts = set()
        for prof in (self.alpha, self.beta, self.buy, self.sell):
            pts.update(prof.breakpoints)
        return tuple(sorted(pts))


# --------------------------------------------------------------------------------------------
# class structure
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TraderClasses:
    """The partition of traders into classes of equal (φ, A, s): labels c(i), sizes n_k, φ_k, A_k
    and the temporary-impact scale s_k (βⁱ = β·s_k; all ones when β is common)."""

    labels: np.ndarray  # (N,) int
    sizes: np.ndarray  # (K,)
    running_penalty: np.ndarray  # (K,)
    terminal_penalty: np.ndarray  # (K,)
    order: np.ndarray  # (N,) permutation making classes contiguous
    starts: np.ndarray  # (K,) offsets of each class in ``order``
    impact_scale: np.ndarray  # (K,)

    @classmethod
    def detect(
        cls,
        running_penalty: np.ndarray,
        terminal_penalty: np.ndarray,
        impact_scale: np.ndarray | None = None,
    ) -> TraderClasses:
        """Group equal (φ, A, s) triples in O(N): hash factorisation (classes ordered by
        (φ, A, s)), then a radix sort of the small class labels for the contiguous order.
        ``impact_scale`` None: β is common (s ≡ 1)."""
        phi = np.asarray(running_penalty, dtype=float)
        a = np.asarray(terminal_penalty, dtype=float)
        n = len(phi)
        s = np.ones(n) if impact_scale is None else np.asarray(impact_scale, dtype=float)
        if np.all(phi == phi[0]) and np.all(a == a[0]) and np.all(s == s[0]):
            order = np.arange(n)
            return cls(
                np.zeros(n, dtype=np.intp),
                np.array([float(n)]),
                phi[:1].copy(),
                a[:1].copy(),
                order,
                np.zeros(1, dtype=np.intp),
                s[:1].copy(),
            )
        codes, values = zip(*(pd.factorize(x, sort=True) for x in (phi, a, s)), strict=True)
        sizes_v = [len(v) for v in values]
        key = (codes[0] * sizes_v[1] + codes[1]) * sizes_v[2] + codes[2]
        triple_codes, triples = pd.factorize(key, sort=True)
        labels = triple_codes.astype(np.intp)
        k = len(triples)
        sizes = np.bincount(labels, minlength=k)
        small = labels.astype(np.uint16) if k <= np.iinfo(np.uint16).max else labels
        order = np.argsort(small, kind="stable")  # radix sort for 16-bit labels
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        return cls(
            labels,
            sizes.astype(float),
            np.asarray(values[0])[triples // (sizes_v[1] * sizes_v[2])],
            np.asarray(values[1])[triples // sizes_v[2] % sizes_v[1]],
            order,
            starts,
            np.asarray(values[2])[triples % sizes_v[2]],
        )

    @classmethod
    def singletons(
        cls,
        running_penalty: np.ndarray,
        terminal_penalty: np.ndarray,
        impact_scale: np.ndarray | None = None,
    ) -> TraderClasses:
        n = len(running_penalty)
        idx = np.arange(n)
        return cls(
            idx,
            np.ones(n),
            np.asarray(running_penalty, float),
            np.asarray(terminal_penalty, float),
            idx,
            idx,
            np.ones(n) if impact_scale is None else np.asarray(impact_scale, float),
        )

    @property
    def weights(self) -> np.ndarray:
        """n/s: the row vector of O S⁻¹ on class-constant vectors (module doc), (K,)."""
        return self.sizes / self.impact_scale

    @property
    def count(self) -> int:
        return len(self.sizes)

    def sums(self, x: np.ndarray) -> np.ndarray:
        """Class sums Uᵀx over the last axis: (..., N) → (..., K), O(N)."""
        if self.count == 1:
            return x.sum(axis=-1, keepdims=True)
        return np.add.reduceat(np.take(x, self.order, axis=-1), self.starts, axis=-1)

    def expand(self, h: np.ndarray) -> np.ndarray:
        """U h over the last axis: (..., K) → (..., N)."""
        return np.take(h, self.labels, axis=-1)


# --------------------------------------------------------------------------------------------
# piecewise dense output
# --------------------------------------------------------------------------------------------
class PiecewiseSolution:
    """Dense output of an ODE solved interval by interval (between coefficient breakpoints)."""

    def __init__(self, pieces: Sequence[tuple[float, float, Callable]]):
        self._pieces = sorted(pieces, key=lambda p: p[0])
        self._edges = np.array([p[0] for p in self._pieces[1:]])
        self.steps = 0

    def __call__(self, t: float) -> np.ndarray:
        j = int(np.searchsorted(self._edges, t, side="right"))
        lo, hi, f = self._pieces[j]
        return f(min(max(t, lo), hi))


def segments(horizon: float, breakpoints: Sequence[float]) -> list[tuple[float, float]]:
    """The intervals ``[(0, b₁), (b₁, b₂), …, (b_m, T)]`` cut at the breakpoints inside (0, T)."""
    edges = [0.0, *[b for b in breakpoints if 0.0 < b < horizon], horizon]
    return list(zip(edges[:-1], edges[1:], strict=True))


def integrate(
    rhs: Callable[[float, np.ndarray], np.ndarray],
    y_start: np.ndarray,
    horizon: float,
    breakpoints: Sequence[float],
    *,
    backward: bool,
    rtol: float,
    atol: float,
    bound: float | None = None,
    what: str = "Riccati ODE",
) -> tuple[PiecewiseSolution, np.ndarray]:
    """solve_ivp(DOP853) over each interval between breakpoints; raise on blow-up or failure.

    Returns the dense output on [0, T] and the end value (at 0 if ``backward`` else at T).
    ``bound`` (if given) is the blow-up threshold on max|y|: a terminal event.
    """
    segs = segments(horizon, breakpoints)
    if backward:
        segs = [(hi, lo) for lo, hi in reversed(segs)]
    y = np.asarray(y_start, dtype=float)
    pieces = []
    steps = 0
    events = None
    if bound is not None:

        def blow(t: float, yy: np.ndarray) -> float:
            return bound - np.max(np.abs(yy))

        blow.terminal = True
        events = blow
    for a, b in segs:
        sol = solve_ivp(
            rhs, (a, b), y, method="DOP853", rtol=rtol, atol=atol, dense_output=True, events=events
        )
        steps += len(sol.t) - 1
        if sol.status != 0 or not np.all(np.isfinite(sol.y[:, -1])):
            t_bad = float(sol.t[-1])
            reason = (
                "exceeded the blow-up bound"
                if sol.status == 1
                else (f"solver failure: {sol.message}" if sol.status == -1 else "non-finite values")
            )
            raise RiccatiBlowUpError(
                f"{what} blows up on [0, T]: {reason} at t = {t_bad:.6g} (integrating "
                f"{'backward from' if backward else 'forward to'} T = {horizon:g}); the "
                "equilibrium of Thm 2.7 does not exist on this horizon for these coefficients "
                "(check game.conditions(): Assumption 2.4, Thm 2.7, Thm 2.10)",
                t_bad,
            )
        pieces.append((min(a, b), max(a, b), sol.sol))
        y = sol.y[:, -1]
    out = PiecewiseSolution(pieces)
    out.steps = steps
    return out, y


# --------------------------------------------------------------------------------------------
# structured (class) solver: shared formulas
# --------------------------------------------------------------------------------------------
def blowup_bound(phi: np.ndarray, a: np.ndarray, horizon: float) -> float:
    """|R| far beyond its natural scale max(2A, 2φT) signals a blow-up (conjugate point)."""
    return 1e8 * (1.0 + 2.0 * float(np.max(a)) + 2.0 * float(np.max(phi)) * horizon)


def apply_class_w(scale: float, c: float, cl: TraderClasses, x: np.ndarray) -> np.ndarray:
    """scale·(S⁻¹ − c·1(n/s)ᵀ) x over the last axis: the class action of D (scale s_D) or E
    (s_E) on class-constant vectors."""
    return scale * (x / cl.impact_scale - c * (x @ cl.weights)[..., None])


def class_integrands(
    alpha: float,
    beta: float,
    nn: int,
    pi: float,
    n: np.ndarray,
    scale: np.ndarray,
    phi: np.ndarray,
    m: np.ndarray,
    dm: np.ndarray,
    rho: np.ndarray,
    drho: np.ndarray,
    w: float | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrands of the value coefficients a_k, b_k, c_k (see :class:`StructuredField`).

    ``alpha``, ``beta``: α(t), β(t); ``nn``: N; ``pi``: π; ``n``, ``scale``, ``phi``: class
    sizes, impact scales s (βⁱ = β s) and φ (K,);
    ``m``, ``dm``: class means and their rates, ``rho``, ``drho``: within-class decay and its
    rate, shape (K,) or (J, K) (J quadrature nodes, ``w`` then (J, 1)); ``w``: ϖ̄(t). Returns the
    coefficients of 1, δᵢ, δᵢ² in the running integrand of Jⁱ, each shaped like ``m``.
    """
    s = (dm @ n)[..., None]
    beta = beta * scale
    qa = alpha / nn * m * s - beta / nn * ((1 - pi) * dm * dm + pi * dm * s) - dm * w - phi * m * m
    qb = (
        alpha / nn * rho * s
        - beta / nn * ((1 - pi) * 2 * dm * drho + pi * drho * s)
        - drho * w
        - 2 * phi * m * rho
    )
    qc = -beta / nn * (1 - pi) * drho * drho - phi * rho * rho
    return qa, qb, qc


@dataclass
class StructuredField:
    """Class-structured solution: ``field(t) = (r, M_R, z)``, ``path(t) = (m, ρ, ϖ̄)``.

    R(t) = (r, M_R) in the (d, M) representation of the module doc, Z = U z; class means m(t),
    within-class decay ρ(t) (Qⁱ = m_k + δᵢ ρ_k); value coefficients (a, b, c) with
    Jⁱ = a_k + b_k δᵢ + c_k δᵢ²; ``steps``: accepted steps (ODE) or sub-steps (exponential).

    Trader i of class k with δᵢ = q₀ⁱ − m_k(0) trades ``vⁱ = m_k' + δᵢ ρ_k'`` (within-class
    deviations sum to zero, so S = Σv = Σ_k n_k m_k'); its objective with P₀ = 0 (paper p. 5)

        Jⁱ = ∫ [Qⁱ α/N S − βⁱ/N vⁱ((1−π) vⁱ + π S) − vⁱ ϖ − φ (Qⁱ)²] dt + Qⁱ_T ϖ_T − A (Qⁱ_T)²

    is quadratic in δᵢ; a, b, c are accumulated as quadrature unknowns.
    """

    field: Callable[[float], tuple[np.ndarray, np.ndarray, np.ndarray]]
    path: Callable[[float], tuple[np.ndarray, np.ndarray, float]]
    value_coefficients: tuple[np.ndarray, np.ndarray, np.ndarray]
    steps: int
    integrator: str


def terminal_value(
    cl: TraderClasses,
    m: np.ndarray,
    rho: np.ndarray,
    w: float,
    qa: np.ndarray,
    qb: np.ndarray,
    qc: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value coefficients (a, b, c) of Jⁱ = a_k + b_k δᵢ + c_k δᵢ² (per class, (K,) each).

    ``qa``, ``qb``, ``qc``: the running integrals; adds the terminal terms Qⁱ_T ϖ_T − A (Qⁱ_T)² with
    Qⁱ_T = m_k(T) + δᵢ ρ_k(T) (``m``, ``rho`` at T, ``w`` = ϖ̄(T)).
    """
    a_pen = cl.terminal_penalty
    return (qa + m * w - a_pen * m * m, qb + rho * w - 2 * a_pen * m * rho, qc - a_pen * rho * rho)


# --------------------------------------------------------------------------------------------
# structured solver, time-dependent coefficients: DOP853 on (r, M_R, z) and the closed loop
# --------------------------------------------------------------------------------------------
def solve_structured_ode(
    co: ImpactCoefficients,
    cl: TraderClasses,
    horizon: float,
    mean0: np.ndarray,
    rtol: float,
    atol: float,
) -> StructuredField:
    """Backward DOP853 for r (K), M_R (K×K), z (K); forward DOP853 for m, ρ, ϖ̄ and a, b, c."""
    k, n, s, w = cl.count, cl.sizes, cl.impact_scale, cl.weights
    phi, phi2 = cl.running_penalty, 2.0 * cl.running_penalty
    ones = np.ones(k)

    def back_rhs(t: float, y: np.ndarray) -> np.ndarray:
        s_d, s_e, c, f, g_o = co.scalars(t)
        r, m, z = y[:k], y[k : k + k * k].reshape(k, k), y[k + k * k :]
        m1, nm = m.sum(axis=1), w @ m  # M 1, (n/s)ᵀM
        dm = (
            np.diag(phi2)
            - g_o * np.outer(ones, w)  # G
            - f * np.outer(ones, nm)  # F M
            - s_e * (m / s - c * np.outer(m1, w))  # M E
            - s_d * ((m / s) @ m - c * np.outer(m1, nm))
        )  # M D M
        md_z = s_d * (m @ (z / s) - c * m1 * (w @ z))  # M D z
        dz = -f * (w @ z) * ones - md_z - co.drift(t) * ones
        return np.concatenate([phi2 - s_e / s * y[:k] - s_d / s * r * r, dm.ravel(), dz])

    l_d = 2.0 * cl.terminal_penalty
    y_t = np.concatenate([-l_d, np.diag(-l_d).ravel(), np.zeros(k)])
    back, _ = integrate(
        back_rhs,
        y_t,
        horizon,
        co.breakpoints,
        backward=True,
        rtol=rtol,
        atol=atol,
        bound=blowup_bound(phi, cl.terminal_penalty, horizon),
    )

    def field(t: float):
        y = back(t)
        return y[:k], y[k : k + k * k].reshape(k, k), y[k + k * k :]

    def fwd_rhs(t: float, y: np.ndarray) -> np.ndarray:
        r, mr, z = field(t)
        m, rho, wd = y[:k], y[k : 2 * k], y[2 * k]
        s_d, s_e, c, _, _ = co.scalars(t)
        dm = apply_class_w(s_d, c, cl, mr @ m + z) + apply_class_w(s_e, c, cl, m)
        drho = (s_d * r + s_e) / s * rho
        q = class_integrands(
            co.alpha(t), co.beta(t), co.traders, co.cross_impact, n, s, phi, m, dm, rho, drho, wd
        )
        return np.concatenate([dm, drho, [co.drift(t)], *q])

    y0 = np.concatenate([mean0, np.ones(k), [0.0], np.zeros(3 * k)])
    fwd, y_end = integrate(
        fwd_rhs,
        y0,
        horizon,
        co.breakpoints,
        backward=False,
        rtol=rtol,
        atol=atol,
        what="closed-loop inventory ODE",
    )

    def path(t: float):
        y = fwd(t)
        return y[:k], y[k : 2 * k], float(y[2 * k])

    m_t, rho_t, w_t = y_end[:k], y_end[k : 2 * k], y_end[2 * k]
    coef = terminal_value(cl, m_t, rho_t, w_t, *y_end[2 * k + 1 :].reshape(3, k))
    return StructuredField(field, path, coef, back.steps, "dop853")


# --------------------------------------------------------------------------------------------
# dense (N×N) solver, the cross-check
# --------------------------------------------------------------------------------------------
def dense_matrices(
    co: ImpactCoefficients, phi: np.ndarray, t: float, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The N×N matrices D, E, F, G of FBSDE (3) (general π, βⁱ = β·scaleⁱ) at time t."""
    nn = co.traders
    s_d, s_e, c, f, g_o = co.scalars(t)
    eye, ones = np.eye(nn), np.ones((nn, nn)) / scale[None, :]  # O S⁻¹
    w = eye / scale[None, :] - c * ones  # (2−π) W S⁻¹
    return s_d * w, s_e * w, -f * ones, np.diag(2.0 * phi) - g_o * ones


@dataclass
class DenseField:
    """Dense solution: ``field(t) = (R, Z)`` (N×N, N), ``path(t) = (Q, ϖ̄)``, values (N,)."""

    field: Callable[[float], tuple[np.ndarray, np.ndarray]]
    path: Callable[[float], tuple[np.ndarray, float]]
    value: np.ndarray
    steps: int
    integrator: str = "dop853-dense"


def solve_dense(
    co: ImpactCoefficients,
    phi: np.ndarray,
    a_pen: np.ndarray,
    horizon: float,
    q0: np.ndarray,
    rtol: float,
    atol: float,
    scale: np.ndarray,
) -> DenseField:
    """R (N×N), Z (N) backward and Q, ϖ̄, ∫(running objective) forward, generic products;
    trader i's temporary impact is β·``scale``ⁱ."""
    nn = co.traders
    one = np.ones(nn)
    pi = co.cross_impact

    def back_rhs(t: float, y: np.ndarray) -> np.ndarray:
        d, e, f, g = dense_matrices(co, phi, t, scale)
        r, z = y[: nn * nn].reshape(nn, nn), y[nn * nn :]
        rd = r @ d
        return np.concatenate(
            [(g + f @ r - r @ e - rd @ r).ravel(), (f - rd) @ z - co.drift(t) * one]
        )

    y_t = np.concatenate([np.diag(-2.0 * a_pen).ravel(), np.zeros(nn)])
    back, _ = integrate(
        back_rhs,
        y_t,
        horizon,
        co.breakpoints,
        backward=True,
        rtol=rtol,
        atol=atol,
        bound=blowup_bound(phi, a_pen, horizon),
    )

    def field(t: float):
        y = back(t)
        return y[: nn * nn].reshape(nn, nn), y[nn * nn :]

    def fwd_rhs(t: float, y: np.ndarray) -> np.ndarray:
        d, e, _, _ = dense_matrices(co, phi, t, scale)
        r, z = field(t)
        q, w = y[:nn], y[nn]
        v = d @ (r @ q + z) + e @ q
        s = v.sum()
        a, b = co.alpha(t), co.beta(t) * scale
        run = a / nn * q * s - b / nn * v * ((1 - pi) * v + pi * s) - v * w - phi * q * q
        return np.concatenate([v, [co.drift(t)], run])

    y0 = np.concatenate([q0, [0.0], np.zeros(nn)])
    fwd, y_end = integrate(
        fwd_rhs,
        y0,
        horizon,
        co.breakpoints,
        backward=False,
        rtol=rtol,
        atol=atol,
        what="closed-loop inventory ODE",
    )
    q_t, w_t = y_end[:nn], y_end[nn]
    value = y_end[nn + 1 :] + q_t * w_t - a_pen * q_t**2

    def path(t: float):
        y = fwd(t)
        return y[:nn], float(y[nn])

    return DenseField(field, path, value, back.steps)
