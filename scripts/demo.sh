#!/usr/bin/env bash
# The first command (README): set up, then bring up the VINI-style triangle
# (examples/triangle.yaml) in lab mode — three node namespaces on an emulated
# underlay, a controller and an agent per node, the slice submitted through
# the Links API — ping across its virtual links, show the tunnel table, and
# take it all down.
#   bash scripts/demo.sh                 the demo
#   bash scripts/demo.sh --keep          leave the lab up afterwards (visp lab status, visp tunnels, …)
#   bash scripts/demo.sh --down          remove a kept lab
#   bash scripts/demo.sh --kernel-only [--keep|--down]
#                                        the kernel-layer example instead: one VXLAN link, no controller
set -euo pipefail
cd "$(dirname "$0")/.."

keep=0 down=0 kernel=0
for a in "$@"; do
  case $a in
    --keep) keep=1 ;;
    --down) down=1 ;;
    --kernel-only) kernel=1 ;;
    *) echo "demo: unknown option $a (have --keep, --down, --kernel-only)" >&2; exit 2 ;;
  esac
done
if [[ $(id -u) -ne 0 ]]; then
  echo "demo: needs root (it creates network namespaces); try: sudo bash scripts/demo.sh" >&2
  exit 1
fi
echo "setting up (Debian packages, npm packages, build)…" >&2
bash scripts/setup.sh >&2

if ((kernel)); then
  args=()
  ((keep)) && args+=(--keep)
  ((down)) && args+=(--down)
  exec node dist/examples/vxlan-pair.js "${args[@]}"
fi

LAB=triangle
visp() { node dist/src/cli/main.js "$@"; }
lab_is_up() { [[ -d /run/visp/lab-$LAB ]]; }

if ((down)); then
  if lab_is_up; then visp lab down "$LAB"; else echo "nothing to remove: lab $LAB is not up"; fi
  exit 0
fi
if lab_is_up; then
  echo "A kept demo lab is still up; taking it down first."
  visp lab down "$LAB"
  echo
fi

say() { printf '%s\n' "$*"; }
ok=0
finish() {
  if ((ok && keep)); then
    say ""
    say "Left running (--keep). Try:"
    say "   node dist/src/cli/main.js lab status"
    say "   node dist/src/cli/main.js describe $LAB"
    say "   ip netns exec $ns1 ping $v4_2"
    say "Remove everything with: bash scripts/demo.sh --down"
    return
  fi
  lab_is_up || return 0 # (lab up removes what it made when it fails)
  say ""
  say "7. visp lab down $LAB: Delete through the API, stop the agents and the controller, remove every namespace"
  visp lab down "$LAB" 2>&1 | sed 's/^ */   /'
  left=$(ls /run/netns 2>/dev/null | grep -E "^(vl-$LAB(-|\$)|visp-$LAB:)" || true)
  say "   namespaces left: ${left:-none}"
}
trap finish EXIT

say "visp demo: a VINI-style triangle of routers on three nodes, built through the gRPC API"
say ""
say "1. visp lab up examples/triangle.yaml"
sed -n '/^name:/,$p' examples/triangle.yaml | sed 's/^/   │ /'
say ""
visp lab up examples/triangle.yaml 2>&1 | sed 's/^ */   /'
say ""

# Addresses of r1 and r2 on their dual-stack link r1-r2, from the manifest (Describe).
read -r ns1 v4_1 v6_1 ns2 v4_2 v6_2 < <(visp describe "$LAB" --json | node -e '
  const m = JSON.parse(require("fs").readFileSync(0, "utf8")).manifest;
  const s = m.slivers.find((x) => x.link === "r1-r2");
  const ep = (n) => { const e = s.endpoints.find((x) => x.node === n);
    const a = (fam) => (e.addresses.find((c) => c.includes(":") === (fam === 6)) || "-").split("/")[0];
    return [e.netns, a(4), a(6)]; };
  console.log([...ep("r1"), ...ep("r2")].join(" "));')

ping_one() {
  local ns=$1 dst=$2 fam=$3
  say "   \$ ip netns exec $ns ping -$fam -c 3 $dst"
  if ! ip netns exec "$ns" ping "-$fam" -c 3 -i 0.3 -W 2 "$dst" 2>&1 | sed 's/^/   │ /'; then
    say "   demo: ping from $ns to $dst failed" >&2
    exit 1
  fi
}
say "2. Ping across link r1-r2 (VXLAN over the emulated underlay), both directions"
ping_one "$ns1" "$v4_2" 4
ping_one "$ns2" "$v4_1" 4
if [[ $v6_1 != - && $v6_2 != - ]]; then
  say ""
  say "3. The same link is dual stack: IPv6, both directions"
  ping_one "$ns1" "$v6_2" 6
  ping_one "$ns2" "$v6_1" 6
fi
say ""
say "4. The operator's tunnel table (visp tunnels --slice $LAB), counters included"
visp tunnels --slice "$LAB" | sed 's/^/   /'
say ""
say "5. Link health: every endpoint probes its link's far end through the link's own encapsulation (docs/operations.md)"
# One line from the tunnels' health, once every pair has answered (the probes start when a link is built).
health_line() {
  visp tunnels --slice "$LAB" --json | node -e '
    const ts = JSON.parse(require("fs").readFileSync(0, "utf8")).tunnels;
    const pairs = ts.flatMap((t) => t.health);
    const up = pairs.filter((h) => h.state === "OPERATIONAL_STATE_READY" && h.answered > 0);
    if (!pairs.length || up.length < pairs.length) { console.log(""); process.exit(0); }
    const p50 = up.map((h) => h.rttP50Ms), p99 = up.map((h) => h.rttP99Ms), loss = Math.max(...up.map((h) => h.loss));
    const ms = (v) => v.toFixed(3);
    console.log(`health: ${up.length} of ${pairs.length} member pairs answering on ${new Set(ts.map((t) => t.link)).size} links; ` +
      `RTT p50 ${ms(Math.min(...p50))}–${ms(Math.max(...p50))} ms, p99 up to ${ms(Math.max(...p99))} ms; loss ${(loss * 100).toFixed(1)}%`);'
}
line=""
for _ in $(seq 50); do line=$(health_line); [[ -n $line ]] && break; sleep 0.2; done
say "   ${line:-health: not every pair has answered yet (see visp tunnels)}"
say ""
svg="${TMPDIR:-/tmp}/visp-$LAB.svg"
say "6. The slice as a picture, links coloured by state (visp graph $LAB; also --format dot or mermaid)"
visp graph "$LAB" --out "$svg" | sed 's/^/   /'
ok=1

# Part 2: BGP egress (its own lab), after the triangle is taken down.
if ((!keep)); then
  finish
  trap - EXIT
  say ""
  VISP_DEMO_SETUP_DONE=1 bash scripts/demo-egress.sh
fi
