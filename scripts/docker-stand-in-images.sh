#!/usr/bin/env bash
# Local stand-ins for the Dockerfile's two base images, for a machine whose Docker engine cannot
# reach Docker Hub: debian:bookworm-slim from a debootstrap of Debian's own mirror, and
# oven/bun:<BUN_VERSION> as that plus the Bun on this machine (which must be that release) and
# this machine's CA bundle (an intercepting proxy's CA lets `bun install` reach npm). Then
# test/docker/container.test.ts can build and run the image here. Needs root, a running
# dockerd (apt-get install docker.io); debootstrap is installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUN_VERSION=$(sed -n 's/^ARG BUN_VERSION=//p' Dockerfile)
[ "$(bun --version)" = "$BUN_VERSION" ] || { echo "the Dockerfile pins Bun $BUN_VERSION, this machine has $(bun --version)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian
  tar -C "$work/rootfs" -c . | docker import - debian:bookworm-slim
fi

mkdir "$work/bun"
cp "$(command -v bun)" "$work/bun/bun"
cp /etc/ssl/certs/ca-certificates.crt "$work/bun/"
cat >"$work/bun/Dockerfile" <<'EOF'
FROM debian:bookworm-slim
COPY bun /usr/local/bin/bun
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN ln -s /usr/local/bin/bun /usr/local/bin/bunx
WORKDIR /home/bun/app
EOF
DOCKER_BUILDKIT=0 docker build -q -t "oven/bun:$BUN_VERSION" "$work/bun"
echo "stand-ins ready: debian:bookworm-slim, oven/bun:$BUN_VERSION"
