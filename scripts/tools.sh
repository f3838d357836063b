#!/usr/bin/env bash
# Installs the programs that skiff's tests, benches or demo run (scripts/tools.txt)
# when they are missing, and starts dockerd when a use needs it and it is not
# running. Usage: scripts/tools.sh test|bench [--check]. With --check, or when
# not root, it installs nothing: it names what is missing and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

use=${1:?usage: scripts/tools.sh test|bench [--check]}
check=${2:-}
uses=(test); [ "$use" = bench ] && uses=(test bench)

missing=() pkgs=()
while read -r u path pkg; do
  case "$u" in ''|'#'*) continue ;; esac
  [[ " ${uses[*]} " == *" $u "* ]] || continue
  if [ ! -x "$path" ]; then
    missing+=("$path")
    [[ " ${pkgs[*]} " == *" $pkg "* ]] || pkgs+=("$pkg")
  fi
done < scripts/tools.txt

if [ ${#pkgs[@]} -gt 0 ]; then
  if [ "$check" = --check ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing: ${missing[*]} (Debian packages: ${pkgs[*]}); run scripts/tools.sh $use as root to install them" >&2
    exit 1
  fi
  echo "tools: installing ${pkgs[*]}"
  apt-get update -qq
  # Programs only: a package's service (prometheus would listen on every address) must not start. Debian's
  # invoke-rc.d asks policy-rc.d; 101 = "action forbidden". Put back whatever was there.
  policy=/usr/sbin/policy-rc.d saved=
  [ -e "$policy" ] && { saved=$(mktemp); cp -p "$policy" "$saved"; }
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
  trap 'if [ -n "$saved" ]; then mv "$saved" "$policy"; else rm -f "$policy"; fi' EXIT
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

# The bed's machines are containers: dockerd must run (there may be no systemd).
if ! /usr/bin/docker info >/dev/null 2>&1; then
  if [ "$check" = --check ] || [ "$(id -u)" != 0 ]; then echo "dockerd is not running" >&2; exit 1; fi
  echo "tools: starting dockerd"
  # Without the caller's open files: a dockerd that inherited a lock's descriptor (flock … sh -c 'tools.sh …')
  # would hold that lock for as long as it runs.
  (for fd in /proc/self/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null
   exec setsid dockerd >/var/log/skiff-test-dockerd.log 2>&1 </dev/null) &
  for _ in $(seq 1 100); do /usr/bin/docker info >/dev/null 2>&1 && break; sleep 0.2; done
  /usr/bin/docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/skiff-test-dockerd.log" >&2; exit 1; }
fi
