"""The output folder is written as a whole: old outputs intact or new ones complete, never a
mix — after failures, Ctrl-C, SIGKILL, concurrent runs and a full disk."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from policies.base import MarketState, Policy
from simulator import load_scenario, outputs
from simulator.cli import EXIT_FAILED, EXIT_INTERRUPTED, main
from simulator.runner import run
from tests.test_cli import GOOD

# the command-line test scenario, longer and with more paths: a run lasts long enough to be
# interrupted in every phase (imports, simulation, plots, the swap)
SCENARIO = GOOD.replace("steps = 10", "steps = 200").replace("paths = 32", "paths = 4000")


@pytest.fixture
def scenario_file(tmp_path) -> Path:
    path = tmp_path / "folder.toml"
    path.write_text(SCENARIO)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _debris(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".tmp-"))


# the console script, started the way a terminal starts it whatever this test process inherited
# (a shell that runs a job in the background makes it ignore SIGINT, and children inherit that):
# Python's Ctrl-C handler, then "ready" on stdout once the command-line code is loaded (a Ctrl-C
# during the interpreter's own start-up, before any of our code exists, is Python's traceback)
_CONSOLE = (
    "import signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from simulator.cli import console\n"
    "print('ready', flush=True)\n"
    "console()\n"
)


def _cli(*args: str, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-c", _CONSOLE, "run", *args, "--no-progress"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_no_plots_into_an_old_folder_leaves_no_stale_pngs(scenario_file, tmp_path):
    out = tmp_path / "out"
    run(scenario_file, out=out, paths=16, progress=False, record_paths=2)
    assert any(p.suffix == ".png" for p in out.iterdir())
    summary = run(scenario_file, out=out, paths=16, progress=False, record_paths=2, plots=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(summary.files)
    assert _debris(tmp_path) == []


class _FailsAt(Policy):
    role, name = "trader", "fails"

    def act(self, state: MarketState) -> np.ndarray:
        if state.step == 50:
            raise ValueError("policy failed at step 50")
        return np.full(state.paths, -1.0)


def test_a_failed_run_leaves_the_previous_outputs_intact(scenario_file, tmp_path, monkeypatch):
    out = tmp_path / "out"
    run(scenario_file, out=out, paths=16, progress=False, plots=False)
    before = _snapshot(out)
    import simulator.simulation as simulation

    real = simulation.build_policies
    monkeypatch.setattr(
        simulation, "build_policies", lambda sc, overrides=None, cache=None: [_FailsAt()]
    )
    with pytest.raises(ValueError, match="step 50"):
        run(scenario_file, out=out, paths=16, seed=2, progress=False)
    monkeypatch.setattr(simulation, "build_policies", real)
    assert _snapshot(out) == before
    assert _debris(tmp_path) == []


def test_a_folder_of_other_files_is_refused_not_wiped(scenario_file, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    status = main(["run", str(scenario_file), "--out", str(tmp_path), "--no-plots"])
    err = capsys.readouterr().err
    assert status == EXIT_FAILED and "holds files that are not outputs" in err
    assert "folder.toml" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.toml", "notes.txt"]


def test_a_locked_folder_refuses_a_second_writer(scenario_file, tmp_path, capsys):
    out = tmp_path / "out"
    with outputs.atomic_output_dir(out):
        status = main(["run", str(scenario_file), "--out", str(out), "--no-plots"])
    err = capsys.readouterr().err.strip()
    assert status == EXIT_FAILED and len(err.splitlines()) == 1
    assert "is being written by another run" in err
    assert list(out.iterdir()) == []


def test_two_concurrent_runs_into_one_folder_never_mix(scenario_file, tmp_path):
    out = tmp_path / "out"
    procs = [_cli(str(scenario_file), "--out", str(out), "--seed", str(s)) for s in (1, 2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, EXIT_FAILED]), results
    for code, err in results:
        assert code == 0 or "is being written by another run" in err, err
    _assert_one_complete_run(out)
    assert _debris(tmp_path) == []


def _assert_one_complete_run(out: Path) -> int:
    """The folder holds exactly the files of one run, consistent with each other."""
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(summary["files"])
    rows = (out / "payoffs.csv").read_text().splitlines()[1:]
    means = [float(r.split(",")[3]) for r in rows]
    assert means == pytest.approx([p["mean"] for p in summary["payoffs"]], rel=1e-9)
    return int(summary["seed"])


def test_killed_runs_leave_old_outputs_or_new_complete_ones(scenario_file, tmp_path):
    """SIGINT and SIGKILL at random moments of a real ``marketgame run``: the folder is always
    the old run's bytes or the new run's bytes; Ctrl-C exits 130 with one line and no debris."""
    ref_old, ref_new, out = tmp_path / "old", tmp_path / "new", tmp_path / "out"
    for seed, ref in ((1, ref_old), (2, ref_new)):  # what the command writes, byte for byte
        run(scenario_file, out=ref, seed=seed, progress=False)
    old, new = _snapshot(ref_old), _snapshot(ref_new)
    rng = random.Random(9)
    for sig in (signal.SIGINT, signal.SIGKILL, signal.SIGINT, signal.SIGKILL):
        # restore the old outputs, then start a new-seed run and kill it somewhere in its life
        # (start-up, simulation, plots, the swap: the run lasts a few seconds)
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(ref_old, out)
        # a SIGKILL'd run leaves its staging folder; the next run deletes it once it holds the
        # folder's lock, so a Ctrl-C before that point (a loaded machine) finds it still there
        before = set(_debris(tmp_path))
        proc = _cli(str(scenario_file), "--out", str(out), "--seed", "2")
        assert proc.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 3.7))
        proc.send_signal(sig)
        code = proc.wait(timeout=300)
        err = proc.stderr.read()
        state = _snapshot(out)
        assert state in (old, new), f"{sig!r}: a mix of two runs"
        if sig == signal.SIGINT:
            assert code in (0, EXIT_INTERRUPTED), (code, err)
            assert code == 0 or err.strip() == "marketgame: interrupted", err
            assert set(_debris(tmp_path)) <= before, "the interrupted run left its staging"
    # whatever a SIGKILL left behind, the next run removes
    assert _cli(str(scenario_file), "--out", str(out), "--seed", "2").wait(300) == 0
    assert _snapshot(out) == new and _debris(tmp_path) == []


def _ctrl_c_inside(monkeypatch, module, name: str, *, before: bool) -> None:
    """Make ``module.name`` deliver a real SIGINT to this process as it starts its work
    (``before``) or just before it returns."""
    real = getattr(module, name)

    def interrupted(*args, **kwargs):
        if before:
            os.kill(os.getpid(), signal.SIGINT)
        result = real(*args, **kwargs)
        if not before:
            os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(module, name, interrupted)


@pytest.mark.parametrize("step", ["mkdtemp", "rmtree after the swap", "rmtree after a failure"])
def test_a_ctrl_c_inside_the_folder_steps_leaves_no_debris(
    tmp_path, monkeypatch, step, ctrl_c_handled
):
    """The CI once caught a ``.tmp-out.*`` left by a Ctrl-C landing while the staging folder was
    being deleted; the steps that must run whole (creating the staging folder, the swap, the
    clean-up) now hold SIGINT and deliver it after them. Here a real signal is sent inside each of
    those steps, deterministically."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.csv").write_text("old\n")
    fails = step == "rmtree after a failure"
    if step == "mkdtemp":
        _ctrl_c_inside(monkeypatch, outputs.tempfile, "mkdtemp", before=False)
    else:
        _ctrl_c_inside(monkeypatch, outputs.shutil, "rmtree", before=True)
    with pytest.raises(KeyboardInterrupt):
        with outputs.atomic_output_dir(out) as staging:
            for i in range(20):
                (staging / f"f{i}.csv").write_text("new\n")
            (staging / "a.csv").write_text("new\n")
            if fails:
                raise ValueError("the run failed")
    assert _debris(tmp_path) == []
    swapped = step == "rmtree after the swap"
    assert (out / "a.csv").read_text() == ("new\n" if swapped else "old\n")
    assert len(list(out.iterdir())) == (21 if swapped else 1)


