"""PNG figures of a comparison (matplotlib, Agg, no pyplot; same data → same bytes).

* ``payoffs.png`` — mean J ± 95% CI of every agent under every profile;
* ``regret_heatmap.png`` — agents × policies: the deviator's own paired gain;
* ``fan_inventory.png`` / ``fan_quotes.png`` — median and 5–95% bands of inventories and of
  rates / half-spreads over time, equilibrium against the scenario as written on one axis;
* ``pnl.png`` — the distribution of each agent's J, equilibrium against as written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from simulator.plots import DPI, _grid, _png, rendering

if TYPE_CHECKING:
    from simulator.compare.core import ComparisonResult

MAX_PROFILES_SHOWN = 60
"""The payoff chart shows at most this many profiles (the tournament's are left to the CSV)."""

_COLORS = {"equilibrium": "tab:blue", "as written": "tab:orange"}


def render_figures(result: ComparisonResult) -> dict[str, bytes]:
    """Every figure as ``{file name: PNG bytes}``, rendered in
    :func:`simulator.plots.rendering`."""
    with rendering():
        out = {"payoffs.png": _png(payoffs_figure(result))}
        if len(result.deviations):
            out["regret_heatmap.png"] = _png(heatmap_figure(result))
        out["fan_inventory.png"] = _png(fan_figure(result, inventory=True))
        out["fan_quotes.png"] = _png(fan_figure(result, inventory=False))
        out["pnl.png"] = _png(pnl_figure(result))
        return out


def _fixed(width: float, height: float, cols: int, left: float) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=left / width, right=1 - 0.2 / width, bottom=0.6 / height, top=1 - 0.6 / height
    )
    axes = fig.subplots(1, cols, squeeze=False, sharey=True).ravel().tolist()
    return fig, axes


def payoffs_figure(result: ComparisonResult) -> Figure:
    """Mean J ± CI per profile, one panel per agent (profiles on the shared vertical axis)."""
    pay = result.payoffs
    names = [n for n in dict.fromkeys(pay["profile"]) if not n.startswith("t: ")]
    names = names[:MAX_PROFILES_SHOWN]
    agents = [a.name for a in result.scenario.agents]
    longest = max(len(n) for n in names)
    fig, axes = _fixed(
        0.9 + 0.075 * longest + 3.0 * len(agents),
        1.4 + 0.24 * len(names),
        len(agents),
        0.3 + 0.075 * longest,
    )
    y = np.arange(len(names))[::-1]
    for ax, agent in zip(axes, agents, strict=True):
        rows = pay[pay["agent"] == agent].set_index("profile").loc[names]
        colors = [_COLORS.get(n, "tab:gray") for n in names]
        ax.errorbar(rows["mean"], y, xerr=rows["ci95"], fmt="none", ecolor=colors, elinewidth=1.2)
        ax.scatter(rows["mean"], y, c=colors, s=14, zorder=3)
        ax.axvline(float(rows.loc[result.baseline, "mean"]), color="0.5", lw=0.6, ls="--")
        ax.set_title(agent, fontsize=9)
        ax.set_xlabel("mean J ± 95% CI", fontsize=8)
        ax.grid(True, axis="x", lw=0.3, alpha=0.5)
        ax.tick_params(labelsize=7)
    axes[0].set_yticks(y, names)
    fig.suptitle(f"{result.scenario.name}: payoffs per profile", fontsize=11)
    return fig


