"""Every checked-in example scenario (``runs/*.toml``) loads, runs and writes its outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator import load_scenario
from simulator.cli import examples_dir
from simulator.runner import run

EXAMPLES = sorted(examples_dir().glob("*.toml"))
SMALL_PATHS = 48  # enough for standard errors; the examples' default is larger


def _plotted(paths: list[Path]) -> set[Path]:
    """Plots dominate the run time of small runs: render them for the first §2 example only,
    whose price panel has the impact branch (S − P); tests/test_runner.py renders the quote
    markets' plots."""
    impact = [p for p in paths if load_scenario(p).market.kind == "impact"]
    return set(impact[:1])


PLOTTED = _plotted(EXAMPLES)


def test_there_is_an_example_for_every_market():
    kinds = {load_scenario(path).market.kind for path in EXAMPLES}
    assert kinds >= {"impact", "best_quote", "acas", "logit"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_traders_work_their_orders(path: Path, tmp_path):
    summary = run(
        path,
        out=tmp_path,
        paths=SMALL_PATHS,
        progress=False,
        record_paths=4,
        plots=path in PLOTTED,
    )
    scenario = summary.scenario
    assert {p.name for p in tmp_path.iterdir()} == set(summary.files)
    payoffs = summary.payoffs.set_index("agent")
    for spec in scenario.agents:
        assert np.isfinite(payoffs.loc[spec.name, "mean"])
        assert payoffs.loc[spec.name, "paths"] == SMALL_PATHS
    for spec in scenario.traders:
        q = summary.result.agent(spec.name).inventory
        # every trader trades toward zero: the terminal position is smaller than the initial one
        assert np.all(np.abs(q[-1]) < abs(spec.initial_inventory)), spec.name
