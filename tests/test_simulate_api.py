"""The public simulate() API: result shapes, payoffs, tidy frame, policy overrides, Mesa model."""

from __future__ import annotations

import numpy as np
import pytest

from agents import ExecutionTrader, MarketMaker, NoiseTrader
from policies.registry import PolicyContext, build_policy
from simulator import SimulationResult, simulate
from simulator.model import MarketModel
from simulator.simulation import build_policies
from tests.helpers import ConstantRate, ConstantSpread


def test_result_shapes_and_agent_order(acas_scenario):
    res = simulate(acas_scenario, paths=10, seed=1)
    n = acas_scenario.steps
    assert isinstance(res, SimulationResult)
    assert (res.paths, res.seed, res.scenario) == (10, 1, acas_scenario)
    np.testing.assert_allclose(res.time, np.linspace(0.0, 1.0, n + 1))
    assert res.reference_price.shape == (n + 1, 10)
    assert [a.name for a in res.agents] == ["trader_0", "maker_0", "maker_1", "noise"]
    tr, mk = res.agent("trader_0"), res.agent("maker_1")
    assert tr.rate.shape == (n, 10) and tr.ask_spread is None
    assert mk.ask_spread.shape == (n, 10) and mk.rate is None
    assert tr.inventory.shape == tr.cash.shape == (n + 1, 10)
    assert tr.objective.shape == tr.running_cost.shape == tr.terminal_cost.shape == (10,)
    assert res.best_ask.shape == res.best_bid.shape == (n, 10)
    np.testing.assert_array_equal(tr.inventory[0], -5.0)
    with pytest.raises(KeyError, match="no agent 'bob'"):
        res.agent("bob")


def test_payoffs_are_means_with_standard_errors(acas_scenario):
    res = simulate(acas_scenario, paths=50, seed=1)
    table = res.payoffs()
    assert list(table.columns) == ["agent", "role", "policy", "mean", "std_error", "paths"]
    row = table.set_index("agent").loc["maker_1"]
    j = res.agent("maker_1").objective
    assert row["mean"] == pytest.approx(j.mean())
    assert row["std_error"] == pytest.approx(j.std(ddof=1) / np.sqrt(50))
    assert (row["role"], row["policy"], row["paths"]) == ("maker", "test_skewed_spread", 50)


def test_to_frame_is_a_tidy_long_table(acas_scenario):
    res = simulate(acas_scenario, paths=6, seed=1)
    df = res.to_frame(paths=[1, 4])
    n1 = acas_scenario.steps + 1
    assert len(df) == n1 * 2 * 4
    row = df[(df.agent == "maker_0") & (df.path == 4) & (df.time == res.time[3])].iloc[0]
    assert row["inventory"] == res.agent("maker_0").inventory[3, 4]
    assert row["ask_spread"] == res.agent("maker_0").ask_spread[3, 4]
    assert row["best_ask"] == res.best_ask[3, 4]
    assert np.isnan(row["rate"])
    last = df[(df.agent == "trader_0") & (df.time == res.time[-1])]
    assert last["rate"].isna().all() and last["inventory"].notna().all()
    assert len(res.to_frame(paths=2)) == n1 * 2 * 4
    with pytest.raises(ValueError, match="only paths 0..5 were recorded"):
        res.to_frame(paths=[9])


def test_policy_override_replaces_one_agent_and_keeps_the_rest(acas_scenario):
    base = simulate(acas_scenario, paths=20, seed=2)
    alt = simulate(acas_scenario, paths=20, seed=2, policies={"trader_0": ConstantRate(1.0)})
    np.testing.assert_array_equal(alt.agent("trader_0").rate, 1.0)
    np.testing.assert_array_equal(alt.reference_price, base.reference_price)
    assert alt.agent("trader_0").policy == "test_constant_rate"
    with pytest.raises(ValueError, match="has role 'trader'; the agent is a maker"):
        simulate(acas_scenario, paths=2, policies={"maker_0": ConstantRate(1.0)})


def test_mesa_model_holds_one_agent_per_participant(acas_scenario):
    policies = build_policies(acas_scenario)
    model = MarketModel(acas_scenario, policies, paths=5, seed=0)
    assert len(model.agents_by_type[ExecutionTrader]) == 1
    assert len(model.agents_by_type[MarketMaker]) == 2
    assert len(model.agents_by_type[NoiseTrader]) == 1
    model.step()
    model.step()
    assert model.k == 2 and model.steps == 2
    trader = model.strategic[0]
    np.testing.assert_allclose(trader.inventory, -5.0 + 2 * 4.0 * acas_scenario.dt)


def test_registry_builds_test_policies_with_shared_context(acas_scenario):
    cache: dict = {}
    p = build_policy(PolicyContext(acas_scenario, acas_scenario.traders[0], cache))
    assert p.role == "trader" and p.rate == 4.0


def test_bad_policy_output_shape_is_reported(acas_scenario):
    class Broken(ConstantRate):
        def act(self, state):
            return np.zeros((state.paths, 3))

    with pytest.raises(ValueError, match=r"returned a rate of shape \(4, 3\); expected \(4,\)"):
        simulate(acas_scenario, paths=4, policies={"trader_0": Broken(1.0)})


def test_progress_callback_counts_steps_over_chunks(acas_scenario):
    seen = []
    simulate(
        acas_scenario,
        paths=2048 + 5,
        seed=0,
        chunk_paths=1024,
        record=False,
        progress=lambda done, total: seen.append((done, total)),
    )
    total = 3 * acas_scenario.steps
    assert seen == [(k, total) for k in range(1, total + 1)]


def test_maker_policy_may_return_one_quote_pair_for_all_paths(acas_scenario):
    class Pair(ConstantSpread):
        def act(self, state):
            return self.quotes  # shape (2,): same (δᵃ, δᵇ) on every path

    res = simulate(acas_scenario, paths=2, seed=0, policies={"maker_0": Pair(0.3, 0.7)})
    np.testing.assert_array_equal(res.agent("maker_0").ask_spread, 0.3)
    np.testing.assert_array_equal(res.agent("maker_0").bid_spread, 0.7)
