#!/usr/bin/env bash
# The whole test suite: installs and starts every real service the tests use
# (sqld, moto, Azurite, fake-gcs-server, Litestream 0.5.17) on 127.0.0.1,
# runs every test, and stops the services by PID whatever happens.
#
# Under CI=true a test whose service is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/test-services.sh up >/tmp/stn-test-services.env
trap 'bash scripts/test-services.sh down' EXIT
# shellcheck disable=SC1091
source /tmp/stn-test-services.env

cargo nextest run --workspace --no-fail-fast "$@"
cargo test --workspace --doc --quiet
