"""Apply a bare delta-v2 stream with the device restore's own applier.

For the builder's self-checks, tests and ``bench/transforms/measure.py``: a
stream outside any package goes through ``otapack.core.restore.delta`` (the
code the Python restore runs), so there is one v2 applier, not two.
"""

from __future__ import annotations

from otapack.core.restore.delta import Work, apply_delta, read_stream_header
from otapack.core.restore.resources import RamMeter


def apply_delta_v2(stream, read_old, old_size: int, writer, target_size: int, ram: RamMeter, where: str) -> Work:
    """Decode a delta-v2 stream and write exactly ``target_size`` bytes; the work done (``units`` re-aimed)."""
    work = Work()
    apply_delta(stream, read_old, old_size, writer, target_size, ram, where, read_stream_header(stream, where, 2),
                work=work)
    return work
