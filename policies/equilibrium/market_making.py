"""§3 best-quote game and §4 ACAS game of Guo & Jin: equilibrium solver, decoupling field, policies.

N traders (execution, q₀ ≠ 0; buyers q₀ < 0 hit the asks, sellers the bids) and K makers quoting
``P + δᵃ`` / ``P − δᵇ``; maker i's fill rates are ``âΛ(δⁱᵃ − δ̄ⁱᵃ)``, ``b̂Λ(δⁱᵇ − δ̄ⁱᵇ)`` (Def. 3.4)
and traders pay the best quote plus a temporary cost λⁱ in class Υ (Def. 3.2, Remark 3.3).
With deterministic coefficients the equilibrium FBSDE (13)–(14) is the BVP ::

    Q' = f(t, Y),   Y' = 2φQ,   Q(0) = q₀,   Y(T) = −2A·Q(T)

with ``f`` built from the pointwise Hamiltonian maximisers ϕ (traders), ψ (makers) of Thm 3.9
(:mod:`market_making_hamiltonian`). For the ACAS model (§4: 1 trader, 2 makers, Λ = e^{−γx},
λ = βv²) ``f`` is (18)–(19) and the controls are (17). The BVP is solved by
:mod:`market_making_bvp`: φ ≡ 0 → the algebraic fast path (Y constant); else the φ = 0 solution
warm-starts ``solve_bvp`` (smooth coefficients) or Newton shooting on an RK4 grid (piecewise
noise profiles, or when collocation fails), with continuation (horizon, then inventory/noise
homotopy) and collocation as the last resort. The decoupling field ``R = ∂Y/∂Q`` comes from the
variational Riccati (23) / Radon formula (Thm 4.3) in :mod:`market_making_riccati`.

Accuracy: RK4 converges at fourth order in the grid step, also across kinks (a truncation ε,
ξ̃, ξ starting or stopping to bind, two makers swapping the best quote: steps are split at the
located switching times, and the collocation path's J is integrated piece by piece); the
first-order feedback ``Ŷ + R(Q − Q̂)`` errs by O(|ΔQ|²); the exact feedback re-solves the BVP
(to the Newton tolerance). The tests assert these orders; timings and errors of every method are in
``benchmarks/bench_market_making.py``. Values J use P₀ = 0.

Usage::

    game = MarketMakingGame.acas(horizon=1.0, temporary_impact=0.5, intensity_decay=2.0,
                                 running_penalty=0.1, terminal_penalty=1.0,
                                 trader_inventory=-5.0, maker_inventories=(1.0, 0.0))
    sol = game.solve()
    sol.path, sol.value, sol.diagnostics
    sol.feedback_policy("maker_0"), sol.open_loop_policy("trader_0")
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from policies.base import Policy
from policies.equilibrium.blas import single_threaded
from policies.equilibrium.coefficients import Coefficient as Coef
from policies.equilibrium.coefficients import (
    CoefficientValue,
    Profile,
    check_on_grid,
    split_temporary_impact,
)
from policies.equilibrium.decoupling_policy import DecouplingPolicy, StepCache
from policies.equilibrium.market_making_bvp import (
    Grid,
    MarketMakingSolveError,
    Problem,
    continuation,
    integrate,
    solve_algebraic,
    solve_collocation,
    solve_shooting,
    switching_times,
)
from policies.equilibrium.market_making_hamiltonian import (
    CostKind,
    Intensity,
    Market,
    forward_drift,
    trader_response,
)
from policies.equilibrium.market_making_riccati import jacobians_on_grid, radon, riccati
from policies.equilibrium.players import (
    TradersAndMakers,
    checked_horizon,
    checked_inventories,
    player_names,
    player_penalties,
)
from policies.equilibrium.protocol import Feedback, PolicyTable
from policies.equilibrium.tidy import tidy_path
from simulator.mechanisms import rules

__all__ = [
    "MarketMakingGame",
    "MarketMakingSolution",
    "MarketMakingSolveError",
    "Intensity",
]

Coefficient = CoefficientValue
EQUILIBRIUM_POLICIES = ("equilibrium", "equilibrium_open_loop")
Method = Literal["auto", "algebraic", "shooting", "collocation"]


# --------------------------------------------------------------------------- the game
@dataclass(frozen=True)
class MarketMakingGame(TradersAndMakers):
    """The §3 best-quote game with deterministic coefficients (the §4 ACAS game as a special case).

    Parameters mirror the paper: ``temporary_impact`` β (λⁱ = βvⁱ² "individual" or
    βvⁱ(vⁱ + c·mean v⁻ⁱ) "aggregated", c = ``cost_coupling`` < 2 for class Υ; a float, callable
    or Profile shared by the traders, or one βⁱ > 0 per trader as a sequence), ``intensity``
    Λ (``"exponential"`` with ``intensity_decay`` γ, a callable, or an :class:`Intensity`),
    ``min_rate`` ε, ``max_rate`` ξ̃, ``max_spread`` ξ, noise rates a (buy, hits the asks) and
    b (sell). Penalties φ (running, float or callable of t) and A (terminal) per agent.
    ``maker_policies``: the scenario policies the makers play when simulated (None: all
    equilibrium); a heuristic maker with ξ = ∞ is refused when policies are built (see
    :meth:`MarketMakingSolution.feedback_policy`).
    """

    horizon: float
    trader_inventories: tuple[float, ...]
    maker_inventories: tuple[float, ...]
    temporary_impact: Coefficient | tuple[float, ...] = 1.0
    intensity: Any = "exponential"
    intensity_decay: float = 1.0
    temporary_cost: CostKind = "individual"
    cost_coupling: float = 1.0
    trader_running_penalty: Any = 0.0
    trader_terminal_penalty: Any = 1.0
    maker_running_penalty: Any = 0.0
    maker_terminal_penalty: Any = 1.0
    noise_buy_rate: Coefficient = 0.0
    noise_sell_rate: Coefficient = 0.0
    min_rate: float = 0.0
    max_rate: float = math.inf
    max_spread: float = math.inf
    trader_names: tuple[str, ...] | None = None
    maker_names: tuple[str, ...] | None = None
    maker_policies: tuple[str, ...] | None = None
    _problem: Problem = field(init=False, repr=False, compare=False)
    _pieces: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        T = checked_horizon(self.horizon)
        if np.size(self.maker_inventories) == 0:
            raise ValueError(
                "maker_inventories = (): the best-quote game needs at least one maker "
                "(Assumption 3.6: quotes are always offered by the makers)"
            )
        qe, qm = checked_inventories(
            self.trader_inventories, self.maker_inventories, why="; §3 admissible sets"
        )
        if self.temporary_cost not in ("individual", "aggregated"):
            raise ValueError(
                f"temporary_cost = {self.temporary_cost!r}: allowed 'individual', 'aggregated'"
            )
        if self.temporary_cost == "aggregated" and not abs(self.cost_coupling) < 2:
            raise ValueError(
                f"cost_coupling = {self.cost_coupling!r}: class Υ (Remark 3.3) needs |c| < 2"
            )
        eps, xit, xi = self.min_rate, self.max_rate, self.max_spread
        rules.check_rate_bounds(eps, xit, prefix="")
        if not xi > 0:
            raise ValueError(f"max_spread = {xi!r}: ξ must be > 0")
        lam = Intensity.build(self.intensity, self.intensity_decay)
        lam.validate(half_width=max(20 * lam.scale(), 2 * xi) if math.isfinite(xi) else None)
        nt, nm = qe.size, qm.size
        names_e, names_m = player_names(self.trader_names, self.maker_names, nt, nm)
        object.__setattr__(self, "trader_names", names_e)
        object.__setattr__(self, "maker_names", names_m)

        pieces = 1
        coefs = {}
        beta, impact_scale = split_temporary_impact(self.temporary_impact, nt)
        for nm_, val in (
            ("noise_buy_rate", self.noise_buy_rate),
            ("noise_sell_rate", self.noise_sell_rate),
            ("temporary_impact", beta),
        ):
            coefs[nm_] = Coef.build(nm_, val, T, finite=True)
            pieces = math.lcm(pieces, coefs[nm_].piece_count)
        check_on_grid(None, coefs["noise_buy_rate"], T, 0.0, strict=False)
        check_on_grid(None, coefs["noise_sell_rate"], T, 0.0, strict=False)
        if qe.size:  # β only prices the traders' orders: a game of makers only needs none
            check_on_grid(None, coefs["temporary_impact"], T, 0.0, strict=True)

        phis, terms, phi_zero = [], [], True
        for name, r, fn, a_ in player_penalties(self, names_e, names_m, T):
            pieces = math.lcm(pieces, fn.piece_count)
            check_on_grid(f"running_penalty φ of {name}", fn, T, 0.0, strict=False)
            phi_zero &= not callable(r) and not isinstance(r, Profile) and float(r) == 0
            phis.append(fn)
            terms.append(a_)

        def phi(t: np.ndarray) -> np.ndarray:
            return np.stack([fn(t) for fn in phis], axis=-1)

        market = Market(
            n_traders=nt,
            n_makers=nm,
            buyer=qe < 0,
            intensity=lam,
            cost=self.temporary_cost,
            coupling=float(self.cost_coupling),
            min_rate=float(eps),
            max_rate=float(xit),
            max_spread=float(xi),
            impact_scale=impact_scale,
        )
        problem = Problem(
            market=market,
            horizon=float(T),
            noise_buy=coefs["noise_buy_rate"],
            noise_sell=coefs["noise_sell_rate"],
            beta=coefs["temporary_impact"],
            phi=phi,
            terminal=np.asarray(terms),
            phi_zero=bool(phi_zero),
            smooth=pieces == 1,
        )
        object.__setattr__(self, "_problem", problem)
        object.__setattr__(self, "_pieces", pieces)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def acas(
        cls,
        horizon: float = 1.0,
        temporary_impact: Coefficient = 0.5,
        intensity_decay: float = 2.0,
        running_penalty: Coefficient = 0.0,
        terminal_penalty: float = 1.0,
        trader_inventory: float = -5.0,
        maker_inventories: tuple[float, float] = (1.0, 0.0),
        noise_buy_rate: Coefficient = 0.0,
        noise_sell_rate: Coefficient = 0.0,
        min_rate: float = 0.0,
        max_rate: float = math.inf,
        max_spread: float = math.inf,
    ) -> MarketMakingGame:
        """§4 ACAS game: one Almgren–Chriss trader (λ = βv²), two Avellaneda–Stoikov makers
        (Λ = e^{−γx}), homogeneous φ and A. Controls (17), FBSDE (18)–(19)."""
        if len(maker_inventories) != 2:
            raise ValueError(f"maker_inventories = {maker_inventories!r}: ACAS has 2 makers")
        if not trader_inventory < 0:
            raise ValueError(
                f"trader_inventory = {trader_inventory!r}: the ACAS trader buys (q₀ᵉ < 0, §4)"
            )
        return cls(
            horizon=horizon,
            trader_inventories=(float(trader_inventory),),
            maker_inventories=tuple(float(q) for q in maker_inventories),
            temporary_impact=temporary_impact,
            intensity="exponential",
            intensity_decay=intensity_decay,
            temporary_cost="individual",
            trader_running_penalty=running_penalty,
            trader_terminal_penalty=terminal_penalty,
            maker_running_penalty=running_penalty,
            maker_terminal_penalty=terminal_penalty,
            noise_buy_rate=noise_buy_rate,
            noise_sell_rate=noise_sell_rate,
            min_rate=min_rate,
            max_rate=max_rate,
            max_spread=max_spread,
        )

    # ----------------------------------------------------------------- properties
    @property
    def problem(self) -> Problem:
        """The deterministic BVP data (:class:`market_making_bvp.Problem`)."""
        return self._problem

    def default_steps(self) -> int:
        """RK4 steps: ≥ 50 and a multiple of the noise profiles' pieces (breakpoints on nodes).

        RK4 is fourth order, so 50 steps resolve the examples' equilibria far below the Monte
        Carlo error (``benchmarks/bench_market_making.py``); policies interpolate linearly
        between nodes.
        """
        return self._pieces * max(1, math.ceil(50 / self._pieces))

    # ----------------------------------------------------------------- solve
    @single_threaded
    def solve(
        self, steps: int | None = None, method: Method = "auto", decoupling: str = "radon"
    ) -> MarketMakingSolution:
        """Solve (13)–(14) on an RK4 grid of ``steps`` steps and the decoupling field (23).

        ``method``: "auto" (φ ≡ 0: algebraic fast path, else ``solve_bvp`` collocation
        started from the φ = 0 equilibrium path (smooth coefficients); if it fails, shooting
        from the φ = 0 solution, then from the collocation's last iterate; if Newton fails,
        continuation: drift/horizon homotopy, then inventory and noise homotopy; collocation
        from scratch as last resort, whose interpolant then gives the path — long horizons,
        where re-shooting is unstable), or one of "algebraic"
        (needs φ ≡ 0), "shooting", "collocation". ``decoupling``: "radon" (Radon's lemma:
        linear ODE, explicit when φ ≡ 0; the default — far less stiff) or "riccati" (RK4 on
        (23) directly); Radon falls back to Riccati if V(t) is singular.
        Raises :class:`MarketMakingSolveError` if no method converges.
        """
        auto_steps = steps is None
        steps = self.default_steps() if steps is None else int(steps)
        if steps < 2:
            raise ValueError(f"steps = {steps!r}: need ≥ 2")
        if method not in ("auto", "algebraic", "shooting", "collocation"):
            raise ValueError(
                f"method = {method!r}: allowed 'auto', 'algebraic', 'shooting', 'collocation'"
            )
        if decoupling not in ("riccati", "radon"):
            raise ValueError(f"decoupling = {decoupling!r}: allowed 'riccati', 'radon'")
        pb = self._problem
        if method == "algebraic" and not pb.phi_zero:
            raise ValueError("method = 'algebraic' needs running penalties φ ≡ 0 (Y constant)")
        q0 = self.initial_inventories[None, :]
        refinements = 2 if auto_steps else 0  # default grid: refine ×4 if (23) is too stiff
        for attempt in range(refinements + 1):
            grid = Grid.build(pb, 0.0, steps)
            # trial Newton steps may overflow exp(−γx): non-finite residuals are rejected
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                y0, info = _solve_y0(pb, grid, q0, method)
                try:
                    return MarketMakingSolution._build(self, grid, y0[0], info, decoupling)
                except _DecouplingError:
                    if attempt == refinements:
                        raise
            steps *= 4


def _solve_y0(pb: Problem, grid: Grid, q0: np.ndarray, method: str, guess=None):
    """Y(t₀) for a batch of initial states ``q0`` (P, n); returns (y0, info dict)."""
    info: dict[str, Any] = {"continuation_steps": 0}
    if method == "collocation":
        y0 = _collocation_y0(pb, grid, q0, info)
        info.update(method="collocation", newton_iterations=0, residual=float("nan"))
        return y0, info
    use_alg = pb.phi_zero and method in ("auto", "algebraic")
    solver = solve_algebraic if use_alg else solve_shooting
    info["method"] = "algebraic" if use_alg else "shooting"
    near = None  # a failed warm-start collocation's last iterate
    if guess is None:
        guess = -2.0 * pb.terminal * q0
        if not use_alg:  # the φ = 0 problem is cheap (algebraic) and a good starting point
            pb0 = Problem(**{**pb.__dict__, "phi": lambda t: 0.0 * pb.phi(t), "phi_zero": True})
            g0 = Grid(grid.t, {**grid.coef, "phi": 0.0 * grid.coef["phi"]})
            try:
                guess = _newton_or_continuation(solve_algebraic, pb0, g0, q0, guess)[0].y
            except MarketMakingSolveError:
                pass
            else:
                if method == "auto" and q0.shape[0] == 1 and pb.smooth:
                    y0, near = _warm_collocation(pb, pb0, grid, g0, q0, guess, info)
                    if y0 is not None:
                        return y0, info
    try:
        res, nsteps = solver(pb, grid, q0, guess), 0
        if not res.converged and near is not None:
            res = solver(pb, grid, q0, near)
            if res.converged:
                info["method"] = "shooting (collocation warm start)"
        if not res.converged:
            res, nsteps = _continuation(solver, pb, grid, q0)
        info["continuation_steps"] = nsteps
    except MarketMakingSolveError:
        if method != "auto" or q0.shape[0] != 1:
            raise
        info["method"] = "collocation (fallback)"
        info["residual"] = float("nan")
        return _collocation_y0(pb, grid, q0, info), info
    info.update(newton_iterations=res.iterations, residual=res.residual)
    return res.y, info


def _warm_collocation(
    pb, pb0, grid, g0, q0, guess, info
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``solve_bvp`` started from the φ = 0 equilibrium path (smooth coefficients, one state).

    In the numpy-overhead regime collocation (one vectorised call per Newton iteration over all
    nodes) beats shooting (4 calls per RK4 step). Returns (Y(t₀), None) on success. On failure
    it returns (None, the last iterate's Y(t₀)) if that is finite: where a truncation starts or
    stops binding, ``solve_bvp`` converges to the equilibrium but keeps refining its mesh around
    the kink until it runs out of nodes. When shooting from the φ = 0 solution fails, that
    iterate starts the shooting (whose RK4 steps split at the located switching times) a Newton
    step or two from its solution, before any homotopy.
    """
    tr = integrate(pb0, g0, q0[0], guess[0])
    try:
        sol = solve_collocation(pb, q0[0], grid.t, tr.q, tr.y, max_nodes=1000)
    except MarketMakingSolveError as err:
        last = err.iterate
        near = None if last is None else last(grid.t[0])[pb.n :][None, :]
        return None, near if near is not None and np.all(np.isfinite(near)) else None
    info.update(
        method="collocation (warm start)",
        _path=sol.sol,
        newton_iterations=0,
        residual=float(np.max(np.abs(sol.rms_residuals))),
    )
    return sol.sol(grid.t[0])[pb.n :][None, :], None


