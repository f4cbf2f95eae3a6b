# syntax=docker/dockerfile:1
# Build stage: compile the single binary.
FROM oven/bun:1 AS build
WORKDIR /src
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile
COPY . .
RUN bun run build

# Run stage: the binary alone, as an unprivileged user, data in a volume.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin syncserver \
    && mkdir -p /data && chown syncserver /data
COPY --from=build /src/dist/syncserver /usr/local/bin/syncserver
USER syncserver
WORKDIR /data
VOLUME ["/data"]
ENV SYNC_HOST=0.0.0.0 \
    SYNC_PORT=8000 \
    SYNC_SYNCSTORAGE__DATABASE_URL=sqlite:////data/syncserver.db
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s \
  CMD ["/usr/local/bin/syncserver", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/syncserver"]
CMD ["serve"]
