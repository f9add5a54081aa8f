"""Work and memory are estimated before anything is allocated: a stiff §2 system, a huge run
or a huge population is refused with the estimate, never left to hang or to die."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from policies.equilibrium import ExecutionGame
from simulator import simulate
from simulator.cli import EXIT_FAILED, main
from simulator.resources import InsufficientMemoryError
from simulator.simulation import CHUNK_BYTES, memory_plan
from tests.helpers import scenario, trader

GAME = dict(
    horizon=1.0,
    permanent_impact=0.3,
    running_penalty=[0.2, 0.5, 0.1],
    terminal_penalty=[1.0, 2.0, 0.5],
    initial_inventory=[5.0, -3.0, 2.0],
)


@pytest.mark.parametrize(("beta", "penalty"), [(1e-7, 1.0), (1e-15, 1e15)])
def test_a_too_stiff_riccati_system_is_refused_before_any_work(beta, penalty):
    game = ExecutionGame(**{**GAME, "terminal_penalty": [penalty, 2.0, 0.5]}, temporary_impact=beta)
    with pytest.raises(
        ValueError, match=r"too stiff to solve: .* sub-steps .*at most 20000.*raise β"
    ):
        game.solve()


def test_a_moderately_stiff_system_still_solves():
    sol = ExecutionGame(**GAME, temporary_impact=1e-4).solve()
    assert np.all(np.isfinite(sol.value))


@pytest.mark.parametrize(
    ("paths", "steps", "traders", "part"),
    [
        (10**12, 10, 1, "terminal costs"),
        (16, 10**10, 1, "16 recorded paths"),
        (10**8, 10, 10**4, "for 10000 agents"),
    ],
)
def test_a_run_too_large_for_memory_is_refused_with_the_estimate(paths, steps, traders, part):
    sc = scenario(
        "impact",
        tuple(trader(i, 1.0, policy="twap") for i in range(traders)),
        steps=steps,
        temporary_impact=0.1,
    )
    with pytest.raises(InsufficientMemoryError, match=rf"{part} .* is available; run fewer"):
        simulate(sc, paths=paths, record=16)


def test_many_paths_run_in_bounded_chunks_with_identical_results():
    sc = scenario("impact", (trader(0, 5.0, policy="twap"),), temporary_impact=0.1)
    chunk = memory_plan(sc, 10**7, 0)
    assert chunk < 10**7 and chunk * 8 * 16 <= CHUNK_BYTES
    whole = simulate(sc, paths=3000, seed=2, record=False)
    chunked = simulate(sc, paths=3000, seed=2, record=False, chunk_paths=700)
    for a, b in zip(whole.agents, chunked.agents, strict=True):
        np.testing.assert_array_equal(a.objective, b.objective)


def test_the_cli_refuses_a_run_too_large_with_one_line(tmp_path, capsys):
    path = Path(__file__).resolve().parents[1] / "runs" / "impact.toml"
    status = main(["run", str(path), "--paths", str(10**12), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert status == EXIT_FAILED and len(err.splitlines()) == 1, err
    assert "needs about" in err and "is available" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_a_population_of_too_many_trader_classes_is_refused_by_the_solver():
    n = 10**5  # distinct (φ, A) pairs: a 2·10⁵-square Hamiltonian (2.6 TB of exponentials)
    game = ExecutionGame(
        horizon=1.0,
        permanent_impact=0.3,
        temporary_impact=0.5,
        running_penalty=np.linspace(0.1, 1.0, n),
        terminal_penalty=1.0,
        initial_inventory=np.ones(n),
    )
    with pytest.raises(InsufficientMemoryError, match=r"100000 trader classes .* is available"):
        game.solve()


def test_a_finished_model_is_freed(acas_scenario):
    """mesa 3's class-level agent-id counter (Agent._ids) would keep every model and its buffers
    alive: a chunked run or a Dask worker would grow by one model per chunk."""
    import gc
    import weakref

    from simulator.model import MarketModel
    from simulator.simulation import build_policies

    model = MarketModel(acas_scenario, build_policies(acas_scenario), 8, 0)
    model.run()
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_finished_models_are_freed_without_the_cyclic_collector(acas_scenario, monkeypatch):
    """The model and its agents refer to each other; simulate and simulate_paths release each
    finished model, so its buffers go at once, not at the next (rare, on a large heap) cyclic
    collection: a Dask worker otherwise held ~70 MB per finished dataset block for a while."""
    import gc
    import weakref

    from simulator.model import MarketModel
    from simulator.processes import NoiseRates
    from simulator.simulation import build_policies, simulate, simulate_paths

    refs = []
    real_run = MarketModel.run

    def run(self, *args, **kwargs):
        refs.append(weakref.ref(self))
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(MarketModel, "run", run)
    policies = build_policies(acas_scenario)
    noise = NoiseRates(acas_scenario.noise, 1, acas_scenario.steps, acas_scenario.dt).active
    gc.collect()
    gc.disable()
    try:
        simulate(acas_scenario, paths=16, chunk_paths=8)
        simulate_paths(acas_scenario, policies, 0, 16, 24, 24, noise)
        alive = [r() is not None for r in refs]
    finally:
        gc.enable()
    assert alive == [False, False, False]
