"""§5 logit game: quote map (43)–(44), the deterministic equilibrium BVP, inputs and failures."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.optimize import fsolve, minimize_scalar

from policies.equilibrium.coefficients import Profile
from policies.equilibrium.logit import LogitGame, LogitSolveError
from policies.equilibrium.logit_bvp import solve_spectral
from policies.equilibrium.logit_quotes import build_shares

OFFSETS = (0.0, 0.2, -0.1)


def game_kwargs(**over):
    """The issue's example: 1 buyer, 2 makers, balanced noise (no truncation binds)."""
    kw = dict(
        horizon=1.0,
        trader_inventories=(-4.0,),
        maker_inventories=(2.0, 0.0),
        temporary_impact=0.1,
        share_sharpness=2.0,
        share_offsets=(0.0, 0.2),
        trader_running_penalty=0.5,
        trader_terminal_penalty=5.0,
        maker_running_penalty=0.05,
        maker_terminal_penalty=1.0,
        noise_buy_rate=15.0,
        noise_sell_rate=15.0,
    )
    kw.update(over)
    return kw


def logistic_shares(delta: np.ndarray) -> np.ndarray:
    """A non-logit member of class ℶ: ζⁱ ∝ 1/(1 + e^{2δⁱ}) (log-concave, Σζ = 1)."""
    g = 1.0 / (1.0 + np.exp(2.0 * delta))
    return g / g.sum(0, keepdims=True)


def logit_callable(delta: np.ndarray) -> np.ndarray:
    z = -2.0 * delta + np.asarray(OFFSETS)[:, None]
    e = np.exp(z - z.max(0))
    return e / e.sum(0)


def best_reply(shares, i: int, delta: np.ndarray, y: np.ndarray, xi: float) -> tuple[float, float]:
    """Maker i's maximiser of (δ − yⁱ)ζⁱ(δ) over [−ξ, ξ], the others fixed; (argmax, max)."""

    def neg(x: float) -> float:
        d = delta.copy()
        d[i] = x
        return -(x - y[i]) * float(shares(d[None, :])[0, i])

    res = minimize_scalar(neg, bounds=(-xi, xi), method="bounded", options={"xatol": 1e-12})
    return float(res.x), -float(res.fun)


@pytest.mark.parametrize("kind", ["logit", "logistic"])
@pytest.mark.parametrize("xi", [1.0, 40.0])
def test_quote_map_is_each_makers_best_reply(kind, xi):
    """ψ(y) of (44) against direct maximisation of (δ − y)ζ(δ) for every maker: no maker can
    gain more than rounding; the argmax (a flat maximum: ~1e-8 precise) agrees to 1e-6."""
    shares = (
        build_shares("logit", 2.0, OFFSETS, 3)
        if kind == "logit"
        else build_shares(logistic_shares, 1.0, None, 3)
    )
    y = np.random.default_rng(3).normal(0.0, 1.5, size=(12, 3))
    q = shares.quotes(y, xi)
    assert np.allclose(q.shares.sum(-1), 1.0, atol=1e-14)
    assert np.all(np.abs(q.delta) <= xi)
    clipped = 0
    for k in range(y.shape[0]):
        ours = q.delta[k]
        for i in range(3):
            arg, best = best_reply(shares, i, ours, y[k], xi)
            mine = (ours[i] - y[k, i]) * q.shares[k, i]
            assert best <= mine + 1e-12 * (1 + abs(mine))
            assert abs(arg - ours[i]) < 1e-6
            clipped += abs(ours[i]) == xi
    if xi == 1.0:
        assert clipped > 0  # the truncation ±ξ was exercised


def test_user_share_function_reproduces_the_closed_form_logit():
    """The safeguarded Newton on a user ζ (here the logit as a callable) gives the closed-form
    quotes to the finite-difference floor (~1e-10)."""
    closed = build_shares("logit", 2.0, OFFSETS, 3)
    user = build_shares(logit_callable, 2.0, None, 3)
    y = np.random.default_rng(7).normal(0.0, 2.0, size=(200, 3))
    for xi in (0.8, math.inf):
        a, b = closed.quotes(y, xi), user.quotes(y, xi)
        assert np.max(np.abs(a.delta - b.delta)) < 1e-9
        assert np.max(np.abs(a.shares - b.shares)) < 1e-9


