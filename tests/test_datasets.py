"""Order-flow datasets on a real loopback Dask cluster: bytes independent of the worker count,
rows independent of the block size, resume after a killed run, events that reconcile exactly
with the state table, reading back, and the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

from simulator.cli import main
from simulator.datasets import describe, generate_dataset, open_dataset
from simulator.processes import BLOCK
from simulator.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]

QUOTE_MARKET = """
name = "small_quotes"
horizon = 1.0
steps = {steps}
seed = 11
flow = "{flow}"
lot_size = 0.25
[market]
kind = "{kind}"
temporary_impact = 0.5
max_spread = 3.0
min_rate = 0.0
max_rate = 100.0
{market}
[price]
volatility = 1.0
[noise]
buy_rate = 6.0
sell_rate = 5.0
[[traders]]
name = "buyer"
policy = "twap"
initial_inventory = -1.5
running_penalty = 0.1
terminal_penalty = 1.0
[[traders]]
name = "seller"
policy = "almgren_chriss"
initial_inventory = 1.0
running_penalty = 0.1
terminal_penalty = 1.0
[[makers]]
name = "as_maker"
policy = "avellaneda_stoikov"
initial_inventory = 1.0
running_penalty = 0.1
terminal_penalty = 1.0
[[makers]]
name = "cs_maker"
policy = "constant_spread"
initial_inventory = 0.0
running_penalty = 0.1
terminal_penalty = 1.0
"""

BEST_QUOTE = 'intensity = "exponential"\nintensity_decay = 2.0\ntemporary_cost = "individual"'
LOGIT = "share_sharpness = 2.0\ninventory_noise = 0.0"


def quote_scenario(flow: str = "poisson", kind: str = "best_quote", steps: int = 8) -> Scenario:
    market = BEST_QUOTE if kind == "best_quote" else LOGIT
    text = QUOTE_MARKET.format(flow=flow, kind=kind, steps=steps, market=market)
    return Scenario.from_dict(tomllib.loads(text))


def impact_scenario(flow: str) -> Scenario:
    data = tomllib.loads((ROOT / "runs" / "impact.toml").read_text())
    data.update({"steps": 8, "flow": flow, "lot_size": 0.05})
    return Scenario.from_dict(data)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _sorted(root: Path, table: str) -> pd.DataFrame:
    keys = {"events": ["path", "step", "time"], "outcomes": ["path"]}.get(table, ["path", "step"])
    df = open_dataset(root, table).to_pandas().drop(columns="block")
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


PATHS = 2 * BLOCK + 300  # three blocks, the last one partial


@pytest.fixture(scope="module")
def reference(cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset of :func:`quote_scenario` with PATHS paths, written by the 2-worker cluster."""
    out = tmp_path_factory.mktemp("reference") / "data"
    generate_dataset(quote_scenario(), PATHS, out, scheduler=cluster, progress=False)
    return out


def test_two_workers_write_the_same_bytes_as_one_and_any_block_size_the_same_rows(
    cluster: str, reference: Path, tmp_path: Path
) -> None:
    sc = quote_scenario()
    one = generate_dataset(sc, PATHS, tmp_path / "one", workers=1, progress=False)
    assert one.blocks == 3 and one.rows["events"] > 10 * PATHS
    files = _files(tmp_path / "one")
    assert files == _files(reference)
    assert sum(name.endswith(".parquet") for name in files) == 3 * 4
    big = generate_dataset(
        sc, PATHS, tmp_path / "other", scheduler=cluster, block_paths=700, progress=False
    )
    assert big.blocks == 4 and big.rows == one.rows
    for table in ("events", "quotes", "state", "outcomes"):
        rows = open_dataset(tmp_path / "one", table).to_table().drop_columns("block")
        assert rows.equals(open_dataset(tmp_path / "other", table).to_table().drop_columns("block"))
        assert np.all(np.diff(rows["path"].to_numpy()) >= 0)  # read back in path order


def _reconcile(root: Path) -> None:
    """Σ signed event sizes per agent and step = inventory change; Σ price·size = −cash change."""
    ev = open_dataset(root, "events").to_pandas(filter=ds.field("event_type") != "quote")
    st = _sorted(root, "state")
    sign = np.where(ev["side"].astype(str) == "buy", 1.0, -1.0)
    ev = ev.assign(q=sign * ev["size"], x=-sign * ev["size"] * ev["price"])
    flows = ev.groupby(["path", "agent", "step"], observed=True)[["q", "x"]].sum()
    st["agent"] = st["agent"].astype(str)
    st = st.sort_values(["path", "agent", "step"], kind="stable")
    g = st.groupby(["path", "agent"], sort=False)
    st["dq"] = g["inventory"].shift(-1) - st["inventory"]
    st["dx"] = g["cash"].shift(-1) - st["cash"]
    st = st.dropna(subset=["dq"]).set_index(["path", "agent", "step"])
    flows.index = flows.index.set_levels(flows.index.levels[1].astype(str), level=1)
    joined = st.join(flows, how="left").fillna({"q": 0.0, "x": 0.0})
    assert len(joined) == len(st) and (joined["q"] != 0).sum() > len(joined) // 10
    scale = 1.0 + joined["cash"].abs() + joined["inventory"].abs()
    assert np.all(np.abs(joined["dq"] - joined["q"]) <= 1e-12 * scale)
    assert np.all(np.abs(joined["dx"] - joined["x"]) <= 1e-12 * scale)


