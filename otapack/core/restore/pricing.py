"""The ``resources`` check: the header's figures within their limits, and
every payload priced before the first flash write (docs/verifier.md, "RAM
accounting").  Standard library only.

In the device's order:

1. ``lzma_dict_size`` and ``erase_block`` within their limits
   (``resources.check_header_figures``);
2. ``ram_required`` within the device's budget;
3. ``ram_required`` at least the fixed buffers (package chunk, header,
   write buffer);
4. the staged delta partitions (each rounded up to erase blocks) within
   ``scratch_flash``; partitions patched in place have uniform erase sectors;
5. per payload partition, in table order: the LZMA model of its first LZMA2
   chunk (``lzma2.peek_lclp``), then the decoder alone, then for a delta the
   stream header (three varints, decoded) and the tuple array and old-read
   piece it implies, each within ``ram_required``; what is left is the room
   for one window's extra bytes (``Priced.extra_capacity``).

Between the decoder's price and the stream header, an LZMA2 payload is
decoded once in full, the output discarded (``decode_in_full``): it must
decode without error to exactly its declared length and end marker, or it
is refused here.  Decoders (liblzma in this restore, the C library's or an
integrator's in a device) notice a corruption at different output
positions; the stream either decodes or it does not.  So no decoded byte
is interpreted (stream header, patch rules) or written before the stream is
known to decode, and every restore refuses a corrupt stream at the same
check, with the same error class and partition, and no decoder-dependent
offset (docs/verifier.md, "One point of refusal for a corrupt LZMA2
stream").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from otapack.core.formats.wire_numbers import (DELTA_OPERATIONS, DELTA_VERSIONS, HAS_PAYLOAD, IN_PLACE_OPERATIONS,
                                               STAGED_DELTA_OPERATIONS)
from otapack.core.restore import wire
from otapack.core.restore.delta import PatchHeader, read_stream_header
from otapack.core.restore.in_place_tables import check_sectors, check_tables
from otapack.core.restore.lzma2 import peek_lclp
from otapack.core.restore.checks import at
from otapack.core.restore.resources import (DECODE_CHUNK, PayloadRam, RamMeter, check_header_figures, fixed_ram,
                                            known_ram, staged_bytes)
from otapack.errors import PackageFormatError, ResourceLimitError


@dataclass(frozen=True)
class Priced:
    """One payload as the resources check priced it before the first write."""

    lclp: int | None  # LZMA model of its first chunk (None: no LZMA chunk, or not LZMA2)
    patch: PatchHeader | None  # a delta's stream header
    extra_capacity: int  # RAM the declaration leaves for one window's extra bytes


def check_declarations(header: wire.Header, ram_budget: int | None, device=None) -> tuple[int, int]:
    """Steps 1-4; returns (fixed RAM, staged flash).  ``device``: its flash
    must have uniform erase sectors where an in-place delta writes."""
    payloads = [e for e in header.entries if e.operation in HAS_PAYLOAD]
    check_header_figures(lzma_dict_size=header.lzma_dict_size, erase_block=header.erase_block,
                         uses_lzma=any(e.codec == "lzma2" for e in payloads))
    declared = header.ram_required
    if ram_budget is not None and declared > ram_budget:
        raise ResourceLimitError(f"package declares {declared} bytes of RAM, the device budget is {ram_budget}")
    fixed = fixed_ram(header.header_length, header.erase_block)
    if declared < fixed:
        raise ResourceLimitError(f"header declares {declared} bytes of RAM, the restore needs at least {fixed}")
    staged = staged_bytes((e.target_size for e in payloads if e.operation in STAGED_DELTA_OPERATIONS),
                          header.erase_block)
    if device is not None:
        in_place_flash(header, device)
    if staged > header.scratch_flash:
        raise ResourceLimitError(f"delta partitions stage {staged} bytes of flash until commit, "
                                 f"the header declares {header.scratch_flash} bytes of scratch flash")
    return fixed, staged


def price_payload(header: wire.Header, e: wire.Entry, fixed: int, forward: Callable, decoder: Callable,
                  ram: RamMeter) -> Priced:
    """Step 5 for one payload.  ``forward(offset)`` opens a forward reader at
    ``offset``; ``decoder(entry, reader, lclp)`` the payload's decoder."""
    where = f"partition {e.name!r}"
    lclp = peek_lclp(forward(e.payload_offset), e.payload_length, where) if e.codec == "lzma2" else None

    def need(patch: PatchHeader | None) -> int:
        figures = PayloadRam(lzma=e.codec == "lzma2", dictionary=min(header.lzma_dict_size, e.uncompressed_length),
                             lclp=lclp, window_tuples=patch.max_tuples if patch else 0, delta=patch is not None,
                             transform=patch.transform_ram if patch else 0)
        total = known_ram(fixed, figures)
        if total > header.ram_required:
            what = "its decoder and patch windows need" if patch else "its decoder needs"
            raise ResourceLimitError(f"{where}: {what} {total} bytes of RAM, the header declares {header.ram_required}")
        return total

    known = need(None)  # the decoder alone, before it is made to decode the stream header
    if e.codec == "lzma2":
        decode_in_full(decoder(e, forward(e.payload_offset), lclp), e)
        ram.release("lzma decoder")
    patch = None
    if e.operation in DELTA_OPERATIONS:
        stream = decoder(e, forward(e.payload_offset), lclp)
        patch = read_stream_header(stream, where, DELTA_VERSIONS[e.operation])
        ram.release("lzma decoder")
        if patch.in_place is not None:
            check_tables(patch.in_place, where, header.erase_block, e.source_size, e.target_size)
        known = need(patch)
    return Priced(lclp, patch, header.ram_required - known)


