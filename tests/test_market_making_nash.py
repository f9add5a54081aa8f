"""Best responses and Nash gap of the §3/§4 best-quote market: exactness, heuristic profiles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.equilibrium.market_making_hamiltonian import Intensity
from policies.equilibrium.market_making_nash import (
    DiscreteBestQuoteGame,
    MakerDeviation,
    inventory_path,
    inventory_penalty,
    maker_best_response,
    maker_payoff,
    market_making_nash_gap,
    penalty_hessian,
    solve_penalty_system,
    trader_best_response,
    trader_gradient,
    trader_payoff,
)
from tests.helpers import best_quote_market

GAMMA, BETA = 2.0, 0.5


def acas_like(steps: int = 60, **kw) -> DiscreteBestQuoteGame:
    return best_quote_market(steps, **kw)  # γ = GAMMA, β = BETA


def heuristic_profile(market: DiscreteBestQuoteGame) -> tuple[np.ndarray, np.ndarray]:
    """TWAP traders (v = −q₀/T) and constant-spread makers (δᵃ = δᵇ = 1/γ)."""
    rates = np.repeat((-market.q_trader / market.horizon)[:, None], market.steps, axis=1)
    quotes = np.full((market.n_makers, market.steps, 2), 1 / GAMMA)
    return rates, quotes


def random_profile(market: DiscreteBestQuoteGame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rates = np.abs(rng.normal(10.0, 4.0, (market.n_traders, market.steps)))
    rates *= -np.sign(market.q_trader)[:, None]
    quotes = rng.normal(0.5, 0.4, (market.n_makers, market.steps, 2))
    return rates, quotes


def test_maker_adjoint_gradient_matches_finite_differences():
    market = acas_like(steps=40)
    rates, quotes = random_profile(market, 0)
    dev = MakerDeviation(market, rates, quotes, 0)
    x = np.random.default_rng(1).normal(0.5, 0.3, 2 * market.steps)
    _, grad = dev.objective(x)
    h = 1e-6
    fd_grad = np.array(
        [
            (dev.objective(x + h * e)[0] - dev.objective(x - h * e)[0]) / (2 * h)
            for e in np.eye(x.size)
        ]
    )
    # central differences: truncation O(h^2 J''') ~ 1e-12 plus rounding ~ 1e-16 |J| / h ~ 1e-9
    assert np.max(np.abs(fd_grad - grad)) < 1e-7 * (1 + np.max(np.abs(grad)))


def test_trader_adjoint_gradient_matches_finite_differences():
    market = acas_like(steps=40, trader_inventories=[-10.0, -4.0], temporary_cost="aggregated")
    rates, quotes = random_profile(market, 12)
    grad = trader_gradient(market, rates, quotes, 1)
    h = 1e-6
    fd = []
    for k in range(market.steps):
        up, down = rates.copy(), rates.copy()
        up[1, k] += h
        down[1, k] -= h
        diff = trader_payoff(market, up, quotes, 1) - trader_payoff(market, down, quotes, 1)
        fd.append(diff / (2 * h))
    assert np.max(np.abs(np.array(fd) - grad)) < 1e-7 * (1 + np.max(np.abs(grad)))


def test_banded_penalty_solve_matches_dense_system():
    n, phi, terminal, dt = 37, 0.3, 1.7, 0.05
    rng = np.random.default_rng(13)
    m, c = -rng.random(n), rng.normal(size=n)
    k = penalty_hessian(n, phi, terminal, dt)
    u, ku = solve_penalty_system(m, c, phi, terminal, dt)
    assert np.allclose((np.eye(n) - m[:, None] * k) @ u, c, atol=1e-12)
    assert np.allclose(k @ u, ku, atol=1e-12)
    # K is the Hessian of the (quadratic) inventory penalty in the increments
    dq = rng.normal(size=n)
    q = inventory_path(0.0, dq)
    assert inventory_penalty(q, phi, terminal, dt) == pytest.approx(0.5 * dq @ k @ dq, rel=1e-12)


def test_fill_space_newton_direction_is_an_ascent_direction():
    market = acas_like(steps=40)
    rates, quotes = random_profile(market, 14)
    dev = MakerDeviation(market, rates, quotes, 0)
    x = np.random.default_rng(15).normal(0.5, 0.3, 2 * market.steps)
    step = dev.newton_direction(x, np.ones(x.size, dtype=bool))
    assert dev.objective(x)[1] @ step > 0


def test_maker_objective_is_the_profile_payoff():
    market = acas_like(steps=30)
    rates, quotes = random_profile(market, 2)
    for j in range(market.n_makers):
        dev = MakerDeviation(market, rates, quotes, j)
        x = np.concatenate([quotes[j, :, 0], quotes[j, :, 1]])
        assert dev.objective(x)[0] == pytest.approx(
            maker_payoff(market, rates, quotes, j), rel=1e-13
        )


def test_heuristic_profile_has_clearly_positive_nash_gap():
    market = acas_like()
    rates, quotes = heuristic_profile(market)
    gap = market_making_nash_gap(market, rates, quotes)
    assert list(gap["role"]) == ["trader", "maker", "maker"]
    # TWAP against a constant best ask with φ = 0.1, A = 1 is not optimal and constant 1/γ
    # spreads ignore inventory: each gain is O(1) (compare ≈ 1e-4 at the ACAS equilibrium)
    assert np.all(gap["gain"] > 0.05)
    assert np.all(gap["optimality_residual"] < 1e-6)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), spread=st.floats(0.2, 5.0), min_rate=st.floats(0.0, 2.0))
def test_best_response_payoff_dominates_the_profile_and_random_admissible_deviations(
    seed, spread, min_rate
):
    market = acas_like(steps=30, max_spread=spread, max_rate=30.0, min_rate=min_rate)
    rates, quotes = random_profile(market, seed)
    gap = market_making_nash_gap(market, rates, quotes)
    assert np.all(gap["best_response_payoff"] >= gap["payoff"])
    assert np.all(gap["optimality_residual"] < 1e-6)
    # The makers' ascent starts from the profile's own quotes, so "≥ payoff" alone holds by
    # construction; a best response must also beat deviations it never visited: random
    # admissible schedules around it (|δ| ≤ ξ) never improve on it (rounding 1e-12 relative).
    rates, quotes = market.admissible_rates(rates), market.admissible_quotes(quotes)
    rng = np.random.default_rng(seed)
    for j in range(market.n_makers):
        br = maker_best_response(market, rates, quotes, j)
        assert br.payoff == pytest.approx(
            gap["best_response_payoff"].iloc[market.n_traders + j], rel=1e-12
        )
        trial = quotes.copy()
        for _ in range(10):
            noise = rng.normal(0.0, 0.3, br.schedule.shape)
            trial[j] = np.clip(br.schedule + noise, -spread, spread)
            assert maker_payoff(market, rates, trial, j) <= br.payoff + 1e-12 * (1 + abs(br.payoff))


def test_maker_best_response_is_the_global_optimum():
    market = acas_like(steps=40)
    rates, quotes = random_profile(market, 6)
    br = maker_best_response(market, rates, quotes, 1)
    dev = MakerDeviation(market, rates, quotes, 1)
    x = np.concatenate([br.schedule[:, 0], br.schedule[:, 1]])
    rng = np.random.default_rng(7)
    # concave in fill variables: no perturbation, small or large, may improve on it
    for scale in (1e-3, 1e-1, 1.0):
        trials = x + scale * rng.normal(size=(50, x.size))
        assert max(dev.objective(t)[0] for t in trials) <= br.payoff + 1e-12
    # exponential Λ: the discrete Pontryagin condition δ = 1/γ ± y holds at every step
    y = dev.adjoint(x)
    assert np.allclose(br.schedule[:, 0], 1 / GAMMA + y, atol=1e-7)
    assert np.allclose(br.schedule[:, 1], 1 / GAMMA - y, atol=1e-7)


def test_lone_maker_without_inventory_penalty_quotes_one_over_gamma():
    # Avellaneda–Stoikov limit (§4, reference price as competitor): max δe^{−γδ} at δ = 1/γ
    market = acas_like(
        steps=20, maker_inventories=[0.0], maker_running_penalty=0.0, maker_terminal_penalty=0.0
    )
    rates, quotes = heuristic_profile(market)
    br = maker_best_response(market, rates, quotes[:1], 0)
    assert np.allclose(br.schedule, 1 / GAMMA, atol=1e-9)
    a_tilde = market.noise_buy + rates[0]
    expected = np.sum((a_tilde + market.noise_sell) * np.exp(-1.0) / GAMMA) * market.dt
    assert br.payoff == pytest.approx(expected, rel=1e-12)


def test_bounded_maker_best_response_respects_the_spread_bound():
    market = acas_like(steps=30, max_spread=0.3)
    rates, quotes = heuristic_profile(market)
    br = maker_best_response(market, rates, np.clip(quotes, -0.3, 0.3), 0)
    assert np.all(np.abs(br.schedule) <= 0.3 + 1e-12)
    assert np.any(np.isclose(br.schedule, 0.3))  # 1/γ = 0.5 is out of reach: the bound binds


def test_trader_quadratic_solve_matches_general_lbfgs_path():
    market = acas_like(steps=50)
    rates, quotes = random_profile(market, 8)
    exact = trader_best_response(market, rates, quotes, 0)

    def quadratic_cost(v, others):  # λ = βv² given as a class-Υ callable
        return BETA * v * v, 2 * BETA * v

    general = acas_like(steps=50, temporary_cost=quadratic_cost)
    lbfgs = trader_best_response(general, rates, quotes, 0)
    assert lbfgs.payoff == pytest.approx(exact.payoff, rel=1e-9, abs=1e-9)
    assert np.allclose(lbfgs.schedule, exact.schedule, atol=1e-4)


def test_trader_best_response_with_binding_rate_bounds_satisfies_kkt():
    # a tight max_rate forces the bounded least-squares branch
    market = acas_like(steps=50, max_rate=11.0, min_rate=1.0, trader_terminal_penalty=50.0)
    rates, quotes = random_profile(market, 9)
    quotes[:, :25, 0] += 30.0  # expensive early asks: the trader wants to back-load its buying
    br = trader_best_response(market, rates, quotes, 0)
    assert np.isclose(br.schedule.max(), 11.0)  # the upper bound binds on the late steps
    assert br.optimality_residual < 1e-8
    trial = market.admissible_rates(rates)
    rng = np.random.default_rng(10)
    for _ in range(50):  # feasible perturbations never improve (strict concavity)
        trial[0] = np.clip(br.schedule + 0.5 * rng.normal(size=market.steps), 1.0, 11.0)
        assert trader_payoff(market, trial, quotes, 0) <= br.payoff + 1e-12


def test_seller_and_aggregated_cost_best_response():
    market = acas_like(
        steps=40, trader_inventories=[8.0, 6.0], temporary_cost="aggregated", cost_coupling=0.5
    )
    rates, quotes = random_profile(market, 11)
    gap = market_making_nash_gap(market, rates, quotes)
    assert np.all(gap["gain"] >= 0) and np.all(gap["optimality_residual"] < 1e-6)
    br = trader_best_response(market, rates, quotes, 0)
    assert np.all(br.schedule <= 0)  # a seller's admissible rates are negative


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temporary_impact", 0.0),
        ("steps", 0),
        ("trader_inventories", [0.0]),
        ("noise_buy_rate", -1.0),
        ("maker_terminal_penalty", -1.0),
        ("intensity", "linear"),
    ],
)
def test_invalid_market_raises_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        acas_like(**{field: value})


def test_non_finite_or_misshaped_profile_raises_value_error():
    market = acas_like(steps=10)
    rates, quotes = heuristic_profile(market)
    quotes[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match="maker_quotes"):
        market_making_nash_gap(market, rates, quotes)
    with pytest.raises(ValueError, match="trader_rates"):
        market_making_nash_gap(market, rates[:, :5], heuristic_profile(market)[1])


def test_general_intensity_best_response_is_certified():
    # a logistic Λ(x) = 2/(1 + e^{γx}) of Definition 3.4 (ΛΛ''/Λ'² ≤ 1), no closed form
    def sigma(x, sign=1.0):  # 1/(1 + e^{±γx}) without overflow or cancellation
        return np.exp(-np.logaddexp(0.0, sign * GAMMA * np.asarray(x, dtype=float)))

    def logistic(x):
        return 2.0 * sigma(x)

    def d1(x):
        return -2.0 * GAMMA * sigma(x) * sigma(x, -1.0)

    def d2(x):
        return 2.0 * GAMMA**2 * sigma(x) * sigma(x, -1.0) * (sigma(x, -1.0) - sigma(x))

    lam = Intensity.from_callable(logistic, d1, d2)
    lam.validate()
    market = acas_like(steps=30, intensity=lam)
    rates, quotes = heuristic_profile(market)
    gap = market_making_nash_gap(market, rates, quotes)
    assert np.all(gap["gain"] > 0) and np.all(gap["optimality_residual"] < 1e-6)
    # payoff of the maker's best response vs a perturbation: no improvement
    br = maker_best_response(market, rates, quotes, 0)
    trial = quotes.copy()
    trial[0] = br.schedule + 0.05
    assert maker_payoff(market, rates, trial, 0) < br.payoff
