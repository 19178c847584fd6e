#!/usr/bin/env bash
# Builds the packet-parser/flow-table libFuzzer target with AddressSanitizer and UndefinedBehaviorSanitizer and
# runs it for N seconds (default 20) from the committed seed corpus (native/fuzz/corpus/parser). New inputs go
# to build/fuzz/corpus, crashes to build/fuzz/artifacts/; exits non-zero on any finding.
# Needs clang and libclang-rt-14-dev (scripts/install-system-deps.sh installs both).
set -euo pipefail
seconds="${1:-20}"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/build/fuzz"
mkdir -p "$out/corpus" "$out/artifacts"
CXX="${CXX_FUZZ:-clang++}"
if ! command -v "$CXX" >/dev/null; then
  echo "fuzz-parser: $CXX not found; run scripts/install-system-deps.sh" >&2
  exit 1
fi
"$CXX" -std=c++17 -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  "$root/native/fuzz/parser-fuzzer.cc" "$root/native/src/packet-parser.cc" "$root/native/src/flow-table.cc" \
  -o "$out/parser-fuzzer"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
"$out/parser-fuzzer" -max_total_time="$seconds" -max_len=2048 -print_final_stats=1 \
  -artifact_prefix="$out/artifacts/" "$out/corpus" "$root/native/fuzz/corpus/parser"
