"""Scenario validation: every bad input gives a ValueError naming the field, value and rule."""

from __future__ import annotations

import copy
import re

import pytest

from simulator import Scenario, load_scenario, simulate
from simulator.mechanisms.base import MarketSpec
from simulator.mechanisms.best_quote import AcasSpec, BestQuoteSpec
from simulator.mechanisms.impact import ImpactSpec
from simulator.scenario import AgentSpec, market_spec
from simulator.simulation import build_policies

VALID = {
    "name": "acas_test",
    "horizon": 1.0,
    "steps": 20,
    "paths": 64,
    "seed": 3,
    "flow": "fluid",
    "market": {
        "kind": "acas",
        "temporary_impact": 0.2,
        "intensity_decay": 1.5,
        "max_spread": 4.0,
        "min_rate": 0.1,
        "max_rate": 20.0,
    },
    "price": {"initial": 10.0, "volatility": 0.5},
    "noise": {"buy_rate": 2.0, "sell_rate": [1.0, 3.0]},
    "traders": [
        {
            "policy": "test_constant_rate",
            "initial_inventory": -4.0,
            "terminal_penalty": 1.0,
            "params": {"rate": 3.0},
        }
    ],
    "makers": [
        {"policy": "test_constant_spread", "initial_inventory": 0.0},
        {
            "name": "mm_b",
            "policy": "test_constant_spread",
            "initial_inventory": 1.0,
            "running_penalty": 0.1,
            "params": {"ask": 0.5, "bid": 0.7},
        },
    ],
}

TOML = """
name = "acas_test"
horizon = 1.0
steps = 20
paths = 64
seed = 3

[market]
kind = "acas"
temporary_impact = 0.2
intensity_decay = 1.5
max_spread = 4.0
min_rate = 0.1
max_rate = 20.0

[price]
initial = 10.0
volatility = 0.5

[noise]
buy_rate = 2.0
sell_rate = [1.0, 3.0]

[[traders]]
policy = "test_constant_rate"
initial_inventory = -4.0
terminal_penalty = 1.0
params = { rate = 3.0 }

[[makers]]
policy = "test_constant_spread"
initial_inventory = 0.0

[[makers]]
name = "mm_b"
policy = "test_constant_spread"
initial_inventory = 1.0
running_penalty = 0.1
params = { ask = 0.5, bid = 0.7 }
"""


def test_toml_and_dict_give_the_same_valid_scenario_with_default_names(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TOML)
    from_toml = load_scenario(path)
    assert from_toml == Scenario.from_dict(VALID)
    assert [a.name for a in from_toml.agents] == ["trader_0", "maker_0", "mm_b"]
    assert [a.role for a in from_toml.agents] == ["trader", "maker", "maker"]
    assert from_toml.noise.sell_rate == (1.0, 3.0)
    assert from_toml.traders[0].params == {"rate": 3.0}
    assert from_toml.dt == pytest.approx(0.05)
    res = simulate(from_toml)  # scenario defaults for paths and seed
    assert res.paths == 64 and res.seed == 3


def _mutated(path: str, value, delete: bool = False) -> dict:
    data = copy.deepcopy(VALID)
    keys = re.findall(r"[^.\[\]]+", path)
    node = data
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    last = int(keys[-1]) if keys[-1].isdigit() else keys[-1]
    if delete:
        del node[last]
    else:
        node[last] = value
    return data


