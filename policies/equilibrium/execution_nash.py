"""Best responses and the Nash gap in the §2 impact market, on the engine's time grid.

With deterministic noise rates (fluid mode) a profile whose policies depend on (t, inventories, ϖ)
produces deterministic rate schedules. Hold the others' schedules fixed (the paper's open-loop
Nash concept, Def. 2.3) and let trader i choose piecewise-constant rates u_0, …, u_{n−1} on the
grid t_k = k·dt. The engine (:mod:`simulator.mechanisms.impact`) charges, with
P₀ = 0 and E[P] = 0,

    Jⁱ(u) = −Σ_k [I_k + ϖ_k + ½(Δ_k + ω_k) + βⁱ_k/N (u_k + π O_k)] u_k dt + (I_n + ϖ_n) Q_n
            − Σ_k φ dt (Q_k² + Q_k Q_{k+1} + Q_{k+1}²)/3 − A Q_n²,

    Q_k = q₀ + dt Σ_{l<k} u_l,  Δ_k = α_k/N (u_k + O_k) dt,  I_k = Σ_{l<k} Δ_l,
    ω_k = α_k (buy_k − sell_k) dt,  ϖ_k = Σ_{l<k} ω_l,  O_k = Σ_{j≠i} vʲ_k,

the exact continuous-time objective for piecewise-constant controls (market value S_T Q_T of the
terminal inventory, S = P + I + ϖ). Jⁱ is quadratic in u, so the best response is one linear
solve (Cholesky of the negative Hessian; failure means Jⁱ is not concave in the own rates: the
best response is unbounded). ``gain = best_response_payoff − payoff ≥ 0``. A best response is
a :class:`~policies.equilibrium.protocol.BestResponse`, as in every market.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, cho_solve

from policies.equilibrium.execution import ExecutionGame, ExecutionSolution
from policies.equilibrium.protocol import BestResponse
from simulator.mechanisms import rules

__all__ = [
    "equilibrium_rates",
    "execution_best_response",
    "execution_nash_gap",
    "execution_payoffs",
]


def _grid(game: ExecutionGame, rates: np.ndarray):
    v = np.asarray(rates, dtype=float)
    n_tr = game.traders
    if v.ndim != 2 or v.shape[1] != n_tr or v.shape[0] < 1:
        raise ValueError(
            f"rates has shape {v.shape}; allowed: (steps, {n_tr}), one column per trader"
        )
    if not np.all(np.isfinite(v)):
        raise ValueError("rates contains non-finite values; allowed: finite rates")
    steps = v.shape[0]
    dt = float(game.horizon) / steps
    t = np.arange(steps) * dt
    co = game.coefficients
    alpha = np.asarray(co.alpha(t), dtype=float)
    beta = game.trader_impact(t)  # βⁱ_k, (steps, N)
    omega = alpha * (np.asarray(co.buy(t)) - np.asarray(co.sell(t))) * dt
    varpi = np.concatenate([[0.0], np.cumsum(omega)])  # ϖ_0..ϖ_n
    return v, steps, dt, alpha, beta, omega, varpi


def execution_payoffs(game: ExecutionGame, rates: np.ndarray) -> np.ndarray:
    """Every trader's objective (P₀ = 0) for the schedules ``rates`` (steps, N): engine formulas."""
    v, steps, dt, alpha, beta, omega, varpi = _grid(game, rates)
    n_tr = game.traders
    pi = game.coefficients.cross_impact
    q = game.initial_inventory + np.vstack([np.zeros(n_tr), np.cumsum(v * dt, axis=0)])
    total = v.sum(axis=1)
    delta = alpha / n_tr * total * dt  # Δ_k
    impact = np.concatenate([[0.0], np.cumsum(delta)])  # I_0..I_n
    mid = (impact[:-1] + varpi[:-1] + 0.5 * (delta + omega))[:, None]
    price = rules.impact_price(mid, v, beta / n_tr, pi, axis=1)
    cash = -(price * v * dt).sum(axis=0)
    phi, a_pen = game.running_penalty, game.terminal_penalty
    running = rules.running_penalty(q[:-1], q[1:], phi, dt).sum(axis=0)
    return cash + (impact[-1] + varpi[-1]) * q[-1] - running - a_pen * q[-1] ** 2


