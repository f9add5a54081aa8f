"""Command line: ``marketgame run SCENARIO.toml`` and ``marketgame list``.

``marketgame run SCENARIO.toml [--out DIR] [--paths M] [--seed S] [--record-paths R]
[--workers K | --scheduler ADDRESS] [--block-paths B] [--no-progress] [--no-plots]`` simulates
the scenario (in-process, or in path blocks on a Dask cluster: the same bytes), writes its
outputs (see :mod:`simulator.runner`) and prints the payoff table (mean objective J ± standard
error per agent) and where the files went.
``marketgame nash-gap SCENARIO.toml [--seed S] [--paths M]`` prints each strategic agent's Nash
gap: its payoff under the scenario's profile, its best-response payoff with every other strategy
held fixed, and the gain (§2–§4: exact, fluid flow; §5 logit: a Monte Carlo estimate on M paths
with 95% confidence half-widths; see :func:`simulator.nash_gap.nash_gap`).
``marketgame dataset SCENARIO.toml --paths N --out DIR [--seed S] [--workers K | --scheduler
ADDRESS] [--block-paths B] [--lobster]`` writes the scenario's order-flow dataset (see
:mod:`simulator.datasets`; a rerun into DIR resumes), and ``marketgame dataset --describe DIR``
summarises one.
``marketgame compare SCENARIO.toml [--paths M] [--seed S] [--out DIR] [--tournament]`` plays the
equilibrium against the scenario's heuristics on common random numbers (every unilateral
deviation and best response), prints the verdict and the headline table and writes a report
folder (see :mod:`simulator.compare`).
``marketgame sweep SCENARIO.toml --grid KEY=START:STOP:COUNT [--grid ...] [--zip] [--paths M]
[--seed S] [--out DIR] [--workers N | --scheduler ADDRESS]`` runs the comparison at every grid
point as Dask tasks and writes a tidy table and plots (see :mod:`simulator.compare.sweep`).
``marketgame list`` prints the example scenarios shipped in ``runs/`` and the policy names.

Exit status: 0 on success; 2 on a usage error or invalid input (an invalid scenario, an
unreadable scenario file, bad options); 1 when the run fails (a solver that does not converge, a
simulation that leaves float64, not enough memory, outputs that cannot be written); 130 on
Ctrl-C. Every expected failure prints one line to stderr naming what failed and what to change,
with no traceback; ``--debug`` (every subcommand) shows the traceback instead. All of this
lives in :func:`run_command`, through which :func:`main` runs every subcommand, so a new
subcommand gets it by being added to ``COMMANDS`` and :func:`_parser`.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import pandas as pd

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT, what a shell reports for a process stopped by Ctrl-C."""

INTERRUPTED = "marketgame: interrupted"
"""The one line printed on Ctrl-C (an output folder is left whole: see
:func:`simulator.outputs.atomic_output_dir`)."""

Command = Callable[[argparse.Namespace, TextIO, TextIO], int]


def examples_dir() -> Path:
    """The example scenarios: ``runs/`` in the working directory (a checkout, as in the README's
    quick start), else ``runs/`` next to the package (an editable install)."""
    here = Path.cwd() / "runs"
    return here if here.is_dir() else Path(__file__).resolve().parents[1] / "runs"


