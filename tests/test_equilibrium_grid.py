"""A §2 equilibrium feedback played on a grid too coarse for it is refused up front (it would
run away to NaN in the simulator although ``solve()`` is finite)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from simulator import load_scenario, simulate


def _long_horizon(steps: int):
    """The twins example on a horizon of 100: the feedback reacts at a rate of order 1."""
    sc = load_scenario(
        Path(__file__).resolve().parents[1] / "runs" / "execution_vs_heuristics.toml"
    )
    return dataclasses.replace(sc, horizon=100.0, steps=steps)


def test_a_coarse_grid_is_refused_with_the_steps_that_work():
    with pytest.raises(ValueError, match=r"steps = 10 \(dt = 10\) is too coarse") as err:
        simulate(_long_horizon(10), paths=4)
    needed = int(re.search(r"use steps >= (\d+)", str(err.value)).group(1))
    res = simulate(_long_horizon(needed), paths=4)
    assert all(np.isfinite(a.objective).all() for a in res.agents)


def test_the_example_grid_passes_the_check():
    res = simulate(dataclasses.replace(_long_horizon(200), horizon=1.0), paths=4)
    assert all(np.isfinite(a.objective).all() for a in res.agents)
