"""Arrows point down the pipeline: every module's imports, lazy ones inside functions included, read from its AST
and checked against the layer table (core ← training ← export; core ← calibration; core ← runtime)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# folder → the stage packages (sspnet.<name>) and third-party packages its modules must never import
FORBIDDEN = {
    "sspnet": ({"training", "export", "calibration", "runtime"}, {"torch", "torchvision"}),
    "training": ({"export", "calibration", "runtime"}, set()),
    "export": ({"calibration", "runtime"}, set()),
    "calibration": ({"training", "export", "runtime"}, {"torch", "torchvision"}),
    "runtime": ({"training", "export", "calibration"}, {"torch", "torchvision"}),
}
WIRING = {Path("sspnet/cli.py")}   # the CLI front door wires the stages together


def imported_names(source: str, filename: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement in ``source``, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def upward_imports(root: Path) -> list[str]:
    bad = []
    for folder, (stages, packages) in FORBIDDEN.items():
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root)
            if rel in WIRING:
                continue
            for line, name in imported_names(path.read_text(), str(rel)):
                parts = name.split(".")
                if (parts[0] == "sspnet" and len(parts) > 1 and parts[1] in stages) or parts[0] in packages:
                    bad.append(f"{rel}:{line} imports {name}")
    return bad


def test_no_module_imports_up_the_pipeline():
    assert upward_imports(ROOT) == []


def test_a_lazy_upward_import_is_caught(tmp_path):
    for folder in FORBIDDEN:
        (tmp_path / folder).mkdir()
    (tmp_path / "calibration" / "gate.py").write_text(
        "def evaluate(path):\n    from sspnet.runtime.backends import open_backend\n    return open_backend(path)\n")
    (tmp_path / "runtime" / "x.py").write_text("import torch.nn as nn\n")
    (tmp_path / "sspnet" / "cli.py").write_text("from sspnet.training import fit\n")   # the wiring may
    assert upward_imports(tmp_path) == ["calibration/gate.py:2 imports sspnet.runtime.backends",
                                        "runtime/x.py:1 imports torch.nn"]
