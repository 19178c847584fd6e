#!/usr/bin/env bash
# Builds native/test/tap-stress.cc with ThreadSanitizer (the worker-thread/consumer boundary, without N-API)
# and runs it; any data race or a wrong record count fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/build/tsan"
mkdir -p "$out"
"${CXX_TSAN:-clang++}" -std=c++17 -g -O1 -fsanitize=thread -pthread \
  "$root/native/test/tap-stress.cc" "$root/native/src/tap.cc" "$root/native/src/synthetic-source.cc" \
  "$root/native/src/flow-table.cc" "$root/native/src/packet-parser.cc" -o "$out/tap-stress"
TSAN_OPTIONS="halt_on_error=1" "$out/tap-stress"
