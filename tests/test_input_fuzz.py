"""Every input reader on hostile bytes: only ``OtapackError`` subclasses escape.

Mutated real fixtures (byte flips, 32-bit fields set to edge values,
truncation, insertion) for each kind, random text for HEX/S-record and
layouts; plus the typed one-line errors HEX and S-record used to end in
exit 70 with.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otapack.core.inputs import load_layout, read_firmware_bytes
from otapack.errors import ImageFormatError, InputError, OtapackError
from test_partitions_fixtures import (
    GPT_LAYOUT, GPT_SIZE, composite_elf, composite_pac, composite_segments, esp_composite, gpt_composite,
    gpt_disk, mbr_disk, pieces, to_hex,
)
from conftest import error_line, run

VENDOR_PAC = Path(__file__).parent / "fixtures" / "pac" / "csdk-old.pac"
FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
EDGES = [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x00\x00\x80", b"\xff\xff\xff\x7f", b"\x01\x00\x00\x00"]


@lru_cache(maxsize=None)
def seed(name: str) -> bytes:
    return {
        "elf": composite_elf,
        "pac": composite_pac,
        "vendor-pac": VENDOR_PAC.read_bytes,
        "ihex": lambda: to_hex(composite_segments()[:2]),
        "srec": lambda: to_hex(composite_segments()[:2], "srec"),
        "esp-idf": esp_composite,
        "gpt": gpt_composite,
        "mbr": lambda: mbr_disk([(0x0C, 0x200, 0x2000, pieces()["nv"])], 0x4000),
    }[name]()


KIND = {"elf": "elf", "pac": "pac", "vendor-pac": "pac", "ihex": "ihex", "srec": "srec"}
#: Where each container keeps its structure: mutations aim there half the time.
HEAD = {"elf": 0x200, "pac": 0x8000, "vendor-pac": 0x8000, "esp-idf": 0x8000 + 0x200, "gpt": 0x4000, "mbr": 0x200}


@st.composite
def mutated(draw, name: str) -> bytes:
    data = bytearray(seed(name))
    head = min(HEAD.get(name, len(data)), len(data))
    for _ in range(draw(st.integers(1, 6))):
        limit = head if draw(st.booleans()) else len(data)
        pos = draw(st.integers(0, max(0, limit - 4)))
        op = draw(st.sampled_from(["flip", "edge", "insert", "cut"]))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "edge":
            data[pos:pos + 4] = draw(st.sampled_from(EDGES))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif pos > 0:
            data = data[:pos]
            head = min(head, len(data))
    return bytes(data)


def _only_typed_errors(data: bytes, kind: str | None) -> None:
    for forced in {kind, None}:
        try:
            read_firmware_bytes(data, kind=forced, label="fuzz")
        except OtapackError:
            pass


@pytest.mark.parametrize("name", list(HEAD) + ["ihex", "srec"])
def test_mutated_inputs_raise_only_typed_errors(name):
    @FUZZ
    @given(mutated(name))
    def check(data):
        _only_typed_errors(data, KIND.get(name))

    check()


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    _only_typed_errors(data, None)
    for kind in ("elf", "pac", "ihex", "srec"):
        _only_typed_errors(data, kind)


XML_TOKENS = [b"<", b">", b"&", b"&amp;", b"&#0;", b"<!--", b"<![CDATA[", b"0x", b"\xff", b"</File>",
              b"<File><ID>AP</ID>", b'<?xml version="1.0" encoding="gbk"?>']


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 4000), st.sampled_from(XML_TOKENS + [b""]), st.integers(0, 40)),
                min_size=1, max_size=5))
def test_mutated_pac_configuration(edits):
    from test_pac_hostile import with_xml

    xml = bytearray((VENDOR_PAC.parent / "UIX8910_MODEM.xml").read_bytes())
    for pos, token, cut in edits:
        pos = min(pos, len(xml))
        xml[pos:pos + cut] = token
    _only_typed_errors(with_xml(bytes(xml)), "pac")


RECORD_TEXT = st.text(alphabet=":S0123456789ABCDEFabcdefGZ \t\r\n", max_size=300)


@FUZZ
@given(RECORD_TEXT)
def test_random_record_text(text):
    for kind in ("ihex", "srec"):
        _only_typed_errors(text.encode(), kind)


@FUZZ
@given(st.text(alphabet='[]=".,x0123456789abcdefnameofsizeptylc_ \n#', max_size=300))
def test_random_layout_text(text):
    try:
        load_layout(text if ("\n" in text or "=" in text) else text + "\n=")
    except InputError:
        pass


# -- the HEX / S-record errors that used to be internal errors (exit 70) --------------------


@pytest.mark.parametrize("name, text, message", [
    ("fw.hex", ":0300000061ZZ6300\n:00000001FF\n",
     "fw.hex: line 1: Intel HEX record has a non-hex character 'Z' at column 12"),
    ("fw.hex", ":03000000616263D7\n  :0000 0001FF\n",
     "fw.hex: line 2: Intel HEX record has a non-hex character ' ' at column 8"),
    ("fw.hex", ":03000000616263D7\n:\n", "fw.hex: line 2: Intel HEX record ':' has no digits"),
    ("fw.hex", ":03000000616263D7\nx:00000001FF\n", "fw.hex: line 2: Intel HEX record must start with ':', not 'x'"),
    ("fw.hex", ":0300000061626300\n:00000001FF\n",
     "fw.hex: invalid Intel HEX: line 1: expected crc 'D7' in record, but got '00'"),
    ("fw.hex", ":03000000616263D7\xe9\n", "fw.hex: Intel HEX file has a non-ASCII byte at offset 0x11"),
    ("fw.s19", "S00600004844521B\nS1130000GG\n", "fw.s19: line 2: S-record has a non-hex character 'G' at column 9"),
    ("fw.s19", "S00600004844521B\nSX130000\n", "fw.s19: line 2: S-record must start with 'S' and a digit, not 'SX'"),
])
def test_hex_errors_are_typed(name, text, message):
    with pytest.raises(ImageFormatError) as info:
        read_firmware_bytes(text.encode("latin-1"), label=name, kind="ihex" if name.endswith(".hex") else "srec")
    assert str(info.value) == message


def test_hex_error_exit_code(capsys, tmp_path):
    bad = tmp_path / "fw.hex"
    bad.write_bytes(b":0300000061ZZ6300\n:00000001FF\n")
    code, out, err = run(capsys, "partitions", bad)
    assert (code, out) == (3, "")
    assert err == "error: fw.hex: line 1: Intel HEX record has a non-hex character 'Z' at column 12\n"
    assert error_line(err) == err.strip()


def test_non_ascii_gpt_name_is_an_input_error():
    # The package writes names as ASCII: a GPT name it cannot write fails on reading, not after the build.
    parts = dict(GPT_LAYOUT)
    parts["donn\u00e9es"] = parts.pop("nv")
    contents = dict(pieces(), **{"donn\u00e9es": pieces()["nv"]})
    with pytest.raises(ImageFormatError) as info:
        read_firmware_bytes(gpt_disk(parts, contents, GPT_SIZE), label="disk.img")
    assert str(info.value) == (
        "disk.img: partition name 'donn\u00e9es' is not printable ASCII (package partition names are ASCII)"
    )
