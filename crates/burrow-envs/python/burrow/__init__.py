"""Burrow's module for code running in a Burrow sandbox: query your project's tables.

    import burrow

    burrow.tables()                      # what this sandbox can query
    df = burrow.sql("select region, sum(revenue) as revenue from daily_sales group by 1")
    burrow.sources()                     # the project's external PostgreSQL sources
    df = burrow.sql("select * from orders limit 10", source="warehouse")

Queries run in Burrow, not in the sandbox: read-only, over this project's tables (in
DataFusion's SQL) or one of its sources (in PostgreSQL's, in a read-only transaction),
within the instance's limits (time, memory, and at most 1,000,000 rows by default). A
result past a limit raises `BurrowError` saying which; it is never cut short silently.
Results arrive as Apache Arrow and become pandas DataFrames through pyarrow.

This module ships with Burrow and matches its version; nothing needs installing.
"""

import http.client
import json

__all__ = ["sql", "tables", "sources", "BurrowError"]
__version__ = "{version}"

# The data bridge Burrow serves on this sandbox's own loopback.
_HOST = "127.0.0.1"
_PORT = 3150
# Queries may take up to the instance's time limit; allow for it and the transfer.
_TIMEOUT = 600


class BurrowError(Exception):
    """A query Burrow refused or could not finish; the message says why and what to do.

    `code` is Burrow's error code, such as `invalid_query`, `sql_not_allowed`,
    `query_limit` or `too_many_queries`.
    """

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


def _request(method, path, body=None):
    conn = http.client.HTTPConnection(_HOST, _PORT, timeout=_TIMEOUT)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as e:
        raise BurrowError(
            "burrow: the data bridge on %s:%d did not answer in full (%s: %s); project data "
            "is available in apps and sandboxes that Burrow starts for a project, so run it "
            "again there" % (_HOST, _PORT, type(e).__name__, e)
        ) from None
    finally:
        conn.close()
    if response.status != 200:
        try:
            error = json.loads(data)["error"]
            message, code = error["message"], error.get("code")
        except (ValueError, KeyError, TypeError):
            raise BurrowError(
                "burrow: the data bridge answered %d: %r" % (response.status, data[:200])
            ) from None
        raise BurrowError(message, code)
    return response, data


def sql(query, source=None):
    """Runs one read-only SQL statement over the project's tables; returns a DataFrame.

    `query` is DataFusion SQL (PostgreSQL-like): `select`, `with`, joins, window
    functions and the usual aggregates. Name tables as `burrow.tables()` lists them.
    `source` names an external data source of the project instead (`burrow.sources()`
    lists them); the statement is then PostgreSQL's own, run read-only there.

    Raises `BurrowError` with Burrow's message when the statement is not a query, has a
    mistake (with its line and column), or passes a limit.
    """
    if not isinstance(query, str) or not query.strip():
        raise BurrowError("burrow: sql() takes the statement as a non-empty string")
    import pyarrow

    payload = {"sql": query}
    if source is not None:
        payload["source"] = source
    response, data = _request("POST", "/v1/sql", json.dumps(payload).encode())
    try:
        reader = pyarrow.ipc.open_stream(pyarrow.py_buffer(data))
        table = reader.read_all()
    except pyarrow.ArrowInvalid as e:
        raise BurrowError(
            "burrow: the result arrived incomplete (%s); run the query again" % e
        ) from None
    expected = response.getheader("x-burrow-rows")
    if expected is None or int(expected) != table.num_rows:
        raise BurrowError(
            "burrow: the result arrived incomplete (%d rows of %s); run the query again"
            % (table.num_rows, expected)
        )
    return table.to_pandas()


def tables():
    """The tables this sandbox can query: a list of dicts with `name`, `columns`
    (each `{"name", "type"}`), `rows` and `size_bytes`."""
    _, data = _request("GET", "/v1/tables")
    return json.loads(data)["tables"]


def sources():
    """The names of the project's external PostgreSQL sources, for `sql(…, source=…)`."""
    _, data = _request("GET", "/v1/tables")
    return json.loads(data)["sources"]
