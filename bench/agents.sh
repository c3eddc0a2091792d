#!/usr/bin/env bash
# Run-engine benchmark (not a timed test): the scripted model answering in 0 ms
# and server-everything's `echo` tool over stdio. Prints stn's own time per
# step (p50/p99), the pooled second run's start vs the first, peak RSS with 50
# concurrent runs, SQLite transactions per step, and 50 concurrent runs vs one
# when the model takes 200 ms a turn — each with its target.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/test-services.sh env)"
[ -x "$STN_TEST_MCP_EVERYTHING" ] || bash scripts/test-services.sh install >/dev/null
target=${CARGO_TARGET_DIR:-target}
cargo build --profile dist -q -p stn --example bench_agents
echo "stn run-engine benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
exec "$target/dist/examples/bench_agents" "$STN_TEST_MCP_EVERYTHING" "${1:-200}"
