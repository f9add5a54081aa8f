"""§5 approximation (logit) game of Guo & Jin: the equilibrium of the deterministic game.

N traders (q₀ < 0 buy at the best ask, q₀ > 0 sell at the best bid, temporary cost βv²) and
N_m ≥ 2 makers who split the flows ``ã = a + Σ_buyers v`` and ``b̃ = b − Σ_sellers v`` by shares
ζ of Definition 5.1 (the logit ``softmax(−ς·δ + o)`` or a user function; Σζ = 1). Theorem 5.4
characterises the Nash equilibrium by the FBSDE (40)–(41) with controls ϕ (traders) and ψ (makers,
(43)–(44): :mod:`logit_quotes`). With ε = 0 and deterministic noise rates — constants, piecewise
profiles, callables of t, or the factor ``κ(L(t))`` of a zero-volatility factor — it is the BVP
of :mod:`logit_bvp`, solved by Chebyshev collocation with the switching times of the truncations
located (``method="collocation"``) or by shooting (``method="shooting"``).

The stochastic game (ε > 0 or a factor with volatility > 0) is solved for its decoupling field
u(t, Q, L) of the non-degenerate Markovian FBSDE (39)–(41) by regression Monte Carlo with Picard
iterations (``method="regression"``, :mod:`logit_regression`), warm-started from the
deterministic game with ε = 0 and the factor on its mean path.

Usage::

    game = LogitGame(horizon=1.0, trader_inventories=(-4.0,), maker_inventories=(2.0, 0.0),
                     temporary_impact=0.1, share_sharpness=2.0, share_offsets=(0.0, 0.2),
                     trader_running_penalty=0.5, trader_terminal_penalty=5.0,
                     maker_running_penalty=0.05, maker_terminal_penalty=1.0,
                     noise_buy_rate=15.0, noise_sell_rate=15.0)
    sol = game.solve()
    sol.value, sol.path, sol.diagnostics
    sol.feedback(0.5, inventories)      # rates and quotes at any state, vectorised over paths
    # stochastic: LogitGame(..., inventory_noise=0.3, factor={...}).solve() (regression);
    # sol.feedback(0.5, inventories, factor=levels), sol.value (± sol.std_error)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from policies.base import Policy
from policies.equilibrium.blas import single_threaded
from policies.equilibrium.coefficients import Coefficient, check_on_grid, split_temporary_impact
from policies.equilibrium.decoupling_policy import DecouplingPolicy, StepCache
from policies.equilibrium.logit_bvp import (
    Feedback,
    LogitProblem,
    LogitSolveError,
    Piecewise,
    drift,
    drift_jacobian,
    event_labels,
    solve_shooting,
    solve_spectral,
    values_spectral,
)
from policies.equilibrium.logit_quotes import build_shares
from policies.equilibrium.logit_regression import (
    Field,
    RegressionResult,
    StochasticLogit,
    describe,
    solve_regression,
)
from policies.equilibrium.players import (
    TradersAndMakers,
    checked_horizon,
    checked_inventories,
    player_names,
    player_penalties,
)
from policies.equilibrium.protocol import PolicyTable
from policies.equilibrium.tidy import tidy_path
from simulator.mechanisms import rules

__all__ = [
    "Feedback",
    "LogitGame",
    "LogitSolution",
    "LogitSolveError",
    "StochasticLogitSolution",
    "trader_adjoint_range",
]

METHODS = ("collocation", "shooting", "regression")
FACTOR_KEYS = (
    "initial",
    "mean",
    "reversion",
    "volatility",
    "buy_base",
    "sell_base",
    "buy_loading",
    "sell_loading",
    "cap",
)


def _factor_rates(factor: dict, horizon: float):
    """κᵃ(L(t)), κᵇ(L(t)) along the deterministic OU mean path of a zero-volatility factor, and
    the time-only kinks where a cap binds."""
    f = {k: float(factor[k]) for k in FACTOR_KEYS}
    m, l0, th = f["mean"], f["initial"], f["reversion"]

    def level(t):
        return m + (l0 - m) * np.exp(-th * np.asarray(t, dtype=float))

    def raw(base, loading):
        return lambda t: base * np.exp(loading * level(t))

    out, caps = [], []
    for side, base, loading in (
        ("buy", f["buy_base"], f["buy_loading"]),
        ("sell", f["sell_base"], f["sell_loading"]),
    ):
        r = raw(base, loading)
        cap = f["cap"]
        out.append(lambda t, r=r, cap=cap: np.minimum(r(t), cap))
        caps.append((f"{side}_rate_at_cap", lambda t, r=r, cap=cap: r(t) - cap))
    return out[0], out[1], tuple(caps)


def _check_factor(factor: Any) -> dict:
    """Validate the factor dict (keys, Assumption 5.3) and return it as floats."""
    if not isinstance(factor, dict):
        raise ValueError(f"factor = {factor!r}: expected None or a dict with keys {FACTOR_KEYS}")
    unknown = sorted(set(factor) - set(FACTOR_KEYS))
    if unknown:
        raise ValueError(f"factor has unknown keys {unknown}; allowed {list(FACTOR_KEYS)}")
    missing = [k for k in FACTOR_KEYS if k not in factor]
    if missing:
        raise ValueError(f"factor is missing keys {missing}; needed {list(FACTOR_KEYS)}")
    f = {}
    for k in FACTOR_KEYS:
        try:
            f[k] = float(factor[k])
        except (TypeError, ValueError):
            raise ValueError(f"factor[{k!r}] = {factor[k]!r}: expected a number") from None
        if not math.isfinite(f[k]):
            raise ValueError(
                f"factor[{k!r}] = {factor[k]!r}: must be finite"
                + (" (Assumption 5.3(2): κ bounded)" if k == "cap" else "")
            )
    if f["reversion"] < 0:
        raise ValueError(
            f"factor['reversion'] = {f['reversion']!r}: must be ≥ 0 (Assumption 5.3(1): the OU "
            "drift must be Lipschitz and mean-reverting)"
        )
    if f["volatility"] < 0:
        raise ValueError(f"factor['volatility'] = {f['volatility']!r}: must be ≥ 0")
    for k in ("buy_base", "sell_base"):
        if f[k] <= 0:
            raise ValueError(
                f"factor[{k!r}] = {f[k]!r}: Assumption 5.3(2) needs positive noise rates κ "
                "(base > 0)"
            )
    if f["cap"] <= 0:
        raise ValueError(f"factor['cap'] = {f['cap']!r}: Assumption 5.3(2) needs 0 < cap < ∞")
    return f


def _check_regression_options(**options: Any) -> None:
    """The regression method's options: a clear error naming the first bad one."""
    checks = {
        "steps": ("an integer ≥ 2", lambda v: isinstance(v, int) and v >= 2),
        "paths": ("an integer ≥ 10", lambda v: isinstance(v, int) and v >= 10),
        "degree": ("an integer in 1..4", lambda v: isinstance(v, int) and 1 <= v <= 4),
        "dispersion": ("a finite number > 0", lambda v: _finite(v) and v > 0),
        "tolerance": ("a finite number > 0", lambda v: _finite(v) and v > 0),
        "max_iterations": ("an integer ≥ 1", lambda v: isinstance(v, int) and v >= 1),
        "seed": ("an integer ≥ 0", lambda v: isinstance(v, int) and v >= 0),
    }
    for name, value in options.items():
        allowed, ok = checks[name]
        if isinstance(value, bool) or not ok(value):
            raise ValueError(f"{name} = {value!r}: the regression method needs {allowed}")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


