"""The wire numbers have one source (otapack/core/formats/wire_numbers.py).

- the two readers (construct declarations, the device's stdlib reader) and
  the registries agree on every id table and limit, by value and by behaviour;
- the construct declarations put every fixed field where the tables say;
- no other module under otapack/ defines a wire number again or writes the
  magics, fixed offsets or limits as literals;
- the committed C header (device/include/ota_wire.h) is what the generator
  emits, and compiles to the same numbers.

Regenerate the C header after an intended change:
    pytest tests/test_wire_numbers.py --update-golden
"""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
from construct import ConstructError

from hostile_builders import OLD_FILL, compare_readers, field_map, full_package, with_field
from otapack.core import codecs
from otapack.core.formats import delta as fdelta
from otapack.core.formats import gen_c_header
from otapack.core.formats import package as fmt
from otapack.core.formats import wire_numbers as wn
from otapack.core.restore import delta as rdelta
from otapack.core.restore import wire
from otapack.features import signing

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "otapack"
HEADER = ROOT / gen_c_header.HEADER_PATH


def _enum_table(struct_enum) -> dict[str, int]:
    return {name.replace("_", "-"): value for name, value in struct_enum.encmapping.items()}


def _subcon(struct, name):
    return next(s for s in struct.subcons if s.name == name)


# ------------------------------------------------------------------ tables


def test_id_tables_agree_everywhere():
    header = {s.name: s for s in fmt.HeaderV1.subcons}
    assert _enum_table(header["kind"].subcon) == wn.KINDS
    assert {v: k for k, v in wn.KINDS.items()} == wire.KIND_NAMES
    assert _enum_table(fmt.Operation) == wn.OPERATIONS == {v: k for k, v in wire.OPERATION_NAMES.items()}
    assert _enum_table(fmt.Reason) == wn.REASONS == {v: k for k, v in wire.REASON_NAMES.items()}
    assert _enum_table(_subcon(fmt.Extension, "tag").subcon) == wn.EXTENSION_TAGS
    assert {v: k for k, v in wire.EXTENSION_NAMES.items()} == wn.EXTENSION_TAGS
    assert {c.name: c.wire_id for c in codecs.CODECS.values()} == wn.CODEC_IDS
    assert {v: k for k, v in wire.CODEC_NAMES.items()} == wn.CODEC_IDS
    assert _enum_table(_subcon(fmt.SignatureRecord, "algorithm").subcon) == wn.SIGNATURE_ALGORITHMS
    assert {a.name: a.wire_id for a in signing.ALGORITHMS.values()} == wn.SIGNATURE_ALGORITHMS
    assert fdelta.DIFF_CODINGS is wn.DIFF_CODINGS and set(fdelta.WINDOWS) == set(wn.DIFF_CODINGS)
    assert tuple(fmt.VERSIONS) == wire.SUPPORTED_VERSIONS == wn.SUPPORTED_VERSIONS
    # Every table is a bijection onto small ids (one byte on the wire).
    for table in (wn.KINDS, wn.OPERATIONS, wn.REASONS, wn.EXTENSION_TAGS, wn.CODEC_IDS, wn.SIGNATURE_ALGORITHMS,
                  wn.DIFF_CODINGS):
        assert len(set(table.values())) == len(table) and all(0 <= v < 256 for v in table.values())


