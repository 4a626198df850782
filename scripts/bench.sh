#!/usr/bin/env bash
# npm run bench -- NAME : runs bench/NAME.ts after setup; its last line is JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: npm run bench -- NAME (one of: $(ls bench | sed -n 's/\.ts$//p' | tr '\n' ' '))}
[[ -f bench/$name.ts ]] || { echo "unknown benchmark '$name' (have: $(ls bench | sed -n 's/\.ts$//p' | tr '\n' ' '))" >&2; exit 2; }
bash scripts/setup.sh >&2
exec node dist/bench/$name.js "${@:2}"
