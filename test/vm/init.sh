#!/bin/busybox sh
# /init of the VM lane's initramfs (test/vm/lane.sh builds it; its content is
# part of the cache key). Stage 1 runs here on busybox: load the virtio/9p/
# overlay modules, mount the host's root (9p tag "hostroot") read-only with a
# tmpfs overlay on top, mount the writable results share (tag "vmout") and
# switch_root into the overlay. Stage 2 (below, after switch_root) still runs
# on this busybox, so it does not depend on what the host root provides.
#
# Contract with lane.sh: the host writes vmout/run.sh (the test command, run
# with the host's bash from the repo dir) and vmout/env (KEY=VALUE lines);
# the guest writes vmout/exit-code and prints "visp-vm: ..." markers on the
# console. Any failure before the exit code is written powers the VM off (or
# panics, and panic=-1 plus qemu's -no-reboot end qemu): never a silent pass.

BB=/bin/busybox

die() {
  echo "visp-vm: FATAL: $*"
  for f in /newroot/run/vmout /run/vmout; do
    [ -d $f ] && echo "init: $*" >$f/fatal 2>/dev/null && break
  done
  $BB sync
  $BB poweroff -f
  sleep 5
  exit 1
}

if [ "$1" != stage2 ]; then
  # ---------------------------------------------------------------- stage 1
  $BB mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin /newroot /lower /rw
  $BB --install -s
  export PATH=/bin:/sbin:/usr/bin:/usr/sbin
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mount -t devtmpfs devtmpfs /dev 2>/dev/null
  echo "visp-vm: initramfs up ($(cut -d' ' -f1 /proc/uptime)s)"

  for m in $(cat /modules.order); do
    insmod "/modules/$m.ko" || die "insmod $m failed"
  done

  # 9p: trans=virtio over the hostroot tag; cache=loose makes node_modules
  # lookups much cheaper than cache=none; msize 512k is virtio's maximum here.
  o9p=trans=virtio,version=9p2000.L,msize=512000,cache=loose
  mount -t 9p -o "ro,$o9p" hostroot /lower || die "mount 9p hostroot failed"
  mount -t tmpfs -o mode=0755,size=75% rw /rw || die "mount tmpfs failed"
  mkdir -p /rw/upper /rw/work
  mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \
    || die "mount overlay failed"

  # Fresh kernel file systems in the new root; /run and /tmp are the guest's own.
  for d in proc sys dev run tmp; do mkdir -p /newroot/$d; done
  mount --move /proc /newroot/proc
  mount --move /sys /newroot/sys
  mount --move /dev /newroot/dev
  mkdir -p /newroot/dev/pts /newroot/dev/shm
  mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /newroot/dev/pts
  mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
  mount -t tmpfs -o mode=0755 run /newroot/run
  mount -t tmpfs -o mode=1777 tmp /newroot/tmp
  mkdir -p /newroot/run/vmout /newroot/run/visp/bin /newroot/run/netns
  mount -t 9p -o "rw,trans=virtio,version=9p2000.L,msize=512000,cache=none" vmout /newroot/run/vmout \
    || die "mount 9p vmout failed"
  cp $BB /newroot/run/visp/busybox
  cp /init /newroot/run/visp/init
  exec switch_root /newroot /run/visp/busybox sh /run/visp/init stage2
  die "switch_root failed"
fi

# ------------------------------------------------------------------ stage 2
BB=/run/visp/busybox
OUT=/run/vmout
echo "visp-vm: stage2 up ($($BB cut -d' ' -f1 /proc/uptime)s)"
$BB mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
# Modules on demand (ip_gre, ip6_gre, veth, ...): the kernel runs the host
# root's kmod against /lib/modules/$(uname -r), which the share provides.
if [ -x /sbin/modprobe ]; then
  echo /sbin/modprobe >/proc/sys/kernel/modprobe
else
  echo "visp-vm: warning: no /sbin/modprobe in the host root; modules will not autoload"
fi
$BB ip link set lo up || die "lo up failed"
$BB hostname visp-vm

# Tools the host root may lack (iputils ping): busybox applets, last on PATH.
for a in ping ping6; do $BB ln -s ../busybox /run/visp/bin/$a; done
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/run/visp/bin
export HOME=/root TERM=dumb CI=1 NO_COLOR=1 VISP_VM=1 VISP_VM_OUT=$OUT
[ -f $OUT/env ] || die "no $OUT/env from the host"
while IFS= read -r line; do
  case "$line" in [A-Za-z_]*=*) export "$line" ;; esac
done <$OUT/env
[ -f $OUT/run.sh ] || die "no $OUT/run.sh from the host"
# The repo is shared on its own (tag "repo"): it may live on a path the guest
# covers with its own mounts (a clone under /tmp, say). Same path, read-only,
# with a throwaway writable layer, like the root.
if [ -n "${VISP_VM_REPO:-}" ]; then
  $BB mkdir -p /run/visp/repo-lower /run/visp/repo-rw/upper /run/visp/repo-rw/work "$VISP_VM_REPO"
  $BB mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose repo /run/visp/repo-lower \
    || die "mount 9p repo failed"
  $BB mount -t overlay -o lowerdir=/run/visp/repo-lower,upperdir=/run/visp/repo-rw/upper,workdir=/run/visp/repo-rw/work \
    overlay "$VISP_VM_REPO" || die "mount repo overlay failed"
fi
cd "${VISP_VM_REPO:-/}" || die "no repo dir ${VISP_VM_REPO}"

echo "visp-vm: running tests ($($BB cut -d' ' -f1 /proc/uptime)s)"
# Piped, so the test runner sees no TTY (plain reporter output on the console).
{ /bin/bash $OUT/run.sh </dev/null; echo $? >$OUT/exit-code.tmp; } 2>&1 | $BB cat
$BB mv $OUT/exit-code.tmp $OUT/exit-code 2>/dev/null || die "the test command left no exit code"
echo "visp-vm: tests done, exit $($BB cat $OUT/exit-code) ($($BB cut -d' ' -f1 /proc/uptime)s)"
$BB sync
$BB umount $OUT 2>/dev/null
$BB poweroff -f
