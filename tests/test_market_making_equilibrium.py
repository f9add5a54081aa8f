"""§3/§4 best-quote equilibrium: Thm 4.3 closed forms, independent BVP methods, decoupling field."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from policies.equilibrium.coefficients import Profile
from policies.equilibrium.market_making import MarketMakingGame, acas_transform
from policies.equilibrium.market_making_hamiltonian import (
    Intensity,
    quote_equilibrium,
    trader_rates,
)
from tests.helpers import ACAS


@pytest.fixture(scope="module")
def acas_solution():
    return MarketMakingGame.acas(**ACAS).solve()


def transformed_riccati(sol):
    m = acas_transform(sol.game)
    return m @ sol.riccati @ np.linalg.inv(m)


# ----------------------------------------------------------------------------- Theorem 4.3
def test_theorem_4_3_explicit_solution_is_reproduced():
    # a = b = 0, φ = 0, q₀ᵉ − q₀¹ᵐ = −1/(2Aγ): Q constant, Y²ᵐ = −2A(q¹ᵐ − q²ᵐ), Y¹ᵉ = 1/γ in (22)
    A, gamma, q1m, q2m = 1.5, 2.0, 0.0, -1.0
    qe = q1m - 1.0 / (2 * A * gamma)
    game = MarketMakingGame.acas(
        horizon=2.0,
        temporary_impact=0.3,
        intensity_decay=gamma,
        terminal_penalty=A,
        trader_inventory=qe,
        maker_inventories=(q1m, q2m),
    )
    sol = game.solve()
    tr = sol.transformed()
    # exact: the solver hits these to its Newton tolerance (1e-10 relative)
    np.testing.assert_allclose(sol.inventory, np.tile(game.initial_inventories, (51, 1)), atol=1e-9)
    np.testing.assert_allclose(tr["Y_2m"], -2 * A * (q1m - q2m), atol=1e-9)
    np.testing.assert_allclose(tr["Y_1e"], 1 / gamma, atol=1e-9)
    np.testing.assert_allclose(sol.rate, 0.0, atol=1e-9)


@pytest.mark.parametrize("qe", [-2.0, -6.0])
def test_theorem_4_3_trading_rate_lower_bound_26_holds(qe):
    # (26): v ≥ p/(2β)(−q₀ᵉ + q₀¹ᵐ − 1/(2Aγ)), p = 2/(1/A + T/β(1 + e^{2Aγ(q¹ᵐ−q²ᵐ)}))
    A, gamma, beta, T, q1m, q2m = 1.0, 2.0, 0.5, 1.0, 1.0, 0.0
    game = MarketMakingGame.acas(
        horizon=T,
        temporary_impact=beta,
        intensity_decay=gamma,
        terminal_penalty=A,
        trader_inventory=qe,
        maker_inventories=(q1m, q2m),
    )
    sol = game.solve()
    p = 2.0 / (1 / A + T / beta * (1 + np.exp(2 * A * gamma * (q1m - q2m))))
    bound = p / (2 * beta) * (-qe + q1m - 1 / (2 * A * gamma))
    assert bound > 0
    assert sol.rate.min() >= bound
    assert sol.diagnostics["assumption_4_4"] is True


def test_riccati_solution_is_non_positive_in_transformed_coordinates():
    # Thm 4.3: deterministic a, b, φ = 0 → R (the 2×2 block of (22)) has non-positive entries;
    # (22) also says Y²ᵐ, Y¹ᵉ do not depend on Q¹ᵐ: R̃[1:, 0] = 0.
    game = MarketMakingGame.acas(**{**ACAS, "running_penalty": 0.0})
    rt = transformed_riccati(game.solve())
    assert rt[:, 1:, 1:].max() <= 1e-12
    np.testing.assert_allclose(rt[:, 1:, 0], 0.0, atol=1e-8)
    np.testing.assert_allclose(rt[-1], -2.0 * np.eye(3), atol=1e-12)  # R(T) = −2A I


# ----------------------------------------------------------------------------- Riccati / Radon
@pytest.mark.parametrize("phi", [0.0, 0.1])
def test_radon_formula_matches_integrated_riccati(phi):
    # φ = 0: Radon is explicit R = −2A[I + 2A∫G]⁻¹ (exact for constant G); φ > 0: Radon's linear
    # ODE. RK4 on (23) is 4th order but stiff (‖RGR‖ ~ 70): measured 3.7e-6 at 200 steps.
    game = MarketMakingGame.acas(**{**ACAS, "running_penalty": phi})
    radon = game.solve(steps=200, decoupling="radon").riccati
    ric = game.solve(steps=200, decoupling="riccati").riccati
    np.testing.assert_allclose(ric, radon, atol=1e-5)


def test_decoupling_field_error_is_second_order_in_the_perturbation(acas_solution):
    # Y(0, q₀ + Δ) from a full re-solve vs Ŷ(0) + R(0)Δ: the error is O(|Δ|²) (R = ∂Y/∂Q).
    sol = acas_solution
    errors = []
    for d in (0.2, 0.1, 0.05):
        dq = np.array([0.5 * d, d, -d])  # trader, maker_0, maker_1
        kw = {**ACAS, "trader_inventory": -5 + 0.5 * d, "maker_inventories": (1 + d, -d)}
        resolved = MarketMakingGame.acas(**kw).solve().adjoint[0]
        first_order = sol.adjoint_at(0.0, sol.game.initial_inventories + dq)[0]
        exact = sol.adjoint_at(0.0, sol.game.initial_inventories + dq, exact=True)[0]
        np.testing.assert_allclose(exact, resolved, atol=1e-8)  # same BVP, Newton tolerance
        errors.append(np.abs(first_order - resolved).max())
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert errors[0] < 5e-3
    np.testing.assert_allclose(ratios, 4.0, rtol=0.1)


# ----------------------------------------------------------------------------- BVP methods
@pytest.mark.parametrize("phi", [0.0, 0.3])
def test_shooting_collocation_and_algebraic_fast_path_agree(phi):
    game = MarketMakingGame.acas(**{**ACAS, "running_penalty": phi, "noise_buy_rate": 2.0})
    shoot = game.solve(method="shooting")
    colloc = game.solve(method="collocation")
    # solve_bvp tolerance 1e-8 vs RK4 error ~1e-9 at 50 steps
    np.testing.assert_allclose(colloc.adjoint[0], shoot.adjoint[0], atol=1e-6)
    np.testing.assert_allclose(colloc.value, shoot.value, atol=1e-5)
    if phi == 0.0:
        alg = game.solve(method="algebraic")
        assert alg.diagnostics["method"] == "algebraic"
        # same quadrature (RK4 with Y constant = Simpson): agree to the Newton tolerance
        np.testing.assert_allclose(alg.adjoint, shoot.adjoint, atol=1e-9)
        np.testing.assert_allclose(alg.adjoint - alg.adjoint[0], 0.0, atol=1e-12)  # Y constant


def test_rk4_grid_refinement_converges_at_fourth_order():
    game = MarketMakingGame.acas(**ACAS)
    ref = game.solve(steps=400, method="shooting")
    err = [
        np.abs(game.solve(steps=k, method="shooting").adjoint[0] - ref.adjoint[0]).max()
        for k in (25, 50)
    ]
    assert err[1] < 1e-8
    assert err[0] / err[1] > 8  # ~16 for RK4 (measured 16.4)


def test_continuation_solves_problem_where_direct_newton_fails():
    # runs/acas.toml-like: β = 0.1, A = 5, strong flow; from Y = −2Aq₀ the first trader rate
    # is ~500 and Newton stalls; the homotopy s: 0 → 1 reaches the solution.
    game = MarketMakingGame(
        horizon=1.0,
        trader_inventories=(-10.0,),
        maker_inventories=(2.0, 0.0),
        temporary_impact=0.1,
        intensity_decay=2.0,
        trader_terminal_penalty=5.0,
        noise_buy_rate=20.0,
        noise_sell_rate=20.0,
        max_spread=5.0,
        min_rate=0.1,
        max_rate=100.0,
    )
    sol = game.solve()
    assert sol.diagnostics["continuation_steps"] > 0
    assert sol.diagnostics["terminal_residual"] < 1e-8
    colloc = game.solve(method="collocation")
    np.testing.assert_allclose(colloc.adjoint[0], sol.adjoint[0], atol=1e-5)
    assert sol.diagnostics["truncation_binds"]  # ξ = 5 binds (both makers pinned at ±ξ)


# ----------------------------------------------------------------------------- structure
@pytest.mark.parametrize("makers", [(1.0, 0.0), (-1.0, 2.0), (0.0, 0.0)])
def test_maker_with_larger_inventory_quotes_the_best_ask(makers):
    sol = MarketMakingGame.acas(**{**ACAS, "maker_inventories": makers}).solve()
    y = sol.adjoint[:, 1:]
    hi, lo = (0, 1) if makers[0] >= makers[1] else (1, 0)
    assert np.all(y[:, hi] <= y[:, lo] + 1e-12)  # Y¹ᵐ ≤ Y²ᵐ (Lemma 5.2 of [15])
    assert np.all(sol.ask[:, hi] <= sol.ask[:, lo] + 1e-12)
    assert np.all(sol.bid[:, hi] >= sol.bid[:, lo] - 1e-12)
    np.testing.assert_allclose(sol.ask, 1 / 2.0 + y, atol=1e-12)  # (17)
    np.testing.assert_allclose(sol.bid, 1 / 2.0 - y, atol=1e-12)


def test_acas_controls_are_the_explicit_feedback_17(acas_solution):
    sol = acas_solution
    ye, y1m = sol.adjoint[:, 0], sol.adjoint[:, 1:].min(axis=1)
    np.testing.assert_allclose(
        sol.rate[:, 0], np.maximum((ye - y1m - 0.5) / (2 * 0.5), 0), atol=1e-12
    )
    # Y' = 2φQ and Y(T) = −2AQ(T) along the path (RK4: check the integral form by Simpson)
    np.testing.assert_allclose(sol.adjoint[-1], -2 * sol.inventory[-1], atol=1e-9)


def test_general_constructor_with_one_trader_two_makers_equals_acas(acas_solution):
    game = MarketMakingGame(
        horizon=1.0,
        trader_inventories=(-5.0,),
        maker_inventories=(1.0, 0.0),
        temporary_impact=0.5,
        intensity="exponential",
        intensity_decay=2.0,
        temporary_cost="aggregated",
        cost_coupling=1.0,  # one trader: same as individual
        trader_running_penalty=0.1,
        maker_running_penalty=(0.1, 0.1),
        trader_terminal_penalty=1.0,
        maker_terminal_penalty=1.0,
        noise_buy_rate=lambda t: 1.0,
        noise_sell_rate=Profile((1.0, 1.0)),
    )
    sol = game.solve()
    np.testing.assert_allclose(sol.adjoint, acas_solution.adjoint, atol=1e-10)
    np.testing.assert_allclose(sol.value, acas_solution.value, atol=1e-10)


def test_value_equals_integrated_payoff_of_the_path(acas_solution):
    # J of the trader: −∫(best ask)v − ∫βv² − ∫φQ² − AQ_T², by Simpson on a fine solve
    sol = MarketMakingGame.acas(**ACAS).solve(steps=400)
    t = sol.time
    best = sol.ask.min(axis=1)
    v, q = sol.rate[:, 0], sol.inventory[:, 0]
    integrand = -best * v - 0.5 * v**2 - 0.1 * q**2
    w = np.full(t.size, 2.0)
    w[1::2], w[0], w[-1] = 4.0, 1.0, 1.0
    j = (t[1] - t[0]) / 3 * (w @ integrand) - q[-1] ** 2
    assert j == pytest.approx(sol.value["trader_0"], abs=1e-8)
    assert acas_solution.value["trader_0"] == pytest.approx(j, abs=1e-7)


# ----------------------------------------------------------------------------- Hamiltonian
def _log_concave_intensity(gamma=1.5, kappa=1.0):
    """Λ(x) = exp(−γx − κ·log(1+eˣ)): (log Λ)'' = −κσ'(x) ∈ [−κ/4, 0] → Def. 3.4 holds."""
    return lambda x: np.exp(-gamma * x - kappa * np.logaddexp(0.0, x))


