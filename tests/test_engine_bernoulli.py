"""Bernoulli order flow (at most one lot per quote side and step), bounded intensities, markets
of makers only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator import NoiseSpec, simulate
from tests.helpers import maker, scenario, trader

K, A, STEPS = 1.5, 140.0, 200


def _one_maker(ask: float, bid: float, lot: float = 1.0, **kw):
    """A lone maker with constant quotes against noise orders at rate A (the AS 2008 market)."""
    return scenario(
        "best_quote",
        (),
        (maker(0, ask=ask, bid=bid),),
        steps=STEPS,
        noise=NoiseSpec(buy_rate=A, sell_rate=A),
        flow="bernoulli",
        lot_size=lot,
        intensity_decay=K,
        **kw,
    )


@pytest.mark.parametrize(("lot", "ask", "bid"), [(1.0, 0.6, 1.1), (0.5, 0.4, 2.0), (0.1, 0.2, 0.3)])
def test_bernoulli_fills_one_lot_per_side_with_probability_min_one_intensity_dt(lot, ask, bid):
    sc = _one_maker(ask, bid, lot)
    res = simulate(sc, paths=400, seed=1, record=400)
    mk, noise = res.agent("maker_0"), res.agent("noise")
    for volume in (mk.sell_volume, mk.buy_volume, noise.buy_volume, noise.sell_volume):
        assert set(np.unique(volume)) <= {0.0, lot}  # at most one lot per stream and step
    for volume, delta in ((mk.sell_volume, ask), (mk.buy_volume, bid)):
        p = min(1.0, A * math.exp(-K * delta) * sc.dt / lot)
        freq = (volume == lot).mean()
        assert abs(freq - p) <= 4 * math.sqrt(p * (1 - p) / volume.size) + 1e-12
    np.testing.assert_allclose(np.diff(mk.inventory, axis=0), mk.buy_volume - mk.sell_volume)
    p_noise = min(1.0, A * sc.dt / lot)
    assert (
        abs((noise.buy_volume == lot).mean() - p_noise)
        <= 4 * math.sqrt(p_noise * (1 - p_noise) / noise.buy_volume.size) + 1e-12
    )


def test_bernoulli_traders_fill_at_most_one_lot_per_step():
    sc = scenario(
        "best_quote",
        (trader(0, q0=-5.0, rate=4.0),),
        (maker(0, ask=0.5, bid=0.5),),
        steps=100,
        noise=NoiseSpec(buy_rate=10.0, sell_rate=10.0),
        flow="bernoulli",
        lot_size=0.1,
        temporary_impact=0.2,
    )
    tr = simulate(sc, paths=300, seed=2, record=300).agent("trader_0")
    assert set(np.unique(tr.buy_volume)) <= {0.0, 0.1}
    p = 4.0 * sc.dt / 0.1
    assert abs((tr.buy_volume > 0).mean() - p) <= 4 * math.sqrt(p * (1 - p) / tr.buy_volume.size)


@pytest.mark.parametrize(("kind", "why"), [("impact", "§2 has no quotes"), ("logit", "§5 routes")])
def test_bernoulli_flow_is_rejected_where_quote_sides_do_not_cap_fills(kind, why):
    makers = () if kind == "impact" else (maker(0, ask=0.5, bid=0.5),)
    with pytest.raises(ValueError, match=f"flow = 'bernoulli' is not allowed.*{why}"):
        scenario(kind, (trader(0, q0=1.0),), makers, flow="bernoulli", temporary_impact=0.1)


@pytest.mark.parametrize("flow", ["fluid", "poisson", "bernoulli"])
def test_runaway_quote_raises_a_clear_error_naming_maker_quote_step_and_remedy(flow):
    # Avellaneda–Stoikov at γ = 1 with a large inventory: δᵃ = … − qγσ²τ ≈ −200, Λ = e^{300}
    sc = scenario(
        "best_quote",
        (),
        (maker(0, q0=50.0, policy="avellaneda_stoikov", risk_aversion=1.0, volatility=2.0),),
        steps=STEPS,
        noise=NoiseSpec(buy_rate=A, sell_rate=A),
        flow=flow,
        intensity_decay=K,
    )
    with pytest.raises(ValueError) as err:
        simulate(sc, paths=8, seed=0)
    msg = str(err.value)
    for part in ("maker 'maker_0'", "ask half-spread δ = -19", "step 0", "max_spread", "min_half"):
        assert part in msg
    assert "lam value too large" not in msg


def test_finite_max_spread_bounds_the_intensities_of_runaway_quotes():
    sc = scenario(
        "best_quote",
        (),
        (maker(0, q0=50.0, policy="avellaneda_stoikov", risk_aversion=1.0, volatility=2.0),),
        steps=STEPS,
        noise=NoiseSpec(buy_rate=A, sell_rate=A),
        flow="poisson",
        intensity_decay=K,
        max_spread=5.0,
    )
    mk = simulate(sc, paths=64, seed=0, record=64).agent("maker_0")
    assert np.all(np.isfinite(mk.objective)) and np.all(mk.sell_volume <= 1e6)


def test_a_market_of_makers_only_needs_no_temporary_impact():
    sc = _one_maker(0.7, 0.7)  # no temporary_impact given
    assert sc.market.temporary_impact == 0.0
    assert np.isfinite(simulate(sc, paths=16, seed=0).payoffs()["mean"]).all()
    with pytest.raises(ValueError, match=r"temporary_impact = 0.0 .*must be > 0 when there are tr"):
        scenario("best_quote", (trader(0, q0=1.0),), (maker(0, ask=0.5, bid=0.5),))
