"""The short text verdict at the top of a comparison report.

Every number is a paired difference with its 95% confidence half-width (``0.55 ± 0.04``); a
difference whose interval contains zero is called indistinguishable rather than a win.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from simulator.compare.core import ComparisonResult


def pm(value: float, half: float) -> str:
    """``value ± half`` with 3 and 2 significant digits."""
    return f"{value:.3g} ± {half:.2g}"


def _significant(value: float, half: float) -> bool:
    return abs(value) > half


def verdict_lines(result: ComparisonResult) -> list[str]:
    """The verdict, one sentence per line (see the module docstring)."""
    s = result.scenario
    lines = [
        f"{s.name} ({s.market.kind}, {s.flow}): {len(result.profiles)} profiles on the same "
        f"{result.paths} paths (seed {result.seed}); ± are 95% confidence intervals of paired "
        "differences."
    ]
    pay = result.payoffs
    if result.baseline == "equilibrium":
        lines += _equilibrium_vs_written(result, pay)
        lines += _largest_deviation(pay)
    lines += _largest_regret(result.regret)
    lines += _welfare(result)
    lines += result.notes
    if len(result.skipped):
        names = ", ".join(result.skipped["profile"])
        lines.append(f"Not played (see the skipped table for why): {names}.")
    return lines


def _own(pay: pd.DataFrame, profile: str, agent: str) -> pd.Series | None:
    row = pay[(pay["profile"] == profile) & (pay["agent"] == agent)]
    return None if row.empty else row.iloc[0]


def _equilibrium_vs_written(result: ComparisonResult, pay: pd.DataFrame) -> list[str]:
    """For each agent written with a heuristic h: J(equilibrium) − J(agent alone plays h)."""
    out = []
    for a in result.scenario.agents:
        if a.policy == "equilibrium":
            continue
        row = _own(pay, f"{a.name}: {a.policy}", a.name)
        if row is None:
            continue
        gain, half = -row["diff"], row["diff_ci95"]
        if not _significant(gain, half):
            out.append(
                f"For {a.name}, equilibrium and {a.policy} are indistinguishable "
                f"({pm(gain, half)})."
            )
        elif gain > 0:
            out.append(f"Equilibrium beats {a.policy} for {a.name} by {pm(gain, half)}.")
        else:
            out.append(
                f"{a.policy} beats the equilibrium feedback map for {a.name} by "
                f"{pm(-gain, half)} (the others at equilibrium)."
            )
    return out


def _largest_deviation(pay: pd.DataFrame) -> list[str]:
    own = pay[(pay["kind"] == "deviation") & (pay["agent"] == pay["deviator"])]
    if own.empty:
        return []
    best = own.loc[own["diff"].idxmax()]
    gain, half = float(best["diff"]), float(best["diff_ci95"])
    if gain < -half:
        return [
            f"Every unilateral deviation from the equilibrium loses; the smallest loss is "
            f"{best['profile']}: {pm(-gain, half)}."
        ]
    if gain <= half:
        return [
            f"No unilateral deviation from the equilibrium gains significantly; the best, "
            f"{best['profile']}, changes J by {pm(gain, half)}."
        ]
    return [
        f"The largest gain from a unilateral deviation from the equilibrium is "
        f"{best['profile']}: {pm(gain, half)}."
    ]


def _largest_regret(regret: pd.DataFrame) -> list[str]:
    if regret.empty:
        return []
    worst = regret.loc[regret["nash_gap"].idxmax()]
    text = (
        f"Against the scenario as written, the most exploitable agent is {worst['agent']} "
        f"({worst['policy']}): its best response gains {worst['nash_gap']:.3g} (Nash gap)"
    )
    if pd.notna(worst["mc_gain"]):
        text += f", {pm(worst['mc_gain'], worst['mc_gain_ci95'])} simulated"
    eq = float(regret["equilibrium_gap"].max())
    return [text + f"; at the equilibrium no agent gains more than {eq:.2g}."]


def _welfare(result: ComparisonResult) -> list[str]:
    mk = result.market.set_index("profile")
    if result.baseline != "equilibrium" or "as written" not in mk.index:
        return []
    w, eq = mk.loc["as written"], mk.loc["equilibrium"]
    return [
        f"Welfare (Σ J of the strategic agents): equilibrium {eq['welfare']:.4g}, "
        f"as written {w['welfare']:.4g}; as written − equilibrium = "
        f"{pm(w['welfare_diff'], w['welfare_diff_ci95'])}."
    ]
