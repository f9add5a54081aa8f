"""Execution heuristics: Almgren–Chriss against its closed form and the discretised optimum,
the TWAP limits, participation never overshooting, and the factories' parameter checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policies.catalog import available_policies
from policies.heuristics import (
    AlmgrenChriss,
    Participation,
    Twap,
    almgren_chriss_cost,
    almgren_chriss_decay,
    almgren_chriss_schedule,
)
from tests.helpers import build, own_state, policy_scenario

ETA, PHI, A, T = 0.5, 2.0, 3.0, 1.0
Q0 = np.array([10.0, -4.0, 0.0, 1e-3])  # paths: seller, buyer, flat, tiny


def play(policy, q0: np.ndarray, n: int, horizon: float = T) -> tuple[np.ndarray, np.ndarray]:
    """Run a trader policy on the engine's grid (rate held on [t_k, t_{k+1})): Q (n+1, M), v."""
    dt = horizon / n
    q, rates = [q0.astype(float)], []
    for k in range(n):
        v = policy.act(own_state(q[-1], t=k * dt, dt=dt, horizon=horizon, initial=q0))
        rates.append(v)
        q.append(q[-1] + v * dt)
    return np.array(q), np.array(rates)


def discrete_cost(q: np.ndarray, v: np.ndarray, dt: float, eta: float, phi: float, a: float):
    """The engine's exact cost of piecewise-constant rates, per path:
    Σ ηv²dt + φdt(Q_k² + Q_kQ_{k+1} + Q_{k+1}²)/3 + A·Q_n² (exact ∫φQ² for a linear Q)."""
    running = phi * dt / 3 * np.sum(q[:-1] ** 2 + q[:-1] * q[1:] + q[1:] ** 2, axis=0)
    return eta * dt * np.sum(v**2, axis=0) + running + a * q[-1] ** 2


def discrete_optimum(q0: float, n: int, eta: float, phi: float, a: float) -> float:
    """Minimum of :func:`discrete_cost` over all n piecewise-constant rates: a quadratic program
    solved by its normal equations. Q = q₀·1 + D v (D[k, j] = dt for j < k), cost
    η dt |v|² + Qᵀ W Q with W the tridiagonal running-penalty form plus A at the terminal node."""
    dt = T / n
    d = np.tril(np.ones((n + 1, n)), -1) * dt
    w = np.zeros((n + 1, n + 1))
    k = np.arange(n)
    w[k, k] += phi * dt / 3
    w[k + 1, k + 1] += phi * dt / 3
    w[k, k + 1] += phi * dt / 6
    w[k + 1, k] += phi * dt / 6
    w[n, n] += a
    hessian = eta * dt * np.eye(n) + d.T @ w @ d
    v = np.linalg.solve(hessian, -q0 * d.T @ w @ np.ones(n + 1))
    q = q0 + np.concatenate([[0.0], np.cumsum(v) * dt])
    return float(discrete_cost(q[:, None], v[:, None], dt, eta, phi, a)[0])


def test_almgren_chriss_feedback_converges_to_closed_form_schedule_at_first_order():
    policy = AlmgrenChriss(ETA, PHI, A)
    errors = []
    for n in (200, 400):
        q, _ = play(policy, Q0, n)
        exact = almgren_chriss_schedule(np.linspace(0, T, n + 1)[:, None], 0.0, Q0, T, ETA, PHI, A)
        errors.append(np.max(np.abs(q - exact), axis=0))
        # Euler for Q' = −g(t)Q with 0 ≤ g·dt ≤ 1 does not amplify errors, so the global error is
        # at most n local errors dt²/2·max|Q''| = T·dt/2·κ²·|q₀| (the exact Q'' = κ²Q, |Q| ≤ |q₀|).
        bound = T * (T / n) / 2 * (PHI / ETA) * np.abs(Q0)
        assert np.all(errors[-1] <= bound + 1e-15)
    # first order: halving dt halves the error (the sampled max error of Euler, ratio → 2)
    moving = Q0 != 0
    np.testing.assert_allclose(errors[0][moving] / errors[1][moving], 2.0, rtol=0.05)


def test_almgren_chriss_value_is_the_optimum_of_the_discretised_problem():
    """The closed-form cost V = ηg(T)q₀², the exact optimum over piecewise-constant rates (a
    linear solve) and the cost of the feedback policy on the same grid agree to O(dt²)."""
    q0 = 10.0
    value = float(almgren_chriss_cost(T, q0, ETA, PHI, A))
    gaps_qp, gaps_policy = [], []
    for n in (50, 100):
        dt = T / n
        best = discrete_optimum(q0, n, ETA, PHI, A)
        q, v = play(AlmgrenChriss(ETA, PHI, A), np.array([q0]), n)
        played = float(discrete_cost(q, v, dt, ETA, PHI, A)[0])
        # piecewise-constant rates are a subset of all rates with exactly integrated costs, so
        # V ≤ best ≤ played; both gaps are second order (first-order control error at a
        # stationary point), measured ≈ 0.15·V·dt² and 0.5·V·dt²: bound them by V·dt².
        assert value <= best <= played
        assert best - value <= value * dt**2
        assert played - best <= value * dt**2
        gaps_qp.append(best - value)
        gaps_policy.append(played - best)
    assert 3.6 < gaps_qp[0] / gaps_qp[1] < 4.4  # O(dt²): ratio 4 when dt halves
    assert 3.6 < gaps_policy[0] / gaps_policy[1] < 4.4


