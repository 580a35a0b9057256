"""The house rules, read from the code with Python's `ast` (README, Layout):

- the packages stand in layers, from the ground up: tenancy (`gateway_console`), `audit`,
  `accounts` (people and access),
  `billing`, `keys`, and the wiring (`config`) on top. A module imports only from its own layer
  or those below it; TYPE_CHECKING imports and imports inside functions count too;
- no circle of imports between modules;
- no module over 400 lines, no function over 60;
- no OFFSET paging in the project's own code.

Migrations and tests are left out. What still breaks a rule is listed below, so that nothing
new is added to it and every fix takes its line out (the test fails on a line that no longer
holds as well).
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["gateway_console", "audit", "accounts", "billing", "keys", "config"]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# What breaks a rule today.
UPWARD_IMPORTS: set[tuple[str, str]] = set()
CIRCLES: set[frozenset[str]] = set()
LONG_MODULES: set[str] = set()
OFFSET_PAGING: set[str] = set()
LONG_FUNCTIONS: set[str] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every project module this file imports (from any place in it)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from billing.limits import holds` imports the module billing.limits.holds.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name in MODULES}


GRAPH = {module: _imports(path) - {module} for module, path in MODULES.items()}


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_no_module_imports_from_a_layer_above_its_own():
    upward = {
        (module, imported)
        for module, imports in GRAPH.items()
        for imported in imports
        if _layer(imported) > _layer(module)
    }

    assert upward - UPWARD_IMPORTS == set(), "new imports that run up the layers"
    assert UPWARD_IMPORTS - upward == set(), "fixed: take these out of UPWARD_IMPORTS"


def _circles() -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(GRAPH[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return found


def test_no_circle_of_imports():
    circles = _circles()

    assert circles - CIRCLES == set(), "new circles of imports"
    assert CIRCLES - circles == set(), "fixed: take these out of CIRCLES"


def test_no_module_over_400_lines_and_no_function_over_60():
    long_modules = {
        module
        for module, path in MODULES.items()
        if len(path.read_text().splitlines()) > MAX_MODULE_LINES
    }
    long_functions = set()
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            length = getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0) + 1
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
                length > MAX_FUNCTION_LINES
            ):
                long_functions.add(f"{module}.{node.name}")

    assert (long_modules - LONG_MODULES, long_functions - LONG_FUNCTIONS) == (set(), set())
    assert (LONG_MODULES - long_modules, LONG_FUNCTIONS - long_functions) == (set(), set())


def _pages_by_offset(tree: ast.AST) -> bool:
    """Django's Paginator (LIMIT/OFFSET) or SQL with an OFFSET clause. A queryset sliced from
    a computed start is not caught: to `ast` it looks like any list slice."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute) and (
            getattr(node, "id", None) == "Paginator" or getattr(node, "attr", None) == "Paginator"
        ):
            return True
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.search(r"\bOFFSET\s+(%|\d|\{)", node.value, re.IGNORECASE)
        ):
            return True
    return False


def test_no_offset_paging():
    users = {
        module for module, path in MODULES.items() if _pages_by_offset(ast.parse(path.read_text()))
    }

    assert users - OFFSET_PAGING == set(), "new paging by OFFSET"
    assert OFFSET_PAGING - users == set(), "fixed: take these out of OFFSET_PAGING"
