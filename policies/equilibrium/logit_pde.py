"""The stochastic §5 game on a grid: the decoupling field u(t, L, Q) by finite differences.

With inventory noise ε·dW and the Ornstein–Uhlenbeck factor ``dL = θ(m − L)dt + σ dW⁰`` of (39),
the equilibrium FBSDE (39)–(41) is Markovian and non-degenerate, and its decoupling field
``Y_t = u(t, L_t, Q_t)`` (n components, one per agent) solves the quasilinear parabolic system ::

    ∂ₜuⁱ + f(t, L, u)·∇_Q uⁱ + θ(m − L)∂_L uⁱ + ½ε²Δ_Q uⁱ + ½σ²∂²_L uⁱ = 2φⁱ(t)Qⁱ,
    uⁱ(T, L, Q) = −2AⁱQⁱ,                                                         (40)–(41)

where ``f(t, L, Y)`` is the drift of Theorem 5.4 (traders' rates ϕ(Y), makers'
``−âζⁱ(ψᵃ(Yᵐ)) + b̂ζⁱ(ψᵇ(Yᵐ))`` with the noise rates κᵃ(L), κᵇ(L): :func:`logit_bvp.drift`).
Each player's objective J along the equilibrium solves the linear (Feynman–Kac) equation with
the same operator, the payoff rate ``pⁱ(t, L, u)`` (:attr:`logit_bvp.Drift.payoff`, P ≡ 0) and the
running penalty as source: ``∂ₜVⁱ + … = −pⁱ + φⁱ(Qⁱ)²``, ``Vⁱ(T) = −Aⁱ(Qⁱ)²``; J at t = 0 is
``Vⁱ(0, l₀, q₀)`` (the term ``E∫d⟨P, εWⁱ⟩`` of §5 vanishes: P is independent of W).

The grid has one axis per agent plus the factor's when it is random (σ > 0; a zero-volatility
factor is deterministic and enters through κ(L(t)) along its path): at most
:data:`MAX_AGENTS` = 3 agents (1 trader + 2 makers), a 4-d grid with the factor; larger games
are refused (the regression Monte Carlo of :mod:`logit_regression` scales with the agents).

Scheme (backward in time, both systems at once; Strang splitting of each step):

* convection ``f·∇_Q + θ(m − L)∂_L`` explicit by Heun's method (SSP-RK2, coefficients at the
  step's midpoint), upwind (the difference towards where the characteristic goes) and second
  order with a minmod limiter: the three-point one-sided difference where the field is smooth,
  the monotone first-order one at kinks (the truncations': the buyer's rate at ε, a quote at ±ξ,
  the best quote changing hands) and extrema, so no spurious oscillation at the kinks. The step
  obeys ``dt·maxₓ Σₖ|velocityₖ|/hₖ ≤ cfl`` (default 0.4; the linear stability bound of this
  pair is 0.5), whatever ε ≥ 0 (ε = 0 is the deterministic game: the hyperbolic limit);
* diffusion ``½ε²∂²`` along each inventory axis and ``½σ²∂²_L`` along the factor axis by
  Crank–Nicolson half steps before and after, one tridiagonal solve per axis on all lines at once;
* the time levels include the output frames and the coefficients' breakpoints.

Second order in h (dt ∝ h through the CFL bound) where the field is smooth, first order at the
kinks; the error estimate compares nested grids.

Truncated domain and boundary conditions: a box around the deterministic equilibrium path (the
game with ε = 0 and the factor at its mean path) widened by ``width·ε·√T`` plus a quarter of the
path's range on every inventory axis (makers also by ``T/4`` times the spread of the noise flows
κᵃ + κᵇ over the L range: about half of it is theirs), and ``[min(l₀, m), max(l₀, m)]`` widened
by ``factor_width`` standard deviations of L_T on the factor axis. On an inventory face the
field is extended linearly (``∂²u/∂Q² = 0``: two ghost nodes per face on the line through the
last two nodes, so the outward difference is the inward one; no diffusion across the face): the
decoupling field is close to affine in Q away from the kinks, so this is the natural far-field
condition, and the values' quadratic part only matters where characteristics leave the box. On
the factor faces the OU drift points inwards (no condition is needed for it) and the diffusion
across the face is dropped. States outside the box are extrapolated linearly by
:meth:`LogitPDESolution.feedback`.

Error estimate: the same problem on the nested grid with every other node (``points`` odd);
``|coarse − fine|`` (conservative: the fine grid's error is about a third of it at second
order) by agent in ``diagnostics["estimated_error"]`` (J) and ``["adjoint_estimated_error"]``
(u(0, l₀, q₀)).

Usage::

    game = LogitGame(..., inventory_noise=0.3, factor=dict(...))   # 1 trader + 2 makers
    sol = solve_logit_pde(game, points=17, factor_points=9)
    sol.value                                 # J at t = 0 by agent
    sol.feedback(0.5, inventories, factor=levels)   # vectorised over paths
    sol.diagnostics["estimated_error"]
"""

