"""The N-trader optimal-execution game of Guo & Jin §2: equilibrium, feedback, open-loop policies.

Trader i holds ``Qⁱ = q₀ⁱ + ∫vⁱ``; the market price is ``S = P + ∫ α/N Σ_j vʲ dt + ϖ`` with the
noise drift ``ϖ_t = ∫₀ᵗ α (buy − sell) ds`` (buy pressure pushes the price up) and trader i pays
``S + β/N (vⁱ + π Σ_{j≠i} vʲ)`` (Remark 2.1(3); π = 1 is the paper's aggregated impact), or
with one βⁱ per trader (``temporary_impact`` a sequence: the individual λⁱ of §3)
``S + βⁱ/N (vⁱ + π Σ_{j≠i} vʲ)``. With P₀ = 0 its objective is (paper p. 5, after integration by
parts)

    Jⁱ = E[∫ (Qⁱ α/N Σv − βⁱ/N vⁱ(vⁱ + πΣ_{j≠i}vʲ) − vⁱϖ − φⁱ(Qⁱ)²) dt + Qⁱ_T ϖ_T − Aⁱ(Qⁱ_T)²].

The Nash equilibrium (Thm 2.5) is ``v = D Y + E Q − N/(c_π β)·w`` (eq. (2)) with (Q, Y) solving
FBSDE (3); :mod:`policies.equilibrium.execution_riccati` solves its decoupling ``Y = R Q + H``
(Thm 2.7) by class structure. Usage::

    game = ExecutionGame(horizon=1.0, permanent_impact=0.3, temporary_impact=0.5,
                         running_penalty=[0.2, 0.5, 0.1], terminal_penalty=[1.0, 2.0, 0.5],
                         initial_inventory=[5.0, -3.0, 2.0], noise_buy_rate=0.1,
                         noise_sell_rate=0.3)
    sol = game.solve()
    sol.value                     # Jⁱ with P₀ = 0, per agent
    sol.feedback(0.5, q)          # rates at t = 0.5, q of shape (N,) or (M, N)

**ϖ in the feedback.** With deterministic noise rates ϖ is deterministic, but the simulator
reports the realised ϖ (``MarketState.noise_drift``, random in Poisson mode). Because the noise
increments are independent of the past with deterministic mean, the conditional expectation of
future ϖ given ϖ_t is ϖ_t + (ϖ̄_s − ϖ̄_t); H of Thm 2.7 is linear in the future of w, and a constant
shift δ of ϖ shifts H by exactly δ·1 (Γ ≡ 1 solves the H equation with w ≡ 1: a constant price
shift adds δ·Qⁱ_t to every objective whatever the controls). So ``Y = R Q + H̄ + (ϖ_t − ϖ̄_t)·1``
at the realised ϖ_t, and in eq. (2) the level of ϖ cancels (``D·1 = N/(c_π β)·1``): the rate
depends on the expected future drift of ϖ only. The policies evaluate exactly this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd

from policies.base import MarketState, Policy
from policies.equilibrium.blas import single_threaded
from policies.equilibrium.coefficients import Coefficient as Coef
from policies.equilibrium.coefficients import (
    CoefficientValue,
    check_on_grid,
    split_temporary_impact,
)
from policies.equilibrium.execution_propagator import solve_structured_exponential
from policies.equilibrium.execution_riccati import (
    DenseField,
    ImpactCoefficients,
    RiccatiBlowUpError,
    StructuredField,
    TraderClasses,
    solve_dense,
    solve_structured_ode,
)
from policies.equilibrium.protocol import PolicyTable

__all__ = [
    "ExecutionGame",
    "ExecutionSolution",
    "RiccatiBlowUpError",
]

Coefficient = CoefficientValue


def _per_trader(name: str, value: float | Sequence[float], n: int) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(
            f"{name} has {arr.size} values {np.asarray(value).tolist()!r}; allowed: a scalar or "
            f"one value per trader ({n}, the length of initial_inventory)"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} = {arr.tolist()!r}: values must be finite")
    return arr


@dataclass(frozen=True)
class ExecutionGame:
    """The §2 execution game with deterministic coefficients (Guo & Jin, FBSDE (3)).

    ``permanent_impact`` α ≥ 0 and ``temporary_impact`` β > 0: float, callable t ↦ float or
    :class:`Profile`; ``temporary_impact`` may also be one βⁱ > 0 per trader (a sequence);
    ``running_penalty`` φⁱ ≥ 0, ``terminal_penalty`` Aⁱ ≥ 0: scalar or one per trader;
    ``initial_inventory`` q₀ (length N); noise rates ≥ 0: float, callable, or a tuple giving a
    piecewise-constant profile on equal sub-intervals of [0, T]; ``cross_impact`` π ∈ [0, 2).
    """

    horizon: float
    permanent_impact: Coefficient
    temporary_impact: Coefficient | Sequence[float]
    running_penalty: float | Sequence[float]
    terminal_penalty: float | Sequence[float]
    initial_inventory: Sequence[float]
    noise_buy_rate: Coefficient = 0.0
    noise_sell_rate: Coefficient = 0.0
    cross_impact: float = 1.0
    names: Sequence[str] | None = None
    coefficients: ImpactCoefficients = field(init=False, repr=False)
    impact_scale: np.ndarray | None = field(init=False, repr=False)
    """sⁱ with βⁱ(t) = β(t)·sⁱ (``coefficients.beta`` is β(t)); None when β is shared."""

    def __post_init__(self) -> None:
        t_end = self.horizon
        if not (isinstance(t_end, (int, float)) and np.isfinite(t_end) and t_end > 0):
            raise ValueError(f"horizon = {t_end!r}; allowed: a finite number > 0")
        q0 = np.asarray(self.initial_inventory, dtype=float)
        if q0.ndim != 1 or len(q0) == 0 or not np.all(np.isfinite(q0)):
            raise ValueError(
                f"initial_inventory = {self.initial_inventory!r}; allowed: a non-empty sequence "
                "of finite numbers (one per trader)"
            )
        n = len(q0)
        phi = _per_trader("running_penalty", self.running_penalty, n)
        a_pen = _per_trader("terminal_penalty", self.terminal_penalty, n)
        for name, arr in (("running_penalty", phi), ("terminal_penalty", a_pen)):
            if np.any(arr < 0):
                raise ValueError(f"{name} = {arr.tolist()!r}; allowed: values ≥ 0 (paper §2)")
        pi = float(self.cross_impact)
        if not 0.0 <= pi < 2.0:
            raise ValueError(f"cross_impact = {pi!r}; allowed: π ∈ [0, 2) (Remark 2.1(3))")
        if self.names is not None:
            names = tuple(self.names)
            if len(names) != n or len(set(names)) != n:
                raise ValueError(f"names = {names!r}; allowed: {n} distinct names")
            object.__setattr__(self, "names", names)
        beta, scale = split_temporary_impact(self.temporary_impact, n)
        co = ImpactCoefficients(
            alpha=Coef.build("permanent_impact", self.permanent_impact, t_end),
            beta=Coef.build("temporary_impact", beta, t_end),
            buy=Coef.build("noise_buy_rate", self.noise_buy_rate, t_end),
            sell=Coef.build("noise_sell_rate", self.noise_sell_rate, t_end),
            traders=n,
            cross_impact=pi,
        )
        grid = self._check_times(co)
        for coef, strict, allowed in (
            (co.beta, True, "β(t) > 0 on [0, T] (Assumption 2.4)"),
            (co.alpha, False, "α(t) ≥ 0 on [0, T] (paper §2)"),
            (co.buy, False, "noise rates ≥ 0"),
            (co.sell, False, "noise rates ≥ 0"),
        ):
            check_on_grid(None, coef, t_end, 0.0, strict, allowed=allowed, grid=grid)
        object.__setattr__(self, "initial_inventory", q0)
        object.__setattr__(self, "running_penalty", phi)
        object.__setattr__(self, "terminal_penalty", a_pen)
        object.__setattr__(self, "coefficients", co)
        object.__setattr__(self, "impact_scale", scale)

    def _check_times(self, co: ImpactCoefficients | None = None) -> np.ndarray:
        co = co or self.coefficients
        eps = 1e-9 * self.horizon
        extra = [b + s for b in co.breakpoints for s in (-eps, 0.0)]
        return np.unique(np.concatenate([np.linspace(0.0, self.horizon, 401), extra]))

    # ----------------------------------------------------------------------------------------
    @property
    def traders(self) -> int:
        return len(self.initial_inventory)

    @cached_property
    def agent_names(self) -> tuple[str, ...]:
        """``names``, or ``trader_0, trader_1, …`` (built on first use: N may be 10⁶)."""
        if self.names is not None:
            return tuple(self.names)
        return tuple(f"trader_{i}" for i in range(self.traders))

    # ----------------------------------------------------------------------------------------
    def classes(self) -> TraderClasses:
        """Traders with equal (φⁱ, Aⁱ, βⁱ) (the only trader data entering R and H)."""
        return self._classes

    @cached_property
    def _classes(self) -> TraderClasses:
        return TraderClasses.detect(self.running_penalty, self.terminal_penalty, self.impact_scale)

    def trader_impact(self, t: Any) -> np.ndarray:
        """βⁱ(t) of every trader: shape (N,) at a scalar t, (len(t), N) at an array of times."""
        beta = np.asarray(self.coefficients.beta(t), dtype=float)[..., None]
        if self.impact_scale is None:
            return np.broadcast_to(beta, (*beta.shape[:-1], self.traders))
        return beta * self.impact_scale

    def conditions(self) -> dict[str, bool]:
        """Which of the paper's sufficient conditions hold (checked on a grid of [0, T]).

        * ``assumption_2_4``: βⁱ ≥ C > 0 and 4Nβⁱφⁱ ≥ α² for all i, t (concave Hamiltonians);
        * ``theorem_2_7``: α ≡ 0, or homogeneous (φⁱ, Aⁱ) with 2(N+1)βφ ≥ α² (proved for π = 1);
        * ``theorem_2_10``: α ≥ C > 0, Aⁱ > C, φⁱ − (N+1)α²/(8Nβ) ≥ C (proved for π = 1);
        * ``cross_impact_is_paper``: π = 1 (the theorems' setting; other π use the same FOC).
        Theorems 2.7 and 2.10 are proved for a β shared by all traders: with unequal βⁱ they are
        reported False (the solver then also checks the Riccati solution inside each step).
        Failure does not stop :meth:`solve`; a Riccati blow-up does.
        """
        co = self.coefficients
        grid = self._check_times()
        a = np.asarray(co.alpha(grid), dtype=float)
        b = np.asarray(co.beta(grid), dtype=float)
        n = self.traders
        shared = self.impact_scale is None
        homogeneous = self.classes().count == 1
        phi = float(np.min(self.running_penalty))  # every condition is monotone in φⁱ
        # Assumption 2.4 on min_i sⁱφⁱ (βⁱφⁱ = β sⁱφⁱ)
        s_phi = phi if shared else float(np.min(self.impact_scale * self.running_penalty))
        return {
            "assumption_2_4": bool(np.min(b) > 0 and np.all(4 * n * b * s_phi >= a * a)),
            "theorem_2_7": shared
            and bool(np.all(a == 0) or (homogeneous and np.all(2 * (n + 1) * b * phi >= a * a))),
            "theorem_2_10": shared
            and bool(
                np.min(a) > 0
                and np.min(self.terminal_penalty) > 0
                and np.min(phi - (n + 1) * a * a / (8 * n * b)) > 0
            ),
            "cross_impact_is_paper": co.cross_impact == 1.0,
        }

    @single_threaded
    def solve(
        self,
        method: Literal["structured", "dense"] = "structured",
        rtol: float = 1e-10,
        atol: float = 1e-12,
        output_points: int = 101,
        integrator: Literal["auto", "exponential", "dop853"] = "auto",
    ) -> ExecutionSolution:
        """Solve Thm 2.7's Riccati/linear ODEs and the closed-loop path; see the module doc.

        ``method="structured"`` works with the K trader classes (K + K² + K unknowns) with the
        exact exponential propagator (piecewise-constant coefficients) or DOP853 (callables),
        see ``integrator``; ``"dense"`` integrates the N×N system with DOP853 (small N,
        cross-check). ``rtol``/``atol``: DOP853 tolerances on every unknown. Raises
        :class:`RiccatiBlowUpError` on blow-up.
        """
        if method not in ("structured", "dense"):
            raise ValueError(f"method = {method!r}; allowed: 'structured', 'dense'")
        if not (0 < rtol < 1 and 0 < atol):
            raise ValueError(f"rtol = {rtol!r}, atol = {atol!r}; allowed: 0 < rtol < 1, atol > 0")
        co, t_end = self.coefficients, float(self.horizon)
        q0 = self.initial_inventory
        if method == "dense":
            cl = TraderClasses.singletons(
                self.running_penalty, self.terminal_penalty, self.impact_scale
            )
            fld = solve_dense(
                co,
                self.running_penalty,
                self.terminal_penalty,
                t_end,
                q0,
                rtol,
                atol,
                cl.impact_scale,
            )
            value = fld.value
        else:
            cl = self.classes()
            mean0 = cl.sums(q0) / cl.sizes
            cond = self.conditions()
            careful = not (
                cond["cross_impact_is_paper"] and (cond["theorem_2_7"] or cond["theorem_2_10"])
            )
            fld = _solve_structured(co, cl, t_end, mean0, rtol, atol, integrator, careful)
            qa, qb, qc = fld.value_coefficients
            delta = q0 - cl.expand(mean0)
            lab = cl.labels
            value = qa[lab] + qb[lab] * delta + qc[lab] * delta**2
        return ExecutionSolution(
            game=self,
            method=method,
            classes=cl,
            solution=fld,
            values=value,
            output_points=output_points,
        )


def _solve_structured(
    co: ImpactCoefficients,
    cl: TraderClasses,
    horizon: float,
    mean0: np.ndarray,
    rtol: float,
    atol: float,
    integrator: str,
    careful: bool,
) -> StructuredField:
    """Exact propagators (``"exponential"``, default for piecewise-constant coefficients) or
    DOP853 (``"dop853"``, default for callables) on the class system."""
    timed = any(p.function is not None for p in (co.alpha, co.beta, co.buy, co.sell))
    if integrator == "auto":
        integrator = "dop853" if timed else "exponential"
    if integrator == "exponential":
        if timed:
            raise ValueError(
                "integrator = 'exponential'; allowed only with constant or piecewise-constant "
                "coefficients (use 'dop853' for callables)"
            )
        return solve_structured_exponential(co, cl, horizon, mean0, careful=careful)
    if integrator == "dop853":
        return solve_structured_ode(co, cl, horizon, mean0, rtol, atol)
    raise ValueError(f"integrator = {integrator!r}; allowed: 'auto', 'exponential', 'dop853'")


@dataclass
class ExecutionSolution(PolicyTable):
    """Equilibrium of the §2 game: decoupling field, path, values (P₀ = 0) and policies
    (the :class:`~policies.equilibrium.protocol.Solution` protocol; ``feedback`` gives the
    rates (2) as an (M, N) array).

    ``solution``: the raw field (:class:`StructuredField` or :class:`DenseField`);
    ``riccati_steps``: its backward steps; ``conditions``: the paper's conditions
    (:meth:`ExecutionGame.conditions`); ``diagnostics``: all of these in one dict.
    """

    game: ExecutionGame
    method: str
    classes: TraderClasses
    solution: StructuredField | DenseField
    values: np.ndarray
    output_points: int = 101
    _path: pd.DataFrame | None = field(default=None, repr=False)
    # per-step caches shared by the N trader policies (all N read the same step's rates):
    # (t, dt, rates) of the open-loop schedule, and (inventories buffer, step, t, rates) of the
    # feedback map; see _step_feedback
    _step_schedule: tuple[float, float, np.ndarray] | None = field(default=None, repr=False)
    _step_rates: tuple[np.ndarray, int, float, np.ndarray] | None = field(default=None, repr=False)

    @cached_property
    def value(self) -> pd.Series:
        """Jⁱ with P₀ = 0 per agent (``values`` is the same as an array)."""
        return pd.Series(self.values, index=list(self.names), name="value")

    @property
    def conditions(self) -> dict[str, bool]:
        return self.game.conditions()

    @property
    def riccati_steps(self) -> int:
        return self.solution.steps

    @property
    def diagnostics(self) -> dict[str, Any]:
        """Method, integrator, backward steps, trader classes and the paper's conditions."""
        return {
            "method": self.method,
            "integrator": self.integrator,
            "riccati_steps": self.riccati_steps,
            "classes": self.classes.count,
            "conditions": self.conditions,
        }

    @property
    def integrator(self) -> str:
        return self.solution.integrator

    @property
    def names(self) -> tuple[str, ...]:
        return self.game.agent_names

    # ---- decoupling field ------------------------------------------------------------------
    def noise_drift(self, t: float) -> float:
        """ϖ̄(t) = ∫₀ᵗ α (buy − sell) ds (deterministic)."""
        return float(self.solution.path(t)[-1])

    def _excess_adjoint(self, t: float, q: np.ndarray) -> np.ndarray:
        """Ỹ = Y − ϖ = R(t) Q + Z(t), class-structured: O(N + K²) per row."""
        if self.method == "dense":
            r_mat, z = self.solution.field(t)
            return q @ r_mat.T + z
        cl = self.classes
        r, m, z = self.solution.field(t)
        c_mat = (m - np.diag(r)) / cl.sizes[None, :]  # R = diag(r_c) + U C Uᵀ
        sums = cl.sums(q)
        return cl.expand(r) * q + cl.expand(sums @ c_mat.T + z)

    def adjoint(self, t: float, inventory: np.ndarray, noise_drift: Any = None) -> np.ndarray:
        """Y = R(t) Q + H(t) with H = Z + ϖ at the realised ϖ (default ϖ̄(t)); see module doc."""
        q = self._inventory(inventory)
        w = self._drift_level(t, noise_drift, q)
        return self._excess_adjoint(t, q) + w

    def feedback(self, t: float, inventory: np.ndarray) -> np.ndarray:
        """Equilibrium rates (2): ``v = D (Y − ϖ) + E Q`` at inventories (N,) or (M, N).

        The level of the realised ϖ_t cancels exactly (module doc: Y shifts by ϖ_t·1), so the
        rates are evaluated at ϖ = 0: ``v = D Ỹ + E Q`` with ``Ỹ = Y − ϖ``, the same for every
        realisation of ϖ_t. With one βⁱ per trader D and E act on Ỹ/s and Q/s (S⁻¹).
        """
        q = self._inventory(inventory)
        y = self._excess_adjoint(t, q)
        co = self.game.coefficients
        s_d, s_e, c, _, _ = co.scalars(t)
        scale = self.game.impact_scale
        if scale is not None:
            y, q = y / scale, q / scale
        sy = y.sum(axis=-1, keepdims=True)
        sq = q.sum(axis=-1, keepdims=True)
        return s_d * (y - c * sy) + s_e * (q - c * sq)

    def _inventory(self, inventory: np.ndarray) -> np.ndarray:
        q = np.asarray(inventory, dtype=float)
        n = self.game.traders
        if q.shape[-1:] != (n,) or q.ndim > 2:
            raise ValueError(
                f"inventory has shape {q.shape}; allowed: ({n},) or (M, {n}) (one column per "
                "trader)"
            )
        return q

    def _drift_level(self, t: float, noise_drift: Any, q: np.ndarray) -> np.ndarray:
        if noise_drift is None:
            return np.asarray(self.noise_drift(t))
        w = np.asarray(noise_drift, dtype=float)
        return w[..., None] if w.ndim == 1 and q.ndim == 2 else w

    def check_grid(self, steps: int) -> None:
        """Refuse a time grid on which the feedback map, played once per step, runs away.

        A simulated equilibrium trader holds vⁱ(t_k, Q_k) over [t_k, t_k + dt]: forward Euler
        on the closed loop dQ = v(t, Q)dt, which is unstable once dt exceeds about 2/|∂v/∂Q|
        (a long horizon on few steps, a stiff market). The deterministic loop (the rates do not
        depend on the noise, module doc) is played on the grid and compared with the
        equilibrium path Q̄; a gap above 10·(1 + max|q₀|) raises ``ValueError`` with the number
        of steps (found by doubling) on which it stays close.
        """
        gap, when = self._grid_gap(steps)
        if gap is None:
            return
        needed = next(
            (steps * 2**j for j in range(1, 7) if self._grid_gap(steps * 2**j)[0] is None), None
        )
        advice = f"use steps >= {needed}" if needed else f"use more than {64 * steps} steps"
        dt = self.game.horizon / steps
        raise ValueError(
            f"steps = {steps} (dt = {dt:.6g}) is too coarse for the §2 equilibrium feedback: "
            f"played once per step its rates overshoot, and the inventories run away from the "
            f"equilibrium path (|Q − Q̄| = {gap:.3g} at t = {when:.6g}); {advice}"
        )

    def _grid_gap(self, steps: int) -> tuple[float | None, float]:
        """(first gap beyond the threshold or None, its time) of the Euler closed loop."""
        horizon = float(self.game.horizon)
        dt = horizon / steps
        q = np.array(self.game.initial_inventory, dtype=float)
        limit = 10.0 * (1.0 + np.abs(q).max())
        with np.errstate(all="ignore"):
            for k in range(steps):
                t = (k + 1) * dt
                q = q + self.feedback(k * dt, q) * dt
                gap = float(np.abs(q - self.inventory(min(t, horizon))).max())
                if not gap <= limit:
                    return gap, t
        return None, horizon

    # ---- equilibrium path --------------------------------------------------------------------
    def inventory(self, t: float) -> np.ndarray:
        """Equilibrium inventories Q(t), shape (N,)."""
        if self.method == "dense":
            return self.solution.path(t)[0]
        cl = self.classes
        m, rho, _ = self.solution.path(t)
        q0 = self.game.initial_inventory
        mean0 = cl.sums(q0) / cl.sizes
        return cl.expand(m) + (q0 - cl.expand(mean0)) * cl.expand(rho)

    def step_average_schedule(self, t: float, dt: float) -> np.ndarray:
        """(Q̄(t + dt) − Q̄(t))/dt, the average equilibrium rate over [t, t + dt], shape (N,)."""
        end = min(t + dt, float(self.game.horizon))
        return (self.inventory(end) - self.inventory(t)) / (end - t)

    def schedule(self, t: float) -> np.ndarray:
        """Equilibrium (open-loop) rates v̄(t) along the equilibrium path, shape (N,)."""
        return self.feedback(t, self.inventory(t))

    # ---- per-step caches of the policies -------------------------------------------------------
    def _step_schedule_rates(self, t: float, dt: float) -> np.ndarray:
        """:meth:`step_average_schedule` of one simulator step, computed once for the N traders
        (a pure function of (t, dt), so the cache is exact)."""
        hit = self._step_schedule
        if hit is None or hit[0] != t or hit[1] != dt:
            hit = self._step_schedule = (t, dt, self.step_average_schedule(t, dt))
        return hit[2]

    def _step_feedback(self, state: MarketState) -> np.ndarray:
        """All N traders' feedback rates at ``state``, shape (M, N), computed once per step.

        The model passes the same live ``inventories`` view at every step of a run and updates
        it only after all traders have acted, so (that object, step, t) identifies the step's
        inventories. The cache holds a reference to the object, so a later run's buffer (a new
        object) can never be mistaken for it, even at a reused address.
        """
        buf = state.inventories
        hit = self._step_rates
        if hit is None or hit[0] is not buf or hit[1] != state.step or hit[2] != state.t:
            q = np.asarray(buf, dtype=float)[:, : self.game.traders]
            hit = self._step_rates = (buf, state.step, state.t, self.feedback(state.t, q))
        return hit[3]

    @property
    def times(self) -> np.ndarray:
        return np.linspace(0.0, float(self.game.horizon), self.output_points)

    @property
    def path(self) -> pd.DataFrame:
        """Tidy equilibrium path: time, agent, role, inventory, adjoint, rate."""
        if self._path is None:
            rows = []
            for t in self.times:
                q = self.inventory(t)
                rows.append((np.full(len(q), t), q, self.adjoint(t, q), self.feedback(t, q)))
            t, q, y, v = (np.concatenate(c) for c in zip(*rows, strict=True))
            self._path = pd.DataFrame(
                {
                    "time": t,
                    "agent": np.tile(np.asarray(self.names, dtype=object), len(self.times)),
                    "role": "trader",
                    "inventory": q,
                    "adjoint": y,
                    "rate": v,
                }
            )
        return self._path

    # ---- policies ------------------------------------------------------------------------------
    def _index(self, agent_name: str) -> int:
        try:
            return self.names.index(agent_name)
        except ValueError:
            raise ValueError(
                f"agent_name = {agent_name!r}; allowed: one of the game's traders {self.names}"
            ) from None

    def feedback_policy(self, agent_name: str) -> Policy:
        """Trader policy "equilibrium": the decoupling field at the realised state."""
        return EquilibriumFeedbackPolicy(self, self._index(agent_name))

    def open_loop_policy(self, agent_name: str) -> Policy:
        """Trader policy "equilibrium_open_loop": the equilibrium schedule v̄ⁱ(t)."""
        return EquilibriumOpenLoopPolicy(self, self._index(agent_name))


class EquilibriumFeedbackPolicy(Policy):
    """vⁱ = (D Y + E Q − N/(c_π β) w)ⁱ with Y = R Q + H at ``state.inventories[:, :N]`` (eq. (2));
    vectorised over the M paths. The level of the realised ``state.noise_drift`` cancels (module
    doc), so it is not read."""

    role = "trader"
    name = "equilibrium"

    def __init__(self, solution: ExecutionSolution, index: int | np.ndarray):
        self.solution, self.index = solution, index

    def batch_key(self) -> tuple:
        return (EquilibriumFeedbackPolicy, id(self.solution))

    def batched(self, group: Sequence[Policy]) -> Policy:
        return EquilibriumFeedbackPolicy(self.solution, np.array([p.index for p in group]))

    def act(self, state: MarketState) -> np.ndarray:
        return self.solution._step_feedback(state)[:, self.index]


class EquilibriumOpenLoopPolicy(Policy):
    """The equilibrium schedule, averaged over each step (same on every path):
    vⁱ_k = (Q̄ⁱ(t_k + dt) − Q̄ⁱ(t_k))/dt = (1/dt)∫ v̄ⁱ over [t_k, t_k + dt], so the discrete
    inventories hit the equilibrium path Q̄ at every grid time. (Sampling v̄ at t_k instead is
    also O(dt) from the discrete equilibrium, but with a larger Nash gap.)"""

    role = "trader"
    name = "equilibrium_open_loop"

    def __init__(self, solution: ExecutionSolution, index: int | np.ndarray):
        self.solution, self.index = solution, index

    def batch_key(self) -> tuple:
        return (EquilibriumOpenLoopPolicy, id(self.solution))

    def batched(self, group: Sequence[Policy]) -> Policy:
        return EquilibriumOpenLoopPolicy(self.solution, np.array([p.index for p in group]))

    def act(self, state: MarketState) -> np.ndarray:
        rate = self.solution._step_schedule_rates(state.t, state.dt)[self.index]
        return np.full((state.paths, *np.shape(rate)), rate)