def format_payoffs(payoffs: pd.DataFrame) -> str:
    """The payoff table: agent, role, policy, mean J ± standard error (one line per agent)."""
    header = ("agent", "role", "policy", "mean J", "± s.e.")
    rows = [
        (str(r.agent), str(r.role), str(r.policy), f"{r.mean:.6g}", f"± {_se(r.mean, r.std_error)}")
        for r in payoffs.itertuples(index=False)
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [
            cell.rjust(w) if i == 3 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _se(mean: float, se: float) -> str:
    """Two significant digits; rounding noise of a deterministic J (≤ 1e-12·|J|) shows as 0; no
    standard error (one path) shows as n/a."""
    if not math.isfinite(se):
        return "n/a"
    return "0" if abs(se) <= 1e-12 * max(1.0, abs(mean)) else f"{se:.2g}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``marketgame`` console script; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.command not in COMMANDS:
        parser.print_help(sys.stderr)
        return EXIT_INVALID
    return run_command(COMMANDS[args.command], args, sys.stdout, sys.stderr)


def run_command(command: Command, args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Run ``command(args, stdout, stderr)`` and turn every expected failure into one line on
    ``stderr`` and an exit status (:func:`failure_status`); Ctrl-C exits 130. With
    ``args.debug`` the exception propagates (traceback). Unexpected exceptions (bugs) always
    propagate. numpy's floating-point warnings are silenced unless ``--debug``: a value that
    leaves float64 is reported once, by the step guard that stops the run, not as warnings."""
    debug = getattr(args, "debug", False)
    try:
        import numpy as np

        with np.errstate(all="warn" if debug else "ignore"):
            return command(args, stdout, stderr)
    except BrokenPipeError:  # `marketgame list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        if debug:
            raise
        print(INTERRUPTED, file=stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if _interrupted(exc) and not debug:
            print(INTERRUPTED, file=stderr)
            return EXIT_INTERRUPTED
        status = failure_status(exc)
        if status is None or debug:
            raise
        line = describe_failure(exc)
        subject = getattr(args, "scenario", None)
        if subject is not None and not line.startswith(f"{subject}:"):
            line = f"{subject}: {line}"
        print(f"marketgame: error: {line}", file=stderr)
        return status


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a Ctrl-C: Python 3.11 wraps a KeyboardInterrupt that lands in
    a class body's ``__set_name__`` (a dataclass being defined while a module is imported) in a
    ``RuntimeError``, and clean-up code may fail while an interrupt unwinds."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def failure_status(exc: BaseException) -> int | None:
    """The exit status of an expected failure, None for an unexpected one (a bug).

    Invalid input (``ValueError``, which every validation raises) is 2; a run that fails —
    a non-finite state, a solver error (the ``RuntimeError`` subclasses of this package), not
    enough memory, an output that cannot be written (``OSError``) — is 1."""
    from simulator.model import NonFiniteStateError

    if isinstance(exc, NonFiniteStateError):
        return EXIT_FAILED
    if isinstance(exc, ValueError):
        return EXIT_INVALID
    if isinstance(exc, MemoryError | OSError):
        return EXIT_FAILED
    if isinstance(exc, RuntimeError) and _ours(type(exc)):
        return EXIT_FAILED
    return None


def describe_failure(exc: BaseException) -> str:
    """One line: the exception's message, with what failed and what to change where the
    message alone would not say it."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, MemoryError) and not _ours(type(exc)):
        return f"not enough memory ({message}); run fewer paths or steps"
    if isinstance(exc, ConnectionError):  # e.g. no Dask scheduler at --scheduler
        return message
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError | PermissionError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot write outputs{where}: {exc.strerror or message}"
    if isinstance(exc, OSError):
        return f"cannot write outputs: {message}"
    if isinstance(exc, RuntimeError) and type(exc).__module__.startswith("policies.equilibrium"):
        return (
            f"the equilibrium solver failed ({type(exc).__name__}): {message}. Change the "
            "parameters it names, or give the agent a heuristic policy instead of 'equilibrium'"
        )
    return message


def _ours(cls: type) -> bool:
    """Whether an exception class is defined by this project (not by a library)."""
    return cls.__module__.split(".")[0] in {"simulator", "policies", "agents"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marketgame",
        description="Simulate Guo & Jin market games with equilibrium or heuristic policies.",
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="simulate a scenario file and write its outputs")
    run.add_argument("scenario", type=Path, help="scenario TOML file (e.g. runs/acas.toml)")
    run.add_argument(
        "--out",
        default=None,
        help="output directory (default: beside the scenario, runs/acas.toml → runs/acas/)",
    )
    run.add_argument(
        "--paths", type=int, default=None, help="Monte Carlo paths M (default: the scenario's)"
    )
    run.add_argument("--seed", type=int, default=None, help="seed (default: the scenario's)")
    run.add_argument(
        "--record-paths",
        type=int,
        default=None,
        help="paths kept in steps.parquet and the trajectory plots (default 16)",
    )
    where = run.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, default=None, help="spread the paths over K local Dask workers"
    )
    where.add_argument("--scheduler", default=None, help="address of an existing Dask cluster")
    run.add_argument(
        "--block-paths",
        type=int,
        default=None,
        help="paths per Dask task (with --workers/--scheduler; default: ~4 tasks per worker)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    gap = sub.add_parser(
        "nash-gap", help="each agent's best-response gain against the scenario's profile"
    )
    gap.add_argument("scenario", type=Path, help="scenario TOML file (fluid flow but in §5)")
    gap.add_argument("--seed", type=int, default=None, help="seed (default: the scenario's)")
    gap.add_argument(
        "--paths",
        type=int,
        default=None,
        help="logit market: Monte Carlo paths (default: the scenario's)",
    )
    data = sub.add_parser(
        "dataset", help="write a scenario's order-flow dataset (Parquet, LOBSTER) with Dask"
    )
    data.add_argument("scenario", type=Path, nargs="?", help="scenario TOML file")
    data.add_argument("--paths", type=int, default=None, help="Monte Carlo paths (required)")
    data.add_argument("--out", type=Path, default=None, help="dataset folder (required)")
    data.add_argument("--seed", type=int, default=None, help="seed (default: the scenario's)")
    where = data.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="local workers (default: cores)")
    where.add_argument("--scheduler", default=None, help="address of an existing Dask cluster")
    data.add_argument(
        "--block-paths", type=int, default=None, help="paths per task and partition (default 1024)"
    )
    data.add_argument("--lobster", action="store_true", help="also write LOBSTER files per path")
    data.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    data.add_argument("--describe", type=Path, metavar="DIR", help="summarise the dataset in DIR")
    cmp = sub.add_parser(
        "compare", help="equilibrium vs the scenario's heuristics, with a report folder"
    )
    cmp.add_argument("scenario", type=Path, help="scenario TOML file (e.g. runs/acas.toml)")
    cmp.add_argument(
        "--paths", type=int, default=None, help="Monte Carlo paths M (default: the scenario's)"
    )
    cmp.add_argument("--seed", type=int, default=None, help="seed (default: the scenario's)")
    cmp.add_argument(
        "--out",
        default=None,
        help="report folder (default: beside the scenario, runs/acas.toml → runs/acas_compare/)",
    )
    cmp.add_argument(
        "--tournament",
        action="store_true",
        help="also play every combination of role policies (the empirical game table)",
    )
    cmp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    cmp.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    sw = sub.add_parser("sweep", help="the comparison at every point of a parameter grid (Dask)")
    sw.add_argument("scenario", type=Path, help="scenario TOML file (e.g. runs/acas.toml)")
    sw.add_argument(
        "--grid",
        action="append",
        required=True,
        metavar="KEY=START:STOP:COUNT",
        help="a scenario key and its values (START:STOP:COUNT or V1,V2,...); repeat for more axes",
    )
    sw.add_argument("--zip", action="store_true", help="zip the axes instead of their product")
    sw.add_argument("--paths", type=int, default=None, help="paths per point (default: scenario's)")
    sw.add_argument("--seed", type=int, default=None, help="base seed (default: the scenario's)")
    sw.add_argument(
        "--out",
        default=None,
        help="sweep folder (default: beside the scenario, runs/acas.toml → runs/acas_sweep/)",
    )
    where = sw.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, default=None, help="local Dask workers (default: cores)"
    )
    where.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sw.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    sub.add_parser("list", help="list the example scenarios and the policy names")
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    return parser


