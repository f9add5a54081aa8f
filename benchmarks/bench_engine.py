"""Engine throughput on the §4 (ACAS) market: our Mesa model vs a naive Mesa model vs bare numpy.

Usage::

    python benchmarks/bench_engine.py [--paths 10000] [--steps 1000] [--mesa-paths 64]
                                      [--repeats 3] [--profile]

The market: one TWAP buyer (q₀ = −10) and two inventory-skew makers (δᵃ = s − kQ, δᵇ = s + kQ),
noise traders buying and selling at constant rates, fluid order flow, Λ(x) = exp(−γx), T = 1.
Identical policies and dynamics in all three implementations (Guo & Jin §3 with the engine's
exact piecewise-constant discretisation, see ``simulator/mechanisms/best_quote.py``):

(i)  ours   — ``simulate(scenario, record=False)`` (and with ``record=16``, what the runner does):
              one Mesa agent per market participant, numpy vectors over the M paths;
(a)  naive  — a Mesa model with one Mesa agent per participant *per path* (a trader and two
              makers per path), scalar Python arithmetic; run on ``--mesa-paths`` paths;
(b)  numpy  — the same dynamics as one bare numpy function over (M,) arrays: the floor.

Throughput is reported in agent-path-steps per second (3 strategic agents × paths × steps per
run / wall time; best of ``--repeats`` rounds after an untimed warm-up, implementations
interleaved so that machine load hits them alike; the range over rounds and the per-round paired
ratios are printed too, since the machine is shared and timings are noisy). All three use the
same standard normals for the reference price (the block-keyed stream of
:class:`simulator.processes.PathRandom`), so their objectives J must agree path by path to
rounding; the script asserts this before printing the table. The naive model gets its normals
as pre-drawn Python lists (not timed), so its rate is, if anything, flattered. Targets:
(i) ≥ 50× (a) and (i) within 4× of (b), judged on the best-of-k times (PASS/FAIL printed;
``--strict`` exits 1 on a FAIL).

Note on fairness: in fluid mode this market's inventories, hence the makers' quotes, are the same
on every path (only the reference price, which no policy here reads, is random). The engine
notices and evaluates exp(−γx) once per side instead of once per path (bit-identical, see
``BestQuoteMarket._exp``); (a) and (b) evaluate it per path, as a plain implementation would.
With path-dependent quotes (Poisson flow, price-driven policies, §5 inventory noise) the engine
pays the full exp, as (b) does.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import mesa
import numpy as np

from simulator import Scenario, simulate
from simulator.processes import PRICE, PathRandom

SEED = 2024
AGENTS = 3  # strategic agents: one trader, two makers


@dataclass(frozen=True)
class Params:
    """The benchmark market (symbols of Guo & Jin §3–§4)."""

    horizon: float = 1.0
    steps: int = 1000
    beta: float = 0.1  # temporary cost βv²
    gamma: float = 2.0  # Λ(x) = exp(−γx)
    xi: float = 5.0  # |δ| ≤ ξ
    eps: float = 0.1  # buyer's rate in [ε, ξ̃]
    xi_tilde: float = 100.0
    sigma: float = 1.0  # reference price volatility
    noise_buy: float = 20.0  # a
    noise_sell: float = 20.0  # b
    q0_trader: float = -10.0
    phi_trader: float = 0.1
    a_trader: float = 1.0
    half_spreads: tuple[float, float] = (0.4, 0.6)  # s of each maker
    skews: tuple[float, float] = (0.05, 0.1)  # k of each maker
    q0_makers: tuple[float, float] = (2.0, 0.0)
    phi_maker: float = 0.05
    a_maker: float = 1.0

    @property
    def dt(self) -> float:
        return self.horizon / self.steps

    @property
    def twap_rate(self) -> float:
        """TWAP v = −q₀/T, clipped to the admissible set [ε, ξ̃] (a buyer)."""
        return min(max(-self.q0_trader / self.horizon, self.eps), self.xi_tilde)

    def scenario(self, paths: int) -> Scenario:
        maker = {
            "policy": "inventory_skew",
            "running_penalty": self.phi_maker,
            "terminal_penalty": self.a_maker,
        }
        return Scenario.from_dict(
            {
                "name": "bench_acas",
                "horizon": self.horizon,
                "steps": self.steps,
                "paths": paths,
                "seed": SEED,
                "market": {
                    "kind": "acas",
                    "temporary_impact": self.beta,
                    "intensity_decay": self.gamma,
                    "max_spread": self.xi,
                    "min_rate": self.eps,
                    "max_rate": self.xi_tilde,
                },
                "price": {"initial": 0.0, "volatility": self.sigma},
                "noise": {"buy_rate": self.noise_buy, "sell_rate": self.noise_sell},
                "traders": [
                    {
                        "name": "trader",
                        "policy": "twap",
                        "initial_inventory": self.q0_trader,
                        "running_penalty": self.phi_trader,
                        "terminal_penalty": self.a_trader,
                    }
                ],
                "makers": [
                    {
                        **maker,
                        "name": f"maker_{j}",
                        "initial_inventory": self.q0_makers[j],
                        "params": {"half_spread": self.half_spreads[j], "skew": self.skews[j]},
                    }
                    for j in range(2)
                ],
            }
        )


# ---------------------------------------------------------------------------------------------
# (i) our model
# ---------------------------------------------------------------------------------------------


def run_ours(p: Params, paths: int, record: bool | int = False) -> np.ndarray:
    """J of (trader, maker_0, maker_1), shape (3, M), from :func:`simulator.simulate`."""
    res = simulate(p.scenario(paths), paths=paths, seed=SEED, record=record)
    return np.stack([res.agent(n).objective for n in ("trader", "maker_0", "maker_1")])


# ---------------------------------------------------------------------------------------------
# (b) bare numpy: the floor
# ---------------------------------------------------------------------------------------------


def run_numpy(p: Params, paths: int) -> np.ndarray:
    """The same market as one numpy function over (M,) arrays; J of the 3 agents, (3, M)."""
    dt, n, g = p.dt, p.steps, p.gamma
    rnd = PathRandom(SEED, 0, paths)
    scale = p.sigma * math.sqrt(dt)
    price = np.zeros(paths)
    q = np.empty((3, paths))  # trader, maker 0, maker 1
    q[0], q[1], q[2] = p.q0_trader, p.q0_makers[0], p.q0_makers[1]
    cash = np.zeros((3, paths))
    run = np.zeros((3, paths))
    phi = np.array([p.phi_trader, p.phi_maker, p.phi_maker]).reshape(3, 1)
    s = np.array(p.half_spreads).reshape(2, 1)
    k = np.array(p.skews).reshape(2, 1)
    v = p.twap_rate
    a_tilde = p.noise_buy + v  # ã = a + v (the buyer's order hits the asks)
    b_tilde = p.noise_sell
    prev = np.empty_like(q)
    for step in range(n):
        tilt = k * q[1:]
        ask = np.clip(s - tilt, -p.xi, p.xi)  # (2, M)
        bid = np.clip(s + tilt, -p.xi, p.xi)
        x = np.exp(-g * (ask[0] - ask[1]))  # Λ(δ⁰ᵃ − δ¹ᵃ); maker 1 gets 1/x
        y = np.exp(-g * (bid[0] - bid[1]))
        sold = np.stack([x, 1.0 / x]) * (a_tilde * dt)
        bought = np.stack([y, 1.0 / y]) * (b_tilde * dt)
        best_ask = ask.min(axis=0)
        prev[:] = q
        cash[1:] += (price + ask) * sold - (price - bid) * bought
        q[1:] += bought - sold
        cash[0] -= (price + best_ask + p.beta * v) * (v * dt)
        q[0] += v * dt
        run += (phi * dt / 3.0) * (prev * (prev + q) + q * q)
        price += scale * rnd.normal(PRICE, step)
    a = np.array([p.a_trader, p.a_maker, p.a_maker]).reshape(3, 1)
    return cash + price * q - run - a * q * q


# ---------------------------------------------------------------------------------------------
# (a) naive Mesa: one Mesa agent per participant and per path, scalar Python
# ---------------------------------------------------------------------------------------------


class NaiveMaker(mesa.Agent):
    """One maker on one path: scalar inventory, cash, running penalty."""

    def __init__(self, model: NaiveMarket, q0: float, half_spread: float, skew: float) -> None:
        super().__init__(model)
        self.q, self.cash, self.running = q0, 0.0, 0.0
        self.s, self.k = half_spread, skew
        self.ask = self.bid = half_spread

    def quote(self) -> None:
        xi = self.model.p.xi
        self.ask = min(max(self.s - self.k * self.q, -xi), xi)
        self.bid = min(max(self.s + self.k * self.q, -xi), xi)

    def settle(self, bought: float, sold: float, cash: float, phi: float, dt: float) -> None:
        prev = self.q
        self.q = prev + bought - sold
        self.cash += cash
        self.running += phi * dt / 3.0 * (prev * (prev + self.q) + self.q * self.q)


class NaiveTrader(NaiveMaker):
    """The TWAP buyer of one path; it also clears its path's market and moves its price."""

    def __init__(self, model: NaiveMarket, path: int, makers: list[NaiveMaker]) -> None:
        p = model.p
        super().__init__(model, p.q0_trader, 0.0, 0.0)
        self.path, self.makers, self.price = path, makers, 0.0

    def trade(self) -> None:
        model = self.model
        p, dt = model.p, model.p.dt
        m0, m1 = self.makers
        v = min(max(-p.q0_trader / p.horizon, p.eps), p.xi_tilde)
        a_tilde, b_tilde = p.noise_buy + v, p.noise_sell
        price = self.price
        x = math.exp(-p.gamma * (m0.ask - m1.ask))
        y = math.exp(-p.gamma * (m0.bid - m1.bid))
        sold0, sold1 = a_tilde * x * dt, a_tilde / x * dt
        bought0, bought1 = b_tilde * y * dt, b_tilde / y * dt
        m0.settle(
            bought0, sold0, (price + m0.ask) * sold0 - (price - m0.bid) * bought0, p.phi_maker, dt
        )
        m1.settle(
            bought1, sold1, (price + m1.ask) * sold1 - (price - m1.bid) * bought1, p.phi_maker, dt
        )
        best_ask = min(m0.ask, m1.ask)
        self.settle(v * dt, 0.0, -(price + best_ask + p.beta * v) * v * dt, p.phi_trader, dt)
        self.price = price + model.scale * model.normals[model.k][self.path]


