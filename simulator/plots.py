"""PNG plots of a :class:`~simulator.result.SimulationResult` (matplotlib, Agg backend).

:func:`render_all` returns ``{file name: PNG bytes}``:

* ``inventories.png`` — Q_t of every strategic agent on the recorded paths;
* ``actions.png`` — traders' rates vⁱ and makers' half-spreads (δᵃ, δᵇ) on the recorded paths;
* ``prices.png`` — the reference price P (and S = P + I + ϖ in §2, or the best quotes
  P + min δᵃ, P − min δᵇ in §3–§5), and the impact S − P or the best half-spreads;
* ``pnl.png`` — the distribution of each strategic agent's objective J over *all* paths.

Figures are built with the object-oriented API (no pyplot, no global figure state) under
matplotlib's default style, and saved without the ``Software`` text chunk, so the same result
gives the same bytes.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import matplotlib as mpl
import matplotlib.style
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from simulator.outputs import ctrl_c_deferred
from simulator.result import AgentPath, SimulationResult

MAX_PLOTTED_PATHS = 16
"""Trajectory plots draw at most this many of the recorded paths."""

PNG_METADATA = {"Software": None}
"""savefig metadata: drop the version-dependent ``Software`` chunk (PNG has no timestamp)."""

DPI = 100
_PANEL = (4.2, 2.8)  # inches per subplot panel
_LEFT, _RIGHT, _BOTTOM, _TOP = 0.75, 0.15, 0.5, 0.55  # figure margins, inches


@contextlib.contextmanager
def rendering() -> Iterator[None]:
    """The context every figure of the package is rendered in: matplotlib's default style, and
    a Ctrl-C held until the block is done (:func:`simulator.outputs.ctrl_c_deferred`).
    matplotlib is not interrupt-safe: an interrupt inside its transforms could be swallowed and
    surface later as an unrelated error ("Invalid bounding box") instead of the interrupt."""
    with ctrl_c_deferred(), mpl.style.context("default"):
        yield


def render_all(result: SimulationResult) -> dict[str, bytes]:
    """All plots of ``result`` as ``{file name: PNG bytes}`` (see the module docstring),
    rendered in :func:`rendering`."""
    with rendering():
        return {
            "inventories.png": _png(plot_inventories(result)),
            "actions.png": _png(plot_actions(result)),
            "prices.png": _png(plot_prices(result)),
            "pnl.png": _png(plot_pnl(result)),
        }


def plot_inventories(result: SimulationResult) -> Figure:
    """Inventories Q_t of the strategic agents (traders, then makers)."""
    agents = [a for a in result.agents if a.role in ("trader", "maker")]
    fig, axes = _grid(len(agents))
    r = _shown(result)
    for ax, agent in zip(axes, agents, strict=False):
        _lines(ax, result.time, agent.inventory[:, :r])
        ax.axhline(0.0, color="0.5", lw=0.6)
        ax.set_title(_label(agent), fontsize=9)
        ax.set_ylabel("inventory Q")
    _finish(fig, axes, len(agents), f"Inventories ({r} of {result.paths} paths)")
    return fig


def plot_actions(result: SimulationResult) -> Figure:
    """Traders' rates v (>0 buys) and makers' half-spreads δᵃ (ask), δᵇ (bid)."""
    agents = [a for a in result.agents if a.role in ("trader", "maker")]
    fig, axes = _grid(len(agents))
    r = _shown(result)
    t = result.time[:-1]
    for ax, agent in zip(axes, agents, strict=False):
        if agent.role == "trader":
            _lines(ax, t, agent.rate[:, :r], step=True)
            ax.axhline(0.0, color="0.5", lw=0.6)
            ax.set_ylabel("rate v")
        else:
            _lines(ax, t, agent.ask_spread[:, :r], step=True, color="C3", label="ask δᵃ")
            _lines(ax, t, agent.bid_spread[:, :r], step=True, color="C2", label="bid δᵇ")
            ax.set_ylabel("half-spread")
            ax.legend(fontsize=7, loc="best")
        ax.set_title(_label(agent), fontsize=9)
    _finish(fig, axes, len(agents), f"Actions ({r} of {result.paths} paths)")
    return fig


def plot_prices(result: SimulationResult) -> Figure:
    """Left: P on the recorded paths with S (§2) or the best quotes (§3–§5) on path 0.
    Right: the market's deviation from P on the recorded paths — S − P = I + ϖ (§2), or the
    best half-spreads min δᵃ, min δᵇ (§3–§5)."""
    market = result.market
    has_impact, has_quotes = "market_price" in market, "best_ask" in market
    fig, axes = _grid(2 if has_impact or has_quotes else 1)
    ax = axes[0]
    r = _shown(result)
    _lines(ax, result.time, result.reference_price[:, :r], color="0.55", label="reference P")
    if has_impact:
        s = market["market_price"]
        ax.plot(result.time, s[:, 0], color="C0", lw=1.2, label="market S = P + I + ϖ (path 0)")
        _lines(axes[1], result.time, s[:, :r] - result.reference_price[:, :r], color="C0")
        axes[1].set_ylabel("impact S − P = I + ϖ")
    if has_quotes:
        t, p = result.time[:-1], result.reference_price[:-1, 0]
        ask, bid = market["best_ask"], market["best_bid"]
        ax.step(
            t, p + ask[:, 0], where="post", color="C3", lw=1.0, label="best ask P + min δᵃ (path 0)"
        )
        ax.step(
            t, p - bid[:, 0], where="post", color="C2", lw=1.0, label="best bid P − min δᵇ (path 0)"
        )
        _lines(axes[1], t, ask[:, :r], step=True, color="C3", label="best ask min δᵃ")
        _lines(axes[1], t, bid[:, :r], step=True, color="C2", label="best bid min δᵇ")
        axes[1].set_ylabel("best half-spread")
        axes[1].legend(fontsize=7, loc="best")
    ax.set_ylabel("price")
    ax.legend(fontsize=7, loc="best")
    _finish(fig, axes, len(axes), f"Prices ({r} of {result.paths} paths)")
    return fig


def plot_pnl(result: SimulationResult) -> Figure:
    """Histogram of each strategic agent's objective J over all paths, with its mean."""
    agents = [a for a in result.agents if a.role in ("trader", "maker")]
    fig, axes = _grid(len(agents))
    for ax, agent in zip(axes, agents, strict=False):
        j = agent.objective
        ax.hist(j, bins=_bins(j), color="C0", alpha=0.8)
        ax.axvline(float(j.mean()), color="C3", lw=1.2, label=f"mean {j.mean():.4g}")
        ax.set_title(_label(agent), fontsize=9)
        ax.set_xlabel("objective J")
        ax.legend(fontsize=7, loc="best")
    _finish(fig, axes, len(agents), f"Objective J over {result.paths} paths")
    return fig