@pytest.mark.parametrize(
    "make",
    [
        lambda: quote_scenario("poisson"),
        lambda: quote_scenario("fluid"),
        lambda: quote_scenario("bernoulli"),
        lambda: quote_scenario("poisson", "logit"),
        lambda: impact_scenario("poisson"),
        lambda: impact_scenario("fluid"),
    ],
    ids=[
        "best_quote-poisson",
        "best_quote-fluid",
        "best_quote-bernoulli",
        "logit-poisson",
        "impact-poisson",
        "impact-fluid",
    ],
)
def test_events_reconcile_exactly_with_the_state_table(cluster: str, tmp_path: Path, make) -> None:
    generate_dataset(make(), 40, tmp_path, scheduler=cluster, progress=False)
    _reconcile(tmp_path)


def test_poisson_events_are_single_lots_in_time_order_inside_their_step(
    cluster: str, tmp_path: Path
) -> None:
    sc = quote_scenario("poisson")
    generate_dataset(sc, 30, tmp_path, scheduler=cluster, progress=False)
    ev = open_dataset(tmp_path).to_pandas()
    orders = ev[ev["event_type"] != "quote"]
    assert np.all(orders["size"] == sc.lot_size)
    assert ev["size"][ev["event_type"] == "quote"].isna().all()
    t0 = ev["step"] * sc.dt
    assert np.all((ev["time"] >= t0) & (ev["time"] < t0 + sc.dt))
    assert ev.groupby("path")["time"].apply(lambda t: t.is_monotonic_increasing).all()
    # given the count, arrival times are uniform on the step: mean offset ½·dt
    offset = (orders["time"] - orders["step"] * sc.dt) / sc.dt
    assert abs(offset.mean() - 0.5) < 4 * np.sqrt(1 / 12 / len(offset))
    # market orders execute at the best quote of the step, against the maker quoting it
    noise_buys = ev[(ev["agent"] == "noise") & (ev["side"] == "buy")]
    assert np.allclose(noise_buys["price"], noise_buys["best_ask"], rtol=0, atol=1e-12)
    assert set(noise_buys["counterparty"].astype(str)) <= {"as_maker", "cs_maker"}


@pytest.mark.parametrize("flow", ["poisson", "fluid"])
def test_logit_orders_name_their_maker_and_its_fill_shares_their_time(
    cluster: str, tmp_path: Path, flow: str
) -> None:
    sc = quote_scenario(flow, "logit")
    generate_dataset(sc, 60, tmp_path, scheduler=cluster, progress=False)
    ev = open_dataset(tmp_path).to_pandas()
    for c in ("event_type", "agent", "side", "counterparty"):
        ev[c] = ev[c].astype(str)
    orders = ev[ev["event_type"] == "market_order"].reset_index(drop=True)
    fills = ev[ev["event_type"] == "fill"].reset_index(drop=True)
    # one fill per order, in the same order: same path, time and size, the routed maker, the
    # opposite side, at the maker's quote of that side
    assert len(orders) == len(fills) > 1000
    assert set(orders["counterparty"]) == {"as_maker", "cs_maker"}
    for col in ("path", "step", "time", "size"):
        assert np.array_equal(orders[col].to_numpy(), fills[col].to_numpy()), col
    assert np.array_equal(orders["counterparty"].to_numpy(), fills["agent"].to_numpy())
    assert np.all(orders["side"].to_numpy() != fills["side"].to_numpy())
    q = _sorted(tmp_path, "quotes").assign(agent=lambda d: d["agent"].astype(str))
    q = q.set_index(["path", "step", "agent"])
    key = pd.MultiIndex.from_arrays([fills["path"], fills["step"], fills["agent"]])
    quoted = np.where(fills["side"] == "sell", q.loc[key, "ask_price"], q.loc[key, "bid_price"])
    assert np.array_equal(fills["price"].to_numpy(), quoted)
    # the routing follows the logit shares ζʲ = softmax(−ς·δʲ) of the order's side (ς = 2)
    spread = np.where(orders["side"] == "buy", "ask_spread", "bid_spread")
    keys = [
        pd.MultiIndex.from_arrays([orders["path"], orders["step"], [m] * len(orders)])
        for m in ("as_maker", "cs_maker")
    ]
    delta = np.stack(
        [
            np.where(spread == "ask_spread", q.loc[k, "ask_spread"], q.loc[k, "bid_spread"])
            for k in keys
        ]
    )
    zeta = np.exp(-2.0 * delta) / np.exp(-2.0 * delta).sum(axis=0)
    to_as = (orders["counterparty"] == "as_maker").to_numpy()
    if flow == "fluid":  # each source's flow split exactly: size ∝ ζ of the routed maker
        src = orders.groupby(["path", "step", "agent", "side"], sort=False)["size"].transform("sum")
        share = np.where(to_as, zeta[0], zeta[1])
        assert np.allclose(orders["size"], src * share, rtol=1e-12, atol=0)
    else:  # each lot goes to as_maker with probability ζ (Poisson splitting)
        dev = (to_as - zeta[0]).sum() / np.sqrt((zeta[0] * (1 - zeta[0])).sum())
        assert abs(dev) < 4.5


