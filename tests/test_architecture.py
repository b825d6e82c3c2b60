"""The shape of the code (docs/architecture.md): layers, no import cycles,
the CLI only through ``otapack.api``, small modules, a stdlib-only restore.

Imports are read from the source (AST), function-level imports included,
plus the lazy tables (``otapack.api.EXPORTS``, ``otapack._API``,
``otapack.cli.COMMAND_MODULES``) whose names are imported on first use.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "otapack"
MAX_LINES = 600
#: What CLI modules may import from otapack: the facade, the error tree, the version, each other.
CLI_MAY_IMPORT = ("otapack.api", "otapack.errors", "otapack.version", "otapack.cli")
#: What the device restore may import besides the standard library.
RESTORE_MAY_IMPORT = ("otapack.errors", "otapack.core.restore")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=None)
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The otapack module ``name`` refers to (a module, or the package holding the attribute)."""
    while name:
        if name in modules():
            return name
        name = name.rpartition(".")[0]
    return None


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if modules()[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


@lru_cache(maxsize=None)
def imports(module: str) -> tuple[tuple[str, int], ...]:
    """Every import statement of ``module`` anywhere in it (functions too): (imported name, line).

    Imports under ``if TYPE_CHECKING:`` are left out: they name types for
    checkers and never run."""
    tree = ast.parse(modules()[module].read_text(), str(modules()[module]))
    type_only = {id(n) for node in ast.walk(tree)
                 if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                 for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            found.append((base, node.lineno))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return tuple(found)


def _lazy_edges() -> dict[str, set[str]]:
    """Modules that lazy tables name: imported on first attribute access."""
    import otapack
    import otapack.api
    import otapack.cli

    return {
        "otapack.api": {module for module, _ in otapack.api.EXPORTS.values()},
        "otapack": {"otapack.api"} if otapack._API else set(),
        "otapack.cli": set(otapack.cli.COMMAND_MODULES.values()),
    }


@lru_cache(maxsize=None)
def graph() -> dict[str, set[str]]:
    """otapack module -> the otapack modules it imports (never itself)."""
    edges = {m: set() for m in modules()}
    for module in modules():
        for name, _ in imports(module):
            target = _resolve(name) if name.startswith("otapack") else None
            # ``from otapack.x import y`` resolves y to otapack.x when y is an attribute
            if target is not None and target != module:
                edges[module].add(target)
    for module, targets in _lazy_edges().items():
        edges[module] |= targets
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, or None (iterative DFS, colours white/grey/black)."""
    state: dict[str, int] = {}
    for start in sorted(edges):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(edges[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(edges[child]))))
                path.append(child)
    return None


def test_module_table_sees_the_whole_package():
    names = set(modules())
    assert {"otapack", "otapack.api", "otapack.cli", "otapack.cli.render", "otapack.core.restore.engine",
            "otapack.features.minimal.chain", "otapack.core.formats.extensions"} <= names
    # and the function-level imports: core.build imports the diff core inside a function
    assert "otapack.core.diff" in graph()["otapack.core.build"]


def test_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycles():
    assert find_cycle(graph()) is None


def _layer(module: str) -> str:
    for layer in ("otapack.core", "otapack.features", "otapack.cli"):
        if module == layer or module.startswith(layer + "."):
            return layer
    return module


def test_layers_depend_downwards_only():
    """core <- features <- cli: core never imports features or the CLI, features never the CLI."""
    forbidden = {"otapack.core": {"otapack.features", "otapack.cli", "otapack.api", "otapack"},
                 "otapack.features": {"otapack.cli", "otapack.api", "otapack"},
                 "otapack.errors": set(modules()) - {"otapack.errors"},
                 "otapack.version": set(modules()) - {"otapack.version"}}
    wrong = []
    for module, targets in graph().items():
        for target in targets:
            bad = forbidden.get(_layer(module), set())
            if target in bad or _layer(target) in bad:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_cli_imports_library_code_only_through_the_api():
    wrong = []
    for module in modules():
        if _layer(module) != "otapack.cli":
            continue
        for name, line in imports(module):
            if name.startswith("otapack") and not any(name == allowed or name.startswith(allowed + ".")
                                                      for allowed in CLI_MAY_IMPORT):
                if name == "otapack":  # ``from otapack import api``: checked as otapack.api
                    continue
                wrong.append(f"{module}:{line} imports {name}")
    assert wrong == []


def test_every_api_name_resolves():
    import otapack
    import otapack.api

    for name in otapack.api.__all__:
        assert getattr(otapack.api, name) is not None, name
    for name in otapack.__all__:
        assert getattr(otapack, name) is getattr(otapack.api, name, None) or name == "__version__", name


def test_no_module_over_the_line_limit():
    long = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_device_restore_imports_only_the_standard_library():
    """The restore is mirrored by the C library: nothing outside the stdlib, errors and itself
    (and stdlib-only format numbers), transitively."""
    stdlib = sys.stdlib_module_names
    wrong = []
    seen, todo = set(), [m for m in modules() if m.startswith("otapack.core.restore")]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name, line in imports(module):
            top = name.split(".")[0]
            if top == "otapack":
                target = _resolve(name)
                if target and target not in seen:
                    todo.append(target)
            elif top not in stdlib and top != "__future__":
                wrong.append(f"{module}:{line} imports {name}")
    assert wrong == []
    # the restore itself stays within its own folder apart from the error tree and numbers
    outside = {t for m in seen if m.startswith("otapack.core.restore") for t in graph()[m]
               if not t.startswith(RESTORE_MAY_IMPORT) and not (t + ".").startswith("otapack.core.formats.")}
    assert outside == set()


def test_every_command_names_the_flags_of_library_errors():
    """Every command is a ``common.Command``, which maps ``OtapackError.options`` to its flags."""
    import importlib

    from otapack.cli import COMMAND_MODULES
    from otapack.cli.common import Command

    def leaves(command):
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                yield from leaves(sub)
        else:
            yield command

    for module in set(COMMAND_MODULES.values()):
        for command in importlib.import_module(module).COMMANDS:
            for leaf in leaves(command):
                assert isinstance(leaf, Command), f"{module}: {leaf.name} is not a common.Command"


def _raised_strings(tree: ast.AST):
    """String parts of the messages of ``raise X(...)`` and of restore ``Check(...)`` details."""
    for node in ast.walk(tree):
        call = node.exc if isinstance(node, ast.Raise) else node if isinstance(node, ast.Call) else None
        if not isinstance(call, ast.Call):
            continue
        name = getattr(call.func, "id", getattr(call.func, "attr", ""))
        if isinstance(node, ast.Raise) or name == "Check":
            for arg in call.args:
                for part in ast.walk(arg):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        yield call.lineno, part.value


def test_library_messages_never_name_command_line_flags():
    """The library names settings (``OtapackError.options``); only the CLI knows its flags."""
    import re

    flag = re.compile(r"(^|[\s(])--[a-z][a-z0-9-]+")
    wrong = []
    for module, path in modules().items():
        if _layer(module) in ("otapack.core", "otapack.features"):
            for line, text in _raised_strings(ast.parse(path.read_text())):
                if flag.search(text):
                    wrong.append(f"{module}:{line}: {text!r}")
    assert wrong == []


@pytest.mark.parametrize("command, absent", [
    (["--version"], ["otapack.core", "otapack.features", "otapack.api", "construct"]),
    (["info", "--help"], ["otapack.features.signing", "otapack.core.diff", "cryptography", "littlefs"]),
    (["verify", "--help"], ["otapack.core.diff", "otapack.core.build", "littlefs"]),
    (["job", "--help"], ["otapack.core.diff", "otapack.core.build", "cryptography", "littlefs"]),
])
def test_commands_load_only_what_they_use(command, absent):
    """The facade is lazy: a command's modules load when it runs, not when the CLI starts."""
    code = ("import sys; from otapack.cli import main; main(%r); "
            "print('\\n'.join(sorted(sys.modules)))" % (command,))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = proc.stdout.splitlines()
    assert [m for m in loaded if any(m == a or m.startswith(a + ".") for a in absent)] == []


def test_unsigned_quiet_diff_loads_neither_cryptography_nor_tqdm(tmp_path):
    """An unsigned build never signs and a quiet one draws no bar: their libraries
    (about 90 ms of the command's start) stay unloaded."""
    corpus = ROOT / "tests" / "fixtures" / "corpus"
    argv = ["-q", "diff", str(corpus / "synthesizer-1.bin"), str(corpus / "synthesizer-2.bin"),
            "-o", str(tmp_path / "p.pack")]
    code = ("import sys; from otapack.cli import main; main(%r); "
            "print('\\n'.join(sorted(sys.modules)))" % (argv,))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = proc.stdout.splitlines()
    assert "otapack.core.diff._core" in loaded and (tmp_path / "p.pack").stat().st_size > 0
    assert [m for m in loaded if m.split(".")[0] in ("cryptography", "tqdm")] == []
