"""Every game of ``policies.equilibrium`` satisfies the Game / Solution protocol, and the §3/§4
solution's feedback is the decoupling field of Thm 4.2 (on the path, and (27) for φ = 0)."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

import policies.equilibrium as eq
from policies.base import Policy
from policies.equilibrium import (
    ExecutionGame,
    LogitGame,
    MarketMakingGame,
    MeanFieldGame,
)
from policies.equilibrium.market_making_hamiltonian import forward_drift
from policies.equilibrium.protocol import PATH_COLUMNS, Feedback, Game, Solution
from tests.helpers import ACAS, GRID_MARKET, best_quote_market, execution_game
from tests.test_logit_equilibrium import game_kwargs as logit_kwargs

BEST_QUOTE = dict(  # a buyer and a seller, two makers, aggregated temporary cost
    horizon=1.0,
    trader_inventories=(-3.0, 2.0),
    maker_inventories=(0.5, -0.5),
    temporary_impact=0.4,
    intensity_decay=1.5,
    temporary_cost="aggregated",
    cost_coupling=0.5,
    trader_running_penalty=0.2,
    maker_running_penalty=0.1,
    noise_buy_rate=1.0,
    noise_sell_rate=1.0,
    max_spread=6.0,
)

# one small example per game class: (game, solve keyword arguments)
EXAMPLES = {
    "ExecutionGame": lambda: (
        ExecutionGame(
            horizon=1.0,
            permanent_impact=0.3,
            temporary_impact=0.5,
            running_penalty=[0.2, 0.5, 0.1],
            terminal_penalty=[1.0, 2.0, 0.5],
            initial_inventory=[5.0, -3.0, 2.0],
            noise_buy_rate=0.1,
            noise_sell_rate=0.3,
            names=["a", "b", "c"],
        ),
        {},
    ),
    "MarketMakingGame": lambda: (MarketMakingGame(**BEST_QUOTE), {}),
    "MeanFieldGame": lambda: (
        MeanFieldGame(
            horizon=1.0,
            temporary_impact=0.5,
            intensity_decay=2.0,
            terminal_penalty=1.0,
            running_penalty=0.1,
            inventory_distribution=-np.random.default_rng(0).gamma(20.0, 0.5, size=500),
            maker_inventories=(1.0, 0.0),
            noise_buy_rate=1.0,
            noise_sell_rate=1.0,
        ),
        {},
    ),
    "LogitGame": lambda: (LogitGame(**logit_kwargs()), {}),
    "LogitGame (stochastic)": lambda: (
        LogitGame(**logit_kwargs(inventory_noise=0.3)),
        dict(steps=20, paths=200, tolerance=2e-3),
    ),
}
GRID_MARKETS = {"DiscreteBestQuoteGame", "DiscreteLogitGame"}
"""The engine-grid markets of the best responses (payoffs, best responses, Nash gap): no
``solve``, so not protocol games."""


def test_every_exported_game_class_has_a_protocol_example():
    games = {n for n in eq.__all__ if n.endswith("Game") and inspect.isclass(getattr(eq, n))}
    games.discard("Game")  # the protocol itself
    assert games - GRID_MARKETS == {k.split(" ")[0] for k in EXAMPLES}


@pytest.fixture(scope="module", params=list(EXAMPLES))
def solved(request):
    game, kw = EXAMPLES[request.param]()
    return game, game.solve(**kw)


def test_game_and_solution_satisfy_the_protocol(solved):
    game, sol = solved
    assert isinstance(game, Game) and isinstance(sol, Solution)
    names = list(sol.value.index)
    assert len(names) == len(set(names)) >= 2
    assert np.all(np.isfinite(sol.value.to_numpy()))
    if isinstance(game, ExecutionGame):
        assert names == ["a", "b", "c"]
    elif not isinstance(game, MeanFieldGame):
        assert names == list(game.names)
    path = sol.path
    assert isinstance(path, pd.DataFrame) and set(PATH_COLUMNS) <= set(path.columns)
    assert set(path["agent"]) == set(names)
    assert path["time"].min() == 0.0 and np.isclose(path["time"].max(), game.horizon)
    assert isinstance(sol.diagnostics, dict) and sol.diagnostics
    for open_loop in (False, True):
        pols = sol.policies(open_loop=open_loop)
        assert list(pols) == names and all(isinstance(p, Policy) for p in pols.values())


def test_feedback_is_vectorised_over_paths(solved):
    game, sol = solved
    n = len(sol.value)
    start = path_state(sol, 0.0)
    m = 7
    q = start + np.random.default_rng(1).normal(0.0, 0.1, size=(m, n))
    out = sol.feedback(0.4, q)
    if isinstance(game, ExecutionGame):
        assert out.shape == (m, n)
        one = np.array([sol.feedback(0.4, row) for row in q])
        np.testing.assert_allclose(out, one, rtol=1e-13, atol=1e-13)
        return
    assert isinstance(out, Feedback)
    nt = int(np.sum(sol.path.drop_duplicates("agent")["role"] == "trader"))
    assert out.adjoint.shape == (m, n)
    assert out.rate.shape == (m, nt) and out.ask.shape == out.bid.shape == (m, n - nt)
    assert all(np.all(np.isfinite(a)) for a in out)
    for k in (0, m - 1):  # row k alone gives row k of the batch
        single = sol.feedback(0.4, q[k])
        for a, b in zip(single, out, strict=True):
            np.testing.assert_allclose(a[0], b[k], rtol=1e-10, atol=1e-10)


def path_state(sol, t: float) -> np.ndarray:
    """The equilibrium inventories (n,) at a time of the path (agents in value order)."""
    p = sol.path
    rows = p[np.isclose(p["time"], t)].set_index("agent")["inventory"]
    return rows.loc[list(sol.value.index)].to_numpy()


# ------------------------------------------------------------------ §3/§4 feedback (Thm 4.2)
@pytest.fixture(scope="module", params=["acas", "best_quote"])
def market_making(request):
    game = (
        MarketMakingGame.acas(**ACAS) if request.param == "acas" else MarketMakingGame(**BEST_QUOTE)
    )
    return game.solve()


def test_feedback_on_the_equilibrium_path_reproduces_the_solution(market_making):
    # at the grid nodes Y(t_k, Q̂_k) = Ŷ_k and the controls are the path's, to rounding
    sol = market_making
    for k in range(0, sol.time.size, 5):
        fb = sol.feedback(sol.time[k], sol.inventory[k])
        np.testing.assert_allclose(fb.adjoint[0], sol.adjoint[k], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fb.rate[0], sol.rate[k], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fb.ask[0], sol.ask[k], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fb.bid[0], sol.bid[k], rtol=1e-10, atol=1e-12)


def test_exact_feedback_reproduces_the_path_and_is_second_order_close_to_the_first_order():
    sol = MarketMakingGame(**BEST_QUOTE).solve()
    k = 20
    t, q_hat = sol.time[k], sol.inventory[k]
    on = sol.feedback(t, q_hat, exact=True)
    np.testing.assert_allclose(on.adjoint[0], sol.adjoint[k], atol=1e-7)  # Newton tolerance
    errors = []
    direction = np.array([0.5, -0.3, 1.0, -0.7])
    for d in (0.2, 0.1, 0.05):
        q = q_hat + d * direction
        errors.append(
            np.abs(sol.feedback(t, q).adjoint - sol.feedback(t, q, exact=True).adjoint).max()
        )
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    np.testing.assert_allclose(ratios, 4.0, rtol=0.15)  # O(|ΔQ|²): R = ∂Y/∂Q of (23)


def test_risk_neutral_feedback_is_the_closed_form_of_theorem_4_3():
    """φ = 0, constant coefficients: Y is constant along every closed loop (Y' = 2φQ = 0), so the
    exact field solves Y = −2A(Q + (T − t) f(Y)) (f the drift of (18)–(19)), and its
    derivative is (27) by Radon's lemma, R(t) = −2A[I + 2A(T − t)G]⁻¹ with G = ∂f/∂Y at the
    (constant) Ŷ; the controls are (17) at Y."""
    kw = {**ACAS, "running_penalty": 0.0}
    sol = MarketMakingGame.acas(**kw).solve()
    pb, big_a, gamma, beta = sol.game.problem, kw["terminal_penalty"], 2.0, 0.5
    one = np.ones(1)

    def f(y: np.ndarray) -> np.ndarray:
        return forward_drift(pb.market, y, one, one, beta * one).dq

    y_hat = sol.adjoint[0]
    h = 1e-6
    g = np.column_stack([(f(y_hat + h * e) - f(y_hat - h * e))[0] / (2 * h) for e in np.eye(3)])
    for k in (0, 25, 40):
        t = sol.time[k]
        closed = -2 * big_a * np.linalg.inv(np.eye(3) + 2 * big_a * (1.0 - t) * g)
        np.testing.assert_allclose(sol.riccati[k], closed, atol=1e-6)
        q = sol.inventory[k] + np.array([[0.3, -0.2, 0.25], [-0.4, 0.1, 0.0]])
        fb = sol.feedback(t, q, exact=True)
        residual = fb.adjoint + 2 * big_a * (q + (1.0 - t) * f(fb.adjoint))
        np.testing.assert_allclose(residual, 0.0, atol=1e-7)
        ym = fb.adjoint[:, 1:]
        np.testing.assert_allclose(fb.ask, 1 / gamma + ym, atol=1e-12)
        np.testing.assert_allclose(fb.bid, 1 / gamma - ym, atol=1e-12)
        rate = np.maximum((fb.adjoint[:, 0] - fb.ask.min(axis=1)) / (2 * beta), 0.0)
        np.testing.assert_allclose(fb.rate[:, 0], rate, atol=1e-12)


def test_mean_field_feedback_is_36_for_a_trader_and_17_for_the_makers():
    game, _ = EXAMPLES["MeanFieldGame"]()
    sol = game.solve()
    for k in (0, 20, 45):
        t = sol.time[k]
        on = np.array([sol.representative_path["inventory"][k], *sol.acas.inventory[k, 1:]])
        fb = sol.feedback(t, on)
        np.testing.assert_allclose(fb.rate[0, 0], sol.representative_rate[k], atol=1e-9)
        np.testing.assert_allclose(fb.ask[0], sol.acas.ask[k], atol=1e-6)
        q = on + np.array([[1.5, 0.0, 0.0], [-2.0, 0.0, 0.0]])  # one trader off the mean
        np.testing.assert_allclose(fb.ask[0], sol.feedback(t, q).ask[1], atol=1e-14)
        np.testing.assert_allclose(sol.feedback(t, q).rate[:, 0], sol.rate(t, q[:, 0]), atol=1e-9)


# ------------------------------------------------------------------ symmetric best responses
STEPS = 20
LOGIT_MARKET = dict(  # one buyer, two makers with distinct share offsets
    **GRID_MARKET, steps=STEPS, share_sharpness=2.0, share_offsets=(0.0, 0.2)
)


def grid_markets():
    """(best response, Nash gap, profile) of the §2, §3 and §5 markets on the engine grid."""
    rng = np.random.default_rng(4)
    game = execution_game()
    yield (
        lambda agent, p: eq.execution_best_response(game, p, agent),
        lambda p: eq.execution_nash_gap(game, p),
        rng.normal(size=(STEPS, game.traders)),
    )
    profile = (np.full((1, STEPS), 8.0), 0.5 + 0.1 * rng.random((2, STEPS, 2)))
    for market in (best_quote_market(STEPS), eq.DiscreteLogitGame(**LOGIT_MARKET)):
        yield (
            lambda agent, p, m=market: eq.market_making_best_response(m, *p, agent),
            lambda p, m=market: eq.market_making_nash_gap(m, *p),
            profile,
        )


def test_every_best_response_is_one_record_type_that_matches_its_nash_gap():
    for best_response, nash_gap, profile in grid_markets():
        gap = nash_gap(profile)
        for k, name in enumerate(gap["agent"]):
            br = best_response(name, profile)
            by_index = best_response(k, profile)
            assert isinstance(br, eq.BestResponse) and br.agent == by_index.agent == name
            np.testing.assert_array_equal(br.schedule, by_index.schedule)
            assert br.schedule.shape == ((STEPS,) if br.role == "trader" else (STEPS, 2))
            assert br.gain == br.payoff - br.profile_payoff >= -1e-10
            assert gap["gain"][k] == br.gain and gap["payoff"][k] == br.profile_payoff
            assert br.optimality_residual < 1e-6