def test_outcomes_hold_the_simulated_payoffs(cluster: str, tmp_path: Path) -> None:
    from simulator import simulate

    sc = quote_scenario("poisson")
    generate_dataset(sc, 50, tmp_path, scheduler=cluster, seed=5, progress=False)
    out = _sorted(tmp_path, "outcomes")
    res = simulate(sc, paths=50, seed=5, record=False)
    for a in res.agents:
        j = out.loc[out["agent"] == a.name, "objective"].to_numpy()
        assert np.array_equal(j, a.objective)


def _dataset_cmd(scenario: Path, out: Path, paths: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "simulator.cli",
        "dataset",
        str(scenario),
        "--paths",
        str(paths),
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def test_a_killed_run_resumes_without_exposing_partial_partitions(
    cluster: str, reference: Path, tmp_path: Path
) -> None:
    text = QUOTE_MARKET.format(flow="poisson", kind="best_quote", steps=8, market=BEST_QUOTE)
    scenario = tmp_path / "s.toml"
    scenario.write_text(text)
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = _dataset_cmd(scenario, out, PATHS, "--workers", "1")
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=subprocess.PIPE)
    manifest = out / "_manifest"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(manifest.glob("*.json")):
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its Dask worker, mid-run
    proc.wait()
    done = len(list(manifest.glob("*.json")))
    assert 1 <= done < 3
    # every visible file is complete; the reader sees the finished blocks only
    part = open_dataset(out, "state").to_pandas()
    assert part["path"].nunique() == done * BLOCK
    assert "incomplete" in describe(out)
    resumed = generate_dataset(
        load_scenario(scenario), PATHS, out, scheduler=cluster, progress=False
    )
    assert resumed.skipped_blocks == done
    assert not list(out.rglob(".tmp-*"))
    assert _files(out) == _files(reference)


def test_cli_writes_describes_and_refuses_another_dataset_in_the_same_folder(
    cluster: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = QUOTE_MARKET.format(flow="poisson", kind="best_quote", steps=5, market=BEST_QUOTE)
    scenario = tmp_path / "s.toml"
    scenario.write_text(text)
    out = tmp_path / "data"
    args = ["dataset", str(scenario), "--paths", "20", "--out", str(out), "--no-progress"]
    assert main([*args, "--scheduler", cluster]) == 0
    assert "small_quotes: 20 paths in 1 blocks" in capsys.readouterr().out
    assert main(["dataset", "--describe", str(out)]) == 0
    text = capsys.readouterr().out
    assert "paths 20/20 in 1/1 blocks" in text and "events" in text
    assert main([*args[:3], "21", *args[4:], "--scheduler", cluster]) == 2
    assert "holds another dataset" in capsys.readouterr().err
    assert main(["dataset", str(scenario), "--out", str(out)]) == 2
    assert "needs --paths" in capsys.readouterr().err
    assert main([*args, "--scheduler", cluster, "--block-paths", "0"]) == 2
    assert "block_paths = 0" in capsys.readouterr().err
    assert main(["dataset", "--describe", str(tmp_path)]) == 2
    assert "not a dataset folder" in capsys.readouterr().err


def test_an_unreachable_scheduler_is_reported_as_such() -> None:
    from simulator.cli import describe_failure, failure_status

    exc = ConnectionError("no Dask scheduler answered at 'tcp://127.0.0.1:9' within 10 s")
    assert failure_status(exc) == 1
    assert describe_failure(exc) == str(exc)
