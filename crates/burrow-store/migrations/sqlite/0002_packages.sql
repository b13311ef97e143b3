-- The admin-managed allowlist of installable packages, seeded with the common data stack.

CREATE TABLE packages (
    name        TEXT PRIMARY KEY,  -- normalised per PEP 503
    max_version TEXT,              -- inclusive upper bound, or NULL
    added_by    TEXT REFERENCES users (id) ON DELETE SET NULL,
    added_at    BIGINT NOT NULL
);

INSERT INTO packages (name, max_version, added_by, added_at) VALUES
    ('streamlit', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('numpy', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('pandas', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('polars', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('scipy', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('scikit-learn', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('matplotlib', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('seaborn', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('plotly', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('altair', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('pyarrow', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('duckdb', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('requests', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('beautifulsoup4', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('lxml', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('sqlalchemy', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('streamlit-aggrid', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000),
    ('streamlit-extras', NULL, NULL, CAST(strftime('%s', 'now') AS BIGINT) * 1000);
