#!/usr/bin/env bash
# The first command (README): set up, then bring up two experiment namespaces
# joined by a VXLAN link built by visp, ping across it, and remove it all.
#   bash scripts/demo.sh [--keep]   keep it running afterwards
#   bash scripts/demo.sh --down     remove a kept demo
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "demo: needs root (it creates network namespaces); try: sudo bash scripts/demo.sh" >&2
  exit 1
fi
echo "setting up (Debian packages, npm packages, build)…" >&2
bash scripts/setup.sh >&2
exec node dist/examples/vxlan-pair.js "$@"
