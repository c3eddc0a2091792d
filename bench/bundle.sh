#!/usr/bin/env bash
# Bundle benchmark: an environment of N agents (default 1,000) and one MCP
# config; times `stn sync`, `stn bundle create` and `stn bundle install`
# (unpack, parse, rename, sync into a fresh database).
# STN_BIN=path/to/stn skips the dist build (e.g. a debug binary).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
target=${CARGO_TARGET_DIR:-target}
if [ -z "${STN_BIN:-}" ]; then
  cargo build --profile dist -q -p stn --bin stn
  STN_BIN="$target/dist/stn"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/src"; dst="$work/dst"
STATION_CONFIG_DIR="$src" "$STN_BIN" init --yes >/dev/null
mkdir -p "$src/environments/default/agents"
for i in $(seq -w 1 "$n"); do
  printf -- '---\nmetadata:\n  name: "agent-%s"\n  description: "Agent %s"\n  tags: ["bench"]\nmodel: gpt-4o-mini\nmax_steps: 8\ntools:\n  - "__read_text_file"\n---\n\n{{role "system"}}\nYou are agent %s. Answer briefly.\n\n{{role "user"}}\n{{userInput}}\n' "$i" "$i" "$i" \
    > "$src/environments/default/agents/agent-$i.prompt"
done
printf '{"name":"template","mcpServers":{"fs":{"command":"npx","args":["-y","@modelcontextprotocol/server-filesystem","{{ .ROOT }}"]}}}\n' \
  > "$src/environments/default/template.json"
printf 'ROOT: /tmp\n' > "$src/environments/default/variables.yml"
ms() { date +%s%3N; }
t0=$(ms); STATION_CONFIG_DIR="$src" "$STN_BIN" sync default >/dev/null; t1=$(ms)
STATION_CONFIG_DIR="$src" "$STN_BIN" bundle create default -o "$work/b.tar.gz" >/dev/null; t2=$(ms)
STATION_CONFIG_DIR="$dst" "$STN_BIN" init --yes >/dev/null
t3=$(ms); STATION_CONFIG_DIR="$dst" "$STN_BIN" bundle install "$work/b.tar.gz" copy >/dev/null; t4=$(ms)
agents=$(STATION_CONFIG_DIR="$dst" "$STN_BIN" agent list -e copy --json | grep -c '"name"' || true)
echo "stn bundle benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $n agents, $(basename "$STN_BIN") binary"
echo "| step | ms |"
echo "|---|---|"
echo "| sync of the source environment | $((t1 - t0)) |"
echo "| bundle create ($(stat -c %s "$work/b.tar.gz") bytes) | $((t2 - t1)) |"
echo "| bundle install (unpack, parse, rename, sync; $agents agents in the database) | $((t4 - t3)) |"
