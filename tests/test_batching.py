"""Traders sharing a policy act as one batch (one call over an (M, k) block) and play exactly
what each would play alone."""

from __future__ import annotations

import numpy as np
import pytest

from agents import TraderBatch
from policies.base import MarketState, Policy
from simulator import simulate
from simulator.model import MarketModel
from simulator.scenario import NoiseSpec
from simulator.simulation import build_policies
from tests.helpers import scenario as build_scenario
from tests.helpers import trader


class Alone(Policy):
    """The wrapped policy, acting for its agent only (no batch key)."""

    def __init__(self, inner: Policy) -> None:
        self.inner, self.role, self.name = inner, inner.role, inner.name

    def act(self, state: MarketState) -> np.ndarray:
        return self.inner.act(state)


def _scenario(policy: str, **params):
    # five traders share the policy; trader_2 (other parameters) acts alone, so the batch's
    # rows are not contiguous
    traders = tuple(
        trader(i, q, policy="almgren_chriss", A=3.0)
        if i == 2
        else trader(i, q, policy=policy, phi=0.2, A=1.0, **params)
        for i, q in enumerate((4.0, -2.0, 2.0, 3.0, 1.5, -0.5))
    )
    return build_scenario(
        "impact",
        traders,
        steps=30,
        noise=NoiseSpec(buy_rate=2.0, sell_rate=1.0),
        permanent_impact=0.2,
        temporary_impact=0.6,
        flow="poisson",
        lot_size=0.05,
    )


@pytest.mark.parametrize(
    ("policy", "params"),
    [
        ("twap", {}),
        ("twap", {"reactive": True}),
        ("almgren_chriss", {}),
        ("participation", {"participation": 0.5}),
        ("equilibrium", {}),
        ("equilibrium_open_loop", {}),
    ],
)
def test_a_batch_plays_bit_for_bit_what_each_agent_plays_alone(policy, params):
    scn = _scenario(policy, **params)
    built = build_policies(scn)
    model = MarketModel(scn, built, paths=8, seed=1)
    batches = [a for a in model._trading if isinstance(a, TraderBatch)]
    assert len(batches) == 1 and len(batches[0].traders) == 5
    batched = simulate(scn, paths=64, seed=3)
    alone = simulate(
        scn,
        paths=64,
        seed=3,
        policies={a.name: Alone(p) for a, p in zip(scn.agents, built, strict=True)},
    )
    for a, b in zip(batched.agents, alone.agents, strict=True):
        for field in ("objective", "inventory", "cash", "rate"):
            x, y = getattr(a, field), getattr(b, field)
            if x is not None:
                assert x.tobytes() == y.tobytes(), (a.name, field)


def test_a_batch_returning_the_wrong_shape_is_named():
    class Bad(Policy):
        role, name = "trader", "bad"

        def batch_key(self):
            return "bad"

        def act(self, state: MarketState) -> np.ndarray:
            return np.zeros(state.paths)

    scn = _scenario("twap")
    with pytest.raises(ValueError, match=r"policy 'bad' of the batch trader_0.*\(paths, agents\)"):
        simulate(scn, paths=4, policies={a.name: Bad() for a in scn.traders[:3]})
