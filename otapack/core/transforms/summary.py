"""What the delta-v2 partitions of a package re-aim (``otapack info``).

The transform section sits at the start of each delta-v2 stream, so its
arch, base and table sizes are read by decoding only the head of the
payload (bounded: the section is at most a few hundred KB of stream).
"""

from __future__ import annotations

import io
import lzma

from otapack.core.formats.wire_numbers import (
    MAX_MAP_ENTRIES,
    MAX_REGIONS,
    TRANSFORM_ARCH_IDS,
    TRANSFORM_KINDS,
    VARINT_MAX_BYTES,
    transform_ram,
)
from otapack.core.restore.delta import read_stream_header
from otapack.core.restore.transform_section import read_tables
from otapack.errors import OtapackError

#: Stream bytes that hold any section: three v1 and four section varints, two varints an entry.
_HEAD = VARINT_MAX_BYTES * (7 + 2 * (MAX_MAP_ENTRIES + MAX_REGIONS))
_ARCH_NAMES = {v: k for k, v in TRANSFORM_ARCH_IDS.items()}


def transform_summary(package) -> dict[str, dict]:
    """Partition name -> ``{arch, base, map_entries, regions, table_ram, kinds}``
    for every ``delta-v2`` partition of a parsed ``Package`` (``error`` when
    its section does not read)."""
    out = {}
    for record in package.partitions:
        if record.operation != "delta-v2":
            continue
        try:
            out[record.name] = _summary(package, record)
        except (OtapackError, lzma.LZMAError, EOFError, IndexError) as exc:
            out[record.name] = {"error": str(exc)}
    return out


def _summary(package, record) -> dict:
    payload = package.payload(record)
    if record.codec == "lzma2":
        decoder = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2,
                                                                     "dict_size": package.header.lzma_dict_size}])
        head = decoder.decompress(payload, max_length=_HEAD)
    else:
        head = payload[:_HEAD]
    stream = io.BytesIO(head)
    where = f"partition {record.name!r}"
    header = read_stream_header(stream, where, 2)
    params = read_tables(stream, header.transform_counts, record.source_size, where)
    arch_id, base, map_count, region_count = header.transform_counts
    masks = 0
    for mask in params.region_masks:
        masks |= mask
    kinds = TRANSFORM_KINDS.get(_ARCH_NAMES[arch_id], ())
    return {"arch": _ARCH_NAMES[arch_id], "base": base, "map_entries": map_count, "regions": region_count,
            "table_ram": transform_ram(map_count, region_count) if arch_id else 0,
            "kinds": [k for i, k in enumerate(kinds) if masks >> i & 1]}
