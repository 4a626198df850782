#!/usr/bin/env bash
# Build visp-engine (native/engine/), the userspace tunnel data plane, only
# when its source is newer than the binary. Output: native/engine/build/visp-engine.
set -euo pipefail
cd "$(dirname "$0")/.."
src=native/engine/engine.c
out=native/engine/build/visp-engine
if [[ ! -x $out || $src -nt $out || $0 -nt $out ]]; then
  mkdir -p native/engine/build
  ${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -Werror -o "$out.tmp" "$src"
  mv "$out.tmp" "$out"
fi