def test_limits_agree_everywhere():
    assert (wire.MAX_HEADER_LENGTH, wire.MAX_SIGNATURE_LENGTH, wire.TRAILER_SIZE, wire.FIXED_HEADER_SIZE) == (
        wn.MAX_HEADER_LENGTH, wn.MAX_SIGNATURE_LENGTH, wn.TRAILER_SIZE, wn.FIXED_HEADER_SIZE)
    assert (fmt.MAX_SIGNATURE_LENGTH, fmt.TRAILER_SIZE, fmt.TRAILER_CRC_TAIL) == (
        wn.MAX_SIGNATURE_LENGTH, wn.TRAILER_SIZE, wn.TRAILER_CRC_TAIL)
    assert (rdelta.MAX_WINDOW_SIZE, rdelta.MAX_WINDOW_TUPLES, rdelta.MAX_SEEK) == (
        fdelta.MAX_WINDOW_SIZE, fdelta.MAX_WINDOW_TUPLES, fdelta.MAX_SEEK)
    header = {s.name: s for s in fdelta.DeltaHeader.subcons}
    assert header["window_size"].max_value == wn.MAX_WINDOW_SIZE
    assert header["max_window_tuples"].max_value == wn.MAX_WINDOW_TUPLES
    assert _subcon(fdelta.ControlTuple, "seek").max_magnitude == wn.MAX_SEEK
    assert codecs.MIN_LZMA_DICT == wn.MIN_LZMA_DICT and codecs.MAX_LZMA_DICT == wn.MAX_LZMA_DICT
    # The declared widths are the limits: 8-bit counts and string lengths, 16-bit extension lengths.
    assert wn.MAX_PARTITIONS == wn.MAX_EXTENSIONS == wn.MAX_STRING_LENGTH == 255
    assert wn.MAX_EXTENSION_LENGTH == 0xFFFF
    assert wn.max_stream_length(0) == 48 and wn.max_stream_length(100) == 32 + 16 * 101


def test_construct_puts_fixed_fields_where_the_tables_say():
    values = {name: (index + 1) * 0x01010101 & ((1 << 8 * size) - 1)
              for index, (name, size) in enumerate(wn.HEADER_FIELDS)}
    values.update(kind="delta", flags=0, model="", source_version="", target_version="", tool_version="",
                  extensions=[], partitions=[])
    raw = fmt.Preamble.build(dict(format_version=wn.FORMAT_VERSION)) + fmt.HeaderV1.build(values)
    assert fmt.Preamble.sizeof() + fmt.FixedHeaderV1.sizeof() == wn.FIXED_HEADER_SIZE
    assert raw[wn.FIXED["magic"].offset : wn.FIXED["magic"].end] == wn.MAGIC
    assert wire.fixed_field(raw, "format_version") == wn.FORMAT_VERSION
    assert wire.fixed_field(raw, "kind") == wn.KINDS["delta"]
    for name, _ in wn.HEADER_FIELDS[2:]:
        assert wire.fixed_field(raw, name) == values[name], name
    trailer = dict(signature_length=0x0102, total_length=0x03040506, body_sha256=bytes(range(32)), crc32=0x0708090A)
    built = fmt.Trailer.build(trailer)
    assert len(built) == wn.TRAILER_SIZE
    parsed = wire.parse_trailer(built)
    assert (parsed.signature_length, parsed.total_length, parsed.body_sha256, parsed.crc32) == tuple(trailer.values())
    assert built[wn.TRAILER["magic"].offset :] == wn.TRAILER_MAGIC
    assert wn.TRAILER_CRC_TAIL == wn.TRAILER["crc32"].size + wn.TRAILER["magic"].size


def test_declared_widths_refuse_one_past_each_limit():
    with pytest.raises(ConstructError):
        fmt.ShortString.build("x" * (wn.MAX_STRING_LENGTH + 1))
    assert len(fmt.ShortString.build("x" * wn.MAX_STRING_LENGTH)) == wn.STRING_LENGTH_SIZE + wn.MAX_STRING_LENGTH
    with pytest.raises(ConstructError):
        fmt.Extension.build(dict(tag="budget", value=bytes(wn.MAX_EXTENSION_LENGTH + 1)))
    with pytest.raises(ConstructError):
        fdelta.DeltaHeader.build(dict(window_size=wn.MAX_WINDOW_SIZE + 1, max_window_tuples=2))
    with pytest.raises(ConstructError):
        fdelta.DeltaHeader.build(dict(window_size=1, max_window_tuples=wn.MIN_WINDOW_TUPLES - 1))


