#!/bin/sh
# The README's demo command: installs skiff's own dependencies when missing,
# builds, then runs `skiff demo` (pass --down to remove what it made).
set -e
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
exec node bin/skiff.js demo "$@"
