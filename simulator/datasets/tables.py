"""The rows of one block of paths, built as pyarrow columns straight from the recorded arrays.

:class:`BlockData` holds what the model's :class:`~simulator.model.Recorder` kept for the paths
``[start, stop)`` (every per-step action, fill, per-share fill price and state); :func:`events`,
:func:`quotes`, :func:`state` and :func:`outcomes` turn a range of its paths into Arrow tables of
the schemas of :mod:`simulator.datasets.schema`, with numpy gathers (no Python loop over paths or
rows, no pandas).

Events (one row per order event). At t_k every maker posts its ask and bid (``quote``). In
discrete flow modes (``poisson``, ``bernoulli``), each lot is its own event: a step's count of
market orders of one agent and side (or of fills of one maker and side) is volume / lot_size,
and given that count the arrival times of a Poisson process on [t_k, t_{k+1}) are uniform order
statistics, drawn from the path's own counter-keyed stream (:func:`path_uniforms`), so they depend
only on (seed, path). In fluid flow the step's volumes are the events, at t_k. Ties keep a fixed
order: quotes, then traders' and noise orders, then maker fills. In the §5 logit market each
source's orders are split per maker (:func:`_routes`): an order names its maker as counterparty,
and the maker's fill shares the order's arrival-time key, hence its time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from simulator.datasets.schema import EVENT_TYPES, EVENTS, OUTCOMES, QUOTES, ROLES, SIDES, STATE
from simulator.model import Recorder
from simulator.scenario import Scenario

_QUOTE, _ORDER, _FILL = range(3)
_BUY, _SELL = range(2)


def _mix(z: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser (a bijection of uint64 with full avalanche), in place."""
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


UNIFORM_BITS = 40
"""Resolution of the arrival-time uniforms: multiples of 2⁻⁴⁰ (exact as sort keys)."""


def path_uniforms(
    seed: int, path: np.ndarray, step: np.ndarray, slot: np.ndarray, index: np.ndarray
) -> np.ndarray:
    """Uniform integers in [0, 2⁴⁰) keyed by (seed, path, step, slot, index): a counter-based
    stream, so each number depends on its key only (not on the block, the chunk or the worker).
    Divided by 2⁴⁰ they are uniforms in [0, 1)."""
    key = np.uint64((seed * 0x9E3779B97F4A7C15) % (1 << 64))
    h = _mix(path.astype(np.uint64) + key)
    h ^= step.astype(np.uint64) * np.uint64(0xD1B54A32D192ED03)
    _mix(h)
    h ^= (slot.astype(np.uint64) << np.uint64(40)) + index.astype(np.uint64)
    _mix(h)
    return h >> np.uint64(64 - UNIFORM_BITS)