BAD = [
    # (mutated key, value, substrings the message must contain)
    ("colour", "red", ["unknown key 'colour'"]),
    ("market.gamma", 1.0, ["unknown key 'market.gamma'", "intensity_decay"]),
    ("traders.0.size", 1.0, ["unknown key 'traders[0].size'"]),
    ("noise.factor", {"speed": 1.0}, ["unknown key 'noise.factor.speed'"]),
    ("horizon", "1.0", ["horizon", "'1.0'", "number"]),
    ("horizon", 0.0, ["horizon = 0.0", "> 0"]),
    ("steps", 0, ["steps = 0", ">= 1"]),
    ("steps", 2.5, ["steps = 2.5", "integer"]),
    ("paths", -1, ["paths = -1"]),
    ("flow", "jumpy", ["flow = 'jumpy'", "fluid, poisson"]),
    ("lot_size", 0.0, ["lot_size = 0.0", "> 0"]),
    ("noise.buy_rate", -1.0, ["noise.buy_rate = -1.0", ">= 0"]),
    ("noise.sell_rate", [1.0, -2.0], ["noise.sell_rate[1] = -2.0"]),
    ("price.volatility", -0.1, ["price.volatility = -0.1"]),
    ("makers.1.running_penalty", -0.1, ["makers[1].running_penalty = -0.1", ">= 0"]),
    ("traders.0.terminal_penalty", -1.0, ["traders[0].terminal_penalty = -1.0"]),
    ("traders.0.initial_inventory", "lots", ["traders[0].initial_inventory = 'lots'"]),
    ("traders.0.initial_inventory", 0.0, ["traders[0].initial_inventory = 0.0", "q₀ ≠ 0"]),
    ("market.kind", "dark_pool", ["market.kind = 'dark_pool'", "impact, best_quote"]),
    ("market.min_rate", 30.0, ["market.min_rate = 30.0", "max_rate = 20.0", "[ε, ξ̃]"]),
    ("market.max_spread", 0.0, ["market.max_spread = 0.0", "> 0"]),
    ("market.max_spread", -1.0, ["market.max_spread = -1.0"]),
    ("market.temporary_impact", 0.0, ["market.temporary_impact = 0.0", "Assumption 2.4"]),
    ("market.intensity_decay", -1.0, ["market.intensity_decay = -1.0"]),
    ("market.cost_coupling", 2.5, ["market.cost_coupling = 2.5", "|c| < 2"]),
    ("market.temporary_cost", "aggregated", ["market.temporary_cost = 'aggregated'", "acas"]),
    ("market.share_offsets", [0.0, 1.0], ["market.share_offsets", "logit"]),
    ("market.inventory_noise", 0.1, ["market.inventory_noise = 0.1", "logit"]),
    ("market.cross_impact", 1.0, ["market.cross_impact = 1.0", "only used by", "'impact' (§2)"]),
    ("noise.factor", {"reversion": 1.0}, ["noise.factor", "logit"]),
    ("makers.1.name", "maker_0", ["'maker_0' is used twice"]),
    ("traders.0.params", 3, ["traders[0].params = 3"]),
]


@pytest.mark.parametrize(("key", "value", "needles"), BAD, ids=[b[0] for b in BAD])
def test_each_bad_input_raises_value_error_naming_field_and_value(key, value, needles):
    with pytest.raises(ValueError) as err:
        Scenario.from_dict(_mutated(key, value))
    for needle in needles:
        assert needle in str(err.value), str(err.value)


BAD_POLICY = [
    ("traders.0.policy", "telepathy", ["traders[0].policy = 'telepathy'", "test_constant_rate"]),
    ("makers.0.policy", "test_constant_rate", ["makers[0].policy = 'test_constant_rate'"]),
]


@pytest.mark.parametrize(("key", "value", "needles"), BAD_POLICY, ids=[b[0] for b in BAD_POLICY])
def test_unknown_policy_name_is_refused_before_anything_runs(key, value, needles):
    """Scenarios know no policies; the names are checked where policies are built, first."""
    scenario = Scenario.from_dict(_mutated(key, value))
    for call in (lambda: build_policies(scenario), lambda: simulate(scenario, paths=1)):
        with pytest.raises(ValueError) as err:
            call()
        for needle in needles:
            assert needle in str(err.value), str(err.value)


@pytest.mark.parametrize("key", ["name", "market", "traders.0.policy", "market.kind"])
def test_missing_required_key_is_named(key):
    with pytest.raises(ValueError, match=re.escape(key.split(".")[-1]) + ".* missing"):
        Scenario.from_dict(_mutated(key, None, delete=True))


