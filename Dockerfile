# syntax=docker/dockerfile:1
# Build:  docker build --build-arg COMMIT=$(git rev-parse HEAD) -t syncserver .
# Run:    docker run -p 8000:8000 -v syncdata:/data -e SYNC_PUBLIC_URL=https://sync.example.com syncserver
# Settings: /etc/syncserver/syncserver.toml (docker/syncserver.toml); SYNC_* variables override it.

# The Bun release the binary is built with; pinned, so a rebuild gives the same server.
ARG BUN_VERSION=1.4.5

FROM oven/bun:${BUN_VERSION} AS build
WORKDIR /src
COPY . .
RUN bun install --frozen-lockfile
# .dockerignore leaves .git out, so the commit /__version__ reports is passed in.
ARG COMMIT=unknown
RUN SYNCSERVER_COMMIT=${COMMIT} bun run build

# The binary alone, as an unprivileged user. UID/GID choose who owns the files in /data: build
# with --build-arg UID=$(id -u) --build-arg GID=$(id -g) to bind-mount a folder you own.
FROM debian:bookworm-slim
ARG UID=10001
ARG GID=10001
RUN groupadd --system --gid ${GID} syncserver \
    && useradd --system --uid ${UID} --gid ${GID} --home-dir /data --shell /usr/sbin/nologin syncserver \
    && mkdir -p /data /etc/syncserver && chown ${UID}:${GID} /data
COPY --from=build /src/dist/syncserver /usr/local/bin/syncserver
COPY docker/syncserver.toml /etc/syncserver/syncserver.toml
USER ${UID}:${GID}
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# healthcheck reads the serving process's --config (and --port/--host), so it follows them.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD ["/usr/local/bin/syncserver", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/syncserver"]
CMD ["serve", "--config", "/etc/syncserver/syncserver.toml"]
