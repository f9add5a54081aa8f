"""§5 stochastic logit game on a grid (:mod:`policies.equilibrium.logit_pde`): the deterministic
limit, convergence under refinement, Monte Carlo payoffs under the feedback, bad input.

A mild game (β = 0.5, T = 0.5) keeps the CFL-limited sweeps short; the scheme is second order
where the field is smooth and first order at the truncations' kinks (the buyer's rate at 0, the
best quote changing hands), so the error ratio between nested grids (h halved) is between 2 and 4.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from policies.equilibrium.logit import LogitGame
from policies.equilibrium.logit_bvp import drift
from policies.equilibrium.logit_pde import solve_logit_pde

FACTOR = dict(  # volatility 0: deterministic κ(L(t)); the tests set it
    initial=0.3,
    mean=0.0,
    reversion=2.0,
    volatility=0.0,
    buy_base=4.0,
    sell_base=3.0,
    buy_loading=0.5,
    sell_loading=-0.5,
    cap=20.0,
)


def mild(**over) -> LogitGame:
    kw = dict(
        horizon=0.5,
        trader_inventories=(-2.0,),
        maker_inventories=(1.0, -0.5),
        temporary_impact=0.5,
        share_sharpness=2.0,
        share_offsets=(0.0, 0.2),
        trader_running_penalty=0.2,
        trader_terminal_penalty=1.0,
        maker_running_penalty=0.1,
        maker_terminal_penalty=0.5,
        noise_buy_rate=4.0,
        noise_sell_rate=3.0,
    )
    kw.update(over)
    return LogitGame(**kw)


@pytest.fixture(scope="module")
def deterministic():
    return mild().solve()


@pytest.fixture(scope="module")
def grids():
    """ε = 0 on the nested grids 5³ and 9³ (default box), and ε ∈ {0, 0.05, 0.1} on 7³ (the
    box of ε = 0.1)."""
    q0 = np.array(mild().initial_inventories)
    out = {}

    def run(eps, points, domain=None):
        sol = solve_logit_pde(
            mild(inventory_noise=eps), points=points, domain=domain, error_estimate=False
        )
        out[eps, points] = (sol.value.to_numpy(), sol.adjoint_at(0.0, q0)[0])
        return sol

    run(0.0, 5)
    run(0.0, 9)
    box = run(0.1, 7).diagnostics["domain"]
    run(0.05, 7, box)
    run(0.0, 7, box)
    return out


def test_grid_solution_converges_to_the_deterministic_equilibrium_at_second_order(
    deterministic, grids
):
    """ε = 0: the PDE is the hyperbolic limit; its J and u(0, q₀) approach the collocation
    solution (1e-8) and the error falls by ≥ 2.5 when h halves (second order where smooth, first
    at the kinks: measured ratios 3.6–5.3)."""
    exact_v, exact_y = deterministic.value.to_numpy(), deterministic.adjoint[0]
    ev = [np.abs(grids[0.0, p][0] - exact_v) for p in (5, 9)]
    ey = [np.abs(grids[0.0, p][1] - exact_y) for p in (5, 9)]
    assert np.all(ev[1] < 0.03) and np.all(ey[1] < 1e-3)
    assert np.all(ev[1] * 2.5 <= ev[0]) and np.all(ey[1] * 2.5 <= ey[0])


def test_noise_effect_vanishes_like_eps_squared(grids):
    """On one grid, J(ε) − J(0) is O(ε²) (the diffusion ½ε²Δ): halving ε divides it by ≈ 4
    (3–5 allowed: the grid's own error is small next to the ε effect but not zero)."""
    d1 = grids[0.1, 7][0] - grids[0.0, 7][0]
    d2 = grids[0.05, 7][0] - grids[0.0, 7][0]
    assert np.all(np.abs(d1) > 1e-3)
    ratio = d1 / d2
    assert np.all((ratio > 3.0) & (ratio < 5.0)), ratio


def test_grid_solution_approaches_the_deterministic_factor_game_as_volatility_vanishes():
    """A factor of small volatility σ on a 4-d grid (L, Q): the PDE with the OU drift and
    diffusion on the L axis approaches the collocation solution with κ(L(t)) along the mean path
    (the σ effect is O(σ²), here ~1e-3, below the grid's error)."""
    exact = mild(factor=FACTOR).solve()
    game = mild(factor={**FACTOR, "volatility": 0.05})
    sol = solve_logit_pde(game, points=7, factor_points=5)
    assert sol.diagnostics["axes"][0] == "factor" and sol.adjoint_field.ndim == 6
    err = np.abs(sol.value.to_numpy() - exact.value.to_numpy())
    assert np.all(err < 0.08), err
    assert np.all(err <= 2.0 * sol.diagnostics["estimated_error"].to_numpy() + 0.01)
    y = sol.adjoint_at(0.0, np.array([game.initial_inventories]), factor=FACTOR["initial"])
    assert np.allclose(y[0], exact.adjoint[0], atol=5e-3)


@pytest.fixture(scope="module")
def noisy():
    """ε = 0.3 and a volatile factor (σ = 0.6) on a 7³ × 5 grid."""
    game = mild(inventory_noise=0.3, factor={**FACTOR, "volatility": 0.6})
    return solve_logit_pde(game, points=7, factor_points=5)


def test_monte_carlo_payoffs_under_the_feedback_match_the_grid_values(noisy):
    """ε = 0.3 and a volatile factor: M paths of (39)–(41) by Euler–Maruyama with the controls
    at ``u(t, L, Q)``; each agent's mean payoff is within 3 standard errors plus the grid's
    estimated error and 0.02 for the Euler bias (50 vs 100 steps: 0.003) of ``sol.value``."""
    sol, game = noisy, noisy.game
    pb, f = game.problem, game.factor
    m, steps = 2000, 50
    dt = pb.horizon / steps
    rng = np.random.default_rng(7)
    q = np.tile(np.array(game.initial_inventories), (m, 1))
    level = np.full(m, f["initial"])
    pay = np.zeros((m, pb.n))
    for k in range(steps):
        t = k * dt
        d = _drift_at(sol, t, sol.adjoint_at(t, q, factor=level), level)
        phi = np.asarray(pb.phi(np.asarray(t)), dtype=float)
        pay += (d.payoff - phi * q * q) * dt
        q = q + d.dq * dt + game.inventory_noise * math.sqrt(dt) * rng.standard_normal(q.shape)
        level = (
            level
            + f["reversion"] * (f["mean"] - level) * dt
            + f["volatility"] * math.sqrt(dt) * rng.standard_normal(m)
        )
    pay -= pb.terminal * q * q
    mean, se = pay.mean(0), pay.std(0, ddof=1) / math.sqrt(m)
    tol = 3.0 * se + sol.diagnostics["estimated_error"].to_numpy() + 0.02
    assert np.all(np.abs(mean - sol.value.to_numpy()) <= tol), (mean, sol.value, se)


def test_grid_pde_and_regression_monte_carlo_agree_within_their_error_estimates(noisy):
    """The independent scalable method (regression Monte Carlo with Picard iterations, coarse
    settings: 25 steps, 300 paths) against the grid: |J_pde − J_reg| ≤ the grid's estimated error
    / 3 (second order) + 3 standard errors + 0.01 (the regression's 25-step time error: 0.005
    against 50 steps). Measured gaps 0.004–0.018."""
    reg = noisy.game.solve(method="regression", steps=25, paths=300)
    gap = np.abs(noisy.value.to_numpy() - reg.value.to_numpy())
    tol = noisy.diagnostics["estimated_error"].to_numpy() / 3 + 3 * reg.std_error.to_numpy() + 0.01
    assert np.all(gap <= tol), (gap, tol)


def test_the_grid_pde_refuses_games_beyond_three_agents():
    with pytest.raises(ValueError, match="4 agents.*at most 3"):
        solve_logit_pde(mild(trader_inventories=(-2.0, 1.0), inventory_noise=0.2))
    with pytest.raises(ValueError, match="method = 'pde'"):
        mild(inventory_noise=0.2).solve(method="pde")


def _drift_at(sol, t, y, level):
    """Drift and payoff rates of Theorem 5.4 at adjoints y with the noise rates
    κ(L) = min(base·e^{loading·L}, cap) of the scenario's factor."""
    f = sol.game.factor
    flows = [
        np.minimum(f[f"{side}_base"] * np.exp(f[f"{side}_loading"] * level), f["cap"])
        for side in ("buy", "sell")
    ]
    return drift(sol.game.problem, t, y, flows=flows)


def test_feedback_is_vectorised_and_consistent_with_the_quote_map(deterministic):
    sol = solve_logit_pde(mild(inventory_noise=0.2), points=5, error_estimate=False)
    q = np.array([[-2.0, 1.0, -0.5], [-1.0, 0.0, 0.0], [-9.0, 5.0, 5.0]])  # last row: outside
    fb = sol.feedback(0.25, q)
    assert fb.adjoint.shape == (3, 3) and fb.rate.shape == (3, 1) and fb.ask.shape == (3, 2)
    assert np.all(np.isfinite(fb.adjoint))
    d = drift(sol.game.problem, 0.25, fb.adjoint)
    assert np.allclose(fb.ask, d.ask) and np.allclose(fb.rate, d.rate)
    one = sol.feedback(0.25, q[1])
    assert np.allclose(one.adjoint[0], fb.adjoint[1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(points=4), "points"),
        (dict(points=6), "odd"),
        (dict(points=(5, 5)), "one per agent"),
        (dict(steps=0), "steps"),
        (dict(cfl=1.5), "cfl"),
        (dict(frames=1), "frames"),
        (dict(width=-1.0), "width"),
        (dict(domain=[(0.0, 1.0)] * 3), r"domain\[0\].*initial state"),
        (dict(domain=[(1.0, -3.0), (-1.0, 2.0), (-1.0, 1.0)]), r"domain\[0\].*low < high"),
        (dict(domain=[(-3.0, 1.0)]), "one \\(low, high\\) per agent"),
    ],
)
def test_bad_grid_input_names_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        solve_logit_pde(mild(inventory_noise=0.1), **kwargs)


def test_too_many_agents_and_bad_factor_box_are_refused():
    big = mild(trader_inventories=(-2.0, 1.0))
    with pytest.raises(ValueError, match="4 agents.*at most 3"):
        solve_logit_pde(big)
    game = mild(factor={**FACTOR, "volatility": 0.5})
    with pytest.raises(ValueError, match="factor_domain.*mean"):
        solve_logit_pde(game, factor_domain=(0.2, 1.0))
    with pytest.raises(ValueError, match="factor_points"):
        solve_logit_pde(game, factor_points=3)
    sol = solve_logit_pde(mild(inventory_noise=0.1), points=5, error_estimate=False)
    with pytest.raises(ValueError, match="factor"):
        sol.feedback(0.0, np.zeros((1, 3)), factor=0.0)
    with pytest.raises(ValueError, match="t = "):
        sol.feedback(0.6, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="finite"):
        sol.feedback(0.1, np.full((1, 3), np.nan))
