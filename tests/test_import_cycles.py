"""One direction of dependencies: audio -> engine -> app's service core -> ui and bench -> command line.

Every module under app/, engine/, audio/ and ui/ is parsed with `ast`; an import anywhere in a module
(at module level, inside a function, under `if TYPE_CHECKING:`) is an edge of the module graph. The
tests fail on any import cycle between modules and on any import against the direction: a module may
import its own layer or a lower one, never a higher one, never a sibling client, and one subcommand never
imports another (they share code through the runtime, `app/runtime.py`).

Not seen: `importlib.import_module(...)` with a computed name (how `app/cli.py` loads the subcommand
being run). Importing `a.b.c` also runs the package `a.b`'s `__init__`; that is not counted as an edge
(Python imports a submodule fine while its package is still initialising), but what an `__init__`
itself imports is.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("audio", "engine", "app", "ui")

# Layers from the bottom up; an import may go down (or stay within a layer), never up or sideways.
RANKS = {"audio": 0, "engine": 1, "core": 2, "ui": 3, "bench": 3, "command line": 4}
COMMAND_LINE = ("app.cli", "app.__main__")
# Subcommand modules that other subcommands may import; none so far: shared code lives in the runtime.
SHARED_COMMAND_HELPERS: frozenset[str] = frozenset()


def module_name(path: Path) -> str:
    """`app/commands/serve.py` -> `app.commands.serve`; a package's `__init__.py` is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    """Every module of the four packages, by dotted name."""
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _imported_names(tree: ast.Module, module: str, is_package: bool) -> Iterator[str]:
    """Dotted names each import of the module reaches, `from X import Y` giving both X.Y and X."""
    for node in ast.walk(tree):  # walks function bodies too: a lazy import is still a dependency
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: count up from this module's package
                package = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(package + ([base] if base else []))
            for alias in node.names:
                yield f"{base}.{alias.name}"


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of `name` that is one of our modules (None for outside packages)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports."""
    modules = all_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        targets = {_resolve(n, modules) for n in _imported_names(tree, name, is_package)}
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def layer(module: str) -> str:
    """The layer a module belongs to (keys of RANKS)."""
    top = module.split(".")[0]
    if top in ("audio", "engine", "ui"):
        return top
    if module in COMMAND_LINE or module.startswith("app.commands"):
        return "command line"
    if module.startswith("app.bench"):
        return "bench"
    return "core"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component of more than one module, as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm; the graph has ~150 nodes, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(_cycle_through(sorted(component), graph))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def _cycle_through(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest path from the component's first module back to itself (breadth-first)."""
    members, start = set(component), component[0]
    paths = {w: [start, w] for w in sorted(graph[start] & members)}
    frontier = list(paths)
    while start not in paths:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return paths[start]


def direction_violations(graph: dict[str, set[str]]) -> list[str]:
    """`a -> b (layer -> layer)` for every import against the direction rules."""
    wrong = []
    for source in sorted(graph):
        for target in sorted(graph[source]):
            a, b = layer(source), layer(target)
            if a == b:
                if _is_subcommand(source) and _is_subcommand(target) and target not in SHARED_COMMAND_HELPERS:
                    wrong.append(f"{source} -> {target} (one subcommand imports another)")
            elif RANKS[b] >= RANKS[a]:
                wrong.append(f"{source} -> {target} ({a} imports {b})")
    return wrong


def _is_subcommand(module: str) -> bool:
    return module.startswith("app.commands.")


def test_graph_counts_lazy_imports():
    """Imports inside functions are edges: `hark talk` reaches the UI only from inside `run`."""
    graph = import_graph()
    assert "ui.app" in graph["app.commands.talk"]
    assert "app.runtime" in graph["app.commands.serve"]
    assert {"audio.codec", "engine.engine", "app.session", "ui.client"} <= graph.keys()


def test_no_import_cycles():
    """No two modules of app/, engine/, audio/, ui/ reach each other through imports."""
    found = cycles(import_graph())
    assert not found, "import cycles (each listed as a path back to its start):\n" + "\n".join(
        "  " + " -> ".join(cycle) for cycle in found
    )


def test_imports_follow_the_direction():
    """audio -> engine -> service core -> ui/bench -> command line; subcommands import the runtime, not
    each other."""
    wrong = direction_violations(import_graph())
    assert not wrong, "imports against the direction:\n" + "\n".join("  " + w for w in wrong)


def test_the_rules_catch_what_they_forbid():
    """The checker itself: a made-up graph with a cycle, a core -> ui import and a command -> command
    import is flagged on all three."""
    graph = {
        "engine.engine": {"engine.session"},
        "engine.session": {"engine.engine"},
        "app.session": {"ui.client"},
        "ui.client": {"app.commands.talk"},
        "app.commands.talk": {"app.commands.serve"},
        "app.commands.serve": set(),
    }
    assert cycles(graph) == [["engine.engine", "engine.session", "engine.engine"]]
    assert direction_violations(graph) == [
        "app.commands.talk -> app.commands.serve (one subcommand imports another)",
        "app.session -> ui.client (core imports ui)",
        "ui.client -> app.commands.talk (ui imports command line)",
    ]
