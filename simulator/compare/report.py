"""The report folder of a comparison: ``report.html`` (self-contained: figures embedded as data
URIs, inline CSS, no script and no network resource), ``report.md``, one CSV per table, the PNG
figures and ``summary.json``.

The folder is written as a whole (:func:`simulator.outputs.atomic_output_dir`): everything goes
into a staging sibling that is swapped with the destination at the end, so a reader never sees
half a report. Non-finite
numbers (e.g. a Sharpe ratio of a deterministic P&L) are written as empty cells, never as
``nan``.
"""

from __future__ import annotations

import base64
import html
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simulator import outputs

if TYPE_CHECKING:
    from simulator.compare.core import ComparisonResult

_CAPTIONS = {
    "payoffs.png": "Mean J ± 95% CI of every agent under every profile.",
    "regret_heatmap.png": "Deviator's paired gain: unilateral deviations from the baseline, "
    "best responses against the profile as written.",
    "fan_inventory.png": "Inventories: median and 5–95% band, equilibrium vs as written.",
    "fan_quotes.png": "Rates and half-spreads: median and 5–95% band.",
    "pnl.png": "Distribution of J over the paths.",
}
_TABLE_NOTES = {
    "payoffs": "mean J ± ci95 per (profile, agent); diff = paired difference to the baseline.",
    "regret": "Nash gap of the profile as written (exact and fluid in §2–§4, Monte Carlo in §5) "
    "and its simulated estimate.",
    "deviations": "the deviator's own paired gain.",
    "traders": "implementation shortfall vs the arrival price = timing + permanent impact + "
    "spread cost + temporary cost; penalties = ∫φQ²dt + AQ_T²; completion = 1 − Q_T/q₀.",
    "makers": "spread captured, volume, inventory risk, marked-to-market P&L, Sharpe = "
    "mean/std of the P&L.",
    "market": "quoted and effective spread, market-order volume, price impact (§2), welfare = Σ J.",
}


REPORT_FILES = ("*.csv", "*.png", "report.html", "report.md", "summary.json")
"""What a report folder holds (an existing folder with other files is refused, not replaced)."""


def beside(scenario_path: str | os.PathLike[str], job: str) -> Path:
    """The default output folder of a job: ``runs/acas.toml`` → ``runs/acas_<job>/``."""
    path = Path(scenario_path)
    return path.with_name(f"{path.stem}_{job}")


def headline(result: ComparisonResult) -> str:
    """The terminal table: per agent, J as written and at the equilibrium (± 95% CI), the
    paired difference and the Nash gap of the written policy."""
    pay = result.payoffs.set_index(["profile", "agent"])
    gap = result.regret.set_index("agent")["nash_gap"] if len(result.regret) else {}
    has_eq = result.baseline == "equilibrium"
    has_written = "as written" in result.objectives
    header = ["agent", "role", "policy", "J as written"]
    if has_eq:
        header += ["J equilibrium", "equilibrium − written"]
    header.append("Nash gap")
    rows = []
    for a in result.scenario.agents:
        w = pay.loc[("as written" if has_written else "equilibrium", a.name)]
        row = [a.name, a.role, a.policy, f"{w['mean']:.4g} ± {w['ci95']:.2g}"]
        if has_eq:
            e = pay.loc[("equilibrium", a.name)]
            row += [
                f"{e['mean']:.4g} ± {e['ci95']:.2g}",
                f"{-w['diff']:.3g} ± {w['diff_ci95']:.2g}",
            ]
        row.append(f"{gap[a.name]:.3g}" if a.name in gap else "")
        rows.append(row)
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in (header, *rows)
    )


def _cell(value: Any) -> Any:
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        return None
    return value


def write_csv_table(path: Path, table: pd.DataFrame) -> Path:
    """One table as CSV (%.10g floats; non-finite values as empty cells)."""
    rows = [[_cell(v) for v in row] for row in table.itertuples(index=False)]
    return outputs.write_csv(path, list(table.columns), rows)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float | np.floating) and not math.isfinite(value)):
        return ""
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return str(value)


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (floats to 6 significant digits)."""
    head = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = [
        "| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])


def html_table(table: pd.DataFrame) -> str:
    """An HTML table (escaped cells; numbers right-aligned)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for row in table.itertuples(index=False):
        cells = []
        for v in row:
            cls = ' class="n"' if isinstance(v, int | float | np.number) else ""
            cells.append(f"<td{cls}>{html.escape(_fmt(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


_CSS = """
body{font-family:sans-serif;margin:2em;max-width:1400px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}
.verdict{background:#f3f6fa;border-left:4px solid #2b6cb0;padding:.6em 1em}
.verdict p{margin:.3em 0}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}
th,td{border:1px solid #ccc;padding:2px 6px}th{background:#eee}td.n{text-align:right}
figure{margin:1em 0}img{max-width:100%}figcaption{font-size:12px;color:#555}
.scroll{overflow-x:auto}
"""


def render_html(result: ComparisonResult, figures: dict[str, bytes]) -> str:
    """The self-contained HTML report."""
    s = result.scenario
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>marketgame compare: {html.escape(s.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>marketgame compare: {html.escape(s.name)}</h1>",
        '<div class="verdict">',
        *(f"<p>{html.escape(line)}</p>" for line in result.verdict.splitlines()),
        "</div>",
    ]
    for name, png in figures.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(_CAPTIONS.get(name, name))}</figcaption></figure>"
        )
    for stem, table in result.tables().items():
        if table.empty:
            continue
        note = _TABLE_NOTES.get(stem, "")
        parts.append(f"<h2>{html.escape(stem)}</h2><p>{html.escape(note)}</p>")
        parts.append(f'<div class="scroll">{html_table(table)}</div>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_markdown(result: ComparisonResult, figures: dict[str, bytes]) -> str:
    """The Markdown report (figures linked as the PNG files beside it)."""
    lines = [f"# marketgame compare: {result.scenario.name}", ""]
    lines += [f"> {line}" for line in result.verdict.splitlines()]
    lines.append("")
    for name in figures:
        lines += [f"![{_CAPTIONS.get(name, name)}]({name})", ""]
    for stem, table in result.tables().items():
        if table.empty:
            continue
        lines += [f"## {stem}", "", _TABLE_NOTES.get(stem, ""), "", markdown_table(table), ""]
    return "\n".join(lines)


def write_report(
    result: ComparisonResult, out: str | os.PathLike[str], plots: bool = True
) -> dict[str, Path]:
    """Write the report folder ``out`` atomically (module docstring); ``{file name: path}``."""
    from simulator.compare.figures import render_figures
    from simulator.runner import package_version, resolved_scenario

    figures = render_figures(result) if plots else {}
    target = Path(out)
    names: list[str] = []
    with outputs.atomic_output_dir(target, owned=REPORT_FILES) as tmp:
        for stem, table in result.tables().items():
            write_csv_table(tmp / f"{stem}.csv", table)
            names.append(f"{stem}.csv")
        for name, png in figures.items():
            outputs.atomic_write_bytes(tmp / name, png)
            names.append(name)
        outputs.atomic_write_text(tmp / "report.html", render_html(result, figures))
        outputs.atomic_write_text(tmp / "report.md", render_markdown(result, figures))
        names += ["report.html", "report.md", "summary.json"]
        outputs.write_json(
            tmp / "summary.json",
            {
                "scenario": resolved_scenario(result.scenario),
                "seed": result.seed,
                "paths": result.paths,
                "baseline": result.baseline,
                "verdict": result.verdict.splitlines(),
                "files": sorted(names),
                "marketgame_version": package_version(),
            },
        )
    return {name: target / name for name in sorted(names)}
