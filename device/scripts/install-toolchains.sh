#!/usr/bin/env bash
# Installs what device/ needs to build and test: the host C compilers, the
# Arm bare-metal toolchain, QEMU for Cortex-M, libFuzzer, and the two
# oracle/port libraries (liblzma, OpenSSL libcrypto).
#
# Idempotent: when every tool and header below is present it changes nothing.
# Otherwise, as root, one `apt-get update` and one `apt-get install`.
# `--check` only reports what is missing (exit 1 when anything is);
# `--packages` prints the Debian packages it would install, one a line (the
# repository's scripts/install-test-deps.sh folds them into its one apt run).
set -euo pipefail

PACKAGES=(gcc make cmake clang libclang-rt-14-dev gcc-arm-none-eabi binutils-arm-none-eabi
          qemu-system-arm liblzma-dev libssl-dev)

missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (command)"); }
need_file() { [ -e "$1" ] || missing+=("$1"); }

check() {
    missing=()
    for c in gcc make cmake clang arm-none-eabi-gcc arm-none-eabi-size arm-none-eabi-objcopy qemu-system-arm; do
        need_cmd "$c"
    done
    need_file /usr/include/lzma.h
    need_file /usr/include/openssl/evp.h
    # libFuzzer ships in libclang-rt-NN-dev, separately from clang itself.
    if command -v clang >/dev/null 2>&1; then
        local rt
        rt="$(clang -print-resource-dir 2>/dev/null)"
        local found=no f
        for f in "$rt"/lib/linux/libclang_rt.fuzzer-x86_64.a "$rt"/lib/*/libclang_rt.fuzzer.a; do
            [ -e "$f" ] && found=yes
        done
        [ "$found" = yes ] || missing+=("libFuzzer runtime under $rt")
    fi
}

if [ "${1:-}" = "--packages" ]; then
    printf '%s\n' "${PACKAGES[@]}"
    exit 0
fi
check
if [ "${1:-}" = "--check" ]; then
    if [ ${#missing[@]} -eq 0 ]; then echo "device toolchains: all present"; exit 0; fi
    printf 'device toolchains: missing %s\n' "${missing[@]}" >&2
    exit 1
fi
if [ ${#missing[@]} -eq 0 ]; then
    echo "device toolchains: all present, nothing to do"
    exit 0
fi
printf 'device toolchains: missing %s\n' "${missing[@]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "device toolchains: run as root (apt-get) or install: ${PACKAGES[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${PACKAGES[@]}"
check
if [ ${#missing[@]} -ne 0 ]; then
    printf 'device toolchains: still missing after install: %s\n' "${missing[@]}" >&2
    exit 1
fi
echo "device toolchains: installed"