@pytest.fixture(scope="module")
def one_entry() -> bytes:
    return full_package(OLD_FILL[:300], extensions=(("hardware-id", b"EC600N"),))


@pytest.mark.parametrize("field", ["kind", "0.operation", "0.codec", "0.reason", "ext0.tag"])
def test_readers_agree_on_every_id_byte(one_entry, field):
    """All 256 values of each one-byte id field: both readers accept exactly the same ones."""
    accepted = set()
    for value in range(256):
        if compare_readers(with_field(one_entry, field, value)):
            accepted.add(value)
    table = {"kind": wn.KINDS, "0.operation": wn.OPERATIONS, "0.codec": wn.CODEC_IDS, "0.reason": wn.REASONS,
             "ext0.tag": wn.EXTENSION_TAGS}[field]
    # An operation other than the one built changes the entry's length, so only its own id parses.
    expected = {wn.OPERATIONS["replace"]} if field == "0.operation" else set(table.values())
    assert accepted == expected


def test_readers_agree_on_header_length_limit(one_entry):
    for value in (wn.FIXED_HEADER_SIZE - 1, wn.MAX_HEADER_LENGTH, wn.MAX_HEADER_LENGTH + 1, wn.MAX_U32):
        assert not compare_readers(with_field(one_entry, "header_length", value))
    assert field_map(one_entry)["header_length"] == (wn.FIXED["header_length"].offset, wn.FIXED["header_length"].size)


def test_numbers_and_restore_need_only_the_standard_library():
    """The device restore and the C header generator import the numbers without construct."""
    import sys

    code = ("import sys, otapack.core.formats.wire_numbers, otapack.core.restore.engine, "
            "otapack.core.formats.gen_c_header; otapack.core.formats.gen_c_header.render(); "
            "print(sorted(m for m in ('construct', 'click', 'cryptography') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


# -------------------------------------------------------- one definition

#: Modules that read *other* formats (ELF, HEX, MBR/GPT/FAT, PAC, littlefs,
#: cloud job documents): their offsets may coincide with ours by chance.
FOREIGN_FORMATS = ("core/inputs/", "core/formats/esp_idf.py", "core/formats/gpt.py", "core/formats/mbr.py",
                   "core/formats/pac.py", "features/cloud/")
#: Names a foreign-format module uses for its own format's numbers.
FOREIGN_NAMES = {("core/formats/pac.py", "MAGIC"), ("features/cloud/job.py", "OPERATIONS")}

WIRE_NAMES = {name for name in vars(wn) if name.isupper() and not name.startswith("_")}
MAGICS = {wn.MAGIC, wn.TRAILER_MAGIC}
#: Spans of the fixed header (from offset 0) and of the trailer (from its start and from the file end);
#: prefixes (``[:2]``, ``[:4]``) are too common to tell apart and are left out.
SPANS = ({(f.offset, f.end) for f in wn.FIXED.values() if f.offset}
         | {(f.offset - wn.TRAILER_SIZE, f.end - wn.TRAILER_SIZE or None) for f in wn.TRAILER.values()}
         | {(f.offset, f.end) for f in wn.TRAILER.values() if f.offset})
NUMBERS = {wn.TRAILER_SIZE, wn.FIXED_HEADER_SIZE, wn.MAX_HEADER_LENGTH}


def _modules():
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR).as_posix()
        if rel != "core/formats/wire_numbers.py":
            yield rel, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _const(node):
    return node.value if isinstance(node, ast.Constant) else None


