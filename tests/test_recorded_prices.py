"""The recorder keeps the per-share prices of every fill, and they reproduce the cash flows.

A trader's cash moves by −fill_price·(bought − sold) and the noise traders' by
sell_price·sold − buy_price·bought, step by step, in every mechanism and flow mode (these
prices are what the event datasets report).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from simulator import simulate
from simulator.scenario import Scenario

RUNS = Path(__file__).resolve().parents[1] / "runs"


def _small(name: str, **overrides: object) -> Scenario:
    data = tomllib.loads((RUNS / name).read_text())
    data.update({"steps": 20, "paths": 8, **overrides})
    return Scenario.from_dict(data)


@pytest.mark.parametrize(
    ("name", "flow"),
    [
        ("impact.toml", "fluid"),
        ("impact.toml", "poisson"),
        ("acas_vs_heuristics_poisson.toml", "poisson"),
        ("best_quote.toml", "fluid"),
        ("logit.toml", "poisson"),
    ],
)
def test_recorded_fill_prices_reproduce_the_cash_flows(name: str, flow: str) -> None:
    res = simulate(_small(name, flow=flow, lot_size=0.05), seed=3)
    checked = 0
    for a in res.agents:
        dcash = np.diff(a.cash, axis=0)
        scale = 1.0 + np.abs(a.cash[1:])
        if a.role == "trader":
            flow_cash = -a.fill_price * (a.buy_volume - a.sell_volume)
        elif a.role == "noise":
            flow_cash = a.sell_price * a.sell_volume - a.buy_price * a.buy_volume
        else:
            continue
        # Δcash is the flow up to the rounding of the cumulative sum
        assert np.all(np.abs(dcash - flow_cash) <= 1e-13 * scale)
        assert np.abs(flow_cash).max() > 0
        checked += 1
    assert checked >= 2


def test_a_recorder_of_one_block_holds_that_block_of_the_full_run() -> None:
    from simulator.model import MarketModel, Recorder
    from simulator.processes import BLOCK
    from simulator.simulation import build_policies

    sc = _small("acas_vs_heuristics_poisson.toml", steps=5)
    full = simulate(sc, paths=2 * BLOCK, seed=4)
    rec = Recorder(sc, BLOCK, BLOCK, noise=True, first=BLOCK)
    MarketModel(sc, build_policies(sc), BLOCK, 4, start=BLOCK, recorder=rec).run()
    for a, arrays in zip(full.agents, rec.agents, strict=True):
        assert np.array_equal(a.inventory[:, BLOCK:], arrays["inventory"])
        assert np.array_equal(a.objective[BLOCK:], arrays["objective"])
