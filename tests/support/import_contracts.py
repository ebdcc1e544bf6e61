"""An import-linter contract type the built-in ones lack: no import cycle between modules.

`acyclic_siblings` looks at packages, and our packages legitimately meet in both directions (a
domain's routes import `seecodes.deps`, which imports the runtime, which imports that domain's
adapters). What must never happen is two modules that need each other. The graph includes imports
under `TYPE_CHECKING` (import-linter's default), because a type-only cycle is still a design cycle.
"""

from __future__ import annotations

import grimp
from importlinter import Contract, ContractCheck, fields, output


class AcyclicModulesContract(Contract):
    """Every strongly connected component of the package's module graph is a single module."""

    type_name = "acyclic_modules"

    root = fields.StringField()

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        root = str(self.root)
        modules = sorted(m for m in graph.modules if m == root or m.startswith(root + "."))
        edges = {m: sorted(graph.find_modules_directly_imported_by(m) & set(modules)) for m in modules}
        cycles = [sorted(component) for component in _components(modules, edges) if len(component) > 1]
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles, "modules": len(modules)})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(f"{len(cycle)} modules import each other: {', '.join(cycle)}")
            output.new_line()


def _components(modules: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit to meet)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for start in modules:
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(edges[successor])))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found
