// External PostgreSQL sources in a real browser: an owner adds one (a refused writer
// first, then a SELECT-only user, with Test connection), browses its tables, previews
// one sorted, and queries it from the SQL console.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { expect } from './expect.mjs';
import { startServerAndBrowser, shot, api, account, signIn } from './harness.mjs';

let server;
let browser;
let stop;
let warehouse;

/** Runs SQL with psql as the test server's superuser, on `db` (the admin database when absent). */
function psql(sql, db) {
  const admin = process.env.BURROW_TEST_POSTGRES_URL;
  assert.ok(admin, 'BURROW_TEST_POSTGRES_URL is set: `make e2e` starts PostgreSQL for this test');
  const url = new URL(admin);
  if (db) url.pathname = `/${db}`;
  execFileSync('psql', [url.toString(), '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { stdio: 'pipe' });
  return url;
}

before(async () => {
  const id = randomBytes(6).toString('hex');
  const db = `e2e_wh_${id}`;
  psql(`CREATE DATABASE ${db}`);
  const url = psql(
    `CREATE TABLE orders (id integer PRIMARY KEY, customer text, total numeric(10,2), placed date);
     INSERT INTO orders SELECT g, 'customer ' || (g % 7), g * 1.5, date '2026-11-01' + (g % 30) FROM generate_series(1, 240) g;
     ANALYZE orders;
     REVOKE CREATE ON SCHEMA public FROM PUBLIC;
     CREATE ROLE reader_${id} LOGIN PASSWORD 'read-only-${id}';
     GRANT SELECT ON orders TO reader_${id};
     CREATE ROLE writer_${id} LOGIN PASSWORD 'writer-${id}';
     GRANT SELECT, INSERT ON orders TO writer_${id};`,
    db,
  );
  warehouse = { db, host: url.hostname, port: url.port, reader: `reader_${id}`, writer: `writer_${id}`, password: `read-only-${id}` };
  ({ server, browser, stop } = await startServerAndBrowser());
});

after(async () => {
  await stop?.();
  if (warehouse) psql(`DROP DATABASE IF EXISTS ${warehouse.db} WITH (FORCE)`);
});

test('an owner adds a data source, browses it and queries it', { timeout: 300_000 }, async () => {
  const token = await account(server, 'Olga', 'olga@example.com');
  const project = (await api(server, 'POST', '/api/v1/projects', token, { name: 'Warehouse' }, 201)).id;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await signIn(context, server, 'olga@example.com');
  await page.goto(`${server.base}/projects/${project}/data`);

  await page.getByRole('button', { name: 'Add data source' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add a data source' });
  await dialog.getByRole('textbox', { name: 'Name' }).fill('warehouse');
  await dialog.getByRole('textbox', { name: 'Host' }).fill(warehouse.host);
  await dialog.getByLabel('Port').fill(warehouse.port);
  await dialog.getByRole('textbox', { name: 'Database' }).fill(warehouse.db);
  await dialog.getByRole('textbox', { name: 'User' }).fill(warehouse.writer);
  await dialog.getByLabel('Password', { exact: true }).fill('writer-pw');
  await dialog.getByLabel('TLS').selectOption('disable');

  // A user that can write is refused, with the reason and the fix.
  await dialog.getByRole('button', { name: 'Test connection' }).click();
  await expect(dialog.getByText(/can change rows of public\.orders/)).toBeVisible();
  await shot(page, 'source-refused');

  // The SELECT-only user passes the test, and the source is saved.
  await dialog.getByRole('textbox', { name: 'User' }).fill(warehouse.reader);
  await dialog.getByLabel('Password', { exact: true }).fill(warehouse.password);
  await dialog.getByRole('button', { name: 'Test connection' }).click();
  await expect(dialog.getByText(/Connected to PostgreSQL .*: the user can read 1 table\./)).toBeVisible();
  await dialog.getByRole('button', { name: 'Add source' }).click();

  // Its page lists the tables the user may read.
  await expect(page.getByRole('heading', { name: 'warehouse' })).toBeVisible();
  const tables = page.getByRole('table', { name: 'Tables of warehouse' });
  await expect(tables.getByRole('cell', { name: '240', exact: true })).toBeVisible();
  await shot(page, 'source-page');
  assert.equal(await page.getByText(warehouse.password).count(), 0);

  // A preview of a table, sorted by a column.
  await tables.getByRole('link', { name: 'orders' }).click();
  await expect(page.getByRole('heading', { name: 'public.orders' })).toBeVisible();
  const grid = page.getByRole('table', { name: 'Rows of public.orders' });
  await expect(grid.getByRole('columnheader', { name: /total/ })).toBeVisible();
  await grid.getByRole('button', { name: /total/ }).click();
  await grid.getByRole('button', { name: /total/ }).click();
  await expect(grid.getByRole('columnheader', { name: /total/ })).toHaveAttribute('aria-sort', 'descending');
  await expect(grid.locator('tbody tr').first().locator('td').first()).toHaveText('240');
  await shot(page, 'source-table');

  // The console runs on the source.
  await page.goto(`${server.base}/projects/${project}/data`);
  await expect(page.getByRole('table', { name: 'Data sources' }).getByRole('link', { name: 'warehouse' })).toBeVisible();
  await page.getByLabel('Run on').selectOption('warehouse');
  await page.getByLabel('SQL statement').fill('select customer, count(*) as orders, sum(total) as total\nfrom orders\ngroup by customer\norder by customer');
  await page.getByRole('button', { name: 'Run' }).click();
  await expect(page.getByText(/^7 rows in \d+ ms$/)).toBeVisible();
  // A write is refused by the source's rights and the read-only transaction.
  await page.getByLabel('SQL statement').fill("insert into orders values (999, 'x', 1, null) returning id");
  await page.getByRole('button', { name: 'Run' }).click();
  await expect(page.getByText(/permission denied|read-only/)).toBeVisible();
  await shot(page, 'source-console');
  await context.close();
});