@dataclass(frozen=True)
class LogitGame(TradersAndMakers):
    """The §5 game with deterministic coefficients (see the module docstring for the model).

    Rates and β: a float, a piecewise-constant profile (tuple on equal sub-intervals of [0, T])
    or a callable of t; β may also be one βⁱ > 0 per trader (a sequence: λⁱ = βⁱv²).
    Penalties: float / profile / callable, or one per agent (a list of the
    agents' length). ``shares``: ``"logit"`` (sharpness ς, offsets oⁱ) or a callable mapping one
    side's half-spreads (N_m, M) to shares (N_m, M). ``factor``: the scenario's ``[noise.factor]``
    as a dict; with volatility 0 the rates are κ(L(t)) along the deterministic factor path,
    otherwise L is a state variable of the stochastic game (as is ε = ``inventory_noise`` > 0).
    ``min_rate`` ε / ``max_rate`` ξ̃ bound the traders' |v|; ``max_spread`` ξ the quotes.
    """

    horizon: float
    trader_inventories: tuple[float, ...]
    maker_inventories: tuple[float, ...]
    temporary_impact: Any = 1.0
    share_sharpness: float = 1.0
    share_offsets: tuple[float, ...] | None = None
    shares: str | Callable = "logit"
    trader_running_penalty: Any = 0.0
    trader_terminal_penalty: Any = 1.0
    maker_running_penalty: Any = 0.0
    maker_terminal_penalty: Any = 1.0
    noise_buy_rate: Any = 0.0
    noise_sell_rate: Any = 0.0
    factor: dict | None = None
    inventory_noise: float = 0.0
    min_rate: float = 0.0
    max_rate: float = math.inf
    max_spread: float = math.inf
    trader_names: tuple[str, ...] | None = None
    maker_names: tuple[str, ...] | None = None
    _problem: LogitProblem = field(init=False, repr=False, compare=False)
    _stochastic: StochasticLogit | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        T = checked_horizon(self.horizon)
        qe, qm = checked_inventories(self.trader_inventories, self.maker_inventories)
        shares = build_shares(self.shares, self.share_sharpness, self.share_offsets, qm.size)
        eps, xit, xi = self.min_rate, self.max_rate, self.max_spread
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
            raise ValueError(f"min_rate = {eps!r}: ε must be finite and ≥ 0")
        rules.check_rate_bounds(eps, xit, prefix="")
        if not xi > 0:
            raise ValueError(f"max_spread = {xi!r}: ξ must be > 0")
        noise = self.inventory_noise
        if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
            raise ValueError(f"inventory_noise = {noise!r}: ε must be finite and ≥ 0")
        nt, nm = qe.size, qm.size
        names_e, names_m = player_names(self.trader_names, self.maker_names, nt, nm)
        object.__setattr__(self, "trader_names", names_e)
        object.__setattr__(self, "maker_names", names_m)

        caps: tuple = ()
        breakpoints: set[float] = set()
        factor: dict[str, float] | None = None
        if self.factor is not None:
            f = _check_factor(self.factor)
            factor = f if f["volatility"] > 0 else None
            buy, sell, caps = _factor_rates(f, T)
            rates = {"noise_buy_rate": buy, "noise_sell_rate": sell}
        else:
            rates = {"noise_buy_rate": self.noise_buy_rate, "noise_sell_rate": self.noise_sell_rate}
        coefs = {}
        beta, impact_scale = split_temporary_impact(self.temporary_impact, nt)
        for nm_, val in (*rates.items(), ("temporary_impact", beta)):
            coefs[nm_] = Coefficient.build(nm_, val, T, finite=True)
            breakpoints.update(coefs[nm_].breakpoints)
        check_on_grid(None, coefs["noise_buy_rate"], T, 0.0)
        check_on_grid(None, coefs["noise_sell_rate"], T, 0.0)
        check_on_grid(None, coefs["temporary_impact"], T, 0.0, strict=True)

        phis, terms = [], []
        for name, _, fn, a_ in player_penalties(self, names_e, names_m, T):
            breakpoints.update(fn.breakpoints)
            check_on_grid(f"running_penalty φ of {name}", fn, T, 0.0)
            phis.append(fn)
            terms.append(a_)

        def phi(t: np.ndarray) -> np.ndarray:
            return np.stack([fn(t) for fn in phis], axis=-1)

        problem = LogitProblem(
            horizon=float(T),
            n_traders=nt,
            n_makers=nm,
            buyer=qe < 0,
            shares=shares,
            max_spread=float(xi),
            min_rate=float(eps),
            max_rate=float(xit),
            noise_buy=coefs["noise_buy_rate"],
            noise_sell=coefs["noise_sell_rate"],
            beta=coefs["temporary_impact"],
            phi=phi,
            terminal=np.asarray(terms),
            breakpoints=tuple(sorted(breakpoints)),
            caps=caps,
            impact_scale=impact_scale,
        )
        object.__setattr__(self, "_problem", problem)
        stochastic = None
        if noise > 0 or factor is not None:
            stochastic = StochasticLogit(problem, float(noise), factor)
        object.__setattr__(self, "_stochastic", stochastic)

    # ----------------------------------------------------------------- properties
    @property
    def problem(self) -> LogitProblem:
        """The numbers of the deterministic BVP (:class:`logit_bvp.LogitProblem`); for the
        stochastic game, its deterministic limit (ε = 0, the factor on its mean path)."""
        return self._problem

    @property
    def stochastic(self) -> bool:
        """Whether ε > 0 or the factor is random (the game :meth:`solve` solves by regression)."""
        return self._stochastic is not None

    # ----------------------------------------------------------------- solve
    def solve(
        self,
        method: Literal["collocation", "shooting", "regression"] | None = None,
        points: int = 201,
        *,
        steps: int = 100,
        paths: int = 1000,
        degree: int = 2,
        dispersion: float = 0.2,
        tolerance: float = 1e-4,
        max_iterations: int = 30,
        seed: int = 0,
    ) -> LogitSolution | StochasticLogitSolution:
        """The equilibrium of (40)–(41). Deterministic game (ε = 0, no random factor):
        ``"collocation"`` (default; Chebyshev pieces, switching times located) or ``"shooting"``
        (DOP853 with event restarts; slower, the independent check); ``points``: uniform output
        grid of :attr:`LogitSolution.path` (switching times and breakpoints are added).

        ``"regression"`` (the default and the only method of the stochastic game; allowed for the
        deterministic one as a check): regression Monte Carlo of :mod:`logit_regression` with
        ``steps`` time steps, ``paths`` Monte Carlo paths (training and, independently, the
        values), a polynomial basis of total ``degree``, regression points jittered by
        ``dispersion``, relaxed Picard iterations until the fixed-point residual is ≤ ``tolerance``
        (at most ``max_iterations``), random numbers from ``seed`` (same seed, same numbers).

        The grid PDE of the decoupling field (games of at most 3 agents, the independent second
        method of the stochastic game) is :func:`logit_pde.solve_logit_pde` ``(game, ...)``: it
        builds on this class, so it is not dispatched from here.
        Raises :class:`LogitSolveError` when a solve does not converge."""
        allowed = ("regression",) if self.stochastic else METHODS
        if method is None:
            method = allowed[0]
        if method not in allowed:
            why = " (ε > 0 or a random factor: the stochastic game)" if self.stochastic else ""
            raise ValueError(f"method = {method!r}: allowed {', '.join(map(repr, allowed))}{why}")
        if not (isinstance(points, int) and points >= 2):
            raise ValueError(f"points = {points!r}: need an integer ≥ 2")
        if method == "regression":
            _check_regression_options(
                steps=steps,
                paths=paths,
                degree=degree,
                dispersion=dispersion,
                tolerance=tolerance,
                max_iterations=max_iterations,
                seed=seed,
            )
            return self._solve_regression(
                steps, paths, degree, dispersion, tolerance, max_iterations, seed
            )
        return self._solve(method, points)

    @single_threaded  # small dense systems
    def _solve_regression(
        self,
        steps: int,
        paths: int,
        degree: int,
        dispersion: float,
        tolerance: float,
        max_iterations: int,
        seed: int,
    ) -> StochasticLogitSolution:
        pb = self._problem
        model = self._stochastic or StochasticLogit(pb, 0.0, None)
        det = self._solve("collocation", 2)
        dt, n = pb.horizon / steps, pb.n

        def warm(j: int, x: np.ndarray) -> np.ndarray:
            return det.adjoint_at(j * dt, x[:, :n])

        res = solve_regression(
            model,
            self.initial_inventories,
            warm,
            steps,
            paths,
            degree,
            dispersion,
            tolerance,
            max_iterations,
            seed,
        )
        diag = describe(res, steps, paths, degree, dispersion, model.dim, self.names)
        return StochasticLogitSolution._build(self, model, res, diag)

    @single_threaded  # small dense systems
    def _solve(self, method: str, points: int) -> LogitSolution:
        pb = self._problem
        q0 = self.initial_inventories
        if method == "shooting":
            return self._solve_shooting(points)
        res = solve_spectral(pb, q0)
        diag: dict[str, Any] = {
            "method": "collocation (Chebyshev pieces, switching times located)",
            "degree": res.solution.cheb.x.size - 1,
            "pieces": int(res.solution.ends.size - 1),
            "newton_iterations": res.newton_iterations,
            "residual": res.residual,
            "estimated_error": res.estimated_error,
        }
        values = values_spectral(pb, res.solution)
        return self._finish(res.solution, values, res.switching, diag, points)

    def _solve_shooting(self, points: int) -> LogitSolution:
        """Shooting from the collocation's Y(0) moved by 1e-4: its own Newton then finds its own
        root. Values and switching times are the shooting trajectory's; the path and R of the
        solution object are collocation's (the check is of the values and switching times)."""
        pb, q0 = self._problem, self.initial_inventories
        res = solve_spectral(pb, q0)
        y0 = res.solution.y[0, 0]
        sh = solve_shooting(pb, q0, y0 + 1e-4 * (1.0 + np.abs(y0)))
        diag = {
            "method": "shooting (DOP853, event restarts, variational Newton)",
            "newton_iterations": sh.newton_iterations,
            "residual": sh.residual,
            "rtol": 1e-10,
            "collocation_value_difference": float(
                np.max(np.abs(sh.values - values_spectral(pb, res.solution)))
            ),
        }
        return self._finish(res.solution, sh.values, sh.switching, diag, points)

    def _finish(self, sol, values, switching, diag, points) -> LogitSolution:
        pb = self._problem
        labels = event_labels(pb, self.names)
        diag["switching_times"] = [
            {"time": float(t), "agent": labels[c][0], "kind": labels[c][1]} for t, c in switching
        ]
        diag["truncation_binds"] = bool(switching) or _binds_somewhere(pb, sol)
        return LogitSolution._build(self, sol, values, diag, points)


