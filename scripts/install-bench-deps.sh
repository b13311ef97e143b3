#!/usr/bin/env bash
# Installs what the benchmarks compare against (nginx, DuckDB), beyond what install-deps.sh does.
set -euo pipefail
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "burrow: installing nginx for the proxy benchmark"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx-light
fi
# DuckDB, psycopg and SQLAlchemy, the data benchmarks' baselines (aggregates over Parquet,
# pandas.read_sql and to_sql over PostgreSQL), in a virtual environment of its own (uv
# comes from install-deps.sh).
if [ ! -x target/bench-venv/bin/python ] || ! target/bench-venv/bin/python -c 'import duckdb, pandas, psycopg, sqlalchemy' 2>/dev/null; then
  echo "burrow: installing DuckDB, psycopg and SQLAlchemy for the data benchmarks into target/bench-venv"
  uv venv --quiet --allow-existing --python /usr/bin/python3 target/bench-venv
  uv pip install --quiet --python target/bench-venv/bin/python 'duckdb==2.0.0' pandas pyarrow 'psycopg[binary]==3.3.9' 'sqlalchemy==2.0.54'
fi