def _int(node):
    """The value of an integer literal (``-4`` included), else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _int(node.operand)
        return None if value is None else -value
    value = _const(node)
    return value if type(value) is int else None


def _literal_uses(rel: str, tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        where = f"otapack/{rel}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes) and node.value in MAGICS:
            found.append(f"{where}: magic literal {node.value!r}")
        if rel.startswith(FOREIGN_FORMATS):
            continue
        if isinstance(node, ast.Slice) and (node.lower is not None or node.upper is not None):
            bounds = [_int(part) for part in (node.lower, node.upper)]
            literal = all(part is None or bound is not None for part, bound in zip((node.lower, node.upper), bounds))
            span = (bounds[0] or 0, bounds[1])
            if literal and span in SPANS:
                found.append(f"{where}: literal slice [{span[0]}:{span[1]}] is a package field's span")
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value in NUMBERS:
            found.append(f"{where}: literal {node.value} is a package size or limit")
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)
                and {_const(node.left), _const(node.right)} == {64, 1024}):
            found.append(f"{where}: literal 64 * 1024 (the header limit)")
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and _const(node.left) == wn.STREAM_BOUND_BASE
                and isinstance(node.right, ast.BinOp) and _const(node.right.left) == wn.STREAM_BOUND_PER_BYTE):
            found.append(f"{where}: the patch-stream bound written out")
    return found


def test_no_module_defines_a_wire_number_again():
    redefined = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name) and name.id in WIRE_NAMES and (rel, name.id) not in FOREIGN_NAMES:
                        redefined.append(f"otapack/{rel}:{node.lineno}: assigns {name.id}")
    assert redefined == []


def test_no_magic_offset_or_limit_literals_outside_the_numbers():
    found = [hit for rel, tree in _modules() for hit in _literal_uses(rel, tree)]
    assert found == []


@pytest.mark.parametrize("snippet, banned", [
    ('x = data[40:44]', True), ('x = tail[-4:]', True), ('x = tail[38:42]', True), ('x = p[6:7]', True),
    ('x = b"OTAP"', True), ('x = 64 * 1024', True), ('x = 46', True), ('x = 32 + 16 * (n + 1)', True),
    ('x = data[1:3]', False), ('x = 4096', False), ('x = data[:16]', False),
])
def test_the_scan_finds_what_it_looks_for(snippet, banned):
    """The scan above must be able to fail: each literal it bans is found in a sample."""
    assert bool(_literal_uses("core/sample.py", ast.parse(snippet))) == banned


# --------------------------------------------------------------- C header


def test_committed_c_header_is_generated(update_golden):
    if update_golden:
        gen_c_header.write(HEADER)
    assert HEADER.exists(), f"{HEADER} missing: run python -m otapack.core.formats.gen_c_header {gen_c_header.HEADER_PATH}"
    assert HEADER.read_text(encoding="ascii") == gen_c_header.render(), (
        "device/include/ota_wire.h is stale: pytest tests/test_wire_numbers.py --update-golden")


def test_generator_cli_check_and_write(tmp_path, capsys):
    out = tmp_path / "include" / "ota_wire.h"
    assert gen_c_header.main(["--check", str(out)]) == 1
    assert gen_c_header.main([str(out)]) == 0
    assert gen_c_header.main(["--check", str(out)]) == 0
    assert "OTA_MAX_PARTITIONS 255u" in out.read_text()
    out.write_text(out.read_text().replace("OTA_MAX_PARTITIONS 255u", "OTA_MAX_PARTITIONS 254u"))
    assert gen_c_header.main(["--check", str(out)]) == 1
    assert "not the generated header" in capsys.readouterr().err


def _expected_c_values() -> dict[str, int | str]:
    from otapack.core.restore.engine import CHECKS

    values: dict[str, int | str] = {
        "OTA_MAGIC": wn.MAGIC.decode(), "OTA_TRAILER_MAGIC": wn.TRAILER_MAGIC.decode(),
        "OTA_FORMAT_VERSION": wn.FORMAT_VERSION, "OTA_FIXED_HEADER_SIZE": wn.FIXED_HEADER_SIZE,
        "OTA_PREAMBLE_SIZE": wn.PREAMBLE_SIZE, "OTA_TRAILER_SIZE": wn.TRAILER_SIZE,
        "OTA_TRAILER_CRC_TAIL": wn.TRAILER_CRC_TAIL, "OTA_MAX_HEADER_LENGTH": wn.MAX_HEADER_LENGTH,
        "OTA_MAX_SIGNATURE_LENGTH": wn.MAX_SIGNATURE_LENGTH, "OTA_MAX_PARTITIONS": wn.MAX_PARTITIONS,
        "OTA_MAX_EXTENSIONS": wn.MAX_EXTENSIONS, "OTA_MAX_STRING_LENGTH": wn.MAX_STRING_LENGTH,
        "OTA_MAX_EXTENSION_LENGTH": wn.MAX_EXTENSION_LENGTH, "OTA_MIN_WINDOW_SIZE": wn.MIN_WINDOW_SIZE,
        "OTA_MAX_WINDOW_SIZE": wn.MAX_WINDOW_SIZE, "OTA_MIN_WINDOW_TUPLES": wn.MIN_WINDOW_TUPLES,
        "OTA_MAX_WINDOW_TUPLES": wn.MAX_WINDOW_TUPLES, "OTA_MAX_SEEK": wn.MAX_SEEK,
        "OTA_VARINT_MAX_BYTES": wn.VARINT_MAX_BYTES, "OTA_VARINT_MAX_VALUE": wn.VARINT_MAX_VALUE,
        "OTA_MAX_STREAM_LENGTH(0)": wn.max_stream_length(0),
        "OTA_MAX_STREAM_LENGTH(OTA_MAX_U32)": wn.max_stream_length(wn.MAX_U32),
        "OTA_CHECK_COUNT": len(CHECKS), "OTA_REASON_COUNT": len(wn.REASONS),
        "OTA_MIN_ERASE_BLOCK": wn.MIN_ERASE_BLOCK, "OTA_MAX_ERASE_BLOCK": wn.MAX_ERASE_BLOCK,
        "OTA_PACKAGE_CHUNK": wn.PACKAGE_CHUNK, "OTA_DECODE_CHUNK": wn.DECODE_CHUNK, "OTA_TUPLE_BYTES": wn.TUPLE_BYTES,
        "OTA_TUPLE_ALLOWANCE": wn.TUPLE_ALLOWANCE, "OTA_MIN_TUPLE_OUTPUT": wn.MIN_TUPLE_OUTPUT,
        "OTA_LZMA2_MAX_PROPS": wn.LZMA2_MAX_PROPS, "OTA_LZMA2_MAX_LCLP": wn.LZMA2_MAX_LCLP,
        "OTA_LZMA2_LZMA_PROPS": wn.LZMA2_LZMA_PROPS, "OTA_LZMA2_LZMA_HEADER": wn.LZMA2_LZMA_HEADER,
        "OTA_IMAGE_REF_BYTES": sum(s for _, s in wn.IMAGE_REF_FIELDS),
        "OTA_PAYLOAD_REF_BYTES": sum(s for _, s in wn.PAYLOAD_FIELDS),
    }
    for name, field in wn.FIXED.items():
        values[f"OTA_HDR_{name.upper()}_OFFSET"], values[f"OTA_HDR_{name.upper()}_SIZE"] = field
    for name, field in wn.TRAILER.items():
        values[f"OTA_TRL_{name.upper()}_OFFSET"], values[f"OTA_TRL_{name.upper()}_SIZE"] = field
    for prefix, table in (("OTA_KIND", wn.KINDS), ("OTA_OPERATION", wn.OPERATIONS), ("OTA_CODEC", wn.CODEC_IDS),
                          ("OTA_REASON", wn.REASONS), ("OTA_EXT", wn.EXTENSION_TAGS),
                          ("OTA_SIG", wn.SIGNATURE_ALGORITHMS), ("OTA_DIFF_CODING", wn.DIFF_CODINGS)):
        for name, value in table.items():
            values[f"{prefix}_{name.replace('-', '_').upper()}"] = value
    from otapack.core.restore.resources import lzma_model_bytes

    for lclp in range(wn.LZMA2_MAX_LCLP + 1):
        values[f"OTA_LZMA_MODEL_BYTES({lclp})"] = lzma_model_bytes(lclp)
    for size in (0, 1, 2, 3, 4096, 6144, 6145, 12288, 3 << 20, 64 << 20, (64 << 20) + 1, 0xC0000000, 0xFFFFFFFF):
        values[f"OTA_LZMA_DICT_ON_GRID({size}u)"] = int(wn.on_lzma2_grid(size))
    for index, spec in enumerate(CHECKS):
        values[f"OTA_CHECK_{spec.name.upper()}"] = index
        values[f"OTA_CHECK_NAME_{spec.name.upper()}"] = spec.name
        values[f"OTA_CHECK_CAN_DISABLE(OTA_CHECK_{spec.name.upper()})"] = int(spec.can_disable)
        values[f"OTA_CHECK_PER_PARTITION(OTA_CHECK_{spec.name.upper()})"] = int(spec.per_partition)
    for name, value in wn.OPERATIONS.items():
        for group, ops in (("SOURCE", wn.HAS_SOURCE), ("TARGET", wn.HAS_TARGET), ("PAYLOAD", wn.HAS_PAYLOAD)):
            values[f"OTA_OPERATION_HAS_{group}({value})"] = int(name in ops)
    return values


def _compiler() -> list[str]:
    configured = shlex.split(sysconfig.get_config_var("CC") or "")
    for candidate in ([configured[0]] if configured else []) + ["cc", "gcc", "clang"]:
        if shutil.which(candidate):
            return [candidate]
    pytest.fail("no C compiler found: one is needed to build otapack's diff core and to check ota_wire.h")


def test_c_header_compiles_to_the_same_numbers(tmp_path):
    """C99, -Wall -Wextra -pedantic -Werror; every value printed by C equals Python's."""
    values = _expected_c_values()
    lines = ['#include "ota_wire.h"', "#include <stdio.h>", "#define NAME(suffix, name) name,",
             "static const char *const names[] = { OTA_CHECK_LIST(NAME) };", "int main(void) {"]
    for expr, value in values.items():
        if isinstance(value, str):
            lines.append(f'    printf("%s=%s\\n", "{expr}", {expr});')
        else:
            lines.append(f'    printf("%s=%llu\\n", "{expr}", (unsigned long long)({expr}));')
    lines += ['    { unsigned i; for (i = 0; i < OTA_CHECK_COUNT; i++) printf("list%u=%s\\n", i, names[i]); }',
              "    return 0;", "}"]
    source = tmp_path / "probe.c"
    source.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "probe"
    subprocess.run(_compiler() + ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", f"-I{HEADER.parent}",
                                  str(source), "-o", str(exe)], check=True, capture_output=True)
    printed = dict(line.split("=", 1) for line in subprocess.run([str(exe)], check=True, capture_output=True,
                                                                  text=True).stdout.splitlines())
    from otapack.core.restore.engine import CHECK_ORDER

    assert [printed.pop(f"list{i}") for i in range(len(CHECK_ORDER))] == list(CHECK_ORDER)
    assert printed == {k: str(v) for k, v in values.items()}


# ----------------------------------------------------------------- docs


def _doc_rows(path: Path, heading: str) -> list[list[str]]:
    text = path.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not re.match(r"^\|[-:| ]+\|$", line):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the column titles


def test_package_doc_offsets_are_the_tables():
    doc = ROOT / "docs" / "formats" / "package-v1.md"
    fixed = {row[2].strip("`"): (int(row[0]), int(row[1])) for row in _doc_rows(doc, "## Preamble and header")
             if row[0].isdigit() and row[1].isdigit()}
    assert {k: v for k, v in fixed.items() if k in wn.FIXED} == {k: tuple(f) for k, f in wn.FIXED.items()}
    trailer = {row[2].strip("`"): (int(row[0]), int(row[1])) for row in _doc_rows(doc, f"## Trailer ({wn.TRAILER_SIZE} bytes")}
    assert trailer == {k: tuple(f) for k, f in wn.TRAILER.items()}
