"""Best responses and the Nash gap of the §3/§4 best-quote market (Guo & Jin, Definition 3.7).

A strategy profile of the best-quote game is a set of deterministic schedules on the engine's grid
``t_k = k·dt`` (``k = 0..n−1``): trader rates ``vⁱ_k`` and maker half-spreads ``(δʲᵃ_k, δʲᵇ_k)``,
each held constant on ``[t_k, t_{k+1})``. With deterministic noise rates in fluid mode every
profile is deterministic, so "the others' strategies held fixed as processes" (the paper's
open-loop Nash equilibrium) means their schedules are held fixed.

The payoffs are the engine's fluid-mode objectives with ``P₀ = 0`` (= their expectation for any
martingale reference price), i.e. the paper's ``J^{i,m}`` and ``J^{i,e}`` of §3 restricted to
piecewise-constant controls:

* maker j:  ``Σ_k [δʲᵃ_k ã_k Λ(δʲᵃ_k − δ̄ʲᵃ_k) + δʲᵇ_k b̃_k Λ(δʲᵇ_k − δ̄ʲᵇ_k)] dt − R(Qʲ) − A Qʲ_n²``
  with ``Qʲ_{k+1} = Qʲ_k − ã_kΛ(·)dt + b̃_kΛ(·)dt``, ``δ̄ʲ = min_{l≠j} δˡ`` (0 for a lone maker);
* trader i: ``−Σ_k sᵢ_k vⁱ_k dt − Σ_k λⁱ(v_k) dt − R(Qⁱ) − A Qⁱ_n²`` with the best quote (12)
  ``sᵢ_k = min_j δʲᵃ_k`` for a buyer (``q₀ < 0``) and ``−min_j δʲᵇ_k`` for a seller;

where ``R(Q) = Σ_k φ·dt·(Q_k² + Q_kQ_{k+1} + Q_{k+1}²)/3`` is the exact ``∫φQ²dt`` for linear Q,
``ã_k = a_k + Σ_{buyers} vⁱ_k`` and ``b̃_k = b_k − Σ_{sellers} vⁱ_k``.

Best responses (the others fixed):

* trader, λ = βv² (individual) or aggregated ``β v(v + c·mean_{j≠i} vʲ)``: a strictly concave
  quadratic programme over the box ``[ε, ξ̃]`` (buyer) / ``[−ξ̃, −ε]`` (seller), solved exactly
  (an O(n) banded solve of the discrete two-point problem, or bounded-variable least squares
  when a bound binds); a general λ of class Υ: the same smooth convex problem solved by L-BFGS-B
  with the exact adjoint gradient;
* maker: the nonlinear control problem above, ``|δ| ≤ ξ``. In fill variables
  ``s = ãΛ(δ − δ̄)dt`` it is concave for every Λ of Definition 3.4 (``ΛΛ''/Λ'² ≤ 1 < 2``), so a
  stationary point is the global maximum. It is solved by projected Newton ascent with the exact
  fill-space Hessian (O(n) per step) and a line search on the exact payoff, started from the
  profile and from a Pontryagin sweep (``δᵃ = 1/γ + y``, ``δᵇ = 1/γ − y`` for exponential Λ,
  the Hamiltonian maximiser of the proof of Theorem 4.1), with L-BFGS-B on the exact
  discrete-adjoint gradient as a fallback; optimality is certified by the discrete Pontryagin
  (KKT) conditions, ``δᵃ_k = argmax H(y_k)`` at every step with flow.

Entry points: :func:`market_making_nash_gap` (arrays), :func:`market_making_best_response`
(any agent by name; :func:`trader_best_response`, :func:`maker_best_response` by role and
index), each returning a :class:`~policies.equilibrium.protocol.BestResponse`, and
:func:`profile_payoffs`; :mod:`simulator.nash_gap` plays a scenario's profile and calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import solve_banded
from scipy.optimize import lsq_linear, minimize

from policies.equilibrium.market_making_hamiltonian import HamiltonianError, Intensity
from policies.equilibrium.protocol import BestResponse
from simulator.mechanisms import rules


class BestResponseError(RuntimeError):
    """A best-response optimisation did not reach a certified optimum."""


# --------------------------------------------------------------------------------------------
# the discretised market
# --------------------------------------------------------------------------------------------
def _per_agent(name: str, value: Any, count: int) -> np.ndarray:
    try:
        arr = np.broadcast_to(np.asarray(value, dtype=float), (count,)).copy()
    except ValueError:
        raise ValueError(
            f"{name} = {value!r}; allowed: a number or one value per agent ({count})"
        ) from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} = {value!r}; allowed: finite numbers, one per agent")
    return arr


def _schedule(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.array(value, dtype=float)
    if arr.size == np.prod(shape) and arr.ndim == len(shape) - 1 and shape[0] == 1:
        arr = arr.reshape(shape)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}; allowed: {shape} (agents, steps[, 2])")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0].tolist()
        raise ValueError(f"{name} has a non-finite entry at {bad}; allowed: finite schedules")
    return arr


def _per_step(name: str, value: Any, steps: int) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    arr = np.broadcast_to(arr, (steps,)).copy() if arr.ndim == 0 else arr
    if arr.shape != (steps,) or np.any(arr < 0) or not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{name} = {value!r}; allowed: a rate ≥ 0 or {steps} rates ≥ 0 (one per step)"
        )
    return arr


class DiscreteBestQuoteGame:
    """The §3 best-quote game on the engine grid (fluid mode, deterministic noise rates).

    Traders first, then makers (the scenario's column order). Penalties are per agent (scalars
    broadcast), and so is ``temporary_impact`` (one βⁱ per trader, or one β for all).
    ``temporary_cost`` is ``"individual"`` (λⁱ = βⁱv²), ``"aggregated"``
    (λⁱ = βⁱv(v + c·mean_{j≠i} vʲ), c = ``cost_coupling``) or a callable
    ``cost(v_i, v_others) -> (λ, ∂λ/∂vᵢ)`` on arrays ``(n,)`` and ``(N−1, n)`` (class Υ).
    ``noise_buy_rate`` / ``noise_sell_rate`` (a, b) are scalars or arrays of one rate per step.
    ``flow_weights`` wᵢ weigh each trader's rate in the flow hitting the makers (1 = the engine).
    """

    def __init__(
        self,
        *,
        horizon: float,
        steps: int,
        temporary_impact: Any,
        trader_inventories: Any,
        maker_inventories: Any,
        intensity: Any = "exponential",
        intensity_decay: float = 1.0,
        trader_running_penalty: Any = 0.0,
        trader_terminal_penalty: Any = 0.0,
        maker_running_penalty: Any = 0.0,
        maker_terminal_penalty: Any = 0.0,
        noise_buy_rate: Any = 0.0,
        noise_sell_rate: Any = 0.0,
        temporary_cost: str | Callable[..., tuple[np.ndarray, np.ndarray]] = "individual",
        cost_coupling: float = 1.0,
        max_spread: float = float("inf"),
        min_rate: float = 0.0,
        max_rate: float = float("inf"),
        trader_names: tuple[str, ...] | None = None,
        maker_names: tuple[str, ...] | None = None,
        flow_weights: Any = 1.0,
    ) -> None:
        if not (np.isfinite(horizon) and horizon > 0):
            raise ValueError(f"horizon = {horizon!r}; allowed: T > 0")
        if int(steps) != steps or steps < 1:
            raise ValueError(f"steps = {steps!r}; allowed: an integer ≥ 1")
        if not max_spread > 0:
            raise ValueError(f"max_spread = {max_spread!r}; allowed: ξ > 0 (or inf)")
        rules.check_rate_bounds(min_rate, max_rate, prefix="")
        if not (isinstance(temporary_cost, str) or callable(temporary_cost)) or (
            isinstance(temporary_cost, str) and temporary_cost not in ("individual", "aggregated")
        ):
            raise ValueError(
                f"temporary_cost = {temporary_cost!r}; allowed: 'individual', 'aggregated' "
                "or a callable (v_i, v_others) -> (λ, ∂λ/∂v_i) of class Υ"
            )
        self.horizon = float(horizon)
        self.steps = int(steps)
        self.dt = self.horizon / self.steps
        self.intensity = Intensity.build(intensity, intensity_decay)
        self.q_trader = np.atleast_1d(np.asarray(trader_inventories, dtype=float))
        self.q_maker = np.atleast_1d(np.asarray(maker_inventories, dtype=float))
        nt, nm = self.q_trader.size, self.q_maker.size
        beta = _per_agent("temporary_impact", temporary_impact, nt)
        bad = ~(beta > 0)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise ValueError(
                f"temporary_impact[{i}] = {float(beta[i])!r}; allowed: βⁱ > 0 (a number for "
                "every trader or one per trader)"
            )
        self.trader_impacts = beta  # βⁱ, (N_t,)
        if nm < 1:
            raise ValueError("maker_inventories = []; allowed: at least one maker")
        if not (np.all(np.isfinite(self.q_trader)) and np.all(np.isfinite(self.q_maker))):
            raise ValueError("inventories must be finite")
        if np.any(self.q_trader == 0):
            raise ValueError(
                f"trader_inventories = {self.q_trader.tolist()}; allowed: non-zero q₀ (§3: a "
                "trader buys if q₀ < 0 and sells if q₀ > 0)"
            )
        self.phi_trader = _per_agent("trader_running_penalty", trader_running_penalty, nt)
        self.A_trader = _per_agent("trader_terminal_penalty", trader_terminal_penalty, nt)
        self.phi_maker = _per_agent("maker_running_penalty", maker_running_penalty, nm)
        self.A_maker = _per_agent("maker_terminal_penalty", maker_terminal_penalty, nm)
        for name, arr in (
            ("trader_running_penalty", self.phi_trader),
            ("maker_running_penalty", self.phi_maker),
            ("trader_terminal_penalty", self.A_trader),
            ("maker_terminal_penalty", self.A_maker),
        ):
            if np.any(arr < 0):
                raise ValueError(f"{name} = {arr.tolist()}; allowed: ≥ 0")
        self.flow_weights = _per_agent("flow_weights", flow_weights, nt)
        if np.any(self.flow_weights < 0):
            raise ValueError(f"flow_weights = {flow_weights!r}; allowed: ≥ 0")
        self.noise_buy = _per_step("noise_buy_rate", noise_buy_rate, self.steps)
        self.noise_sell = _per_step("noise_sell_rate", noise_sell_rate, self.steps)
        self.temporary_cost = temporary_cost
        self.cost_coupling = float(cost_coupling)
        self.max_spread = float(max_spread)
        self.min_rate = float(min_rate)
        self.max_rate = float(max_rate)
        self.trader_names = trader_names or tuple(f"trader_{i}" for i in range(nt))
        self.maker_names = maker_names or tuple(f"maker_{j}" for j in range(nm))
        if len(self.trader_names) != nt or len(self.maker_names) != nm:
            raise ValueError("trader_names / maker_names must have one name per agent")

    # ---- shapes and admissibility ------------------------------------------------------------
    @property
    def n_traders(self) -> int:
        return self.q_trader.size

    @property
    def n_makers(self) -> int:
        return self.q_maker.size

    @property
    def time(self) -> np.ndarray:
        """Control times t_k, k = 0..n−1."""
        return np.arange(self.steps) * self.dt

    def rate_bounds(self, i: int) -> tuple[float, float]:
        """Admissible rates of trader i (§3): [ε, ξ̃] if q₀ < 0, [−ξ̃, −ε] if q₀ > 0."""
        lo, hi = rules.rate_bounds(self.q_trader[i] < 0, self.min_rate, self.max_rate)
        return float(lo), float(hi)

    def admissible_rates(self, rates: Any) -> np.ndarray:
        """Rates ``(N_t, n)`` clipped to each trader's admissible set (as the engine does)."""
        v = _schedule("trader_rates", rates, (self.n_traders, self.steps))
        lo = np.array([self.rate_bounds(i)[0] for i in range(self.n_traders)])
        hi = np.array([self.rate_bounds(i)[1] for i in range(self.n_traders)])
        return np.clip(v, lo[:, None], hi[:, None])

    def admissible_quotes(self, quotes: Any) -> np.ndarray:
        """Half-spreads ``(N_m, n, 2)`` = (δᵃ, δᵇ) clipped to [−ξ, ξ]."""
        d = _schedule("maker_quotes", quotes, (self.n_makers, self.steps, 2))
        return np.clip(d, -self.max_spread, self.max_spread)

    # ---- order flow --------------------------------------------------------------------------
    def order_flow(self, rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ã_k, b̃_k): ã = a + Σ_{buyers} wᵢvⁱ, b̃ = b − Σ_{sellers} wᵢvⁱ (§3; w = 1 in the engine,
        w = 1/N for a population whose flow is the average rate, as in §4's mean-field limit)."""
        w = self.flow_weights[:, None] * rates
        a_tilde = self.noise_buy + w[self.q_trader < 0].sum(axis=0)
        b_tilde = self.noise_sell - w[self.q_trader > 0].sum(axis=0)
        return a_tilde, b_tilde

    def competitor_quotes(self, quotes: np.ndarray, j: int) -> np.ndarray:
        """δ̄ʲ = min_{l≠j} δˡ, shape (n, 2); the reference price (0) for a lone maker."""
        return rules.best_other_quote(quotes, axis=0)[j]

    def best_quote(self, quotes: np.ndarray, i: int) -> np.ndarray:
        """sᵢ_k of (12): min_j δʲᵃ for a buyer (q₀ < 0), −min_j δʲᵇ for a seller (q₀ > 0)."""
        if self.q_trader[i] < 0:
            return rules.best_quote(quotes[:, :, 0], axis=0)
        return -rules.best_quote(quotes[:, :, 1], axis=0)

    def linear_cost_rate(self, rates: np.ndarray, i: int) -> np.ndarray:
        """For aggregated λ: βc·mean_{j≠i} vʲ_k, the coefficient of vⁱ_k in λⁱ (0 otherwise)."""
        if self.temporary_cost != "aggregated" or self.n_traders < 2:
            return np.zeros(self.steps)
        others = np.delete(rates, i, axis=0)
        return self.trader_impacts[i] * self.cost_coupling * others.mean(axis=0)

    def temporary_cost_of(
        self, rates: np.ndarray, i: int, v: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """λⁱ(v_k; v⁻ⁱ_k) and ∂λⁱ/∂vⁱ for every step, trader i playing ``v``."""
        if callable(self.temporary_cost):
            cost, grad = self.temporary_cost(v, np.delete(rates, i, axis=0))
            return np.asarray(cost, dtype=float), np.asarray(grad, dtype=float)
        played = rates.copy()
        played[i] = v
        coupling = self.cost_coupling if self.temporary_cost == "aggregated" else 0.0
        beta = self.trader_impacts[:, None]
        cost = rules.temporary_cost(played, beta, coupling, axis=0)[i]
        return cost, 2 * beta[i] * v + self.linear_cost_rate(rates, i)


# --------------------------------------------------------------------------------------------
# inventories, running penalty and its adjoint
# --------------------------------------------------------------------------------------------
def inventory_path(q0: float, increments: np.ndarray) -> np.ndarray:
    """Q_0..Q_n from Q_0 = q0 and the per-step increments ΔQ_k."""
    return q0 + np.concatenate(([0.0], np.cumsum(increments)))


def inventory_penalty(q: np.ndarray, phi: float, terminal: float, dt: float) -> float:
    """R(Q) + A·Q_n² with R = Σ φ·dt·(Q_k² + Q_kQ_{k+1} + Q_{k+1}²)/3 (exact ∫φQ² for linear Q)."""
    running = np.sum(rules.running_penalty(q[:-1], q[1:], phi, dt))
    return float(running + terminal * q[-1] ** 2)


def penalty_adjoint(q: np.ndarray, phi: float, terminal: float, dt: float) -> np.ndarray:
    """The discrete adjoint y_k = −∂(R + AQ_n²)/∂(ΔQ_k), k = 0..n−1 (cf. Y of (13)–(14)).

    A unit increase of ΔQ_k raises Q_{k+1..n}; y is minus the reverse cumulative sum of
    ∂(R + AQ_n²)/∂Q_j over j > k. Its terminal value is −2A·Q_n, as Y_T = −2A·Q_T.
    """
    c = phi * dt / 3.0
    p = np.zeros_like(q)
    p[:-1] += c * (2 * q[:-1] + q[1:])
    p[1:] += c * (q[:-1] + 2 * q[1:])
    p[-1] += 2 * terminal * q[-1]
    return -np.cumsum(p[:0:-1])[::-1]


def _penalty_bands(steps: int, phi: float, terminal: float, dt: float):
    """The tridiagonal W of ``R + AQ_n² = QᵀWQ`` on Q_0..Q_n: (diagonal, off-diagonal)."""
    c = phi * dt / 3.0
    diag = np.full(steps + 1, 2 * c)
    diag[0] = diag[-1] = c
    diag[-1] += terminal
    return diag, np.full(steps, c / 2)


def penalty_hessian(steps: int, phi: float, terminal: float, dt: float) -> np.ndarray:
    """K = ∂²(R + AQ_n²)/∂ΔQ², an (n, n) matrix: Sᵀ(2W)S with Q = q0 + S·ΔQ.

    ``K_lm = Σ_{j>l} Σ_{i>m} 2W_ji`` (reverse cumulative sums, O(n²))."""
    diag, off = _penalty_bands(steps, phi, terminal, dt)
    w = np.diag(2 * diag) + np.diag(2 * off, 1) + np.diag(2 * off, -1)
    w = np.cumsum(np.cumsum(w[::-1, ::-1], axis=0), axis=1)[::-1, ::-1]
    return np.ascontiguousarray(w[1:, 1:])


def solve_penalty_system(
    m: np.ndarray, c: np.ndarray, phi: float, terminal: float, dt: float
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``(I − diag(m)K)u = c`` in O(n) (K of :func:`penalty_hessian`); returns (u, Ku).

    With ``Q = S·u`` (Q_0 = 0) and ``Y_k = (Ku)_k = Σ_{j>k} (2WQ)_j`` the system is the discrete
    two-point problem ``Q_{k+1} − Q_k − m_kY_k = c_k``, ``Y_k − Y_{k+1} = (2WQ)_{k+1}``,
    ``Y_n = 0`` — banded in the interleaved unknowns (Y_0, Q_1, Y_1, Q_2, …, Y_{n−1}, Q_n).
    """
    n = m.size
    diag, off = _penalty_bands(n, phi, terminal, dt)
    ab = np.zeros((5, 2 * n))  # solve_banded layout, (l, u) = (2, 2): ab[2 + i − j, j] = M[i, j]

    def put(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        keep = (cols >= 0) & (cols < 2 * n)
        ab[2 + rows[keep] - cols[keep], cols[keep]] = np.broadcast_to(vals, rows.shape)[keep]

    k = np.arange(n)
    ry, rq = 2 * k, 2 * k + 1  # row of the forward equation k, row of the backward equation k
    # forward: Q_{k+1} − Q_k − m_k Y_k = c_k   (Q_0 = 0 is not an unknown)
    put(ry, 2 * k + 1, np.ones(n))
    put(ry[1:], 2 * k[1:] - 1, -np.ones(n - 1))
    put(ry, 2 * k, -m)
    # backward: Y_k − Y_{k+1} − 2(W_{k+1,k}Q_k + W_{k+1,k+1}Q_{k+1} + W_{k+1,k+2}Q_{k+2}) = 0
    put(rq, 2 * k, np.ones(n))
    put(rq[:-1], 2 * k[:-1] + 2, -np.ones(n - 1))
    put(rq[1:], 2 * k[1:] - 1, -2 * off[k[1:]])
    put(rq, 2 * k + 1, -2 * diag[k + 1])
    put(rq[:-1], 2 * k[:-1] + 3, -2 * off[k[:-1] + 1])
    rhs = np.zeros(2 * n)
    rhs[ry] = c
    z = solve_banded((2, 2), ab, rhs)
    q = np.concatenate(([0.0], z[1::2]))
    return np.diff(q), z[0::2]


# --------------------------------------------------------------------------------------------
# payoffs of a profile
# --------------------------------------------------------------------------------------------
def maker_fills(
    market: DiscreteBestQuoteGame, rates: np.ndarray, quotes: np.ndarray, j: int
) -> tuple[np.ndarray, np.ndarray]:
    """Maker j's sold and bought volumes per step: ã_kΛ(δᵃ − δ̄ᵃ)dt, b̃_kΛ(δᵇ − δ̄ᵇ)dt."""
    a_tilde, b_tilde = market.order_flow(rates)
    comp = market.competitor_quotes(quotes, j)
    lam = market.intensity.value
    sold = a_tilde * lam(quotes[j, :, 0] - comp[:, 0]) * market.dt
    bought = b_tilde * lam(quotes[j, :, 1] - comp[:, 1]) * market.dt
    return sold, bought


def maker_payoff(
    market: DiscreteBestQuoteGame, rates: np.ndarray, quotes: np.ndarray, j: int
) -> float:
    """J^{j,m} of §3 (P₀ = 0) on the grid."""
    sold, bought = maker_fills(market, rates, quotes, j)
    q = inventory_path(market.q_maker[j], bought - sold)
    revenue = np.sum(quotes[j, :, 0] * sold + quotes[j, :, 1] * bought)
    return float(revenue) - inventory_penalty(q, market.phi_maker[j], market.A_maker[j], market.dt)


def trader_payoff(
    market: DiscreteBestQuoteGame, rates: np.ndarray, quotes: np.ndarray, i: int
) -> float:
    """J^{i,e} of §3 (P₀ = 0) on the grid."""
    v = rates[i]
    cost, _ = market.temporary_cost_of(rates, i, v)
    q = inventory_path(market.q_trader[i], v * market.dt)
    spend = np.sum((market.best_quote(quotes, i) * v + cost) * market.dt)
    return -float(spend) - inventory_penalty(q, market.phi_trader[i], market.A_trader[i], market.dt)


def profile_payoffs(
    market: DiscreteBestQuoteGame, trader_rates: Any, maker_quotes: Any
) -> pd.DataFrame:
    """Every strategic agent's payoff (P₀ = 0) for a profile; columns agent, role, payoff."""
    rates = market.admissible_rates(trader_rates)
    quotes = market.admissible_quotes(maker_quotes)
    rows = [
        (market.trader_names[i], "trader", trader_payoff(market, rates, quotes, i))
        for i in range(market.n_traders)
    ]
    rows += [
        (market.maker_names[j], "maker", maker_payoff(market, rates, quotes, j))
        for j in range(market.n_makers)
    ]
    return pd.DataFrame(rows, columns=["agent", "role", "payoff"])


# --------------------------------------------------------------------------------------------
# trader best response
# --------------------------------------------------------------------------------------------
def trader_best_response(
    market: DiscreteBestQuoteGame, trader_rates: Any, maker_quotes: Any, i: int
) -> BestResponse:
    """Trader i's best response to the makers' quotes and the other traders' rates (fixed).

    Maximises ``−Σ sᵢ_k v_k dt − Σ λⁱ(v_k) dt − R(Q) − A Q_n²`` over the admissible box. For
    λ = βv² / aggregated λ the objective is a strictly concave quadratic ``−½vᵀHv − hᵀv`` with
    ``H = 2βdt·I + dt²K`` (K of :func:`penalty_hessian`): solved in O(n) by
    :func:`solve_penalty_system` (``H = 2βdt(I − mK)``, ``m = −dt/(2β)``), or exactly by
    bounded-variable least squares on the Cholesky factor of H when a bound binds.
    """
    rates = market.admissible_rates(trader_rates)
    quotes = market.admissible_quotes(maker_quotes)
    lo, hi = market.rate_bounds(i)
    n, dt = market.steps, market.dt
    profile_payoff = trader_payoff(market, rates, quotes, i)
    name = market.trader_names[i]
    if lo == hi:  # ε = ξ̃: the rate is fixed, the only admissible schedule is the best response
        rates[i] = lo
        pay = trader_payoff(market, rates, quotes, i)
        return BestResponse(name, "trader", rates[i].copy(), pay, profile_payoff, 0.0)
    phi, terminal, q0 = market.phi_trader[i], market.A_trader[i], market.q_trader[i]
    s = market.best_quote(quotes, i)
    profile = rates[i].copy()
    if callable(market.temporary_cost):
        v = _trader_best_response_general(market, rates, i, s, lo, hi)
    else:
        lin = market.linear_cost_rate(rates, i)
        # −objective = ½vᵀHv + hᵀv + const, with the q0-part of the penalty gradient in h
        h_vec = (s + lin) * dt - dt * penalty_adjoint(np.full(n + 1, q0), phi, terminal, dt)
        beta = market.trader_impacts[i]
        scale = 2 * beta * dt
        v, _ = solve_penalty_system(np.full(n, -dt / (2 * beta)), -h_vec / scale, phi, terminal, dt)
        if np.any(v < lo - 1e-12) or np.any(v > hi + 1e-12):
            h_mat = scale * np.eye(n) + dt * dt * penalty_hessian(n, phi, terminal, dt)
            r = np.linalg.cholesky(h_mat).T  # H = RᵀR
            target = -np.linalg.solve(r.T, h_vec)
            res = lsq_linear(r, target, bounds=(lo, hi), method="bvls", tol=1e-14, lsmr_tol=None)
            if not res.success:
                raise BestResponseError(f"trader {i}: bounded QP failed: {res.message}")
            v = np.clip(res.x, lo, hi)
    rates[i] = v
    payoff = trader_payoff(market, rates, quotes, i)
    if payoff < profile_payoff:  # only possible at rounding level: the profile is optimal
        rates[i], v, payoff = profile, profile, profile_payoff
    residual = _trader_kkt_residual(market, rates, quotes, i, lo, hi)
    if residual > 1e-6 * (1 + np.max(np.abs(v))):
        raise BestResponseError(f"trader {i}: KKT residual {residual:.3g} after the solve")
    return BestResponse(name, "trader", v, payoff, profile_payoff, residual)


def trader_gradient(
    market: DiscreteBestQuoteGame, rates: np.ndarray, quotes: np.ndarray, i: int
) -> np.ndarray:
    """∂J^{i,e}/∂vⁱ_k = dt·(y_k − sᵢ_k − ∂λⁱ/∂vⁱ) with y the discrete adjoint (Pontryagin)."""
    v = rates[i]
    _, dcost = market.temporary_cost_of(rates, i, v)
    q = inventory_path(market.q_trader[i], v * market.dt)
    y = penalty_adjoint(q, market.phi_trader[i], market.A_trader[i], market.dt)
    return market.dt * (y - market.best_quote(quotes, i) - dcost)


def _trader_kkt_residual(market, rates, quotes, i, lo, hi) -> float:
    """Projected-gradient norm / dt: zero iff the discrete Pontryagin conditions hold."""
    v = rates[i]
    g = trader_gradient(market, rates, quotes, i) / market.dt
    g = np.where((v <= lo + 1e-12) & (g < 0), 0.0, g)
    g = np.where((v >= hi - 1e-12) & (g > 0), 0.0, g)
    return float(np.max(np.abs(g)))


def _trader_best_response_general(market, rates, i, s, lo, hi) -> np.ndarray:
    """General λ of class Υ: L-BFGS-B on the convex problem with the exact adjoint gradient."""
    work = rates.copy()

    def neg(v: np.ndarray) -> tuple[float, np.ndarray]:
        work[i] = v
        cost, dcost = market.temporary_cost_of(work, i, v)
        q = inventory_path(market.q_trader[i], v * market.dt)
        pen = inventory_penalty(q, market.phi_trader[i], market.A_trader[i], market.dt)
        y = penalty_adjoint(q, market.phi_trader[i], market.A_trader[i], market.dt)
        value = np.sum((s * v + cost) * market.dt) + pen
        return float(value), -market.dt * (y - s - dcost)

    bounds = [(None if not np.isfinite(lo) else lo, None if not np.isfinite(hi) else hi)]
    res = minimize(
        neg,
        np.clip(rates[i], lo, hi),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds * market.steps,
        options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-12 * market.dt},
    )
    if not np.all(np.isfinite(res.x)):
        raise BestResponseError(f"trader {i}: L-BFGS-B failed: {res.message}")
    return np.clip(res.x, lo, hi)


# --------------------------------------------------------------------------------------------
# maker best response
# --------------------------------------------------------------------------------------------
class MakerDeviation:
    """Maker j's deviation problem with the traders' rates and the other makers' quotes fixed.

    ``objective(x)`` returns J^{j,m} and its exact gradient for the stacked quotes
    ``x = (δᵃ_0..δᵃ_{n−1}, δᵇ_0..δᵇ_{n−1})``; the gradient comes from the discrete adjoint y of
    :func:`penalty_adjoint`: ``∂J/∂δᵃ_k = s_k + (δᵃ_k − y_k)∂s_k/∂δᵃ_k`` and
    ``∂J/∂δᵇ_k = b_k + (δᵇ_k + y_k)∂b_k/∂δᵇ_k`` (the discrete Hamiltonian's derivative).
    """

    def __init__(
        self, market: DiscreteBestQuoteGame, rates: np.ndarray, quotes: np.ndarray, j: int
    ):
        self.market = market
        self.j = j
        self.a_tilde, self.b_tilde = market.order_flow(rates)
        self.competitor = market.competitor_quotes(quotes, j)
        self.q0 = market.q_maker[j]
        self.phi = market.phi_maker[j]
        self.terminal = market.A_maker[j]
        self.n = market.steps

    def _fills(self, x: np.ndarray):
        lam = self.market.intensity
        dt = self.market.dt
        da, db = x[: self.n], x[self.n :]
        xa, xb = da - self.competitor[:, 0], db - self.competitor[:, 1]
        fa, fb = self.a_tilde * dt, self.b_tilde * dt
        return (da, db, xa, xb, fa, fb, fa * lam.value(xa), fb * lam.value(xb))

    def adjoint(self, x: np.ndarray) -> np.ndarray:
        """The discrete adjoint y_k along the inventory that quotes ``x`` produce."""
        *_, sold, bought = self._fills(x)
        q = inventory_path(self.q0, bought - sold)
        return penalty_adjoint(q, self.phi, self.terminal, self.market.dt)

    def objective(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        lam = self.market.intensity
        da, db, xa, xb, fa, fb, sold, bought = self._fills(x)
        q = inventory_path(self.q0, bought - sold)
        value = np.sum(da * sold + db * bought) - inventory_penalty(
            q, self.phi, self.terminal, self.market.dt
        )
        y = penalty_adjoint(q, self.phi, self.terminal, self.market.dt)
        ga = sold + (da - y) * fa * lam.d1(xa)
        gb = bought + (db + y) * fb * lam.d1(xb)
        return float(value), np.concatenate([ga, gb])

    def newton_direction(self, x: np.ndarray, free: np.ndarray) -> np.ndarray:
        """The Newton ascent direction in fill variables, mapped to quotes (zero where fixed).

        In fills ``s = fΛ(δ − δ̄)`` (``f = ã·dt`` resp. ``b̃·dt``) the objective is
        ``Σ r(s) − Pen(q₀ + S(s_b − s_a))`` with ``r(s) = s·(δ̄ + Λ⁻¹(s/f))``, concave because
        ``r'' = (2 − ΛΛ''/Λ'²)/(fΛ') < 0`` (Definition 3.4), so the Hessian
        ``H = diag(r'') − GᵀKG`` (``G = [−I, I]``, K of :func:`penalty_hessian`) is negative
        definite. ``HΔs = −g`` is reduced to the n×n system ``(I − diag(m)K)u = c`` for
        ``u = Δs_b − Δs_a`` with ``m = 1/r''_a + 1/r''_b`` (diagonal), solved in O(n) by
        :func:`solve_penalty_system`, and ``Δδ = Δs / s'(δ)``.
        """
        lam = self.market.intensity
        n = self.n
        f = np.concatenate([self.a_tilde, self.b_tilde]) * self.market.dt
        comp = np.concatenate([self.competitor[:, 0], self.competitor[:, 1]])
        z = x - comp
        with np.errstate(divide="ignore", invalid="ignore"):
            l0, l1, l2 = lam.value(z), lam.d1(z), lam.d2(z)
            y = self.adjoint(x)
            g = x + l0 / l1 + np.concatenate([-y, y])  # ∂J/∂s per unit fill
            r2 = (2.0 - l0 * l2 / (l1 * l1)) / (f * l1)
            inv = np.where(free, 1.0 / r2, 0.0)
        g = np.where(free, g, 0.0)
        m = inv[:n] + inv[n:]
        c = g[:n] * inv[:n] - g[n:] * inv[n:]
        u, ku = solve_penalty_system(m, c, self.phi, self.terminal, self.market.dt)
        ds = np.concatenate([(-g[:n] - ku) * inv[:n], (-g[n:] + ku) * inv[n:]])
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(free, ds / (f * l1), 0.0)

    def hamiltonian_maximiser(self, y: np.ndarray) -> np.ndarray:
        """argmax_δ of the discrete Hamiltonian given the adjoint y, clipped to [−ξ, ξ].

        ``max (δᵃ − y)Λ(δᵃ − δ̄ᵃ)``: ``δᵃ = δ̄ᵃ + h⁻¹(y − δ̄ᵃ)`` with ``h(x) = x + Λ/Λ'``, and
        ``δᵇ = δ̄ᵇ + h⁻¹(−y − δ̄ᵇ)``; for exponential Λ: ``1/γ + y`` and ``1/γ − y`` (proof of
        Theorem 4.1).
        """
        lam = self.market.intensity
        comp_a, comp_b = self.competitor[:, 0], self.competitor[:, 1]
        ask = comp_a + lam.markup(y - comp_a)
        bid = comp_b + lam.markup(-y - comp_b)
        xi = self.market.max_spread
        return np.clip(np.concatenate([ask, bid]), -xi, xi)


def maker_best_response(
    market: DiscreteBestQuoteGame, trader_rates: Any, maker_quotes: Any, j: int
) -> BestResponse:
    """Maker j's best response (the other makers' quotes and the traders' rates fixed).

    Projected Newton ascent in fill variables (:meth:`MakerDeviation.newton_direction`; the
    problem is concave there, so the iteration with a line search on the exact payoff converges
    to the global maximum) from two starts: the profile's own quotes and one Pontryagin sweep,
    the Hamiltonian maximiser for the adjoint y of the profile's inventory (``δᵃ = 1/γ + y``,
    ``δᵇ = 1/γ − y`` for exponential Λ, as in the proof of Theorem 4.1). Should Newton stall,
    L-BFGS-B over the 2n quotes with the exact adjoint gradient takes over and Newton polishes.
    The result is certified by the discrete Pontryagin conditions (:func:`maker_kkt_residual`).
    """
    rates = market.admissible_rates(trader_rates)
    quotes = market.admissible_quotes(maker_quotes)
    profile_payoff = maker_payoff(market, rates, quotes, j)
    dev = MakerDeviation(market, rates, quotes, j)
    n, xi = market.steps, market.max_spread
    starts = [np.concatenate([quotes[j, :, 0], quotes[j, :, 1]])]
    scale = 1.0 + float(np.max(np.abs(starts[0]))) + market.intensity.scale()
    try:
        starts.append(dev.hamiltonian_maximiser(dev.adjoint(starts[0])))
    except HamiltonianError:  # h⁻¹ did not converge for an exotic Λ: the profile start remains
        pass
    # A working box |δ| ≤ w keeps the line searches away from exp-overflow when ξ is large or
    # infinite; it is enlarged until it does not bind, so the result is the ξ-constrained optimum.
    flow = np.concatenate([dev.a_tilde, dev.b_tilde]) > 0
    w = min(xi, 10.0 * scale)
    for _ in range(8):
        x = _solve_maker(dev, starts, -w, w)
        touching = flow & (np.abs(x) >= w * (1 - 1e-9))
        if w >= xi or not np.any(touching):
            break
        w = min(xi, 4.0 * w)
    else:
        raise BestResponseError(f"maker {j}: best response unbounded (|δ| grows beyond {w:.3g})")
    value = dev.objective(x)[0]
    if value < dev.objective(starts[0])[0]:  # only at rounding level: the profile is optimal
        x, value = starts[0], dev.objective(starts[0])[0]
    residual = maker_kkt_residual(dev, x)
    if not np.isfinite(value) or residual > 1e-6:
        raise BestResponseError(
            f"maker {j}: discrete Pontryagin residual {residual:.3g} > 1e-6 after optimisation"
        )
    schedule = np.stack([x[:n], x[n:]], axis=1)
    return BestResponse(market.maker_names[j], "maker", schedule, value, profile_payoff, residual)


def market_making_best_response(
    market: DiscreteBestQuoteGame, trader_rates: Any, maker_quotes: Any, agent: str | int
) -> BestResponse:
    """The best response of ``agent`` (a name, or an index in game order: traders then makers)
    to the profile (``trader_rates`` (N_t, n), ``maker_quotes`` (N_m, n, 2)), the others held
    fixed: :func:`trader_best_response` or :func:`maker_best_response`. Also the §5 logit
    market's (:class:`~policies.equilibrium.logit_nash.DiscreteLogitGame`)."""
    names = tuple(market.trader_names) + tuple(market.maker_names)
    if isinstance(agent, (int, np.integer)) and not isinstance(agent, bool):
        if not 0 <= agent < len(names):
            raise ValueError(f"agent = {agent!r}; allowed: an index in [0, {len(names)})")
        k = int(agent)
    elif agent in names:
        k = names.index(agent)
    else:
        raise ValueError(f"agent = {agent!r}; allowed: one of {list(names)}")
    nt = market.n_traders
    if k < nt:
        return trader_best_response(market, trader_rates, maker_quotes, k)
    return maker_best_response(market, trader_rates, maker_quotes, k - nt)


def _solve_maker(dev: MakerDeviation, starts: list[np.ndarray], lo: float, hi: float) -> np.ndarray:
    """Best of Newton from every start; L-BFGS-B then Newton if the residual stays large."""
    best_x, best_val = None, -np.inf
    for x0 in starts:
        x = _fill_newton(dev, np.clip(x0, lo, hi), lo, hi)
        val = dev.objective(x)[0]
        if np.isfinite(val) and val > best_val:
            best_x, best_val = x, val
    if best_x is None or maker_kkt_residual(dev, best_x) > 1e-10:
        x0 = starts[0] if best_x is None else best_x
        res = minimize(
            lambda x: tuple(-c for c in dev.objective(x)),
            np.clip(x0, lo, hi),
            jac=True,
            method="L-BFGS-B",
            bounds=[(lo, hi)] * x0.size,
            options={"maxiter": 20000, "maxcor": 30, "ftol": 1e-15, "gtol": 1e-13},
        )
        x = _fill_newton(dev, res.x, lo, hi)
        val = dev.objective(x)[0]
        if np.isfinite(val) and val > best_val:
            best_x, best_val = x, val
    if best_x is None:
        raise BestResponseError(f"maker {dev.j}: no finite payoff found")
    return best_x


def _fill_newton(
    dev: MakerDeviation, x: np.ndarray, lo: float, hi: float, max_iter: int = 200
) -> np.ndarray:
    """Projected Newton ascent (fill-space direction, backtracking on the exact payoff).

    Bound-active quotes whose gradient points outwards stay on their bound. A step is accepted
    if it raises J, or keeps J within rounding while lowering the Pontryagin residual (near the
    optimum J is flat to machine precision while the residual still falls quadratically).
    """
    flow = np.concatenate([dev.a_tilde, dev.b_tilde]) > 0
    value, grad = dev.objective(x)
    residual = maker_kkt_residual(dev, x)
    for _ in range(max_iter):
        if residual < 1e-13:
            break
        at_lo = (x <= lo + 1e-12) & (grad < 0)
        at_hi = (x >= hi - 1e-12) & (grad > 0)
        free = flow & ~at_lo & ~at_hi
        if not np.any(free):
            break
        step = dev.newton_direction(x, free)
        if not np.all(np.isfinite(step)) or grad @ step <= 0:
            step = grad * free  # steepest ascent fallback (never expected: H is definite)
        flat = 1e-13 * (1.0 + abs(value))
        t = 1.0
        while t > 1e-10:
            trial = np.clip(x + t * step, lo, hi)
            tv, tg = dev.objective(trial)
            tr = maker_kkt_residual(dev, trial)
            if np.isfinite(tv) and (tv > value + flat or (tv >= value - flat and tr < residual)):
                break
            t *= 0.5
        else:
            break
        x, value, grad, residual = trial, tv, tg, tr
    return x


def maker_kkt_residual(dev: MakerDeviation, x: np.ndarray) -> float:
    """Discrete Pontryagin residual: the Hamiltonian's δ-derivative per unit filled volume,
    ``1 + (δᵃ − y)Λ'/Λ`` (and the bid analogue), projected on the box |δ| ≤ ξ; steps without
    flow (ã_k = 0) carry no condition. For exponential Λ it is ``γ·|δ − (1/γ ± y)|``."""
    lam = dev.market.intensity
    xi = dev.market.max_spread
    n = dev.n
    y = dev.adjoint(x)
    da, db = x[:n], x[n:]
    xa, xb = da - dev.competitor[:, 0], db - dev.competitor[:, 1]
    ra = 1 + (da - y) * lam.d1(xa) / lam.value(xa)
    rb = 1 + (db + y) * lam.d1(xb) / lam.value(xb)
    r = np.concatenate([ra, rb])
    d = np.concatenate([da, db])
    flow = np.concatenate([dev.a_tilde, dev.b_tilde]) > 0
    r = np.where((d <= -xi + 1e-12) & (r < 0), 0.0, r)
    r = np.where((d >= xi - 1e-12) & (r > 0), 0.0, r)
    r = np.where(flow, r, 0.0)
    return float(np.max(np.abs(r)))


# --------------------------------------------------------------------------------------------
# the Nash gap
# --------------------------------------------------------------------------------------------
def market_making_nash_gap(
    market: DiscreteBestQuoteGame, trader_rates: Any, maker_quotes: Any
) -> pd.DataFrame:
    """The Nash gap of a profile of the best-quote game (Definition 3.7).

    ``trader_rates``: ``(N_t, n)`` rates; ``maker_quotes``: ``(N_m, n, 2)`` half-spreads (δᵃ, δᵇ)
    on the market's grid (both clipped to the admissible sets, as the engine does). For each
    strategic agent: its payoff (P₀ = 0), its best-response payoff with everybody else's schedule
    fixed, the gain (≥ 0; 0 at an equilibrium of the discretised game) and the optimality residual
    of the best response.
    """
    rates = market.admissible_rates(trader_rates)
    quotes = market.admissible_quotes(maker_quotes)
    rows = []
    for k in range(market.n_traders + market.n_makers):
        br = market_making_best_response(market, rates, quotes, k)
        rows.append((br.agent, br.role, br.profile_payoff, br.payoff, br.optimality_residual))
    df = pd.DataFrame(
        rows, columns=["agent", "role", "payoff", "best_response_payoff", "optimality_residual"]
    )
    df.insert(4, "gain", df["best_response_payoff"] - df["payoff"])
    return df
