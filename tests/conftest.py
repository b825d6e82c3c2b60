"""Shared fixtures: real firmware from tests/fixtures, and the golden flag."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="Rewrite golden and corrupt fixture files from the current code.",
    )


@pytest.fixture
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


@pytest.fixture(scope="session")
def programmer_old() -> bytes:
    return (FIXTURES / "corpus" / "programmer-0.8.0.bin").read_bytes()


@pytest.fixture(scope="session")
def programmer_new() -> bytes:
    return (FIXTURES / "corpus" / "programmer-0.9.0.bin").read_bytes()


@pytest.fixture(scope="session")
def synth_old() -> bytes:
    return (FIXTURES / "corpus" / "synthesizer-1.bin").read_bytes()


@pytest.fixture(scope="session")
def synth_new() -> bytes:
    return (FIXTURES / "corpus" / "synthesizer-2.bin").read_bytes()


@pytest.fixture(autouse=True)
def _fixed_build_time(monkeypatch):
    # Builds must not depend on the caller's environment unless a test says so.
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def run(capsys, *args):
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    from otapack.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    """The single ``error: ...`` line a failed command prints (no traceback)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]