def in_place_flash(header: wire.Header, device) -> None:
    """Partitions patched in place (and the scratch area) have erase sectors of ``erase_block``."""
    scratch = (device.resume.scratch,) if device.resume is not None else ()
    for e in header.entries:
        part = device.partitions.get(e.name)
        if e.operation in IN_PLACE_OPERATIONS and part is not None:
            check_sectors(f"partition {e.name!r}", header.erase_block, (part.flash,) + scratch)
            if e.target_size > part.flash.size:
                raise ResourceLimitError(f"partition {e.name!r}: an in-place target of {e.target_size} bytes "
                                         f"exceeds its {part.flash.size}-byte slot")


def check_scratch(header: wire.Header, priced: dict[str, Priced], staged: int) -> int:
    """Step 6, once every payload is priced: the staged partitions, every
    in-place partition's saves and one swap sector within ``scratch_flash``;
    returns that total."""
    saves = [p.patch.in_place.saves for p in priced.values() if p.patch is not None and p.patch.in_place is not None]
    total = staged + (sum(map(len, saves)) + 1) * header.erase_block if saves else staged
    if total > header.scratch_flash:
        raise ResourceLimitError(f"delta partitions need {total} bytes of scratch flash (staged partitions, "
                                 f"in-place saves and the swap sector), the header declares {header.scratch_flash}")
    return total


def decode_in_full(stream, e: wire.Entry) -> None:
    """Decode the whole payload in decode pieces, discarding them, and require
    the end marker right after the declared length.  A refusal names the
    partition and keeps the error class, without the input offset (where
    the decoder noticed is the decoder's business, not the stream's)."""
    left = stream.remaining_output
    try:
        while left:
            piece = min(DECODE_CHUNK, left)
            stream.read(piece)
            left -= piece
        stream.finish()
    except PackageFormatError as exc:
        offset = getattr(exc, "offset", None)
        message = exc.message.removesuffix(f" (at offset {offset})") if offset is not None else exc.message
        raise at(e, type(exc)(message)) from None
    except ResourceLimitError as exc:
        raise at(e, exc) from None
