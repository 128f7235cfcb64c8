"""The runtime's import structure: no loop, type-only imports included, and no training stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "detector"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The detector modules ``path`` imports, anywhere in it (functions and TYPE_CHECKING blocks too)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("detector")}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            mod = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
            if mod.startswith("detector"):
                out.add(mod)
                out |= {f"{mod}.{a.name}" for a in node.names}  # `from . import history` names a module
    return out


def test_no_import_loop_in_the_runtime():
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
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


def test_the_runtime_loads_no_training_stack():
    code = (
        "import sys, detector.pipeline, detector.service, detector.cli, detector.web\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'librosa', 'torch', 'onnxruntime') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout
