"""Every fenced shell example of the documentation runs, so the docs cannot drift.

Which files: ``docs/*.md``, ``README.md`` and ``examples/*/README.md``.

The convention (also in README.md, "Development"):

- Every fence names its language. ``sh`` blocks are run; ``console`` blocks
  are run too, each ``$ COMMAND`` line, and what it prints (stdout and stderr
  together) must be the lines that follow it; anything else (``text`` for
  output, diagrams and formulas, ``toml``, ``json``, ``python``, ``c``) is not a
  shell example.  An unlabelled fence is an error, so a new example cannot
  slip past unrun.
- An HTML comment on the line before a fence changes how it runs, and must
  say why: ``<!-- doc-example: skip: REASON -->`` (not run at all), or
  ``<!-- doc-example: from "TEXT": REASON -->`` (run from the first TEXT on,
  e.g. past the lines that create the environment the test already runs in).
- The ``sh`` and ``console`` blocks of one file run in order, in one working
  directory per file, under ``bash -e -o pipefail``, with this environment's
  ``otapack`` and ``python`` first on PATH.  The directory looks like the
  repository root (``examples/`` is a copy, so examples may write into it;
  ``bench/``, ``fuzz/``, ``scripts/``, ``tests/`` are links) and holds the
  files the examples name as placeholders (``PLACEHOLDERS``): the docs' old
  and new firmware, a layout, a firmware image, an app folder, a broken job
  document.  Nothing outside that directory is written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md", *(ROOT / "examples").glob("*/README.md")])
RUN = {"sh", "console"}
NOT_SHELL = {"text", "toml", "json", "python", "c", "ini", "yaml"}
LINKED = ("bench", "fuzz", "scripts", "tests")


def _composite_firmware() -> bytes:
    from test_partitions_fixtures import composite_raw

    return composite_raw()


#: Placeholder names the docs use -> where the test's copy comes from.
PLACEHOLDERS = {
    "old.bin": lambda: (FIXTURES / "corpus" / "programmer-0.8.0.bin").read_bytes(),
    "new.bin": lambda: (FIXTURES / "corpus" / "programmer-0.9.0.bin").read_bytes(),
    # a layout whose customer_fs declares littlefs 2.0, and raw firmware split by it (a littlefs customer_fs)
    "module.toml": lambda: (FIXTURES / "doc-examples" / "module.toml").read_bytes(),
    "firmware.bin": _composite_firmware,
    # docs/cloud.md's job document with four problems
    "bad.json": lambda: (FIXTURES / "doc-examples" / "bad.json").read_bytes(),
}
#: Placeholder folders: the app files of docs/cloud.md.
PLACEHOLDER_DIRS = {"app": FIXTURES / "app"}

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_DIRECTIVE = re.compile(r'<!--\s*doc-example:\s*(skip|from\s+"([^"]+)")\s*:\s*(.*?)\s*-->\s*$')


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    body: str
    directive: tuple[str, str | None, str] | None  # (kind, text, reason)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        directive = _DIRECTIVE.search(before)
        found.append(Block(path, line, match.group(1), match.group(2),
                           (directive.group(1).split()[0], directive.group(2), directive.group(3)) if directive else None))
    return found


def test_every_fence_is_labelled_and_every_directive_justified():
    problems = []
    for path in DOCS:
        for block in blocks(path):
            if block.lang not in RUN | NOT_SHELL:
                problems.append(f"{block.where}: fence language {block.lang or '(none)'!r}: use sh or console "
                                f"(run) or one of {sorted(NOT_SHELL)}")
            if block.directive is not None:
                kind, text, reason = block.directive
                if block.lang not in RUN:
                    problems.append(f"{block.where}: a doc-example directive on a block that is not run")
                if len(reason.split()) < 3:
                    problems.append(f"{block.where}: say why the example is not run as written ({reason!r})")
                if kind == "from" and text not in block.body:
                    problems.append(f"{block.where}: from {text!r}: not in the block")
    assert not problems, "\n".join(problems)


def _workdir(tmp: Path) -> Path:
    shutil.copytree(ROOT / "examples", tmp / "examples", symlinks=True)
    for name in LINKED:
        (tmp / name).symlink_to(ROOT / name, target_is_directory=True)
    for name, make in PLACEHOLDERS.items():
        (tmp / name).write_bytes(make())
    for name, source in PLACEHOLDER_DIRS.items():
        shutil.copytree(source, tmp / name)
    return tmp


def _environment() -> dict:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("SOURCE_DATE_EPOCH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _bash(script: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)


def _console(block: Block) -> list[tuple[str, str]]:
    """(command, expected output) of each ``$`` line of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"{block.where}: output before the first $ command")
    return [(cmd, "\n".join(out).rstrip()) for cmd, out in steps]


def runnable(path: Path) -> list[Block]:
    return [b for b in blocks(path) if b.lang in RUN and (b.directive is None or b.directive[0] != "skip")]


def _doc_params():
    # all of them take about 30 s on 2 cores, so none is marked slow
    return [pytest.param(path, id=str(path.relative_to(ROOT))) for path in DOCS if runnable(path)]


def test_some_examples_run():
    """The scan finds the examples (a broken fence regex would make the test below vacuous)."""
    count = sum(len(runnable(p)) for p in DOCS)
    assert count >= 10
    assert any(b.lang == "console" for p in DOCS for b in runnable(p))


@pytest.mark.parametrize("path", _doc_params())
def test_doc_examples_run(tmp_path, path):
    work, env = _workdir(tmp_path), _environment()
    for block in runnable(path):
        if block.lang == "console":
            for command, expected in _console(block):
                result = _bash(command, work, env)
                assert result.stdout.rstrip() == expected, (
                    f"{block.where}: `{command}` printed (exit {result.returncode}):\n{result.stdout}")
            continue
        script = block.body
        if block.directive is not None and block.directive[0] == "from":
            script = script[script.index(block.directive[1]):]
        result = _bash(script, work, env)
        assert result.returncode == 0, f"{block.where}: exit {result.returncode}:\n{script}\n---\n{result.stdout}"


@pytest.mark.parametrize("script", ["bench/run_bench.py", "bench/check_corpus.py"])
@pytest.mark.parametrize("corpus", ["missing", "empty"])
def test_bench_scripts_without_a_corpus(tmp_path, script, corpus):
    """In a fresh clone there is no ../shared/corpus: one error line naming --corpus, not a traceback."""
    folder = tmp_path / "corpus"
    if corpus == "empty":
        folder.mkdir()
    result = subprocess.run([sys.executable, str(ROOT / script), "--corpus", str(folder)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: no ") and str(folder) in line and "give --corpus DIR" in line
    assert "--corpus" in subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True,
                                        text=True, timeout=120).stdout