def _newton_or_continuation(solver, pb: Problem, grid: Grid, q0: np.ndarray, guess: np.ndarray):
    """Direct Newton from ``guess``; if it fails, the drift then the inventory homotopy."""
    res = solver(pb, grid, q0, guess)
    if res.converged:
        return res, 0
    return _continuation(solver, pb, grid, q0)


def _continuation(solver, pb: Problem, grid: Grid, q0: np.ndarray):
    """The drift homotopy, then the inventory homotopy (see :func:`continuation`)."""
    try:
        return continuation(solver, pb, grid, q0, "drift")
    except MarketMakingSolveError:
        return continuation(solver, pb, grid, q0, "inventory")


def _collocation_y0(
    pb: Problem, grid: Grid, q0: np.ndarray, info: dict | None = None
) -> np.ndarray:
    """Y(t₀) by ``solve_bvp`` from the trivial guess; ``info["_path"]`` keeps the interpolant
    (the solution's path then comes from collocation, not from an unstable RK4 re-shoot)."""
    n = pb.n
    out = []
    for q in q0:
        t = np.linspace(grid.t[0], grid.t[-1], 21)
        sol = solve_collocation(
            pb, q, t, np.tile(q, (t.size, 1)), np.tile(-2 * pb.terminal * q, (t.size, 1))
        )
        out.append(sol.sol(grid.t[0])[n:])
        if info is not None:
            info["_path"] = sol.sol
    return np.asarray(out)


