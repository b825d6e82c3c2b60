"""Construct round trips for every declared structure: parse(build(x)) == x
and build(parse(b)) == b."""

from __future__ import annotations

import pytest
from construct import ConstructError, Container, ListContainer
from hypothesis import given, settings
from hypothesis import strategies as st

from otapack.core.formats import delta, package
from otapack.core.formats.varint import CanonicalVarInt, ZigZagVarInt, encode_varint


def plain(obj):
    """Containers -> plain dicts/lists, enum strings -> str, dropping construct internals."""
    if isinstance(obj, Container):
        return {k: plain(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, (list, ListContainer)):
        return [plain(v) for v in obj]
    if isinstance(obj, str):
        return str(obj)
    return obj


def roundtrip(struct, obj):
    blob = struct.build(obj)
    parsed = struct.parse(blob)
    assert plain(parsed) == plain(obj)
    assert struct.build(parsed) == blob
    return blob


ENTRY_VARIANTS = [
    dict(name="boot", address=0x1000, operation="keep", codec=0, reason="unchanged", source=None,
         target=dict(size=4096, sha256=b"\x11" * 32), payload=None),
    dict(name="image", address=0x08020000, operation="replace", codec=1, reason="full_package", source=None,
         target=dict(size=320016, sha256=b"\x22" * 32), payload=dict(offset=200, length=1000, uncompressed_length=320016)),
    dict(name="app", address=0x60000, operation="delta", codec=1, reason="delta_smaller",
         source=dict(size=100, sha256=b"\x33" * 32), target=dict(size=120, sha256=b"\x44" * 32),
         payload=dict(offset=300, length=50, uncompressed_length=140)),
    dict(name="nv", address=0x7F0000, operation="skip", codec=0, reason="policy_skip", source=None, target=None, payload=None),
]


@pytest.mark.parametrize("entry", ENTRY_VARIANTS, ids=lambda e: e["operation"])
def test_partition_entry_roundtrip(entry):
    roundtrip(package.PartitionEntry, entry)


def header_obj(**over):
    obj = dict(kind="delta", flags=0, header_length=300, body_length=5000, security_counter=7, build_time=1700000000,
               ram_required=1 << 20, scratch_flash=8192, lzma_dict_size=1 << 20, erase_block=4096, model="EC600NCNLC",
               source_version="V0002", target_version="V0003", tool_version="0.1.0",
               extensions=[dict(tag="chain_prev_state", value=b"\x55" * 32)], partitions=ENTRY_VARIANTS)
    obj.update(over)
    return obj


def test_header_roundtrip():
    roundtrip(package.HeaderV1, header_obj())
    roundtrip(package.HeaderV1, header_obj(extensions=[], partitions=[], kind="minimal_stage2"))


def test_preamble_trailer_signature_roundtrip():
    assert roundtrip(package.Preamble, dict(magic=package.MAGIC, format_version=1)) == b"OTAP\x01\x00"
    blob = roundtrip(package.Trailer, dict(signature_length=72, total_length=9999, body_sha256=b"\x01" * 32,
                                            crc32=0xDEADBEEF, magic=package.TRAILER_MAGIC))
    assert len(blob) == package.TRAILER_SIZE == 46
    roundtrip(package.SignatureRecord, dict(algorithm="ed25519", key_id=b"\x09" * 8, signature=b"\x07" * 64))
    roundtrip(package.Extension, dict(tag="budget", value=b"abc"))


def test_bad_magic_and_unknown_enum_rejected():
    with pytest.raises(ConstructError):
        package.Preamble.parse(b"XXXX\x01\x00")
    bad_kind = bytearray(package.HeaderV1.build(header_obj()))
    bad_kind[0] = 99
    with pytest.raises(ConstructError):
        package.HeaderV1.parse(bytes(bad_kind))


def test_versions_table_is_the_dispatch():
    assert package.VERSIONS == {1: package.HeaderV1}


def test_delta_structures_roundtrip():
    roundtrip(delta.DeltaHeader, dict(window_size=65536, max_window_tuples=1024, diff_coding=0))
    roundtrip(delta.DeltaHeader, dict(window_size=1, max_window_tuples=2, diff_coding=1))
    roundtrip(delta.ControlTuple, dict(add=5, copy=0, seek=-3))
    head = dict(count=2, tuples=[dict(add=3, copy=1, seek=-5), dict(add=4, copy=2, seek=7)])
    roundtrip(delta.Window, dict(head=head, extra=b"abc", diff=b"xyz\0\0\0w"))
    blob = roundtrip(delta.WINDOWS["zero-run"], dict(head=head, extra=b"abc", diff=b"xy\0\0\0\0w"))
    assert blob.endswith(b"\x00\x02xy\x04\x01w")


@pytest.mark.parametrize("diff", [b"", b"\0", b"\0" * 9, b"a", b"\0a\0", b"ab\0\0cd", bytes(range(256))])
def test_zero_run_coding_roundtrip(diff):
    coded = delta.ZeroRunBytes(len(diff))
    assert coded.parse(coded.build(diff)) == diff


@pytest.mark.parametrize("blob, message", [
    (b"\x00\x00", "no literals before the end"),        # (0, 0) with bytes left
    (b"\x01\x01a\x00\x01b", "no zeros after a literal run"),
    (b"\x00\x02a\x00", "zero byte inside a literal run"),
    (b"\x03\x01a", "overruns"),
])
def test_zero_run_coding_is_canonical(blob, message):
    with pytest.raises(ConstructError, match=message):
        delta.ZeroRunBytes(3).parse(blob)


def test_delta_header_needs_two_tuples_per_window():
    with pytest.raises(ConstructError):
        delta.DeltaHeader.parse(b"\x10\x01\x00")


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_varint_roundtrip(value):
    blob = CanonicalVarInt().build(value)
    assert blob == encode_varint(value)
    assert CanonicalVarInt().parse(blob) == value


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(1 << 62), max_value=1 << 62))
def test_zigzag_roundtrip(value):
    blob = ZigZagVarInt().build(value)
    assert ZigZagVarInt().parse(blob) == value


@pytest.mark.parametrize("blob, message", [
    (b"\x80\x00", "non-canonical"),
    (b"\x81\x80\x00", "non-canonical"),
    (b"\xff" * 11, "longer than"),
])
def test_varint_rejects_overlong(blob, message):
    with pytest.raises(ConstructError, match=message):
        CanonicalVarInt().parse(blob)


def test_varint_limit():
    with pytest.raises(ConstructError, match="above limit 300"):
        CanonicalVarInt(300).parse(encode_varint(301))
    with pytest.raises(ConstructError):
        CanonicalVarInt(300).build(301)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(-(1 << 32) + 1, (1 << 32) - 1)),
                min_size=1, max_size=20),
       st.sampled_from(sorted(delta.DIFF_CODINGS)), st.randoms(use_true_random=False))
def test_fast_window_builder_matches_the_declaration(tuples, coding, rnd):
    n_add = sum(t[0] for t in tuples)
    n_copy = sum(t[1] for t in tuples)
    diff = bytes(rnd.choice((0, 0, 0, rnd.randrange(256))) for _ in range(n_add))
    extra = bytes(rnd.randrange(256) for _ in range(n_copy))
    declared = delta.WINDOWS[coding].build(dict(
        head=dict(count=len(tuples), tuples=[dict(add=a, copy=c, seek=s) for a, c, s in tuples]),
        extra=extra, diff=diff))
    assert delta.build_window(tuples, extra, diff, coding) == declared
