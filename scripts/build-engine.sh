#!/usr/bin/env bash
# Build visp-engine (native/engine/), the userspace tunnel data plane, only
# when its source is newer than the binary. Output: native/engine/build/visp-engine.
set -euo pipefail
cd "$(dirname "$0")/.."
srcs=(native/engine/*.c)
out=native/engine/build/visp-engine
stale=0
[[ -x $out && ! $0 -nt $out ]] || stale=1
for f in "${srcs[@]}" native/engine/*.h; do [[ $f -nt $out ]] && stale=1; done
if ((stale)); then
  mkdir -p native/engine/build
  ${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -Werror -o "$out.tmp" "${srcs[@]}"
  mv "$out.tmp" "$out"
fi
