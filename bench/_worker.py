#!/usr/bin/env python3
"""Child process for the benchmark: one create or apply of a Python-API tool.

Run by bench/run_bench.py and bench/scaling.py as
``python bench/_worker.py OP ARG...`` in a fresh process per measurement, so
that the parent's wall clock and ``wait4`` peak RSS cover exactly one tool.
Each OP reads its inputs from files and writes its output to a file.

OPs (create: OLD NEW PATCH; apply: OLD PATCH OUT):

  bsdiff4-create / bsdiff4-apply        BSDIFF40 via ``bsdiff4.diff``/``patch``
  bsdiff4xz-create / bsdiff4xz-apply    the three bsdiff4.core streams (control,
                                        diff, extra) each ``xz -9e``, 32-byte header
  hdiffpatch-create / hdiffpatch-apply  ``hdiffpatch.diff(.., Lzma2Config())``
  otapack-slot-diff OLD NEW PKG [--verify]
                                        otapack delta package of one raw partition
                                        whose slot is max(len(old), len(new)), built
                                        as `otapack diff` does (--jobs: every CPU;
                                        --verify: its self-check too)
  otapack-slot-verify PKG OLD NEW       device restore (exit 1 unless it passes
                                        and gives NEW byte for byte)
  otapack-slot-apply PKG OLD NEW OUT    restored image to OUT (NEW: only its size)
"""

from __future__ import annotations

import sys
from pathlib import Path

XZ_MAGIC = b"BSDIFXZ4"
ERASE_BLOCK = 4096


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def _int64(n: int) -> bytes:
    return n.to_bytes(8, "little", signed=True)


def _xz(data: bytes) -> bytes:
    import lzma

    return lzma.compress(data, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)


def bsdiff4xz_create(old: bytes, new: bytes) -> bytes:
    import bsdiff4.core

    ctrl, diff, extra = bsdiff4.core.diff(old, new)
    c, d, e = _xz(ctrl), _xz(diff), _xz(extra)
    return XZ_MAGIC + _int64(len(c)) + _int64(len(d)) + _int64(len(new)) + c + d + e


def bsdiff4xz_apply(old: bytes, patch: bytes) -> bytes:
    import lzma

    import bsdiff4.core

    if patch[:8] != XZ_MAGIC:
        raise ValueError("not a bsdiff4+xz patch")
    lc, ld, size = (int.from_bytes(patch[i:i + 8], "little", signed=True) for i in (8, 16, 24))
    body = patch[32:]
    ctrl = lzma.decompress(body[:lc])
    diff = lzma.decompress(body[lc:lc + ld])
    extra = lzma.decompress(body[lc + ld:])
    return bsdiff4.core.patch(old, size, ctrl, diff, extra)


def _slot_images(old: bytes, new: bytes | None, slot: int):
    from otapack.core.model import FirmwareImage, Partition

    def image(data: bytes) -> FirmwareImage:
        return FirmwareImage(partitions=(Partition(name="image", address=0, data=data, slot_size=slot),),
                             erase_block=ERASE_BLOCK)

    return image(old), (image(new) if new is not None else None)


def _slot_size(*sizes: int) -> int:
    top = max(sizes)
    return -(-top // ERASE_BLOCK) * ERASE_BLOCK


def main(argv: list[str]) -> int:
    op, args = argv[0], argv[1:]
    if op == "bsdiff4-create":
        import bsdiff4

        Path(args[2]).write_bytes(bsdiff4.diff(_read(args[0]), _read(args[1])))
    elif op == "bsdiff4-apply":
        import bsdiff4

        Path(args[2]).write_bytes(bsdiff4.patch(_read(args[0]), _read(args[1])))
    elif op == "bsdiff4xz-create":
        Path(args[2]).write_bytes(bsdiff4xz_create(_read(args[0]), _read(args[1])))
    elif op == "bsdiff4xz-apply":
        Path(args[2]).write_bytes(bsdiff4xz_apply(_read(args[0]), _read(args[1])))
    elif op == "hdiffpatch-create":
        import hdiffpatch

        patch = hdiffpatch.diff(_read(args[0]), _read(args[1]), hdiffpatch.Lzma2Config(), validate=False)
        Path(args[2]).write_bytes(patch)
    elif op == "hdiffpatch-apply":
        import hdiffpatch

        Path(args[2]).write_bytes(hdiffpatch.apply(_read(args[0]), _read(args[1])))
    elif op == "otapack-slot-diff":
        from otapack.core.build import PackageOptions, build_delta
        try:
            from otapack.core.parallel import DEFAULT_JOBS
        except ImportError:  # an otapack before the thread budget (speed_bench.py --base-tree): its own default
            DEFAULT_JOBS = PackageOptions().jobs

        old, new = _read(args[0]), _read(args[1])
        o, n = _slot_images(old, new, _slot_size(len(old), len(new)))
        package = build_delta(o, n, PackageOptions(jobs=DEFAULT_JOBS))  # as `otapack diff` by default
        if args[3:] == ["--verify"]:  # the self-check `otapack diff` runs unless --no-verify
            from otapack.core.verify import verify_package

            if verify_package(package, o, n).error is not None:
                return 1
        Path(args[2]).write_bytes(package)
    elif op == "otapack-slot-verify":
        from otapack.core.verify import verify_package

        package, old, new = _read(args[0]), _read(args[1]), _read(args[2])
        o, n = _slot_images(old, new, _slot_size(len(old), len(new)))
        report = verify_package(package, o, n)
        if not report.ok:
            print(f"verify failed: {report.error}", file=sys.stderr)
            return 1
    elif op == "otapack-slot-apply":
        from otapack.core.verify import apply_package

        import os

        package, old = _read(args[0]), _read(args[1])
        # NEW is only read for its size: the device's slot is the one diff used
        o, _ = _slot_images(old, None, _slot_size(len(old), os.path.getsize(args[2])))
        image = apply_package(package, o)
        # the slot holds NEW, then erased bytes to the end of the slot
        Path(args[3]).write_bytes(image.get("image").data[:os.path.getsize(args[2])])
    else:
        print(f"unknown op {op!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
