"""The project's import structure: no loop (type-only imports included), the runtime never imports the lab,
and neither the runtime nor training's numpy parts load the training stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGES = ("detector", "barkcry_train", "scripts", "bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The project modules ``path`` imports, anywhere in it (functions and TYPE_CHECKING blocks too)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] in PACKAGES}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            mod = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
            if mod.split(".")[0] in PACKAGES:
                out.add(mod)
                out |= {f"{mod}.{a.name}" for a in node.names}  # `from . import history` names a module
    return out


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def test_no_import_loop_in_the_project():
    files = project_modules()
    graph = {m: sorted(i for i in imports(p) if i in files and i != m) for m, p in files.items()}
    loops, state = [], {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = "open"
        for n in graph[m]:
            if state.get(n) == "open":
                loops.append(path[path.index(n) :] + [n] if n in path else [m, n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    # a package importing its own modules is not a loop: its __init__ runs first
    loops = [lp for lp in loops if not all(x.startswith(lp[0] + ".") or x == lp[0] for x in lp[1:])]
    assert not loops, "\n".join(" -> ".join(lp) for lp in loops)


def loaded(modules: str, heavy: tuple[str, ...]) -> list[str]:
    """Which of ``heavy`` a fresh interpreter has loaded after importing ``modules``."""
    code = f"import sys, {modules}\nprint(','.join(m for m in {heavy!r} if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [m for m in r.stdout.strip().split(",") if m]


def test_the_runtime_loads_no_training_stack():
    modules = "detector.pipeline, detector.service, detector.cli, detector.web"
    assert loaded(modules, ("tensorflow", "keras", "librosa", "torch", "onnxruntime")) == []


def test_the_runtime_never_imports_the_lab():
    lab = [
        f"{m} imports {i}"
        for m, p in project_modules().items()
        if m.startswith("detector")
        for i in imports(p)
        if not i.startswith("detector")
    ]
    assert not lab, lab


def test_trainings_numpy_parts_load_no_keras():
    modules = "barkcry_train.experiment, barkcry_train.export, barkcry_train.train, barkcry_train.reference"
    assert loaded(modules, ("tensorflow", "keras")) == []
