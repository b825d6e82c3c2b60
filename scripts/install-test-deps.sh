#!/usr/bin/env bash
# Every system package the test suite needs beyond pip, for a fresh Debian
# machine: the device library's toolchains (device/scripts/install-toolchains.sh:
# gcc, clang + libFuzzer, the Arm bare-metal toolchain, QEMU, liblzma and
# OpenSSL headers) and Debian's chromium (tests/test_release.py renders
# release.html headless).  Idempotent: when everything is present it installs
# nothing; otherwise one `apt-get update` and one `apt-get install`.  apt-get
# needs root (CI runs as root); elsewhere sudo is used when it is there.
set -euo pipefail
cd "$(dirname "$0")/.."

toolchains=device/scripts/install-toolchains.sh
wanted=()
if ! bash "$toolchains" --check >/dev/null 2>&1; then
    mapfile -t wanted < <(bash "$toolchains" --packages)
fi
command -v chromium >/dev/null 2>&1 || wanted+=(chromium)
if [ ${#wanted[@]} -eq 0 ]; then
    exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-test-deps.sh: missing ${wanted[*]}; installing them needs root (apt-get)" >&2
        exit 1
    fi
    as_root=(sudo)
fi
echo "install-test-deps.sh: installing ${wanted[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
# what the tests rely on is now there, or say what is not
bash "$toolchains" --check
command -v chromium >/dev/null
