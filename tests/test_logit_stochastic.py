"""§5 stochastic logit game (ε > 0, random OU factor): regression Monte Carlo of the decoupling
field u(t, Q, L), checked against the deterministic collocation solver in the limit ε, σ_L → 0,
under refinement of the time grid, and against the simulator's Monte Carlo payoffs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from policies.equilibrium import logit_regression
from policies.equilibrium.adapters import logit_game
from policies.equilibrium.logit import LogitGame, LogitSolveError, StochasticLogitSolution
from policies.equilibrium.logit_regression import Basis, Field
from policies.equilibrium.play import REGRESSION_PATHS, REGRESSION_STEPS
from simulator import load_scenario, simulate
from simulator.cli import examples_dir
from simulator.nash_gap import nash_gap
from simulator.simulation import build_policies
from tests.test_logit_equilibrium import game_kwargs

# the example game without its constant noise rates (each test gives its own flows)
GAME = {k: v for k, v in game_kwargs().items() if k not in ("noise_buy_rate", "noise_sell_rate")}
FACTOR = dict(
    initial=0.0,
    mean=0.0,
    reversion=2.0,
    volatility=0.5,
    buy_base=15.0,
    sell_base=15.0,
    buy_loading=0.5,
    sell_loading=-0.5,
    cap=100.0,
)
FAST = dict(steps=40, paths=200, tolerance=2e-3)


@pytest.fixture(scope="module")
def deterministic():
    """κ = 15·e^{±0.5·0}: the factor's mean path is flat, so these are the constant-rate game's."""
    return LogitGame(**GAME, noise_buy_rate=15.0, noise_sell_rate=15.0).solve()


def all_playing(sc, policy: str = "equilibrium", **over):
    """The scenario with every trader and maker on ``policy`` (heuristic parameters dropped)."""
    return dataclasses.replace(
        sc,
        traders=tuple(dataclasses.replace(a, policy=policy, params={}) for a in sc.traders),
        makers=tuple(dataclasses.replace(a, policy=policy, params={}) for a in sc.makers),
        **over,
    )


@pytest.fixture(scope="module")
def scenario():
    """runs/logit.toml (ε = 0.3, OU factor with volatility 0.5, ξ = 5), every agent on the
    scenario policy ``equilibrium``, 40 steps and 200 paths (the policies solve the game on their
    own grid: 50 steps, 500 training paths), frozen reference price (P_T·Q_T adds no noise)."""
    sc = load_scenario(examples_dir() / "logit.toml")
    return all_playing(
        sc, steps=FAST["steps"], paths=200, price=dataclasses.replace(sc.price, volatility=0.0)
    )


@pytest.fixture(scope="module")
def played(scenario):
    """The scenario's own policies (one regression solve, shared by its agents), by name."""
    return dict(zip([a.name for a in scenario.agents], build_policies(scenario), strict=True))


@pytest.fixture(scope="module")
def stochastic(played):
    """The solution the scenario policies play (regression on 50 steps with 500 training paths,
    Picard tolerance 1e-3)."""
    return next(iter(played.values())).sol


def test_polynomial_basis_expectation_and_gradient_are_exact():
    """The regression-later step needs E[p(z + W)] (heat semigroup, exact for polynomials) and
    ∂p/∂z: checked against Gauss–Hermite quadrature and central differences."""
    rng = np.random.default_rng(0)
    basis = Basis(2, 3)
    coef = rng.normal(size=(basis.size, 2))
    var = np.array([0.3, 0.7])
    z = rng.normal(size=(5, 2))
    nodes, weights = np.polynomial.hermite_e.hermegauss(4)  # exact to degree 7
    quad = np.zeros((5, 2))
    for a, wa in zip(nodes, weights, strict=True):
        for b, wb in zip(nodes, weights, strict=True):
            shift = np.array([a, b]) * np.sqrt(var)
            quad += wa * wb * (basis(z + shift) @ coef)
    quad /= weights.sum() ** 2
    assert np.allclose(basis(z) @ basis.heat(coef, var), quad, rtol=1e-12, atol=1e-12)
    h, eye = 1e-6, np.eye(2)
    fd = np.stack(
        [(basis(z + h * eye[k]) @ coef - basis(z - h * eye[k]) @ coef) / (2 * h) for k in range(2)],
        axis=1,
    )
    assert np.allclose(basis.gradient(coef, z), fd, atol=1e-7)


