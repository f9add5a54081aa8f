"""Equilibrium of the §2 execution game (Guo & Jin Thm 2.5/2.7): independent checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_bvp

from policies.equilibrium.coefficients import Profile
from policies.equilibrium.execution import ExecutionGame, RiccatiBlowUpError
from tests.helpers import almgren_chriss_h, execution_game, single_trader_game


def alpha_t(t: float) -> float:
    return 0.3 * (1.0 + 0.5 * math.sin(3.0 * t))


def beta_t(t: float) -> float:
    return 0.5 + 0.2 * t


def heterogeneous_game(**kw) -> ExecutionGame:
    """The three-trader game with time-dependent α, β and noise."""
    args = dict(
        permanent_impact=alpha_t,
        temporary_impact=beta_t,
        noise_buy_rate=lambda t: 0.1 + 0.2 * t,
        noise_sell_rate=0.3,
    )
    return execution_game(**{**args, **kw})


def bvp_solution(game: ExecutionGame):
    """Collocation on the 2N-dimensional Hamiltonian BVP (3) with the paper's matrices (π = 1).

    State (Q, Y, ϖ, J-integrals); Q(0) = q₀, ϖ(0) = 0, J(0) = 0, Y(T) = −2A Q_T + ϖ_T. The
    matrices are written here from the paper (B, O), independently of the solver module.
    """
    n = game.traders
    q0, phi, a_pen = game.initial_inventory, game.running_penalty, game.terminal_penalty
    co = game.coefficients
    bmat = (n + 1) * np.eye(n) - np.ones((n, n))
    omat = np.ones((n, n))

    def fun(t, x):
        a = np.array([co.alpha(s) for s in t])
        b = np.array([co.beta(s) for s in t])
        drift = np.array([co.drift(s) for s in t])
        q, y, w = x[:n], x[n : 2 * n], x[2 * n]
        v = n / ((n + 1) * b) * (bmat @ y) + a / ((n + 1) * b) * (bmat @ q) - n / ((n + 1) * b) * w
        y_dot = (
            -a / ((n + 1) * b) * (omat @ y)
            + 2 * phi[:, None] * q
            - a * a / (n * (n + 1) * b) * (omat @ q)
            + n * a / ((n + 1) * b) * w
        )
        s = v.sum(axis=0)
        run = a / n * q * s - b / n * v * s - v * w - phi[:, None] * q * q
        return np.vstack([v, y_dot, drift, run])

    def bc(x0, xt):
        q_t, y_t, w_t = xt[:n], xt[n : 2 * n], xt[2 * n]
        return np.concatenate(
            [x0[:n] - q0, y_t + 2 * a_pen * q_t - w_t, [x0[2 * n]], x0[2 * n + 1 :]]
        )

    t = np.linspace(0, game.horizon, 200)
    x = np.zeros((3 * n + 1, t.size))
    x[:n] = q0[:, None] * (1 - t / game.horizon)
    res = solve_bvp(fun, bc, t, x, tol=1e-9, max_nodes=200000)
    assert res.success, res.message
    return res


def test_rates_and_values_agree_with_hamiltonian_bvp_collocation():
    game = heterogeneous_game()
    sol = game.solve()
    bvp = bvp_solution(game)
    n = game.traders
    for t in (0.0, 0.25, 0.6, 0.99):
        x = bvp.sol(t)
        # BVP collocation tol 1e-9 (relative residual), so states agree to ~1e-7 after the
        # solve_bvp residual-to-error amplification; the ODE solver is at rtol 1e-10.
        np.testing.assert_allclose(sol.inventory(t), x[:n], atol=1e-6)
        np.testing.assert_allclose(sol.adjoint(t, x[:n]), x[n : 2 * n], atol=1e-6)
        v_bvp = bvp.sol(t, 1)[:n]
        np.testing.assert_allclose(sol.schedule(t), v_bvp, atol=1e-5)
    x_t = bvp.sol(game.horizon)
    q_t, w_t = x_t[:n], x_t[2 * n]
    value_bvp = x_t[2 * n + 1 :] + q_t * w_t - game.terminal_penalty * q_t**2
    np.testing.assert_allclose(sol.value.to_numpy(), value_bvp, atol=1e-6)


@pytest.mark.parametrize("integrator", ["exponential", "dop853"])
def test_single_trader_matches_almgren_chriss_closed_form_with_permanent_impact(integrator):
    # N = 1, no noise: Almgren–Chriss with terminal penalty A' = A − α/2 plus −α q₀²/2 (closed
    # form h(τ) in tests.helpers.almgren_chriss_h); v = −h Q/β; J = −(h(T) + α/2) q₀².
    alpha, beta, phi, a_pen, q0, horizon = 0.6, 0.4, 0.3, 1.0, 4.0, 2.0
    game = single_trader_game(alpha, beta, phi, a_pen, q0, horizon)
    sol = game.solve(integrator=integrator)
    assert sol.integrator == integrator

    def h(tau: float) -> float:
        return almgren_chriss_h(tau, alpha, beta, phi, a_pen)

    assert sol.value.iloc[0] == pytest.approx(-(h(horizon) + alpha / 2) * q0**2, rel=1e-9)
    for t in (0.0, 0.7, 1.9):
        q = np.array([1.3])
        assert sol.feedback(t, q)[0] == pytest.approx(-h(horizon - t) * 1.3 / beta, rel=1e-8)


POPULATIONS = [
    ([0.3] * 4, [1.0] * 4, [2.0, -1.0, 0.5, 3.0]),  # homogeneous: K = 1
    ([0.3, 0.1, 0.3, 0.1, 0.3], [1.0, 2.0, 1.0, 2.0, 1.0], [2.0, -1.0, 0.5, 3.0, -2.0]),  # K = 2
    ([0.3, 0.1, 0.2, 0.1, 0.3, 0.2], [1.0, 2.0, 0.5, 2.0, 1.0, 0.5], [1, 2, 3, 4, 5, 6]),  # K = 3
]
COEFFICIENTS = {
    # callables: the structured solver integrates with DOP853
    "time_dependent": dict(
        permanent_impact=alpha_t,
        temporary_impact=beta_t,
        noise_buy_rate=Profile((0.1, 0.5, 0.2)),
        noise_sell_rate=lambda t: 0.3 * t,
    ),
    # piecewise constant (breakpoints 1/3, 1/2, 2/3): exact exponential propagators
    "piecewise_constant": dict(
        permanent_impact=Profile((0.3, 0.5)),
        temporary_impact=Profile((0.5, 0.4, 0.6)),
        noise_buy_rate=Profile((0.1, 0.5, 0.2)),
        noise_sell_rate=0.3,
    ),
}


@pytest.mark.parametrize(
    ("style", "cross_impact"), [("time_dependent", 1.0), ("piecewise_constant", 0.5)]
)
@pytest.mark.parametrize(("phi", "a_pen", "q0"), POPULATIONS)
def test_class_reduced_solution_equals_dense_riccati(phi, a_pen, q0, style, cross_impact):
    game = heterogeneous_game(
        running_penalty=phi,
        terminal_penalty=a_pen,
        initial_inventory=q0,
        cross_impact=cross_impact,
        **COEFFICIENTS[style],
    )
    assert game.classes().count == len(set(zip(phi, a_pen, strict=True)))
    s, d = game.solve(), game.solve(method="dense", rtol=1e-9, atol=1e-11)
    assert s.integrator == ("dop853" if style == "time_dependent" else "exponential")
    # dense DOP853 at rtol 1e-9; the structured solution is exact (exponential) or at rtol 1e-10:
    # agreement to ~1e-8 on O(1) quantities.
    np.testing.assert_allclose(s.value.to_numpy(), d.value.to_numpy(), rtol=1e-7, atol=1e-8)
    q = np.random.default_rng(3).normal(size=(7, len(q0)))
    for t in (0.0, 0.4, 0.95):
        np.testing.assert_allclose(s.feedback(t, q), d.feedback(t, q), rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(s.inventory(t), d.inventory(t), rtol=1e-7, atol=1e-8)


def test_exponential_and_runge_kutta_integrators_agree_for_a_large_population():
    # N = 20 000 in 3 classes: stiff deviation modes (rate ~ √(φN/β) ≈ 150); the exact
    # propagator and DOP853 (rtol 1e-10) must agree to ~1e-8.
    n = 20_000
    rng = np.random.default_rng(5)
    game = execution_game(
        running_penalty=rng.choice([0.1, 0.2, 0.4], n),
        terminal_penalty=1.0,
        initial_inventory=rng.normal(size=n),
        noise_buy_rate=Profile((0.2, 0.0)),
    )
    e, r = game.solve(integrator="exponential"), game.solve(integrator="dop853")
    np.testing.assert_allclose(e.values, r.values, rtol=1e-7, atol=1e-10)
    q = rng.normal(size=(3, n))
    for t in (0.0, 0.5, 0.999):
        ve, vr = e.feedback(t, q), r.feedback(t, q)
        # rates are O(100) (fast deviation modes): compare relative to their scale.
        np.testing.assert_allclose(ve, vr, rtol=0, atol=1e-9 * np.abs(vr).max())


def test_feedback_is_vectorised_over_paths_and_ignores_the_level_of_noise_drift():
    sol = heterogeneous_game().solve()
    q = np.random.default_rng(0).normal(size=(5, 3))
    batch = sol.feedback(0.3, q)
    rows = np.stack([sol.feedback(0.3, row) for row in q])
    np.testing.assert_allclose(batch, rows, rtol=1e-12, atol=1e-12)
    y0 = sol.adjoint(0.3, q[0], noise_drift=0.0)
    y1 = sol.adjoint(0.3, q[0], noise_drift=0.7)
    np.testing.assert_allclose(y1 - y0, 0.7, rtol=1e-12)  # H = H̄ + (ϖ − ϖ̄)·1
    # eq. (2) at a realised ϖ per path, v = D Y + E Q − N/(c_π β) ϖ with Y at that ϖ, gives the
    # rates of feedback (evaluated at ϖ = 0): the level of ϖ cancels
    co = sol.game.coefficients
    s_d, s_e, c, _, _ = co.scalars(0.3)
    w = np.linspace(-1, 1, 5)
    y = sol.adjoint(0.3, q, noise_drift=w)
    v = (
        s_d * (y - c * y.sum(axis=-1, keepdims=True))
        + s_e * (q - c * q.sum(axis=-1, keepdims=True))
        - co.traders / (co.c_pi * co.beta(0.3)) * w[:, None]
    )
    np.testing.assert_allclose(v, batch, rtol=1e-12, atol=1e-12)


def test_large_homogeneous_population_reduces_to_scalar_modes():
    n = 200_000
    game = execution_game(
        running_penalty=0.2,
        terminal_penalty=1.0,
        initial_inventory=np.linspace(-1, 3, n),
        noise_sell_rate=0.2,
    )
    sol = game.solve()
    assert sol.classes.count == 1
    v = sol.feedback(0.5, game.initial_inventory)
    assert v.shape == (n,) and np.all(np.isfinite(v))
    # symmetric traders: the rate is affine in own inventory with a common slope
    slope = np.diff(v) / np.diff(game.initial_inventory)
    np.testing.assert_allclose(slope, slope[0], rtol=1e-6)


def test_riccati_blow_up_is_reported_with_its_time():
    # N = 1, φ = A = 0, α = 2, β = 0.5: A' = A − α/2 = −1, h_τ = −h²/β, h(0) = −1 blows up at
    # τ = β, i.e. t = T − β = 0.5.
    game = single_trader_game(alpha=2.0, beta=0.5, phi=0.0, a_pen=0.0, q0=1.0)
    assert not game.conditions()["assumption_2_4"]
    with pytest.raises(RiccatiBlowUpError, match=r"t = 0\.5") as err:
        game.solve()
    assert err.value.time == pytest.approx(0.5, abs=1e-4)


def test_conditions_report_the_papers_assumptions():
    game = execution_game()  # α = 0.3, β = 0.5, no noise
    # 4Nβφ ≥ 0.6 ≥ α² = 0.09; heterogeneous with α > 0; φ − (N+1)α²/(8Nβ) ≥ 0.1 − 0.06 > 0.
    assert game.conditions() == {
        "assumption_2_4": True,
        "theorem_2_7": False,
        "theorem_2_10": True,
        "cross_impact_is_paper": True,
    }
    homog = execution_game(running_penalty=0.2, terminal_penalty=0.0, initial_inventory=[1.0, 2.0])
    cond = homog.conditions()
    assert cond["theorem_2_7"] and not cond["theorem_2_10"]


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(running_penalty=[0.1, 0.2]), r"running_penalty has 2 values .*one value per trader"),
        (dict(terminal_penalty=[1.0, -1.0, 0.0]), r"terminal_penalty = .*values ≥ 0"),
        (dict(running_penalty=-0.1), r"running_penalty = .*values ≥ 0"),
        (dict(temporary_impact=0.0), r"temporary_impact = 0.0 at t = 0.*β\(t\) > 0"),
        (dict(temporary_impact=lambda t: 0.5 - t), r"temporary_impact = .* at t = 0.5.*> 0"),
        (dict(permanent_impact=-0.1), r"permanent_impact = -0.1 .*α\(t\) ≥ 0"),
        (dict(cross_impact=2.0), r"cross_impact = 2.0; allowed: π ∈ \[0, 2\)"),
        (dict(horizon=0.0), r"horizon = 0.0; allowed"),
        (dict(noise_buy_rate=Profile((0.1, -0.2))), r"noise_buy_rate = -0.2 .*≥ 0"),
        (dict(initial_inventory=[]), r"initial_inventory = \[\]"),
    ],
)
def test_bad_inputs_name_field_value_and_allowed_range(kw, match):
    with pytest.raises(ValueError, match=match):
        heterogeneous_game(**kw)


def test_bad_solution_queries_are_rejected():
    sol = heterogeneous_game().solve()
    with pytest.raises(ValueError, match=r"inventory has shape \(2,\); allowed: \(3,\)"):
        sol.feedback(0.1, np.ones(2))
    with pytest.raises(ValueError, match="agent_name = 'bob'"):
        sol.feedback_policy("bob")
    with pytest.raises(ValueError, match="method = 'qr'"):
        heterogeneous_game().solve(method="qr")


def test_a_sequence_for_a_time_coefficient_is_refused_not_guessed():
    # three traders and three values: one per trader, or a profile over time? Neither is
    # guessed for a coefficient of time; a time profile must be explicit, and the error says
    # how to write it. temporary_impact takes one βⁱ per trader, so its sequence means that.
    kw = dict(
        horizon=1.0,
        temporary_impact=0.5,
        running_penalty=[0.2, 0.5, 0.1],
        terminal_penalty=1.0,
        initial_inventory=[5.0, -3.0, 2.0],
    )
    with pytest.raises(
        ValueError,
        match=r"permanent_impact = \[0\.1, 0\.2, 0\.3\] is a sequence.*"
        r"Profile\(\[0\.1, 0\.2, 0\.3\]\)",
    ):
        ExecutionGame(permanent_impact=[0.1, 0.2, 0.3], **kw)
    kw["permanent_impact"] = 0.1
    game = ExecutionGame(**{**kw, "temporary_impact": Profile([0.5, 0.4, 0.6])})
    assert game.coefficients.beta(0.5) == 0.4 and game.impact_scale is None
    game = ExecutionGame(**{**kw, "temporary_impact": [0.5, 0.4, 0.6]})
    assert game.trader_impact(0.5).tolist() == [0.5, 0.4, 0.6]
    with pytest.raises(ValueError, match="non-empty sequence of finite numbers"):
        Profile([])