def _binds_somewhere(pb: LogitProblem, sol: Piecewise) -> bool:
    """Whether some truncation binds on the whole horizon (no switching, but active)."""
    tt = sol.times().ravel()
    d = drift(pb, tt, sol.y.reshape(-1, pb.n))
    lo, hi = pb.rate_bounds()
    at_rate = np.any(np.isclose(d.rate, lo) | np.isclose(d.rate, hi))
    at_spread = np.any(np.isclose(np.abs(np.concatenate([d.ask, d.bid], -1)), pb.max_spread))
    return bool(at_rate or at_spread)


def _radon(pb: LogitProblem, sol: Piecewise) -> tuple[np.ndarray, np.ndarray]:
    """(U, V) at the collocation nodes, (P, K+1, n, n): ``U' = ∂f/∂Y·V``, ``V' = 2φU``,
    ``U(T) = I``, ``V(T) = −2A`` (the linearised BVP; R = VU⁻¹ solves the Riccati
    ``R' = 2φ − R(∂f/∂Y)R``, ``R(T) = −2A``), solved piece by piece backwards by collocation."""
    n, ch = pb.n, sol.cheb
    npieces, k1 = sol.q.shape[:2]
    tt = sol.coefficient_times()
    _, jf = drift_jacobian(pb, tt, sol.y)
    phi = np.asarray(pb.phi(tt), dtype=float)
    u = np.zeros((npieces, k1, n, n))
    v = np.zeros_like(u)
    end_u, end_v = np.eye(n), -2.0 * np.diag(pb.terminal)
    eye = np.eye(n)
    for p in range(npieces - 1, -1, -1):
        dm = 2.0 / (sol.ends[p + 1] - sol.ends[p]) * ch.D
        size = 2 * n * k1
        mat = np.zeros((size, size))
        rhs = np.zeros((size, n))
        mat[: k1 * n, : k1 * n] = np.kron(dm, eye)
        mat[k1 * n :, k1 * n :] = np.kron(dm, eye)
        for j in range(k1):
            mat[j * n : (j + 1) * n, k1 * n + j * n : k1 * n + (j + 1) * n] = -jf[p, j]
            mat[k1 * n + j * n : k1 * n + (j + 1) * n, j * n : (j + 1) * n] = -2.0 * np.diag(
                phi[p, j]
            )
        for off, val in ((0, end_u), (k1 * n, end_v)):
            r = off + (k1 - 1) * n
            mat[r : r + n] = 0.0
            mat[r : r + n, r : r + n] = eye
            rhs[r : r + n] = val
        z = np.linalg.solve(mat, rhs)
        u[p] = z[: k1 * n].reshape(k1, n, n)
        v[p] = z[k1 * n :].reshape(k1, n, n)
        end_u, end_v = u[p, 0], v[p, 0]
    return u, v


