#!/usr/bin/env bash
# Makes sure Bun and the project's packages are installed (sourced by the other scripts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v bun >/dev/null 2>&1; then
  echo "installing Bun (npm install -g bun)"
  npm install -g bun >/dev/null
fi
bun install --frozen-lockfile >/dev/null
