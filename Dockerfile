# Station: `stn serve` on a local SQLite file on the volume /data (the config
# dir too: /data/config), replicated to object storage when STN_REPLICA_URL or
# LITESTREAM_S3_BUCKET is set, and restored from the replica on start when the
# volume is empty. Node (npx) and Python (uv, uvx) are in the image, so agents
# can use the stdio MCP servers published on npm and PyPI.
#
#   docker build -t station .
#
# First start on a new volume, in this order (each step is a one-off container
# on the same volume; the API listens on 0.0.0.0 inside the container, which
# Station allows only once an API key exists):
#   docker run --rm -v station-data:/data station init
#   docker run --rm -v station-data:/data station user create admin --admin
#   docker run --rm -v station-data:/data station apikey create admin
#   docker run --rm -v station-data:/data station mcp add time --command uvx --args mcp-server-time
#   docker run --rm -v station-data:/data station sync
#   docker run -d --name station -p 8585:8585 -v station-data:/data --stop-timeout 40 \
#     -e LITESTREAM_S3_BUCKET=my-bucket -e LITESTREAM_S3_ACCESS_KEY_ID=... \
#     -e LITESTREAM_S3_SECRET_ACCESS_KEY=... -e LITESTREAM_S3_REGION=us-east-1 station
# (`apikey create` prints the key once: send it as `Authorization: Bearer KEY`;
# `init` first: other commands never create a database, `serve` does.)
# On a new host, only the last command: the empty volume is restored from the
# replica before the server starts. SIGTERM (`docker stop`) makes a final sync;
# --stop-timeout 40 gives it time (Docker's default is 10 s).
#
# Targets: the default builds `stn` from source (the `dist` profile) and needs
# the rust image from a registry; `--target runtime` takes a `stn` binary built
# elsewhere from the build context instead:
#   docker build --target runtime -f Dockerfile -t station DIR_HOLDING_stn

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --profile dist --locked --bin stn

# Everything but the binary: one layer that a rebuild with a new binary reuses.
FROM debian:bookworm-slim AS base
# uv from PyPI. PIP_CERT: a CA bundle for pip behind a TLS-inspecting proxy
# (pass the path with --build-arg and mount the file with --volume).
ARG UV_VERSION=0.13.8
ARG PIP_CERT
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl nodejs npm python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check ${PIP_CERT:+--cert "$PIP_CERT"} "uv==$UV_VERSION" \
 && ln -s /opt/uv/bin/uv /opt/uv/bin/uvx /usr/local/bin/ \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin station \
 && mkdir -p /data \
 && chown station:station /data
USER station
# The config dir is created 0700 by the first command; npx and uvx keep
# their caches under $HOME (/data), so a restarted container starts MCP
# servers without downloading them again.
ENV STATION_CONFIG_DIR=/data/config \
    DATABASE_URL=/data/station.db \
    STN_ADDR=0.0.0.0:8585
VOLUME ["/data"]
EXPOSE 8585
# The port STN_ADDR names (shell form, so `-e STN_ADDR=…` moves the check too).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${STN_ADDR##*:}/health" || exit 1
ENTRYPOINT ["stn"]
CMD ["serve"]

# A binary built on the host: the context is a directory holding `stn`.
FROM base AS runtime
COPY stn /usr/local/bin/stn

# The default: the binary from the build stage.
FROM base AS release
COPY --from=build /src/target/dist/stn /usr/local/bin/stn
