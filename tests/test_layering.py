"""The import graph of genlab follows its layers (docs/architecture.md) and has no cycles.

Every module of ``src/genlab`` is parsed (not imported); every ``import`` anywhere in it counts —
at module level, inside functions, under ``TYPE_CHECKING`` — since each is a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import genlab

PACKAGE = Path(genlab.__file__).parent

#: Lowest first; a module may import its own layer and those below it, never one above.
LAYERS = [
    {"errors", "options", "fileio", "arrays", "plotting", "progress", "distributed"},
    {"data"},
    {"models", "objectives"},
    {"runs"},
    {"metrics", "divergences"},
    {"training"},
    {"experiments", "report"},
    {"cli"},
]
#: The public surface and the entry point may import anything.
UNLAYERED = {"genlab", "genlab.__main__"}


def _module_name(path: Path) -> str:
    parts = ("genlab", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The genlab modules that ``name`` imports (``from genlab import x`` names genlab.x)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from genlab.x import y` imports the module genlab.x.y when there is one, else
            # the name y from genlab.x.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import genlab.x.y` of an attribute
                target = target.rpartition(".")[0]
            if target.startswith("genlab") and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _layer(module: str) -> int | None:
    if module in UNLAYERED:
        return None
    top = module.split(".")[1]
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    raise AssertionError(f"{module} is in no layer; add genlab.{top} to LAYERS (and the docs)")


def test_every_package_has_a_layer() -> None:
    for module in _modules():
        _layer(module)


def test_no_import_goes_up_a_layer() -> None:
    offending = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in sorted(_graph().items())
        for target in sorted(targets)
        if _layer(module) is not None
        and _layer(target) is not None
        and _layer(target) > _layer(module)
    ]
    assert not offending, "imports against the layer order:\n" + "\n".join(offending)


def test_no_import_cycle() -> None:
    graph = _graph()
    cycles, state = [], {}  # state: 1 while on the current path, 2 when finished

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles between modules:\n" + "\n".join(cycles)
