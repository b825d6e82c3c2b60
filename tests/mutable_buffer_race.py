"""Child process of test_diff_core.test_mutable_buffers_changed_by_another_thread.

The C diff core releases the GIL while it builds a suffix array and scans.
Here a second thread rewrites (and tries to resize) a bytearray the whole
time the core works on it, switching it between states A, B (the same bytes
permuted: another suffix array), A + one byte and B + one byte.  Each result must be the
core's result on one of those states as immutable bytes (the core works on
a snapshot); a core that read the bytearray in place while it changed
corrupts the heap (crash, or a sanitizer report under ASan) or returns a
mixture.  Run as a child so that a crash fails the test instead of ending
the test session.

    python tests/mutable_buffer_race.py ROUNDS
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from otapack.core.diff import _core

FIXTURES = Path(__file__).parent / "fixtures" / "corpus"


def main(rounds: int) -> int:
    a = (FIXTURES / "synthesizer-1.bin").read_bytes()
    other = (FIXTURES / "synthesizer-2.bin").read_bytes()
    b = a.translate(bytes(255 - i for i in range(256)))  # order reversed: a very different SA
    states = (a, b, a + b"\0", b + b"\0")
    expected_sa = {tuple(_core.suffix_array(s)) for s in states}
    expected_old = [_core.diff(s, other) for s in states]
    expected_new = [_core.diff(other, s) for s in states]
    index_other = _core.Index(other)

    buf = bytearray(a)
    stop = threading.Event()

    def mutate() -> None:
        while not stop.is_set():
            grown = len(buf) > len(a)
            body = slice(0, len(a))
            buf[body] = b  # same size: always allowed, even while exported
            buf[body] = a
            # Resizing is refused while a buffer is exported (BufferError);
            # the core must be safe whether it is refused or not.
            try:
                if grown:
                    del buf[-1]
                else:
                    buf.append(0)
            except BufferError:
                pass

    thread = threading.Thread(target=mutate)
    thread.start()
    failures = []
    try:
        for i in range(rounds):
            if tuple(_core.suffix_array(buf)) not in expected_sa:
                failures.append(f"round {i}: suffix_array(bytearray) is no state's suffix array")
            if _core.diff(buf, other) not in expected_old:
                failures.append(f"round {i}: diff(bytearray, new) is no state's diff")
            if _core.diff(other, buf) not in expected_new:
                failures.append(f"round {i}: diff(old, bytearray) is no state's diff")
            if index_other.diff(memoryview(buf)) not in expected_new:
                failures.append(f"round {i}: Index.diff(memoryview) is no state's diff")
            if _core.Index(buf).diff(other) not in expected_old:
                failures.append(f"round {i}: Index(bytearray).diff is no state's diff")
    finally:
        stop.set()
        thread.join()
    for line in failures:
        print(line)
    print("ok" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
