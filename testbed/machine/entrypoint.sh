#!/bin/sh
# Boots a test-bed machine: cgroups that nested dockerd accepts, sshd, dockerd,
# then whatever an init system would start (/etc/init.d/skiff-* services).
set -u
mount -o remount,rw /sys 2>/dev/null || true
for dir in /sys/fs/cgroup/*; do
  [ -d "$dir" ] || continue
  sub=$(basename "$dir")
  case "$sub" in unified) continue ;; esac
  [ -L "$dir" ] && continue
  umount "$dir" 2>/dev/null || true
  if [ "$sub" = systemd ]; then mount -t cgroup -o none,name=systemd cgroup "$dir" 2>/dev/null || true
  else mount -t cgroup -o "$sub" cgroup "$dir" 2>/dev/null || true; fi
done
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid /run/sshd.pid
mkdir -p /run/sshd
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -A >/dev/null
/usr/sbin/sshd -E /var/log/sshd.log
dockerd --cgroup-parent="/nested-$(hostname)" >/var/log/dockerd.log 2>&1 &
i=0; while [ ! -S /var/run/docker.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
for svc in /etc/init.d/skiff-*; do [ -x "$svc" ] && "$svc" start; done
exec sleep infinity
