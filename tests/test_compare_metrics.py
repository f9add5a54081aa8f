"""Role metrics of a comparison add up: shortfall components, J from the metrics, maker P&L."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from simulator import load_scenario, simulate
from simulator.compare.metrics import maker_metrics, market_metrics, trader_metrics

RUNS = Path(__file__).resolve().parents[1] / "runs"


@pytest.mark.parametrize(
    "example", ["impact.toml", "acas.toml", "acas_vs_heuristics_poisson.toml", "best_quote.toml"]
)
def test_shortfall_components_and_objectives_add_up(example):
    scenario = dataclasses.replace(load_scenario(RUNS / example), steps=30)
    scenario = dataclasses.replace(scenario, price=dataclasses.replace(scenario.price, initial=3.0))
    res = simulate(scenario, paths=40, seed=2)
    mark = res.market.get("market_price", res.reference_price)
    for a in res.agents:
        if a.role == "trader":
            m = trader_metrics(res, a)
            parts = m["timing"] + m["permanent_impact"] + m["spread_cost"] + m["temporary_cost"]
            np.testing.assert_allclose(parts, m["shortfall"], rtol=1e-10, atol=1e-10)
            # J = −IS − penalties + (S_T − P₀)·Q_T + P₀·q₀ (the engine's accounting)
            q0, qt = a.inventory[0], a.inventory[-1]
            p0 = res.reference_price[0]
            j = -m["shortfall"] - m["penalties"] + (mark[-1] - p0) * qt + p0 * q0
            np.testing.assert_allclose(j, a.objective, rtol=1e-10, atol=1e-9)
            assert np.all(m["shortfall_bps"] == m["shortfall"] / (abs(q0) * 3.0) * 1e4)
            if scenario.market.kind == "impact":
                assert np.all(m["spread_cost"] == 0) and np.any(m["permanent_impact"] != 0)
            else:
                assert np.all(m["permanent_impact"] == 0) and np.all(m["spread_cost"] > 0)
        elif a.role == "maker":
            m = maker_metrics(res, a)
            pen = a.running_cost + a.terminal_cost
            p0 = res.reference_price[0]
            np.testing.assert_allclose(
                m["pnl"] - pen + p0 * a.inventory[0], a.objective, rtol=1e-10, atol=1e-9
            )
            assert np.all(m["max_abs_inventory"] >= np.abs(m["terminal_inventory"]))
    market = market_metrics(res)
    np.testing.assert_allclose(
        market["welfare"], sum(a.objective for a in res.agents if a.role != "noise")
    )
    assert market["volume"] > 0 and market["effective_spread"] > 0
