"""The conformance vectors (device/conformance/): every vector through the
Python and the C restore, each must give the manifest's verdict, failing
check, error class and flash; and the committed vectors are what the
generator writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CONFORMANCE = Path(__file__).resolve().parents[2] / "device" / "conformance"
VECTORS = CONFORMANCE / "vectors"
sys.path.insert(0, str(CONFORMANCE))
import generate  # noqa: E402

MANIFEST = json.loads((VECTORS / "manifest.json").read_text())["vectors"]


def test_vectors_are_what_the_generator_writes():
    proc = subprocess.run([sys.executable, str(CONFORMANCE / "generate.py"), "--check"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr


def test_every_failure_class_has_a_vector():
    checks = {v["expected"]["check"] for v in MANIFEST}
    assert checks >= {None, "trailer", "crc32", "digest", "signature", "header", "compatibility", "table",
                      "resources", "precondition", "restore", "target"}
    compatibility = {v["name"] for v in MANIFEST if v["expected"]["check"] == "compatibility"}
    assert compatibility == {"compatibility-model", "compatibility-hardware-id", "compatibility-security-counter",
                             "compatibility-layout", "compatibility-erase-block"}


@pytest.mark.parametrize("engine", ["python", "c"])
@pytest.mark.parametrize("vector", MANIFEST, ids=[v["name"] for v in MANIFEST])
def test_vector_outcome(vector, engine, monkeypatch):
    from otapack.core.restore import c_engine

    calls = []
    real = c_engine.run
    monkeypatch.setattr(c_engine, "run", lambda device, package: calls.append(1) or real(device, package))
    package = (VECTORS / vector["package"]).read_bytes()
    old = (VECTORS / vector["old_image"]).read_bytes() if vector["old_image"] else None
    outcome = generate.run_vector(package, old, vector["device"], VECTORS, engine)
    assert outcome == vector["expected"]
    assert len(calls) == (engine == "c")  # the C library itself ran, not the Python restore
