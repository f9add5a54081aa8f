"""``marketgame nash-gap``: the Nash-gap certificate from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.cli import EXIT_INVALID, EXIT_OK, main

IMPACT = """
name = "gap_cli"
horizon = 1.0
steps = {steps}
[market]
kind = "impact"
permanent_impact = 0.2
temporary_impact = 0.3
[price]
volatility = 0.5
[noise]
buy_rate = 2.0
sell_rate = 1.0
[[traders]]
policy = "{policy}"
initial_inventory = 4.0
running_penalty = 0.2
terminal_penalty = 2.0
[[traders]]
policy = "{policy}"
initial_inventory = -2.0
running_penalty = 0.4
terminal_penalty = 1.0
"""


def _gains(tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str, steps: int) -> list:
    path = tmp_path / f"{policy}_{steps}.toml"
    path.write_text(IMPACT.format(policy=policy, steps=steps))
    assert main(["nash-gap", str(path)]) == EXIT_OK
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].split() == ["agent", "policy", "payoff", "best_response_payoff", "gain"]
    return [float(line.split()[-1]) for line in lines[2:]]


def test_equilibrium_gap_is_second_order_small_and_heuristic_gap_is_not(tmp_path, capsys):
    # The equilibrium feedback played on the grid is O(dt) from the discrete equilibrium, so its
    # gain is O(dt²) (≈ 1e-4 at 50 steps for these O(1) inventories); TWAP is O(1) away.
    eq = _gains(tmp_path, capsys, "equilibrium", 50)
    finer = _gains(tmp_path, capsys, "equilibrium", 100)
    twap = _gains(tmp_path, capsys, "twap", 50)
    assert len(eq) == len(twap) == 2
    assert max(eq) < 1e-3
    assert max(finer) < max(eq) / 3  # ratio → 4 for a second-order gap
    assert min(twap) > 100 * max(eq)


def test_an_invalid_market_exits_with_a_clear_error(tmp_path, capsys):
    path = tmp_path / "logit.toml"
    path.write_text(
        IMPACT.format(policy="twap", steps=10).replace('kind = "impact"', 'kind = "logit"')
    )
    assert main(["nash-gap", str(path)]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert "market.kind = 'logit'" in err and "allowed" in err
