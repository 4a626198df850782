#!/usr/bin/env bash
# TypeScript types for GoBGP's gRPC API, generated from the .proto files the
# Debian package golang-github-osrg-gobgp-dev installs (never edited, not
# committed). Runs only when a .proto is newer than the generated code.
# GOBGP_PROTO_DIR overrides where the protos are.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${GOBGP_PROTO_DIR:-/usr/share/gocode/src/github.com/osrg/gobgp/api}
out=src/bgp/gen
stamp=$out/.stamp
if [[ ! -f $src/gobgp.proto ]]; then
  echo "gen-gobgp: $src/gobgp.proto not found (apt-get install golang-github-osrg-gobgp-dev, or set GOBGP_PROTO_DIR)" >&2
  exit 1
fi
if [[ -f $stamp ]] && [[ -z $(find "$src" -name '*.proto' -newer "$stamp") ]] && [[ ! scripts/gen-gobgp.sh -nt $stamp ]]; then exit 0; fi
rm -rf "$out"
# Same options as src/bgp/proto.ts loads them with (json: Any values decoded
# into objects with "@type"). --includeDirs must not come right before the files.
node node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js \
  --longs=Number --enums=String --defaults --oneofs --json --grpcLib=@grpc/grpc-js \
  --includeDirs "$src" --outDir="$out" \
  gobgp.proto attribute.proto capability.proto 2>&1 | grep -v 'WARNING: This tool is in alpha' || true
# ES module resolution wants explicit extensions on relative imports.
find "$out" -name '*.ts' -exec sed -i -E "s#(from '\.{1,2}/[^']*)'#\1.js'#" {} +
touch "$stamp"
