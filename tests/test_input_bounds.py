"""Inputs that float64 cannot simulate are refused at the source, with the bound; agent names
cannot collide with the built-in noise traders or be blank."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from policies.heuristics.market_making import _avellaneda_stoikov
from policies.registry import PolicyContext
from simulator import NoiseSpec, PriceSpec, simulate
from simulator.cli import main
from simulator.scenario import AgentSpec, Scenario
from simulator.validation import MAX_MAGNITUDE, MIN_MAGNITUDE
from tests.helpers import maker, scenario, trader

BOUND = r"magnitude must be 0 or lie in \[1e-15, 1e\+15\]"


def _impact(**kw):
    return scenario("impact", (trader(0, 5.0),), permanent_impact=0.1, temporary_impact=0.2, **kw)


@pytest.mark.parametrize("value", [1e308, -1e308, 1e16, 5e-324, 1e-200, -1e-16])
def test_unrepresentable_numbers_are_refused_with_the_bound(value):
    with pytest.raises(ValueError, match=rf"trader_0.initial_inventory = .* {BOUND}"):
        trader(0, value)
    with pytest.raises(ValueError, match=rf"price.initial = .* {BOUND}"):
        PriceSpec(initial=value)
    base = _impact()
    with pytest.raises(ValueError, match=r"horizon = .*"):
        dataclasses.replace(base, horizon=abs(value))


def test_the_bounds_themselves_are_allowed():
    for value in (MAX_MAGNITUDE, -MAX_MAGNITUDE, MIN_MAGNITUDE, 0.0):
        assert trader(0, value).initial_inventory == value
    sc = dataclasses.replace(_impact(), horizon=MIN_MAGNITUDE)
    assert sc.dt == MIN_MAGNITUDE / sc.steps


@pytest.mark.parametrize("volatility", [1e-200, 1e200])
def test_avellaneda_stoikov_at_extreme_volatility_is_refused_not_crashed(volatility):
    sc = scenario(
        "best_quote",
        (trader(0, -1.0),),
        (maker(0, policy="avellaneda_stoikov", phi=1.0, volatility=volatility),),
        noise=NoiseSpec(buy_rate=1.0, sell_rate=1.0),
        temporary_impact=0.1,
    )
    with pytest.raises(ValueError, match=r"makers\[0\] \('maker_0'\).params.volatility"):
        _avellaneda_stoikov(PolicyContext(sc, sc.makers[0], {}))


def test_avellaneda_stoikov_default_risk_aversion_out_of_range_names_its_source():
    # γ = 2φ/σ² = 2e30 with σ = 1e-15: refused, naming the running penalty it comes from
    sc = scenario(
        "best_quote",
        (trader(0, -1.0),),
        (maker(0, policy="avellaneda_stoikov", phi=1.0),),
        noise=NoiseSpec(buy_rate=1.0, sell_rate=1.0),
        temporary_impact=0.1,
        volatility=1e-15,
    )
    with pytest.raises(ValueError, match=r"running_penalty \(γ = 2φ/σ²\) = 1.99.*e\+30"):
        simulate(sc, paths=4)


@pytest.mark.parametrize("name", ["noise", "", "   "])
def test_reserved_and_blank_agent_names_are_refused(name):
    with pytest.raises(ValueError, match=r"reserved for the built-in noise|non-blank string"):
        AgentSpec(name, "trader", "twap", 1.0)
    data = {
        "name": "x",
        "horizon": 1.0,
        "steps": 4,
        "market": {"kind": "impact", "temporary_impact": 0.1},
        "traders": [{"name": name, "policy": "twap", "initial_inventory": 1.0}],
    }
    with pytest.raises(ValueError, match=r"traders\[0\].name = "):
        Scenario.from_dict(data)


def test_a_zero_base_factor_intensity_with_a_huge_loading_is_zero_not_nan():
    """κ = buy_base·e^{buy_loading·L} with base 0 and loading 1000: 0, not 0·inf = NaN."""
    from simulator import load_scenario

    sc = load_scenario(Path(__file__).resolve().parents[1] / "runs" / "logit.toml")
    factor = dataclasses.replace(sc.noise.factor, buy_base=0.0, buy_loading=1000.0, volatility=2.0)
    sc = dataclasses.replace(sc, noise=dataclasses.replace(sc.noise, factor=factor))
    res = simulate(sc, paths=64, seed=3, record=64)
    assert np.all(res.market["noise_buy_rate"] == 0.0)
    assert all(np.isfinite(a.objective).all() for a in res.agents)


def test_a_runaway_intensity_decay_is_one_line_not_nan(tmp_path, capsys):
    """γ = 120 in the ACAS example: exp(γ·δ) overflows; a clear error instead of nan ± nan."""
    path = tmp_path / "acas.toml"
    text = (Path(__file__).resolve().parents[1] / "runs" / "acas.toml").read_text()
    path.write_text(re.sub(r"(?m)^intensity_decay = .*$", "intensity_decay = 120.0", text))
    status = main(["run", str(path), "--paths", "8", "--out", str(tmp_path / "o"), "--no-plots"])
    err = capsys.readouterr().err.strip()
    assert status != 0 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()
