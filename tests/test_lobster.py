"""LOBSTER files round-trip through a reader written to the published format (lobsterdata.com):
message file (Time, Type, Order ID, Size, Price×10⁴, Direction; no header) and level-1
order-book file (Ask Price 1, Ask Size 1, Bid Price 1, Bid Size 1 after each message)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from simulator.datasets import generate_dataset, open_dataset
from tests.test_datasets import quote_scenario

MESSAGE_COLUMNS = ("time", "type", "order_id", "size", "price", "direction")
EMPTY_ASK, EMPTY_BID = 9999999999, -9999999999


def read_lobster(message: Path, orderbook: Path, levels: int = 1) -> tuple[list, np.ndarray]:
    """The messages (tuples in :data:`MESSAGE_COLUMNS` order) and the order-book rows
    ``(messages, 4·levels)``, checked against the format's rules."""
    with message.open(newline="") as fh:
        rows = list(csv.reader(fh))
    msgs = []
    for row in rows:
        assert len(row) == 6, row
        t, kind, oid, size, price, direction = row
        msgs.append((float(t), int(kind), int(oid), int(size), int(price), int(direction)))
        assert msgs[-1][1] in (1, 2, 3, 4, 5, 6, 7) and msgs[-1][5] in (-1, 1)
    book = np.loadtxt(orderbook, delimiter=",", dtype=np.int64, ndmin=2)
    assert book.shape == (len(msgs), 4 * levels)
    return msgs, book


def replay(msgs: list) -> np.ndarray:
    """Level-1 book after each message, rebuilt from the messages alone."""
    orders: dict[int, list[int]] = {}  # id → [size, price, direction]
    out = []
    for _, kind, oid, size, price, direction in msgs:
        if kind == 1:
            assert oid not in orders
            orders[oid] = [size, price, direction]
        elif kind in (2, 4):
            o = orders[oid]
            assert o[1] == price and o[2] == direction and 0 < size <= o[0]
            o[0] -= size
        elif kind == 3:
            assert orders.pop(oid) == [size, price, direction]
        asks = [(p, s) for s, p, d in orders.values() if d == -1]
        bids = [(p, s) for s, p, d in orders.values() if d == 1]
        a = min((p for p, _ in asks), default=EMPTY_ASK)
        b = max((p for p, _ in bids), default=EMPTY_BID)
        out.append((a, sum(s for p, s in asks if p == a), b, sum(s for p, s in bids if p == b)))
    return np.array(out, dtype=np.int64)


def test_lobster_files_round_trip_through_a_reader_of_the_published_format(
    cluster: str,
    tmp_path: Path,
) -> None:
    sc = quote_scenario("poisson", steps=6)
    generate_dataset(sc, 5, tmp_path, scheduler=cluster, lobster=True, progress=False)
    events = open_dataset(tmp_path).to_pandas()
    for path in range(5):
        folder = tmp_path / "lobster" / f"path={path:06d}"
        msgs, book = read_lobster(folder / "message.csv", folder / "orderbook.csv")
        assert np.array_equal(replay(msgs), book)
        ev = events[events["path"] == path]
        quotes = ev[ev["event_type"] == "quote"]
        orders = ev[ev["event_type"] == "market_order"]
        submissions = [m for m in msgs if m[1] == 1]
        executions = [m for m in msgs if m[1] == 4]
        assert len(submissions) == len(quotes) and len(executions) == len(orders) > 0
        assert np.array_equal([m[4] for m in submissions], np.rint(quotes["price"] * 1e4))
        times = np.array([m[0] for m in executions])
        assert np.allclose(times, orders["time"], rtol=0, atol=1e-10)
        assert all(m[3] == 1 for m in executions)  # one lot each
        buys = (orders["side"] == "buy").to_numpy()
        directions = np.array([m[5] for m in executions])
        assert np.array_equal(directions, np.where(buys, -1, 1))  # a buy executes an ask
        best = np.where(buys, orders["best_ask"], orders["best_bid"])
        assert np.array_equal([m[4] for m in executions], np.rint(best * 1e4))


def test_lobster_needs_discrete_orders_and_quotes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lobster needs discrete market orders"):
        generate_dataset(quote_scenario("fluid"), 5, tmp_path, lobster=True, progress=False)
