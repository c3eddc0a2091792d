#!/usr/bin/env bash
# Deploy benchmark: redeploy downtime of `stn deploy --target local` (ms
# without an answer from /health, polled every 5 ms) and restore-on-start
# time of a 100 MB database from a file replica and from an S3 replica (moto).
# Prints Markdown tables. Not a timed test.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/services.sh
target=${CARGO_TARGET_DIR:-target}
profile=${STN_BENCH_PROFILE:-dist}
if [ "$profile" = dist ]; then
  cargo build --profile dist -q -p stn --bin stn --example bench_deploy
else
  cargo build -q -p stn --bin stn --example bench_deploy
  profile=debug
fi
echo "stn deploy benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $profile build, moto at $STN_TEST_S3_ENDPOINT"
echo
env -u AWS_CA_BUNDLE "$target/$profile/examples/bench_deploy" "$target/$profile/stn" "$STN_TEST_S3_ENDPOINT" "$STN_TEST_BUCKET"