def _small_disk(tmp_path: Path):
    """A 160 KiB tmpfs at ``tmp_path/disk`` (None if this process may not mount one)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(disk)],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return disk if done.returncode == 0 else None


def _limit_file_size() -> None:
    """In the child: files may not grow beyond 60 KiB (writes fail with EFBIG)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (60 << 10, 60 << 10))


def test_a_full_disk_leaves_the_previous_outputs_intact(scenario_file, tmp_path):
    disk = _small_disk(tmp_path)
    try:
        base = disk if disk is not None else tmp_path
        out = base / "out"
        run(scenario_file, out=out, paths=8, record_paths=1, plots=False, progress=False)
        before = _snapshot(out)
        # the same folder with plots and 4000 recorded paths: does not fit (or exceeds the limit)
        big = ["--out", str(out), "--record-paths", "4000", "--seed", "2"]
        proc = _cli(str(scenario_file), *big, preexec_fn=None if disk else _limit_file_size)
        code, err = proc.wait(timeout=300), proc.stderr.read()
        assert code == EXIT_FAILED, err
        assert len(err.strip().splitlines()) == 1 and "cannot write outputs" in err, err
        assert "No space left on device" in err or "File too large" in err, err
        assert _snapshot(out) == before and _debris(base) == []
    finally:
        if disk is not None:
            subprocess.run(["umount", str(disk)], check=False, timeout=30)


