"""The package's layers only point down, and no modules import each other in a circle (lazy imports inside
functions count): walked with ``ast`` over every file of ``cifar/``, so the README's Layout cannot
quietly drift from the code."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

# bottom to top; a module may import its own layer's modules and those of the layers below
LAYERS = [
    ("ground", {"cifar", "cifar.errors", "cifar.metric_names", "cifar.files", "cifar.seeding"}),
    ("models", {"cifar.models"}),
    ("data", {"cifar.data"}),
    ("evaluation", {"cifar.evaluation"}),
    ("inference", {"cifar.inference"}),
    ("training", {"cifar.training"}),
    ("reporting", {"cifar.reporting"}),
    ("entry points", {"cifar.cli", "cifar.train", "cifar.evaluate", "cifar.predict", "cifar.export", "cifar.report",
                      "cifar.bench"}),
]


def layer_of(module: str) -> int:
    """The layer of ``module``: that of the longest prefix listed."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        for index, (_, members) in enumerate(LAYERS):
            if prefix in members:
                return index
    raise AssertionError(f"{module}: in no layer of tests/test_layers.py (add its package there)")


def module_names(root: Path) -> dict[str, Path]:
    files = sorted((root / "cifar").rglob("*.py"))
    return {".".join(f.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): f for f in files}


def imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Every module of ``root/cifar`` and the ``cifar`` modules it imports (``from cifar.x import name``
    counts as ``cifar.x.name`` where that is a module, else ``cifar.x``)."""
    modules = module_names(root)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            else:
                continue
            targets.update(name for name in names if name.split(".")[0] == "cifar" and name != module)
        graph[module] = targets
    return graph


def climbing(graph: dict[str, set[str]]) -> list[str]:
    return [f"{source} ({LAYERS[layer_of(source)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
            for source, targets in sorted(graph.items()) for target in sorted(targets)
            if layer_of(target) > layer_of(source)]


def circles(graph: dict[str, set[str]]) -> list[str]:
    done: set[str] = set()
    found: list[str] = []

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            found.append(" -> ".join(path[path.index(module):] + [module]))
            return
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return found


def test_every_import_points_down_or_stays_in_its_layer():
    assert climbing(imports()) == []


def test_no_modules_import_each_other_in_a_circle():
    assert circles(imports()) == []


def test_the_checks_catch_a_climbing_import_and_a_lazy_circle(tmp_path):
    package = tmp_path / "cifar" / "data"
    package.mkdir(parents=True)
    for init in (tmp_path / "cifar", package):
        (init / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from cifar.data.b import g\n")
    (package / "b.py").write_text("from . import a\nfrom cifar.training.module import ImageClassifier\n")
    graph = imports(tmp_path)
    assert climbing(graph) == ["cifar.data.b (data) imports cifar.training.module (training)"]
    assert circles(graph) == ["cifar.data.a -> cifar.data.b -> cifar.data.a"]