def heatmap_figure(result: ComparisonResult) -> Figure:
    """Agents × policies: the deviator's paired gain (blue: the deviation gains)."""
    dev = result.deviations
    agents = list(dict.fromkeys(dev["agent"]))
    policies = list(dict.fromkeys(dev["policy"]))
    grid = np.full((len(agents), len(policies)), np.nan)
    for r in dev.itertuples(index=False):
        grid[agents.index(r.agent), policies.index(r.policy)] = r.gain
    width = 2.0 + 1.25 * len(policies)
    height = 1.8 + 0.5 * len(agents)
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=1.1 / width, right=1 - 0.9 / width, bottom=1.3 / height, top=0.8)
    ax = fig.add_subplot()
    scale = float(np.nanmax(np.abs(grid))) or 1.0
    image = ax.imshow(
        np.ma.masked_invalid(grid), cmap="RdBu", vmin=-scale, vmax=scale, aspect="auto"
    )
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(policies)), [p.replace("_", " ") for p in policies], fontsize=7)
    ax.tick_params(axis="x", labelrotation=30)
    ax.set_yticks(range(len(agents)), agents, fontsize=8)
    fig.colorbar(image, ax=ax, label="deviator's gain")
    fig.suptitle(
        f"gain from a unilateral deviation (vs {result.baseline}; best response vs as written)",
        fontsize=9,
    )
    return fig


def _pair(result: ComparisonResult) -> list[str]:
    return [p for p in ("equilibrium", "as written") if p in result.fans]


def fan_figure(result: ComparisonResult, inventory: bool) -> Figure:
    """Median and 5–95% bands over time, equilibrium and as written on one axis per panel."""
    panels = []
    for a in result.scenario.agents:
        if inventory:
            panels.append((a.name, "inventory", "inventory Q"))
        elif a.role == "trader":
            panels.append((a.name, "rate", "rate v"))
        else:
            panels += [(a.name, "ask_spread", "ask half-spread δᵃ")]
            panels += [(a.name, "bid_spread", "bid half-spread δᵇ")]
    fig, axes = _grid(len(panels))
    dt, n = result.scenario.dt, result.scenario.steps
    for ax, (agent, key, label) in zip(axes, panels, strict=False):
        for profile in _pair(result):
            f = result.fans[profile][agent]
            q = f.inventory if key == "inventory" else f.actions[key]
            t = np.arange(q.shape[1]) * dt
            color = _COLORS[profile]
            ax.fill_between(t, q[0], q[2], color=color, alpha=0.2, lw=0, step=None)
            ax.plot(
                t, q[1], color=color, lw=1.0, label=f"{profile} ({_policy(result, profile, agent)})"
            )
        ax.set_title(f"{agent}", fontsize=9)
        ax.set_ylabel(label, fontsize=8)
        ax.set_xlim(0, n * dt)
        ax.legend(fontsize=6)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[: len(panels)]:
        ax.grid(True, lw=0.3, alpha=0.5)
        ax.set_xlabel("time t", fontsize=8)
    what = "inventories" if inventory else "rates and quotes"
    fig.suptitle(f"{what}: median and 5–95% band", fontsize=11)
    return fig


def _policy(result: ComparisonResult, profile: str, agent: str) -> str:
    row = result.profiles.set_index("profile").loc[profile]
    return str(row[agent])


def pnl_figure(result: ComparisonResult) -> Figure:
    """Histogram of each agent's J over paths, equilibrium and as written."""
    agents = [a.name for a in result.scenario.agents]
    fig, axes = _grid(len(agents))
    for ax, agent in zip(axes, agents, strict=False):
        values = [result.objectives[p][agent] for p in _pair(result)]
        lo = min(float(v.min()) for v in values)
        hi = max(float(v.max()) for v in values)
        bins = np.linspace(lo, hi, 41) if hi > lo else np.array([lo - 0.5, lo + 0.5])
        for profile, v in zip(_pair(result), values, strict=True):
            ax.hist(
                v,
                bins=bins,
                histtype="step",
                color=_COLORS[profile],
                label=f"{profile} ({_policy(result, profile, agent)})",
            )
        ax.set_title(agent, fontsize=9)
        ax.set_xlabel("J per path", fontsize=8)
        ax.legend(fontsize=6)
        ax.grid(True, lw=0.3, alpha=0.5)
    for ax in axes[len(agents) :]:
        ax.set_visible(False)
    fig.suptitle("distribution of the objective J", fontsize=11)
    return fig
