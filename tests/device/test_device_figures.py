"""device/scripts/device_figures.py keeps working: its --check mode builds and
measures a small subset (M4 sizes, one package's workspace bisection, one
decoder and one restore instruction count under QEMU) and validates every
figure; nothing is written and no timing is compared.  docs/device.md holds
the marked section the full run writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "device" / "scripts" / "device_figures.py"


def test_figures_check_mode_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check", "--build", str(tmp_path)], capture_output=True,
                          text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    out = proc.stdout
    for heading in ("### Code size", "### Workspace per package kind", "### Instructions per byte",
                    "### Published figures"):
        assert heading in out
    assert "| m4 | all switches on |" in out
    assert "| m4 | delta (programmer 0.8.0 -> 0.9.0, golden) |" in out


def test_device_md_holds_the_generated_section():
    text = (REPO / "docs" / "device.md").read_text()
    begin, end = "<!-- device-figures:begin -->", "<!-- device-figures:end -->"
    assert text.count(begin) == 1 and text.count(end) == 1
    section = text.split(begin, 1)[1].split(end, 1)[0]
    for heading in ("### Code size", "### Workspace per package kind", "### Instructions per byte",
                    "### Host decoding speed", "### Published figures"):
        assert heading in section, heading
    for cpu in ("m0", "m3", "m4"):
        assert f"| {cpu} | OTA_WITH_DELTA=0 OTA_WITH_SIGNATURE=0 |" in section


def test_write_replaces_only_the_marked_section(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    import device_figures

    doc = tmp_path / "d.md"
    doc.write_text(f"head\n{device_figures.BEGIN}\nold\n{device_figures.END}\ntail\n")
    device_figures.write_section(doc, f"{device_figures.BEGIN}\nnew\n{device_figures.END}")
    assert doc.read_text() == f"head\n{device_figures.BEGIN}\nnew\n{device_figures.END}\ntail\n"
