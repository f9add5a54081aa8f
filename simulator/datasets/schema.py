"""The dataset schema (documented in ``docs/DATASETS.md``): tables, Arrow schemas, vocabularies.

Every table is sorted by path, then step (then time and a fixed tie order for ``events``, agent
order for the others). String columns are dictionary-encoded: their vocabularies are fixed per
dataset (the scenario's agent names, the role and event-type lists below), so every partition
carries the same dictionary.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1.1"
"""Version of the layout below; bumped on any change of a column's name, type or meaning (1.1:
§5 market orders name the maker they were routed to, and its fill shares their time)."""

TABLES = ("events", "quotes", "state", "outcomes")
"""The Parquet tables, one dataset folder each (``quotes`` only in markets with quotes)."""

EVENT_TYPES = ("quote", "market_order", "fill")
"""``quote``: a maker posts its ask or bid at t_k; ``market_order``: a trader's or the noise
traders' order (the aggressor); ``fill``: a maker's passive fill at its quote."""

SIDES = ("buy", "sell")
"""The acting agent's direction: it buys (bid quote, buy order, bid fill) or sells."""

ROLES = ("trader", "maker", "noise")


def _dict() -> pa.DataType:
    return pa.dictionary(pa.int32(), pa.string())


def _common(*fields: pa.Field) -> pa.Schema:
    return pa.schema(
        [
            pa.field("run_id", _dict(), nullable=False),
            pa.field("path", pa.int64(), nullable=False),
            *fields,
        ]
    )


EVENTS = _common(
    pa.field("step", pa.int32(), nullable=False),
    pa.field("time", pa.float64(), nullable=False),
    pa.field("event_type", _dict(), nullable=False),
    pa.field("agent", _dict(), nullable=False),
    pa.field("role", _dict(), nullable=False),
    pa.field("policy", _dict(), nullable=False),
    pa.field("side", _dict(), nullable=False),
    pa.field("size", pa.float64()),
    pa.field("price", pa.float64(), nullable=False),
    pa.field("reference_price", pa.float64(), nullable=False),
    pa.field("best_bid", pa.float64()),
    pa.field("best_ask", pa.float64()),
    pa.field("aggressor", pa.bool_(), nullable=False),
    pa.field("counterparty", _dict()),
)

QUOTES = _common(
    pa.field("step", pa.int32(), nullable=False),
    pa.field("time", pa.float64(), nullable=False),
    pa.field("agent", _dict(), nullable=False),
    pa.field("policy", _dict(), nullable=False),
    pa.field("ask_spread", pa.float64(), nullable=False),
    pa.field("bid_spread", pa.float64(), nullable=False),
    pa.field("ask_price", pa.float64(), nullable=False),
    pa.field("bid_price", pa.float64(), nullable=False),
    pa.field("best_ask", pa.float64(), nullable=False),
    pa.field("best_bid", pa.float64(), nullable=False),
    pa.field("reference_price", pa.float64(), nullable=False),
)

STATE = _common(
    pa.field("step", pa.int32(), nullable=False),
    pa.field("time", pa.float64(), nullable=False),
    pa.field("agent", _dict(), nullable=False),
    pa.field("role", _dict(), nullable=False),
    pa.field("inventory", pa.float64(), nullable=False),
    pa.field("cash", pa.float64(), nullable=False),
    pa.field("rate", pa.float64()),
    pa.field("reference_price", pa.float64(), nullable=False),
)

OUTCOMES = _common(
    pa.field("agent", _dict(), nullable=False),
    pa.field("role", _dict(), nullable=False),
    pa.field("policy", _dict(), nullable=False),
    pa.field("objective", pa.float64(), nullable=False),
    pa.field("cash", pa.float64(), nullable=False),
    pa.field("inventory", pa.float64(), nullable=False),
    pa.field("mark_price", pa.float64(), nullable=False),
    pa.field("running_cost", pa.float64(), nullable=False),
    pa.field("terminal_cost", pa.float64(), nullable=False),
)

SCHEMAS = {"events": EVENTS, "quotes": QUOTES, "state": STATE, "outcomes": OUTCOMES}
