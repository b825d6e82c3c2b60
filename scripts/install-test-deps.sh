#!/usr/bin/env bash
# System packages the test suite needs beyond pip's: Debian's chromium, which
# tests/test_release.py uses to render release.html headless.  Idempotent:
# installs nothing when chromium is already on PATH.  Needs root (apt-get).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps.sh: chromium is missing and installing it needs root (apt-get)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
