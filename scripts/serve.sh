#!/usr/bin/env bash
# Runs the server on the embedded SQLite default: ./syncserver.db, http://127.0.0.1:8000.
# Extra arguments go to `syncserver serve` (e.g. --config syncserver.toml).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ensure-tools.sh"
exec bun run src/main.ts serve "$@"
