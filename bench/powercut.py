"""Power cuts before and after the journal: the figures in docs/verifier.md ("Power cuts").

    python bench/powercut.py                       # both fixture packages, every case kind
    python bench/powercut.py --cuts 200 --seed 1   # sampled cases instead of 'all'
    python bench/powercut.py --package three-partitions --single-only
    python bench/powercut.py --engine both          # the journaled rows on both restores, in lockstep

For each package (built from tests/fixtures/corpus, so the figures are
reproducible from the repository alone), the sweep of otapack.core.powercut
runs twice on the same simulated NOR flash: once with the restore as it was
(no journal: staged partitions lost at a cut, replace partitions written in
place during the pass) and once journaled.  It prints cut sequences tried,
survived and failed, and the first failure; on the first package also with
each deliberately wrong journal rule (the negative controls).  Only outcomes are counted, never time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "powercut"))

from powercut_fixtures import FAST, corpus, three_partitions  # noqa: E402

from otapack.core import powercut  # noqa: E402
from otapack.core.build import PackageOptions, build_delta  # noqa: E402
from otapack.core.model import FirmwareImage, Partition  # noqa: E402
from otapack.core.restore import resume  # noqa: E402


def two_deltas():
    """The synthesizer pair (159 KB) and the programmer pair (23 KB): two delta partitions."""
    def image(app: bytes, data: bytes) -> FirmwareImage:
        return FirmwareImage((Partition("app", 0, app, slot_size=0x28000),
                              Partition("data", 0x28000, data, slot_size=0x6000)))

    old = image(corpus("synthesizer-1.bin"), corpus("programmer-0.8.0.bin"))
    new = image(corpus("synthesizer-2.bin"), corpus("programmer-0.9.0.bin"))
    return build_delta(old, new, PackageOptions(**FAST)), old, new


PACKAGES = {"three-partitions (2 delta, 1 replace, 1 keep)": three_partitions,
            "two-deltas (synthesizer + programmer)": two_deltas}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cuts", default="all", help="'all' or a count of sampled cases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--single-only", action="store_true", help="baseline and journaled: clean single cuts only")
    parser.add_argument("--package", choices=["three-partitions", "two-deltas"], action="append",
                        help="only these packages (repeatable; default both)")
    parser.add_argument("--engine", choices=powercut.SWEEP_ENGINES, default="python",
                        help="the restore swept on the journaled rows (both: Python and C in lockstep)")
    args = parser.parse_args()
    cuts = args.cuts if args.cuts == "all" else int(args.cuts)
    print("| package | restore | flash operations | cut sequences | survived | failed | first failure |")
    print("|---|---|---|---|---|---|---|")
    for name, make in PACKAGES.items():
        if args.package and name.split(" ")[0] not in args.package:
            continue
        pkg, old, _ = make()
        engine = args.engine
        variants = [("no journal", powercut.Geometry(journaled=False)),
                    (f"journaled ({engine})", powercut.Geometry(engine=engine))]
        if make is three_partitions:  # the negative controls: one journal rule broken each
            variants += [(f"journaled ({engine}), fault {fault}", powercut.Geometry(fault=fault, engine=engine))
                         for fault in resume.FAULTS]
        for label, geometry in variants:
            if args.single_only:
                reference = powercut._reference(pkg, old, geometry)
                report = powercut.SweepReport(reference[2], seed=args.seed, geometry=geometry)
                for index in range(reference[2]):
                    outcome = powercut.run_case(pkg, old, powercut.Case((index,)), geometry, reference)
                    report.tried += 1
                    report.survived += outcome.ok
                    report.failures += not outcome.ok
                    report.first_failure = report.first_failure or (None if outcome.ok else outcome)
            else:
                report = powercut.sweep(pkg, old, cuts, args.seed, geometry)
            first = report.first_failure
            why = "" if first is None else f"cuts {list(first.case.cuts)}{' torn' if first.case.torn else ''}: " \
                                           f"{first.problem[:90]}"
            print(f"| {name} | {label} | {report.operations} | {report.tried} | {report.survived} | "
                  f"{report.failures} | {why} |", flush=True)


if __name__ == "__main__":
    main()
