#!/usr/bin/env bash
# Build the native netlink socket (only when its source changed) and the TypeScript.
set -euo pipefail
cd "$(dirname "$0")/.."
node_bin=$(command -v node)
nodedir=${npm_config_nodedir:-$(dirname "$(dirname "$(readlink -f "$node_bin")")")}
addon=native/build/Release/visp_nl.node
if [[ ! -f $addon || native/nlsock.c -nt $addon || native/binding.gyp -nt $addon ]]; then
  npx --no-install node-gyp rebuild -C native --nodedir="$nodedir" --silent
fi
bash scripts/gen-proto.sh
bash scripts/gen-gobgp.sh
bash scripts/build-engine.sh
# Incremental: with nothing changed this is ~3 s instead of ~15. The build
# info sits in dist/, so removing dist/ rebuilds everything.
npx --no-install tsc -p tsconfig.json --incremental --tsBuildInfoFile dist/.tsbuildinfo
