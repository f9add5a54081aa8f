"""The Mesa model: one :meth:`MarketModel.step` advances all M Monte Carlo paths by dt.

Step k (t_k = k·dt), in this order:

1. exogenous processes: noise rates at t_k (a(t_k), b(t_k) or κ(L_k)); P_k, L_k are current;
2. makers quote (:meth:`MarketMaker.quote`): ``policy.act(state)`` → (δᵃ, δᵇ), clipped by the
   engine, best quotes computed;
3. traders trade (:meth:`ExecutionTrader.trade`; they see ``best_ask`` / ``best_bid``): traders
   whose policies share a batch key act as one :class:`~agents.TraderBatch`, one policy call
   over an (M, k) block, so the Python cost of a step is per policy group, not per agent;
4. the engine (the scenario's mechanism, :mod:`simulator.mechanisms`) computes flows, fills and
   prices (if its clearing could raise on a non-finite action, the actions are checked first);
5. the recorder keeps the step's actions and fills; then the strategic agents settle their
   fills in one block (:meth:`Books.settle`: cash, inventory, running penalty), the noise
   traders theirs;
6. P and L advance to t_{k+1}; the recorder keeps the new state;
7. the guard: the first NaN or ±inf among the actions, the books, P and the noise rates stops
   the run with :class:`NonFiniteStateError` naming the agent, the quantity and the step (no
   non-finite number ever reaches a result; a non-finite action reaches the books in its step).

Randomness comes from :class:`~simulator.processes.PathRandom` (keyed by path blocks), not from
Mesa's ``model.rng``, so that chunked runs reproduce one-piece runs bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mesa
import numpy as np

from agents import Books, ExecutionTrader, MarketMaker, NoiseTrader, TraderBatch
from agents.base import AccountingAgent, StrategicAgent
from policies.base import MarketState, Policy
from simulator.engine import ENGINES, make_market
from simulator.mechanisms.base import Market
from simulator.processes import NoiseRates, PathRandom, ReferencePrice
from simulator.scenario import Scenario


class NonFiniteStateError(ValueError):
    """A simulated quantity became NaN or ±inf: the run stops at the first such step."""


class Recorder:
    """Preallocated ``(n+1, R)`` / ``(n, R)`` arrays for the first ``R`` paths of a run, and the
    terminal ``(M,)`` costs of every path; chunks write into their slice.

    ``first``: the run's path index of column 0 (a recorder for the paths ``[first, first + M)``
    of a larger run, e.g. one block of a dataset)."""

    TERMINAL = ("running_cost", "terminal_cost", "objective")
    """The per-path terminal arrays ``(M,)``, kept for every path (recorded or not)."""

    def __init__(
        self, scenario: Scenario, paths: int, recorded: int, noise: bool, first: int = 0
    ) -> None:
        n, r = scenario.steps, recorded
        self.recorded = r
        self.first = first
        engine = ENGINES[scenario.market.kind]

        def state() -> np.ndarray:
            return np.empty((n + 1, r))

        def per_step() -> np.ndarray:
            return np.empty((n, r))

        self.reference_price = state()
        self.market: dict[str, np.ndarray] = {}
        for name in engine.recorded_states:
            self.market[name] = state()
        for name in engine.recorded_steps:
            self.market[name] = per_step()
        if scenario.noise.factor is not None:
            self.market["noise_factor"] = state()
        self.market["noise_buy_rate"] = per_step()
        self.market["noise_sell_rate"] = per_step()
        sources = engine.route_sources(scenario)
        self.routes = np.empty((sources, len(scenario.makers), n, r)) if sources else None
        """``(sources, makers, n, R)``: the engine's
        :attr:`~simulator.mechanisms.base.Market.routes`."""
        # one block per quantity over the accounts holding it (agents' arrays are its rows):
        # a step or the horizon writes a quantity of every account in one operation
        roles = [a.role for a in scenario.agents] + (["noise"] if noise else [])
        per_role = {
            "trader": ("rate", "fill_price"),
            "maker": ("ask_spread", "bid_spread"),
            "noise": ("buy_price", "sell_price"),
        }
        k = len(roles)
        self.terminal = {name: np.empty((k, paths)) for name in self.TERMINAL}
        blocks = {"inventory": np.empty((k, n + 1, r)), "cash": np.empty((k, n + 1, r))}
        blocks |= {name: np.empty((k, n, r)) for name in ("buy_volume", "sell_volume")}
        rows = {name: range(k) for name in blocks}
        for role, names in per_role.items():
            holders = [i for i, x in enumerate(roles) if x == role]
            for name in names:
                blocks[name] = np.empty((len(holders), n, r))
                rows[name] = holders
        self.agents: list[dict[str, np.ndarray]] = [
            {name: block[i] for name, block in self.terminal.items()} for i in range(k)
        ]
        for name, block in blocks.items():
            for j, i in enumerate(rows[name]):
                self.agents[i][name] = block[j]

    def insert(self, block: Recorder) -> None:
        """Copy ``block`` — the recorder of paths ``[block.first, …)`` of the same run, e.g. a
        Dask task's — into its place: its terminal costs, and the trajectories of its recorded
        paths (which must be this recorder's paths ``block.first …``)."""
        lo = block.first - self.first
        cols = slice(lo, lo + block.recorded)
        if block.recorded and cols.stop > self.recorded:
            raise ValueError(f"paths {lo}..{cols.stop - 1} are beyond the {self.recorded} recorded")
        self.reference_price[:, cols] = block.reference_price
        if self.routes is not None:
            self.routes[..., cols] = block.routes
        for name, values in block.market.items():
            self.market[name][:, cols] = values
        for mine, theirs in zip(self.agents, block.agents, strict=True):
            for name, values in theirs.items():
                if name in self.TERMINAL:
                    mine[name][lo : lo + values.size] = values
                else:
                    mine[name][:, cols] = values


class MarketModel(mesa.Model):
    """Paths ``[start, start + paths)`` of a run of ``scenario`` with ``seed``.

    ``policies``: one built :class:`~policies.base.Policy` per strategic agent, in column order
    (traders, then makers). ``recorder``: where to write trajectories (None: nothing recorded).
    """

    def __init__(
        self,
        scenario: Scenario,
        policies: Sequence[Policy],
        paths: int,
        seed: int,
        start: int = 0,
        recorder: Recorder | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.scenario = scenario
        self.paths = paths
        self.dt = scenario.dt
        self.k = 0
        self.random_paths = PathRandom(seed, start, start + paths)
        self.price = ReferencePrice(scenario.price, paths, self.dt)
        self.noise = NoiseRates(scenario.noise, paths, scenario.steps, self.dt)
        self.market: Market = make_market(scenario, paths, self.random_paths)
        specs = scenario.agents
        q0 = [a.initial_inventory for a in specs]
        phi = [a.running_penalty for a in specs]
        n, nt = len(specs), len(scenario.traders)
        # rows: the traders, the makers, then the noise traders
        self.books = Books([*q0, 0.0], paths, [*phi, 0.0], traders=nt)
        self.names = tuple(a.name for a in specs)
        self.roles = tuple(a.role for a in specs)
        self._inventories = self.books.inventory[:n].T  # (M, n) view: MarketState.inventories
        self._q0 = np.broadcast_to(np.asarray(q0, dtype=float), (paths, n))
        self._zeros = np.zeros(paths)
        self.strategic: list[StrategicAgent] = []
        for row, (spec, policy) in enumerate(zip(specs, policies, strict=True)):
            cls = ExecutionTrader if spec.role == "trader" else MarketMaker
            policy.reset(paths)
            self.strategic.append(cls(self, spec, self.books, row, policy))
        self.noise_trader: NoiseTrader | None = None
        if self.noise.active:
            self.noise_trader = NoiseTrader(self, "noise", self.books, n)
        # mesa 3 numbers agents with a class-level counter per model (Agent._ids) that keeps
        # every model alive; all agents exist now, so release this one (else a chunked run or a
        # Dask worker keeps every chunk's buffers: ~70 MB per 1024-path dataset block)
        mesa.Agent._ids.pop(self, None)
        # the phases by agent type: Mesa's AgentSets, read once (agents_by_type rebuilds them
        # from weak references on every access) into plain lists in row order
        by_type = self.agents_by_type
        self._makers = list(by_type[MarketMaker]) if MarketMaker in by_type else []
        self._traders = list(by_type[ExecutionTrader]) if ExecutionTrader in by_type else []
        self._trading = self._trader_batches(self._traders)
        self.recorder = recorder
        if recorder is not None:
            f = recorder.first
            self._terminal_slice = slice(start - f, start - f + paths)
            lo, hi = start - f, min(start - f + paths, recorder.recorded)
            self._rec = (slice(lo, hi), slice(0, hi - lo)) if hi > lo else None
        else:
            self._rec = None
        self.start = start
        # the live buffers the step guard sums after each step (all updated in place): a NaN or
        # inf in a rate, quote, price, noise rate or impact reaches an inventory or a cash
        # account in the same step (the actions are also checked before the clearing)
        self._guarded = [self.books.inventory, self.books.cash, self.price.value]
        self._state_plan, self._step_plan = self._recording_plan()
        a_col = [a.terminal_penalty for a in self._accounts()]
        self._terminal_penalties = np.array(a_col, dtype=float).reshape(-1, 1)  # A per account
        self._record_state(0)

    @staticmethod
    def _trader_batches(traders: list[ExecutionTrader]) -> list[ExecutionTrader | TraderBatch]:
        """The traders' phase: a :class:`TraderBatch` per batch key shared by several traders,
        the others alone (a key shared by none, or None)."""
        groups: dict[object, list[ExecutionTrader]] = {}
        alone: list[ExecutionTrader | TraderBatch] = []
        for a in traders:
            key = a.policy.batch_key()
            if key is None:
                alone.append(a)
            else:
                groups.setdefault(key, []).append(a)
        batches = [TraderBatch(g[0].model, g) if len(g) > 1 else g[0] for g in groups.values()]
        return alone + batches

    # -- observation -----------------------------------------------------------------------------
    def observe(self, index: int | np.ndarray, with_quotes: bool) -> MarketState:
        """The :class:`MarketState` seen at the current step by the agent in column ``index``
        (or the batch of agents in the columns ``index``)."""
        m = self.market
        quotes = with_quotes and m.spec.has_quotes
        drift = getattr(m, "noise_drift", self._zeros)
        return MarketState(
            t=self.k * self.dt,
            step=self.k,
            dt=self.dt,
            horizon=self.scenario.horizon,
            index=index,
            names=self.names,
            roles=self.roles,
            inventories=self._inventories,
            initial_inventories=self._q0,
            reference_price=self.price.value,
            noise_drift=drift,
            noise_buy_rate=self.noise.buy,
            noise_sell_rate=self.noise.sell,
            best_ask=m.best_ask if quotes else None,
            best_bid=m.best_bid if quotes else None,
            noise_factor=self.noise.level,
        )

    # -- one step --------------------------------------------------------------------------------
    def step(self) -> None:
        k, m = self.k, self.market
        self.noise.observe(k)
        if self._makers:
            for maker in self._makers:
                maker.quote(m)
            m.post_quotes()
        for trader in self._trading:
            trader.trade(m)
        if m.needs_finite_actions:
            self._check_finite(k, (m.quotes, m.rates), self._watched_actions)
        m.clear(k, self.price.value, self.noise.buy, self.noise.sell)
        self._record_step(k)  # before the settlement, which consumes m.volume
        dt = self.dt
        self.books.settle(m.nt, m.volume, m.trader_price, m.buy, m.sell, m.cash, dt, m.diffusion)
        if self.noise_trader is not None:
            self.noise_trader.settle(m.noise_buy, m.noise_sell, m.noise_cash, dt)
        self.price.advance(self.random_paths, k)
        self.noise.advance(self.random_paths, k)
        self._check_finite(k, self._guarded, self._watched)
        self.k = k + 1
        self._record_state(self.k)

    def _watched_actions(self) -> list[tuple[str, str, np.ndarray]]:
        """(agent, quantity, values) of the step's actions, makers then traders."""
        m = self.market
        out = []
        for a in self._makers:
            out += [(a.name, "ask half-spread δᵃ", m.quotes[a.row - m.nt, 0])]
            out += [(a.name, "bid half-spread δᵇ", m.quotes[a.row - m.nt, 1])]
        return out + [(a.name, "rate v", m.rates[a.row]) for a in self._traders]

    def _watched(self) -> list[tuple[str, str, np.ndarray]]:
        """(agent, quantity, values) of everything the step guard names, causes first: the
        actions, the market's state, then the agents' books."""
        out = self._watched_actions() + self._market_watch()
        for a in self._accounts():
            out += [(a.name, "inventory Q", a.inventory), (a.name, "cash X", a.cash)]
            out += [(a.name, "running cost ∫φQ²dt", a.running_cost)]
        return out

    def _market_watch(self) -> list[tuple[str, str, np.ndarray]]:
        """The watched quantities outside the agents' books: noise rates, P, L, §2 impact."""
        m, n = self.market, self.noise
        out = [("noise", "buy rate", n.buy), ("noise", "sell rate", n.sell)]
        out += [("market", "reference price P", self.price.value)]
        if n.level is not None:
            out += [("market", "noise factor L", n.level)]
        if hasattr(m, "impact"):
            out += [
                ("market", "permanent impact I", m.impact),
                ("market", "noise drift ϖ", m.noise_drift),
            ]
        return out

    def _check_finite(
        self,
        k: int,
        buffers: Sequence[np.ndarray],
        watched: Callable[[], list[tuple[str, str, np.ndarray]]],
    ) -> None:
        """Raise :class:`NonFiniteStateError` naming the first of ``watched()`` that is NaN or
        ±inf at step ``k``. Fast path: one sum per buffer (a finite sum means finite entries)."""
        with np.errstate(over="ignore", invalid="ignore"):
            if all(np.isfinite(b.sum()) for b in buffers):
                return
        for agent, quantity, values in watched():
            bad = ~np.isfinite(values)
            if bad.any():
                path = int(np.flatnonzero(bad)[0])
                raise NonFiniteStateError(
                    f"{agent}: {quantity} = {values[path]} at step {k} (t = {k * self.dt:.6g}) "
                    f"on {int(bad.sum())} of {self.paths} paths (first: path "
                    f"{self.start + path}); the run stopped there. Some parameter is beyond what "
                    "float64 arithmetic can represent, or the policy diverged: bring the "
                    "scenario's values nearer to 1"
                )

    def run(self, progress: Callable[[int], None] | None = None) -> None:
        """All remaining steps (``progress(k)`` after each), then the terminal objectives."""
        for _ in range(self.scenario.steps - self.k):
            self.step()
            if progress is not None:
                progress(self.k)
        self._record_terminal()

    def release(self) -> None:
        """Drop everything the finished model holds; it cannot be used afterwards.

        The agents and the model refer to each other (Mesa), so without this a model and its
        buffers live until Python's cyclic garbage collector runs, which it does rarely once
        the heap is large: a Dask worker then held several blocks' buffers at once, more the
        longer the run. Call it once the recorder holds what is needed."""
        self.__dict__.clear()

    # -- recording -------------------------------------------------------------------------------
    def _accounts(self) -> list[AccountingAgent]:
        return [*self.strategic, *([self.noise_trader] if self.noise_trader else [])]

    def _recording_plan(self) -> tuple[list, list]:
        """(recorder array, source view) pairs copied at every grid time (states) and every step
        (actions, fills): the sources are the recorded paths of live buffers that the model,
        the engine and the processes update in place, so the views stay valid all run long."""
        if self._rec is None:
            return [], []
        c = self._rec[1]
        rec, m = self.recorder, self.market
        mk = rec.market
        states = [(rec.reference_price, self.price.value[c])]
        if "noise_factor" in mk:
            states.append((mk["noise_factor"], self.noise.level[c]))
        for agent, arrays in zip(self._accounts(), rec.agents, strict=True):
            states.append((arrays["inventory"], agent.inventory[c]))
            states.append((arrays["cash"], agent.cash[c]))
        steps = []
        width = c.stop - c.start
        self._split = (np.empty((m.nt, width)), np.empty((m.nt, width)))  # traders' buys, sells
        for name in m.recorded_steps:
            steps.append((mk[name], getattr(m, name)[c]))
        if rec.routes is not None:
            for s, j in np.ndindex(rec.routes.shape[:2]):
                steps.append((rec.routes[s, j], m.routes[s, j, c]))
        steps.append((mk["noise_buy_rate"], self.noise.buy[c]))
        steps.append((mk["noise_sell_rate"], self.noise.sell[c]))
        for agent, arrays in zip(self.strategic, rec.agents, strict=False):
            r = agent.row
            if agent.role == "trader":
                steps.append((arrays["buy_volume"], self._split[0][r]))
                steps.append((arrays["sell_volume"], self._split[1][r]))
                steps.append((arrays["rate"], m.rates[r, c]))
                steps.append((arrays["fill_price"], m.trader_price[r, c]))
            else:
                steps.append((arrays["buy_volume"], m.buy[r - m.nt, c]))
                steps.append((arrays["sell_volume"], m.sell[r - m.nt, c]))
                steps.append((arrays["ask_spread"], m.quotes[r - m.nt, 0, c]))
                steps.append((arrays["bid_spread"], m.quotes[r - m.nt, 1, c]))
        if self.noise_trader is not None:
            arrays = rec.agents[-1]
            steps.append((arrays["buy_volume"], m.noise_buy[c]))
            steps.append((arrays["sell_volume"], m.noise_sell[c]))
            steps.append((arrays["buy_price"], m.noise_price[0, c]))
            steps.append((arrays["sell_price"], m.noise_price[1, c]))
        return states, steps

    def _record_state(self, k: int) -> None:
        if self._rec is None:
            return
        g, c = self._rec
        for target, source in self._state_plan:
            target[k, g] = source
        mk, m = self.recorder.market, self.market
        for name in m.recorded_states:  # computed from the state, not live buffers
            mk[name][k, g] = m.recorded(name, self.price.value)[c]

    def _record_step(self, k: int) -> None:
        if self._rec is None:
            return
        g, c = self._rec
        self.market.split_volume(self.market.volume[:, c], *self._split)
        for target, source in self._step_plan:
            target[k, g] = source

    def _record_terminal(self) -> None:
        """Terminal costs and J of every path (recorded or not) into the recorder's slices, for
        every account at once (:meth:`AccountingAgent.objective`'s arithmetic on the books)."""
        if self.recorder is None:
            return
        sl = self._terminal_slice
        p_t = self.market.mark_price(self.price.value)  # S_T in §2, P_T otherwise
        accounts = self._accounts()
        out = self.recorder.terminal
        rows = slice(0, len(accounts))
        q, books = self.books.inventory[rows], self.books
        out["running_cost"][:, sl] = books.running[rows]
        with np.errstate(over="ignore", invalid="ignore"):
            terminal = np.multiply(self._terminal_penalties, q**2, out=out["terminal_cost"][:, sl])
            objective = books.cash[rows] + p_t * q
            objective -= books.running[rows]
            np.subtract(objective, terminal, out=out["objective"][:, sl])
        if (
            np.isfinite(out["terminal_cost"][:, sl]).all()
            and np.isfinite(out["objective"][:, sl]).all()
        ):
            return
        for i, agent in enumerate(accounts):
            for quantity, values in (
                ("terminal cost A·Q_T²", out["terminal_cost"][i, sl]),
                ("objective J", out["objective"][i, sl]),
            ):
                bad = ~np.isfinite(values)
                if bad.any():
                    raise NonFiniteStateError(
                        f"{agent.name}: {quantity} = {values[bad][0]} at the horizon on "
                        f"{int(bad.sum())} of {self.paths} paths: it overflows float64; bring "
                        "the scenario's values nearer to 1"
                    )
