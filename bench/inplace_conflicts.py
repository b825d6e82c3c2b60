"""How much of a staged delta an in-place restore could keep: the first measurement
docs/in-place-deltas.md asks for (a prototype; nothing is built from it).

    python bench/inplace_conflicts.py                         # the corpus pairs under ../shared/corpus
    python bench/inplace_conflicts.py --corpus DIR --pairs synthesizer-1--2 --sector 4096

For each pair, the default delta package of NEW against OLD (one partition)
is built and its patch stream walked: every ``add`` run reads old bytes for
an output range.  Written in place, target sector k overwrites old sector
k.  In forward order (sector 0 first) an old sector read by a later target
sector is a conflict; in backward order one read by an earlier sector is.
A conflict costs one scratch sector (save the old sector first) or its
bytes (cut those matches: they travel as extra bytes instead).  Printed per
pair and direction: sectors of NEW, conflicting old sectors, bytes of the
add runs that read them, and those bytes against the package size.  Only
bytes are counted.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from otapack.core.build import PackageOptions, build_delta
from otapack.core.codecs import CODECS
from otapack.core.container import read_package
from otapack.core.formats.delta import DIFF_CODINGS, ControlTuple, DeltaHeader, WindowHead, ZeroRunBytes
from otapack.core.model import FirmwareImage

ROOT = Path(__file__).resolve().parent.parent
_COUNT = WindowHead.subcons[0].subcon


def add_runs(stream: bytes, new_size: int):
    """(output offset, old offset, length) of every add run of a delta-v1 stream."""
    f = io.BytesIO(stream)
    header = DeltaHeader.parse_stream(f)
    zero_runs = header.diff_coding == DIFF_CODINGS["zero-run"]
    out = old = 0
    runs = []
    while out < new_size:
        tuples = [ControlTuple.parse_stream(f) for _ in range(_COUNT.parse_stream(f))]
        n_add = sum(t["add"] for t in tuples)
        n_copy = sum(t["copy"] for t in tuples)
        f.seek(n_copy, io.SEEK_CUR)
        if zero_runs:
            ZeroRunBytes(n_add).parse_stream(f)
        else:
            f.seek(n_add, io.SEEK_CUR)
        for t in tuples:
            if t["add"]:
                runs.append((out, old, t["add"]))
            out += t["add"] + t["copy"]
            old += t["add"] + t["seek"]
    return runs


def conflicts(runs, new_size: int, sector: int, backward: bool) -> tuple[set[int], int]:
    """Old sectors read after they are overwritten, and the add bytes reading them."""
    sectors = -(-new_size // sector)
    bad, cut = set(), 0
    for out, old, length in runs:
        done = 0
        while done < length:  # split the run at output and old sector boundaries
            o, s = out + done, old + done
            piece = min(length - done, sector - o % sector, sector - s % sector)
            writer, source = o // sector, s // sector
            if source < sectors and (source > writer if backward else source < writer):
                bad.add(source)
                cut += piece
            done += piece
    return bad, cut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--pairs", nargs="*")
    parser.add_argument("--sector", type=int, default=4096)
    args = parser.parse_args()
    print("| pair | NEW sectors | package bytes | forward: conflicting sectors / bytes cut (% of package) "
          "| backward: sectors / bytes (%) |")
    print("|---|---|---|---|---|")
    for pair in sorted(p for p in args.corpus.iterdir() if p.is_dir()):
        if args.pairs and pair.name not in args.pairs:
            continue
        old, new = (pair / "old.bin").read_bytes(), (pair / "new.bin").read_bytes()
        try:
            pkg = build_delta(FirmwareImage.single(old), FirmwareImage.single(new), PackageOptions())
        except Exception as exc:  # a pair the builder refuses is reported, the run goes on
            print(f"| {pair.name} | n/a | n/a | {type(exc).__name__}: {str(exc)[:60]} | |")
            continue
        package = read_package(pkg)
        record = package.partitions[0]
        if record.operation != "delta":
            print(f"| {pair.name} | {-(-len(new) // args.sector)} | {len(pkg)} | sent {record.operation} | |")
            continue
        stream = CODECS[record.codec].decompress(package.payload(record), package.header.lzma_dict_size,
                                                 record.uncompressed_length)
        runs = add_runs(stream, record.target_size)
        cells = []
        for backward in (False, True):
            bad, cut = conflicts(runs, record.target_size, args.sector, backward)
            cells.append(f"{len(bad)} / {cut} ({100 * cut / len(pkg):.0f} %)")
        print(f"| {pair.name} | {-(-len(new) // args.sector)} | {len(pkg)} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
