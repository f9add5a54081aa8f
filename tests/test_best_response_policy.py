"""The Nash gap's best responses played as policies in the simulator reach the gap's figures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulator import load_scenario, simulate
from simulator.nash_gap import best_responses, nash_gap


@pytest.mark.parametrize(
    "example", ["acas.toml", "execution_vs_heuristics.toml", "best_quote.toml"]
)
def test_best_response_played_as_a_policy_reaches_the_nash_gap_payoff(example):
    # A frozen reference price (σ = 0, P₀ = 0) makes the fluid run deterministic, so the
    # simulated J of each best response (the others replaying their schedules, as the Nash gap
    # holds them fixed) must equal nash_gap's best-response payoff on the same grid, to rounding.
    scenario = load_scenario(f"runs/{example}")
    frozen = dataclasses.replace(
        scenario, price=dataclasses.replace(scenario.price, volatility=0.0, initial=0.0)
    )
    gap = nash_gap(scenario).set_index("agent")
    responses = best_responses(scenario)
    as_written = simulate(frozen, paths=1, record=False, policies=responses.profile)
    for name in gap.index:
        assert as_written.agent(name).objective[0] == pytest.approx(
            gap.loc[name, "payoff"], rel=1e-9, abs=1e-9
        )
        res = simulate(frozen, paths=1, record=False, policies=responses.deviation(name))
        assert res.agent(name).policy == "best_response"
        assert res.agent(name).objective[0] == pytest.approx(
            gap.loc[name, "best_response_payoff"], rel=1e-9, abs=1e-9
        ), name


def test_a_schedule_policy_plays_its_schedule_on_every_path():
    scenario = load_scenario("runs/acas.toml")
    responses = best_responses(scenario)
    res = simulate(scenario, paths=3, seed=1, policies=responses.deviation("maker_b"))
    quotes = res.agent("maker_b").ask_spread
    assert np.array_equal(quotes[:, 0], quotes[:, 2])
    assert np.array_equal(quotes[:, 0], responses.best["maker_b"].schedule[:, 0])
    assert res.agent("maker_a").policy == "avellaneda_stoikov_schedule"
    with pytest.raises(ValueError, match="agent = 'nobody'"):
        responses.deviation("nobody")