@dataclass
class BlockData:
    """The recorded arrays of paths ``[start, stop)``: time on axis 0, paths on axis 1."""

    scenario: Scenario
    seed: int
    run_id: str
    start: int
    stop: int
    names: tuple[str, ...]
    roles: tuple[str, ...]
    policies: tuple[str, ...]
    recorder: Recorder

    @property
    def policy_names(self) -> tuple[str, ...]:
        """The distinct policy names (first appearance order): the ``policy`` vocabulary."""
        return tuple(dict.fromkeys(self.policies))

    @property
    def policy_codes(self) -> np.ndarray:
        """Each agent's index into :attr:`policy_names`."""
        names = self.policy_names
        return np.array([names.index(p) for p in self.policies])

    @property
    def role_codes(self) -> np.ndarray:
        """Each agent's index into :data:`~simulator.datasets.schema.ROLES`."""
        return np.array([ROLES.index(r) for r in self.roles])

    @property
    def discrete(self) -> bool:
        return self.scenario.flow != "fluid"

    @property
    def has_quotes(self) -> bool:
        return self.scenario.market.has_quotes

    def best(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Best ask and bid *prices* P + min δᵃ, P − min δᵇ ``(n, R)`` (None without quotes)."""
        if not self.has_quotes:
            return None
        m, p = self.recorder.market, self.recorder.reference_price[:-1, lo:hi]
        return p + m["best_ask"][:, lo:hi], p - m["best_bid"][:, lo:hi]


def _dictionary(codes: np.ndarray, values: tuple[str, ...], mask: np.ndarray | None = None):
    idx = pa.array(codes.astype(np.int32, copy=False), mask=mask)
    return pa.DictionaryArray.from_arrays(idx, pa.array(values, pa.string()))


def _run_id(block: BlockData, n: int) -> pa.DictionaryArray:
    return _dictionary(np.zeros(n, np.int32), (block.run_id,))


def _float(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(values, type=pa.float64(), mask=mask)


def _table(schema: pa.Schema, columns: dict[str, pa.Array]) -> pa.Table:
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


@dataclass
class _Source:
    """One stream of events: its type, agent, side, per-step volume (None: quotes) and
    per-share price ``(n, R)``, and the maker it executes against ``(n, R)`` (or None)."""

    kind: int
    agent: int
    side: int
    volume: np.ndarray | None
    price: np.ndarray
    counterparty: np.ndarray | None = None
    key: int | None = None
    """The source index keying its arrival times (None: its own); a §5 fill shares its order's."""


def _routes(block: BlockData, lo: int, hi: int) -> list[tuple[int, int, int, np.ndarray]]:
    """§5 routing: ``(agent, side, maker, volume (n, R))`` per order source (each trader on its
    side, noise buys, noise sells) and maker. Discrete flow: the engine's recorded split of each
    source's orders among the makers (:attr:`simulator.mechanisms.base.Market.routes`). Fluid
    flow: the source's volume times the maker's share ζʲ of its side, ζʲ = the maker's fill volume
    over all makers' (the engine fills maker j with ζʲ·ã and ζʲ·b̃)."""
    rec, sc = block.recorder, block.scenario
    nt = len(sc.traders)
    makers = range(nt, nt + len(sc.makers))
    sources = [(i, _BUY if a.initial_inventory < 0 else _SELL) for i, a in enumerate(sc.traders)]
    if "noise" in block.roles:
        sources += [(len(block.roles) - 1, _BUY), (len(block.roles) - 1, _SELL)]
    out = []
    if rec.routes is not None:
        for s, (agent, side) in enumerate(sources):
            out += [(agent, side, m, rec.routes[s, j, :, lo:hi]) for j, m in enumerate(makers)]
        return out
    volume = ("buy_volume", "sell_volume")
    fills = {side: [rec.agents[m][volume[1 - side]][:, lo:hi] for m in makers] for side in (0, 1)}
    totals = {side: np.sum(fills[side], axis=0) for side in (0, 1)}
    for agent, side in sources:
        v, total = rec.agents[agent][volume[side]][:, lo:hi], totals[side]
        for m, fill in zip(makers, fills[side], strict=True):
            share = np.divide(fill, total, out=np.zeros_like(total), where=total > 0)
            out.append((agent, side, m, v * share))
    return out


def _sources(block: BlockData, lo: int, hi: int) -> list[_Source]:
    rec, p = block.recorder, block.recorder.reference_price[:-1, lo:hi]
    quotes, orders, fills = [], [], []
    maker_rows = [i for i, r in enumerate(block.roles) if r == "maker"]
    best_maker = None
    routed = block.scenario.market.routes_orders
    if maker_rows and not routed:
        # a market order executes at the best quote: against the first maker quoting it
        asks = np.stack([rec.agents[i]["ask_spread"][:, lo:hi] for i in maker_rows])
        bids = np.stack([rec.agents[i]["bid_spread"][:, lo:hi] for i in maker_rows])
        rows = np.asarray(maker_rows)
        best_maker = (rows[np.argmin(asks, axis=0)], rows[np.argmin(bids, axis=0)])
    for i, (role, arrays) in enumerate(zip(block.roles, rec.agents, strict=True)):
        buy, sell = arrays["buy_volume"][:, lo:hi], arrays["sell_volume"][:, lo:hi]
        if role == "maker":
            ask = p + arrays["ask_spread"][:, lo:hi]
            bid = p - arrays["bid_spread"][:, lo:hi]
            quotes += [_Source(_QUOTE, i, _SELL, None, ask), _Source(_QUOTE, i, _BUY, None, bid)]
            fills += [_Source(_FILL, i, _SELL, sell, ask), _Source(_FILL, i, _BUY, buy, bid)]
            continue
        if role == "trader":
            buy_price = sell_price = arrays["fill_price"][:, lo:hi]
        else:
            buy_price, sell_price = arrays["buy_price"][:, lo:hi], arrays["sell_price"][:, lo:hi]
        hit_ask, hit_bid = (None, None) if best_maker is None else best_maker
        orders += [
            _Source(_ORDER, i, _BUY, buy, buy_price, hit_ask),
            _Source(_ORDER, i, _SELL, sell, sell_price, hit_bid),
        ]
    if routed:
        orders, fills = _routed(block, lo, hi, orders, fills, len(quotes))
    return quotes + orders + fills


def _routed(
    block: BlockData, lo: int, hi: int, orders: list[_Source], fills: list[_Source], first: int
) -> tuple[list[_Source], list[_Source]]:
    """§5: each source's orders per maker (the maker as counterparty) and the maker's matching
    fills, at the same times (a fill shares its order's arrival-time key; ``first`` is the
    index of the first order source). Prices: the order's own, the maker's quote."""
    price = {(o.agent, o.side): o.price for o in orders}
    quote = {(f.agent, f.side): f.price for f in fills}
    n, r = block.scenario.steps, hi - lo
    routed_orders, routed_fills = [], []
    for k, (agent, side, maker, volume) in enumerate(_routes(block, lo, hi)):
        who = np.full((n, r), maker)
        routed_orders.append(_Source(_ORDER, agent, side, volume, price[agent, side], who))
        fill_price = quote[maker, 1 - side]
        routed_fills.append(_Source(_FILL, maker, 1 - side, volume, fill_price, key=first + k))
    return routed_orders, routed_fills


def events(block: BlockData, lo: int, hi: int) -> pa.Table:
    """The ``events`` rows of the block's local paths ``[lo, hi)``, sorted by path, step, time."""
    sc = block.scenario
    n, r = sc.steps, hi - lo
    sources = _sources(block, lo, hi)
    s = len(sources)
    lot = sc.lot_size

    def stack(get) -> np.ndarray:
        """Per-source ``(n, R)`` arrays → ``(R·n·S,)`` in (path, step, source) order."""
        return np.stack([get(src) for src in sources], axis=-1).transpose(1, 0, 2).reshape(-1)

    def count(src: _Source) -> np.ndarray:
        if src.volume is None:
            return np.ones((n, r), np.int64)
        if block.discrete:
            return np.rint(src.volume / lot).astype(np.int64)
        return (src.volume > 0).astype(np.int64)

    counts = stack(count)
    total = int(counts.sum())
    cell = np.repeat(np.arange(counts.size), counts)  # the (path, step, source) cell of each event
    path_local, rest = np.divmod(cell, n * s)
    step, src_idx = np.divmod(rest, s)
    kinds = np.array([src.kind for src in sources])
    kind = kinds[src_idx]
    # arrival times: uniform order statistics within the step for discrete orders and fills;
    # the sort key (cell group, 40-bit uniform) is an exact uint64
    bits = np.zeros(total, np.uint64)
    if block.discrete:
        first = np.cumsum(counts) - counts
        index = np.arange(total) - first[cell]
        random = kind != _QUOTE
        path_global = path_local[random] + (block.start + lo)
        keys = np.array([i if src.key is None else src.key for i, src in enumerate(sources)])
        bits[random] = path_uniforms(
            block.seed, path_global, step[random], keys[src_idx[random]], index[random]
        )
    group = (path_local * n + step).astype(np.uint64)
    order = np.argsort((group << np.uint64(UNIFORM_BITS)) | bits, kind="stable")
    cell, path_local, step, src_idx, kind, bits = (
        a[order] for a in (cell, path_local, step, src_idx, kind, bits)
    )
    u = bits.astype(np.float64) * 2.0**-UNIFORM_BITS
    dt = sc.dt
    time = step * dt + u * dt
    price = stack(lambda src: src.price)[cell]
    if block.discrete:
        size = np.full(total, lot)
    else:
        size = stack(lambda src: np.zeros((n, r)) if src.volume is None else src.volume)[cell]
    is_quote = kind == _QUOTE
    agent = np.array([src.agent for src in sources])[src_idx]
    role_of, policy_of = block.role_codes, block.policy_codes
    p = block.recorder.reference_price[:-1, lo:hi].T.reshape(-1)
    flat = path_local * n + step
    best = block.best(lo, hi)
    if best is None:
        best_ask = best_bid = pa.nulls(total, pa.float64())
    else:
        ask, bid = (b.T.reshape(-1) for b in best)
        # a quote event sees the book before the makers' updates of t_k: the previous step's
        prev = np.where(is_quote & (step > 0), flat - 1, flat)
        before = is_quote & (step == 0)
        best_ask, best_bid = _float(ask[prev], before), _float(bid[prev], before)
    if any(src.counterparty is not None for src in sources):
        cp = stack(
            lambda src: np.full((n, r), -1) if src.counterparty is None else src.counterparty
        )[cell]
        counterparty = _dictionary(np.maximum(cp, 0), block.names, cp < 0)
    else:
        counterparty = _dictionary(np.zeros(total), block.names, np.ones(total, bool))
    columns = {
        "run_id": _run_id(block, total),
        "path": pa.array(path_local + (block.start + lo), pa.int64()),
        "step": pa.array(step.astype(np.int32)),
        "time": _float(time),
        "event_type": _dictionary(kind, EVENT_TYPES),
        "agent": _dictionary(agent, block.names),
        "role": _dictionary(role_of[agent], ROLES),
        "policy": _dictionary(policy_of[agent], block.policy_names),
        "side": _dictionary(np.array([src.side for src in sources])[src_idx], SIDES),
        "size": _float(size, is_quote),
        "price": _float(price),
        "reference_price": _float(p[flat]),
        "best_bid": best_bid,
        "best_ask": best_ask,
        "aggressor": pa.array(kind == _ORDER),
        "counterparty": counterparty,
    }
    return _table(EVENTS, columns)


def _grid_keys(
    block: BlockData, lo: int, hi: int, steps: int, agents: np.ndarray
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The key columns (run_id, path, step, time, agent) of a (path, step, agent) grid of the
    local paths ``[lo, hi)``, ``steps`` grid times and ``agents`` (indices); and the agent of
    each row."""
    r, a = hi - lo, len(agents)
    step = np.tile(np.repeat(np.arange(steps, dtype=np.int32), a), r)
    agent = np.tile(agents, steps * r)
    keys = {
        "run_id": _run_id(block, step.size),
        "path": pa.array(np.repeat(np.arange(lo, hi) + block.start, steps * a), pa.int64()),
        "step": pa.array(step),
        "time": _float(step * block.scenario.dt),
        "agent": _dictionary(agent, block.names),
    }
    return keys, agent


def _grid(values: list[np.ndarray]) -> np.ndarray:
    """Per-agent ``(T, R)`` arrays → ``(R·T·A,)`` in (path, time, agent) order."""
    return np.stack(values, axis=-1).transpose(1, 0, 2).reshape(-1)


def quotes(block: BlockData, lo: int, hi: int) -> pa.Table:
    """The ``quotes`` rows: each maker's δᵃ, δᵇ, its quoted prices and the best quotes per step."""
    rec = block.recorder
    makers = [i for i, r in enumerate(block.roles) if r == "maker"]
    a = len(makers)
    p = rec.reference_price[:-1, lo:hi]
    da = _grid([rec.agents[i]["ask_spread"][:, lo:hi] for i in makers])
    db = _grid([rec.agents[i]["bid_spread"][:, lo:hi] for i in makers])
    pp = _grid([p] * a)
    best_ask, best_bid = (_grid([b] * a) for b in block.best(lo, hi))
    columns, agent = _grid_keys(block, lo, hi, block.scenario.steps, np.asarray(makers))
    columns |= {
        "policy": _dictionary(block.policy_codes[agent], block.policy_names),
        "ask_spread": _float(da),
        "bid_spread": _float(db),
        "ask_price": _float(pp + da),
        "bid_price": _float(pp - db),
        "best_ask": _float(best_ask),
        "best_bid": _float(best_bid),
        "reference_price": _float(pp),
    }
    return _table(QUOTES, columns)


def state(block: BlockData, lo: int, hi: int) -> pa.Table:
    """The ``state`` rows: inventory, cash and (traders) rate per agent at t_0..t_n."""
    rec = block.recorder
    n1, r, a = block.scenario.steps + 1, hi - lo, len(block.names)
    nan_row = np.full((1, r), np.nan)
    rates = [
        np.vstack([arrays["rate"][:, lo:hi], nan_row])
        if role == "trader"
        else np.full((n1, r), np.nan)
        for role, arrays in zip(block.roles, rec.agents, strict=True)
    ]
    rate = _grid(rates)
    columns, agent = _grid_keys(block, lo, hi, n1, np.arange(a))
    columns |= {
        "role": _dictionary(block.role_codes[agent], ROLES),
        "inventory": _float(_grid([x["inventory"][:, lo:hi] for x in rec.agents])),
        "cash": _float(_grid([x["cash"][:, lo:hi] for x in rec.agents])),
        "rate": _float(rate, np.isnan(rate)),
        "reference_price": _float(_grid([rec.reference_price[:, lo:hi]] * a)),
    }
    return _table(STATE, columns)


def outcomes(block: BlockData, lo: int, hi: int) -> pa.Table:
    """The ``outcomes`` rows: one per path and agent, J and its terms (J = cash + mark·Q_T −
    running_cost − terminal_cost; the mark is S_T in §2, P_T in §3–§5)."""
    rec = block.recorder
    r, a = hi - lo, len(block.names)
    rows = r * a

    def grid(get) -> np.ndarray:
        return np.stack([get(x) for x in rec.agents], axis=-1).reshape(-1)

    mark = rec.market.get("market_price", rec.reference_price)[-1, lo:hi]
    agent = np.tile(np.arange(a), r)
    columns = {
        "run_id": _run_id(block, rows),
        "path": pa.array(np.repeat(np.arange(lo, hi) + block.start, a), pa.int64()),
        "agent": _dictionary(agent, block.names),
        "role": _dictionary(block.role_codes[agent], ROLES),
        "policy": _dictionary(block.policy_codes[agent], block.policy_names),
        "objective": _float(grid(lambda x: x["objective"][lo:hi])),
        "cash": _float(grid(lambda x: x["cash"][-1, lo:hi])),
        "inventory": _float(grid(lambda x: x["inventory"][-1, lo:hi])),
        "mark_price": _float(np.repeat(mark, a)),
        "running_cost": _float(grid(lambda x: x["running_cost"][lo:hi])),
        "terminal_cost": _float(grid(lambda x: x["terminal_cost"][lo:hi])),
    }
    return _table(OUTCOMES, columns)


BUILDERS = {"events": events, "quotes": quotes, "state": state, "outcomes": outcomes}