from __future__ import annotations

import dataclasses
import math
import time as _time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import solve_banded

from policies.equilibrium.blas import single_threaded
from policies.equilibrium.logit import FACTOR_KEYS, LogitGame
from policies.equilibrium.logit_bvp import Feedback, LogitProblem, LogitSolveError, drift
from policies.equilibrium.logit_regression import StochasticLogit

__all__ = ["GRID_OPTIONS", "MAX_AGENTS", "LogitPDESolution", "solve_logit_pde"]

MAX_AGENTS = 3  # 1 trader + 2 makers: with the factor a 4-d grid
MAX_STEPS = 200_000  # a runaway CFL-limited sweep raises instead of running for hours
GRID_OPTIONS = (
    "points",
    "factor_points",
    "steps",
    "cfl",
    "frames",
    "width",
    "factor_width",
    "domain",
    "factor_domain",
    "error_estimate",
)


# --------------------------------------------------------------------------- grid
@dataclass(frozen=True)
class _Grid:
    """Uniform axes: the factor L first (if any), then Q¹..Qⁿ (agents in game order)."""

    axes: tuple[np.ndarray, ...]
    has_factor: bool

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)

    @property
    def steps(self) -> np.ndarray:
        return np.array([a[1] - a[0] for a in self.axes])

    def inventory(self, i: int) -> np.ndarray:
        """Qⁱ broadcast on the grid (ones on the other axes)."""
        k = i + self.has_factor
        shape = [1] * len(self.axes)
        shape[k] = -1
        return self.axes[k].reshape(shape)

    def factor(self) -> np.ndarray:
        shape = [1] * len(self.axes)
        shape[0] = -1
        return self.axes[0].reshape(shape)

    def coarsened(self) -> _Grid:
        """Every other node (the nested grid with half the nodes; odd sizes keep both ends)."""
        return _Grid(tuple(a[::2] for a in self.axes), self.has_factor)


