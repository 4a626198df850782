#!/usr/bin/env bash
# One setup step for both README commands: Debian packages the demo and tests
# need (only when missing), npm packages (only when the lockfile changed), and
# the build. Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: name -> a file it installs, so "present" is one stat each.
declare -A PKGS=(
  [iproute2]=/usr/sbin/ip
  [kmod]=/usr/bin/kmod
  [cpio]=/usr/bin/cpio
  [qemu-system-x86]=/usr/bin/qemu-system-x86_64
  [linux-image-amd64]=/usr/share/doc/linux-image-amd64
  [busybox-static]=/bin/busybox
  [strace]=/usr/bin/strace
  [iputils-ping]=/usr/bin/ping
  [iperf3]=/usr/bin/iperf3
  [gobgpd]=/usr/bin/gobgpd
  [bird2]=/usr/sbin/bird
  [golang-github-osrg-gobgp-dev]=/usr/share/gocode/src/github.com/osrg/gobgp/api/gobgp.proto
  [tshark]=/usr/bin/tshark
  # Not in a minimal Debian: pgrep (lab test, VM lane) and sysctl (e2e) ...
  [procps]=/usr/bin/pgrep
  # ... and xz, which unpacks Debian's kernel image for the VM lane's fast
  # boot (and its modules where they are .ko.xz).
  [xz-utils]=/usr/bin/xz
  # The deployment guide's test: openssl checks a rotated certificate,
  # systemd-analyze verifies the units in deploy/.
  [openssl]=/usr/bin/openssl
  [systemd]=/usr/bin/systemd-analyze
  # The operator's web page is tested in a real headless browser (playwright-core drives it).
  [chromium]=/usr/bin/chromium
  # `visp graph --format dot` is checked by Graphviz itself (and operators render it with it).
  [graphviz]=/usr/bin/dot
  # Several controllers keep their state in etcd; tests start a real 3-member cluster.
  [etcd-server]=/usr/bin/etcd
  [etcd-client]=/usr/bin/etcdctl
  # Metrics are scraped in a test by a real Prometheus.
  [prometheus]=/usr/bin/prometheus
  # Health tests block a link's encapsulation with nft inside a node namespace.
  [nftables]=/usr/sbin/nft
)
missing=()
for p in "${!PKGS[@]}"; do [[ -e "${PKGS[$p]}" ]] || missing+=("$p"); done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages (${missing[*]}) and not root: install them with apt-get" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lockfile is newer than what was installed.
stamp=node_modules/.visp-lock-stamp
if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi

bash scripts/build.sh
