"""The import graph runs one way: scenario → solvers → policies → agents → model → top.

* No import circle among the project's modules, counting imports inside functions too. Left
  out: ``if TYPE_CHECKING:`` blocks (they never run) and a package's lazy facade, the
  module-level ``__getattr__`` of an ``__init__`` that hands out its top-layer entry points on
  first use (``simulator.simulate``, ``simulator.run``) without importing them with the package.
* A solver module imports without the simulator's model, Mesa or the agents (each checked in a
  fresh interpreter, so that nothing imported earlier hides a dependency).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agents", "policies", "simulator")
SOLVERS = sorted(
    f"policies.equilibrium.{p.stem}"
    for p in (ROOT / "policies" / "equilibrium").glob("*.py")
    if p.stem != "__init__"
)
BOTTOM = ["simulator.scenario", "simulator.profiles", "policies.heuristics", "policies.registry"]
FORBIDDEN = ("mesa", "simulator.model", "agents")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Project modules that ``path`` imports anywhere, with the packages that importing them
    initialises (``a.b.c`` runs ``a`` and ``a.b``), except the module's own ancestors (already
    initialising when it runs)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        lazy = (
            isinstance(node, ast.FunctionDef)
            and node.name == "__getattr__"
            and path.name == "__init__.py"
            and node in tree.body
        )
        if lazy or (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)):
            skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                parts = target.split(".")
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    own = name.split(".")
    return found - {".".join(own[:i]) for i in range(1, len(own))}


def test_no_import_circle():
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {_module_name(p): p for p in files}
    graph = {
        name: {m for m in _imports(path, name) if m in modules and m != name}
        for name, path in modules.items()
    }
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import circles: {cycles}"


@pytest.mark.parametrize("module", SOLVERS + BOTTOM)
def test_solver_and_bottom_modules_import_without_model_mesa_or_agents(module):
    code = (
        f"import importlib, sys; importlib.import_module({module!r}); "
        f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    assert out == "", f"{module} imports {out}"
