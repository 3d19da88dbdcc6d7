"""The layout of the package (docs/development.md): a folder per layer, imports that run down
the layers only and never in a circle, files short enough to read, one deadline handed down
from cli, and a plain check that imports only the files on its path."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from helpers import CHECK, HELO, ROOT

PACKAGE = ROOT / "check_smtp_helo"
# bottom up; a folder may import from its own folder and from the folders below it
LAYERS = {"core": 0, "tls": 1, "smtp": 2, "domain": 3, "checks": 4, "options": 4}
TOP = 5  # cli, console, __main__: they wire everything
MAX_LINES = 350
# what a plain check (-H, no TLS, no AUTH, no -e, no domain option) imports of the package
PLAIN_PATH = {
    "check_smtp_helo",
    "check_smtp_helo.console",
    "check_smtp_helo.cli",
    "check_smtp_helo.core",
    "check_smtp_helo.core.deadline",
    "check_smtp_helo.core.inputs",
    "check_smtp_helo.core.stdout",
    "check_smtp_helo.core.text",
    "check_smtp_helo.core.threads",
    "check_smtp_helo.options",
    "check_smtp_helo.options.derive",
    "check_smtp_helo.options.parse",
    "check_smtp_helo.options.table",
    "check_smtp_helo.options.values",
    "check_smtp_helo.smtp",
    "check_smtp_helo.smtp.clock",
    "check_smtp_helo.smtp.connect",
    "check_smtp_helo.smtp.conversation",
    "check_smtp_helo.smtp.model",
    "check_smtp_helo.smtp.wire",
    "check_smtp_helo.checks",
    "check_smtp_helo.checks.contexts",
    "check_smtp_helo.checks.output",
    "check_smtp_helo.checks.perfdata",
    "check_smtp_helo.checks.resource",
    "check_smtp_helo.checks.summary",
}


def module_name(path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"


def imports(path) -> set[str]:
    """The package modules a file imports at run time, at the top or inside a function
    (what `if TYPE_CHECKING:` imports is for mypy only)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    pending = list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if _type_checking_only(node):
            continue
        pending.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # 'from . import x' and 'from .checks import domain_contexts' import modules too
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {module for module in found if module in MODULES}


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
GRAPH = {name: imports(path) for name, path in MODULES.items()}


def layer(module: str) -> tuple[int, str]:
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS):
        return LAYERS[parts[1]], parts[1]
    return TOP, "check_smtp_helo"  # cli, console, __main__: the top floor


def test_every_folder_is_a_layer():
    folders = {path.parent.name for path in PACKAGE.rglob("*.py")} - {"check_smtp_helo"}
    assert folders == set(LAYERS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_down_the_layers_only(module):
    rank, folder = layer(module)
    upward = []
    for imported in GRAPH[module]:
        if imported == "check_smtp_helo":  # the package's face: its version
            continue
        other_rank, other_folder = layer(imported)
        if other_folder != folder and other_rank >= rank:
            upward.append(imported)
    assert not upward, f"{module} imports up or sideways: {upward}"


def test_no_import_cycle():
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            cycle = [*trail[trail.index(module) :], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for imported in sorted(GRAPH[module]):
            visit(imported, [*trail, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_files_stay_short(module):
    lines = MODULES[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{module}: {lines} lines"


def test_only_cli_makes_the_deadline():
    """One deadline, made and armed by cli and handed down: no module keeps one of its own."""
    makers = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Deadline":
                makers.append(module)
    assert makers == ["check_smtp_helo.cli"]


def test_the_layers_below_the_conversation_load_without_it():
    """TLS knows nothing of SMTP: importing it loads no module of the conversation."""
    code = (
        "import sys, check_smtp_helo.tls.policy; "
        "print(sorted(m for m in sys.modules if m.startswith('check_smtp_helo.smtp')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout == "[]\n"


def test_a_plain_check_imports_only_the_files_on_its_path():
    """Each file costs an import (docs/performance.md counts them): nothing for TLS, AUTH,
    -e, the mail domain or --help."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", CHECK, "-H", "127.0.0.1", "-p", "1", *HELO],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert {m for m in imported if m.startswith("check_smtp_helo")} == PLAIN_PATH
