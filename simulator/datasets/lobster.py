"""LOBSTER files per path (``--lobster``): the message file and the level-1 order-book file.

The published LOBSTER layout (lobsterdata.com), without header rows:

* ``message.csv``: Time (seconds; here model time t), Type (1 submission of a new limit order,
  3 deletion, 4 execution of a visible limit order), Order ID, Size (shares; here lots of
  ``lot_size``), Price (price × 10⁴, an integer), Direction (of the *limit order*: −1 sell,
  1 buy; an execution carries the direction of the order it executes).
* ``orderbook.csv``: after each message, Ask Price 1, Ask Size 1, Bid Price 1, Bid Size 1 (an
  empty side shows the dummy prices 9999999999 and −9999999999 with size 0).

Mapping from the model: at t_k every maker replaces its ask and its bid (a deletion of the old
order, then the submission of the new one at P + δᵃ or P − δᵇ). Makers quote without a depth
limit (fills come from the intensity Λ), so each order shows the nominal size
:data:`DEPTH` lots. Every market order (a trader's or the noise traders') is an execution, one
lot at a time at its own time, against the order at the best price on its side (the first
maker quoting it); the aggressor's temporary cost is not part of the book. Makers' passive fills
in the §3 intensity model and the §5 share split are not book events (see the ``events`` table).
Prices are rounded to 10⁻⁴ (the format's tick).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulator.datasets.tables import BlockData, events
from simulator.engine import MARKET_SPECS
from simulator.scenario import Scenario

DEPTH = 1_000_000
"""Visible size, in lots, of every maker order (quotes have unlimited depth in the model)."""

EMPTY_ASK, EMPTY_BID = 9_999_999_999, -9_999_999_999
SUBMIT, DELETE, EXECUTE = 1, 3, 4


def check_lobster(scenario: Scenario) -> None:
    """LOBSTER files describe discrete orders on a book: ``ValueError`` unless the flow is
    discrete and the market has quotes."""
    if scenario.flow == "fluid" or not scenario.market.has_quotes:
        quoted = ", ".join(repr(k) for k, spec in MARKET_SPECS.items() if spec.has_quotes)
        raise ValueError(
            f"lobster needs discrete market orders and maker quotes: flow = {scenario.flow!r} "
            f"and market.kind = {scenario.market.kind!r}; allowed: a flow other than 'fluid' "
            f"and a market.kind with quotes ({quoted})"
        )


def path_folder(root: Path, path: int) -> Path:
    return root / "lobster" / f"path={path:06d}"


def write_lobster(data: BlockData, root: Path, chunk: int = 32) -> None:
    """The two files of every path of the block (each written atomically)."""
    from simulator.datasets.partitions import atomic_path

    n = data.stop - data.start
    lot = data.scenario.lot_size
    for lo in range(0, n, chunk):
        table = events(data, lo, min(lo + chunk, n))
        cols = {
            name: table[name].to_numpy(zero_copy_only=False)
            for name in ("path", "time", "size", "price")
        }
        for name in ("event_type", "agent", "side"):
            cols[name] = table[name].combine_chunks().indices.to_numpy()
        bounds = np.searchsorted(cols["path"], np.arange(lo, min(lo + chunk, n) + 1) + data.start)
        for p in range(len(bounds) - 1):
            sl = slice(bounds[p], bounds[p + 1])
            messages, book = _path_messages({k: v[sl] for k, v in cols.items()}, lot)
            folder = path_folder(root, data.start + lo + p)
            for name, text in (("message.csv", messages), ("orderbook.csv", book)):
                with atomic_path(folder / name) as tmp:
                    tmp.write_text(text)


def _path_messages(ev: dict[str, np.ndarray], lot: float) -> tuple[str, str]:
    """Message and order-book text of one path's events (``ev``: its columns, codes for the
    dictionary columns: event type 0 quote / 1 market order, side 0 buy / 1 sell)."""
    live: dict[tuple[int, int], list[int]] = {}  # (maker, side) → [order id, size, price]
    next_id = 1
    msgs: list[str] = []
    rows: list[str] = []
    ticks = np.rint(ev["price"] * 1e4).astype(np.int64)
    for kind, agent, side, t, size, tick in zip(
        ev["event_type"], ev["agent"], ev["side"], ev["time"], ev["size"], ticks, strict=True
    ):
        if kind == 2:  # a maker's passive fill: not a book event
            continue
        stamp = f"{t:.10f}"
        if kind == 0:  # a maker's quote: replace its order on that side
            direction = 1 if side == 0 else -1
            old = live.pop((agent, side), None)
            if old is not None:
                msgs.append(f"{stamp},{DELETE},{old[0]},{old[1]},{old[2]},{direction}")
                rows.append(_level1(live))
            live[(agent, side)] = [next_id, DEPTH, int(tick)]
            msgs.append(f"{stamp},{SUBMIT},{next_id},{DEPTH},{tick},{direction}")
            rows.append(_level1(live))
            next_id += 1
            continue
        # a market order: executes the best order of the other side (buy → asks)
        book_side = 1 if side == 0 else 0
        order = _best(live, book_side)
        lots = int(round(size / lot))
        order[1] -= lots
        if order[1] < 0:
            raise RuntimeError(f"LOBSTER depth of {DEPTH} lots exhausted within one step")
        direction = -1 if book_side == 1 else 1
        msgs.append(f"{stamp},{EXECUTE},{order[0]},{lots},{order[2]},{direction}")
        rows.append(_level1(live))
    return "\n".join(msgs) + "\n", "\n".join(rows) + "\n"


def _best(live: dict[tuple[int, int], list[int]], side: int) -> list[int]:
    """The order at the best price of ``side`` (1 asks: lowest; 0 bids: highest), first maker
    among equal prices."""
    orders = sorted((k[0], v) for k, v in live.items() if k[1] == side)
    if side == 1:
        return min(orders, key=lambda o: o[1][2])[1]
    return max(orders, key=lambda o: (o[1][2], -o[0]))[1]


def _level1(live: dict[tuple[int, int], list[int]]) -> str:
    asks = [v for k, v in live.items() if k[1] == 1]
    bids = [v for k, v in live.items() if k[1] == 0]
    if asks:
        a = min(o[2] for o in asks)
        ask = f"{a},{sum(o[1] for o in asks if o[2] == a)}"
    else:
        ask = f"{EMPTY_ASK},0"
    if bids:
        b = max(o[2] for o in bids)
        bid = f"{b},{sum(o[1] for o in bids if o[2] == b)}"
    else:
        bid = f"{EMPTY_BID},0"
    return f"{ask},{bid}"