def test_logit_quote_map_extreme_adjoints_stay_finite():
    """Far-apart adjoints (shares near 0 and 1) still solve (44) with Σζ = 1."""
    shares = build_shares("logit", 3.0, (0.0, 1.0), 2)
    y = np.array([[40.0, -40.0], [-60.0, 5.0], [0.0, 0.0], [1e-9, -1e-9]])
    for xi in (2.0, math.inf):
        q = shares.quotes(y, xi)
        assert np.all(np.isfinite(q.delta))
        assert np.allclose(q.shares.sum(-1), 1.0, atol=1e-14)


def test_logit_quote_map_from_underflowing_shares_bisects_silently():
    """Adjoints of −800 put both makers at −ξ (first row), and the first guess of μ makes every
    share underflow to 0 (log Σζ = −∞): the Newton step is replaced by bisection, without a
    numpy warning reaching the user, and the shares are softmax(ςξ + o) = softmax(o) exactly."""
    shares = build_shares("logit", 2.0, (0.0, 0.2), 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q = shares.quotes(np.array([[-800.0, -800.0], [-800.0, 3.0]]), 5.0)
    assert np.array_equal(q.delta[0], [-5.0, -5.0])
    assert np.allclose(q.shares[0], np.exp([0.0, 0.2]) / np.exp([0.0, 0.2]).sum(), atol=1e-14)
    # the second row: maker 0 undercuts to an interior quote, its first-order condition (43)
    assert q.delta[1, 0] == pytest.approx(-800.0 + 1.0 / (2.0 * q.shares[1, 1]), abs=1e-6)
    assert np.isclose(q.shares[1].sum(), 1.0, atol=1e-14)


# ------------------------------------------------------------------------ deterministic game
def test_running_penalty_free_game_matches_its_algebraic_form():
    """φ ≡ 0 and constant rates: Y is constant and Q(T) = q₀ + T·f(Y), so Y solves the algebraic
    system Y + 2A(q₀ + T f(Y)) = 0 (fsolve, independent of the BVP solver)."""
    game = LogitGame(**game_kwargs(trader_running_penalty=0.0, maker_running_penalty=0.0))
    sol = game.solve()
    pb, q0 = game.problem, game.initial_inventories
    from policies.equilibrium.logit_bvp import drift

    def eq(y):
        return y + 2 * pb.terminal * (q0 + pb.horizon * drift(pb, 0.0, y).dq)

    y = fsolve(eq, -2 * pb.terminal * q0, xtol=1e-14)
    assert np.max(np.abs(sol.adjoint - y)) < 1e-10
    d = drift(pb, 0.0, y)
    value = pb.horizon * d.payoff - pb.terminal * (q0 + pb.horizon * d.dq) ** 2
    assert np.max(np.abs(sol.value.to_numpy() - value)) < 1e-10 * (1 + np.abs(value).max())


def test_collocation_and_shooting_agree_with_a_switching_time():
    """Chebyshev collocation vs DOP853 shooting (event restarts) when the buyer's rate reaches ε
    inside the horizon: the switching time and the values agree to 1e-8 relative."""
    game = LogitGame(**game_kwargs(min_rate=1.6, max_spread=2.672))
    col = game.solve()
    sh = game.solve(method="shooting")
    sw_c = col.diagnostics["switching_times"]
    sw_s = sh.diagnostics["switching_times"]
    assert [(s["agent"], s["kind"]) for s in sw_c] == [("trader_0", "rate_lower_bound")]
    assert [(s["agent"], s["kind"]) for s in sw_s] == [("trader_0", "rate_lower_bound")]
    assert abs(sw_c[0]["time"] - sw_s[0]["time"]) < 1e-8
    scale = np.abs(col.value).max()
    assert np.max(np.abs(col.value - sh.value)) < 1e-8 * scale
    # the switching time is a node of the path, and the rate is ε from there on
    t_s = sw_c[0]["time"]
    assert np.any(col.time == t_s)
    after = col.time >= t_s
    assert np.allclose(col.rate[after, 0], 1.6, atol=1e-12)
    assert np.all(col.rate[~after, 0] > 1.6)


def test_collocation_converges_spectrally_and_its_error_estimate_is_honest():
    """Degree 8, 12, 16 against degree 32: the error falls geometrically; the trailing-coefficient
    estimate bounds the observed error within a factor 100."""
    game = LogitGame(**game_kwargs())
    pb, q0 = game.problem, game.initial_inventories
    ref = solve_spectral(pb, q0, degree=32).solution.y[0, 0]
    errs, ests = [], []
    for k in (8, 12, 16):
        r = solve_spectral(pb, q0, degree=k, tol=1.0)
        errs.append(float(np.max(np.abs(r.solution.y[0, 0] - ref))) / (1 + np.abs(ref).max()))
        ests.append(r.estimated_error)
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-9
    for e, est in zip(errs, ests, strict=True):
        assert e < 100 * est + 1e-14


def test_feedback_error_is_second_order_in_the_inventory_perturbation():
    """The first-order decoupling field Ŷ + R(Q − Q̂) at t = 0 against re-solving the game from
    the perturbed inventories: the error falls 4× when the perturbation halves."""
    game = LogitGame(**game_kwargs())
    sol = game.solve()
    direction = np.array([0.5, -1.0, 0.7])
    errs = []
    for h in (0.2, 0.1, 0.05):
        q = game.initial_inventories + h * direction
        fb = sol.feedback(0.0, q[None, :])
        kw = game_kwargs(trader_inventories=(q[0],), maker_inventories=tuple(q[1:]))
        exact = LogitGame(**kw).solve().adjoint[0]
        errs.append(float(np.max(np.abs(fb.adjoint[0] - exact))))
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders > 1.8), (errs, orders)
    # at the equilibrium state the feedback is the path, and vectorised over paths
    t = 0.37
    q_hat, y_hat = sol.state_at(t)
    fb = sol.feedback(t, np.repeat(q_hat, 5, axis=0))
    assert fb.adjoint.shape == (5, 3) and fb.rate.shape == (5, 1) and fb.ask.shape == (5, 2)
    assert np.allclose(fb.adjoint, y_hat, atol=1e-13)