def test_acas_needs_one_trader_and_two_makers():
    data = copy.deepcopy(VALID)
    data["makers"] = data["makers"][:1]
    with pytest.raises(ValueError, match=r"exactly 1 trader and 2 makers.*1 trader\(s\) and 1"):
        Scenario.from_dict(data)


def test_logit_offsets_must_match_makers():
    data = copy.deepcopy(VALID)
    data["market"] = {"kind": "logit", "temporary_impact": 0.2, "share_offsets": [0.0, 1.0, 2.0]}
    with pytest.raises(ValueError, match=r"share_offsets.*3 entries.*one offset per maker \(2\)"):
        Scenario.from_dict(data)
    data["market"]["share_offsets"] = [0.0, 1.0]
    assert Scenario.from_dict(data).market.share_offsets == (0.0, 1.0)


def test_impact_market_rejects_makers_and_accepts_flat_trader():
    data = copy.deepcopy(VALID)
    data["market"] = {"kind": "impact", "temporary_impact": 0.2, "permanent_impact": 0.1}
    with pytest.raises(ValueError, match="makers has 2 entries.*no market makers"):
        Scenario.from_dict(data)
    del data["makers"]
    data["traders"][0]["initial_inventory"] = 0.0  # q₀ = 0 is fine in §2
    assert Scenario.from_dict(data).traders[0].initial_inventory == 0.0


def test_each_kind_has_its_own_spec_which_refuses_the_other_kinds_fields():
    assert type(Scenario.from_dict(VALID).market) is AcasSpec
    with pytest.raises(
        ValueError,
        match=r"market\.max_spread = 1\.0 is not allowed for market\.kind = 'impact'; it is only "
        r"used by market\.kind = 'best_quote' \(§3\), 'acas' \(§4\), 'logit' \(§5\)",
    ):
        market_spec("impact", temporary_impact=1.0, max_spread=1.0)
    with pytest.raises(
        ValueError,
        match=r"unknown key 'market\.gamma'; allowed keys in market for kind 'impact': "
        r"cross_impact, kind, permanent_impact, temporary_impact$",
    ):
        market_spec("impact", gamma=1.0)
    with pytest.raises(TypeError, match="MarketSpec is the base of the market specs"):
        MarketSpec(temporary_impact=1.0)


def test_direct_construction_validates_too():
    with pytest.raises(ValueError, match=r"market.max_spread = 0"):
        BestQuoteSpec(temporary_impact=1.0, max_spread=0)
    with pytest.raises(ValueError, match=r"market.cross_impact = 2.0 must lie in \[0, 2\)"):
        ImpactSpec(temporary_impact=1.0, cross_impact=2.0)
    with pytest.raises(ValueError, match=r"trader_9.running_penalty = -2"):
        AgentSpec("trader_9", "trader", "twap", 1.0, running_penalty=-2)
    good = Scenario.from_dict(VALID)
    with pytest.raises(ValueError, match="traders\\[0\\].role = 'maker'"):
        Scenario(
            name="x",
            market=good.market,
            horizon=1.0,
            steps=5,
            traders=(good.makers[0],),
            makers=good.makers,
        )


def test_simulate_arguments_are_validated():
    sc = Scenario.from_dict(VALID)
    with pytest.raises(ValueError, match="chunk_paths = 0 must be a positive integer"):
        simulate(sc, paths=3000, chunk_paths=0)
    with pytest.raises(ValueError, match="record = -1"):
        simulate(sc, paths=10, record=-1)
    with pytest.raises(ValueError, match="paths = 0"):
        simulate(sc, paths=0)
    with pytest.raises(ValueError, match=r"policies = \['nobody'\] name no agent"):
        simulate(sc, paths=10, policies={"nobody": None})


def test_invalid_toml_is_a_value_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("name = \n")
    with pytest.raises(ValueError, match="invalid TOML"):
        load_scenario(path)
