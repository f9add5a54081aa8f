"""The ``marketgame`` command line: payoff table, exit codes, validation messages."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simulator.cli import EXIT_FAILED, EXIT_INVALID, EXIT_OK, main

GOOD = """
name = "cli_impact"
horizon = 1.0
steps = 10
paths = 32
seed = 1
[market]
kind = "impact"
permanent_impact = 0.1
temporary_impact = 0.2
[noise]
buy_rate = 2.0
sell_rate = 2.0
[[traders]]
name = "seller"
policy = "twap"
initial_inventory = 5.0
terminal_penalty = 1.0
"""


@pytest.fixture
def write_toml(tmp_path):
    """Write a scenario file into ``tmp_path`` (default: the valid GOOD scenario)."""

    def write(text: str = GOOD, name: str = "scenario.toml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def test_run_prints_payoff_table_and_output_dir(tmp_path, write_toml, capsys):
    scenario = write_toml(name="cli_impact.toml")
    status = main(["run", str(scenario), "--paths", "16", "--seed", "2", "--no-plots"])
    out, err = capsys.readouterr()
    assert status == EXIT_OK
    assert err == ""  # the progress bar stays silent off a terminal; no warnings
    lines = out.splitlines()
    assert lines[0].startswith("cli_impact (impact): 16 paths, seed 2, 10 steps")
    assert lines[1].split() == ["agent", "role", "policy", "mean", "J", "±", "s.e."]
    assert lines[2].split()[:3] == ["seller", "trader", "twap"]
    assert "±" in lines[2]
    # default output directory: beside the scenario, named after the file
    assert lines[-1].startswith(f"outputs: {tmp_path / 'cli_impact'}/")
    assert (tmp_path / "cli_impact" / "payoffs.csv").is_file()


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            GOOD.replace('kind = "impact"', 'kind = "lob"'),
            ["market.kind = 'lob'", "allowed: impact, best_quote, acas, logit"],
        ),
        (
            GOOD.replace(
                'policy = "twap"', 'policy = "participation"\nparams = { participation = 1.5 }'
            ),
            ["params.participation = 1.5"],
        ),
        ("name = \n", ["invalid TOML"]),
    ],
    ids=["bad_market_kind", "bad_policy_parameter", "invalid_toml_syntax"],
)
def test_invalid_scenario_exits_2_with_one_message_and_writes_nothing(
    text, needles, tmp_path, write_toml, capsys
):
    status = main(["run", str(write_toml(text)), "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert status == EXIT_INVALID
    assert out == ""
    for needle in needles:
        assert needle in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing written for an invalid scenario


def test_missing_file_and_bad_paths_exit_2(tmp_path, write_toml, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == EXIT_INVALID
    assert "no such scenario file" in capsys.readouterr().err
    assert main(["run", str(write_toml()), "--paths", "0"]) == EXIT_INVALID
    assert "paths = 0" in capsys.readouterr().err


def test_unwritable_output_exits_1_with_message(tmp_path, write_toml, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the output directory should be
    status = main(["run", str(write_toml()), "--out", str(blocker / "out"), "--no-plots"])
    err = capsys.readouterr().err
    assert status == EXIT_FAILED
    assert "cannot write outputs" in err and "Traceback" not in err


def test_list_shows_examples_and_policy_names(capsys):
    assert main(["list"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "runs/acas.toml" in out
    assert "trader policies:" in out and "twap" in out
    assert "maker policies:" in out and "avellaneda_stoikov" in out


def test_console_script_exit_status_without_traceback(write_toml):
    """End to end in a fresh interpreter: the status reaches the shell, stderr is one message."""
    scenario = write_toml(GOOD.replace("horizon = 1.0", "horizon = -1.0"))
    proc = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "run", str(scenario)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == EXIT_INVALID
    assert "horizon = -1.0" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv", [[], ["run"]])
def test_usage_errors_exit_2(argv, capsys):
    if argv:
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == EXIT_INVALID
    else:
        assert main(argv) == EXIT_INVALID
    assert "usage: marketgame" in capsys.readouterr().err