def test_example_folders_written_by_run_are_replaced_whole(tmp_path):
    """A folder from an earlier run (no marker of any kind) is a legal target."""
    sc = load_scenario(Path(__file__).resolve().parents[1] / "runs" / "impact.toml")
    first = run(sc, out=tmp_path / "o", paths=8, progress=False, record_paths=1)
    second = run(sc, out=tmp_path / "o", paths=8, progress=False, record_paths=1, plots=False)
    assert set(first.files) > set(second.files) == {p.name for p in (tmp_path / "o").iterdir()}
    assert os.listdir(tmp_path) == ["o"]


def _interrupted() -> int:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("outcome", "status", "message"), [(lambda: 0, 0, ""), (_interrupted, 130, "interrupted")]
)
def test_console_ignores_a_ctrl_c_once_the_command_has_finished(
    monkeypatch, capsys, outcome, status, message
):
    """The console script returns the command's status and then ignores SIGINT: Python restores
    SIGINT's default action while it shuts down, and a late Ctrl-C would otherwise kill a run that
    already succeeded (exit −2, nothing printed)."""
    from simulator import cli

    def leave_now(code: int) -> None:  # os._exit, which an interrupted command leaves through
        raise SystemExit(("os._exit", code))

    monkeypatch.setattr(cli, "main", outcome)
    monkeypatch.setattr(cli.os, "_exit", leave_now)
    before = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as exited:
            cli.console()
        assert exited.value.code == (("os._exit", 130) if status == 130 else status)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    assert capsys.readouterr().err.strip() == (f"marketgame: {message}" if message else "")


def test_a_ctrl_c_wrapped_by_python_is_still_an_interrupt(capsys):
    """Python 3.11 turns a KeyboardInterrupt that lands in ``__set_name__`` while a dataclass is
    defined (a module being imported) into a ``RuntimeError`` caused by it; the command line
    reports it as the Ctrl-C it is (one line, 130), not as a crash."""
    from simulator import cli

    def command(args, stdout, stderr) -> int:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance 'kind'") from exc

    status = cli.run_command(command, argparse.Namespace(), sys.stdout, sys.stderr)
    assert status == EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip() == "marketgame: interrupted"
