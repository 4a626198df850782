#!/usr/bin/env bash
# The BGP egress demo (run by scripts/demo.sh after the triangle, or alone):
# a slice whose router reaches "the Internet" through an egress node that
# announces the slice's public block to two providers, each a namespace
# running BIRD 2 (examples/egress.yaml). Needs root. Removes everything at
# the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then echo "demo-egress: needs root (it creates network namespaces)" >&2; exit 1; fi
[[ ${VISP_DEMO_SETUP_DONE:-} == 1 ]] || bash scripts/setup.sh >&2

LAB=egress
visp() { node dist/src/cli/main.js "$@"; }
say() { printf '%s\n' "$*"; }
if [[ -d /run/visp/lab-$LAB ]]; then visp lab down "$LAB"; fi
cleanup() {
  [[ -d /run/visp/lab-$LAB ]] || return 0
  say ""
  say "E4. visp lab down $LAB: withdraws the slice, stops the agents, gobgpd, both BIRDs, removes every namespace"
  visp lab down "$LAB" 2>&1 | sed 's/^ */   /'
}
trap cleanup EXIT

say "visp demo, part 2: BGP egress — the slice's block announced to two providers (BIRD 2), its traffic routed through them"
say ""
say "E1. visp lab up examples/egress.yaml"
sed -n '/^name:/,$p' examples/egress.yaml | grep -v '^#' | sed 's/^/   │ /'
say ""
visp lab up examples/egress.yaml 2>&1 | sed 's/^ */   /'
say ""

ns="visp-$LAB:r1"  # experiment namespaces are visp-<slice>:<router> (docs/ownership.md)
say "E2. From the experiment namespace $ns, ping each provider's host (IPv4 and IPv6)"
for dst in 198.19.253.1 198.19.253.2 2001:db8:fffd::1 2001:db8:fffd::2; do
  # The announcement and the provider routes follow Provision within a few seconds.
  for _ in $(seq 1 30); do ip netns exec "$ns" ping -c 1 -W 1 "$dst" >/dev/null 2>&1 && break; sleep 0.5; done
  say "   \$ ip netns exec $ns ping -c 2 $dst"
  if ! ip netns exec "$ns" ping -c 2 -i 0.3 -W 2 "$dst" 2>&1 | sed -n '/packets transmitted/p' | sed 's/^/   │ /'; then
    say "   demo: ping $dst failed" >&2; exit 1
  fi
done
say ""
say "E3. visp bgp: the egress node's sessions, what the slice announces, provider routes in its own table"
visp bgp | sed 's/^/   /'
say ""
say "   The slice's routing table on the egress node (never the node's main table):"
table=$(visp bgp --json | node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(r.nodes[0].slices[0].table)')
ip -n "vl-$LAB-e1" route show table "$table" | sed 's/^/   │ /'