def _quadratic(game: ExecutionGame, rates: np.ndarray, i: int):
    """(H, ℓ, c) with Jⁱ(u) = ½ uᵀ H u + ℓᵀ u + c (H symmetric), others' rates held fixed."""
    v, n, dt, alpha, beta, omega, varpi = _grid(game, rates)
    n_tr = game.traders
    pi = game.coefficients.cross_impact
    others = v.sum(axis=1) - v[:, i]
    q0, phi, a_pen = game.initial_inventory[i], game.running_penalty[i], game.terminal_penalty[i]
    a, b = alpha / n_tr, beta[:, i] / n_tr
    tri = np.tril(np.ones((n + 1, n)), -1) * dt  # Q = q0 + tri u  (rows k = 0..n)
    i_o = tri @ (a * others)  # impact of the others, I_k = (tri·diag(a)) u + i_o
    quad = -dt * (tri[:n] * a[None, :]) - np.diag(dt * (0.5 * a * dt + b))
    lin = -dt * (i_o[:n] + varpi[:n] + 0.5 * a * dt * others + 0.5 * omega + b * pi * others)
    const = 0.0
    # terminal market value (I_n + ϖ_n) Q_n and penalty −A Q_n²
    ones = np.ones(n)
    quad += dt * dt * np.outer(a, ones) - a_pen * dt * dt * np.outer(ones, ones)
    lin += (i_o[n] + varpi[n]) * dt * ones + q0 * dt * a - 2 * a_pen * q0 * dt * ones
    const += (i_o[n] + varpi[n]) * q0 - a_pen * q0 * q0
    # running penalty −φ dt Σ (Q_k² + Q_k Q_{k+1} + Q_{k+1}²)/3
    # with Q_k = q0 + dt Σ_{l<k} u_l: Σ_{k<n} Q_kQ_k → dt²(n−1−max(l,m)), Σ_{k<n} Q_{k+1}Q_{k+1}
    # → dt²(n−max(l,m)), Σ_{k<n} Q_kQ_{k+1} → dt²(n−max(l+1,m)) (symmetrised): O(n²), no BLAS
    idx = np.arange(n)
    top = np.maximum.outer(idx, idx)
    cross = n - np.maximum.outer(idx + 1, idx)
    quad -= phi * dt**3 / 3 * ((n - 1 - top) + 0.5 * (cross + cross.T) + (n - top))
    lin -= phi * dt * q0 * dt * ((n - 1 - idx) + (n - idx))
    const -= phi * dt * n * q0 * q0
    return quad + quad.T, lin, const


def execution_best_response(
    game: ExecutionGame, rates: np.ndarray, agent: int | str
) -> BestResponse:
    """Trader ``agent``'s (name or index) best schedule (steps,) against the others' fixed
    ``rates`` (steps, N), its payoff and its gain over the profile."""
    i = agent if isinstance(agent, (int, np.integer)) else _agent_index(game, agent)
    return _best_response(game, rates, int(i), float(execution_payoffs(game, rates)[i]))


def _best_response(
    game: ExecutionGame, rates: np.ndarray, i: int, profile_payoff: float
) -> BestResponse:
    """The maximiser of Jⁱ(u) = ½uᵀHu + ℓᵀu + c: ``u = (−H)⁻¹ℓ`` (Cholesky); the residual is
    the gradient ``Hu + ℓ`` (0 at the optimum up to rounding)."""
    h, lin, const = _quadratic(game, rates, i)
    try:
        factor = cho_factor(-h)
    except np.linalg.LinAlgError:
        raise ValueError(
            f"trader {game.agent_names[i]!r}: the payoff is not concave in its own rates, so "
            "the best response is unbounded (check Assumption 2.4: 4Nβφⁱ ≥ α²)"
        ) from None
    u = cho_solve(factor, lin)
    return BestResponse(
        agent=game.agent_names[i],
        role="trader",
        schedule=u,
        payoff=float(0.5 * u @ h @ u + lin @ u + const),
        profile_payoff=profile_payoff,
        optimality_residual=float(np.max(np.abs(h @ u + lin))),
    )


def _agent_index(game: ExecutionGame, agent: str) -> int:
    names = list(game.agent_names)
    if agent not in names:
        raise ValueError(f"agent = {agent!r}; allowed: one of {names}")
    return names.index(agent)


def execution_nash_gap(game: ExecutionGame, rates: np.ndarray) -> pd.DataFrame:
    """Nash gap of the schedule profile ``rates`` (steps, N): agent, payoff, best response, gain."""
    payoff = execution_payoffs(game, rates)
    best = np.array([_best_response(game, rates, i, float(p)).payoff for i, p in enumerate(payoff)])
    return pd.DataFrame(
        {
            "agent": list(game.agent_names),
            "payoff": payoff,
            "best_response_payoff": best,
            "gain": best - payoff,
        }
    )


def equilibrium_rates(
    solution: ExecutionSolution, steps: int, kind: str = "feedback"
) -> np.ndarray:
    """Schedules (steps, N) of the equilibrium played on the engine grid (fluid, deterministic).

    ``kind="feedback"``: vₖ = feedback(t_k, Q_k), Q_{k+1} = Q_k + vₖ dt (the closed loop the
    simulator runs); ``"open_loop"``: vₖ = (Q̄(t_{k+1}) − Q̄(t_k))/dt, the equilibrium schedule
    averaged over the step.
    """
    if kind not in ("feedback", "open_loop"):
        raise ValueError(f"kind = {kind!r}; allowed: 'feedback', 'open_loop'")
    game = solution.game
    dt = float(game.horizon) / steps
    q = np.array(game.initial_inventory, dtype=float)
    out = np.empty((steps, game.traders))
    for k in range(steps):
        t = k * dt
        if kind == "feedback":
            out[k] = solution.feedback(t, q)
        else:
            out[k] = solution.step_average_schedule(t, dt)
        q = q + out[k] * dt
    return out
