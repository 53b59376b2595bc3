#!/usr/bin/env bash
# CI for the NEON level without an ARM machine: cross-build for aarch64 with Debian's
# gcc-aarch64-linux-gnu (arm64 multiarch for SLEEF and the other libraries) into
# build-arm64, then run under qemu-aarch64:
#   -cpu max         (ARMv8.x with dotprod: the sdot kernels)
#   -cpu cortex-a53  (ARMv8.0 without dotprod: the smull fallback; also proves nothing else
#                     in the NEON files needs more than ARMv8.0)
# the kernel tests (QLOOP_ISA unset, =scalar, =neon), the quant format test (dispatched
# table) and the stories260K model test (the qloop CLI it runs goes through
# QLOOP_TEST_EMULATOR, since binfmt_misc may be absent).
#
# Usage: .ci/neon.sh   (as root, or with sudo, when packages are missing)
# Exit status: 0 when every test of every pass passed.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
build=build-arm64
tests='^(test_kernels|test_kernels_isa_scalar|test_kernels_isa_neon|test_quant_kernels|test_quant_kernels_isa_neon|test_quant_formats|test_stories260k)$'
pkgs=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user
      libsleef-dev:arm64 libpcre2-dev:arm64 libxxhash-dev:arm64 libjansson-dev:arm64)

# ---- packages (apt only when something is missing) ------------------------------------
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "neon: installing ${missing[*]}"
    $sudo dpkg --add-architecture arm64
    if ! { $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
        >/tmp/qloop-neon-apt.log 2>&1; then
        tail -20 /tmp/qloop-neon-apt.log
        echo "neon: package install FAILED"
        exit 1
    fi
fi

# ---- cross build ----------------------------------------------------------------------
cmake --no-warn-unused-cli -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
      -DQL_WERROR=ON -DQL_BUILD_BENCH=OFF -DQLOOP_QEMU_CPU=max >/dev/null
if ! cmake --build "$build" -j "$(nproc)" >"$build/build.log" 2>&1; then
    grep -Ev '^\[ *[0-9]+%\]' "$build/build.log"
    echo "neon: cross build FAILED"
    exit 1
fi
built=$(date +%s)

# ---- tests under qemu, once per CPU model ---------------------------------------------
qemu=$(command -v qemu-aarch64 || command -v qemu-aarch64-static)
loader=()
[ -e /lib/ld-linux-aarch64.so.1 ] || loader=(-L /usr/aarch64-linux-gnu)
summary=()
status=0
for cpu in max cortex-a53; do
    cmake -B "$build" -DQLOOP_QEMU_CPU="$cpu" >/dev/null # ctest's emulator; no rebuild
    echo "neon: tests under $qemu -cpu $cpu"
    log="$build/ctest-$cpu.log"
    rc=0
    QLOOP_TEST_EMULATOR="$qemu -cpu $cpu ${loader[*]}" \
        ctest --test-dir "$build" -R "$tests" --output-on-failure --timeout 300 >"$log" 2>&1 || rc=$?
    grep -E 'Test +#|tests passed|FAILED|Failed' "$log" || true
    ((rc == 0)) || { status=1; cat "$log"; }
    summary+=("-cpu $cpu: $(grep -Eo '[0-9]+% tests passed.*' "$log" || echo 'ctest did not run')")
done
cmake -B "$build" -DQLOOP_QEMU_CPU=max >/dev/null

end=$(date +%s)
echo "==== neon summary ($(aarch64-linux-gnu-gcc -dumpfullversion) cross, $("$qemu" --version | head -1))"
for s in "${summary[@]}"; do echo "  $s"; done
echo "  build $((built - start)) s, tests $((end - built)) s, total $((end - start)) s"
if ((status)); then echo "neon: FAILED"; else echo "neon: OK"; fi
exit "$status"