_GAUSS_X, _GAUSS_W = np.polynomial.legendre.leggauss(6)
_GAUSS_X, _GAUSS_W = (_GAUSS_X + 1) / 2, _GAUSS_W / 2  # on [0, 1]


def _collocation_path(pb: Problem, grid: Grid, path) -> Any:
    """Q, Y on the grid from a collocation interpolant; cash and ∫φQ² integrated along it
    piece by piece: the switching times inside each step (where the drift changes smooth
    piece, :func:`market_making_bvp.switching_times`) split the step, and each smooth piece gets
    6-point Gauss–Legendre (exact to degree 11), so no quadrature straddles a kink."""
    n = pb.n
    t = grid.t
    z = path(t)
    q, y = z[:n].T, z[n:].T
    kinks = switching_times(pb, t, lambda tt: path(tt)[n:].T)
    edges = np.sort(np.concatenate([t, kinks]))
    a, b = edges[:-1], edges[1:]
    nodes = (a[:, None] + (b - a)[:, None] * _GAUSS_X[None, :]).ravel()
    zg = path(nodes)
    qg, yg = zg[:n].T, zg[n:].T
    d = forward_drift(
        pb.market, yg, pb.noise_buy(nodes), pb.noise_sell(nodes), pb.beta(nodes), True
    )
    weights = ((b - a)[:, None] * _GAUSS_W[None, :]).ravel()[:, None]
    cash = (weights * d.payoff).sum(0)
    pen = (weights * pb.phi(nodes) * qg * qg).sum(0)
    return q, y, cash, pen