def trader_adjoint_range(
    pb: LogitProblem, t: float, q: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds ``(Y_lo, Y_hi)`` (M, NT) of the traders' adjoints at time t and trader inventories
    ``q`` (M, NT), whatever the others do: by (41) ``Yᵢ(t) = E[−2Aᵢ Qᵢ(T) − ∫ₜᵀ 2φᵢ Qᵢ ds]``
    involves trader i's own inventory only, which moves at its rate ``vᵢ ∈ [loᵢ, hiᵢ]`` (the
    admissible set of Assumption 5.3: ``[ε, ξ̃]`` buyers, ``[−ξ̃, −ε]`` sellers) plus noise of
    mean zero. Y decreases in the inventory path, so it lies between its values under the two
    constant bound rates, ``Y(v) = −2A(Q + v(T − t)) − 2(Q·Φ₀ + v·Φ₁)`` with ``Φ₀ = ∫ₜᵀ φ ds``,
    ``Φ₁ = ∫ₜᵀ φ(s)(s − t) ds`` (Gauss–Legendre on the pieces between φ's breakpoints: exact
    for piecewise-constant φ). In the regime where a rate bound binds from t on (e.g. a seller
    whose inventory is gone sells at −ε), the bound IS the exact adjoint."""
    nt, horizon = pb.n_traders, pb.horizon
    ends = [t, *[b for b in pb.breakpoints if t < b < horizon], horizon]
    nodes, weights = np.polynomial.legendre.leggauss(8)
    phi0 = np.zeros(nt)
    phi1 = np.zeros(nt)
    for a, b in zip(ends[:-1], ends[1:], strict=True):
        s = 0.5 * (b - a) * nodes + 0.5 * (a + b)
        w = 0.5 * (b - a) * weights
        f = np.asarray(pb.phi(s), dtype=float)[:, :nt]
        phi0 += w @ f
        phi1 += (w * (s - t)) @ f
    a_term = np.asarray(pb.terminal, dtype=float)[:nt]
    lo, hi = pb.rate_bounds()

    def adjoint(v: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):  # an infinite bound rate gives an infinite Y
            shift = np.where(np.isfinite(v), 2.0 * a_term * v * (horizon - t) + 2.0 * v * phi1, 0.0)
            inf = np.where(np.isfinite(v) | (horizon - t <= 0), 0.0, -np.sign(v) * np.inf)
        return -2.0 * a_term * q - 2.0 * q * phi0 - shift + inf

    return adjoint(hi), adjoint(lo)


@dataclass
class _LogitPlay(PolicyTable):
    """What every §5 solution shares: the scenario policies (``policies()`` of the
    :class:`~policies.equilibrium.protocol.Solution` protocol), the controls at given adjoints
    and the tidy path (needs ``game``, ``time``, ``inventory``, ``adjoint``, ``rate``, ``ask``,
    ``bid``, ``value``)."""

    game: LogitGame
    time: np.ndarray
    inventory: np.ndarray
    adjoint: np.ndarray
    rate: np.ndarray
    ask: np.ndarray
    bid: np.ndarray

    @property
    def path(self) -> pd.DataFrame:
        """Tidy: time, agent, role, inventory, adjoint, rate (traders), ask/bid_spread (makers)."""
        g = self.game
        return tidy_path(
            self.time, g.names, g.roles, self.inventory, self.adjoint, self.rate, self.ask, self.bid
        )

    def feedback_policy(self, agent_name: str) -> Policy:
        """Scenario policy ``equilibrium``: the decoupling field at the realised state
        (:meth:`feedback`); a trader replies to the best quotes it observes."""
        return DecouplingPolicy(self, agent_name, True, False, None)

    def open_loop_policy(self, agent_name: str) -> Policy:
        """Scenario policy ``equilibrium_open_loop``: the equilibrium schedule."""
        return DecouplingPolicy(self, agent_name, False, False, None)

    def controls_at(self, t: float, adjoint: np.ndarray):
        """(rates (M, NT), asks (M, NM), bids (M, NM)) at adjoints (M, n); equal rows (fluid
        flow: every path in the same state) are evaluated once."""
        y = np.atleast_2d(adjoint)
        uniq, inverse = np.unique(y, axis=0, return_inverse=True)
        d = drift(self.game.problem, t, uniq)
        inverse = inverse.reshape(-1)
        return d.rate[inverse], d.ask[inverse], d.bid[inverse]

    def trader_rates_at(
        self, t: float, adjoint: np.ndarray, best_ask: np.ndarray, best_bid: np.ndarray
    ) -> np.ndarray:
        """Traders' rates (M, NT) against the best quotes they observe (M,): ``v = (Yᵉ − min δᵃ)
        /(2β)`` clipped to ``[ε, ξ̃]`` (buyers), ``(Yᵉ + min δᵇ)/(2β)`` to ``[−ξ̃, −ε]``."""
        pb = self.game.problem
        ye = np.atleast_2d(adjoint)[:, : pb.n_traders]
        ask = np.asarray(best_ask, dtype=float).reshape(-1, 1)
        bid = np.asarray(best_bid, dtype=float).reshape(-1, 1)
        beta = pb.trader_impact(min(t, pb.horizon))
        lo, hi = pb.rate_bounds()
        return np.clip(np.where(pb.buyer, ye - ask, ye + bid) / (2.0 * beta), lo, hi)

    def _within_range(self, t: float, q: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The traders' columns of an approximate field ``y`` clipped to the range their exact
        adjoints lie in (:func:`trader_adjoint_range`): sound off the equilibrium path, where a
        linearisation or a fitted polynomial extrapolates across the kink of a rate bound."""
        pb = self.game.problem
        nt = pb.n_traders
        lo, hi = trader_adjoint_range(pb, t, q[:, :nt])
        out = y.copy()
        out[:, :nt] = np.clip(y[:, :nt], lo, hi)
        return out

    def _checked_state(self, t: float, inventories: np.ndarray) -> np.ndarray:
        pb = self.game.problem
        if not (0.0 <= t <= pb.horizon):
            raise ValueError(f"t = {t!r}: must lie in [0, {pb.horizon}]")
        q = np.atleast_2d(np.asarray(inventories, dtype=float))
        if q.shape[-1] != pb.n:
            raise ValueError(
                f"inventories: shape {q.shape}; expected (M, {pb.n}) (traders then makers)"
            )
        return q


