"""``sweep``: grids validated like the scenario, seeds from coordinates, Dask tasks, resumable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from simulator.cli import EXIT_INVALID, main
from simulator.compare.sweep import (
    Axis,
    grid_points,
    parse_axis,
    point_id,
    point_scenario,
    point_seed,
    run_points,
    set_key,
    sweep,
)
from simulator.distributed import open_client
from tests.test_compare import IMPACT

DATA = {
    **IMPACT,
    "name": "sweep_impact",
    "seed": 5,
    "steps": 8,
    "traders": [IMPACT["traders"][0], {**IMPACT["traders"][1], "policy": "almgren_chriss"}],
}
GRID = ["market.permanent_impact=0.1:0.3:2", "traders.seller.terminal_penalty=1,3"]


def test_grid_axes_parse_ranges_and_lists():
    assert parse_axis("market.intensity_decay=0.5:3:6").values == (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
    assert parse_axis("steps=50:200:4").values == (50, 100, 150, 200)
    assert parse_axis("traders[0].policy=twap,almgren_chriss").values == ("twap", "almgren_chriss")
    for bad, message in [
        ("market.intensity_decay", "expected KEY=START:STOP:COUNT"),
        ("x=1:2", "START:STOP:COUNT"),
        ("x=1:2:0", "COUNT = '0' must be an integer >= 1"),
        ("x=1,,2", "an empty value"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_axis(bad)
    a, b = Axis("a", (1, 2)), Axis("b", (3, 4))
    assert len(grid_points([a, b])) == 4
    assert grid_points([a, b], zipped=True) == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
    with pytest.raises(ValueError, match="equal length"):
        grid_points([a, Axis("c", (1,))], zipped=True)


def test_grid_keys_reach_tables_lists_and_agents_by_name():
    assert set_key(DATA, "market.permanent_impact", 0.5)["market"]["permanent_impact"] == 0.5
    assert set_key(DATA, "traders[1].running_penalty", 0.9)["traders"][1]["running_penalty"] == 0.9
    assert set_key(DATA, "traders.buyer.policy", "twap")["traders"][1]["policy"] == "twap"
    assert set_key(DATA, "price.volatility", 2.0)["price"] == {"volatility": 2.0}
    assert DATA["market"]["permanent_impact"] == 0.2  # the original is not modified
    with pytest.raises(ValueError, match="no agent named 'nobody'"):
        set_key(DATA, "traders.nobody.running_penalty", 1.0)
    with pytest.raises(ValueError, match=r"traders\[5\] does not exist \(2 entries\)"):
        set_key(DATA, "traders[5].running_penalty", 1.0)


def test_every_point_is_validated_like_a_scenario():
    with pytest.raises(ValueError, match=r"grid point \(market.temporary_impact = -1\).*>= 0"):
        point_scenario(DATA, {"market.temporary_impact": -1})
    with pytest.raises(ValueError, match="unknown key 'market.intensity_decy'"):
        point_scenario(DATA, {"market.intensity_decy": 1.0})
    with pytest.raises(ValueError, match="grid point"):
        sweep(DATA, ["market.temporary_impact=-1:1:3"], out="unused")


def test_point_seeds_depend_on_the_base_seed_and_coordinates_only():
    p = {"a": 1.0, "b": 2}
    assert point_seed(5, p) == point_seed(5, {"b": 2, "a": 1.0})
    assert len({point_seed(5, p), point_seed(6, p), point_seed(5, {"a": 1.5, "b": 2})}) == 3
    assert 0 <= point_seed(5, p) < 2**62


def test_bad_grid_is_a_cli_usage_error(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(Path("runs/impact.toml").read_text())
    assert main(["sweep", str(path), "--grid", "market.temporary_impact=-1,1"]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert "grid point (market.temporary_impact = -1)" in err and "Traceback" not in err


def test_sweep_runs_on_dask_resumes_and_does_not_depend_on_scheduling(tmp_path):
    axes = [parse_axis(g) for g in GRID]
    points = grid_points(axes)
    with open_client(workers=2) as client:
        run_points(DATA, points, tmp_path / "b", seed=5, paths=None, client=client)
        # an interrupted sweep: two of its four points are done
        shutil.copytree(tmp_path / "b.partial", tmp_path / "a.partial")
        for p in points[1:3]:
            (tmp_path / "a.partial" / f"{point_id(p)}.parquet").unlink()
        resumed = sweep(DATA, GRID, out=tmp_path / "a", client=client, plots=False)
        fresh = sweep(DATA, GRID, out=tmp_path / "b", client=client)
        run_points(DATA, points[:1], tmp_path / "c", seed=5, paths=None, client=client)
        with pytest.raises(ValueError, match="interrupted sweep of other points"):
            run_points(DATA, points[:1], tmp_path / "c", seed=6, paths=None, client=client)
    assert (resumed.computed, resumed.resumed) == (2, 2)
    assert (fresh.computed, fresh.resumed) == (0, 4)
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / "table.csv").read_bytes() == (b / "table.csv").read_bytes()
    assert not (tmp_path / "a.partial").exists() and (b / "advantage.png").exists()
    table = fresh.table
    summary = table[table["table"] == "summary"]
    assert set(summary["metric"]) == {"equilibrium_advantage", "regret"}
    assert len(summary[summary["metric"] == "regret"]) == 4 * 2  # points × agents
    assert (
        table.groupby(["market.permanent_impact", "traders.seller.terminal_penalty"])["seed"]
        .nunique()
        .eq(1)
        .all()
    )
