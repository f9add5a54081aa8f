"""Every expected failure of the command line is one line on stderr, no traceback, a clear exit
status; ``--debug`` shows the traceback. Unreadable scenario files get a precise reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from simulator.cli import EXIT_FAILED, EXIT_INVALID, EXIT_OK, main

# §2 with α = 2, β = 0.5, φ = A = 0: the Riccati ODE has a pole at t = 0.5 (Thm 2.7 fails)
BLOW_UP = """
name = "blow_up"
horizon = 1.0
steps = 10
paths = 8
seed = 1
[market]
kind = "impact"
permanent_impact = 2.0
temporary_impact = 0.5
[[traders]]
name = "seller"
policy = "equilibrium"
initial_inventory = 1.0
"""

SMALL = BLOW_UP.replace("permanent_impact = 2.0", "permanent_impact = 0.1")


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("marketgame: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("command", ["run", "nash-gap"])
def test_solver_failure_is_one_line_exit_1_and_debug_shows_the_traceback(command, tmp_path, capsys):
    path = tmp_path / "blow_up.toml"
    path.write_text(BLOW_UP)
    extra = ["--out", str(tmp_path / "out"), "--no-progress"] if command == "run" else []
    assert main([command, str(path), *extra]) == EXIT_FAILED
    line = _one_line(capsys.readouterr().err)
    assert "RiccatiBlowUpError" in line and "t = 0.5" in line and "heuristic policy" in line
    assert not (tmp_path / "out").exists()
    from policies.equilibrium.execution_riccati import RiccatiBlowUpError

    with pytest.raises(RiccatiBlowUpError):
        main([command, str(path), *extra, "--debug"])


def test_one_path_shows_n_a_instead_of_nan(tmp_path, capsys):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    out = tmp_path / "out"
    assert main(["run", str(path), "--paths", "1", "--out", str(out), "--no-plots"]) == EXIT_OK
    table = capsys.readouterr().out
    assert "± n/a" in table and "nan" not in table
    assert "nan" not in (out / "payoffs.csv").read_text()


def test_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(path), "--out", ""]) == EXIT_INVALID
    assert "--out '' is empty" in _one_line(capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == ["small.toml"]


def test_unreadable_scenario_files_get_a_precise_reason(tmp_path, capsys):
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # reading it would block forever
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (2 << 20))
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"name = \xff\xfe")
    cases = {
        fifo: "is a FIFO, not a regular file",
        "/dev/zero": "is a device, not a regular file",
        tmp_path: "is a directory, not a scenario file",
        big: "is larger than 1048576 bytes",
        binary: "is not UTF-8 text",
        tmp_path / "missing.toml": "no such scenario file",
    }
    for path, reason in cases.items():
        for command in ("run", "nash-gap"):
            assert main([command, str(path)]) == EXIT_INVALID
            line = _one_line(capsys.readouterr().err)
            assert f"{path}: {reason}" in line, line


def test_unreadable_permissions_are_named(tmp_path):
    """In a fresh interpreter; as root, without the capabilities that bypass file modes."""
    path = tmp_path / "secret.toml"
    path.write_text(SMALL)
    path.chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: file modes cannot be enforced")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "simulator.cli", "run", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == EXIT_INVALID, proc.stderr
    assert f"{path}: permission denied" in _one_line(proc.stderr)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("initial_inventory = 1.0", "initial_inventory = 1e300", "traders[0].initial_inventory"),
        ("horizon = 1.0", "horizon = 5e-324", "horizon"),
        ("temporary_impact = 0.5", "temporary_impact = -1e308", "market.temporary_impact"),
        (
            'policy = "equilibrium"',
            'policy = "almgren_chriss"\nparams = { running_penalty = 1e300 }',
            "params.running_penalty",
        ),
    ],
)
def test_unrepresentable_inputs_are_refused_at_the_source_with_the_bound(
    old, new, field, tmp_path, capsys
):
    path = tmp_path / "huge.toml"
    path.write_text(SMALL.replace(old, new))
    status = main(["run", str(path), "--out", str(tmp_path / "out"), "--no-progress"])
    line = _one_line(capsys.readouterr().err)
    assert status == EXIT_INVALID and field in line, line
    assert not (tmp_path / "out").exists()