def _load(path: Path):
    """The validated scenario (``ValueError`` naming the file or the field otherwise)."""
    from simulator.scenario import load_scenario

    return load_scenario(path)


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from simulator.runner import DEFAULT_RECORD_PATHS, default_out, run

    record = DEFAULT_RECORD_PATHS if args.record_paths is None else args.record_paths
    if args.out is not None and not args.out.strip():
        raise ValueError(f"--out {args.out!r} is empty; name an output directory")
    scenario = _load(args.scenario)
    out = Path(args.out) if args.out is not None else default_out(args.scenario)
    summary = run(
        scenario,
        out=out,
        paths=args.paths,
        seed=args.seed,
        progress=not args.no_progress,
        record_paths=record,
        plots=not args.no_plots,
        workers=args.workers,
        scheduler=args.scheduler,
        block_paths=args.block_paths,
    )
    s = summary.scenario
    print(
        f"{s.name} ({s.market.kind}): {summary.paths} paths, seed {summary.seed}, "
        f"{s.steps} steps of dt = {s.dt:g}",
        file=stdout,
    )
    print(format_payoffs(summary.payoffs), file=stdout)
    print(f"outputs: {summary.out}/ ({', '.join(summary.files)})", file=stdout)
    return EXIT_OK


def _nash_gap(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from simulator.nash_gap import nash_gap

    scenario = _load(args.scenario)
    seed = scenario.seed if args.seed is None else args.seed
    gap = nash_gap(scenario, seed=seed, paths=args.paths)
    head = f"{scenario.name} ({scenario.market.kind}): Nash gap on {scenario.steps} steps"
    columns = ["agent", "policy", "payoff", "best_response_payoff", "gain"]
    if "gain_ci95" in gap:  # a Monte Carlo estimate (§5)
        paths = scenario.paths if args.paths is None else args.paths
        head += (
            f", Monte Carlo on {paths} paths (common random numbers, ±95% CI; best response of "
            "the mean model: the gain is a lower bound of the gap)"
        )
        columns = [
            "agent",
            "policy",
            "payoff",
            "payoff_ci95",
            "best_response_payoff",
            "gain",
            "gain_ci95",
            "mean_model_gain",
        ]
    print(head, file=stdout)
    table = gap[columns]
    print(table.to_string(index=False, float_format=lambda x: f"{x:.6g}"), file=stdout)
    return EXIT_OK


def _dataset(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from simulator.datasets import describe, generate_dataset
    from simulator.datasets.driver import DEFAULT_BLOCK_PATHS

    if args.describe is not None:
        print(describe(args.describe), file=stdout)
        return EXIT_OK
    given = (("SCENARIO", args.scenario), ("--paths", args.paths), ("--out", args.out))
    missing = [name for name, value in given if value is None]
    if missing:
        raise ValueError(f"marketgame dataset needs {', '.join(missing)} (or --describe DIR)")
    scenario = _load(args.scenario)
    summary = generate_dataset(
        scenario,
        args.paths,
        args.out,
        seed=args.seed,
        workers=args.workers,
        scheduler=args.scheduler,
        block_paths=DEFAULT_BLOCK_PATHS if args.block_paths is None else args.block_paths,
        lobster=args.lobster,
        progress=not args.no_progress,
    )
    rows = ", ".join(f"{t} {n:,}" for t, n in summary.rows.items())
    skipped = f" ({summary.skipped_blocks} already done)" if summary.skipped_blocks else ""
    print(
        f"{scenario.name}: {summary.paths} paths in {summary.blocks} blocks{skipped}, "
        f"{summary.seconds:.1f} s; rows: {rows}",
        file=stdout,
    )
    print(f"dataset: {summary.out}/ (a rerun of this command resumes it)", file=stdout)
    return EXIT_OK


def _out(args: argparse.Namespace, job: str) -> Path:
    """``--out``, or the job's folder beside the scenario (``runs/acas_<job>/``)."""
    from simulator.compare.report import beside

    if args.out is not None and not args.out.strip():
        raise ValueError(f"--out {args.out!r} is empty; name an output directory")
    return Path(args.out) if args.out is not None else beside(args.scenario, job)


def _compare(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from simulator.compare import compare
    from simulator.compare.report import headline
    from simulator.progress import ProgressBar

    out = _out(args, "compare")
    scenario = _load(args.scenario)
    with ProgressBar(1, f"{scenario.name} compare", enabled=not args.no_progress) as bar:

        def on_step(done: int, total: int) -> None:
            bar.total = total
            bar.update(done)

        result = compare(
            scenario, args.paths, args.seed, tournament=args.tournament, progress=on_step
        )
    files = result.write(out, plots=not args.no_plots)
    print(result.verdict, file=stdout)
    print("", file=stdout)
    print(headline(result), file=stdout)
    print(f"report: {out}/report.html ({len(files)} files)", file=stdout)
    return EXIT_OK


def _sweep(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from simulator.compare.sweep import sweep
    from simulator.progress import ProgressBar

    out = _out(args, "sweep")
    _load(args.scenario)
    with ProgressBar(1, "sweep points", enabled=not args.no_progress) as bar:

        def on_point(done: int, total: int) -> None:
            bar.total = total
            bar.update(done)

        result = sweep(
            args.scenario,
            args.grid,
            zipped=args.zip,
            paths=args.paths,
            seed=args.seed,
            out=out,
            workers=args.workers,
            scheduler=args.scheduler,
            plots=not args.no_plots,
            progress=on_point,
        )
    points = result.computed + result.resumed
    print(
        f"{points} points ({result.computed} computed, {result.resumed} resumed); "
        f"outputs: {out}/ ({', '.join(result.files)})",
        file=stdout,
    )
    return EXIT_OK


def _list(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from policies.catalog import available_policies

    directory = examples_dir()
    files = sorted(directory.glob("*.toml")) if directory.is_dir() else []
    print("example scenarios:" if files else "example scenarios: none found", file=stdout)
    width = max((len(str(f.relative_to(directory.parent))) for f in files), default=0)
    for f in files:
        print(f"  {str(f.relative_to(directory.parent)).ljust(width)}  {_kind(f)}", file=stdout)
    for role in ("trader", "maker"):
        print(f"{role} policies: {', '.join(available_policies(role))}", file=stdout)
    return EXIT_OK


def _kind(path: Path) -> str:
    """The market kind of a scenario file, read without validating it (cheap)."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return "(unreadable)"
    market = data.get("market")
    return str(market.get("kind", "?")) if isinstance(market, dict) else "?"


COMMANDS: dict[str, Command] = {
    "run": _run,
    "nash-gap": _nash_gap,
    "dataset": _dataset,
    "compare": _compare,
    "sweep": _sweep,
    "list": _list,
}
"""Subcommand name → handler ``(args, stdout, stderr) -> exit status``, run by :func:`main`
through :func:`run_command`."""


def console() -> None:
    """The ``marketgame`` console script: :func:`main`, then exit with its status.

    A Ctrl-C that lands after the command has finished (its outputs are whole) is ignored while
    the interpreter shuts down: Python restores SIGINT's default action before freeing its
    modules, and a signal in that window would otherwise kill the process silently (exit −2,
    no message) although the run succeeded.

    An interrupted command leaves through ``os._exit(130)`` once its output is flushed: CPython
    marks a Ctrl-C that interrupted code run by ``exec`` of a string (how ``dataclasses`` and
    ``namedtuple`` build their methods while modules are imported) as unhandled even though the
    command caught it, and then kills itself with SIGINT at exit (−2 after the one line). The
    interrupt has already unwound the command, so every file and cluster is closed by then."""
    try:
        status = main()
    except KeyboardInterrupt:  # between the command's end and the line below
        print(INTERRUPTED, file=sys.stderr)
        status = EXIT_INTERRUPTED
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if status == EXIT_INTERRUPTED:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    console()
