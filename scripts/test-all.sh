#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine, as root: installs every
# program the tests run (scripts/tools.txt, through scripts/tools.sh, which also
# starts dockerd when it is not running), then runs `npm ci` and `npm test`
# (build, typecheck, unit, e2e on a 3-machine test bed). .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("skiff needs Node >= 20.19, this is "+process.version); process.exit(1) }'

bash scripts/tools.sh test
npm ci --no-audit --no-fund
npm test
