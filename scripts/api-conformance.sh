#!/usr/bin/env bash
# Checks the live API against its own OpenAPI document with schemathesis: a debug
# `burrow serve` over a temporary data folder, one signed-in admin, a fixed seed.
# No environment is built (envs.uv is `/bin/false`): this exercises HTTP, not sandboxes.
# Any failure (a 5xx, an undocumented status or content type, a response that does not
# match its schema, a schema-valid request refused) fails `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/debug/burrow
ST=.tools/schemathesis/bin/st
[ -x "$BIN" ] || { echo "api-conformance: build $BIN first (cargo build --bin burrow)" >&2; exit 1; }
[ -x "$ST" ] || { echo "api-conformance: run scripts/install-deps.sh test first" >&2; exit 1; }

data="$(mktemp -d)"
# Sandboxes (none are started here) need the data folder searchable; serve checks it.
chmod 755 "$data"
log="$data/serve.log"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api_port="$(free_port)"
apps_port="$(free_port)"
BURROW_DATA_DIR="$data/burrow" BURROW_LISTEN="127.0.0.1:$api_port" \
  BURROW_APPS_LISTEN="127.0.0.1:$apps_port" BURROW_ENVS__UV=/bin/false RUST_LOG=warn \
  "$BIN" serve >"$log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  BURROW_DATA_DIR="$data/burrow" "$BIN" sandbox stop --all --grace 1s >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT

base="http://127.0.0.1:$api_port"
for _ in $(seq 1 100); do
  curl -sf "$base/readyz" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.2
done
# The first account is the instance admin, so admin-only routes are exercised too.
token="$(curl -sf -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"conformance@example.com","password":"a long enough passphrase","name":"Conformance"}' |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

# A project of the admin's, so that project-scoped routes reach their logic rather than 404.
BURROW_CONFORMANCE_PROJECT="$(curl -sf -X POST "$base/api/v1/projects" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"name":"Conformance"}' |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
export BURROW_CONFORMANCE_PROJECT

# One worker: hypothesis describing strategies from several threads at once trips over
# CPython 3.11's ast module ("AST constructor recursion depth mismatch").
status=0
"$ST" --config-file scripts/schemathesis.toml run "$base/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --seed "${API_CONFORMANCE_SEED:-20261203}" \
  --max-examples "${API_CONFORMANCE_EXAMPLES:-10}" \
  --workers 1 --no-color || status=$?
if [ "$status" -ne 0 ]; then
  echo "api-conformance: the API and its OpenAPI document disagree (above); the server's log:" >&2
  tail -n 50 "$log" >&2
fi
exit "$status"
