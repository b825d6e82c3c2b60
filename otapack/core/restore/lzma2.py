"""LZMA2 chunk headers, walked over the compressed bytes the restore feeds its decoder.

The package header states one dictionary size; the LZMA model a decoder
needs (2 * (1846 + 768 * 2^(lc+lp)) bytes of probabilities) is set by the
properties byte of the chunks themselves.  The restore prices each payload
by the properties of its first LZMA chunk (``peek_lclp``, before the first
flash write) and then holds every later chunk to that model
(``ChunkWalker``): a chunk needing a larger one is refused before the
decoder sees it, exactly as a device decoder sized for the priced model
must refuse it.  The restore feeds its decoder a chunk header only once
every byte of the previous chunk has been fed (``ChunkWalker.wanted``), so a
header is checked when the decoding reaches it, never earlier: the point of
refusal depends on the stream alone, not on input buffering.  Standard
library only.

Chunk layout (what the walk reads; the decoder checks the rest):

- control 0x00: end of the stream;
- 0x01 / 0x02: stored chunk (with / without dictionary reset), then u16 BE
  (size - 1) and that many bytes;
- 0x03..0x7F: invalid;
- 0x80..0xFF: LZMA chunk, then u16 BE (low 16 bits of uncompressed size - 1),
  u16 BE (compressed size - 1), a properties byte when control >= 0xC0, then
  the compressed bytes.
"""

from __future__ import annotations

from otapack.core.formats.wire_numbers import (
    DECODE_CHUNK,
    LZMA2_END,
    LZMA2_LZMA,
    LZMA2_LZMA_HEADER,
    LZMA2_LZMA_PROPS,
    LZMA2_MAX_LCLP,
    LZMA2_MAX_PROPS,
    LZMA2_STORED,
    LZMA2_STORED_HEADER,
)
from otapack.errors import PackageFormatError, ResourceLimitError, TruncatedPackageError


def decode_props(byte: int) -> tuple[int, int, int]:
    """(lc, lp, pb) of an LZMA properties byte, unchecked."""
    lc = byte % 9
    rest = byte // 9
    return lc, rest % 5, rest // 5


def _header_length(control: int) -> int:
    if control < LZMA2_LZMA:
        return LZMA2_STORED_HEADER
    return LZMA2_LZMA_HEADER + (control >= LZMA2_LZMA_PROPS)


class ChunkWalker:
    """Follows the chunk headers of one raw LZMA2 stream, fed in pieces.

    ``max_lclp`` is the model the decoder was priced for (None: no LZMA
    chunk at all).  ``feed`` raises on a properties byte that is invalid
    (``PackageFormatError``) or needs a larger model (``ResourceLimitError``);
    an invalid control byte stops the walk and is left to the decoder, which
    refuses the stream there.
    """

    def __init__(self, max_lclp: int | None, where: str):
        self.max_lclp = max_lclp
        self.where = where
        self._header = bytearray()  # the current chunk header, control byte first
        self._need = 0  # header bytes still to come
        self._skip = 0  # chunk data bytes still to come
        self.chunks = 0
        self.ended = False  # end marker seen, or an invalid control byte
        self.invalid_control: int | None = None
        #: Compressed bytes consumed, end marker included (when ``ended``).
        self.consumed = 0
        #: lc + lp of the first properties byte, once seen.
        self.first_lclp: int | None = None
        self.first_lzma_without_props = False

    def feed(self, data: bytes | memoryview) -> None:
        pos, end = 0, len(data)
        while pos < end and not self.ended:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
            elif not self._need:
                control = data[pos]
                pos += 1
                if control == LZMA2_END or LZMA2_STORED < control < LZMA2_LZMA:
                    if control != LZMA2_END:
                        self.invalid_control = control
                    self.ended = True
                    break
                self._header[:] = bytes([control])
                self._need = _header_length(control)
            else:
                step = min(self._need, end - pos)
                self._header += data[pos : pos + step]
                self._need -= step
                pos += step
                if not self._need:
                    self._chunk(bytes(self._header))
        self.consumed += pos

    @property
    def data_left(self) -> int:
        """Bytes of the current chunk's data still to come (0 inside a header)."""
        return self._skip

    def wanted(self) -> int:
        """How many bytes to feed next so that a chunk header is fed whole,
        and only once the previous chunk's data is: the control byte alone,
        then the rest of the header, then the data."""
        if self._skip:
            return self._skip
        return self._need or 1

    def _chunk(self, header: bytes) -> None:
        control = header[0]
        self.chunks += 1
        if control < LZMA2_LZMA:
            self._skip = int.from_bytes(header[1:3], "big") + 1
            return
        self._skip = int.from_bytes(header[3:5], "big") + 1
        if control < LZMA2_LZMA_PROPS:
            if self.first_lclp is None:
                self.first_lzma_without_props = True
            return
        props = header[5]
        lc, lp, pb = decode_props(props)
        if props > LZMA2_MAX_PROPS or lc + lp > LZMA2_MAX_LCLP:
            raise PackageFormatError(
                f"{self.where}: LZMA2 stream is corrupt (chunk {self.chunks - 1}: invalid properties byte {props:#04x})"
            )
        if self.first_lclp is None:
            self.first_lclp = lc + lp
        if self.max_lclp is not None and lc + lp > self.max_lclp:
            raise ResourceLimitError(
                f"{self.where}: LZMA2 chunk {self.chunks - 1} needs the lc+lp={lc + lp} model, "
                f"the payload was priced for lc+lp={self.max_lclp} (its first chunk's)"
            )


def peek_lclp(reader, payload_length: int, where: str) -> int | None:
    """lc + lp of the first LZMA chunk of the payload at ``reader``'s position
    (None: the stream has no LZMA chunk).  Reads chunk headers only, skipping
    stored chunks; a stream whose first LZMA chunk sets no properties, or
    that ends before one, is corrupt."""
    walker = ChunkWalker(None, where)
    left = payload_length
    while walker.first_lclp is None and not walker.ended:
        if walker.first_lzma_without_props:
            raise PackageFormatError(f"{where}: LZMA2 stream is corrupt (its first LZMA chunk sets no properties)")
        if not left:
            raise TruncatedPackageError(f"{where}: LZMA2 stream ends inside its chunk headers", offset=reader.position)
        # Header bytes one at a time, chunk data in pieces: never reads past
        # what the walk needs.
        data = reader.read(min(walker.data_left or 1, DECODE_CHUNK, left))
        left -= len(data)
        walker.feed(data)
    if walker.first_lzma_without_props:
        raise PackageFormatError(f"{where}: LZMA2 stream is corrupt (its first LZMA chunk sets no properties)")
    if walker.invalid_control is not None:
        raise PackageFormatError(
            f"{where}: LZMA2 stream is corrupt (chunk {walker.chunks}: invalid control byte {walker.invalid_control:#04x})"
        )
    return walker.first_lclp
