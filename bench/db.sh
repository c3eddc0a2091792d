#!/usr/bin/env bash
# Database-layer benchmark: prints a Markdown table (stn, peer, ratio).
# Builds dist binaries, starts sqld through scripts/test-services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/test-services.sh env)"
bash scripts/test-services.sh install >/dev/null
cargo build --profile dist -q -p stn --bin stn --example bench_db
echo "stn database benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $("$STN_TEST_SQLD_BIN" --version 2>/dev/null | head -1)"
target/dist/examples/bench_db target/dist/stn "${1:-20}"
