# Station: `stn serve` on a local SQLite file in /data, replicated to object
# storage when STN_REPLICA_URL or LITESTREAM_S3_BUCKET is set (restored from
# the replica on start when /data is empty).
#
#   docker build -t station .
#   docker run -d -p 8585:8585 -v station-data:/data \
#     -e LITESTREAM_S3_BUCKET=my-bucket -e LITESTREAM_S3_ACCESS_KEY_ID=... \
#     -e LITESTREAM_S3_SECRET_ACCESS_KEY=... -e LITESTREAM_S3_REGION=us-east-1 station
#
# The API listens on 0.0.0.0 inside the container, which Station allows only
# once an API key exists: create one first (the CLI works on the same volume):
#   docker run --rm -v station-data:/data station user create admin --admin
#   docker run --rm -v station-data:/data station apikey create admin

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin stn

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin station \
 && mkdir -p /data /config \
 && chown station:station /data /config
COPY --from=build /src/target/release/stn /usr/local/bin/stn
USER station
ENV STATION_CONFIG_DIR=/config \
    DATABASE_URL=/data/station.db \
    STN_ADDR=0.0.0.0:8585
VOLUME ["/data"]
EXPOSE 8585
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8585/health || exit 1
ENTRYPOINT ["stn"]
CMD ["serve"]
