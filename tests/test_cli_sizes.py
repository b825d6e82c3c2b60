"""Byte-size options (``SizeType``): decimal, hex, octal, binary, with units.

Hex digits include ``b``, so ``0x1000b`` is the number 0x1000b, not 0x1000
with a unit "b" (there is no such unit).
"""

from __future__ import annotations

import click
import pytest

from otapack.cli.options import SIZE


@pytest.mark.parametrize("text, value", [
    ("65536", 65536), ("0x10000", 0x10000), ("0X10000", 0x10000), ("64K", 64 << 10), ("64k", 64 << 10),
    ("64KiB", 64 << 10), ("1M", 1 << 20), ("1MiB", 1 << 20), ("2G", 2 << 30), ("2gib", 2 << 30),
    ("0x1000b", 0x1000B), ("0xab", 0xAB), ("0xB", 0xB), ("0xfb", 0xFB), ("0xbK", 0xB << 10),
    ("0x1bKiB", 0x1B << 10), ("0x10M", 0x10 << 20), ("0b101", 5), ("0b1K", 1 << 10), ("0o17", 15),
    ("64 K", 64 << 10), (" 4096 ", 4096), ("64_000", 64000), ("0", 0), (4096, 4096),
])
def test_sizes_parse(text, value):
    assert SIZE.convert(text, None, None) == value


@pytest.mark.parametrize("text, message", [
    ("64B", "unknown unit 'b'"), ("0x10b0z", "unknown unit 'z'"), ("12kb", "unknown unit 'kb'"),
    ("1.5M", "is not a size"), ("-1", "is not a size"), ("K", "is not a size"), ("0x", "unknown unit 'x'"),
    ("", "is not a size"), ("0b102", "is not a size"), ("08", "is not a size"),
])
def test_bad_sizes_fail(text, message):
    with pytest.raises(click.BadParameter, match=message):
        SIZE.convert(text, None, None)
