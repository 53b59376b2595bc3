# cmake/aarch64-linux-gnu.cmake: cross-build qloop for 64-bit ARM Linux on an x86-64 Debian
# host, and run the tests under qemu-user.
#
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user \
#       libsleef-dev:arm64 libpcre2-dev:arm64 libxxhash-dev:arm64 libjansson-dev:arm64
#   cmake -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#
# Libraries and headers come from Debian's arm64 multiarch folders; ctest prefixes every
# test with CMAKE_CROSSCOMPILING_EMULATOR. QLOOP_QEMU_CPU picks the emulated CPU (default
# "max": NEON, dotprod, fp16, i8mm; "cortex-a53" is ARMv8.0 without dotprod).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(QL_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${QL_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${QL_TRIPLE}-g++)

# Search the target's folders for libraries, headers and packages; the host's for programs.
set(CMAKE_FIND_ROOT_PATH /usr/${QL_TRIPLE})
set(CMAKE_LIBRARY_PATH /usr/lib/${QL_TRIPLE})
set(CMAKE_INCLUDE_PATH /usr/include/${QL_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# The x86-64 copies (e.g. /usr/include/x86_64-linux-gnu/sleef.h) must never be picked.
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /usr/include/x86_64-linux-gnu)

# pkg-config reads only the arm64 .pc files (the -L/-I they give point at the multiarch
# folders, which the cross linker searches anyway).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${QL_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# Tests run under qemu-user. The -dev:arm64 packages pull in libc6:arm64, whose loader
# (/lib/ld-linux-aarch64.so.1) finds every library in the multiarch folders. Only without
# it does qemu get -L /usr/aarch64-linux-gnu (the cross toolchain's libc): mixing that
# libc with the multiarch libraries hangs in the first pthread_create under qemu 7.2.
if(NOT DEFINED QLOOP_QEMU_CPU)
  set(QLOOP_QEMU_CPU max)
endif()
find_program(QL_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${QL_QEMU_AARCH64} -cpu ${QLOOP_QEMU_CPU})
if(NOT EXISTS /lib/ld-linux-aarch64.so.1)
  list(APPEND CMAKE_CROSSCOMPILING_EMULATOR -L /usr/${QL_TRIPLE})
endif()

# Debian's aarch64-linux-gnu-gcc 12.2 crashes (internal compiler error in
# vect_transform_reduction) on tests/kernels/test_kernels.c with -O3's default dynamic
# vectorizer cost model; the very-cheap model (-O2's) avoids it. It only limits
# auto-vectorisation: the NEON kernels are written with intrinsics.
set(CMAKE_C_FLAGS_INIT "-fvect-cost-model=very-cheap")
set(CMAKE_CXX_FLAGS_INIT "-fvect-cost-model=very-cheap")