def factor_dict(**over):
    f = dict(
        initial=1.0,
        mean=0.0,
        reversion=2.0,
        volatility=0.0,
        buy_base=12.0,
        sell_base=12.0,
        buy_loading=0.5,
        sell_loading=-0.5,
        cap=100.0,
    )
    f.update(over)
    return f


def test_zero_volatility_factor_is_the_deterministic_rate_path():
    """A factor with volatility 0 gives κ(L(t)) along the OU mean path L(t) = e^{−2t}: the same
    game as those rates given as callables; with a cap that binds, its kink is a switching time
    at the analytic t* = −log(2 log(4/3))/2 (12·e^{L/2} = 16)."""
    s1 = LogitGame(**game_kwargs(factor=factor_dict())).solve()
    s2 = LogitGame(
        **game_kwargs(
            noise_buy_rate=lambda t: 12.0 * np.exp(0.5 * np.exp(-2.0 * np.asarray(t))),
            noise_sell_rate=lambda t: 12.0 * np.exp(-0.5 * np.exp(-2.0 * np.asarray(t))),
        )
    ).solve()
    assert np.max(np.abs(s1.value - s2.value)) < 1e-12 * np.abs(s1.value).max()
    capped = LogitGame(**game_kwargs(factor=factor_dict(cap=16.0))).solve()
    sw = capped.diagnostics["switching_times"]
    assert [(s["agent"], s["kind"]) for s in sw] == [("noise", "buy_rate_at_cap")]
    assert abs(sw[0]["time"] - (-math.log(2 * math.log(4 / 3)) / 2)) < 1e-11
    assert capped.diagnostics["estimated_error"] < 1e-10