def _interpolate(axes: Sequence[np.ndarray], values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Multilinear interpolation of ``values`` (*grid, c) at ``points`` (M, d), extrapolating
    linearly outside the box (the boundary condition's extension)."""
    m = points.shape[0]
    idx, wts = [], []
    for k, ax in enumerate(axes):
        i = np.clip(np.searchsorted(ax, points[:, k], side="right") - 1, 0, ax.size - 2)
        idx.append(i)
        wts.append((points[:, k] - ax[i]) / (ax[i + 1] - ax[i]))
    out = np.zeros((m, values.shape[-1]))
    for corner in range(1 << len(axes)):
        w = np.ones(m)
        ii = []
        for k in range(len(axes)):
            bit = (corner >> k) & 1
            w = w * (wts[k] if bit else 1.0 - wts[k])
            ii.append(idx[k] + bit)
        out += w[:, None] * values[tuple(ii)]
    return out


# --------------------------------------------------------------------------- the scheme
@dataclass(frozen=True)
class _Setup:
    problem: LogitProblem
    factor: dict | None  # the random factor (volatility > 0), floats
    noise: float  # ε
    horizon: float
    x0: np.ndarray  # (d,) initial state (l₀, q₀)

    def flows(self, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """κᵃ(L), κᵇ(L) at factor levels of any shape (the stochastic game's one definition,
        :meth:`logit_regression.StochasticLogit.flows`)."""
        level = np.asarray(level, dtype=float)
        x = np.zeros((level.size, self.problem.n + 1))
        x[:, -1] = level.ravel()
        model = StochasticLogit(self.problem, self.noise, self.factor)
        a, b = model.flows(0.0, x)
        return a.reshape(level.shape), b.reshape(level.shape)


def _random_factor(game: LogitGame) -> dict[str, float] | None:
    """The factor as floats when it is random (volatility > 0), else None (a zero-volatility
    factor is deterministic: ``game.problem`` has κ(L(t)) along its path)."""
    if game.factor is None or float(game.factor["volatility"]) == 0.0:
        return None
    return {k: float(game.factor[k]) for k in FACTOR_KEYS}


def _minmod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(a * b > 0, np.sign(a) * np.minimum(np.abs(a), np.abs(b)), 0.0)


def _upwind(w: np.ndarray, axis: int, h: float, velocity: np.ndarray) -> np.ndarray:
    """``velocity·∂w`` along ``axis`` by the limited second-order upwind difference of the
    backward equation: where velocity > 0, ``D⁺ᵢ − ½·minmod(D⁺ᵢ₊₁ − D⁺ᵢ, D⁺ᵢ − D⁺ᵢ₋₁)`` (the
    three-point one-sided formula where the curvature is smooth, the monotone first-order
    difference at kinks — the truncations' — and extrema), the mirror image where < 0. The array
    is padded with two ghost nodes per face by linear extension (``∂²w = 0``: at a face the
    outward difference is the inward one). ``w`` (*grid, c), ``velocity`` (*grid)."""
    first, second = np.take(w, [0], axis), np.take(w, [1], axis)
    last, before = np.take(w, [-1], axis), np.take(w, [-2], axis)
    lo_slope, hi_slope = first - second, last - before
    p = np.concatenate(
        [first + 2 * lo_slope, first + lo_slope, w, last + hi_slope, last + 2 * hi_slope], axis
    )
    size = w.shape[axis]
    dp = np.diff(p, axis=axis) / h  # dp[k] = (p[k+1] − p[k])/h; node i is p[i + 2]

    def sl(k: int) -> np.ndarray:  # (w_{i+k+1} − w_{i+k})/h for i = 0..size−1
        return np.take(dp, np.arange(2 + k, 2 + k + size), axis)

    d_fwd, d_bwd = sl(0), sl(-1)
    fwd = d_fwd - 0.5 * _minmod(sl(1) - d_fwd, d_fwd - d_bwd)
    bwd = d_bwd + 0.5 * _minmod(d_bwd - sl(-2), d_fwd - d_bwd)
    v = velocity[..., None]
    return np.maximum(v, 0.0) * fwd + np.minimum(v, 0.0) * bwd


def _crank_nicolson(w: np.ndarray, axis: int, r: float) -> np.ndarray:
    """One Crank–Nicolson step of ``∂τw = (r/dt)·h²∂²w`` along ``axis`` (``r = dt·½ε²/h²``):
    ``(I − ½rδ²)w' = (I + ½rδ²)w`` with no diffusion across the faces (their rows: identity);
    the tridiagonal system by ``solve_banded`` on all lines at once."""
    moved = np.moveaxis(w, axis, 0)
    shape = moved.shape
    flat = moved.reshape(shape[0], -1)
    rhs = flat.copy()
    rhs[1:-1] += 0.5 * r * (flat[2:] - 2.0 * flat[1:-1] + flat[:-2])
    n = shape[0]
    ab = np.zeros((3, n))
    ab[1] = 1.0 + r
    ab[0, 2:] = -0.5 * r
    ab[2, :-2] = -0.5 * r
    ab[1, [0, -1]] = 1.0
    out = solve_banded((1, 1), ab, rhs, check_finite=False)
    return np.moveaxis(out.reshape(shape), 0, axis)


class _Run:
    """One backward sweep on one grid: frames of u, and V at t = 0.

    Each step ``t → t − dt``: Strang splitting, half a Crank–Nicolson diffusion step per axis,
    the explicit convection and sources by Heun's method (SSP-RK2; coefficients at the step's
    midpoint), the other half diffusion step. Second order in h and dt where the field is
    smooth; first order near the truncations' kinks and at the faces."""

    def __init__(self, setup: _Setup, grid: _Grid, frames: np.ndarray, min_steps: int, cfl: float):
        self.setup, self.grid = setup, grid
        self.flows = setup.flows(grid.factor()) if grid.has_factor else None
        n, T = setup.problem.n, setup.horizon
        q = [grid.inventory(i) for i in range(n)]
        self.q = q
        a = setup.problem.terminal
        u = np.stack([np.broadcast_to(-2.0 * a[i] * q[i], grid.shape) for i in range(n)], -1)
        v = np.stack([np.broadcast_to(-a[i] * q[i] ** 2, grid.shape) for i in range(n)], -1)
        w = np.concatenate([u, v], -1)
        stops = np.unique(np.r_[frames, [b for b in setup.problem.breakpoints if 0 < b < T]])
        saved = {frames.size - 1: w[..., :n].copy()}
        frame_of = {float(t): k for k, t in enumerate(frames)}
        t, steps, courant = T, 0, 0.0
        dt_max = T / min_steps
        j = stops.size - 2  # next stop below t
        speed = self._operator(w, T)[1]
        while j >= 0:
            if steps >= MAX_STEPS:
                raise LogitSolveError(
                    f"more than {MAX_STEPS} time steps by t = {t:.6g}: the drift's Courant "
                    f"speed {speed:.3g} is too large for this grid"
                )
            dt = min(dt_max, cfl / speed if speed > 0 else math.inf, t - stops[j])
            if t - dt - stops[j] < 1e-9 * dt_max:
                dt = t - stops[j]
            tm = t - 0.5 * dt
            half = self._diffuse(w, 0.5 * dt)
            rate1, speed1 = self._operator(half, tm)
            if dt * speed1 > 1.25 * cfl:  # the speed grew: redo the step shorter
                speed = speed1
                continue
            w1 = half + dt * rate1
            rate2, speed2 = self._operator(w1, tm)
            w = self._diffuse(0.5 * (half + w1 + dt * rate2), 0.5 * dt)
            speed = max(speed1, speed2)
            courant = max(courant, dt * speed)
            t -= dt
            steps += 1
            if t - stops[j] <= 1e-9 * dt_max:
                t = float(stops[j])
                if t in frame_of:
                    saved[frame_of[t]] = w[..., :n].copy()
                j -= 1
        if not np.all(np.isfinite(w)):
            raise LogitSolveError("the grid solution is not finite")
        self.u = np.stack([saved[k] for k in range(frames.size)])
        self.v0 = w[..., n:]
        self.steps = steps
        self.courant = courant

    def _operator(self, w: np.ndarray, t: float) -> tuple[np.ndarray, float]:
        """The explicit part ``f·∇w + θ(m − L)∂_L w + sources`` (the time derivative of the
        backward sweep) and the Courant speed ``max Σₖ|velocityₖ|/hₖ``."""
        setup, grid, n = self.setup, self.grid, self.setup.problem.n
        d = drift(setup.problem, t, w[..., :n], flows=self.flows)
        hs = grid.steps
        off = int(grid.has_factor)
        velocities = [(i + off, d.dq[..., i]) for i in range(n)]
        if grid.has_factor:
            f = setup.factor
            gamma = f["reversion"] * (f["mean"] - grid.factor())
            velocities.append((0, np.broadcast_to(gamma, grid.shape)))
        speed = float(np.max(sum(np.abs(vel) / hs[k] for k, vel in velocities)))
        if not math.isfinite(speed):
            raise LogitSolveError(f"the drift is not finite at t = {t:.6g}")
        phi = np.asarray(setup.problem.phi(np.asarray(t)), dtype=float)
        q = self.q
        src = np.stack(
            [np.broadcast_to(-2.0 * phi[i] * q[i], grid.shape) for i in range(n)]
            + [d.payoff[..., i] - phi[i] * q[i] ** 2 for i in range(n)],
            -1,
        )
        conv = sum(_upwind(w, k, hs[k], vel) for k, vel in velocities)
        return conv + src, speed

    def _diffuse(self, w: np.ndarray, dt: float) -> np.ndarray:
        grid, hs = self.grid, self.grid.steps
        off = int(grid.has_factor)
        eps = self.setup.noise
        if eps > 0:
            for i in range(self.setup.problem.n):
                w = _crank_nicolson(w, i + off, dt * 0.5 * eps**2 / hs[i + off] ** 2)
        if grid.has_factor and self.setup.factor["volatility"] > 0:
            sig = self.setup.factor["volatility"]
            w = _crank_nicolson(w, 0, dt * 0.5 * sig**2 / hs[0] ** 2)
        return w

    def value(self, x0: np.ndarray) -> np.ndarray:
        return _interpolate(self.grid.axes, self.v0, x0[None, :])[0]

    def adjoint0(self, x0: np.ndarray) -> np.ndarray:
        return _interpolate(self.grid.axes, self.u[0], x0[None, :])[0]


# --------------------------------------------------------------------------- public
@dataclass
class LogitPDESolution:
    """The grid solution of a (stochastic) :class:`LogitGame`.

    ``value``: J at t = 0 by agent (P₀ = 0); ``time``: the output frames; ``axes``: the grid
    (the ``factor`` axis first when the factor is random, then one inventory axis per agent);
    ``adjoint_field``: u on the grid at each frame, (frames, *grid, n). ``feedback(t, Q, L)``:
    the field interpolated (linear in t and in each state variable) and the controls there.
    ``diagnostics``: grid, time steps, Courant number, domain, estimated errors (nested grid).
    """

    game: LogitGame
    time: np.ndarray
    axes: tuple[np.ndarray, ...]
    adjoint_field: np.ndarray
    value: pd.Series
    diagnostics: dict[str, Any]
    _setup: _Setup = field(repr=False)

    def adjoint_at(self, t: float, inventories: np.ndarray, factor: Any = None) -> np.ndarray:
        """u(t, L, Q) for inventories (M, n) and factor levels (M,) (or a float)."""
        pb = self._setup.problem
        if not (0.0 <= t <= pb.horizon):
            raise ValueError(f"t = {t!r}: must lie in [0, {pb.horizon}]")
        q = np.atleast_2d(np.asarray(inventories, dtype=float))
        if q.ndim != 2 or q.shape[-1] != pb.n:
            raise ValueError(
                f"inventories: shape {q.shape}; expected (M, {pb.n}) (traders then makers)"
            )
        if self._setup.factor is None:
            if factor is not None:
                raise ValueError(
                    "factor: this game has no random factor (none, or volatility 0); pass "
                    "factor=None"
                )
            x = q
        else:
            x = np.column_stack([self._levels(factor, q.shape[0]), q])
        if not np.all(np.isfinite(x)):
            raise ValueError("inventories / factor: every state must be finite")
        k = int(np.clip(np.searchsorted(self.time, t, side="right") - 1, 0, self.time.size - 2))
        a = (t - self.time[k]) / (self.time[k + 1] - self.time[k])
        lo = _interpolate(self.axes, self.adjoint_field[k], x)
        hi = _interpolate(self.axes, self.adjoint_field[k + 1], x)
        return (1.0 - a) * lo + a * hi

    def _levels(self, factor: Any, m: int) -> np.ndarray:
        if factor is None:
            raise ValueError("factor: this game has a random factor L; pass its level(s) (M,)")
        level = np.asarray(factor, dtype=float).reshape(-1)
        if level.size not in (1, m):
            raise ValueError(f"factor: {level.size} levels for {m} paths; pass one or {m}")
        return np.broadcast_to(level, (m,))

    def feedback(self, t: float, inventories: np.ndarray, factor: Any = None) -> Feedback:
        """Equilibrium adjoints and controls at time t for inventories (M, n) (one row per path,
        agents in game order) and the factor levels (M,) (None without a factor): ``Y = u(t,
        L, Q)`` then ϕ, ψᵃ, ψᵇ of Theorem 5.4 at Y with the noise rates κ(L)."""
        y = self.adjoint_at(t, inventories, factor)
        flows = None
        if self._setup.factor is not None:
            flows = self._setup.flows(self._levels(factor, y.shape[0]))
        d = drift(self._setup.problem, t, y, flows=flows)
        return Feedback(y, d.rate, d.ask, d.bid)


def _positive_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} = {value!r}: expected an integer ≥ {low}")
    return int(value)


def _positive_float(name: str, value: Any, high: float = math.inf) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {value!r}: expected a number") from None
    if not (math.isfinite(x) and 0 < x <= high):
        raise ValueError(f"{name} = {value!r}: expected a number in (0, {high}]")
    return x


def _check_box(name: str, box: Any, contains: float) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in box)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {box!r}: expected a pair (low, high)") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} = {box!r}: expected finite low < high")
    if not lo <= contains <= hi:
        raise ValueError(f"{name} = {box!r}: must contain the initial state {contains!r}")
    return lo, hi


