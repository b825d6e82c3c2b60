"""The restore's checks are one table (otapack.core.restore.engine.CHECKS).

Its order is the order every report lists; its names are the ones
docs/verifier.md, the CLI, the JSON and the C header use; only checks it
marks ``can_disable`` can be switched off.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hostile_builders import OLD_FILL, delta_package, full_package, single, stream, window
from otapack import errors
from otapack.core.restore.checks import Check, CheckStatus
from otapack.core.restore.engine import CHECK_ORDER, CHECKS, Device, check_disable
from otapack.core.verify import DeviceOptions, verify_package

ROOT = Path(__file__).resolve().parent.parent
X = b"X" * 50
NEW = OLD_FILL[:100] + X
PATCH = stream(window([(100, 50, 0)], X))


def _names(report) -> list[str]:
    """Check names without the partition, consecutive repeats folded."""
    out: list[str] = []
    for check in report.checks:
        name = check.name.split(":")[0]
        if not out or out[-1] != name:
            out.append(name)
    return out


def test_reports_follow_the_table():
    report = verify_package(delta_package(OLD_FILL, PATCH, NEW), single(OLD_FILL))
    assert report.ok
    assert _names(report) == list(CHECK_ORDER) + ["expected-image"]
    assert [c.name for c in report.checks if ":" in c.name] == ["restore:image", "target:image"]


def test_each_partition_gets_the_per_partition_checks_in_table_order():
    from otapack.core.build import build_full
    from otapack.core.model import FirmwareImage, Partition

    image = FirmwareImage((Partition("a", 0, b"a" * 100), Partition("b", 4096, b"b" * 100)))
    report = verify_package(build_full(image))
    per = [spec.name for spec in CHECKS if spec.per_partition]
    assert [c.name for c in report.checks if ":" in c.name] == [f"{n}:{p}" for p in "ab" for n in per]


def test_after_a_failure_the_rest_of_the_table_is_skipped():
    report = verify_package(full_package(NEW, model="A"), None, opts=DeviceOptions(model="B"))
    assert isinstance(report.error, errors.IncompatibleDeviceError)
    statuses = [(c.name, c.status) for c in report.checks]
    at = CHECK_ORDER.index("compatibility")
    assert statuses[at] == ("compatibility", CheckStatus.FAIL)
    later = [spec.name for spec in CHECKS[at + 1:] if not spec.per_partition]
    assert statuses[at + 1:] == [(n, CheckStatus.SKIPPED) for n in later] + [("expected-image", CheckStatus.SKIPPED)]


def test_status_is_an_enum_and_json_stays_strings():
    check = Check("x", "pass")
    assert check.status is CheckStatus.PASS and check.status == "pass"
    with pytest.raises(ValueError):
        check.status = "passed"
    report = verify_package(full_package(NEW))
    document = json.loads(json.dumps(report.to_dict()))
    assert {c["status"] for c in document["checks"]} <= {s.value for s in CheckStatus}
    assert [c["name"] for c in document["checks"]][:len(CHECK_ORDER)] == [c.name for c in report.checks][:len(CHECK_ORDER)]


def test_only_marked_checks_can_be_disabled():
    disabled = verify_package(full_package(NEW), opts=DeviceOptions(skip_checks=frozenset({"ram"})))
    assert disabled.ok
    ram = next(c for c in disabled.checks if c.name == "ram")
    assert ram.status is CheckStatus.SKIPPED and ram.detail == "disabled by the caller"
    for spec in CHECKS:
        if spec.can_disable:
            assert check_disable({spec.name}) == {spec.name}
            continue
        with pytest.raises(errors.UsageError, match=f"restore check '{spec.name}' cannot be disabled"):
            DeviceOptions(skip_checks=frozenset({spec.name}))
        with pytest.raises(errors.UsageError, match="cannot be disabled"):
            Device(disabled_checks=frozenset({spec.name}))
    with pytest.raises(errors.UsageError, match="unknown restore check 'crc'"):
        DeviceOptions(skip_checks=frozenset({"crc"}))
    assert [s.name for s in CHECKS if s.can_disable] == ["ram"]


def test_disabling_ram_accepts_nothing_the_device_refuses_earlier():
    """A package that under-declares RAM is still refused (at resources) with ram disabled."""
    pkg = full_package(NEW, ram_required=4096)
    for opts in (DeviceOptions(), DeviceOptions(skip_checks=frozenset({"ram"}))):
        report = verify_package(pkg, opts=opts)
        assert isinstance(report.error, errors.ResourceLimitError)
        assert [c.name for c in report.checks if c.status == "fail"] == ["resources"]


def test_every_check_says_why_it_can_or_cannot_be_disabled():
    assert all(spec.why for spec in CHECKS)
    assert len({spec.name for spec in CHECKS}) == len(CHECKS)


def test_verifier_doc_lists_exactly_the_table():
    text = (ROOT / "docs" / "verifier.md").read_text(encoding="utf-8")
    section = text.split("## The checks, in order", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| `([^`]+)` \|", section, flags=re.M)
    assert [int(n) for n, _ in rows] == list(range(1, len(rows) + 1))
    assert [name for _, name in rows] == [spec.label for spec in CHECKS]
    # The doc says which checks can be disabled: exactly the table's.
    disabled = re.findall(r"^\| `([^`]+)` \| yes \|", section, flags=re.M)
    assert disabled == [spec.name for spec in CHECKS if spec.can_disable]
