"""Runs a transform job inside its sandbox: `python -m burrow._job`.

Burrow serves the job on this sandbox's own loopback (port 3160). Every message either
way is one tag byte, a four-byte big-endian length and that many bytes:

    Burrow -> here:  S <script source>   B <Arrow IPC stream of one chunk>   E (no more)
    here -> Burrow:  R (the script defines transform)   B <Arrow IPC stream of its result>
                     X <JSON: error, traceback>          D (done)

Burrow sends the next chunks while this one is transformed, so they wait, read one at a
time, in the connection's buffers.

The script runs in a module of its own; `transform(df)` is called once per chunk with
a pandas DataFrame and must return one. What it prints goes to the job's log. Burrow
counts what comes back and checks every chunk against the first; nothing here is
trusted.
"""

import json
import socket
import struct
import sys
import traceback

_PORT = 3160
_SCRIPT = "script.py"


def _send(sock, tag, payload=b""):
    sock.sendall(tag + struct.pack(">I", len(payload)) + payload)


def _receive(stream):
    head = stream.read(5)
    if len(head) < 5:
        return None, b""
    (length,) = struct.unpack(">I", head[1:])
    payload = stream.read(length)
    if len(payload) < length:
        return None, b""
    return head[:1], payload


def _fail(sock, error, exc=None):
    trace = None
    if exc is not None:
        # Only the script's frames: the runner's own are noise to its author.
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == _SCRIPT]
        lines = ["Traceback (most recent call last):\n"]
        lines += traceback.format_list(frames)
        lines += traceback.format_exception_only(type(exc), exc)
        trace = "".join(lines)
    _send(sock, b"X", json.dumps({"error": error, "traceback": trace}).encode())
    _linger(sock)


def _linger(sock):
    """Says no more, then waits for Burrow to close its end.

    Burrow sends chunks ahead of the results and may still be reading the last results
    when this process would end: closing first could reset the connection under them
    (and the error with them), and an early exit reads as the job's end. So read what
    is still coming until Burrow, having read everything, closes.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(60)
        while sock.recv(1 << 16):
            pass
    except OSError:
        pass


def _load():
    """Loads pandas and pyarrow, and what their first conversions load, before a job is
    here: Burrow may start this sandbox ahead of the job it will serve."""
    import pandas as pd
    import pyarrow as pa

    # The sandbox has one CPU's quota: more threads only share it, and throttling a
    # burst of them stalls the whole run for the rest of the scheduler's period.
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    pa.Table.from_pandas(pa.table({"x": [1]}).to_pandas(), preserve_index=False)
    return pd, pa


def main():
    pd, pa = _load()
    sock = socket.create_connection(("127.0.0.1", _PORT))
    stream = sock.makefile("rb")
    tag, source = _receive(stream)
    if tag != b"S":
        return 2
    namespace = {"__name__": "transform_script", "__file__": _SCRIPT}
    try:
        exec(compile(source.decode("utf-8"), _SCRIPT, "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001 - the author's error, reported as theirs
        _fail(sock, f"the script failed while loading: {type(exc).__name__}: {exc}", exc)
        return 1
    transform = namespace.get("transform")
    if not callable(transform):
        _fail(sock, "the script defines no function transform(df)")
        return 1
    _send(sock, b"R")
    chunk = 0
    while True:
        tag, payload = _receive(stream)
        if tag is None or tag == b"E":
            break
        chunk += 1
        frame = pa.ipc.open_stream(payload).read_all().to_pandas()
        try:
            result = transform(frame)
        except BaseException as exc:  # noqa: BLE001
            _fail(sock, f"transform raised {type(exc).__name__} on chunk {chunk}: {exc}", exc)
            return 1
        if not isinstance(result, pd.DataFrame):
            _fail(
                sock,
                f"transform returned {type(result).__name__} on chunk {chunk}, not a pandas DataFrame",
            )
            return 1
        try:
            table = pa.Table.from_pandas(result, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            _fail(
                sock,
                f"the DataFrame transform returned on chunk {chunk} cannot become a table: {exc}: "
                "give each column one type",
            )
            return 1
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        _send(sock, b"B", sink.getvalue().to_pybytes())
        sys.stdout.flush()
    _send(sock, b"D")
    _linger(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