def _shown(result: SimulationResult) -> int:
    return min(result.recorded_paths, MAX_PLOTTED_PATHS)


def _label(agent: AgentPath) -> str:
    return f"{agent.name} ({agent.role}, {agent.policy})"


def _bins(values: np.ndarray) -> np.ndarray | int:
    lo, hi = float(values.min()), float(values.max())
    if not hi > lo:  # a deterministic J: one bar around the value
        width = max(abs(lo), 1.0) * 1e-6
        return np.array([lo - width, hi + width])
    return 40


def _lines(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    *,
    step: bool = False,
    color: str = "C0",
    label: str | None = None,
) -> None:
    alpha = 0.9 if y.shape[1] == 1 else 0.45
    for i in range(y.shape[1]):
        kwargs = {"color": color, "lw": 0.8, "alpha": alpha, "label": label if i == 0 else None}
        if step:
            ax.step(x, y[:, i], where="post", **kwargs)
        else:
            ax.plot(x, y[:, i], **kwargs)


def _grid(count: int) -> tuple[Figure, list[Axes]]:
    """A figure of ``count`` panels (at most 3 per row) with fixed margins in inches.

    Fixed margins instead of the constrained layout engine: it costs a second text-layout pass,
    which dominated the run time of small scenarios.
    """
    cols = min(max(count, 1), 3)
    rows = max(1, -(-count // cols))
    width, height = _PANEL[0] * cols, _PANEL[1] * rows + _TOP
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=_LEFT / width,
        right=1 - _RIGHT / width,
        bottom=_BOTTOM / height,
        top=1 - _TOP / height,
        wspace=0.38,
        hspace=0.55,
    )
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    return fig, axes


def _finish(fig: Figure, axes: list[Axes], used: int, title: str) -> None:
    for ax in axes[used:]:
        ax.set_visible(False)
    for ax in axes[:used]:
        ax.grid(True, lw=0.3, alpha=0.5)
        if not ax.get_xlabel():
            ax.set_xlabel("time t")
    fig.suptitle(title, fontsize=11)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata=PNG_METADATA)
    return buffer.getvalue()