def test_almgren_chriss_with_infinite_terminal_penalty_liquidates_exactly():
    n, dt = 100, T / 100
    q, _ = play(AlmgrenChriss(ETA, PHI, math.inf), Q0, n)
    # the 1/dt cap on the last step gives Q_T = Q + (−Q/dt)·dt = 0 up to the rounding of that sum
    rounding = 4 * np.finfo(float).eps * np.abs(Q0)
    assert np.all(np.abs(q[-1]) <= rounding)
    assert np.all(q * np.sign(Q0) >= -rounding)  # never crosses zero
    kappa = math.sqrt(PHI / ETA)
    # closed form with A = ∞: V = ηκ·coth(κT)·q₀²; played cost within O(dt²) (as above)
    exact = ETA * kappa / math.tanh(kappa * T) * Q0**2
    played = discrete_cost(q, np.diff(q, axis=0) / dt, dt, ETA, PHI, 0.0)
    np.testing.assert_allclose(played, exact, rtol=dt**2)


def test_almgren_chriss_without_running_penalty_is_linear_with_terminal_penalty():
    s = np.linspace(0.0, T, 11)
    r = A / ETA
    linear = 10.0 * (1 + r * (T - s)) / (1 + r * T)  # Q(s) for φ = 0: straight line
    np.testing.assert_allclose(almgren_chriss_schedule(s, 0.0, 10.0, T, ETA, 0.0, A), linear)
    # φ → 0: the schedule moves by O(κ²T²) = O(φ/η); 1e-8 here
    near = almgren_chriss_schedule(s, 0.0, 10.0, T, ETA, 0.5e-8, A)
    np.testing.assert_allclose(near, linear, rtol=1e-7)
    # and on the grid the φ = 0 feedback rate is constant: Euler is exact for a straight line
    _, v = play(AlmgrenChriss(ETA, 0.0, A), np.array([10.0]), 50)
    np.testing.assert_allclose(v, -10.0 * r / (1 + r * T), rtol=1e-12)


def test_almgren_chriss_limits_phi_to_zero_and_terminal_penalty_to_infinity_are_twap():
    n = 100
    twap_static, _ = play(Twap(), Q0, n)
    twap_reactive, _ = play(Twap(reactive=True), Q0, n)
    exact_limit, _ = play(AlmgrenChriss(ETA, 0.0, math.inf), Q0, n)
    line = Q0 * (1 - np.linspace(0, T, n + 1))[:, None]
    for q in (twap_static, twap_reactive, exact_limit):
        np.testing.assert_allclose(q, line, atol=1e-12)
    # approaching the limit: g(τ) − 1/τ = O(1/(rτ²) + κ²τ); with r = 2e9, κ² = 2e-9 and
    # τ ≥ dt = 0.01 that is ≤ 1e-4 relative
    tau = np.linspace(T / n, T, n)
    np.testing.assert_allclose(almgren_chriss_decay(tau, ETA, 1e-9, 1e9), 1 / tau, rtol=1e-4)
    np.testing.assert_allclose(
        almgren_chriss_schedule(np.linspace(0, T, n + 1), 0, 10.0, T, ETA, 1e-9, 1e9),
        10.0 * (1 - np.linspace(0, T, n + 1)),
        atol=1e-6,
    )


def test_almgren_chriss_schedule_does_not_overflow_for_large_kappa_t():
    # κT = 2000: cosh overflows, the log-space ratio does not; Q decays like exp(−κ(t − s))
    q = almgren_chriss_schedule(np.array([0.0, 0.001, 0.5]), 0.0, 1.0, 1.0, 1.0, 4e6, 1.0)
    assert np.all(np.isfinite(q))
    np.testing.assert_allclose(q[:2], [1.0, math.exp(-2.0)], rtol=1e-9)


def test_reactive_twap_liquidates_despite_inventory_shocks_static_does_not():
    rng = np.random.default_rng(3)
    n, dt = 50, T / 50
    q0 = np.full(1000, 10.0)
    finals = {}
    for reactive in (False, True):
        policy, q = Twap(reactive=reactive), q0.copy()
        for k in range(n):
            v = policy.act(own_state(q, t=k * dt, dt=dt, initial=q0))
            shock = rng.normal(0.0, 0.1, q.shape) if k < n - 1 else 0.0
            q = q + v * dt + shock
        finals[reactive] = q
    np.testing.assert_allclose(finals[True], 0.0, atol=1e-12)
    assert np.std(finals[False]) > 0.5  # the schedule absorbs ~√49·0.1 ≈ 0.7 of shocks


