#!/usr/bin/env bash
# TypeScript types for our gRPC API, generated from proto/ (never edited, not
# committed). Runs only when a .proto (or this script) is newer than the
# generated code.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/api/gen
stamp=$out/.stamp
if [[ -f $stamp ]] && [[ -z $(find proto -name '*.proto' -newer "$stamp") ]] && [[ ! scripts/gen-proto.sh -nt $stamp ]]; then exit 0; fi
rm -rf "$out"
# (--includeDirs is an array option: it must not come right before the file list.)
node node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js \
  --longs=Number --enums=String --defaults --oneofs --grpcLib=@grpc/grpc-js \
  --includeDirs proto --outDir="$out" \
  visp/v1/links.proto visp/v1/operator.proto visp/v1/agent.proto 2>&1 | grep -v 'WARNING: This tool is in alpha' || true
# ES module resolution wants explicit extensions on relative imports.
find "$out" -name '*.ts' -exec sed -i -E "s#(from '\.{1,2}/[^']*)'#\1.js'#" {} +
touch "$stamp"
