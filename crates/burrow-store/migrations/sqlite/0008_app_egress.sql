-- What an app's sandbox may reach through the egress proxy: `none`, `allowlist` or
-- `public`, and for an allowlist its domains, one per line. Apps made before start
-- with none, as they had no network.
ALTER TABLE apps ADD COLUMN egress_mode TEXT NOT NULL DEFAULT 'none';
ALTER TABLE apps ADD COLUMN egress_domains TEXT NOT NULL DEFAULT '';
