"""``run --workers K / --scheduler ADDRESS``: path blocks as Dask tasks on a real loopback
cluster give the same bytes in every output file as the in-process run, for any worker count and
block size; cluster failures are one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.cli import main
from simulator.processes import BLOCK
from simulator.runner import run
from simulator.simulation import simulate, simulate_on_cluster
from tests.test_datasets import QUOTE_MARKET, quote_scenario

PATHS = 2 * BLOCK + 300  # the last block partial


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


def test_cluster_runs_write_the_same_bytes_for_any_worker_count_and_block_size(
    cluster: str, tmp_path: Path
) -> None:
    sc = quote_scenario("poisson", steps=6)
    kwargs = dict(paths=PATHS, seed=5, progress=False, record_paths=800, plots=False)
    run(sc, out=tmp_path / "local", **kwargs)
    reference = _files(tmp_path / "local")
    assert set(reference) == {"payoffs.csv", "steps.parquet", "summary.json"}
    for name, options in {
        "two workers, default blocks": dict(scheduler=cluster),
        "two workers, blocks of 700 (recorded paths in two blocks)": dict(
            scheduler=cluster, block_paths=700
        ),
        "two workers, blocks of 333": dict(scheduler=cluster, block_paths=333),
    }.items():
        out = tmp_path / name.replace(" ", "_")
        run(sc, out=out, **kwargs, **options)
        assert _files(out) == reference, name


def test_objective_only_cluster_result_is_bit_identical_to_simulate(cluster: str) -> None:
    sc = quote_scenario("fluid", "logit", steps=5)
    seen: list[tuple[int, int]] = []
    got = simulate_on_cluster(
        sc,
        PATHS,
        9,
        record=0,
        scheduler=cluster,
        block_paths=500,
        progress=lambda d, t: seen.append((d, t)),
    )
    want = simulate(sc, PATHS, 9, record=False)
    assert got.recorded_paths == 0
    for a, b in zip(got.agents, want.agents, strict=True):
        for name in ("objective", "running_cost", "terminal_cost"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=a.name)
    assert [t for _, t in seen] == [PATHS] * 5 and seen[-1][0] == PATHS
    assert np.all(np.diff([d for d, _ in seen]) > 0)


def test_cli_run_on_one_local_worker_matches_the_in_process_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "s.toml"
    text = QUOTE_MARKET.format(flow="poisson", kind="best_quote", steps=5, market="")
    scenario.write_text(text.replace("[market]", '[market]\nintensity = "exponential"'))
    base = ["run", str(scenario), "--paths", "300", "--no-progress", "--no-plots"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "b"), "--workers", "1"]) == 0
    assert "small_quotes (best_quote): 300 paths" in capsys.readouterr().out
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_cluster_options_fail_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    scenario = tmp_path / "s.toml"
    text = QUOTE_MARKET.format(flow="fluid", kind="best_quote", steps=3, market="")
    scenario.write_text(text.replace("[market]", '[market]\nintensity = "exponential"'))
    base = ["run", str(scenario), "--paths", "10", "--no-progress", "--no-plots"]
    out = ["--out", str(tmp_path / "out")]
    assert main([*base, *out, "--block-paths", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "block_paths = 5 applies to runs on a cluster" in err
    assert main([*base, *out, "--scheduler", "tcp://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Dask scheduler answered at 'tcp://127.0.0.1:9'" in err
    assert not (tmp_path / "out").exists()  # nothing written, no empty folder left
    assert main([*base, *out, "--workers", "0"]) == 2
    assert "workers = 0 must be a whole number >= 1" in capsys.readouterr().err
