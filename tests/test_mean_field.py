"""Mean-field limit of the ACAS game (Guo & Jin Prop. 4.5, (32)–(37))."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad, solve_ivp

from policies.equilibrium.market_making_nash import (
    DiscreteBestQuoteGame,
    maker_best_response,
    maker_payoff,
    market_making_nash_gap,
    trader_best_response,
)
from policies.equilibrium.mean_field import (
    MeanFieldGame,
    inverse_square_integral,
    riccati_closed_form,
)

BETA, GAMMA, A, T = 0.5, 2.0, 1.0, 1.0


def game(samples, phi=0.0, noise=1.0, makers=(1.0, 0.0), **kw) -> MeanFieldGame:
    """β = 0.5, γ = 2, A = 1 on T = 1 with symmetric noise; ``kw`` overrides any field."""
    args = dict(
        horizon=T,
        temporary_impact=BETA,
        intensity_decay=GAMMA,
        terminal_penalty=A,
        running_penalty=phi,
        inventory_distribution=samples,
        maker_inventories=makers,
        noise_buy_rate=noise,
        noise_sell_rate=noise,
    )
    return MeanFieldGame(**{**args, **kw})


@pytest.fixture(scope="module")
def population() -> np.ndarray:
    return -np.random.default_rng(0).gamma(20.0, 0.5, size=20_000)  # mean −10, sd ≈ 2.2


@pytest.fixture(scope="module", params=[0.0, 0.3], ids=["phi0", "phi0.3"])
def solution(request, population):
    return game(population, phi=request.param).solve(steps=200)


def test_riccati_closed_form_phi_zero_is_the_papers_formula():
    t = np.linspace(0, T, 11)
    a, _ = riccati_closed_form(t, T, BETA, 0.0, A)
    np.testing.assert_allclose(a, -2 * A / (1 + (A / BETA) * (T - t)), rtol=1e-14)


def test_solution_of_36_matches_direct_ode_integration(solution):
    # integrate (36) backwards with an independent ODE solver; m(t) = best ask, cubic in time
    g, t = solution.game, solution.time
    m = np.interp
    best = solution.best_ask

    def rhs(s, z):
        a, b = z
        return [2 * g.phi - a * a / (2 * BETA), a / (2 * BETA) * (m(s, t, best) - b)]

    ode = solve_ivp(
        rhs, (T, 0), [-2 * A, 0.0], t_eval=t[::-1], rtol=1e-11, atol=1e-12, max_step=T / 400
    )
    np.testing.assert_allclose(solution.A, ode.y[0][::-1], rtol=1e-8)
    # B: Simpson on the 200-step grid vs the ODE with linearly interpolated m: O(h²) ≈ 1e-5
    np.testing.assert_allclose(solution.B, ode.y[1][::-1], atol=1e-4 * np.max(np.abs(best)))


def test_individual_adjoint_is_affine_and_constant_iff_phi_zero(solution, population):
    g, t = solution.game, solution.time
    q0 = population[:5]
    q = solution.inventory_from_initial(t[:, None], q0[None, :])
    y = solution.A[:, None] * q + solution.B[:, None]
    if g.phi == 0:
        # (34)–(36) with φ = 0: Yʲ_t = A₀qʲ₀ + B₀ for all t (the paper's proof of Prop. 4.5)
        np.testing.assert_allclose(
            y, np.broadcast_to(solution.A[0] * q0 + solution.B[0], y.shape), atol=1e-7
        )
    else:
        # dY = 2φQ dt (14): compare the increments with the trapezoid of 2φQ
        dy = np.diff(y, axis=0)
        np.testing.assert_allclose(dy, g.phi * (q[1:] + q[:-1]) * np.diff(t)[:, None], atol=1e-5)
        assert np.ptp(y[:, 0]) > 0.1
    # terminal condition Y_T = −2A Q_T
    np.testing.assert_allclose(y[-1], -2 * A * q[-1], atol=1e-9)


def test_feedback_rate_along_the_path_is_the_open_loop_rate(solution, population):
    t = solution.time[:, None]
    q0 = population[None, :50]
    q = solution.inventory_from_initial(t, q0)
    np.testing.assert_allclose(solution.rate(t, q), solution.rate_from_initial(t, q0), atol=1e-9)


def test_representative_of_36_reproduces_the_acas_trader(solution):
    # (36) at q̄₀ vs the ACAS solver's v̂¹ᵉ on 200 steps: observed 2e-13 (φ = 0, closed form)
    # and 5e-9 (φ = 0.3: the ACAS path's own error plus O(φh⁴) quadrature); 1e-6 is loose.
    assert solution.representative_mismatch < 1e-6
    assert solution.values()["trader_0"] == pytest.approx(solution.acas.value["trader_0"], rel=1e-6)


def test_ansatz_32_population_average_rate_is_the_representative_rate(solution, population):
    check = solution.average_rate_check(population)
    assert check["within"].all()
    # stronger than the 4·sd/√N LLN band (≈ 0.04 here): the rates (34) are affine in q₀ and q̄₀
    # is this very sample's mean, so the sample-average rate is the representative's up to the
    # (36)-vs-solver mismatch (observed 5e-9)
    assert np.max(np.abs(check["difference"])) < 1e-6
    # the LLN error is real: a small sample misses by more than the large one
    small = solution.average_rate_check(population[:20])
    assert np.max(np.abs(small["difference"])) > np.max(np.abs(check["difference"]))


def test_mean_field_rates_are_individual_best_responses_on_the_engine_grid(solution, population):
    # naive check: solve each sampled trader's own control problem against the makers' quotes
    steps = 200
    market, rates, quotes = solution.population_profile(population[:8], steps)
    for i in range(8):
        br = trader_best_response(market, rates, quotes, i)
        # the continuous optimum sampled at t_k vs the exact discrete optimum: O(dt) apart
        # (observed 3.5·dt for φ = 0.3, n = 100..400). For φ = 0, m_t is constant and both
        # optima are the same constant rate: only the (36)-vs-RK4 mismatch remains (observed
        # ≤ 5e-9), so 5·dt = 0.025 would be vacuous there; bound it by 1e-6 instead.
        tol = 5 * market.dt if solution.game.phi > 0 else 1e-6
        assert np.max(np.abs(br.schedule - rates[i])) < tol


def test_far_out_trader_violates_33_and_is_reported(population):
    q = population[:2000].copy()
    q[17] = q.mean() + 9.0  # a trader with a much smaller order (q₀ closer to 0)
    q[17] = min(q[17], -0.5)
    sol = game(q, phi=0.0, noise=0.0).solve(steps=100)
    cond = sol.conditions().set_index("condition")
    assert not cond.loc["exact", "holds"]
    worst = sol.violations("exact").iloc[0]
    assert worst["index"] == 17 and worst["excess"] > 0
    # its mean-field rate indeed turns negative (a buyer would have to sell): (34) truncates
    assert np.min(sol.rate_from_initial(sol.time, q[17])) < 0
    # the sufficient conditions are nested: (37) ⊂ (33) ⊂ exact (ε = 0, a = b = 0, φ = 0)
    b = sol.bounds()
    assert b["eq37"] is not None and b["eq37"] <= b["eq33"] <= b["exact"]
    assert cond.loc["eq33", "violators"] >= cond.loc["exact", "violators"]


def test_conditions_on_a_distribution_report_violation_probability():
    dist = stats.uniform(loc=-15.0, scale=10.0)  # q₀ ∈ [−15, −5], q̄₀ = −10
    sol = game(dist, phi=0.0, noise=0.0).solve(steps=100)
    cond = sol.conditions().set_index("condition")
    bound = cond.loc["eq33", "max_deviation"]
    expected = (-5.0 - (-10.0 + bound)) / 10.0 if bound < 5 else 0.0
    assert cond.loc["eq33", "violation_probability"] == pytest.approx(expected, rel=1e-12)
    assert cond.loc["negative", "holds"]
    normal = game(stats.norm(loc=-10.0, scale=3.0), phi=0.0, noise=0.0).solve(steps=50)
    neg = normal.conditions().set_index("condition").loc["negative"]
    assert not neg["holds"] and neg["violation_probability"] == pytest.approx(stats.norm.sf(10 / 3))


@pytest.fixture(scope="module")
def representative():
    return game([-10.0], phi=0.2).solve(steps=200)


def test_identical_population_reduces_to_the_acas_game(representative):
    # N traders with q₀ = q̄₀ and flow weights 1/N: exactly the ACAS game (same payoffs, gains)
    sol = representative
    single = market_making_nash_gap(*sol.population_profile([-10.0], 60))
    crowd = market_making_nash_gap(*sol.population_profile([-10.0] * 4, 60))
    for col in ("payoff", "gain"):
        np.testing.assert_allclose(crowd[col].to_numpy()[:4], single[col].iloc[0], rtol=1e-10)
        np.testing.assert_allclose(
            crowd[col].to_numpy()[4:], single[col].to_numpy()[1:], rtol=1e-9, atol=1e-12
        )


def test_makers_face_the_representative_flow_when_the_sample_mean_is_exact(representative):
    # symmetric sample around q̄₀: the empirical average rate is exactly the representative's
    # (affine in q₀), so the makers' payoffs and gains are those of the ACAS game
    sol = representative
    ref = market_making_nash_gap(*sol.population_profile([-10.0], 60))
    pop = market_making_nash_gap(*sol.population_profile([-13.0, -7.0, -11.0, -9.0], 60))
    np.testing.assert_allclose(
        pop["payoff"].to_numpy()[4:], ref["payoff"].to_numpy()[1:], rtol=1e-12
    )
    np.testing.assert_allclose(
        pop["gain"].to_numpy()[4:], ref["gain"].to_numpy()[1:], rtol=1e-6, atol=1e-12
    )
    # every agent: only the O(dt²) sampling error of the continuous solution, (1/60)²·O(1)
    assert np.all(pop["gain"] < 5 / 60**2)


def test_makers_finite_population_gain_converges_to_the_mean_field_gain(population):
    sol = game(population, phi=0.2).solve(steps=200)

    def maker_gains(samples) -> np.ndarray:
        market, rates, quotes = sol.population_profile(samples, 40)
        return np.array(
            [
                maker_best_response(market, rates, quotes, j).payoff
                - maker_payoff(market, rates, quotes, j)
                for j in range(2)
            ]
        )

    ref = maker_gains([sol.game.mean_inventory])
    errors = [np.max(np.abs(maker_gains(population[:n]) - ref)) for n in (10, 1000)]
    # the makers' ε-Nash gap differs from the mean-field one through q̄_N − q̄₀ = O(1/√N)
    # (observed: 0.31 at N = 10, 1.7e-3 at N = 1000 with this seed)
    assert errors[1] < errors[0] / 20


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"inventory_distribution": [-1.0, 2.0]}, "inventory_distribution"),
        ({"temporary_impact": 0.0}, "temporary_impact"),
        ({"maker_inventories": (1.0,)}, "maker_inventories"),
        ({"running_penalty": -1.0}, "running_penalty"),
    ],
)
def test_invalid_mean_field_input_raises_value_error(kwargs, field):
    with pytest.raises(ValueError, match=field):
        game([-10.0], **kwargs)


def test_population_market_is_a_best_quote_market(solution, population):
    market, rates, quotes = solution.population_profile(population[:3], 20)
    assert isinstance(market, DiscreteBestQuoteGame)
    assert rates.shape == (3, 20) and quotes.shape == (2, 20, 2)
    np.testing.assert_allclose(market.flow_weights, 1 / 3)


def test_max_rate_bound_flags_the_largest_orders(population):
    q = population[:500]
    sol = game(q, phi=0.0, noise=0.0, max_rate=7.0).solve(steps=100)
    lower = sol.bounds()["lower"]
    worst = sol.violations("exact")
    # traders with q₀ − q̄₀ < lower would need v > ξ̃ early on: listed, and their rate exceeds ξ̃
    big = worst[worst["deviation"] < lower]
    assert len(big) > 0
    assert np.all(sol.rate_from_initial(0.0, big["q0"].to_numpy()) > 7.0)
    ok = q[(q - sol.game.mean_inventory >= lower) & (q - sol.game.mean_inventory <= 0)]
    assert np.all(sol.rate_from_initial(sol.time[:, None], ok[None, :]) <= 7.0 + 1e-9)


def test_phi_zero_individual_rates_are_exactly_constant_on_the_default_grid(population):
    # φ = 0: Y, the best ask m and every trader's rate are constant (Prop. 4.5's proof); (36) is
    # evaluated in closed form (B by parts, ∫1/Φ² exactly), so no quadrature error remains
    sol = game(population, phi=0.0).solve()
    rates = sol.rate_from_initial(sol.time[:, None], population[None, :50])
    assert np.max(np.ptp(rates, axis=0)) < 1e-12
    assert sol.representative_mismatch < 1e-11
    assert sol.values()["trader_0"] == pytest.approx(sol.acas.value["trader_0"], rel=1e-13)


def test_inverse_square_integral_matches_quadrature():
    for phi in (0.0, 0.3, 4.0):
        t = np.array([0.0, 0.2, 0.7, 1.0])
        exact = inverse_square_integral(t, T, BETA, phi, A)

        def inv_sq(s, phi=phi):
            return 1.0 / riccati_closed_form(np.array(s), T, BETA, phi, A)[1] ** 2

        want = [quad(inv_sq, 0.0, x, epsabs=1e-14, epsrel=1e-13)[0] for x in t]
        np.testing.assert_allclose(exact, want, rtol=1e-12, atol=1e-15)
