#!/usr/bin/env bash
# Installs the Debian packages the native tap needs to build (libpcap-dev, a C++ toolchain), to test
# (tcpdump, iproute2 for network namespaces and veth pairs) and to fuzz (clang with libFuzzer and the sanitizer
# runtimes). Idempotent: exits at once when everything is present; runs `apt-get update` only when a package is
# missing. Call it before `npm ci` (npm ci builds the addon through node-gyp).
set -euo pipefail

packages=(libpcap-dev tcpdump iproute2 iputils-ping g++ make python3 clang llvm libclang-rt-14-dev libbpf-dev bpftool)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-system-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-system-deps: installing ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
# Update the package lists only when apt cannot find a missing package in the current ones.
if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
  "${SUDO[@]}" apt-get update -qq
fi
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
