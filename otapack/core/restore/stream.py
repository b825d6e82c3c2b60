"""Forward-only package reading, as a device reads its download area.

``ForwardReader`` pulls fixed-size chunks and never seeks backwards; every
byte it hands out is counted.  ``LzmaReader`` decodes one payload through it
with a bounded output size.  Standard library only.
"""

from __future__ import annotations

import lzma
from typing import BinaryIO

from otapack.errors import PackageFormatError, TruncatedPackageError
from otapack.core.restore.lzma2 import ChunkWalker
from otapack.core.restore.resources import DECODE_CHUNK, PACKAGE_CHUNK, RamMeter, decoder_ram


class ForwardReader:
    def __init__(self, source: BinaryIO, ram: RamMeter, chunk_size: int = PACKAGE_CHUNK, start: int = 0):
        self.source = source
        self.ram = ram
        self.chunk_size = chunk_size
        self.position = start  # absolute offset of the next byte handed out
        self.bytes_read = 0
        self._buffer = b""  # the current chunk; bytes before _at are handed out
        self._at = 0
        ram.hold("package chunk", chunk_size)

    def _take(self, limit: int) -> bytes:
        if self._at == len(self._buffer):
            self._buffer, self._at = self.source.read(self.chunk_size), 0
        piece = self._buffer[self._at : self._at + limit]
        self._at += len(piece)
        self.position += len(piece)
        self.bytes_read += len(piece)
        return piece

    def read(self, length: int) -> bytes:
        """Exactly ``length`` bytes, or TruncatedPackageError."""
        parts = []
        needed = length
        while needed:
            piece = self._take(needed)
            if not piece:
                raise TruncatedPackageError("package ends early", offset=self.position)
            parts.append(piece)
            needed -= len(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_some(self, limit: int) -> bytes:
        """Up to ``limit`` bytes (at least one unless at end of input)."""
        return self._take(limit)

    def skip_to(self, offset: int) -> None:
        if offset < self.position:
            raise PackageFormatError(f"restore would have to seek backwards to {offset}", offset=self.position)
        while self.position < offset:
            self.read(min(self.chunk_size, offset - self.position))


#: liblzma's smallest dictionary; it rounds smaller ones up to this.
_LIBLZMA_MIN_DICT = 4096


class LzmaReader:
    """Decoded bytes of one payload, pulled on demand, never more than declared.

    ``lclp`` is the LZMA model the payload was priced for (the properties of
    its first chunk, ``lzma2.peek_lclp``): every compressed byte passes the
    chunk walker before the decoder, which refuses a chunk needing a larger
    model.  The dictionary is ``min(dict_size, output_length)``: the stream
    never looks back further than its own output."""

    def __init__(self, reader: ForwardReader, payload_length: int, dict_size: int, output_length: int,
                 ram: RamMeter, where: str, lclp: int | None):
        self.reader = reader
        self.remaining_input = payload_length
        self.remaining_output = output_length
        self.where = where
        self.ram = ram
        self.walker = ChunkWalker(lclp, where)
        dictionary = max(_LIBLZMA_MIN_DICT, min(dict_size, output_length))
        ram.hold("lzma decoder", decoder_ram(dict_size, output_length, lclp))
        self._decoder = lzma.LZMADecompressor(
            format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "dict_size": dictionary}]
        )
        self._pending = b""  # one decoded piece; bytes before _at are handed out
        self._at = 0
        self._undecoded = output_length  # declared bytes not yet taken from the decoder
        self.decompress_calls = 0

    def _input(self) -> bytes:
        # Up to the next chunk boundary only: each chunk header is checked
        # when the decoder reaches it (see lzma2.ChunkWalker.wanted).
        want = self.reader.chunk_size if self.walker.ended else min(self.walker.wanted(), self.reader.chunk_size)
        data = self.reader.read_some(min(self.remaining_input, want))
        if not data:
            raise TruncatedPackageError(f"{self.where}: payload ends early", offset=self.reader.position)
        self.remaining_input -= len(data)
        self.walker.feed(data)
        return data

    def _feed(self, wanted: int) -> bytes:
        while True:
            data = b""
            if self._decoder.needs_input and self.remaining_input:
                data = self._input()
            elif self._decoder.needs_input or self._decoder.eof:  # eof: decompress() would raise EOFError
                raise PackageFormatError(
                    f"{self.where}: LZMA2 stream ends before its {self._undecoded} remaining declared bytes",
                    offset=self.reader.position,
                )
            self.decompress_calls += 1
            try:
                out = self._decoder.decompress(data, max_length=wanted)
            except lzma.LZMAError as exc:
                raise PackageFormatError(f"{self.where}: LZMA2 stream is corrupt ({exc})", offset=self.reader.position) from None
            if out:
                self._undecoded -= len(out)
                return out
            if self._decoder.eof:
                raise PackageFormatError(
                    f"{self.where}: LZMA2 stream ends before its {self._undecoded} remaining declared bytes",
                    offset=self.reader.position,
                )

    def read(self, length: int) -> bytes:
        """Exactly ``length`` decoded bytes within the declared output length."""
        if length > self.remaining_output:
            raise PackageFormatError(
                f"{self.where}: needs {length} more decoded bytes, only {self.remaining_output} declared",
                offset=self.reader.position,
            )
        parts = []
        needed = length
        while needed:
            if self._at == len(self._pending):
                # A whole decode piece at a time (never past the declared length),
                # handed out by offset: varints read byte by byte cost no copies.
                self._pending, self._at = self._feed(min(self._undecoded, DECODE_CHUNK)), 0
            piece = self._pending[self._at : self._at + needed]
            self._at += len(piece)
            parts.append(piece)
            needed -= len(piece)
        self.remaining_output -= length
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def finish(self) -> None:
        """The stream must end exactly here, with every payload byte consumed."""
        if self.remaining_output:
            raise PackageFormatError(
                f"{self.where}: {self.remaining_output} declared decoded bytes were never used",
                offset=self.reader.position,
            )
        if self._at != len(self._pending):
            raise PackageFormatError(f"{self.where}: decoded data beyond the declared length", offset=self.reader.position)
        while not self._decoder.eof:
            data = b""
            if self._decoder.needs_input:
                if not self.remaining_input:
                    raise PackageFormatError(f"{self.where}: LZMA2 stream has no end marker", offset=self.reader.position)
                data = self._input()
            try:
                extra = self._decoder.decompress(data, max_length=1)
            except lzma.LZMAError as exc:
                raise PackageFormatError(f"{self.where}: LZMA2 stream is corrupt ({exc})", offset=self.reader.position) from None
            if extra:
                raise PackageFormatError(f"{self.where}: LZMA2 stream decodes to more than declared", offset=self.reader.position)
        if self.remaining_input or self._decoder.unused_data:
            raise PackageFormatError(
                f"{self.where}: {self.remaining_input + len(self._decoder.unused_data)} payload bytes after the end of the LZMA2 stream",
                offset=self.reader.position,
            )


class RawReader:
    """A stored (codec none) payload with the same interface as LzmaReader."""

    def __init__(self, reader: ForwardReader, payload_length: int, output_length: int, where: str):
        if payload_length != output_length:
            raise PackageFormatError(f"{where}: stored payload is {payload_length} bytes, {output_length} declared")
        self.reader = reader
        self.remaining_output = output_length
        self.where = where
        self.decompress_calls = 0

    def read(self, length: int) -> bytes:
        if length > self.remaining_output:
            raise PackageFormatError(f"{self.where}: needs {length} more bytes, only {self.remaining_output} declared")
        self.remaining_output -= length
        return self.reader.read(length)

    def finish(self) -> None:
        if self.remaining_output:
            raise PackageFormatError(f"{self.where}: {self.remaining_output} declared bytes were never used")
