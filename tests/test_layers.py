"""The layers point one way: web → rig → (stacker), and the CLI loads only what runs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What web/routers/* may import from rig: the service API and the models it speaks.
ROUTER_ALLOWED = {"rig.service", "rig.plan"}


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def importers(package: str, of: str) -> list[str]:
    return sorted(
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (ROOT / package).rglob("*.py")
        for module in imports(path)
        if module == of or module.startswith(f"{of}.")
    )


@pytest.mark.parametrize(
    ("package", "forbidden"), [("rig", "web"), ("stacker", "rig"), ("stacker", "web")]
)
def test_a_lower_layer_never_imports_a_higher_one(package, forbidden):
    assert importers(package, forbidden) == []


def test_routers_use_only_the_service_api():
    reaches = sorted(
        f"{path.name} imports {module}"
        for path in (ROOT / "web" / "routers").glob("*.py")
        for module in imports(path)
        if module.startswith("rig") and module not in ROUTER_ALLOWED
    )
    assert reaches == []


def loaded_by(command: str) -> set[str]:
    code = (
        "import sys; from rig.cli import build_parser; "
        f"build_parser({command!r}); print(' '.join(sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return {name.split(".")[0] for name in out.split()}


def test_macrorig_stack_loads_no_web_server():
    assert not {"web", "uvicorn", "fastapi", "httpx"} & loaded_by("stack")


@pytest.mark.slow
def test_serve_is_found_through_its_entry_point():
    """rig/cli does not name web; `serve` comes from the macrorig.commands group."""
    assert "web" in loaded_by("serve")
    help_text = subprocess.run(
        [sys.executable, "-m", "rig", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert all(name in help_text for name in ("serve", "stack", "rail", "trigger", "config", "sim"))