# --------------------------------------------------------------------------- solution
@dataclass
class MarketMakingSolution(PolicyTable):
    """Equilibrium of a :class:`MarketMakingGame` on the RK4 grid ``time`` (K+1 nodes).

    Arrays (agents in game order, traders then makers): ``inventory`` Q̂ and ``adjoint`` Ŷ
    (K+1, n), ``rate`` v̂ (K+1, NT), ``ask`` δ̂ᵃ / ``bid`` δ̂ᵇ (K+1, NM), ``riccati`` R (K+1, n, n)
    (∂Y/∂Q along the path, (23)). ``value``: equilibrium objectives J with P₀ = 0.
    :meth:`feedback`: the equilibrium controls at any state (the
    :class:`~policies.equilibrium.protocol.Solution` protocol).
    """

    game: MarketMakingGame
    grid: Grid
    time: np.ndarray
    inventory: np.ndarray
    adjoint: np.ndarray
    rate: np.ndarray
    ask: np.ndarray
    bid: np.ndarray
    riccati: np.ndarray
    value: pd.Series
    diagnostics: dict[str, Any]
    _step_cache: StepCache = field(
        default_factory=lambda: StepCache(), init=False, repr=False, compare=False
    )

    @classmethod
    def _build(cls, game, grid, y0, info, decoupling) -> MarketMakingSolution:
        pb = game.problem
        q0 = game.initial_inventories
        info = dict(info)
        path = info.pop("_path", None)
        if path is None:
            tr = integrate(pb, grid, q0, y0, payoff=True)
            q, y, cash, penalty = tr.q, tr.y, tr.cash, tr.penalty
        else:
            q, y, cash, penalty = _collocation_path(pb, grid, path)
        a, b, beta = (grid.at_nodes(k) for k in ("a", "b", "beta"))
        d = forward_drift(pb.market, y, a, b, beta)
        terminal_res = float(np.max(np.abs(y[-1] + 2 * pb.terminal * q[-1])))
        scale = 1.0 + float(np.max(np.abs(2 * pb.terminal * q0)))
        if not np.isfinite(terminal_res) or terminal_res > 1e-6 * scale:
            raise MarketMakingSolveError(
                f"equilibrium path misses Y(T) = −2A·Q(T) by {terminal_res:.3g} ({info['method']})"
            )
        g = jacobians_on_grid(pb, grid, q, y)
        phi2, dd = 2.0 * grid.coef["phi"], 2.0 * pb.terminal
        r = _decoupling(grid, g, phi2, dd, decoupling)
        if r is None and decoupling == "radon":  # V(t) ill-conditioned (large φ·T): Riccati
            decoupling = "riccati (radon failed)"
            r = _decoupling(grid, g, phi2, dd, "riccati")
        if r is None:
            raise _DecouplingError(
                "decoupling field: Radon's V(t) is singular and the Riccati (23) blows up on this "
                "grid; Thm 4.2 needs a bounded solution of (23) — try more steps"
            )
        value = cash - penalty - pb.terminal * q[-1] ** 2
        diag = dict(info)
        diag.update(terminal_residual=terminal_res, decoupling=decoupling, steps=grid.steps)
        diag.update(_truncation_report(game, d.rate, d.ask, d.bid))
        diag.update(_assumption_4_4(game))
        return cls(
            game=game,
            grid=grid,
            time=grid.t,
            inventory=q,
            adjoint=y,
            rate=d.rate,
            ask=d.ask,
            bid=d.bid,
            riccati=r,
            value=pd.Series(value, index=pd.Index(game.names, name="agent"), name="value"),
            diagnostics=diag,
        )

    # ----------------------------------------------------------------- views
    @property
    def path(self) -> pd.DataFrame:
        """Tidy: time, agent, role, inventory, adjoint, rate (traders), ask/bid_spread (makers)."""
        g = self.game
        return tidy_path(
            self.time, g.names, g.roles, self.inventory, self.adjoint, self.rate, self.ask, self.bid
        )

    def _interp(self, arr: np.ndarray, t: float) -> np.ndarray:
        """Linear interpolation in time of an array with the grid on axis 0."""
        tt = self.time
        j = int(np.clip(np.searchsorted(tt, t, side="right") - 1, 0, tt.size - 2))
        w = float(np.clip((t - tt[j]) / (tt[j + 1] - tt[j]), 0.0, 1.0))
        return (1 - w) * arr[j] + w * arr[j + 1]

    @single_threaded
    def adjoint_at(
        self,
        t: float,
        inventories: np.ndarray,
        exact: bool = False,
        trust_radius: float | None = None,
    ) -> np.ndarray:
        """Decoupling field ``Y(t, Q)`` for inventories (M, n).

        ``exact=False``: first order, ``Ŷ(t) + R(t)(Q − Q̂(t))`` (Riccati (23)); error
        O(|Q − Q̂|²). ``exact=True``: re-solve the BVP on [t, T] from each Q (batched Newton
        over the M states, warm-started from the first-order field); one BVP solve per call.
        ``trust_radius``: clip ``Y − Ŷ(t)`` componentwise to ±radius (None: no clipping).
        """
        q = np.atleast_2d(np.asarray(inventories, dtype=float))
        y_hat = self._interp(self.adjoint, t)
        y = y_hat + (q - self._interp(self.inventory, t)) @ self._interp(self.riccati, t).T
        if exact and t < self.time[-1]:
            pb = self.game.problem
            steps = max(8, round(self.grid.steps * (self.time[-1] - t) / self.time[-1]))
            grid = Grid.build(pb, float(t), steps)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                y, _ = _solve_y0(pb, grid, q, "auto", guess=y)
        if trust_radius is not None:
            y = y_hat + np.clip(y - y_hat, -trust_radius, trust_radius)
        return y

    def feedback(self, t: float, inventories: np.ndarray, exact: bool = False) -> Feedback:
        """Equilibrium adjoints and controls at time t for inventories (M, n) (one row per path,
        agents in game order), vectorised over the M states.

        The equilibrium of (13)–(14) is a feedback in the inventories through the decoupling
        field ``Y = Y(t, Q)`` of Thm 4.2 (:meth:`adjoint_at`: ``Ŷ(t) + R(t)(Q − Q̂(t))`` with R
        from (23), or with ``exact=True`` the BVP re-solved from each state); the controls are
        the pointwise Hamiltonian maximisers at Y (Thm 3.9): the traders' rates ϕ and the
        makers' half-spreads ψᵃ, ψᵇ ((17) for ACAS: ``δᵃ = 1/γ + Yᵐ``, ``δᵇ = 1/γ − Yᵐ``,
        ``v = (Yᵉ − min δᵃ)/(2β) ∨ ε``). On the equilibrium path it returns the path's
        ``adjoint``, ``rate``, ``ask`` and ``bid``.
        """
        horizon = float(self.time[-1])
        if not (0.0 <= t <= horizon):
            raise ValueError(f"t = {t!r}: must lie in [0, {horizon}]")
        q = np.atleast_2d(np.asarray(inventories, dtype=float))
        n = len(self.game.names)
        if q.ndim != 2 or q.shape[-1] != n or not np.all(np.isfinite(q)):
            raise ValueError(
                f"inventories: shape {q.shape}; expected finite (M, {n}) (traders then makers)"
            )
        y = self.adjoint_at(t, q, exact=exact)
        rate, ask, bid = self.controls_at(t, y)
        return Feedback(y, rate, ask, bid)

    def schedule_at(self, t: float) -> np.ndarray:
        """Ŷ(t) on the equilibrium path (linear in time between grid nodes), (1, n)."""
        return self._interp(self.adjoint, t)[None, :]

    def _coefficients_at(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """a(t), b(t), β(t) as (1,) arrays (right-continuous; t = T takes the last piece)."""
        pb = self.game.problem
        tt = np.array([min(t, self.time[-1] * (1 - 1e-12))])
        return pb.noise_buy(tt), pb.noise_sell(tt), pb.beta(tt)

    def controls_at(self, t: float, adjoint: np.ndarray):
        """Pointwise maximisers at time t: (rate (M, NT), ask (M, NM), bid (M, NM))."""
        d = forward_drift(self.game.problem.market, adjoint, *self._coefficients_at(t))
        return d.rate, d.ask, d.bid

    def trader_rates_at(
        self, t: float, adjoint: np.ndarray, best_ask: np.ndarray, best_bid: np.ndarray
    ) -> np.ndarray:
        """Traders' rates ϕ (M, NT) at time t against *given* best quotes ``min_j δʲ`` (M,).

        Thm 3.9 / (21): ``v = (Yᵉ − best ask)/(2β)`` truncated to ``[ε, ξ̃]`` for a buyer,
        ``(Yᵉ + best bid)/(2β)`` to ``[−ξ̃, −ε]`` for a seller; the aggregated cost of Remark 3.3
        solves the traders' joint first-order conditions with the same quotes. Equal to
        :meth:`controls_at`'s rates when the quotes are the makers' maximisers ψ(Y).
        """
        market = self.game.problem.market
        beta = self._coefficients_at(t)[2]
        ask = np.asarray(best_ask, dtype=float).reshape(-1, 1)
        bid = np.asarray(best_bid, dtype=float).reshape(-1, 1)
        return trader_response(market, adjoint[:, : market.n_traders], ask, bid, beta)

    # ----------------------------------------------------------------- policies
    def feedback_policy(
        self, agent_name: str, exact: bool = False, trust_radius: float | str | None = "auto"
    ) -> Policy:
        """Decoupling-field policy ("equilibrium"): ``Y(t, Q)`` at the realised inventories.

        Makers quote ψ(Y) (Thm 3.9; (17) for ACAS). Traders play ϕ against the best quotes they
        observe (``state.best_ask`` / ``state.best_bid``, (21)), i.e. react to a deviating maker;
        on the equilibrium path these are the modelled quotes ψ(Y).

        ``exact=True`` re-solves the BVP from every path's state at every step instead of the
        first-order field (cost: one batched BVP solve per step; "Feedback evaluation" in
        ``benchmarks/bench_market_making.py``).
        ``trust_radius``: ``Y − Ŷ(t)`` is clipped to ±radius (``"auto"``: 3·(−Λ(0)/Λ'(0)),
        i.e. 3/γ; ``None``: off). Far from the equilibrium path (e.g. against a heuristic
        opponent) unbounded quotes give fill factors ``e^{γ|Δδ|}`` that make the engine's
        explicit time stepping overshoot and diverge; the clip keeps them ≤ e^{6}. It never
        binds while Y stays within 3/γ of Ŷ(t), e.g. on the equilibrium path.

        With ξ = ∞ the policy is refused (``ValueError``) when ``trust_radius`` is None or a
        maker plays a heuristic (``game.maker_policies``): unbounded quote gaps make the fill
        factor ``Λ(δ − δ̄) = e^{γ(δ̄ − δ)}`` unbounded, one engine step then overfills
        (e.g. Poisson lots of 1 near T: a gap of 4.9 → e^{9.7}), the inventories jump by
        hundreds, the first-order field extrapolates that into quotes of ~10³ and the payoffs
        become inf/NaN. A finite ``market.max_spread`` bounds every gap by 2ξ.
        """
        if trust_radius == "auto":
            trust_radius = 3.0 * self.game.problem.market.intensity.scale()
        elif trust_radius is not None and not (
            isinstance(trust_radius, (int, float)) and trust_radius > 0
        ):
            raise ValueError(f"trust_radius = {trust_radius!r}: a number > 0, 'auto' or None")
        self._check_bounded(trust_radius is None)
        return DecouplingPolicy(self, agent_name, True, exact, trust_radius)

    def open_loop_policy(self, agent_name: str) -> Policy:
        """The equilibrium schedule along the equilibrium path ("equilibrium_open_loop")."""
        self._check_bounded(False)
        return DecouplingPolicy(self, agent_name, False, False, None)

    def _check_bounded(self, unclipped: bool) -> None:
        """Refuse simulations whose quotes are unbounded (ξ = ∞ and an unclipped field or a
        heuristic maker): see :meth:`feedback_policy`."""
        g = self.game
        if math.isfinite(g.max_spread):
            return
        pols = g.maker_policies or (EQUILIBRIUM_POLICIES[0],) * len(g.maker_names)
        heur = [f"{n} ({p})" for n, p in zip(g.maker_names, pols, strict=True)]
        heur = [h for h, p in zip(heur, pols, strict=True) if p not in EQUILIBRIUM_POLICIES]
        if not heur and not unclipped:
            return
        why = (
            f"maker(s) {', '.join(heur)} play heuristics against the equilibrium"
            if heur
            else "trust_radius = None leaves the feedback quotes unbounded"
        )
        reach = float(np.max(np.abs([self.ask, self.bid])))
        raise ValueError(
            f"market.max_spread = inf: {why}; unbounded quote gaps δ − δ̄ give fill rates "
            f"ã·Λ(δ − δ̄) that overfill in one step and make payoffs inf/NaN. Set a finite "
            f"market.max_spread ξ (the equilibrium quotes stay within |δ| ≤ {reach:.3g}; "
            f"e.g. max_spread = {math.ceil(reach + 1.0)})"
        )

    def transformed(self) -> pd.DataFrame:
        """ACAS (22) coordinates: Q¹ᵐ, Q²ᵐ = Q¹ᵐ − Q²ᵐ, Q¹ᵉ = Q¹ᵉ − Q¹ᵐ (and Y likewise)."""
        m = acas_transform(self.game)
        qt, yt = self.inventory @ m.T, self.adjoint @ m.T
        cols = ("1m", "2m", "1e")
        data = {"time": self.time}
        data.update({f"Q_{c}": qt[:, i] for i, c in enumerate(cols)})
        data.update({f"Y_{c}": yt[:, i] for i, c in enumerate(cols)})
        return pd.DataFrame(data)


def acas_transform(game: MarketMakingGame) -> np.ndarray:
    """Matrix M of (22) in game order (trader, maker₁, maker₂), maker₁ = larger inventory."""
    if len(game.trader_names) != 1 or len(game.maker_names) != 2:
        raise ValueError("the (22) transformation is defined for 1 trader and 2 makers")
    q = game.maker_inventories
    m1, m2 = (1, 2) if q[0] >= q[1] else (2, 1)
    m = np.zeros((3, 3))
    m[0, m1] = 1.0  # Q¹ᵐ
    m[1, m1], m[1, m2] = 1.0, -1.0  # Q¹ᵐ − Q²ᵐ
    m[2, 0], m[2, m1] = 1.0, -1.0  # Q¹ᵉ − Q¹ᵐ
    return m


class _DecouplingError(MarketMakingSolveError):
    """R could not be integrated on this grid (stiff (23)); a finer grid may succeed."""


def _decoupling(grid, g, phi2, dd, kind: str) -> np.ndarray | None:
    """R by Radon's lemma or RK4 on (23); None if it fails (singular V, overflow)."""
    try:
        with np.errstate(all="ignore"):
            r = radon(grid, g, phi2, dd) if kind == "radon" else riccati(grid, g, phi2, dd)
    except (np.linalg.LinAlgError, FloatingPointError):
        return None
    return r if np.all(np.isfinite(r)) else None


def _truncation_report(game, rate, ask, bid) -> dict[str, Any]:
    """Fraction of grid nodes at which ε, ξ̃ (traders) or ξ (makers) binds."""
    mk = game.problem.market
    out: dict[str, float] = {}
    for i, nm in enumerate(game.trader_names):
        v = np.abs(rate[:, i])
        out[f"{nm}.min_rate"] = float(np.mean(np.isclose(v, mk.min_rate, atol=1e-12)))
        out[f"{nm}.max_rate"] = float(np.mean(np.isclose(v, mk.max_rate, atol=1e-12)))
    for j, nm in enumerate(game.maker_names):
        s = np.maximum(np.abs(ask[:, j]), np.abs(bid[:, j]))
        out[f"{nm}.max_spread"] = float(np.mean(np.isclose(s, mk.max_spread, atol=1e-12)))
    return {"truncation_binding": out, "truncation_binds": any(v > 0 for v in out.values())}


def _assumption_4_4(game: MarketMakingGame) -> dict[str, Any]:
    """Assumption 4.4 (ACAS-shaped games only; else None), both of its parts:

    * inventories: ``q₀ᵉ − q₀¹ᵐ < −1/(2Aγ)`` (``assumption_4_4_margin`` > 0);
    * the lower truncation: ``ε ≤ p·(−q₀ᵉ + q₀¹ᵐ − 1/(2Aγ))/(2β̄)`` with
      ``p = 2{1/A + T/β·[1 + e^{2Aγ(q₀¹ᵐ − q₀²ᵐ)}]}⁻¹`` from the proof of Theorem 4.3 (β, β̄ the
      lower and upper bounds of β on [0, T]); ``assumption_4_4_epsilon_bound`` is that bound.
    """
    mk = game.problem.market
    a = game.problem.terminal
    if not (mk.n_traders == 1 and mk.n_makers == 2 and mk.intensity.decay and mk.buyer[0]):
        return {"assumption_4_4": None}
    if not np.allclose(a, a[0]) or a[0] == 0:
        return {"assumption_4_4": None}
    big_a, gamma, horizon = float(a[0]), float(mk.intensity.decay), game.problem.horizon
    q_high, q_low = max(game.maker_inventories), min(game.maker_inventories)
    margin = -1.0 / (2 * big_a * gamma) - (game.trader_inventories[0] - q_high)
    beta = np.asarray(game.problem.beta(np.linspace(0.0, horizon, 257)), dtype=float)
    growth = math.exp(min(2 * big_a * gamma * (q_high - q_low), 700.0))
    p = 2.0 / (1.0 / big_a + horizon / float(beta.min()) * (1.0 + growth))
    epsilon_bound = max(p * margin / (2.0 * float(beta.max())), 0.0)
    return {
        "assumption_4_4": bool(margin > 0 and mk.min_rate <= epsilon_bound),
        "assumption_4_4_margin": float(margin),
        "assumption_4_4_epsilon_bound": float(epsilon_bound),
    }
