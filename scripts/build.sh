#!/usr/bin/env bash
# Build the native addon, the netlink and probe sockets (only when its source changed) and the TypeScript.
set -euo pipefail
cd "$(dirname "$0")/.."
node_bin=$(command -v node)
nodedir=${npm_config_nodedir:-$(dirname "$(dirname "$(readlink -f "$node_bin")")")}
addon=native/build/Release/visp_nl.node
stale=0
[[ -f $addon ]] || stale=1
for f in native/*.c native/*.h native/binding.gyp; do [[ $f -nt $addon ]] && stale=1; done
if (( stale )); then
  npx --no-install node-gyp rebuild -C native --nodedir="$nodedir" --silent
fi
bash scripts/gen-proto.sh
bash scripts/gen-gobgp.sh
bash scripts/build-engine.sh
# Incremental: with nothing changed this is ~3 s instead of ~15. The build
# info sits in dist/, so removing dist/ rebuilds everything.
npx --no-install tsc -p tsconfig.json --incremental --tsBuildInfoFile dist/.tsbuildinfo
