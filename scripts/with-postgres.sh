#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server: a fresh cluster in a
# temporary directory, on a free port, reachable only over loopback.
# The command sees BURROW_TEST_POSTGRES_URL; the server and its files are
# removed when the command ends, whatever its outcome.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
if [ ! -x "$bindir/initdb" ]; then
  echo "with-postgres: PostgreSQL server binaries are missing: run scripts/install-deps.sh" >&2
  exit 1
fi

workdir=$(mktemp -d /tmp/burrow-pg.XXXXXX)
# PostgreSQL refuses to run as root: use the postgres account when we are root.
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$workdir"
  run_as=(runuser -u postgres --)
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

cleanup() {
  "${run_as[@]}" "$bindir/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT

"${run_as[@]}" "$bindir/initdb" -D "$workdir/data" -U postgres --auth=trust -E UTF8 >"$workdir/initdb.log" 2>&1 \
  || { cat "$workdir/initdb.log" >&2; exit 1; }
"${run_as[@]}" "$bindir/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w -t 60 \
  -o "-p $port -k $workdir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null \
  || { cat "$workdir/server.log" >&2; exit 1; }

export BURROW_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
echo "with-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
"$@"
