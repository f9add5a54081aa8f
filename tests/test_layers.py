"""The import graph runs one way: scenario → solvers → policies → agents → model → top.

* No import circle among the project's modules, counting imports inside functions too. Left
  out: ``if TYPE_CHECKING:`` blocks (they never run) and a package's lazy facade, the
  module-level ``__getattr__`` of an ``__init__`` that hands out its top-layer entry points on
  first use (``simulator.simulate``, ``simulator.run``) without importing them with the package.
* A solver module imports without the simulator's model, Mesa or the agents (each checked in a
  fresh interpreter, so that nothing imported earlier hides a dependency).
* ``simulator.validation`` imports nothing of the project.
* A market mechanism lives in one module (its spec classes and its engine, registered in
  ``simulator.engine``), and no module outside the solver dispatches switches on a market kind.
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
MECHANISMS = sorted(
    f"simulator.mechanisms.{p.stem}"
    for p in (ROOT / "simulator" / "mechanisms").glob("*.py")
    if p.stem != "__init__"
)
BOTTOM = [
    "simulator.scenario",
    "simulator.profiles",
    "simulator.validation",
    "simulator.engine",
    *MECHANISMS,
    "policies.heuristics",
    "policies.registry",
]
KIND_DISPATCH = {
    # the scenario → game translation and the Nash gap dispatch among the games they solve
    "policies/equilibrium/adapters.py",
    "simulator/nash_gap.py",
    # which Nash gaps are computed in discrete flow (the §5 one plays on M paths)
    "simulator/compare/core.py",
}
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


def test_validation_imports_nothing_of_the_project():
    path = ROOT / "simulator" / "validation.py"
    assert _imports(path, "simulator.validation") == set()


def test_each_market_kind_has_its_spec_and_engine_in_one_mechanism_module():
    from simulator.engine import ENGINES, MARKET_SPECS, MECHANISMS
    from simulator.scenario import MARKET_KINDS

    assert (
        set(MARKET_SPECS)
        == set(ENGINES)
        == set(MARKET_KINDS)
        >= {
            "impact",
            "best_quote",
            "acas",
            "logit",
        }
    )
    for kind, spec in MARKET_SPECS.items():
        assert spec.kind == kind and spec.section
        assert ENGINES[kind] in MECHANISMS and spec in ENGINES[kind].specs
        assert spec.__module__ == ENGINES[kind].__module__, kind


def test_no_market_kind_switch_outside_the_solver_dispatch():
    """``x.kind == "impact"``, ``kind in ("best_quote", "acas")``…: a mechanism's behaviour is
    asked of its spec or engine, so adding one touches its module, not a switch elsewhere."""
    from simulator.scenario import MARKET_KINDS

    def names_a_kind(node: ast.AST) -> bool:
        values = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
        return any(isinstance(v, ast.Constant) and v.value in MARKET_KINDS for v in values)

    def is_kind(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "kind") or (
            isinstance(node, ast.Name) and node.id == "kind"
        )

    found = []
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel in KIND_DISPATCH:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                sides = (node.left, *node.comparators) if isinstance(node, ast.Compare) else ()
                if any(map(is_kind, sides)) and any(map(names_a_kind, sides)):
                    found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "switches on a market kind:\n" + "\n".join(found)