def test_piecewise_noise_profile_and_two_traders_three_makers():
    """A buyer and a seller, three makers, a two-piece noise profile: the breakpoint is a piece
    end, the terminal condition holds and Σ maker drifts balance the flows (volume conserved)."""
    game = LogitGame(
        **game_kwargs(
            trader_inventories=(-3.0, 2.0),
            maker_inventories=(1.0, 0.0, -1.0),
            share_offsets=(0.0, 0.1, 0.2),
            noise_buy_rate=Profile((10.0, 20.0)),
            noise_sell_rate=15.0,
        )
    )
    sol = game.solve()
    assert np.any(sol.time == 0.5)
    assert sol.diagnostics["terminal_residual"] < 1e-9
    from policies.equilibrium.logit_bvp import drift

    pb = game.problem
    d = drift(pb, sol.time, sol.adjoint)
    a = np.where(sol.time < 0.5, 10.0, 20.0)
    # makers sell ã = a + v_buyer and buy b̃ = b − v_seller in total: Σ dQᵐ = −ã + b̃
    assert np.allclose(d.dq[:, 2:].sum(-1), -(a + d.rate[:, 0]) + (15.0 - d.rate[:, 1]))


# ------------------------------------------------------------------------ inputs and failures
@pytest.mark.parametrize(
    "over, match",
    [
        (dict(share_sharpness=0.0), "share_sharpness"),
        (dict(share_sharpness=-1.0), "share_sharpness"),
        (dict(share_offsets=(0.0, 0.1, 0.2)), "share_offsets"),
        (dict(maker_inventories=(1.0,), share_offsets=None), "at least 2 makers"),
        (dict(shares=lambda d: np.full_like(d, 0.6)), "sum to 1"),
        (dict(shares=lambda d: 1.0 - np.exp(-d) / np.exp(-d).sum(0)), "sum to 1|Definition 5.1"),
        (dict(factor=dict(initial=0.0, speed=1.0)), "unknown keys"),
        (dict(factor=dict(initial=0.0)), "missing keys"),
        (dict(inventory_noise=-0.3), "inventory_noise"),
        (dict(trader_inventories=(0.0,)), "q₀ ≠ 0"),
        (dict(min_rate=2.0, max_rate=1.0), "max_rate"),
        (dict(max_spread=0.0), "max_spread"),
        (dict(noise_buy_rate=-1.0), "noise_buy_rate"),
        (dict(maker_terminal_penalty=(1.0,)), "one value per agent"),
    ],
)
def test_bad_input_names_the_parameter(over, match):
    with pytest.raises(ValueError, match=match):
        LogitGame(**game_kwargs(**over))


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(buy_base=0.0), r"Assumption 5.3\(2\)"),
        (dict(cap=math.inf), r"cap"),
        (dict(reversion=-1.0), r"Assumption 5.3\(1\)"),
        (dict(volatility=-0.5), "volatility"),
    ],
)
def test_factor_violating_assumption_5_3_says_which_part(change, match):
    factor = dict(
        initial=0.0,
        mean=0.0,
        reversion=1.0,
        volatility=0.0,
        buy_base=10.0,
        sell_base=10.0,
        buy_loading=0.5,
        sell_loading=-0.5,
        cap=50.0,
    )
    factor.update(change)
    with pytest.raises(ValueError, match=match):
        LogitGame(**game_kwargs(factor=factor))


def test_unsettled_switching_times_raise():
    """A solve whose switching times have not settled raises instead of returning a smeared
    answer (here: one round only, while the buyer's rate reaches ε inside the horizon)."""
    game = LogitGame(**game_kwargs(min_rate=1.6))
    with pytest.raises(LogitSolveError, match="not converged"):
        solve_spectral(game.problem, game.initial_inventories, max_rounds=1)