class NaiveMarket(mesa.Model):
    """``paths`` independent copies of the market, three Mesa agents each."""

    def __init__(self, p: Params, paths: int, normals: list[list[float]]) -> None:
        super().__init__(seed=SEED)
        self.p, self.k, self.normals = p, 0, normals
        self.scale = p.sigma * math.sqrt(p.dt)
        self.traders = []
        for path in range(paths):
            makers = [
                NaiveMaker(self, p.q0_makers[j], p.half_spreads[j], p.skews[j]) for j in range(2)
            ]
            self.traders.append(NaiveTrader(self, path, makers))

    def step(self) -> None:
        self.agents_by_type[NaiveMaker].do("quote")
        self.agents_by_type[NaiveTrader].do("trade")
        self.k += 1

    def objectives(self) -> np.ndarray:
        out = np.empty((3, len(self.traders)))
        for i, t in enumerate(self.traders):
            for row, agent in enumerate((t, *t.makers)):
                a = self.p.a_trader if row == 0 else self.p.a_maker
                out[row, i] = agent.cash + t.price * agent.q - agent.running - a * agent.q**2
        return out


def naive_normals(p: Params, paths: int) -> list[list[float]]:
    """The price normals of the first ``paths`` paths as Python lists (drawn before timing)."""
    rnd = PathRandom(SEED, 0, paths)
    return [rnd.normal(PRICE, k).tolist() for k in range(p.steps)]


