"""Randomness is keyed by path: same seed → same arrays; path i's numbers depend only on
(seed, i), so neither the number of paths nor the chunking changes them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulator import FactorSpec, NoiseSpec, simulate
from simulator.processes import BLOCK
from tests.helpers import maker, scenario, trader


def _all_arrays(res):
    out = {"reference_price": res.reference_price, **res.market}
    for a in res.agents:
        for key, value in vars(a).items():
            if isinstance(value, np.ndarray):
                out[f"{a.name}.{key}"] = value
    return out


def _scenarios():
    poisson = dict(steps=12, flow="poisson")  # short runs in Poisson mode; lots per market below
    logit = scenario(
        "logit",
        (trader(0, -3.0, policy="test_feedback", phi=0.1),),
        (maker(0, policy="test_skewed_spread", spread=0.3, skew=0.2), maker(1, ask=0.4, bid=0.2)),
        noise=NoiseSpec(factor=FactorSpec(volatility=1.0)),
        temporary_impact=0.3,
        inventory_noise=0.2,
        max_rate=20.0,
        lot_size=0.1,
        **poisson,
    )
    impact = scenario(
        "impact",
        (trader(0, 5.0, policy="test_feedback", A=1.0), trader(1, -2.0, rate=1.0)),
        noise=NoiseSpec(buy_rate=1.0, sell_rate=(0.5, 2.0)),
        permanent_impact=0.2,
        temporary_impact=0.1,
        lot_size=0.2,
        **poisson,
    )
    best = scenario(
        "best_quote",
        (trader(0, 2.0, policy="test_feedback"),),
        (maker(0, policy="test_skewed_spread", spread=0.2, skew=0.5),),
        noise=NoiseSpec(buy_rate=2.0, sell_rate=2.0),
        temporary_impact=0.3,
        max_rate=50.0,
        lot_size=0.1,
        **poisson,
    )
    return {
        "logit_poisson": logit,
        "impact_poisson": impact,
        "best_quote_poisson": best,
        "best_quote_bernoulli": dataclasses.replace(best, flow="bernoulli"),
        "logit_fluid": dataclasses.replace(logit, flow="fluid"),
    }


@pytest.mark.parametrize("name", list(_scenarios()))
def test_chunked_run_is_bit_identical_to_one_piece(name):
    sc = _scenarios()[name]
    paths = 2 * BLOCK + 300  # a partial last block
    whole = simulate(sc, paths=paths, seed=21)
    chunked = simulate(sc, paths=paths, seed=21, chunk_paths=BLOCK)
    a, b = _all_arrays(whole), _all_arrays(chunked)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    # and the paths really differ from one another (randomness is not shared across paths)
    assert np.unique(whole.reference_price[-1]).size == paths


def test_same_seed_same_arrays_other_seed_other_arrays():
    sc = _scenarios()["logit_poisson"]
    r1, r2, r3 = (simulate(sc, paths=200, seed=s) for s in (5, 5, 6))
    for key, value in _all_arrays(r1).items():
        np.testing.assert_array_equal(value, _all_arrays(r2)[key], err_msg=key)
    assert not np.array_equal(r1.reference_price, r3.reference_price)
    assert not np.array_equal(r1.agent("maker_0").sell_volume, r3.agent("maker_0").sell_volume)


@pytest.mark.parametrize("name", list(_scenarios()))
def test_path_draws_depend_only_on_seed_and_path_index(name):
    """The first 1000 paths of a 1000-path run are those of a 2048-path run and of runs split
    into chunks of other sizes (chunks starting inside a block, a partial last block)."""
    sc = _scenarios()[name]
    small = _all_arrays(simulate(sc, paths=1000, seed=4))
    for paths, chunk in ((1000, 300), (2 * BLOCK, None), (2 * BLOCK, 700), (1500, 1001)):
        other = _all_arrays(simulate(sc, paths=paths, seed=4, chunk_paths=chunk))
        for key, value in small.items():
            np.testing.assert_array_equal(
                value, other[key][..., :1000], err_msg=f"{key} ({paths} paths, chunks {chunk})"
            )


def test_record_false_keeps_identical_terminal_objectives():
    sc = _scenarios()["impact_poisson"]
    full = simulate(sc, paths=1500, seed=3)
    bare = simulate(sc, paths=1500, seed=3, record=False, chunk_paths=BLOCK)
    part = simulate(sc, paths=1500, seed=3, record=7)
    assert bare.reference_price.shape == (sc.steps + 1, 0)
    assert part.reference_price.shape == (sc.steps + 1, 7)
    np.testing.assert_array_equal(part.reference_price, full.reference_price[:, :7])
    for a in full.agents:
        np.testing.assert_array_equal(bare.agent(a.name).objective, a.objective)
        np.testing.assert_array_equal(part.agent(a.name).running_cost, a.running_cost)
        np.testing.assert_array_equal(part.agent(a.name).inventory, a.inventory[:, :7])
    assert bare.payoffs().equals(full.payoffs())
