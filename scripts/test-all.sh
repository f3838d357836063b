#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine, as root: installs what the
# tests need (Docker Engine, OpenSSH, mmdebstrap), starts dockerd when it is not
# running, then runs `npm ci` and `npm test` (build, typecheck, unit, e2e on a
# 3-machine test bed). .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in docker.io:/usr/bin/dockerd openssh-client:/usr/bin/ssh mmdebstrap:/usr/bin/mmdebstrap e2fsprogs:/sbin/mkfs.ext4 iproute2:/bin/ip; do
  [ -e "${pair#*:}" ] || need+=("${pair%%:*}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "test-all: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("skiff needs Node >= 20.19, this is "+process.version); process.exit(1) }'

if ! /usr/bin/docker info >/dev/null 2>&1; then
  echo "test-all: starting dockerd"
  (setsid dockerd >/var/log/skiff-test-dockerd.log 2>&1 </dev/null &)
  for _ in $(seq 1 100); do /usr/bin/docker info >/dev/null 2>&1 && break; sleep 0.2; done
  /usr/bin/docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/skiff-test-dockerd.log" >&2; exit 1; }
fi

npm ci --no-audit --no-fund
npm test
