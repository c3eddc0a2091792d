#!/usr/bin/env bash
# Durable-mode benchmark: 16 HTTP clients writing through `stn serve` with an
# S3 replica on moto, in `--durability sync`, asynchronous replication and no
# replication, measured in the same run. Prints a Markdown table.
# STN_BENCH_SCALE=0.3 shortens the 10 s load for a quick check.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/services.sh
target=${CARGO_TARGET_DIR:-target}
cargo build --profile dist -q -p stn --bin stn --example bench_durable
echo "stn durable-mode benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, moto at $STN_TEST_S3_ENDPOINT, scale ${STN_BENCH_SCALE:-1}"
env -u AWS_CA_BUNDLE "$target/dist/examples/bench_durable" "$target/dist/stn" "$STN_TEST_S3_ENDPOINT" "$STN_TEST_BUCKET"
