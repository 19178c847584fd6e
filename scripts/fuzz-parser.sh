#!/usr/bin/env bash
# Builds the libFuzzer targets of the native tap with AddressSanitizer and UndefinedBehaviorSanitizer and runs
# them for N seconds in all (default 20, split between them), from the committed seed corpora:
#   parser      — packet parser + flow table      (native/fuzz/parser-fuzzer.cc, corpus native/fuzz/corpus/parser)
#   pcap-reader — classic-pcap reader + the above (native/fuzz/pcap-reader-fuzzer.cc, corpus .../pcap-reader)
# New inputs go to build/fuzz/<target>/corpus, crashes to build/fuzz/<target>/artifacts/; exits non-zero on any
# finding. Needs clang and libclang-rt-14-dev (scripts/install-system-deps.sh installs both).
# Usage: scripts/fuzz-parser.sh [seconds] [target…]
set -euo pipefail
seconds="${1:-20}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then targets=(parser pcap-reader); fi
root="$(cd "$(dirname "$0")/.." && pwd)"
CXX="${CXX_FUZZ:-clang++}"
if ! command -v "$CXX" >/dev/null; then
  echo "fuzz-parser: $CXX not found; run scripts/install-system-deps.sh" >&2
  exit 1
fi
per_target=$(( seconds / ${#targets[@]} ))
if [ "$per_target" -lt 1 ]; then per_target=1; fi
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
for target in "${targets[@]}"; do
  out="$root/build/fuzz/$target"
  mkdir -p "$out/corpus" "$out/artifacts"
  "$CXX" -std=c++17 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "$root/native/fuzz/$target-fuzzer.cc" "$root/native/src/packet-parser.cc" "$root/native/src/flow-table.cc" \
    -o "$out/fuzzer"
  echo "fuzz-parser: $target for ${per_target}s"
  if ! "$out/fuzzer" -max_total_time="$per_target" -max_len=4096 -print_final_stats=1 \
      -artifact_prefix="$out/artifacts/" "$out/corpus" "$root/native/fuzz/corpus/$target" > "$out/log" 2>&1; then
    tail -60 "$out/log" >&2
    echo "fuzz-parser: $target found a problem; the input is in $out/artifacts/, the log in $out/log" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|new_units_added)' "$out/log"
done
