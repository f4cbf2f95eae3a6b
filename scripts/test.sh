#!/usr/bin/env bash
# Runs every test: installs what is missing (Bun, packages, firefox-esr, chromium, docker.io,
# qemu-user and systemd-analyze for the release tests), starts PostgreSQL, MariaDB and dockerd
# when they are installed but stopped, builds dist/syncserver, runs `bun test`, and ends with one line
# "N passed, N failed".
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ensure-tools.sh" || exit 1
# ensure-tools.sh runs under set -e; here a failing step must not end the run before its summary line.
set +e

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

start_services() {
  if [ -d /etc/postgresql ] && ! pg_isready -h 127.0.0.1 -q 2>/dev/null; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || echo "note: could not start PostgreSQL"
  fi
  if [ -x /usr/sbin/mariadbd ] && ! mysqladmin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || echo "note: could not start MariaDB"
    for _ in $(seq 1 30); do mysqladmin -h 127.0.0.1 -u root ping >/dev/null 2>&1 && break; sleep 1; done
  fi
}

# The container test (test/docker/container.test.ts) builds and runs the image where an engine
# answers: docker.io is installed when missing, dockerd started when stopped, and the base images
# pulled or, without Docker Hub, made locally (scripts/docker-stand-in-images.sh, about a minute once).
start_docker() {
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "installing docker.io for the container test"
    (as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io) >/dev/null 2>&1 \
      || { echo "note: docker.io could not be installed; the container test will report itself skipped"; return 0; }
  fi
  if ! docker info >/dev/null 2>&1; then
    as_root start-stop-daemon --start --oknodo --background --exec "$(command -v dockerd)" || { echo "note: could not start dockerd"; return; }
    for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  local image
  for image in debian:bookworm-slim "oven/bun:$(sed -n 's/^ARG BUN_VERSION=//p' Dockerfile)"; do
    docker image inspect "$image" >/dev/null 2>&1 || docker pull -q "$image" >/dev/null 2>&1 || {
      as_root bash scripts/docker-stand-in-images.sh >/dev/null 2>&1 || echo "note: no base images for the container test; it will report itself skipped"
      return
    }
  done
}

install_firefox() {
  command -v firefox-esr >/dev/null 2>&1 && return
  echo "installing firefox-esr for the end-to-end test"
  (as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq firefox-esr) >/dev/null 2>&1 \
    || echo "note: firefox-esr could not be installed; the Firefox end-to-end test will report itself skipped"
}

install_release_tools() {
  local missing=()
  command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
  [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=(libc6-arm64-cross)
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
  # The Spanner suites start their own emulator (one per test process, on free ports).
  [ -x /usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator/gateway_main ] || missing+=(google-cloud-cli-spanner-emulator)
  [ ${#missing[@]} -eq 0 ] && return
  echo "installing ${missing[*]} for the arm64 release smoke test, the systemd unit check and the Spanner suites"
  (as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 \
    || echo "note: ${missing[*]} could not be installed; the tests needing them will report themselves skipped"
}

install_chromium() {
  command -v chromium >/dev/null 2>&1 && return
  echo "installing chromium for the / page test"
  (as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "note: chromium could not be installed; the / page browser test will report itself skipped"
}

start_services
start_docker
install_firefox
install_release_tools
install_chromium
bun run build >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

# The tests' temporary folders (databases, configs, browser profiles, the servers' scratch
# files) all go into one folder of this run's, removed when it ends: a test that fails or is
# killed before its cleanup, and a server killed with SIGKILL, left theirs in /tmp for good,
# about 500 a run. Open to every user as /tmp is: tests run initdb and mariadbd as their own
# users in folders inside it.
TMPDIR=$(mktemp -d -t syncserver-tests-XXXXXX) && chmod 1777 "$TMPDIR" && export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT

passed=0 failed=0 skipped=0 status=0
# Runs `bun test ARGS…` and adds its counts to the totals.
run_bun_test() {
  local log count_passed count_failed count_skipped code
  log=$(mktemp)
  bun test "$@" 2>&1 | tee "$log"
  code=${PIPESTATUS[0]}
  count_passed=$(grep -Eo '^ *[0-9]+ pass$' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  count_failed=$(grep -Eo '^ *[0-9]+ fail$' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  count_skipped=$(grep -Eo '^ *[0-9]+ skip$' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  rm -f "$log"
  if [ "$code" -ne 0 ] && [ "$count_failed" -eq 0 ]; then count_failed=1; fi
  [ "$code" -ne 0 ] && status=$code
  passed=$((passed + count_passed)) failed=$((failed + count_failed)) skipped=$((skipped + count_skipped))
}

run_bun_test "$@"

# Spanner once more through the compiled binary, as an operator runs it: `dist/syncserver
# prepare-spanner`, then `dist/syncserver serve`, under the HTTP suite and the model test.
if [ $# -eq 0 ] && [ -x /usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator/gateway_main ]; then
  echo "== the HTTP suite and the model test on Spanner through dist/syncserver"
  SYNCSERVER_TEST_SERVER=binary SYNCSERVER_TEST_BACKENDS=spanner run_bun_test test/http test/model/storage-model.test.ts
fi

# The benchmark's quick mode runs too, so it cannot rot: it reports numbers and never fails on
# them, but a benchmark that breaks counts as a failed test.
if [ -z "${SKIP_BENCH:-}" ]; then
  echo "== bun run bench --quick"
  if timeout 300 bun run bench --quick; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
fi

echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit "$status"
