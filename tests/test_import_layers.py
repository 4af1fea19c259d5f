"""The package's layers import one way (the house plan, ../shared/STYLE.md): a layer imports only the layers above
it in LAYERS, and the web app never imports the models or the training code."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "lesionwatch"

BASE = ("errors", "paths", "logging", "types", "__init__")
"""Importable from anywhere."""

LAYERS = ("io", "preprocessing", "atlas", "models", "inference", "training", "synth", "lesions", "longitudinal",
          "reporting", "workflows", "cli", "web", "__main__")
"""The house plan's order, top first; `__main__` (the `python -m lesionwatch` entry point) calls the CLI."""

CROSSINGS = {
    ("training", "lesions"): "training samples patches per lesion and validates with the lesion Dice "
                             "(lesions.components, lesions.metrics)",
    ("cli", "web"): "`lesionwatch serve` builds the web app and runs it",
}
"""Imports against the plan's order that the code needs, each with its reason; any other fails the test."""

NEVER = {("web", "models"), ("web", "training")}


def layer_imports() -> set[tuple[str, str, str]]:
    """(module file, its layer, the layer it imports) for every lesionwatch import inside the package."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        layer = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                       [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for module in modules:
                parts = module.split(".")
                if parts[0] == "lesionwatch":
                    found.add((str(path.relative_to(PACKAGE)), layer, parts[1] if len(parts) > 1 else "__init__"))
    return found


def test_every_module_belongs_to_a_layer_of_the_plan() -> None:
    layers = {layer for _, layer, _ in layer_imports()} | {p.name.removesuffix(".py") for p in PACKAGE.iterdir()
                                                           if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert layers <= set(BASE) | set(LAYERS), sorted(layers - set(BASE) - set(LAYERS))


def test_layers_import_only_the_layers_above_them() -> None:
    wrong = sorted(
        f"{module} ({layer}) imports lesionwatch.{target}"
        for module, layer, target in layer_imports()
        if target != layer and target not in BASE and (
            layer in BASE or (layer, target) in NEVER
            or (LAYERS.index(target) > LAYERS.index(layer) and (layer, target) not in CROSSINGS)))
    assert not wrong, "\n".join(wrong)


def test_every_allowed_crossing_is_still_needed() -> None:
    """A crossing the code no longer makes leaves the list, so the list says only what is true."""
    used = {(layer, target) for _, layer, target in layer_imports()}
    assert set(CROSSINGS) <= used, sorted(set(CROSSINGS) - used)
