#!/usr/bin/env bash
# Builds the eBPF tap program and its libbpf skeleton (called by binding.gyp, so `npm ci` and
# `npm run build:native` produce both; nothing generated is committed):
#   clang -target bpf -O2 -g  native/bpf/flow-tap.bpf.c  ->  <out>/flow-tap.bpf.o
#   bpftool gen skeleton                                  ->  <out>/flow-tap.skel.h (embeds the object)
# The program reads only the stable UAPI context (struct __sk_buff) and packet bytes, so it needs no CO-RE
# relocations and no vmlinux.h: it loads on kernels built without BTF. clang, llvm, libbpf-dev (bpf_helpers.h)
# and bpftool come from scripts/install-system-deps.sh. Usage: build-bpf.sh <repo-root> <out-dir>
set -euo pipefail
root=$1
out=$2
mkdir -p "$out"
bpftool=$(command -v bpftool || echo /usr/sbin/bpftool)
if [ ! -x "$bpftool" ]; then
  echo "build-bpf: bpftool not found; run scripts/install-system-deps.sh" >&2
  exit 1
fi
# -mcpu=v3: 32-bit atomics and fetch-or (Linux 5.12), used for the per-flow state bits.
# asm/types.h lives under the multiarch include directory.
clang -target bpf -mcpu=v3 -O2 -g -Wall -Werror -ffreestanding \
  -I"/usr/include/$(uname -m)-linux-gnu" \
  -c "$root/native/bpf/flow-tap.bpf.c" -o "$out/flow-tap.bpf.o.tmp"
mv "$out/flow-tap.bpf.o.tmp" "$out/flow-tap.bpf.o"
"$bpftool" gen skeleton "$out/flow-tap.bpf.o" name flow_tap > "$out/flow-tap.skel.h.tmp"
mv "$out/flow-tap.skel.h.tmp" "$out/flow-tap.skel.h"
