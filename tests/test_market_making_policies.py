"""Equilibrium policies of the best-quote game played in the simulator (feedback / open loop)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from policies.base import MarketState, Policy
from policies.equilibrium.adapters import market_making_game
from policies.equilibrium.market_making import MarketMakingGame
from simulator import load_scenario, simulate
from simulator.mechanisms.best_quote import AcasSpec, BestQuoteSpec
from simulator.scenario import AgentSpec, NoiseSpec, PriceSpec, Scenario
from tests.helpers import ACAS


def acas_scenario(steps: int, policy: str = "equilibrium", volatility: float = 0.0) -> Scenario:
    return Scenario(
        name="acas_test",
        market=AcasSpec(temporary_impact=0.5, intensity_decay=2.0),
        horizon=1.0,
        steps=steps,
        traders=(AgentSpec("trader_0", "trader", policy, -5.0, 0.1, 1.0),),
        makers=(
            AgentSpec("maker_0", "maker", policy, 1.0, 0.1, 1.0),
            AgentSpec("maker_1", "maker", policy, 0.0, 0.1, 1.0),
        ),
        price=PriceSpec(0.0, volatility),
        noise=NoiseSpec(1.0, 1.0),
        paths=4,
    )


@pytest.fixture(scope="module")
def solution():
    return market_making_game(acas_scenario(50)).solve()


def test_adapter_builds_the_acas_game(solution):
    direct = MarketMakingGame.acas(**ACAS).solve()
    np.testing.assert_allclose(solution.adjoint, direct.adjoint, atol=1e-12)
    assert list(solution.path.columns) == [
        "time",
        "agent",
        "role",
        "inventory",
        "adjoint",
        "rate",
        "ask_spread",
        "bid_spread",
    ]
    assert set(solution.path.agent) == {"trader_0", "maker_0", "maker_1"}


@pytest.mark.parametrize("policy", ["equilibrium", "equilibrium_open_loop"])
def test_deterministic_payoffs_converge_to_sol_value_at_first_order_in_dt(solution, policy):
    # σ = 0 and fluid flow: the simulation is deterministic; the engine holds controls constant
    # on each step, so |J_sim − value| = O(dt) (measured ≈ 0.5·dt·|∂J|, halving with dt).
    errs = []
    for steps in (50, 100):
        res = simulate(acas_scenario(steps, policy), paths=2, seed=0)
        pay = res.payoffs().set_index("agent")["mean"]
        errs.append(np.abs(pay[solution.value.index] - solution.value).to_numpy())
    assert errs[1].max() < 6e-3
    np.testing.assert_allclose(errs[0] / errs[1], 2.0, rtol=0.15)


def test_monte_carlo_payoff_matches_sol_value_within_standard_errors(solution):
    # σ = 1: the reference price only adds martingale noise (E[P&L from P] = 0 with P₀ = 0);
    # t-test with 4 standard errors plus the O(dt) bias measured above (≤ 4e-3 at 100 steps).
    res = simulate(acas_scenario(100, volatility=1.0), paths=1024, seed=3)
    pay = res.payoffs().set_index("agent")
    diff = (pay.loc[solution.value.index, "mean"] - solution.value).abs()
    assert np.all(diff <= 4 * pay.loc[solution.value.index, "std_error"] + 4e-3)


def _state(sol, t, inventories):
    m = inventories.shape[0]
    return MarketState(
        t=t,
        step=0,
        dt=0.02,
        horizon=1.0,
        index=0,
        names=sol.game.names,
        roles=sol.game.roles,
        inventories=inventories,
        initial_inventories=sol.game.initial_inventories,
        reference_price=np.zeros(m),
        noise_drift=np.zeros(m),
        noise_buy_rate=np.ones(m),
        noise_sell_rate=np.ones(m),
    )


def test_feedback_and_open_loop_coincide_on_the_equilibrium_path(solution):
    sol = solution
    for k in (0, 17, 49):
        t = sol.time[k]
        q = np.tile(sol.inventory[k], (3, 1))
        for name, j in (("trader_0", 0), ("maker_0", 1), ("maker_1", 2)):
            fb = sol.feedback_policy(name).act(_state(sol, t, q))
            ol = sol.open_loop_policy(name).act(_state(sol, t, q))
            np.testing.assert_allclose(fb, ol, atol=1e-12)
            if j == 0:
                np.testing.assert_allclose(fb, sol.rate[k, 0], atol=1e-12)
            else:
                np.testing.assert_allclose(fb[:, 0], sol.ask[k, j - 1], atol=1e-12)
                np.testing.assert_allclose(fb[:, 1], sol.bid[k, j - 1], atol=1e-12)


def test_feedback_policy_reacts_to_inventory_and_exact_option_matches_linear_to_second_order(
    solution,
):
    sol = solution
    t = sol.time[10]
    base = sol.inventory[10]
    q = base + np.array([[0.0, 0.0, 0.0], [0.0, 0.1, -0.1], [0.2, 0.0, 0.0]])
    lin = sol.feedback_policy("maker_0").act(_state(sol, t, q))
    exact = sol.feedback_policy("maker_0", exact=True).act(_state(sol, t, q))
    ol = sol.open_loop_policy("maker_0").act(_state(sol, t, q))
    assert np.all(np.abs(lin[1:] - ol[1:]) > 1e-3)  # feedback moves the quotes
    np.testing.assert_allclose(lin[0], exact[0], atol=1e-9)
    assert np.abs(lin - exact).max() < 2e-3  # O(|ΔQ|²), ΔQ ≤ 0.2 (see decoupling test)
    # more inventory → lower adjoint → lower ask: the maker leans to sell (R₁₁ < 0)
    assert lin[1, 0] < lin[0, 0]
    assert sol.feedback_policy("maker_0").name == "equilibrium"
    assert sol.open_loop_policy("trader_0").name == "equilibrium_open_loop"


def test_scenario_policies_resolve_through_the_registry():
    sc = load_scenario("runs/acas.toml")
    sc = Scenario(
        **{
            **sc.__dict__,
            "traders": tuple(
                AgentSpec(**{**a.__dict__, "policy": "equilibrium"}) for a in sc.traders
            ),
            "makers": tuple(
                AgentSpec(**{**a.__dict__, "policy": "equilibrium_open_loop"}) for a in sc.makers
            ),
        }
    )
    res = simulate(sc, paths=2, seed=0)
    assert res.agent("buyer").policy == "equilibrium"
    assert res.agent("maker_a").policy == "equilibrium_open_loop"
    assert np.all(np.isfinite(res.agent("buyer").objective))


def with_maker_1(sc: Scenario, policy: str, max_spread: float) -> Scenario:
    """``sc`` with maker_1 playing ``policy`` and market.max_spread ξ."""
    return dataclasses.replace(
        sc,
        market=dataclasses.replace(sc.market, max_spread=max_spread),
        makers=(sc.makers[0], dataclasses.replace(sc.makers[1], policy=policy)),
    )


def test_trust_radius_bounds_feedback_against_a_heuristic_opponent(solution):
    # maker_1 plays a constant spread: the state leaves the equilibrium path, the first-order
    # field is evaluated far away; the default trust radius (3/γ) keeps quotes within 3/γ of
    # the equilibrium quotes (ξ = 6 does not bind: |δ̂| ≤ 4.2 here).
    res = simulate(with_maker_1(acas_scenario(60), "constant_spread", 6.0), paths=2, seed=0)
    assert all(np.all(np.isfinite(a.objective)) for a in res.agents)
    ask = res.agent("maker_0").ask_spread
    eq_ask = np.interp(res.time[:-1], solution.time, solution.ask[:, 0])
    assert np.all(np.abs(ask - eq_ask[:, None]) <= 1.5 + 1e-9)
    q = solution.inventory[5] + np.array([[0.0, 50.0, -50.0]])
    y = solution.adjoint_at(solution.time[5], q, trust_radius=0.7)
    assert np.abs(y - solution.adjoint[5]).max() == pytest.approx(0.7)


def test_unbounded_spread_against_a_heuristic_maker_is_refused_when_policies_are_built():
    # ξ = ∞ and a heuristic maker: quote gaps, hence fill factors e^{γ|δ − δ̄|}, are unbounded
    sc = with_maker_1(acas_scenario(20), "constant_spread", np.inf)
    with pytest.raises(ValueError, match=r"market.max_spread = inf: maker\(s\) maker_1"):
        simulate(sc, paths=2, seed=0)
    sol = market_making_game(acas_scenario(20)).solve()
    with pytest.raises(ValueError, match="trust_radius = None"):
        sol.feedback_policy("maker_0", trust_radius=None)
    sol.feedback_policy("maker_0")  # all-equilibrium, clipped field: bounded quotes, allowed


class HiddenQuotes(Policy):
    """``policy`` acting on a state without the best quotes (the pre-(21) modelled-quote rule)."""

    def __init__(self, policy: Policy) -> None:
        self.policy, self.role, self.name = policy, policy.role, policy.name

    def act(self, state: MarketState) -> np.ndarray:
        return self.policy.act(dataclasses.replace(state, best_ask=None, best_bid=None))


@pytest.mark.parametrize("market", ["acas", "best_quote"])
def test_trader_reacting_to_observed_quotes_changes_nothing_on_the_equilibrium_path(market):
    # all agents play the feedback map: the quotes a trader observes are the makers' ψ(Y) at the
    # same Y, so reading them instead of modelling them is the same arithmetic (random P, σ = 1;
    # best_quote: buyer + seller, aggregated cost (joint ϕ), 3 makers)
    sc = acas_scenario(40, volatility=1.0) if market == "acas" else best_quote_scenario(40)
    sol = market_making_game(sc).solve()
    hidden = {a.name: HiddenQuotes(sol.feedback_policy(a.name)) for a in sc.traders}
    observed = simulate(sc, paths=8, seed=4).payoffs().set_index("agent")["mean"]
    modelled = simulate(sc, paths=8, seed=4, policies=hidden).payoffs().set_index("agent")["mean"]
    np.testing.assert_allclose(observed, modelled, rtol=0, atol=1e-10)


def test_trader_rate_is_the_hamiltonian_maximiser_at_the_quote_it_faces():
    # maker_1 quotes a constant 0.5 (below the equilibrium asks ≈ 2.3–4): the trader's rate must
    # be (21) v = (Yᵉ − best ask)/(2β) ∨ ε ∧ ξ̃ with the *observed* best ask, Yᵉ from the
    # (trust-region clipped) decoupling field at the realised inventories
    sc = with_maker_1(acas_scenario(40), "constant_spread", 6.0)
    sc = dataclasses.replace(
        sc, makers=(sc.makers[0], dataclasses.replace(sc.makers[1], params={"half_spread": 0.5}))
    )
    sol = market_making_game(sc).solve()
    res = simulate(sc, paths=2, seed=0)
    rate = res.agent("trader_0").rate
    beta, errs, gaps = 0.5, [], []
    for k, t in enumerate(res.time[:-1]):
        q = np.stack([res.agent(n).inventory[k] for n in sol.game.names], axis=-1)
        y = sol.adjoint_at(t, q, trust_radius=3.0 / 2.0)
        expected = np.clip((y[:, 0] - res.best_ask[k]) / (2 * beta), 0.0, np.inf)
        errs.append(np.abs(rate[k] - expected).max())
        gaps.append(np.abs(rate[k] - sol.controls_at(t, y)[0][:, 0]).min())
    assert max(errs) < 1e-12  # same formula, same inputs
    np.testing.assert_allclose(res.best_ask, 0.5)
    assert min(gaps) > 1.0  # the modelled-quote rule would trade ≥ 1 share/unit time less


def best_quote_scenario(steps: int) -> Scenario:
    return Scenario(
        name="best_quote_test",
        market=BestQuoteSpec(
            temporary_impact=0.4,
            intensity_decay=1.5,
            temporary_cost="aggregated",
            cost_coupling=0.5,
            max_spread=6.0,
            max_rate=50.0,
        ),
        horizon=1.0,
        steps=steps,
        traders=(
            AgentSpec("buyer", "trader", "equilibrium", -4.0, 0.1, 1.0),
            AgentSpec("seller", "trader", "equilibrium", 3.0, 0.1, 1.0),
        ),
        makers=tuple(
            AgentSpec(f"m{i}", "maker", "equilibrium", q, 0.1, 1.0)
            for i, q in enumerate([1.0, 0.0, -0.5])
        ),
        price=PriceSpec(0.0, 0.0),
        noise=NoiseSpec((1.0, 2.0), 1.0),
        paths=2,
    )


def test_best_quote_scenario_with_seller_and_aggregated_cost_converges_to_sol_value():
    # §3 game from a scenario: 1 buyer, 1 seller (aggregated cost c = 0.5), 3 makers,
    # piecewise noise; σ = 0 → deterministic; engine error O(dt) (measured 4.7e-3 → 2.3e-3).
    sol = market_making_game(best_quote_scenario(50)).solve()
    errs = []
    for steps in (50, 100):
        pay = simulate(best_quote_scenario(steps), paths=2, seed=0).payoffs().set_index("agent")
        errs.append(np.abs(pay.loc[sol.value.index, "mean"] - sol.value).max())
    assert errs[1] < 3e-3
    assert 1.7 < errs[0] / errs[1] < 2.3