def run_naive(p: Params, paths: int, normals: list[list[float]]) -> np.ndarray:
    model = NaiveMarket(p, paths, normals)
    for _ in range(p.steps):
        model.step()
    return model.objectives()


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------


def timed(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


OURS, OURS_REC, FLOOR, NAIVE = (
    "(i) ours, simulate(record=False)",
    "(i) ours, simulate(record=16)",
    "(b) bare numpy function",
    "(a) naive Mesa, agent per path",
)
TARGET_NAIVE = 50.0  # (i) at least this many times the naive model's throughput
TARGET_FLOOR = 4.0  # (i) at most this many times slower than the numpy floor


def spread(values: list[float], fmt: str) -> str:
    """``best [min–max]`` of per-round figures."""
    return f"{format(min(values), fmt)}–{format(max(values), fmt)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--mesa-paths", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="rounds (best of k)")
    parser.add_argument("--profile", action="store_true", help="cProfile one run of (i)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    p = Params(steps=args.steps)
    m, n, mm = args.paths, args.steps, args.mesa_paths
    normals = naive_normals(p, mm)

    impls: dict[str, tuple[int, Callable[[], np.ndarray]]] = {
        OURS: (m, lambda: run_ours(p, m, record=False)),
        OURS_REC: (m, lambda: run_ours(p, m, record=16)),
        FLOOR: (m, lambda: run_numpy(p, m)),
        NAIVE: (mm, lambda: run_naive(p, mm, normals)),
    }
    times: dict[str, list[float]] = {name: [] for name in impls}
    results: dict[str, np.ndarray] = {}
    for _, fn in impls.values():  # untimed warm-up (imports, caches, allocator)
        fn()
    for _ in range(args.repeats):  # interleaved, so that load spikes hit every implementation
        for name, (_, fn) in impls.items():
            elapsed, out = timed(fn)
            times[name].append(elapsed)
            results[name] = out

    # same dynamics: identical normals, so J agrees path by path up to rounding
    ours, floor = results[OURS], results[FLOOR]
    np.testing.assert_allclose(ours, floor, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(results[OURS_REC], floor, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(results[NAIVE], floor[:, :mm], rtol=1e-9, atol=1e-9)

    def rate(name: str, seconds: float) -> float:
        """Agent-path-steps per second."""
        return AGENTS * impls[name][0] * n / seconds

    best = {name: min(t) for name, t in times.items()}
    print(
        f"§4 ACAS market: 1 TWAP trader + 2 inventory-skew makers + noise, fluid, {n} steps; "
        f"best of {args.repeats} interleaved rounds (range over rounds in brackets)"
    )
    print(
        f"{'implementation':34s} {'paths':>7s} {'best s':>8s} {'[range s]':>15s} "
        f"{'agent-path-steps/s':>19s} {'rate (i)/this':>14s}"
    )
    for name, (paths, _) in impls.items():
        r = rate(name, best[name])
        span = "[" + spread(times[name], ".3f") + "]"
        print(
            f"{name:34s} {paths:7d} {best[name]:8.3f} {span:>15s} {r:19.3e} "
            f"{rate(OURS, best[OURS]) / r:13.2f}x"
        )
    print(
        "mean J (ours / numpy): "
        + ", ".join(
            f"{a} {ours[r].mean():.6g} / {floor[r].mean():.6g}"
            for r, a in enumerate(("trader", "maker_0", "maker_1"))
        )
    )
    ok = True
    print(f"{'target':50s} {'best-of-k':>10s} {'[per round]':>16s}  verdict")
    for name in (OURS, OURS_REC):
        # per round: the implementations ran back to back, so the paired ratio is the fair one
        rounds = range(args.repeats)
        vs_naive = [rate(name, times[name][k]) / rate(NAIVE, times[NAIVE][k]) for k in rounds]
        vs_floor = [times[name][k] / times[FLOOR][k] for k in rounds]
        naive_x = rate(name, best[name]) / rate(NAIVE, best[NAIVE])
        floor_x = best[name] / best[FLOOR]
        tag = name.split(", ")[1]
        for label, value, per_round, passed in (
            (
                f"{tag} vs (a) naive, >= {TARGET_NAIVE:.0f}x faster",
                naive_x,
                vs_naive,
                naive_x >= TARGET_NAIVE,
            ),
            (
                f"{tag} vs (b) floor, <= {TARGET_FLOOR:.0f}x slower",
                floor_x,
                vs_floor,
                floor_x <= TARGET_FLOOR,
            ),
        ):
            fmt = ".0f" if "naive" in label else ".2f"
            print(
                f"{label:50s} {format(value, fmt) + 'x':>10s} "
                f"{'[' + spread(per_round, fmt) + ']':>16s}  {'PASS' if passed else 'FAIL'}"
            )
            ok &= passed
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run_ours(p, m, record=False)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(20)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
