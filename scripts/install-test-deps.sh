#!/usr/bin/env bash
# System packages the test suite needs beyond pip's: Debian's chromium, which
# tests/test_release.py uses to render release.html headless.  Idempotent:
# installs nothing when chromium is already on PATH.  apt-get needs root
# (CI runs as root); elsewhere sudo is used when it is there.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-test-deps.sh: chromium is missing and installing it needs root (apt-get)" >&2
        exit 1
    fi
    as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
