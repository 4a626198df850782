#!/usr/bin/env bash
# VM lane: run test/vm/**/*.test.ts inside a stock Debian kernel under qemu,
# because this machine's kernel lacks the GRE family (see docs/vm-lane.md).
#
#   bash test/vm/lane.sh [vitest args...]     e.g. bash test/vm/lane.sh smoke
#
# Boots /boot/vmlinuz-<newest with /lib/modules> with a cached initramfs
# (.vm/), shares the host root read-only over 9p (tag hostroot, tmpfs overlay
# in the guest) and a fresh writable dir (tag vmout) for results. Writes
# .test-results/vm.json (vitest JSON; a failure record if the VM could not
# boot or the run died) and .test-results/vm-console.log. Exits non-zero
# unless the guest ran the tests and they passed.
#
# Environment:
#   VISP_VM_ACCEL=auto|kvm|tcg   default auto: KVM with a short sign-of-life
#                                timeout, then TCG
#   VISP_VM_TIMEOUT=900          seconds for the whole VM run, then fail
#   VISP_VM_MEM=2048 VISP_VM_SMP=2
#   VISP_VM_KERNEL=/boot/vmlinuz-X   override the kernel choice
#   VISP_VM_PVH=0                boot the bzImage, not the unpacked vmlinux
#   VISP_VM_APPEND='...'         extra kernel parameters
#   VISP_VM_CMD='...'            debugging: run this bash command in the guest
#                                (from the repo dir) instead of vitest
#   VISP_VM_NET=auto|0|1         network mode, for the tests that need the host
#                                (test/vm/interop-gre.test.ts, test/vm/mtls-hosts.test.ts):
#                                qemu runs in a fresh host namespace vt-vmlane-…
#                                with two tap NICs, and the host side of each
#                                selected file runs there (interop-host.ts:
#                                visp-engine; mtls-host.ts: the controller and
#                                node h1). auto (default): on when one of them
#                                is selected (no filter, or a filter naming it)
set -uo pipefail

T0=$(date +%s.%N)
cd "$(dirname "$0")/../.." || exit 1
REPO=$(pwd -P)
RESULTS=$REPO/.test-results
CACHE=$REPO/.vm

ACCEL=${VISP_VM_ACCEL:-auto}
NET=${VISP_VM_NET:-auto}
# Which host sides to run: those of the selected files (all without a filter).
INTEROP=0 MTLS=0
if [ -z "${VISP_VM_CMD:-}" ]; then
  files=0
  for a in "$@"; do
    case $a in -*) continue ;; esac
    files=1
    [[ test/vm/interop-gre.test.ts == *"$a"* ]] && INTEROP=1
    [[ test/vm/mtls-hosts.test.ts == *"$a"* ]] && MTLS=1
  done
  [ $files = 0 ] && INTEROP=1 MTLS=1
fi
if [ "$NET" = auto ]; then
  NET=0
  { [ $INTEROP = 1 ] || [ $MTLS = 1 ]; } && NET=1
fi
[ "$NET" = 1 ] || INTEROP=0 MTLS=0
TIMEOUT=${VISP_VM_TIMEOUT:-900}
MEM=${VISP_VM_MEM:-2048}
SMP=${VISP_VM_SMP:-2}
KVM_SIGN_TIMEOUT=20   # KVM reaches /init in ~1 s; a hang shows nothing at all
TCG_SIGN_TIMEOUT=120  # TCG reaches /init in a few seconds