def test_affine_change_of_variables_and_blend_of_fields_are_exact():
    """The relaxed Picard step blends two fitted fields with different standardisations: the
    coefficient map of ``z ↦ u(a ⊙ z + b)`` and :meth:`Field.blend` agree with direct evaluation
    to rounding."""
    rng = np.random.default_rng(3)
    basis = Basis(3, 3)
    coef = rng.normal(size=(basis.size, 2))
    a, b, z = rng.uniform(0.5, 2.0, 3), rng.normal(size=3), rng.normal(size=(9, 3))
    assert np.allclose(basis(z) @ basis.affine(coef, a, b), basis(a * z + b) @ coef, atol=1e-12)

    def field(seed: int) -> Field:
        r = np.random.default_rng(seed)
        return Field(
            basis,
            0.1,
            r.normal(size=(4, 3)),
            r.uniform(0.5, 2.0, size=(4, 3)),
            r.normal(size=(4, basis.size, 2)),
            np.array([1.0]),
            np.full(3, 0.01),
        )

    old, new = field(1), field(2)
    mix = old.blend(new, 0.3)
    x = rng.normal(size=(9, 3))
    for j in range(4):
        want = 0.7 * old.value(j, x) + 0.3 * new.value(j, x)
        assert np.allclose(mix(j, x), 0.7 * old(j, x) + 0.3 * new(j, x), atol=1e-11)
        assert np.allclose(mix.value(j, x), want, atol=1e-11)


def test_diagnostics_say_where_the_truncations_bind():
    """ξ = 0.05 is far below every maker's untruncated ask (≈ 1/ς + y): both asks sit at +ξ on
    every path and step of the value simulation, as the public feedback confirms along the mean
    path; the other labels are the deterministic game's (``rate_lower_bound``, …)."""
    game = LogitGame(
        **GAME, noise_buy_rate=15.0, noise_sell_rate=15.0, inventory_noise=0.3, max_spread=0.05
    )
    sol = game.solve(steps=20, paths=100, tolerance=1e-3)
    d = sol.diagnostics
    fractions = {(b["agent"], b["kind"]): b["fraction"] for b in d["binding_fractions"]}
    assert d["truncation_binds"]
    assert fractions[("maker_0", "ask_at_+max_spread")] == 1.0
    assert fractions[("maker_1", "ask_at_+max_spread")] == 1.0
    assert all(0.0 < f <= 1.0 for f in fractions.values())
    kinds = {"rate_lower_bound", "rate_upper_bound"} | {
        f"{side}_at_{sign}max_spread" for side in ("ask", "bid") for sign in "+-"
    }
    assert {kind for _, kind in fractions} <= kinds
    for k, t in enumerate(sol.time[:-1]):
        fb = sol.feedback(t, sol.inventory[k][None, :])
        assert np.all(fb.ask == 0.05)


def test_relaxed_picard_converges_where_plain_picard_cycles(monkeypatch):
    """runs/logit.toml (ξ = 5 and the rate bound ε bind) on 20 steps with 500 training paths:
    plain Picard (ω = 1) cycles at the regression's error level (fixed-point residuals of
    1e-2…4e-2 after 10 iterations); the Aitken-relaxed iteration reaches 1e-3, and its field is
    the same fixed point's (values within the Monte Carlo errors of a plain run at 200 paths,
    which converges)."""
    game = logit_game(load_scenario(examples_dir() / "logit.toml"))
    options = dict(steps=20, paths=500, tolerance=1e-3, max_iterations=15)
    relaxed = game.solve(**options)
    assert relaxed.diagnostics["picard_residual"] <= 1e-3
    reference = game.solve(steps=20, paths=200, tolerance=1e-3, seed=1)
    err = 3.0 * np.hypot(relaxed.std_error, reference.std_error) + 2e-3 * np.abs(reference.value)
    assert np.all(np.abs(relaxed.value - reference.value) <= err)
    monkeypatch.setattr(logit_regression, "_aitken", lambda relaxation, *args: 1.0)
    with pytest.raises(LogitSolveError, match="max_iterations = 10"):
        game.solve(**{**options, "max_iterations": 10})


