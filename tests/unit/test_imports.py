"""vhoneynet's modules import each other one way: no import cycle, and the layers point down.

Only what runs when a module is imported counts: its top-level statements (also inside a
top-level `if`, `try` or class body), not a function's body, not an `if TYPE_CHECKING:` block.
Importing `a.b.c` runs the packages `a.b` and `a` first, so a module depends on those too
(except on the packages it sits in itself: they are already being imported).
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import vhoneynet

Graph = dict[str, set[str]]


def modules() -> dict[str, Path]:
    """Every module of vhoneynet by dotted name, with its source file."""
    root = Path(vhoneynet.__file__).parent
    found = {"vhoneynet": root / "__init__.py"}
    for info in pkgutil.walk_packages(vhoneynet.__path__, "vhoneynet."):
        path = root.parent.joinpath(*info.name.split("."))
        found[info.name] = path / "__init__.py" if info.ispkg else path.with_suffix(".py")
    return found


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _runs_at_import(body: list[ast.stmt]):
    """The import statements among `body` that run when the module is imported."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            test = node.test
            if not (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
                    or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
                yield from _runs_at_import(node.body)
            yield from _runs_at_import(node.orelse)
        elif isinstance(node, ast.Try):
            for part in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _runs_at_import(part)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from _runs_at_import(node.body)


def imports_of(name: str, source: str, known: set[str], is_package: bool = False) -> set[str]:
    """The modules of `known` that importing module `name` (whose text is `source`) imports."""
    package = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _runs_at_import(ast.parse(source).body):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: `from . import x`, `from ..y import z`
            parts = package.split(".")
            base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
        targets.add(base)
        targets.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    inside = {*_ancestors(name), name}
    found = set()
    for target in targets:
        for module in (*_ancestors(target), target):
            if module in known and module not in inside:
                found.add(module)
    return found


def import_graph() -> Graph:
    """vhoneynet's modules and, for each, the vhoneynet modules its import runs."""
    found = modules()
    known = set(found)
    return {name: imports_of(name, path.read_text(), known, path.name == "__init__.py")
            for name, path in found.items()}


def find_cycle(graph: Graph) -> list[str] | None:
    """One import cycle of `graph` as [a, b, …, a], or None when there is none."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path, on_path = [start], {start}
        stack = [iter(sorted(graph[start]))]
        while stack:
            following = next(stack[-1], None)
            if following is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif following in on_path:
                return [*path[path.index(following):], following]
            elif following not in done:
                path.append(following)
                on_path.add(following)
                stack.append(iter(sorted(graph.get(following, ()))))
    return None


def reachable(graph: Graph, start: str) -> set[str]:
    """Every module importing `start` imports, directly or not."""
    seen, todo = set(), [start]
    while todo:
        for module in graph[todo.pop()] - seen:
            seen.add(module)
            todo.append(module)
    return seen


def test_vhoneynet_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) is None


def test_imports_are_read_as_python_runs_them():
    known = {"vhoneynet", "vhoneynet.x", "vhoneynet.x.y", "vhoneynet.x.z", "vhoneynet.w",
             "vhoneynet.p", "vhoneynet.p.q", "vhoneynet.t", "vhoneynet.f"}
    source = (
        "from . import z\n"  # relative, a module
        "from ..w import thing\n"  # relative, a name in a module
        "from vhoneynet.p.q import name\n"  # runs the package vhoneynet.p first
        "if TYPE_CHECKING:\n    import vhoneynet.t\n"  # never runs
        "def f():\n    import vhoneynet.f\n"  # runs only when called
    )
    assert imports_of("vhoneynet.x.y", source, known) == {"vhoneynet.x.z", "vhoneynet.w", "vhoneynet.p", "vhoneynet.p.q"}
    cycle = {"vhoneynet.x.y": imports_of("vhoneynet.x.y", "from vhoneynet.x.z import a\n", known),
             "vhoneynet.x.z": imports_of("vhoneynet.x.z", "from .y import b\n", known)}
    assert find_cycle(cycle) == ["vhoneynet.x.y", "vhoneynet.x.z", "vhoneynet.x.y"]


LIVE = ("vhoneynet.lifecycle", "vhoneynet.backends", "vhoneynet.gateway.live")


def test_pure_modules_never_reach_live_ones():
    graph = import_graph()
    pure = ["vhoneynet.plan", "vhoneynet.naming", "vhoneynet.render",
            *(m for m in graph if m.startswith("vhoneynet.gateway.config."))]
    assert "vhoneynet.gateway.config.disk" in pure
    for module in pure:
        live = {m for m in reachable(graph, module) if m.startswith(LIVE)}
        assert not live, f"{module} imports {sorted(live)}"


def test_backends_sit_below_the_lifecycle_and_the_live_operations():
    graph = import_graph()
    below = reachable(graph, "vhoneynet.backends")
    assert "vhoneynet.lifecycle" not in below
    assert not {m for m in below if m.startswith("vhoneynet.gateway.live")}
    assert "vhoneynet.backends" in reachable(graph, "vhoneynet.lifecycle")