log() { echo "vm-lane: $*"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# Record a failure in vm.json (keeping whatever vitest wrote, if anything)
# and exit non-zero. Never leaves a passing or missing result behind.
fail() {
  local reason=$1
  echo "vm-lane: FAILED: $reason" >&2
  REASON=$reason node -e '
    const fs = require("fs"), f = process.argv[1];
    let r = {};
    try { r = JSON.parse(fs.readFileSync(f, "utf8")); } catch {}
    r.numFailedTests = Math.max(1, r.numFailedTests ?? 0);
    r.numPassedTests ??= 0; r.numPendingTests ??= 0;
    r.numTotalTests = Math.max(r.numTotalTests ?? 0, r.numPassedTests + r.numFailedTests);
    r.success = false;
    r.vmLaneError = process.env.REASON;
    fs.writeFileSync(f, JSON.stringify(r) + "\n");
  ' "$RESULTS/vm.json" 2>/dev/null \
    || { printf '{"numPassedTests":0,"numFailedTests":1,"numPendingTests":0,"numTotalTests":1,"success":false}\n' >"$RESULTS/vm.json"; } 2>/dev/null
  log "total lane time $(elapsed "$T0")s"
  exit 1
}

# ------------------------------------------------------------ preconditions
[ "$(id -u)" = 0 ] || fail "must run as root (the guest reads the whole host root over 9p and the tests need root in the guest)"
mkdir -p "$RESULTS"
rm -f "$RESULTS/vm.json" "$RESULTS/vm-console.log"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 not found (Debian package qemu-system-x86; scripts/setup.sh installs it)"
BUSYBOX=$(command -v busybox || true)
[ -x /bin/busybox ] && BUSYBOX=/bin/busybox
[ -n "$BUSYBOX" ] || fail "busybox not found (Debian package busybox-static)"
ldd "$BUSYBOX" >/dev/null 2>&1 && fail "$BUSYBOX is dynamically linked; install busybox-static"
command -v cpio >/dev/null || fail "cpio not found (Debian package cpio)"
[ -x node_modules/.bin/vitest ] || fail "node_modules/.bin/vitest missing (run scripts/setup.sh)"

# -------------------------------------------------------------- the kernel
if [ -n "${VISP_VM_KERNEL:-}" ]; then
  KERNEL=$VISP_VM_KERNEL
  KVER=${KERNEL##*/vmlinuz-}
else
  KERNEL='' KVER=''
  for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V -r); do
    if [ -d "/lib/modules/$k" ]; then KERNEL=/boot/vmlinuz-$k KVER=$k; break; fi
  done
fi
[ -n "$KERNEL" ] && [ -r "$KERNEL" ] && [ -d "/lib/modules/$KVER" ] \
  || fail "no /boot/vmlinuz-* with a matching /lib/modules dir (Debian package linux-image-amd64)"
MODDIR=/lib/modules/$KVER

# Under TCG the bzImage's own xz decompressor takes ~4 s. When the kernel has
# a PVH entry point (Debian's has: CONFIG_PVH), unpack vmlinux once on the
# host (cached) and let qemu enter it directly. VISP_VM_PVH=0 turns this off.
BOOT_IMAGE=$KERNEL
if [ "${VISP_VM_PVH:-1}" != 0 ] && command -v readelf >/dev/null; then
  kkey=$(sha256sum <"$KERNEL" | cut -c1-12)
  VMLINUX=$CACHE/vmlinux-$KVER-$kkey
  if [ ! -s "$VMLINUX" ] && [ ! -e "$VMLINUX.nopvh" ]; then
    mkdir -p "$CACHE"
    # The payload is the first compressed stream that unpacks to an ELF image.
    for magic in '\xfd7zXZ\x00' '\x28\xb5\x2f\xfd' '\x1f\x8b\x08' '\x02\x21\x4c\x18' '\x5d\x00\x00'; do
      for off in $(LC_ALL=C grep -obUaP "$magic" "$KERNEL" 2>/dev/null | cut -d: -f1 | head -n 3); do
        case $magic in
          *fd7z*) unpack='xz -dc' ;; *28*) unpack='zstd -qdc' ;; *1f*) unpack='gzip -dc' ;;
          *4c*) unpack='lz4 -dc' ;; *) unpack='lzma -dc' ;;
        esac
        tail -c +"$((off + 1))" "$KERNEL" | $unpack >"$VMLINUX.tmp" 2>/dev/null
        [ "$(head -c 4 "$VMLINUX.tmp" 2>/dev/null)" = $'\x7fELF' ] && break 2
      done
    done
    # PVH entry = Xen ELF note type 0x12 (XEN_ELFNOTE_PHYS32_ENTRY).
    if [ -s "$VMLINUX.tmp" ] && readelf -n "$VMLINUX.tmp" 2>/dev/null | grep -qE '^[[:space:]]+Xen[[:space:]].*(\(0x00000012\)|PHYS32_ENTRY)'; then
      mv "$VMLINUX.tmp" "$VMLINUX"
      find "$CACHE" -maxdepth 1 -name "vmlinux-$KVER-*" ! -name "${VMLINUX##*/}" -delete
    else
      rm -f "$VMLINUX.tmp"
      : >"$VMLINUX.nopvh"
    fi
  fi
  [ -s "$VMLINUX" ] && BOOT_IMAGE=$VMLINUX