def _deterministic_twin(game: LogitGame) -> LogitGame:
    """The game with ε = 0 and the factor at zero volatility (its mean path)."""
    f = game.factor
    return dataclasses.replace(
        game, inventory_noise=0.0, factor=None if f is None else {**f, "volatility": 0.0}
    )


def _default_domain(
    game: LogitGame, setup: _Setup, width: float, factor_box: tuple[float, float] | None
) -> list[tuple[float, float]]:
    """Inventory boxes around the deterministic path (see the module docstring)."""
    pb, T = game.problem, game.problem.horizon
    path = _deterministic_twin(game).solve().inventory
    lo, hi = path.min(0), path.max(0)
    pad = width * game.inventory_noise * math.sqrt(T) + 0.25 * np.maximum(hi - lo, 1.0)
    if factor_box is not None:
        spread = sum(np.ptp(k) for k in setup.flows(np.linspace(*factor_box, 33)))
        pad[pb.n_traders :] += 0.25 * T * spread
    return [(float(a - p), float(b + p)) for a, b, p in zip(lo, hi, pad, strict=True)]


def _default_factor_box(f: dict, T: float, width: float) -> tuple[float, float]:
    th, sig = f["reversion"], f["volatility"]
    var = sig**2 * ((1.0 - math.exp(-2.0 * th * T)) / (2.0 * th) if th > 0 else T)
    sd = math.sqrt(var)
    lo, hi = min(f["initial"], f["mean"]), max(f["initial"], f["mean"])
    if hi - lo < 1e-9 and sd == 0:
        sd = 1.0  # a constant factor: any box around it
    return lo - width * max(sd, 1e-3), hi + width * max(sd, 1e-3)


