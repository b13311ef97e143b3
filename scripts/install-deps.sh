#!/usr/bin/env bash
# Installs what Burrow needs on a Debian machine, skipping what is already there.
# Used by `make up` and `make test`; safe to run again.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }

# PostgreSQL server binaries, for the test suite's second backend.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need_apt+=(postgresql); fi
# The sandbox runtime: an OCI runtime, an init for PID 1, and the Python that
# runs inside sandboxes.
have runc || need_apt+=(runc)
[ -x /usr/bin/tini ] || need_apt+=(tini)
[ -x /usr/bin/python3 ] || need_apt+=(python3)
# A C toolchain and pkg-config, for crates that build C (SQLite is bundled).
have cc || need_apt+=(build-essential)
have pkg-config || need_apt+=(pkg-config)

if ((${#need_apt[@]})); then
  echo "burrow: installing Debian packages: ${need_apt[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

if ! have cargo; then
  echo "burrow: cargo is missing: install Rust (https://rustup.rs) and run this again" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done
