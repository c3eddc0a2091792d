#!/usr/bin/env bash
# Replication benchmark: `stn replicate` against Litestream 0.5.17 on the same
# workloads, file replicas on local disk, and restores again from S3 on moto
# (127.0.0.1), started for the run when it is not up.
# Prints a Markdown table (stn, litestream, ratio) and the methods.
# STN_BENCH_SCALE=0.2 shortens every duration (and the 256 MB database) for a quick check;
# STN_BENCH_WORKLOADS=C runs only workload C (the 256 MB database and its restores).
set -euo pipefail
cd "$(dirname "$0")/.."
# C's restores from S3 need moto.
source bench/services.sh
target=${CARGO_TARGET_DIR:-target}
cargo build --profile dist -q -p stn --bin stn --example bench_replication
echo "stn replication benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, litestream $(env -u AWS_CA_BUNDLE "$STN_TEST_LITESTREAM_BIN" version 2>/dev/null | head -1), scale ${STN_BENCH_SCALE:-1}"
env -u AWS_CA_BUNDLE "$target/dist/examples/bench_replication" "$target/dist/stn" "$STN_TEST_LITESTREAM_BIN"
