"""Generate the C library's wire header from the one source of the numbers.

    python -m otapack.core.formats.gen_c_header device/include/ota_wire.h
    python -m otapack.core.formats.gen_c_header --check device/include/ota_wire.h
    python -m otapack.core.formats.gen_c_header            # to stdout

The device restore library (``device/``) includes the generated
``ota_wire.h`` instead of writing its own numbers, so the Python restore and
the C one read the same magics, ids, offsets and limits, and report the same
check names.  ``tests/test_wire_numbers.py`` fails when the committed header
is not what this module generates (regenerate it with the first command, or
``pytest tests/test_wire_numbers.py --update-golden``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from otapack.core.formats import wire_numbers as wn

#: Where the header lives in the repository.
HEADER_PATH = Path("device") / "include" / "ota_wire.h"


def _ident(name: str) -> str:
    return name.replace("-", "_").replace(":", "_").upper()


def _u64(value: int) -> str:
    return f"UINT64_C({value})"


def _define(name: str, value) -> str:
    """Integers as unsigned literals (``32u``), the device library's style:
    a macro it defines too (OTA_SHA256_SIZE) is then an identical, legal
    redefinition."""
    if isinstance(value, int):
        assert 0 <= value <= 0xFFFFFFFF, name
        value = f"{value}u"
    return f"#define {name} {value}"


def _enum(c_name: str, prefix: str, table: dict[str, int], comment: str, count: bool = False) -> list[str]:
    lines = [f"/* {comment} */", f"enum {c_name} {{"]
    lines += [f"    {prefix}_{_ident(name)} = {value}," for name, value in sorted(table.items(), key=lambda kv: kv[1])]
    if count:
        values = sorted(table.values())
        assert values == list(range(len(values))), f"{c_name}: a count needs ids 0..n-1"
        lines.append(f"    {prefix}_COUNT = {len(values)}")
    else:
        lines[-1] = lines[-1].rstrip(",")
    return lines + ["};", ""]


def _fields(prefix: str, layout: dict[str, wn.Field], comment: str) -> list[str]:
    lines = [f"/* {comment} */"]
    for name, field in layout.items():
        lines.append(_define(f"{prefix}_{_ident(name)}_OFFSET", field.offset))
        lines.append(_define(f"{prefix}_{_ident(name)}_SIZE", field.size))
    return lines + [""]


def _ops_macro(name: str, ops: tuple[str, ...]) -> str:
    test = " || ".join(f"(op) == OTA_OPERATION_{_ident(op)}" for op in ops)
    return _define(f"OTA_OPERATION_{name}(op)", f"({test})")


def _checks() -> list[str]:
    # Imported here: the restore imports wire_numbers, not the other way round.
    from otapack.core.restore.checks import CheckStatus
    from otapack.core.restore.engine import CHECKS

    lines = ["/* ---------------------------------------------------------------- restore checks */", "",
             "/* The restore's checks in the device's order (otapack/core/restore/engine.py: CHECKS).",
             " * Reports use exactly these names; a per-partition check is reported as",
             " * \"NAME:PARTITION\" once for every partition that carries a payload. */",
             "enum ota_check {"]
    lines += [f"    OTA_CHECK_{_ident(spec.name)} = {index}," for index, spec in enumerate(CHECKS)]
    lines += [f"    OTA_CHECK_COUNT = {len(CHECKS)}", "};", ""]
    lines += [_define(f"OTA_CHECK_NAME_{_ident(spec.name)}", f'"{spec.name}"') for spec in CHECKS]
    lines += ["", "/* X(ENUM_SUFFIX, \"name\") for every check, in order: names tables, switches. */",
              "#define OTA_CHECK_LIST(X) \\"]
    lines += [f"    X({_ident(spec.name)}, \"{spec.name}\")" + (" \\" if i < len(CHECKS) - 1 else "")
              for i, spec in enumerate(CHECKS)]
    per_partition = " || ".join(f"(check) == OTA_CHECK_{_ident(s.name)}" for s in CHECKS if s.per_partition)
    can_disable = " || ".join(f"(check) == OTA_CHECK_{_ident(s.name)}" for s in CHECKS if s.can_disable) or "0"
    lines += ["", "/* Checks run once per payload partition; checks a caller may switch off. */",
              _define("OTA_CHECK_PER_PARTITION(check)", f"({per_partition})"),
              _define("OTA_CHECK_CAN_DISABLE(check)", f"({can_disable})"), ""]
    lines += _enum("ota_check_status", "OTA_CHECK_STATUS", {s.value: i for i, s in enumerate(CheckStatus)},
                   "Outcome of a check; the names below are what reports print.")
    lines += [_define(f"OTA_CHECK_STATUS_NAME_{_ident(s.value)}", f'"{s.value}"') for s in CheckStatus]
    return lines + [""]


def _journal() -> list[str]:
    lines = ["/* ---------------------------------------------------------------- restore journal v1 */", "",
             "/* Progress records of a resumable restore (docs/formats/journal-v1.md): fixed-size,",
             " * sequence-numbered, CRC32 over every byte before the crc32 field. */",
             _define("OTA_JOURNAL_MAGIC", f'"{wn.JOURNAL_MAGIC.decode("ascii")}"'),
             _define("OTA_JOURNAL_MAGIC_SIZE", len(wn.JOURNAL_MAGIC)),
             _define("OTA_JOURNAL_AREAS", wn.JOURNAL_AREAS),
             _define("OTA_JOURNAL_RECORD_SIZE", wn.JOURNAL_RECORD_SIZE),
             _define("OTA_JOURNAL_CRC_SPAN", wn.JOURNAL_CRC_SPAN), ""]
    lines += _enum("ota_journal_phase", "OTA_JOURNAL_PHASE", wn.JOURNAL_PHASES, "Restore phases a record names.")
    lines += _fields("OTA_JREC", wn.JOURNAL_RECORD, "Journal record: offset from its start, size.")
    lines += [_define("OTA_JOURNAL_COPY_MAGIC", f'"{wn.JOURNAL_COPY_MAGIC.decode("ascii")}"'),
              _define("OTA_JOURNAL_COPY_RESERVE", wn.JOURNAL_COPY_RESERVE),
              _define("OTA_JOURNAL_COPY_SIZE", wn.JOURNAL_COPY_SIZE), ""]
    lines += _fields("OTA_JCOPY", wn.JOURNAL_COPY, "Package copy descriptor (phase copied): offset, size.")
    return lines


def _in_place() -> list[str]:
    lines = ["/* ---------------------------------------------------------------- delta in place */", "",
             "/* The in-place header of a delta-in-place stream (docs/formats/delta-in-place.md). */"]
    lines += _enum("ota_in_place_direction", "OTA_IN_PLACE", wn.IN_PLACE_DIRECTIONS, "Segment directions.")
    lines += [_define("OTA_MAX_IN_PLACE_SEGMENTS", wn.MAX_IN_PLACE_SEGMENTS),
              _define("OTA_MAX_IN_PLACE_SAVES", wn.MAX_IN_PLACE_SAVES),
              _define("OTA_IN_PLACE_SEGMENT_RAM", wn.IN_PLACE_SEGMENT_RAM),
              _define("OTA_IN_PLACE_SAVE_RAM", wn.IN_PLACE_SAVE_RAM),
              _define("OTA_IN_PLACE_HEADER_BOUND", wn.IN_PLACE_HEADER_BOUND), "",
              "/* Delta stream version of each patch operation. */"]
    lines += [_define(f"OTA_DELTA_VERSION_{_ident(op)}", v) for op, v in wn.DELTA_VERSIONS.items()]
    return lines + [""]


def _transforms() -> list[str]:
    lines = ["/* ---------------------------------------------------------------- delta v2 transforms */", "",
             "/* The transform section of a delta-v2 stream (docs/formats/delta-v2-transforms.md). */"]
    lines += _enum("ota_transform_arch", "OTA_TRANSFORM_ARCH", wn.TRANSFORM_ARCH_IDS, "Transform sets (arch ids).")
    lines += ["/* Address width of each set. */"]
    lines += [_define(f"OTA_TRANSFORM_BITS_{_ident(name)}", bits) for name, bits in wn.TRANSFORM_ARCH_BITS.items()]
    lines += ["", "/* Kind bits of a region mask, per set, in match order. */"]
    for arch, kinds in wn.TRANSFORM_KINDS.items():
        lines += [_define(f"OTA_TK_{_ident(arch)}_{_ident(kind.replace('/', '_').replace('.', '_'))}", i)
                  for i, kind in enumerate(kinds)]
        lines.append(_define(f"OTA_TK_{_ident(arch)}_COUNT", len(kinds)))
    lines += ["",
              _define("OTA_MAX_MAP_ENTRIES", wn.MAX_MAP_ENTRIES),
              _define("OTA_MAX_REGIONS", wn.MAX_REGIONS),
              _define("OTA_MAX_MAP_DELTA", wn.MAX_MAP_DELTA),
              _define("OTA_MAP_ENTRY_BYTES", wn.MAP_ENTRY_BYTES),
              _define("OTA_REGION_ENTRY_BYTES", wn.REGION_ENTRY_BYTES),
              _define("OTA_MAX_UNIT", wn.MAX_UNIT),
              "/* RAM of one payload's transform tables (wire_numbers.transform_ram). */",
              _define("OTA_TRANSFORM_RAM(map_entries, regions)",
                      "((uint32_t)(map_entries) * OTA_MAP_ENTRY_BYTES + (uint32_t)(regions) * OTA_REGION_ENTRY_BYTES "
                      "+ 2u * OTA_MAX_UNIT)"), ""]
    return lines


def render() -> str:
    """The complete text of ``ota_wire.h``."""
    out = [
        "/* ota_wire.h: wire numbers of otapack package format v1 and delta-v1, and",
        " * the names of the restore's checks.",
        " *",
        " * GENERATED by `python -m otapack.core.formats.gen_c_header` from",
        " * otapack/core/formats/wire_numbers.py and otapack/core/restore/engine.py.",
        " * Do not edit: change the Python source and regenerate. The formats are",
        " * specified in docs/formats/package-v1.md, docs/formats/delta-v1.md and",
        " * docs/formats/journal-v1.md.",
        " * All multi-byte fields are little-endian. */",
        "#ifndef OTA_WIRE_H",
        "#define OTA_WIRE_H",
        "",
        "#include <stdint.h>",
        "",
        "/* ---------------------------------------------------------------- package v1 */",
        "",
        _define("OTA_MAGIC", f'"{wn.MAGIC.decode("ascii")}"'),
        _define("OTA_MAGIC_SIZE", len(wn.MAGIC)),
        _define("OTA_TRAILER_MAGIC", f'"{wn.TRAILER_MAGIC.decode("ascii")}"'),
        _define("OTA_TRAILER_MAGIC_SIZE", len(wn.TRAILER_MAGIC)),
        _define("OTA_FORMAT_VERSION", wn.FORMAT_VERSION),
        "",
    ]
    assert wn.SUPPORTED_VERSIONS == (wn.FORMAT_VERSION,), "emit a version list when there are several"
    out += _fields("OTA_HDR", wn.FIXED, "Preamble and fixed header: offset from the start of the file, size.")
    out += [_define("OTA_PREAMBLE_SIZE", wn.PREAMBLE_SIZE), _define("OTA_FIXED_HEADER_SIZE", wn.FIXED_HEADER_SIZE),
            "/* Then the strings model, source_version, target_version, tool_version (u8 length + ASCII),",
            " * the extensions (u8 count; tag, u16 length, value) and the partition table (u8 count). */",
            _define("OTA_STRING_LENGTH_SIZE", wn.STRING_LENGTH_SIZE),
            _define("OTA_COUNT_SIZE", wn.COUNT_SIZE),
            _define("OTA_EXTENSION_TAG_SIZE", wn.EXTENSION_TAG_SIZE),
            _define("OTA_EXTENSION_LENGTH_SIZE", wn.EXTENSION_LENGTH_SIZE),
            _define("OTA_SHA256_SIZE", wn.SHA256_SIZE), ""]
    out += _fields("OTA_ENTRY", wn.ENTRY,
                   "Partition entry after its name: offset from the end of the name, size.")
    out += _fields("OTA_REF", wn.IMAGE_REF,
                   "Image ref (source if OTA_OPERATION_HAS_SOURCE, then target if _HAS_TARGET).")
    out += _fields("OTA_PAYLOAD", wn.PAYLOAD, "Payload ref (if OTA_OPERATION_HAS_PAYLOAD).")
    out += ["/* Bytes of the entry's fixed part after the name, of an image ref, of a payload ref. */",
            _define("OTA_ENTRY_FIXED_BYTES", sum(s for _, s in wn.ENTRY_FIELDS)),
            _define("OTA_IMAGE_REF_BYTES", sum(s for _, s in wn.IMAGE_REF_FIELDS)),
            _define("OTA_PAYLOAD_REF_BYTES", sum(s for _, s in wn.PAYLOAD_FIELDS)), ""]
    out += _fields("OTA_TRL", wn.TRAILER, "Trailer (the last bytes of the file): offset from its start, size.")
    out += [_define("OTA_TRAILER_SIZE", wn.TRAILER_SIZE),
            "/* Trailer bytes after the CRC-covered region (the CRC field and the magic). */",
            _define("OTA_TRAILER_CRC_TAIL", wn.TRAILER_CRC_TAIL), "",
            "/* Signature record in the slot: algorithm, key id, then the signature. */",
            _define("OTA_SIG_ALGORITHM_SIZE", wn.SIGNATURE_ALGORITHM_SIZE),
            _define("OTA_KEY_ID_SIZE", wn.KEY_ID_SIZE), ""]
    out += _enum("ota_kind", "OTA_KIND", wn.KINDS, "Package kinds.")
    out += _enum("ota_operation", "OTA_OPERATION", wn.OPERATIONS, "Partition operations.")
    out += [_ops_macro("HAS_SOURCE", wn.HAS_SOURCE), _ops_macro("HAS_TARGET", wn.HAS_TARGET),
            _ops_macro("HAS_PAYLOAD", wn.HAS_PAYLOAD), ""]
    out += _enum("ota_codec", "OTA_CODEC", wn.CODEC_IDS, "Payload codecs.")
    out += _enum("ota_reason", "OTA_REASON", wn.REASONS, "Why the builder chose the operation.", count=True)
    out += _enum("ota_extension_tag", "OTA_EXT", wn.EXTENSION_TAGS,
                 "Header extension tags; all critical: refuse a tag not listed here.")
    out += _enum("ota_signature_algorithm", "OTA_SIG", wn.SIGNATURE_ALGORITHMS, "Signature algorithms.")
    prefix = wn.STATE_DIGEST_PREFIX
    out += ["/* The flash-state digest of a minimal-system stage starts with these bytes (the NUL included). */",
            _define("OTA_STATE_DIGEST_PREFIX", '"' + prefix.rstrip(b"\0").decode("ascii") + '"'),
            _define("OTA_STATE_DIGEST_PREFIX_SIZE", f"{len(prefix)}u"), ""]
    out += [
        "/* Limits every reader enforces before it allocates. */",
        _define("OTA_MAX_HEADER_LENGTH", (wn.MAX_HEADER_LENGTH)),
        _define("OTA_MAX_SIGNATURE_LENGTH", (wn.MAX_SIGNATURE_LENGTH)),
        _define("OTA_MAX_STRING_LENGTH", wn.MAX_STRING_LENGTH),
        _define("OTA_MAX_PARTITION_NAME_LENGTH", wn.MAX_PARTITION_NAME_LENGTH),
        _define("OTA_MAX_PARTITIONS", wn.MAX_PARTITIONS),
        _define("OTA_MAX_EXTENSIONS", wn.MAX_EXTENSIONS),
        _define("OTA_MAX_EXTENSION_LENGTH", (wn.MAX_EXTENSION_LENGTH)),
        _define("OTA_MAX_U32", (wn.MAX_U32)),
        _define("OTA_MAX_PACKAGE_LENGTH", (wn.MAX_PACKAGE_LENGTH)),
        _define("OTA_MIN_LZMA_DICT", (wn.MIN_LZMA_DICT)),
        _define("OTA_MAX_LZMA_DICT", (wn.MAX_LZMA_DICT)),
        "/* lzma_dict_size: 0 without LZMA2 payloads, else on the LZMA2 grid (2^n or 3 * 2^(n-1)). */",
        _define("OTA_LZMA_DICT_ON_GRID(size)",
                "((size) >= 2u && (((size) & ((size) - 1u)) == 0u || "
                "((size) % 3u == 0u && (((size) / 3u) & ((size) / 3u - 1u)) == 0u)))"),
        "/* erase_block: a power of two within these bounds. */",
        _define("OTA_MIN_ERASE_BLOCK", wn.MIN_ERASE_BLOCK),
        _define("OTA_MAX_ERASE_BLOCK", wn.MAX_ERASE_BLOCK),
        "",
        "/* ---------------------------------------------------------------- restore resources */",
        "",
        "/* The RAM model ram_required prices (docs/verifier.md, \"RAM accounting\"). */",
        _define("OTA_PACKAGE_CHUNK", wn.PACKAGE_CHUNK),
        _define("OTA_DECODE_CHUNK", wn.DECODE_CHUNK),
        _define("OTA_TUPLE_BYTES", wn.TUPLE_BYTES),
        _define("OTA_LZMA_PROBS_BASE", wn.LZMA_PROBS_BASE),
        _define("OTA_LZMA_PROBS_PER_LITERAL_STATE", wn.LZMA_PROBS_PER_LITERAL_STATE),
        _define("OTA_LZMA_PROB_BYTES", wn.LZMA_PROB_BYTES),
        _define("OTA_LZMA_DECODER_STATE", wn.LZMA_DECODER_STATE),
        "/* Bytes of the LZMA model (probabilities and decoder state) for lc + lp. */",
        _define("OTA_LZMA_MODEL_BYTES(lclp)",
                "(OTA_LZMA_PROB_BYTES * (OTA_LZMA_PROBS_BASE + (OTA_LZMA_PROBS_PER_LITERAL_STATE << (lclp))) "
                "+ OTA_LZMA_DECODER_STATE)"),
        "",
        "/* LZMA2 chunk headers (restore/lzma2.py): control byte values and header sizes. */",
        _define("OTA_LZMA2_END", wn.LZMA2_END),
        _define("OTA_LZMA2_STORED_RESET", wn.LZMA2_STORED_RESET),
        _define("OTA_LZMA2_STORED", wn.LZMA2_STORED),
        _define("OTA_LZMA2_LZMA", wn.LZMA2_LZMA),
        _define("OTA_LZMA2_LZMA_PROPS", wn.LZMA2_LZMA_PROPS),
        _define("OTA_LZMA2_LZMA_DICT_RESET", wn.LZMA2_LZMA_DICT_RESET),
        _define("OTA_LZMA2_STORED_HEADER", wn.LZMA2_STORED_HEADER),
        _define("OTA_LZMA2_LZMA_HEADER", wn.LZMA2_LZMA_HEADER),
        _define("OTA_LZMA2_MAX_PROPS", wn.LZMA2_MAX_PROPS),
        _define("OTA_LZMA2_MAX_LCLP", wn.LZMA2_MAX_LCLP),
        _define("OTA_LZMA2_MAX_PB", wn.LZMA2_MAX_PB),
        "",
        "/* ---------------------------------------------------------------- delta v1 */",
        "",
    ]
    out += _enum("ota_diff_coding", "OTA_DIFF_CODING", wn.DIFF_CODINGS, "How a window's diff bytes are stored.")
    out += [
        _define("OTA_MIN_WINDOW_SIZE", (wn.MIN_WINDOW_SIZE)),
        _define("OTA_MAX_WINDOW_SIZE", (wn.MAX_WINDOW_SIZE)),
        _define("OTA_MIN_WINDOW_TUPLES", (wn.MIN_WINDOW_TUPLES)),
        _define("OTA_MAX_WINDOW_TUPLES", (wn.MAX_WINDOW_TUPLES)),
        _define("OTA_MAX_PARTITION_SIZE", (wn.MAX_PARTITION_SIZE)),
        _define("OTA_MAX_SEEK", (wn.MAX_SEEK)),
        "/* The work bound: tuple t of the stream (from 1), ending at output o, is refused when",
        " * t > OTA_TUPLE_ALLOWANCE && t - OTA_TUPLE_ALLOWANCE > o / OTA_MIN_TUPLE_OUTPUT. */",
        _define("OTA_TUPLE_ALLOWANCE", wn.TUPLE_ALLOWANCE),
        _define("OTA_MIN_TUPLE_OUTPUT", wn.MIN_TUPLE_OUTPUT),
        _define("OTA_VARINT_MAX_BYTES", wn.VARINT_MAX_BYTES),
        _define("OTA_VARINT_MAX_VALUE", _u64(wn.VARINT_MAX_VALUE)),
        "/* A delta payload's uncompressed_length above this bound is refused (decompression bomb).",
        " * 64-bit: the bound of a u32 target does not fit 32 bits. */",
        _define("OTA_STREAM_BOUND_BASE", _u64(wn.STREAM_BOUND_BASE)),
        _define("OTA_STREAM_BOUND_PER_BYTE", _u64(wn.STREAM_BOUND_PER_BYTE)),
        _define("OTA_MAX_STREAM_LENGTH(target_size)",
                "(OTA_STREAM_BOUND_BASE + OTA_STREAM_BOUND_PER_BYTE * ((uint64_t)(target_size) + 1u))"),
        "",
    ]
    out += _transforms()
    out += _in_place()
    out += _journal()
    out += _checks()
    out += ["#endif /* OTA_WIRE_H */"]
    return "\n".join(out) + "\n"


def write(path: Path) -> None:
    """Write the header at ``path`` (through a temporary file and a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(), encoding="ascii")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otapack.core.formats.gen_c_header", description=__doc__.split("\n")[0])
    parser.add_argument("output", nargs="?", help=f"header to write (e.g. {HEADER_PATH}); stdout when omitted")
    parser.add_argument("--check", action="store_true", help="exit 1 if OUTPUT differs from what would be generated")
    args = parser.parse_args(argv)
    if args.output is None:
        sys.stdout.write(render())
        return 0
    path = Path(args.output)
    if args.check:
        current = path.read_text(encoding="ascii") if path.exists() else None
        if current != render():
            print(f"error: {path} is not the generated header; regenerate it with "
                  f"python -m otapack.core.formats.gen_c_header {path}", file=sys.stderr)
            return 1
        return 0
    write(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
