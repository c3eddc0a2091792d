# Sourced by the benchmarks that need moto: uses the running test services,
# otherwise starts them and stops them when the benchmark exits.
eval "$(bash scripts/test-services.sh env)"
if ! curl -fs -o /dev/null "$STN_TEST_S3_ENDPOINT"; then
  bash scripts/test-services.sh up >/dev/null
  trap 'bash scripts/test-services.sh down >/dev/null' EXIT
fi
