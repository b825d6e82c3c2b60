"""Extension values (docs/formats/package-v1.md, "Extension values"): round
trips of the construct declarations, their bytes pinned to the hand-written
encoders they replaced, and agreement with the device's stdlib reader."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otapack.core.formats import extensions as fmt
from otapack.core.formats.wire_numbers import SHA256_SIZE as DIGEST_SIZE, STATE_DIGEST_PREFIX
from otapack.core.restore import extensions as device
from otapack.errors import PackageFormatError

# Bytes written by the encoders before the declarations existed (otapack 0.1.0,
# features/minimal/system.py and core/restore/engine.py): output must not change.
BUDGET_KAT = (dict(stage=2, download_area=65536, package_bytes=53536, scratch_flash=8192, flash_needed=65536),
              "01020000010020d100000020000000000100")
BUDGET_CLAMPED_KAT = (dict(stage=1, download_area=7, package_bytes=5 << 32, scratch_flash=0,
                           flash_needed=(5 << 32) + 4096),
                      "010107000000ffffffff00000000ffffffff")
PREV_STATE_KAT = ((b"\x11" * 32, [True, False, True, True, False, False, False, False, True]),
                  "11" * 32 + "0d01")
STATE_KAT = ([("boot", 0, 0x4000, b"\x22" * 32), ("app", 0x4000, 0x1234, b"\x33" * 32)],
             "0ca04b3632e2962f417bf8935c4a5183c85436de6bdee4919180c442c338b6ac")
EMPTY_STATE_KAT = "afac6ba9414ab347c1290a057348820eb4b24b094232766e20af2d1f9753eda8"
LAYOUT_KAT = ([("app", 0x4000, 0x8000), ("boot", 0, 0x4000)],
              "97843bad66dedcd0267ca2e84e154188221741601e4e6b738bf58e069d13910f")

names = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
u32 = st.integers(0, 0xFFFFFFFF)
digests = st.binary(min_size=32, max_size=32)


# -- budget --------------------------------------------------------------------------------------


def test_budget_bytes_unchanged():
    for figures, hexed in (BUDGET_KAT, BUDGET_CLAMPED_KAT):
        assert fmt.encode_budget(**figures).hex() == hexed
    assert fmt.BUDGET_SIZE == 18


@given(stage=st.integers(0, 255), area=u32, package=u32, scratch=u32, need=u32)
def test_budget_round_trip(stage, area, package, scratch, need):
    value = fmt.encode_budget(stage=stage, download_area=area, package_bytes=package, scratch_flash=scratch,
                              flash_needed=need)
    assert fmt.decode_budget(value) == {"stage": stage, "download_area": area, "package_bytes": package,
                                        "scratch_flash": scratch, "flash_needed": need, "free_after": area - need}
    assert fmt.Budget.build(fmt.Budget.parse(value)) == value


@pytest.mark.parametrize("value", [b"", bytes.fromhex(BUDGET_KAT[1])[:-1], bytes.fromhex(BUDGET_KAT[1]) + b"\0",
                                   b"\x02" + bytes.fromhex(BUDGET_KAT[1])[1:]])
def test_budget_malformed(value):
    with pytest.raises(PackageFormatError) as info:
        fmt.decode_budget(value)
    assert str(info.value) == "budget extension: expected 18 bytes of version 1"


# -- chain-prev-state ------------------------------------------------------------------------------


def test_prev_state_bytes_unchanged():
    (digest, covered), hexed = PREV_STATE_KAT
    assert fmt.encode_prev_state(digest, covered).hex() == hexed
    assert fmt.decode_prev_state(bytes.fromhex(hexed), len(covered)) == (digest, covered)
    assert device.read_prev_state(bytes.fromhex(hexed), len(covered)) == (digest, covered)


@given(digest=digests, covered=st.lists(st.booleans(), max_size=255))
def test_prev_state_round_trip_and_device_agrees(digest, covered):
    value = fmt.encode_prev_state(digest, covered)
    assert len(value) == fmt.prev_state_size(len(covered)) == DIGEST_SIZE + (len(covered) + 7) // 8
    assert fmt.decode_prev_state(value, len(covered)) == (digest, covered)
    assert device.read_prev_state(value, len(covered)) == (digest, covered)


def _outcome(reader, value, entries):
    try:
        return reader(value, entries)
    except PackageFormatError as exc:
        return str(exc)


@settings(max_examples=300)
@given(value=st.binary(max_size=70), entries=st.integers(0, 255))
def test_prev_state_readers_agree_on_any_bytes(value, entries):
    """Padding bits past the last entry are ignored by both; a wrong length is the same error."""
    assert _outcome(fmt.decode_prev_state, value, entries) == _outcome(device.read_prev_state, value, entries)


def test_prev_state_wrong_length_message():
    with pytest.raises(PackageFormatError) as info:
        device.read_prev_state(b"\0" * 33, 9)
    assert str(info.value) == ("chain-prev-state is 33 bytes; a table of 9 partitions needs 34 "
                               "(digest + coverage bitmap)")


# -- the digests -------------------------------------------------------------------------------------


def test_digests_unchanged():
    entries, hexed = STATE_KAT
    assert fmt.state_digest(entries).hex() == device.state_digest(entries).hex() == hexed
    assert fmt.state_digest([]).hex() == device.state_digest([]).hex() == EMPTY_STATE_KAT
    parts, hexed = LAYOUT_KAT
    assert fmt.layout_digest(parts).hex() == device.layout_digest(parts).hex() == hexed


def test_state_record_layout():
    record = fmt.StateRecord.build(dict(name="app", address=0x4000, size=5, sha256=b"\x01" * 32))
    assert record == b"\x03app" + (0x4000).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"\x01" * 32
    assert fmt.StateRecord.parse(record).name == "app"
    assert STATE_DIGEST_PREFIX == b"otapack-flash-state-v1\0"


def test_layout_record_layout():
    record = fmt.LayoutRecord.build(dict(name="boot", address=0x1000, slot_size=0x2000))
    assert record == b"boot\0" + (0x1000).to_bytes(4, "little") + (0x2000).to_bytes(4, "little")
    parsed = fmt.LayoutRecord.parse(record)
    assert (parsed.name, parsed.address, parsed.slot_size) == ("boot", 0x1000, 0x2000)


@given(st.lists(st.tuples(names, u32, u32, digests), max_size=8))
def test_state_digest_builder_and_device_agree(entries):
    assert fmt.state_digest(entries) == device.state_digest(entries)


@given(st.lists(st.tuples(names, u32, u32), max_size=8, unique_by=lambda p: (p[1], p[0])))
def test_layout_digest_builder_and_device_agree(parts):
    assert fmt.layout_digest(parts) == device.layout_digest(parts)
    assert fmt.layout_digest(parts) == fmt.layout_digest(list(reversed(parts)))  # address order, not input order