@dataclass
class LogitSolution(_LogitPlay):
    """Equilibrium of a :class:`LogitGame`: node arrays on ``time`` (uniform grid with the
    switching times and breakpoints added), agents in game order (traders then makers).

    ``inventory`` Q̂ / ``adjoint`` Ŷ (K, n), ``rate`` v̂ (K, NT), ``ask`` / ``bid`` (K, NM),
    ``value``: J at t = 0 with P₀ = 0. ``feedback(t, Q)``: the first-order decoupling field
    ``Ŷ(t) + R(t)(Q − Q̂(t))`` (R = ∂Y/∂Q from the linearised BVP) and its controls; its error is
    O(|Q − Q̂(t)|²) near the path; the traders' adjoints are kept in
    :func:`trader_adjoint_range` (exact where a rate bound binds from t on).
    """

    value: pd.Series
    diagnostics: dict[str, Any]
    _sol: Piecewise = field(repr=False)
    _u: np.ndarray = field(repr=False)
    _v: np.ndarray = field(repr=False)
    _step_cache: StepCache = field(default_factory=StepCache, init=False, repr=False)

    @classmethod
    def _build(cls, game: LogitGame, sol: Piecewise, values, diag, points) -> LogitSolution:
        pb = game.problem
        u, v = _radon(pb, sol)
        extra = [s["time"] for s in diag["switching_times"]] + list(pb.breakpoints)
        t = np.unique(np.concatenate([np.linspace(0.0, pb.horizon, points), extra]))
        q, y = sol.at(t)
        d = drift(pb, t, y)
        if not (np.all(np.isfinite(values)) and np.all(np.isfinite(q)) and np.all(np.isfinite(y))):
            raise LogitSolveError("equilibrium path or values are not finite")
        diag = dict(diag)
        diag["terminal_residual"] = float(np.max(np.abs(y[-1] + 2 * pb.terminal * q[-1])))
        out = cls(
            game=game,
            time=t,
            inventory=q,
            adjoint=y,
            rate=d.rate,
            ask=d.ask,
            bid=d.bid,
            value=pd.Series(values, index=pd.Index(game.names, name="agent"), name="value"),
            diagnostics=diag,
            _sol=sol,
            _u=u,
            _v=v,
        )
        r = out.riccati(t)
        if not np.all(np.isfinite(r)):
            raise LogitSolveError("decoupling field R = VU⁻¹ is singular on [0, T]")
        return out

    def state_at(self, t: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Q̂(t), Ŷ(t) on the equilibrium path (spectral interpolation), (len(t), n)."""
        return self._sol.at(np.atleast_1d(np.asarray(t, dtype=float)))

    def riccati(self, t: float | np.ndarray) -> np.ndarray:
        """R(t) = ∂Y/∂Q along the path, (len(t), n, n)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        sol = self._sol
        p = np.clip(np.searchsorted(sol.ends, t, side="right") - 1, 0, sol.ends.size - 2)
        n = self.game.problem.n
        out = np.empty((t.size, n, n))
        for piece in np.unique(p):
            sel = p == piece
            a, b = sol.ends[piece], sol.ends[piece + 1]
            s = np.clip(2.0 * (t[sel] - a) / (b - a) - 1.0, -1.0, 1.0)
            uu = sol.cheb.interpolate(self._u[piece], s)
            vv = sol.cheb.interpolate(self._v[piece], s)
            with np.errstate(all="ignore"):
                out[sel] = np.linalg.solve(np.swapaxes(uu, -1, -2), np.swapaxes(vv, -1, -2))
        return np.swapaxes(out, -1, -2)

    def adjoint_at(
        self, t: float, inventories: np.ndarray, exact: bool = False, trust_radius: Any = None
    ) -> np.ndarray:
        """First-order decoupling field ``Ŷ(t) + R(t)(Q − Q̂(t))`` for inventories (M, n)."""
        if exact or trust_radius is not None:
            raise ValueError("the §5 feedback is the first-order field (exact=False, no radius)")
        q = np.atleast_2d(np.asarray(inventories, dtype=float))
        t = min(max(t, 0.0), self.game.problem.horizon)
        q_hat, y_hat = self.state_at(t)
        return self._within_range(t, q, y_hat + (q - q_hat) @ self.riccati(t)[0].T)

    def schedule_at(self, t: float) -> np.ndarray:
        """Ŷ(t) on the equilibrium path, (1, n)."""
        return self.state_at(min(max(t, 0.0), self.game.problem.horizon))[1]

    def feedback(self, t: float, inventories: np.ndarray, factor: Any = None) -> Feedback:
        """Equilibrium adjoints and controls at time t for inventories (M, n) (one row per path,
        agents in game order): ``Y = Ŷ(t) + R(t)(Q − Q̂(t))`` then ϕ, ψᵃ, ψᵇ at Y.

        ``factor`` must be None (the deterministic game has no factor state)."""
        if factor is not None:
            raise ValueError(
                "factor: the deterministic §5 game has no factor state; pass factor=None"
            )
        pb = self.game.problem
        q = self._checked_state(t, inventories)
        y = self.adjoint_at(t, q)
        d = drift(pb, t, y)
        return Feedback(y, d.rate, d.ask, d.bid)


@dataclass
class StochasticLogitSolution(_LogitPlay):
    """Equilibrium of the stochastic §5 game (regression Monte Carlo, :mod:`logit_regression`).

    ``time``: the solver's grid (N+1,); ``inventory``, ``adjoint`` (N+1, n), ``rate``, ``ask``,
    ``bid``: their MEAN over the value simulation's paths (the mean path under the equilibrium);
    ``value``: J at t = 0 (P₀ = 0) by Monte Carlo of the converged feedback, ``std_error`` its
    standard errors. ``feedback(t, Q, factor)``: the fitted decoupling field u(t, Q, L) (linear
    in t between grid times; the traders' adjoints kept in :func:`trader_adjoint_range`) and its
    controls.
    """

    value: pd.Series
    std_error: pd.Series
    diagnostics: dict[str, Any]
    _model: StochasticLogit = field(repr=False)
    _field: Field = field(repr=False)
    _step_cache: StepCache = field(default_factory=StepCache, init=False, repr=False)

    @classmethod
    def _build(
        cls, game: LogitGame, model: StochasticLogit, res: RegressionResult, diag: dict
    ) -> StochasticLogitSolution:
        pb, fwd = game.problem, res.forward
        steps = res.field.steps
        index = pd.Index(game.names, name="agent")
        return cls(
            game=game,
            time=np.linspace(0.0, pb.horizon, steps + 1),
            inventory=fwd.states[:, :, : pb.n].mean(axis=1),
            adjoint=fwd.mean_adjoint,
            rate=fwd.mean_rate,
            ask=fwd.mean_ask,
            bid=fwd.mean_bid,
            value=pd.Series(res.values, index=index, name="value"),
            std_error=pd.Series(res.std_errors, index=index, name="std_error"),
            diagnostics=diag,
            _model=model,
            _field=res.field,
        )

    @property
    def observes_factor(self) -> bool:
        """Whether the field is a function of the factor level L too (policies pass it)."""
        return self._model.factor is not None

    def _state(self, q: np.ndarray, factor: Any) -> np.ndarray:
        if not self.observes_factor:
            if factor is not None:
                raise ValueError("factor: this game has no random factor; pass factor=None")
            return q
        if factor is None:
            raise ValueError(
                "factor: the field depends on the factor level L; pass factor= one level per path"
            )
        level = np.broadcast_to(np.asarray(factor, dtype=float).reshape(-1), (q.shape[0],))
        return np.column_stack([q, level])

    def adjoint_at(
        self,
        t: float,
        inventories: np.ndarray,
        exact: bool = False,
        trust_radius: Any = None,
        factor: Any = None,
    ) -> np.ndarray:
        """The fitted decoupling field u(t, Q, L) at inventories (M, n) and factor levels (M,)."""
        if exact or trust_radius is not None:
            raise ValueError("the §5 feedback is the fitted field (exact=False, no radius)")
        q = np.atleast_2d(np.asarray(inventories, dtype=float))
        t = min(max(t, 0.0), self.game.problem.horizon)
        return self._within_range(t, q, self._field.at_time(t, self._state(q, factor)))

    def schedule_at(self, t: float) -> np.ndarray:
        """The mean adjoint along the equilibrium (1, n), linear between grid times (the
        open-loop policy plays the controls at it, not adapted to the noise)."""
        t = min(max(t, 0.0), self.game.problem.horizon)
        return np.stack([np.interp(t, self.time, col) for col in self.adjoint.T])[None, :]

    def feedback(self, t: float, inventories: np.ndarray, factor: Any = None) -> Feedback:
        """Equilibrium adjoints u(t, Q, L) and controls ϕ, ψᵃ, ψᵇ at inventories (M, n) (one
        row per path, agents in game order) and factor levels ``factor`` (M,) (required iff the
        game has a random factor)."""
        q = self._checked_state(t, inventories)
        y = self.adjoint_at(t, q, factor=factor)
        d = drift(self.game.problem, t, y)
        return Feedback(y, d.rate, d.ask, d.bid)
