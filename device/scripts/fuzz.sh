#!/usr/bin/env bash
# Longer libFuzzer runs of the LZMA2 decoder against liblzma.
#   device/scripts/fuzz.sh [SECONDS] [CORPUS_DIR] [extra libFuzzer flags...]
# Defaults: 600 s, device/build/fuzz-corpus (kept between runs, seeded with
# valid streams the first time). A crash leaves crash-* in the current
# directory; replay with: device/build/fuzz/fuzz_lzma2 crash-...
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-600}"
corpus="${2:-$here/build/fuzz-corpus}"
shift $(( $# > 2 ? 2 : $# )) || true
command -v clang >/dev/null || { echo "clang missing: run device/scripts/install-toolchains.sh" >&2; exit 1; }
make -s -C "$here" fuzz O="$here/build/fuzz"
if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
    mkdir -p "$corpus"
    python3 "$here/scripts/fuzz_seeds.py" "$corpus"
fi
exec "$here/build/fuzz/fuzz_lzma2" -max_total_time="$seconds" -print_final_stats=1 "$@" "$corpus"