def test_participation_trades_its_share_of_volume_and_never_overshoots_zero():
    rng = np.random.default_rng(0)
    m, dt, rho = 20_000, 0.01, 0.3
    q = rng.normal(0.0, 1.0, m) * 10.0 ** rng.uniform(-4, 2, m)
    q[:10] = 0.0
    buy, sell = rng.uniform(0, 50, m), rng.uniform(0, 50, m)
    v = Participation(rho).act(own_state(q, dt=dt, buy=buy, sell=sell))
    after = q + v * dt
    # toward zero, at most ρ·volume, and exactly ρ·volume unless the cap |Q|/dt binds
    assert np.all(v * q <= 0) and np.all(v[:10] == 0)
    assert np.all(np.abs(v) <= rho * (buy + sell) * (1 + 1e-15))
    far = np.abs(q) > rho * (buy + sell) * dt
    np.testing.assert_allclose(np.abs(v[far]), rho * (buy + sell)[far], rtol=1e-15)
    # never past zero: Q_{k+1} has Q_k's sign or is zero (up to a rounding of Q_k + (−Q_k/dt)·dt)
    assert np.all(after * np.sign(q) >= -4 * np.finfo(float).eps * np.abs(q))
    # played to T: inventory reaches zero and stays there once the volume suffices
    state_q = np.array([5.0, -5.0, 100.0])
    policy = Participation(1.0)
    for k in range(100):
        state_q = state_q + policy.act(own_state(state_q, t=k * dt, dt=dt, buy=4, sell=6)) * dt
    np.testing.assert_allclose(state_q, [0.0, 0.0, 90.0], atol=1e-12)


# ---- factories ----------------------------------------------------------------------------------


def test_trader_heuristics_are_registered():
    assert {"twap", "almgren_chriss", "participation"} <= set(available_policies("trader"))


def test_almgren_chriss_factory_takes_own_cost_beta_over_n_in_the_impact_market():
    ac = {"policy": "almgren_chriss", "running_penalty": 1.0, "terminal_penalty": 2.0}
    scn = policy_scenario("impact", traders=(ac, ac, {**ac, "params": {"temporary_impact": 0.3}}))
    policy = build(scn, "trader_0")
    assert isinstance(policy, AlmgrenChriss)
    assert (policy.eta, policy.phi, policy.terminal_penalty) == (0.5 / 3, 1.0, 2.0)
    assert build(scn, "trader_2").eta == 0.3
    quote = policy_scenario("best_quote", traders=(ac, ac))
    assert build(quote, "trader_1").eta == 0.5  # individual cost βv²: η = β
    over = {**ac, "params": {"terminal_penalty": math.inf, "running_penalty": 0.0}}
    policy = build(policy_scenario("impact", traders=(over,)), "trader_0")
    assert (policy.phi, policy.terminal_penalty) == (0.0, math.inf)


def test_twap_and_participation_factories_read_their_params():
    scn = policy_scenario(
        traders=(
            {"policy": "twap"},
            {"policy": "twap", "params": {"reactive": True}},
            {"policy": "participation", "params": {"participation": 0.25}},
        )
    )
    assert build(scn, "trader_0").reactive is False
    assert build(scn, "trader_1").reactive is True
    assert build(scn, "trader_2").rate == 0.25


@pytest.mark.parametrize(
    ("policy", "params", "message"),
    [
        ("twap", {"reactive": "yes"}, r"traders\[0\] \('trader_0'\)\.params\.reactive = 'yes'"),
        ("twap", {"reactve": True}, r"params has unknown key\(s\) \['reactve'\].*reactive"),
        (
            "almgren_chriss",
            {"temporary_impact": 0.0},
            r"params\.temporary_impact = 0\.0 .*\(0, ∞\)",
        ),
        ("almgren_chriss", {"temporary_impact": -1}, r"params\.temporary_impact = -1 "),
        ("almgren_chriss", {"temporary_impact": math.nan}, r"params\.temporary_impact = nan"),
        ("almgren_chriss", {"temporary_impact": "big"}, r"temporary_impact = 'big' is not a num"),
        ("almgren_chriss", {"temporary_impact": math.inf}, r"temporary_impact = inf .*\(0, ∞\)"),
        (
            "almgren_chriss",
            {"running_penalty": -0.1},
            r"params\.running_penalty = -0\.1 .*\[0, ∞\)",
        ),
        ("almgren_chriss", {"terminal_penalty": -2}, r"params\.terminal_penalty = -2 .*\[0, ∞\]"),
        ("almgren_chriss", {"kappa": 1}, r"unknown key\(s\) \['kappa'\]"),
        ("participation", {}, r"params\.participation is required .*\(0, 1\]"),
        ("participation", {"participation": 0}, r"params\.participation = 0 .*\(0, 1\]"),
        ("participation", {"participation": 1.5}, r"params\.participation = 1\.5 .*\(0, 1\]"),
        ("participation", {"participation": True}, r"params\.participation = True is not a num"),
    ],
)
def test_bad_trader_parameters_raise_errors_naming_field_value_and_range(policy, params, message):
    scn = policy_scenario(traders=({"policy": policy, "params": params},))
    with pytest.raises(ValueError, match=message):
        build(scn, "trader_0")
