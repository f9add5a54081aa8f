"""Runner outputs: every file is written, atomically, and byte-identical for the same seed."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from simulator import outputs
from simulator.progress import ProgressBar
from simulator.runner import DEFAULT_RECORD_PATHS, STEPS_SCHEMA, default_out, run
from simulator.scenario import Scenario

REPO = Path(__file__).resolve().parents[1]
EXPECTED_FILES = {
    "payoffs.csv",
    "steps.parquet",
    "summary.json",
    "inventories.png",
    "actions.png",
    "prices.png",
    "pnl.png",
}


def small_acas(**overrides) -> Scenario:
    """A §4 market small enough to run in a fraction of a second (20 steps, 64 paths)."""
    data = {
        "name": "tiny_acas",
        "horizon": 1.0,
        "steps": 20,
        "paths": 64,
        "seed": 3,
        "market": {
            "kind": "acas",
            "temporary_impact": 0.1,
            "intensity_decay": 2.0,
            "max_spread": 5.0,
            "min_rate": 0.1,
            "max_rate": 100.0,
        },
        "price": {"initial": 0.0, "volatility": 1.0},
        "noise": {"buy_rate": 10.0, "sell_rate": 10.0},
        "traders": [
            {
                "name": "buyer",
                "policy": "twap",
                "initial_inventory": -4.0,
                "running_penalty": 0.1,
                "terminal_penalty": 1.0,
            }
        ],
        "makers": [
            {
                "name": "m0",
                "policy": "avellaneda_stoikov",
                "initial_inventory": 1.0,
                "running_penalty": 0.05,
                "terminal_penalty": 1.0,
            },
            {
                "name": "m1",
                "policy": "constant_spread",
                "initial_inventory": 0.0,
                "running_penalty": 0.05,
                "terminal_penalty": 1.0,
            },
        ],
    }
    data.update(overrides)
    return Scenario.from_dict(data)


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """Seed 3 in this process and, again, in a fresh interpreter with another hash seed (so
    that set/dict ordering or font caches cannot leak into the bytes); then seed 4 with the
    default record_paths and no plots."""
    scenario = small_acas()
    base = tmp_path_factory.mktemp("runs")
    first = run(scenario, out=base / "a", seed=3, progress=False, record_paths=8)
    code = (
        "from simulator.runner import run; from tests.test_runner import small_acas; "
        f"run(small_acas(), out={str(base / 'b')!r}, seed=3, progress=False, record_paths=8)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, timeout=120)
    other = run(scenario, out=base / "c", seed=4, progress=False, plots=False)
    return first, base / "b", other


def test_run_writes_every_output_file(three_runs):
    first, _, _ = three_runs
    assert set(first.files) == EXPECTED_FILES
    on_disk = {p.name for p in first.out.iterdir()}
    assert on_disk == EXPECTED_FILES  # nothing else, in particular no leftover temp files
    for path in first.files.values():
        assert path.stat().st_size > 0


def test_same_seed_gives_byte_identical_outputs(three_runs):
    first, second, _ = three_runs
    assert first.out != second
    for name in EXPECTED_FILES:
        a = (first.out / name).read_bytes()
        b = (second / name).read_bytes()
        assert a == b, f"{name} differs between two runs with the same seed"


def test_different_seed_gives_different_payoffs(three_runs):
    first, _, other = three_runs
    assert (first.out / "payoffs.csv").read_bytes() != (other.out / "payoffs.csv").read_bytes()
    # the makers' J depends on the price path (P_T·Q_T), so the means move with the seed
    a = first.payoffs.set_index("agent")["mean"]
    b = other.payoffs.set_index("agent")["mean"]
    assert abs(a["m0"] - b["m0"]) > 0


def test_payoffs_csv_matches_the_simulation(three_runs):
    first, _, _ = three_runs
    lines = (first.out / "payoffs.csv").read_text().splitlines()
    assert lines[0] == "agent,role,policy,mean,std_error,paths"
    rows = [line.split(",") for line in lines[1:]]
    assert [r[0] for r in rows] == ["buyer", "m0", "m1", "noise"]
    for row, agent in zip(rows, first.result.agents, strict=True):
        j = agent.objective
        # the CSV keeps 10 significant digits (outputs.FLOAT_FORMAT)
        assert float(row[3]) == pytest.approx(j.mean(), rel=1e-9, abs=1e-12)
        assert float(row[4]) == pytest.approx(j.std(ddof=1) / math.sqrt(j.size), rel=1e-9)
        assert int(row[5]) == 64


def test_steps_parquet_has_fixed_schema_and_recorded_paths(three_runs):
    first, _, _ = three_runs
    table = pq.read_table(first.out / "steps.parquet")
    assert table.schema.equals(STEPS_SCHEMA, check_metadata=False)
    assert not table.schema.metadata or b"pandas" not in table.schema.metadata
    n_agents, n1, recorded = 4, 21, 8
    assert table.num_rows == n_agents * n1 * recorded
    frame = table.to_pandas()
    assert sorted(frame["path"].unique()) == list(range(recorded))
    buyer = frame[frame["agent"] == "buyer"].sort_values(["step", "path"])
    inv = buyer["inventory"].to_numpy().reshape(n1, recorded)
    np.testing.assert_array_equal(inv, first.result.agent("buyer").inventory[:, :recorded])
    # per-step quantities are NaN in the last row t_n, and rates only exist for traders
    assert buyer[buyer["step"] == 20]["rate"].isna().all()
    assert frame[frame["role"] == "maker"]["rate"].isna().all()
    assert not frame[(frame["role"] == "maker") & (frame["step"] < 20)]["ask_spread"].isna().any()


def test_summary_json_holds_the_resolved_scenario(three_runs):
    first, _, _ = three_runs
    summary = json.loads((first.out / "summary.json").read_text())
    assert summary["seed"] == 3 and summary["paths"] == 64 and summary["recorded_paths"] == 8
    assert summary["marketgame_version"] == "0.1.0"
    assert sorted(summary["files"]) == sorted(EXPECTED_FILES)
    resolved = summary["scenario"]
    # defaults are filled in (none of these keys was in the input)
    assert resolved["market"]["cost_coupling"] == 1.0
    # the §4 spec's own fields only (no §2 or §5 fields)
    assert resolved["market"]["kind"] == "acas" and "cross_impact" not in resolved["market"]
    assert resolved["flow"] == "fluid" and resolved["lot_size"] == 1.0
    # it rebuilds the same scenario ("inf" is how summary.json spells an infinite bound)
    assert "factor" not in resolved["noise"]  # unset optional tables are left out, as in TOML
    assert Scenario.from_dict(_finite(resolved)) == first.scenario


def _finite(obj):
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return float(obj) if obj in ("inf", "-inf") else obj


def test_default_record_paths_is_bounded(three_runs):
    _, _, other = three_runs
    assert other.recorded_paths == DEFAULT_RECORD_PATHS < other.paths == 64
    assert pq.read_metadata(other.out / "steps.parquet").num_rows == 4 * 21 * DEFAULT_RECORD_PATHS


def test_plots_can_be_skipped(three_runs):
    _, _, other = three_runs
    assert {p.name for p in other.out.iterdir()} == {"payoffs.csv", "steps.parquet", "summary.json"}


def test_summary_names_a_user_intensity_callable(tmp_path):
    def my_intensity(x):
        return np.exp(-1.5 * x)

    maker = {"policy": "constant_spread", "initial_inventory": 0.0, "params": {"half_spread": 0.5}}
    scenario = small_acas(
        market={"kind": "best_quote", "intensity": my_intensity, "temporary_impact": 0.1},
        makers=[{**maker, "name": "m0"}, {**maker, "name": "m1"}],
    )
    run(scenario, out=tmp_path, progress=False, record_paths=2, plots=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    name = summary["scenario"]["market"]["intensity"]
    assert name.startswith("<callable tests.test_runner.") and name.endswith("my_intensity>")


def test_default_out_is_beside_the_scenario_file():
    assert default_out("runs/acas.toml") == Path("runs/acas")


def test_bad_record_paths_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="record_paths = 0"):
        run(small_acas(), out=tmp_path, record_paths=0, progress=False)


def test_atomic_writer_leaves_no_temp_file_and_replaces_content(tmp_path):
    target = tmp_path / "x.txt"
    outputs.atomic_write_text(target, "old\n")
    outputs.atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_atomic_writer_keeps_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "x.txt"
    outputs.atomic_write_text(target, "old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(outputs.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        outputs.atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_csv_floats_use_the_fixed_format():
    text = outputs.render_csv(["a", "b", "c"], [("x,y", 0.1 + 0.2, float("nan"))])
    assert text == 'a,b,c\n"x,y",0.3,nan\n'


def test_json_is_sorted_and_maps_infinity_to_a_string(tmp_path):
    path = outputs.write_json(tmp_path / "s.json", {"b": float("inf"), "a": np.float64(1.5)})
    assert path.read_text() == '{\n  "a": 1.5,\n  "b": "inf"\n}\n'


def test_progress_bar_is_silent_off_a_terminal():
    stream = io.StringIO()
    with ProgressBar(10, "x", stream=stream) as bar:
        for k in range(10):
            bar.update(k + 1)
    assert stream.getvalue() == ""


def test_progress_bar_draws_when_forced():
    stream = io.StringIO()
    with ProgressBar(4, "sim", stream=stream, force=True, min_interval=0.0) as bar:
        bar.advance(2)
        bar.advance(2)
    out = stream.getvalue()
    assert "sim [" in out and "4/4 100%" in out and out.endswith("\n")