def test_general_intensity_quotes_are_mutual_best_responses():
    lam = Intensity.from_callable(_log_concave_intensity())
    lam.validate()
    y = np.array([[-0.3, 0.1, 0.4], [0.2, 0.2, -1.0]])
    delta = quote_equilibrium(y, lam, np.inf)
    grid = np.linspace(-3, 5, 160001)
    for row in range(2):
        for i in range(3):
            dbar = np.delete(delta[row], i).min()
            objective = lam.value(grid - dbar) * (grid - y[row, i])
            assert delta[row, i] == pytest.approx(grid[np.argmax(objective)], abs=1e-4)  # grid step


def test_markup_inverse_is_finite_and_warning_free_where_intensity_underflows_or_saturates():
    # logistic Λ(x) = 2/(1 + e^{γx}) (Def. 3.4): Λ' underflows for x → −∞ (Λ saturates at 2) and
    # Λ, Λ' both underflow for x ≫ 0; h(x) = x − (1 + e^{−γx})/γ exactly
    g = 2.0

    def sigma(x, sign=1.0):
        return np.exp(-np.logaddexp(0.0, sign * g * np.asarray(x, dtype=float)))

    lam = Intensity.from_callable(
        lambda x: 2.0 * sigma(x), lambda x: -2.0 * g * sigma(x) * sigma(x, -1.0)
    )
    z = np.array([-1e4, -400.0, -19.0, -1.0, 0.0, 3.0, 20.0, 300.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0/0 or x/0 RuntimeWarning
        x = lam.markup(z)
    assert np.all(np.isfinite(x)) and np.all(np.diff(x) > 0)  # h⁻¹ is increasing
    ok = np.abs(z) <= 300.0  # where e^{−γx} is representable, the exact inverse
    h = x[ok] - (1.0 + np.exp(-g * x[ok])) / g
    np.testing.assert_allclose(h, z[ok], rtol=1e-10, atol=1e-10)
    # Λ = 0 in floating point beyond: the quote is the exponential-tail bound z + scale (= 1/(g/2))
    assert x[-1] == pytest.approx(1e4 + 2.0 / g)


def test_scaled_exponential_callable_matches_closed_form_17():
    lam = Intensity.from_callable(lambda x: 3.0 * np.exp(-2.0 * x))
    y = np.linspace(-1, 1, 7).reshape(-1, 1) * np.array([1.0, 0.5])
    np.testing.assert_allclose(quote_equilibrium(y, lam, np.inf), 0.5 + y, atol=1e-7)


def test_aggregated_cost_rates_solve_truncated_first_order_conditions():
    rng = np.random.default_rng(0)
    ytil = rng.normal(2.0, 3.0, (50, 6))
    buyer = np.array([True, True, True, False, False, False])
    ytil[:, 3:] *= -1
    beta, c, eps, cap = 0.7, 1.5, 0.2, 4.0
    v = trader_rates(ytil, buyer, beta, "aggregated", c, eps, cap)
    lo, hi = np.where(buyer, eps, -cap), np.where(buyer, cap, -eps)
    others = (v.sum(-1, keepdims=True) - v) / 5
    grad = ytil - beta * (2 * v + c * others)  # ∂H/∂vⁱ at the solution
    interior = (v > lo + 1e-12) & (v < hi - 1e-12)
    assert np.abs(grad[interior]).max() < 1e-9
    assert np.all(grad[np.isclose(v, lo)] <= 1e-9)  # KKT at the lower bound
    assert np.all(grad[np.isclose(v, hi)] >= -1e-9)
    assert interior.any() and (~interior).any()


def test_many_traders_and_makers_general_game_solves_with_structure():
    rng = np.random.default_rng(3)
    qe = -np.abs(rng.normal(3, 1, 5))
    qe[3:] *= -1  # two sellers
    game = MarketMakingGame(
        horizon=1.0,
        trader_inventories=tuple(qe),
        maker_inventories=tuple(rng.normal(0, 1, 3)),
        temporary_impact=0.5,
        intensity=_log_concave_intensity(),
        temporary_cost="aggregated",
        cost_coupling=0.5,
        trader_running_penalty=0.05,
        maker_running_penalty=0.05,
        noise_buy_rate=1.0,
        noise_sell_rate=Profile((1.0, 2.0)),
        max_spread=10.0,
    )
    sol = game.solve()
    assert sol.diagnostics["terminal_residual"] < 1e-8
    order = np.argsort(-np.asarray(game.maker_inventories))  # larger inventory → lower Y
    ym = sol.adjoint[:, 5:]
    assert np.all(np.diff(ym[:, order], axis=1) >= -1e-10)
    assert np.all(sol.rate[:, :3] >= 0) and np.all(sol.rate[:, 3:] <= 0)


def test_hard_parameters_are_solved_by_homotopy_or_collocation_fallback():
    # A = 50: from Y = −2Aq₀ the makers' quotes differ by 2Aγ(q¹ − q²) = 200 → e^{400}
    # overflows; the φ = 0 pre-solve needs the inventory homotopy. T = 20: shooting is
    # unstable over the long horizon; the path comes from solve_bvp's interpolant.
    stiff = MarketMakingGame.acas(**{**ACAS, "terminal_penalty": 50.0}).solve()
    long = MarketMakingGame.acas(**{**ACAS, "horizon": 20.0}).solve()
    for sol in (stiff, long):
        a = sol.game.problem.terminal
        np.testing.assert_allclose(sol.adjoint[-1], -2 * a * sol.inventory[-1], atol=1e-7)
        assert np.all(np.isfinite(sol.riccati)) and np.all(np.isfinite(sol.value))
    assert long.diagnostics["method"].startswith("collocation")
    # the collocation path obeys the BVP: Y' = 2φQ (Simpson check of Y(T) − Y(0) = ∫2φQ)
    t, q, y = long.time, long.inventory, long.adjoint
    w = np.full(t.size, 2.0)
    w[1::2], w[0], w[-1] = 4.0, 1.0, 1.0
    np.testing.assert_allclose(y[-1] - y[0], (t[1] - t[0]) / 3 * (w @ (0.2 * q)), rtol=1e-4)
