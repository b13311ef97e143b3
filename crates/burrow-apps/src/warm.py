"""A warm app sandbox: Python with Streamlit, pandas and numpy imported, and what Streamlit's
server imports and scans as it starts done ahead, waiting for the one app it will serve.

Burrow runs this as `python /opt/burrow/warm/warm.py PORT` in a sandbox started ahead. Once the
imports are done it listens on 127.0.0.1:PORT of its own network; Burrow connects, which
says it is ready, and later sends one line, {"argv": [...]}: the arguments of
`python -m streamlit ...` for the app it has mounted at /app by then. The listener is
closed before the app's code runs, so nothing can hand this process a second app.
"""

import json
import os
import socket
import sys

# Streamlit resolves `.streamlit/` paths against the working folder as it is imported,
# and the app's folder comes first on the path, as under `python -m streamlit` in /app.
os.chdir("/app")
sys.path[0] = "/app"

import importlib  # noqa: E402
import importlib.metadata  # noqa: E402

import numpy  # noqa: E402,F401
import pandas  # noqa: E402,F401
import streamlit  # noqa: E402,F401
import streamlit.web.bootstrap  # noqa: E402,F401
import streamlit.web.cli  # noqa: E402

# What `streamlit run` imports only once it starts its server (the base environment's
# Streamlit 1.67): about 130 modules, most of a start's time. A name another version
# lacks is skipped; that start is only slower.
for _name in (
    "anyio._backends._asyncio",
    "starlette.applications",
    "starlette.middleware.sessions",
    "starlette.staticfiles",
    "starlette.websockets",
    "streamlit.components.v2.manifest_scanner",
    "streamlit.runtime.agent.mcp",
    "streamlit.watcher.polling_path_watcher",
    "streamlit.web.server.app_discovery",
    "streamlit.web.server.starlette.starlette_agent_routes",
    "uvicorn.main",
    "uvicorn.lifespan.on",
    "uvicorn.middleware.proxy_headers",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
):
    try:
        importlib.import_module(_name)
    except ImportError:
        pass


def scan_ahead():
    """Streamlit's runtime looks through every installed package's metadata for
    components as it starts, the rest of a start's time. The environment's packages
    are read-only and known now, so they are looked through now; the start then only
    looks through the app's own folder, which is empty until the app is assigned.
    Without the scanner this Streamlit version has, nothing changes."""
    try:
        from streamlit.components.v2 import manifest_scanner as scanner

        likely = scanner._is_likely_streamlit_component_package
        one = scanner._process_single_package
        found = scanner.scan_component_manifests()
    except (ImportError, AttributeError):
        return

    def scan(max_workers=None):
        own = importlib.metadata.distributions(path=[sys.path[0]])
        return found + [r for r in (one(d) for d in own if likely(d)) if r]

    scanner.scan_component_manifests = scan


scan_ahead()


def shadowed():
    """Modules already loaded here that the app's own files would replace in a cold
    start, where its folder comes first on the path: such an app starts cold."""
    loaded = {name.partition(".")[0] for name in sys.modules}
    own = set()
    for entry in os.listdir("/app"):
        stem, _, ext = entry.partition(".")
        if os.path.isfile(os.path.join("/app", entry, "__init__.py")):
            own.add(entry)
        elif ext == "py" or ext == "pyc" or entry.endswith(".so"):
            own.add(stem)
    return sorted(own & loaded)


with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
    server.bind(("127.0.0.1", int(sys.argv[1])))
    server.listen(1)
    connection, _ = server.accept()

with connection:
    line = connection.makefile("rb").readline(1 << 16)
    try:
        argv = json.loads(line)["argv"]
        ok = (
            isinstance(argv, list)
            and all(isinstance(a, str) for a in argv)
            and argv[:2] == ["-m", "streamlit"]
        )
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        connection.sendall(b"refused: expected {\"argv\": [\"-m\", \"streamlit\", ...]}\n")
        sys.exit(2)
    clash = shadowed()
    if clash:
        connection.sendall(
            f"refused: the app's own {', '.join(clash)} would replace what is loaded\n".encode()
        )
        sys.exit(2)
    connection.sendall(b"ok\n")

sys.argv = ["streamlit", *argv[2:]]
streamlit.web.cli.main(prog_name="streamlit")
