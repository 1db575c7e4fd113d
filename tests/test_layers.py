"""Imports point down the layers of docs/architecture.md: no module imports one above it.

The source is read with ``ast`` (nothing is executed), so imports inside functions count too.
A module belongs to the group whose prefix matches it longest in ``LAYERS``; it may import its
own group and any group of a lower rank. Groups of the same rank (models and data) sit side by
side and do not import each other.
"""

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]

# (rank, group, module prefixes): lowest first. configs/ is installed as rdjax.configs.
LAYERS: Sequence[Tuple[int, str, Tuple[str, ...]]] = (
    (0, "core", ("rdjax", "rdjax.core")),  # "rdjax" (no dot) is rdjax/__init__.py only
    (1, "models", ("rdjax.models",)),
    (1, "data", ("rdjax.data",)),
    (2, "methods", ("rdjax.methods",)),
    (3, "eval", ("rdjax.eval",)),
    (4, "train", ("rdjax.train",)),
    (5, "configs", ("rdjax.configs", "rdjax.recipes")),
    (6, "apps", ("rdjax.__main__", "rdjax.cli", "rdjax.train.__main__", "rdjax.export",
                 "rdjax.predict", "rdjax.benchmark", "rdjax.sweep")),
)


def module_files(roots: Dict[Path, str]) -> Dict[str, Path]:
    """Dotted module name → file, for every ``.py`` under each root folder (named by its value)."""
    modules = {}
    for folder, package in roots.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package] + parts)] = path
    return modules


def shown(path: Path, roots: Dict[Path, str]) -> str:
    """``path`` from the folder that holds its root, e.g. ``rdjax/eval/report.py``."""
    folder = next(f for f in roots if f in path.parents)
    return str(path.relative_to(folder.parent))


def imported_modules(module: str, path: Path, known) -> Iterator[Tuple[str, int]]:
    """``(imported module, line)`` for each import in ``path``; ``from a import b`` names the
    module ``a.b`` when there is one, else ``a``."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package upwards
                package = module.split(".")[:len(module.split(".")) - node.level + is_package]
                base = ".".join(package + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in known else base), node.lineno


def group_of(module: str, layers=LAYERS):
    """``(rank, group)`` of the longest matching prefix, or None. A prefix without a dot (the
    top package) matches only itself, so a new package is in no layer until it is listed."""
    best = None
    for rank, group, prefixes in layers:
        for prefix in prefixes:
            inside = "." in prefix and module.startswith(prefix + ".")
            if (module == prefix or inside) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank, group)
    return best and best[1:]


def violations(roots: Dict[Path, str], top: str, layers=LAYERS) -> List[str]:
    """One line per import that goes up or sideways, or per module outside every layer."""
    modules = module_files(roots)
    problems = []
    for module, path in modules.items():
        source = group_of(module, layers)
        if source is None:
            problems.append(f"{shown(path, roots)}: {module} is in no layer: add it to LAYERS")
            continue
        for target, line in imported_modules(module, path, modules):
            if not (target == top or target.startswith(top + ".")):
                continue  # third-party or standard library
            dest = group_of(target, layers)
            if dest is None or dest[1] == source[1]:
                continue  # unknown targets are reported as modules above
            if dest[0] >= source[0]:
                where = "beside" if dest[0] == source[0] else "above"
                problems.append(f"{shown(path, roots)}:{line}: {module} ({source[1]}) imports "
                                f"{target} ({dest[1]}, {where} it)")
    return problems


def test_rdjax_imports_point_down_the_layers():
    problems = violations({REPO / "rdjax": "rdjax", REPO / "configs": "rdjax.configs"}, "rdjax")
    assert not problems, "\n".join(problems)


@pytest.fixture
def tree(tmp_path):
    """A package ``pkg`` with a low layer ``pkg.low``, two side-by-side middle packages and a top."""
    def write(relative, text=""):
        path = tmp_path / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    for name in ("__init__.py", "low/__init__.py", "mid_a/__init__.py", "mid_b/__init__.py",
                 "top.py"):
        write(name)
    write("low/ops.py", "import numpy\n")
    write("mid_a/model.py", "from pkg.low import ops\nfrom . import helpers\n")
    write("mid_a/helpers.py", "")
    write("top.py", "import pkg.mid_a.model\nfrom pkg.mid_b import thing\n")
    layers = ((0, "low", ("pkg", "pkg.low")), (1, "mid_a", ("pkg.mid_a",)),
              (1, "mid_b", ("pkg.mid_b",)), (2, "top", ("pkg.top",)))
    return write, {tmp_path / "pkg": "pkg"}, layers


def test_a_clean_tree_passes(tree):
    _, roots, layers = tree
    assert violations(roots, "pkg", layers) == []


def test_an_upward_import_is_reported_with_its_line(tree):
    write, roots, layers = tree
    write("low/ops.py", "import numpy\n\n\ndef f():\n    from pkg.top import main  # lazy, still counted\n")
    (problem,) = violations(roots, "pkg", layers)
    assert problem.startswith("pkg/low/ops.py:5: pkg.low.ops (low) imports pkg.top (top, above it)")


def test_relative_and_sideways_imports_are_resolved(tree):
    write, roots, layers = tree
    write("mid_a/model.py", "from pkg.low import ops\nfrom ..mid_b import other\n")
    write("low/__init__.py", "from .. import top\n")
    problems = violations(roots, "pkg", layers)
    assert len(problems) == 2
    assert "pkg.mid_a.model (mid_a) imports pkg.mid_b (mid_b, beside it)" in problems[0] + problems[1]
    assert "pkg.low (low) imports pkg.top (top, above it)" in problems[0] + problems[1]


def test_a_module_outside_every_layer_is_reported(tree):
    write, roots, layers = tree
    write("stray.py", "")
    assert violations(roots, "pkg", layers) == ["pkg/stray.py: pkg.stray is in no layer: add it to LAYERS"]
