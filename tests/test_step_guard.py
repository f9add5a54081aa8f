"""The step loop stops at the first non-finite quantity, naming the agent, quantity and step."""

from __future__ import annotations

import numpy as np
import pytest

from policies.base import MarketState, Policy
from simulator import NoiseSpec, simulate
from simulator.model import NonFiniteStateError
from tests.helpers import maker, scenario, trader


class _BreaksAt(Policy):
    """Trades at rate 1 (or quotes 0.5) until ``step``, then returns ``value`` on path 3."""

    def __init__(self, role: str, step: int, value: float) -> None:
        self.role, self.name, self.step, self.value = role, "breaks", step, value

    def act(self, state: MarketState) -> np.ndarray:
        shape = (state.paths,) if self.role == "trader" else (state.paths, 2)
        out = np.full(shape, 1.0 if self.role == "trader" else 0.5)
        if state.step >= self.step:
            out[3] = self.value
        return out


def test_a_nan_rate_stops_the_run_naming_agent_quantity_and_step():
    sc = scenario(
        "impact", (trader(0, 5.0), trader(1, -2.0)), permanent_impact=0.1, temporary_impact=0.1
    )
    with pytest.raises(NonFiniteStateError, match=r"trader_1: rate v = nan at step 4 .* path 3"):
        simulate(sc, paths=10, seed=1, policies={"trader_1": _BreaksAt("trader", 4, np.nan)})


def test_an_infinite_quote_stops_the_run_at_its_step():
    sc = scenario(
        "best_quote",
        (trader(0, -1.0),),
        (maker(0), maker(1)),
        noise=NoiseSpec(buy_rate=1.0, sell_rate=1.0),
        temporary_impact=0.1,
        max_rate=5.0,
    )
    with pytest.raises(NonFiniteStateError, match=r"maker_1: ask half-spread δᵃ = inf at step 2"):
        simulate(sc, paths=10, seed=1, policies={"maker_1": _BreaksAt("maker", 2, np.inf)})


def test_a_state_that_overflows_stops_the_run():
    sc = scenario("impact", (trader(0, 1e15),), permanent_impact=0.1, temporary_impact=1e10)
    big = _BreaksAt("trader", 0, 1e300)
    with pytest.raises(NonFiniteStateError, match=r"trader_0: (cash X|.*) = -?inf at step 0"):
        simulate(sc, paths=10, seed=1, policies={"trader_0": big})


def test_finite_runs_are_untouched():
    sc = scenario("impact", (trader(0, 5.0),), permanent_impact=0.1, temporary_impact=0.1)
    res = simulate(sc, paths=10, seed=1)
    assert all(np.isfinite(a.objective).all() for a in res.agents)