@single_threaded
def solve_logit_pde(
    game: LogitGame,
    *,
    points: int | Sequence[int] = 17,
    factor_points: int = 9,
    steps: int = 20,
    cfl: float = 0.4,
    frames: int = 41,
    width: float = 4.0,
    factor_width: float = 4.0,
    domain: Sequence[tuple[float, float]] | None = None,
    factor_domain: tuple[float, float] | None = None,
    error_estimate: bool = True,
) -> LogitPDESolution:
    """The equilibrium of a §5 game with at most :data:`MAX_AGENTS` agents by the grid PDE of
    the decoupling field (see the module docstring); deterministic games too (ε = 0: the
    hyperbolic limit).

    ``points``: nodes per inventory axis (odd ≥ 5; one for all axes or one per agent);
    ``factor_points``: nodes on the factor axis (odd ≥ 5; only a random factor, volatility > 0,
    is a state variable: a zero-volatility factor gives κ(L(t)) along its path); ``steps``:
    at least this many time steps (the CFL bound ``cfl`` may ask for more); ``frames``: output
    times of the feedback (uniform, ≥ 2); ``domain`` (one (low, high) per agent) and
    ``factor_domain`` replace the default boxes (``width`` ε√T, ``factor_width`` standard
    deviations); ``error_estimate``: also solve on the nested grid with half the nodes and
    report ``|coarse − fine|`` in ``diagnostics``. Raises ValueError for bad input,
    :class:`LogitSolveError` when the sweep fails.
    """
    if not isinstance(game, LogitGame):
        raise ValueError(f"game = {game!r}: expected a LogitGame")
    pb = game.problem
    n, T = pb.n, pb.horizon
    if n > MAX_AGENTS:
        raise ValueError(
            f"the game has {n} agents: the grid PDE handles at most {MAX_AGENTS} (1 trader + 2 "
            "makers; with the factor a 4-d grid); larger games need a method that scales with "
            "the number of agents"
        )
    if isinstance(points, (int, np.integer)) and not isinstance(points, bool):
        pts = [points] * n
    else:
        pts = list(points) if isinstance(points, Sequence) else [points]
        if len(pts) != n:
            raise ValueError(f"points = {points!r}: one integer or one per agent ({n})")
    pts = [_odd("points", p) for p in pts]
    _positive_int("steps", steps, 1)
    frames = _positive_int("frames", frames, 2)
    cfl = _positive_float("cfl", cfl, 1.0)
    width = _positive_float("width", width)
    factor_width = _positive_float("factor_width", factor_width)
    f = _random_factor(game)
    q0 = np.asarray(game.initial_inventories, dtype=float)
    setup = _Setup(
        pb, f, float(game.inventory_noise), T, np.r_[[] if f is None else [f["initial"]], q0]
    )
    axes: list[np.ndarray] = []
    factor_box = None
    if f is not None:
        fp = _odd("factor_points", factor_points)
        if factor_domain is None:
            factor_box = _default_factor_box(f, T, factor_width)
        else:
            factor_box = _check_box("factor_domain", factor_domain, f["initial"])
        if not factor_box[0] < f["mean"] < factor_box[1] and f["reversion"] > 0:
            raise ValueError(
                f"factor_domain = {factor_box!r}: must contain the factor's mean "
                f"{f['mean']!r} inside (the OU drift must point inwards on its faces)"
            )
        axes.append(np.linspace(*factor_box, fp))
    if domain is None:
        boxes = _default_domain(game, setup, width, factor_box)
    else:
        if not isinstance(domain, Sequence) or len(domain) != n:
            raise ValueError(f"domain = {domain!r}: one (low, high) per agent ({n})")
        boxes = [_check_box(f"domain[{i}]", b, q0[i]) for i, b in enumerate(domain)]
    axes += [np.linspace(lo, hi, p) for (lo, hi), p in zip(boxes, pts, strict=True)]
    grid = _Grid(tuple(axes), f is not None)
    out_times = np.linspace(0.0, T, frames)
    start = _time.perf_counter()
    fine = _Run(setup, grid, out_times, steps, cfl)
    elapsed = _time.perf_counter() - start
    values = fine.value(setup.x0)
    diag: dict[str, Any] = {
        "method": "grid PDE (upwind convection, implicit diffusion, Lie splitting)",
        "grid": {"shape": grid.shape, "step": grid.steps.tolist()},
        "domain": [(float(a[0]), float(a[-1])) for a in grid.axes],
        "axes": (["factor"] if f is not None else []) + list(game.names),
        "time_steps": fine.steps,
        "courant": fine.courant,
        "order": "2 where the field is smooth, 1 at the truncations' kinks",
        "seconds": elapsed,
        "boundary": "linear extension on inventory faces; inward OU drift on factor faces",
    }
    if error_estimate:
        coarse = _Run(setup, grid.coarsened(), out_times, max(1, steps // 2), cfl)
        dv = np.abs(coarse.value(setup.x0) - values)
        dy = np.abs(coarse.adjoint0(setup.x0) - fine.adjoint0(setup.x0))
        diag["estimated_error"] = pd.Series(dv, index=pd.Index(game.names, name="agent"))
        diag["adjoint_estimated_error"] = pd.Series(dy, index=pd.Index(game.names, name="agent"))
        diag["coarse_grid"] = coarse.grid.shape
    if not np.all(np.isfinite(values)):
        raise LogitSolveError("the grid values are not finite")
    return LogitPDESolution(
        game=game,
        time=out_times,
        axes=grid.axes,
        adjoint_field=fine.u,
        value=pd.Series(values, index=pd.Index(game.names, name="agent"), name="value"),
        diagnostics=diag,
        _setup=setup,
    )


def _odd(name: str, value: Any) -> int:
    p = _positive_int(name, value, 5)
    if p % 2 == 0:
        raise ValueError(f"{name} = {value!r}: expected an odd integer ≥ 5 (nested grids)")
    return p
