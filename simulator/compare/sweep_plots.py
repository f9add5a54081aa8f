"""Figures of a sweep: the equilibrium's advantage over each written heuristic and each
heuristic's regret (Nash gap), against the grid.

One axis (or a zipped grid, drawn against its first key): lines with 95% CI bars, one per agent.
Two cartesian axes: one heat map per agent. More axes: lines against the point number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simulator.plots import _grid, _png, rendering

_TITLES = {
    "equilibrium_advantage": "equilibrium advantage over the written heuristic (paired, ± 95% CI)",
    "regret": "regret of the written policy (Nash gap)",
}


def render_sweep_figures(table: pd.DataFrame, keys: list[str], zipped: bool) -> dict[str, bytes]:
    """``{file name: PNG bytes}``: ``advantage.png`` and ``regret.png`` when they have data."""
    summary = table[table["table"] == "summary"]
    out = {}
    with rendering():
        for metric, name in (("equilibrium_advantage", "advantage.png"), ("regret", "regret.png")):
            rows = summary[summary["metric"] == metric]
            if rows.empty:
                continue
            if len(keys) == 2 and not zipped:
                fig = _heatmaps(rows, keys, metric)
            else:
                fig = _lines(rows, keys, metric, many=len(keys) > 1 and not zipped)
            out[name] = _png(fig)
    return out


def _lines(rows: pd.DataFrame, keys: list[str], metric: str, many: bool) -> Figure:
    fig, axes = _grid(1)
    ax = axes[0]
    x_key = keys[0]
    for agent, group in rows.groupby("agent", sort=False):
        g = group.reset_index(drop=True)
        x = np.arange(len(g)) if many else g[x_key].to_numpy()
        ci = g["ci95"].fillna(0.0).to_numpy()
        ax.errorbar(x, g["value"], yerr=ci, marker="o", ms=3, capsize=2, lw=1, label=agent)
    ax.set_xlabel("grid point" if many else x_key, fontsize=8)
    ax.set_ylabel(metric, fontsize=8)
    ax.axhline(0.0, color="0.5", lw=0.6)
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(fontsize=7)
    fig.suptitle(_TITLES[metric], fontsize=9)
    return fig


def _heatmaps(rows: pd.DataFrame, keys: list[str], metric: str) -> Figure:
    agents = list(dict.fromkeys(rows["agent"]))
    fig, axes = _grid(len(agents))
    y_vals = sorted(rows[keys[0]].unique())
    x_vals = sorted(rows[keys[1]].unique())
    for ax, agent in zip(axes, agents, strict=False):
        g = rows[rows["agent"] == agent]
        grid = np.full((len(y_vals), len(x_vals)), np.nan)
        for rec in g.to_dict("records"):
            grid[y_vals.index(rec[keys[0]]), x_vals.index(rec[keys[1]])] = rec["value"]
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(x_vals)), [_label(v) for v in x_vals], fontsize=7)
        ax.set_yticks(range(len(y_vals)), [_label(v) for v in y_vals], fontsize=7)
        ax.set_xlabel(keys[1], fontsize=8)
        ax.set_ylabel(keys[0], fontsize=8)
        ax.set_title(agent, fontsize=9)
        fig.colorbar(image, ax=ax)
    for ax in axes[len(agents) :]:
        ax.set_visible(False)
    fig.suptitle(_TITLES[metric], fontsize=9)
    return fig


def _label(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, int | float | np.number) else str(value)
