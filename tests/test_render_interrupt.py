"""Figures are rendered whole: a Ctrl-C that arrives while matplotlib draws is held until every
figure is done and then raised as ``KeyboardInterrupt`` (matplotlib is not interrupt-safe: an
interrupt inside its transforms was once swallowed and resurfaced as "Invalid bounding box")."""

from __future__ import annotations

import os
import signal

import pytest

import simulator.compare.figures as compare_figures
import simulator.plots as plots
from simulator import simulate
from simulator.compare import compare
from tests.test_compare import impact_scenario


def _interrupt_first_png(monkeypatch, module) -> list[int]:
    """``module._png`` sends a real SIGINT to this process as the first figure is drawn; the
    returned list counts the figures drawn."""
    drawn: list[int] = []
    real = module._png

    def png(fig):
        if not drawn:
            os.kill(os.getpid(), signal.SIGINT)
        drawn.append(1)
        return real(fig)

    monkeypatch.setattr(module, "_png", png)
    return drawn


def test_rendering_holds_a_ctrl_c_until_the_block_is_done(ctrl_c_handled):
    done = []
    with pytest.raises(KeyboardInterrupt):
        with plots.rendering():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("after the signal")
    assert done == ["after the signal"]


def test_a_run_s_plots_are_all_drawn_before_the_interrupt(monkeypatch, ctrl_c_handled):
    result = simulate(impact_scenario(), paths=4, seed=1, record=2)
    drawn = _interrupt_first_png(monkeypatch, plots)
    with pytest.raises(KeyboardInterrupt):
        plots.render_all(result)
    assert len(drawn) == 4


def test_a_comparison_s_figures_are_all_drawn_before_the_interrupt(monkeypatch, ctrl_c_handled):
    result = compare(impact_scenario(), paths=4, seed=1)
    expected = len(compare_figures.render_figures(result))
    drawn = _interrupt_first_png(monkeypatch, compare_figures)
    with pytest.raises(KeyboardInterrupt):
        compare_figures.render_figures(result)
    assert len(drawn) == expected >= 4