def test_played_solve_has_its_own_grid_whatever_the_scenario_s(scenario, stochastic):
    """The scenario policies solve runs/logit.toml's game on their own grid (50 steps, 500
    training paths) to the Picard tolerance 1e-3, whatever the scenario's steps and paths: the
    10-step, 100-path version plays the very same solution as the 40-step, 200-path one (a solve
    on the scenario's own ten steps stalls at a fixed-point residual of ≈ 3e-3)."""
    d = stochastic.diagnostics
    assert (d["steps"], d["paths"]) == (REGRESSION_STEPS, REGRESSION_PATHS)
    assert d["picard_residual"] <= 1e-3 and d["estimated_error"] < 0.05
    coarse = dataclasses.replace(scenario, steps=10, paths=100)
    again = build_policies(coarse)[0].sol
    assert again.value.equals(stochastic.value)
    assert np.array_equal(again.adjoint, stochastic.adjoint)


def test_scenario_policies_play_the_stochastic_equilibrium_at_its_values(scenario, played):
    """Every agent on the scenario policy ``equilibrium`` of the stochastic game (fluid flow,
    ε·ΔW, exact OU factor): the fitted feedback u(t, Q, L) at each path's inventories and factor
    level. The mean payoffs equal ``sol.value`` within 3 standard errors (the engine's and the
    solver's combined) plus the solver's own error estimate (relative, × |J|)."""
    sol = next(iter(played.values())).sol
    assert isinstance(sol, StochasticLogitSolution) and sol.observes_factor
    res = simulate(scenario, paths=3000, seed=11, record=4, policies=played)
    pay = res.payoffs().set_index("agent")
    names = list(sol.value.index)
    se = np.hypot(pay.loc[names, "std_error"].to_numpy(), sol.std_error.to_numpy())
    tol = 3.0 * se + sol.diagnostics["estimated_error"] * np.abs(sol.value.to_numpy())
    gap = np.abs(pay.loc[names, "mean"].to_numpy() - sol.value.to_numpy())
    assert np.all(gap <= tol), (gap, tol)
    # the value field as a control variate cuts the solver's standard error (measured 6-fold
    # with the truncation ξ = 5 binding, > 10-fold where it does not)
    assert (
        sol.diagnostics["value_std_error"]
        < sol.diagnostics["value_std_error_without_control_variate"] / 4
    )
    # the feedback reacts path by path (inventory noise, factor level): quotes differ by path
    # (measured at 37 of the 40 steps; at the others the ±ξ truncation binds on every path)
    ask = res.agent(scenario.makers[0].name).ask_spread
    assert np.count_nonzero(np.ptp(ask, axis=1) > 0) >= 0.75 * scenario.steps


def test_open_loop_scenario_policy_plays_the_mean_path_schedule(scenario, stochastic):
    """``equilibrium_open_loop``: every path plays the controls at the mean adjoint of the
    equilibrium's mean path (one schedule, not adapted to the noise)."""
    sc = all_playing(scenario, "equilibrium_open_loop")
    cache = {"equilibrium": stochastic}  # the build's shared solution: the same game
    pols = dict(zip([a.name for a in sc.agents], build_policies(sc, None, cache), strict=True))
    res = simulate(sc, paths=8, seed=3, policies=pols)
    for k in (0, 17, 39):
        t = k * sc.dt
        rate, ask, bid = stochastic.controls_at(t, stochastic.schedule_at(t))
        got = res.agent(sc.makers[1].name)
        assert np.all(got.ask_spread[k] == ask[0, 1]) and np.all(got.bid_spread[k] == bid[0, 1])
        assert np.all(res.agent(sc.traders[0].name).rate[k] == rate[0, 0])


def test_feedback_is_vectorised_over_paths_and_needs_the_factor_level(stochastic):
    sol = stochastic
    q = sol.inventory[REGRESSION_STEPS // 2] + np.array(
        [[0.0, 0.0, 0.0], [0.2, -0.1, 0.1], [-0.3, 0.2, 0.0]]
    )
    fb = sol.feedback(0.5, q, factor=np.array([0.0, 0.3, -0.3]))
    assert fb.adjoint.shape == (3, 3) and fb.rate.shape == (3, 1) and fb.ask.shape == (3, 2)
    one = sol.feedback(0.5, q[1:2], factor=0.3)
    assert np.allclose(one.adjoint, fb.adjoint[1:2]) and np.allclose(one.ask, fb.ask[1:2])
    with pytest.raises(ValueError, match="factor"):
        sol.feedback(0.5, q)
    assert list(sol.path.columns[:3]) == ["time", "agent", "role"]
    assert sol.path.time.nunique() == REGRESSION_STEPS + 1
    assert sol.diagnostics["picard_residual"] <= FAST["tolerance"]


