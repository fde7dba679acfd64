#!/usr/bin/env bash
# Install what nn needs from Debian 12's packages (as root, or through sudo).
#   deps.sh            build + nnbench: compiler, CMake, hwloc, Check, Google Benchmark, and the
#                      peers nnbench compares with (OpenBLAS, oneDNN, NumPy for bench/*.py)
#   deps.sh --test     also the AArch64 cross compiler, qemu-user, Check for arm64, and Open MPI
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
pkgs=(build-essential cmake pkg-config libhwloc-dev check libbenchmark-dev libbenchmark-tools
      zlib1g-dev libopenblas-dev libdnnl-dev dataset-fashion-mnist python3 python3-numpy)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user clang-14 libclang-rt-14-dev libomp-14-dev
         libopenmpi-dev openmpi-bin)
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
  fi
  pkgs+=(check:arm64 libsubunit-dev:arm64 zlib1g-dev:arm64)
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "deps: ${#pkgs[@]} packages present"
