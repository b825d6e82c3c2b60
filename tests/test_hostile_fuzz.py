"""Smoke run of the fuzz target (fuzz/fuzz_restore.py) inside the test suite.

The long, coverage-guided run is ``python fuzz/fuzz_restore.py -atheris_runs=100000``
(docs/verifier.md); here its Hypothesis fallback runs a few hundred inputs and
a handful of fixed ones, so the target itself cannot rot.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TARGET = Path(__file__).resolve().parent.parent / "fuzz" / "fuzz_restore.py"


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_restore", TARGET)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._load()
    return module


@pytest.mark.parametrize("data", [
    b"", b"\x00", b"\x00OTAP", b"\x03" + b"OTAP\x01\x00" + bytes(60),
    b"\x01\x00", b"\x01\x01" + b"\x10\x00\xff" * 20, b"\x01\x02\x40",
    b"\x02", b"\x02\x80\x02\x10\x01\x05\x00\x00" + bytes(5), b"\x02\x80\x02\x10\x01\xac\x02\x00\x00" + bytes(300),
])
def test_fixed_inputs(fuzz, data):
    fuzz.one_input(data)


@pytest.mark.slow
def test_hypothesis_fallback(fuzz):
    fuzz._hypothesis(300)
