-- The admin-managed allowlist of installable packages, seeded with the common data stack.

CREATE TABLE packages (
    name        TEXT PRIMARY KEY,  -- normalised per PEP 503
    max_version TEXT,              -- inclusive upper bound, or NULL
    added_by    TEXT REFERENCES users (id) ON DELETE SET NULL,
    added_at    BIGINT NOT NULL
);

INSERT INTO packages (name, max_version, added_by, added_at) VALUES
    ('streamlit', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('numpy', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('pandas', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('polars', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('scipy', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('scikit-learn', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('matplotlib', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('seaborn', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('plotly', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('altair', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('pyarrow', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('duckdb', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('requests', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('beautifulsoup4', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('lxml', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('sqlalchemy', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('streamlit-aggrid', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)),
    ('streamlit-extras', NULL, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT));