fi

# ------------------------------------------------------------ the initramfs
# Wanted modules, '?' = may be absent in this kernel. Dependencies come from
# modules.dep, so the insmod order is always a valid one.
WANTED='virtio virtio_ring virtio_pci_modern_dev? virtio_pci_legacy_dev? virtio_pci netfs? fscache? 9pnet 9pnet_virtio 9p overlay'

declare -A SEEN=()
ORDER=()
modpath() { # module name -> path relative to $MODDIR ('' if not a module)
  local n=$1 alt=${1//_/-}
  awk -F: -v a="/$n.ko" -v b="/$alt.ko" '
    { p = $1; sub(/\.(xz|zst|gz)$/, "", p) }
    substr(p, length(p) - length(a) + 1) == a || substr(p, length(p) - length(b) + 1) == b { print $1; exit }
  ' "$MODDIR/modules.dep"
}
resolve() { # add a module file and its dependencies, dependencies first
  local rel=$1 d
  [ -n "${SEEN[$rel]:-}" ] && return
  SEEN[$rel]=1
  for d in $(awk -F': *' -v m="$rel" '$1 == m { print $2; exit }' "$MODDIR/modules.dep"); do
    resolve "$d"
  done
  ORDER+=("$rel")
}
for w in $WANTED; do
  name=${w%\?}
  rel=$(modpath "$name")
  if [ -n "$rel" ]; then
    resolve "$rel"
  elif grep -qE "/(${name}|${name//_/-})\.ko$" "$MODDIR/modules.builtin" 2>/dev/null; then
    :
  elif [ "$name" = "$w" ]; then
    fail "kernel $KVER has no module $name (built in or loadable)"
  fi
done

INIT=test/vm/init.sh
KEY=$( { echo "$KVER"; cat "$INIT"; printf '%s\n' "${ORDER[@]}"; sha256sum <"$BUSYBOX"; } | sha256sum | cut -c1-16)
INITRD=$CACHE/initramfs-$KVER-$KEY.cpio.gz
if [ ! -s "$INITRD" ]; then
  t=$(date +%s.%N)
  mkdir -p "$CACHE"
  stage=$(mktemp -d "$CACHE/build.XXXXXX")
  mkdir -p "$stage/bin" "$stage/modules"
  cp "$BUSYBOX" "$stage/bin/busybox"
  install -m 0755 "$INIT" "$stage/init"
  : >"$stage/modules.order"
  for rel in "${ORDER[@]}"; do
    base=${rel##*/}
    case "$base" in
      *.ko.xz) base=${base%.xz}; xz -dc "$MODDIR/$rel" >"$stage/modules/$base" ;;
      *.ko.zst) base=${base%.zst}; zstd -qdc "$MODDIR/$rel" >"$stage/modules/$base" ;;
      *.ko.gz) base=${base%.gz}; gzip -dc "$MODDIR/$rel" >"$stage/modules/$base" ;;
      *) cp "$MODDIR/$rel" "$stage/modules/$base" ;;
    esac || fail "cannot unpack module $rel"
    echo "${base%.ko}" >>"$stage/modules.order"
  done
  (cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$INITRD.tmp" \
    || fail "cannot build the initramfs"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$stage"
  # Older initramfs images of this kernel are stale now.
  find "$CACHE" -maxdepth 1 -name "initramfs-$KVER-*.cpio.gz" ! -name "${INITRD##*/}" -delete
  log "built ${INITRD#$REPO/} in $(elapsed "$t")s (${#ORDER[@]} modules)"
fi

# ------------------------------------------------------------------- the run
# Per run: RUN holds the console log and qemu's pid file, RUN/share is the
# guest's writable share. Nothing shared between concurrent runs but .vm/.
RUN=$(mktemp -d /tmp/visp-vm.XXXXXX)
OUT=$RUN/share
CONSOLE=$RUN/console.log
mkdir "$OUT"
QPID='' TPID='' HPID='' MPID='' NETNS=''
cleanup() {
  [ -n "$QPID" ] && stop_vm
  [ -n "$TPID" ] && kill "$TPID" 2>/dev/null
  [ -n "$HPID" ] && kill "$HPID" 2>/dev/null
  [ -n "$MPID" ] && kill "$MPID" 2>/dev/null
  if [ -n "$NETNS" ]; then
    # Whatever still runs in the lane's namespaces (an engine or agent whose helper was killed) goes with them,
    # and so do the namespaces the helpers made: the interop's experiment side, node h1 and its slice's.
    for ns in "$NETNS" "${NETNS}h"; do
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    done
    for ns in "${NETNS}x" "${NETNS}h" $(ip netns list 2>/dev/null | awk -v p="visp-$NETNS-mtls-" 'index($1, p) == 1 { print $1 }'); do
      ip netns del "$ns" 2>/dev/null
    done
    ip netns del "$NETNS" 2>/dev/null
  fi
  [ -f "$CONSOLE" ] && tr -d '\r' <"$CONSOLE" >"$RESULTS/vm-console.log"
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM

{
  echo "cd $(printf %q "$REPO") || exit 1"
  if [ -n "${VISP_VM_CMD:-}" ]; then
    printf '%s\n' "$VISP_VM_CMD"
  else
    printf 'exec node_modules/.bin/vitest run --config test/vm/vitest.config.ts --reporter=default --reporter=json --outputFile.json=/run/vmout/vm.json'
    printf ' %q' "$@"
    echo
  fi
} >"$OUT/run.sh"
cat >"$OUT/env" <<EOF
VISP_VM_REPO=$REPO
VISP_HOST_KERNEL=$(uname -r)
VISP_GUEST_KERNEL=$KVER
VISP_VM_NET=$NET
VISP_VM_MTLS=$MTLS
EOF

# Network mode: a fresh namespace on the host holds qemu's taps (never the
# root namespace); the host sides work in it. vmtap0 (the guest's first NIC,
# 52:54:00:9a:00:02) is the interop's; vmtap1 (the second, :03) the LAN of
# the proof on separate kernels (test/vm/mtls-net.ts).
QEMU_NET=(-nic none) QEMU_WRAP=()
if [ "$NET" = 1 ]; then
  NETNS=vt-vmlane-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  ip netns add "$NETNS" || fail "cannot create namespace $NETNS"
  ip -n "$NETNS" link set lo up
  QEMU_NET=(-netdev "tap,id=n0,ifname=vmtap0,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=52:54:00:9a:00:02"
            -netdev "tap,id=n1,ifname=vmtap1,script=no,downscript=no" -device "virtio-net-pci,netdev=n1,mac=52:54:00:9a:00:03")
  QEMU_WRAP=(ip netns exec "$NETNS")
fi

# The console streams to stdout without kernel messages (lines starting with a
# printk timestamp); the full log stays in .test-results/vm-console.log.
# Firmware chatter and terminal escapes are dropped too.
stream() {
  tail -n +1 -f --pid="$QPID" "$CONSOLE" 2>/dev/null \
    | sed -u -E 's/\x1b(\[[0-9;?]*[A-Za-z]|[a-z])//g; s/\r//g; s/^Booting from ROM\.*//' \
    | grep --line-buffered -vE '^\[ *[0-9]+\.[0-9]+\] |^SeaBIOS |^Booting from ROM|^qemu exited with 0$' &
  TPID=$!
}
seen() { grep -q "$1" "$CONSOLE" 2>/dev/null; }

# start_vm ACCEL: starts qemu in the background. QPID is a subshell waiting
# for it (so a qemu abort is reported in the console log, not by this shell);
# qemu's own pid is in $RUN/qemu.pid.
start_vm() {
  local accel=$1 cpu=${VISP_VM_CPU:-max}
  [ "$accel" = kvm ] && cpu=host
  echo "VISP_VM_ACCEL=$accel" >>"$OUT/env"
  : >"$CONSOLE"
  rm -f "$RUN/qemu.pid"
  QSTART=$(date +%s.%N)
  (
    "${QEMU_WRAP[@]}" qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -m "$MEM" -smp "$SMP" \
      -nographic -no-reboot "${QEMU_NET[@]}" -pidfile "$RUN/qemu.pid" \
      -kernel "$BOOT_IMAGE" -initrd "$INITRD" \
      -append "console=ttyS0 quiet loglevel=3 panic=-1 ${VISP_VM_APPEND:-} visp.host_uname=$(uname -r)" \
      -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
      -virtfs "local,path=$OUT,mount_tag=vmout,security_model=none,multidevs=remap" \
      -virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on,multidevs=remap" \
      </dev/null
    echo "qemu exited with $?"
  ) >>"$CONSOLE" 2>&1 &
  QPID=$!
}
stop_vm() {
  local qemu
  qemu=$(cat "$RUN/qemu.pid" 2>/dev/null || pgrep -P "$QPID")
  [ -n "$qemu" ] && { kill "$qemu" 2>/dev/null; sleep 0.5; kill -9 "$qemu" 2>/dev/null; }
  wait "$QPID" 2>/dev/null
  QPID=''
  [ -n "$TPID" ] && { kill "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null; TPID=''; }
}
# wait_sign SECONDS: 0 once the guest's /init spoke, 1 on timeout, 2 if qemu died.
wait_sign() {
  local deadline=$(( $(date +%s) + $1 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    seen 'visp-vm: initramfs up' && return 0
    kill -0 "$QPID" 2>/dev/null || return 2
    sleep 0.2
  done
  return 1
}

booted=''
if [ "$ACCEL" = auto ] || [ "$ACCEL" = kvm ]; then
  if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    start_vm kvm
    wait_sign "$KVM_SIGN_TIMEOUT"; rc=$?
    if [ $rc = 0 ]; then
      booted=kvm
    else
      why=$([ $rc = 1 ] && echo "no sign of life in ${KVM_SIGN_TIMEOUT}s" || echo "qemu exited: $(grep -m1 '^qemu-system-x86_64: ' "$CONSOLE" || tail -n 1 "$CONSOLE")")
      stop_vm
      [ "$ACCEL" = kvm ] && fail "KVM: $why"
      log "KVM unusable ($why); falling back to TCG"
    fi
  else
    [ "$ACCEL" = kvm ] && fail "/dev/kvm not usable"
    log "no usable /dev/kvm; using TCG"
  fi
fi
if [ -z "$booted" ]; then
  start_vm tcg
  wait_sign "$TCG_SIGN_TIMEOUT"; rc=$?
  if [ $rc != 0 ]; then
    tail -n 20 "$CONSOLE" | tr -d '\r'
    stop_vm
    fail "TCG: the guest never reached its init (see .test-results/vm-console.log)"
  fi
  booted=tcg
fi
log "kernel $KVER$([ "$BOOT_IMAGE" != "$KERNEL" ] && echo ' (PVH entry)'), accel $booted, ${MEM} MiB, $SMP vCPUs$([ "$NET" = 1 ] && echo ", tap NICs in $NETNS")"
if [ "$INTEROP" = 1 ]; then
  # The host side of the interop, on the host: visp-engine in $NETNS facing the guest's kernel GRE.
  node --import tsx test/vm/interop-host.ts --netns "$NETNS" --out "$OUT" --timeout-s "$TIMEOUT" >"$RUN/interop-host.log" 2>&1 &
  HPID=$!
fi
if [ "$MTLS" = 1 ]; then
  # The host side of the proof on separate kernels: the controller (TCP, mTLS) in $NETNS, node h1 in ${NETNS}h.
  # nsenter, not ip netns exec: the namespaces it makes must be the host's (same mount namespace).
  nsenter --net="/run/netns/$NETNS" -- node --import tsx test/vm/mtls-host.ts --netns "$NETNS" --out "$OUT" --timeout-s "$TIMEOUT" >"$RUN/mtls-host.log" 2>&1 &
  MPID=$!
fi
stream

deadline=$(( $(date +%s) + TIMEOUT ))
BOOT_S=''
while kill -0 "$QPID" 2>/dev/null; do
  if [ -z "$BOOT_S" ] && seen 'visp-vm: running tests'; then
    BOOT_S=$(elapsed "$QSTART"); TSTART=$(date +%s.%N)
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    stop_vm
    fail "timeout: the VM ran longer than ${TIMEOUT}s"
  fi
  sleep 0.2
done
wait "$QPID"
QPID=''
qrc=$(sed -n 's/^qemu exited with //p' "$CONSOLE" | tail -n 1)
wait "$TPID" 2>/dev/null; TPID=''
[ -n "$BOOT_S" ] && log "boot ${BOOT_S}s (qemu start to the test command), tests $(elapsed "$TSTART")s, VM total $(elapsed "$QSTART")s"

HOST_RC=''
if [ -n "$HPID" ]; then
  # The guest is done: the helper finishes at once if the interop ran, else it is stopped.
  for _ in $(seq 1 50); do kill -0 "$HPID" 2>/dev/null || break; sleep 0.2; done
  kill "$HPID" 2>/dev/null
  wait "$HPID"; HOST_RC=$?
  HPID=''
  sed 's/^/vm-lane: /' "$RUN/interop-host.log"
fi
MTLS_RC=''
if [ -n "$MPID" ]; then
  # Likewise; its teardown (agent, engine, controller, namespaces) takes a few seconds.
  for _ in $(seq 1 100); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.2; done
  kill "$MPID" 2>/dev/null
  wait "$MPID"; MTLS_RC=$?
  MPID=''
  sed 's/^/vm-lane: /' "$RUN/mtls-host.log"
fi

if [ -n "${VISP_VM_CMD:-}" ]; then
  code=$(cat "$OUT/exit-code" 2>/dev/null || echo 'none')
  log "VISP_VM_CMD exited with $code (debug run: no test results); total lane time $(elapsed "$T0")s"
  [ "$code" = 0 ]; exit
fi
[ -f "$OUT/vm.json" ] && cp "$OUT/vm.json" "$RESULTS/vm.json"
[ -f "$OUT/fatal" ] && fail "guest: $(cat "$OUT/fatal")"
if [ ! -f "$OUT/exit-code" ]; then
  echo "vm-lane: the guest died; last console lines:"
  tail -n 25 "$CONSOLE" | tr -d '\r' | sed 's/^/  | /'
  fail "the guest ended without an exit code (qemu exit $qrc; see .test-results/vm-console.log)"
fi
code=$(cat "$OUT/exit-code")
[ "$code" = 0 ] || fail "the tests in the VM exited with $code"
# The interop ran (the guest side got going): its host side must have passed too.
[ -f "$OUT/guest-ready" ] && [ "$HOST_RC" != 0 ] && fail "the interop's host side (test/vm/interop-host.ts) failed (exit $HOST_RC)"
[ -f "$OUT/mtls/guest-started" ] && [ "$MTLS_RC" != 0 ] && fail "the host side of the proof on separate kernels (test/vm/mtls-host.ts) failed (exit $MTLS_RC)"
[ -f "$RESULTS/vm.json" ] || fail "the tests in the VM wrote no vm.json"
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  process.exit(r.success !== false && r.numPassedTests > 0 && !r.numFailedTests ? 0 : 1)' "$RESULTS/vm.json" \
  || fail "vm.json reports no passed tests or a failure"
log "passed; total lane time $(elapsed "$T0")s"