def test_values_approach_the_deterministic_solution_as_the_noise_vanishes(deterministic):
    """ε = σ_L = 0.01: values and feedback within the O(Δt) error of the 40-step scheme (measured
    5e-4 relative for the values at ε = 0; the noise adds O(ε²)) of the collocation solution."""
    game = LogitGame(**GAME, factor=dict(FACTOR, volatility=0.01), inventory_noise=0.01)
    sol = game.solve(**FAST)
    rel = np.abs(sol.value - deterministic.value) / np.abs(deterministic.value)
    assert rel.max() < 1.5e-3, rel
    q_hat, _ = deterministic.state_at(0.5)
    q = q_hat + np.array([[0.0, 0.0, 0.0], [0.1, -0.1, 0.05]])
    got = sol.feedback(0.5, q, factor=0.0).adjoint
    want = deterministic.feedback(0.5, q).adjoint
    assert np.max(np.abs(got - want)) < 0.05 * np.max(np.abs(want))


def test_values_converge_to_the_collocation_solution_as_the_grid_refines(deterministic):
    """The regression method on the deterministic game (ε = 0; the jittered regression points
    still span a neighbourhood of the path): the trader's value error falls at least 3-fold from
    10 to 40 steps (observed order ≈ 1.5, see benchmarks/bench_logit.py)."""
    game = LogitGame(**GAME, noise_buy_rate=15.0, noise_sell_rate=15.0)
    err = [
        np.abs(
            game.solve(method="regression", steps=s, paths=100, tolerance=1e-3).value
            - deterministic.value
        )
        for s in (10, 40)
    ]
    assert err[1].iloc[0] < err[0].iloc[0] / 3.0, err
    assert err[1].max() < 0.01 * np.abs(deterministic.value).max()


def test_a_stalled_picard_iteration_raises():
    """(Same seed, same numbers: the played solve is re-solved bit for bit in
    :func:`test_played_solve_has_its_own_grid_whatever_the_scenario_s`.)"""
    game = LogitGame(**GAME, inventory_noise=0.3, noise_buy_rate=15.0, noise_sell_rate=15.0)
    with pytest.raises(LogitSolveError, match="max_iterations = 1.*Picard"):
        game.solve(steps=20, paths=100, tolerance=1e-12, max_iterations=1)


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(method="collocation"), "method = 'collocation'"),
        (dict(steps=1), "steps = 1"),
        (dict(paths=5), "paths = 5"),
        (dict(degree=0), "degree = 0"),
        (dict(dispersion=0.0), "dispersion = 0.0"),
        (dict(tolerance=float("nan")), "tolerance = nan"),
        (dict(max_iterations=0), "max_iterations = 0"),
        (dict(seed=-1), "seed = -1"),
        (dict(steps=True), "steps = True"),
    ],
)
def test_bad_regression_options_name_the_parameter(options, match):
    game = LogitGame(**GAME, factor=FACTOR, inventory_noise=0.3)
    with pytest.raises(ValueError, match=match):
        game.solve(**options)


def test_nash_gap_of_the_stochastic_equilibrium_is_small_and_below_the_heuristics():
    """The logit Nash gap (Monte Carlo, common random numbers) of runs/logit.toml on 20 steps:
    every agent on the scenario policy ``equilibrium`` of the stochastic game versus the
    example's heuristic profile (Almgren–Chriss seller, Avellaneda–Stoikov and GLFT makers). The
    mean-model best responses gain little against the equilibrium (a schedule cannot beat a
    feedback adapted to the noise by more than the Monte Carlo error and the O(Δt), regression
    errors) and far more against the heuristics."""
    sc = load_scenario(examples_dir() / "logit.toml")
    sc = dataclasses.replace(sc, steps=20, paths=100)
    heuristic = nash_gap(sc, seed=1).set_index("agent")
    equilibrium = nash_gap(all_playing(sc), seed=1).set_index("agent")
    upper = (equilibrium["gain"] + equilibrium["gain_ci95"]).to_numpy()
    payoff = np.abs(equilibrium["payoff"].to_numpy())
    assert np.all(upper < 0.01 * payoff + 0.05), equilibrium  # measured: all gains < 0
    assert equilibrium["gain"].max() < heuristic["gain"].max() / 10, (equilibrium, heuristic)
    # the exact gap of the mean model: 0.04 / 0 / 0 against 0.05 / 23.7 / 11.0 (heuristics)
    assert equilibrium["mean_model_gain"].max() < heuristic["mean_model_gain"].max() / 100
