// Project data in a real browser: add the sample, page and sort it, upload a CSV with a
// corrected type, query in the console, and chart a table with the Table dashboard template.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from './expect.mjs';
import { startServerAndBrowser, shot, api, account, signIn } from './harness.mjs';

const SLOW = 240_000;

let server;
let browser;
let stop;
let files;

before(async () => {
  ({ server, browser, stop } = await startServerAndBrowser());
  files = mkdtempSync(join(tmpdir(), 'burrow-e2e-data-'));
});

after(async () => {
  await stop?.();
  if (files) rmSync(files, { recursive: true, force: true });
});

test('tables are added, previewed, queried and charted from the dashboard', { timeout: 900_000 }, async () => {
  const token = await account(server, 'Dana', 'dana@example.com');
  const project = (await api(server, 'POST', '/api/v1/projects', token, { name: 'Analytics' }, 201)).id;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await signIn(context, server, 'dana@example.com');
  await page.goto(`${server.base}/projects/${project}`);

  // An empty Data page offers the sample.
  await page.getByRole('link', { name: 'Data' }).click();
  await expect(page.getByRole('heading', { name: 'No tables yet' })).toBeVisible();
  await page.getByRole('button', { name: 'Add sample data' }).click();
  const tables = page.getByRole('table', { name: 'Tables' });
  await expect(tables.getByRole('link', { name: 'daily_sales' })).toBeVisible();
  await expect(tables.getByRole('cell', { name: '120', exact: true })).toBeVisible();

  // The console runs a query and says how many rows came back, and how fast.
  await expect(page.getByRole('heading', { name: 'SQL console' })).toBeVisible();
  await page.getByRole('button', { name: 'Run' }).click();
  const result = page.getByRole('table', { name: 'Query result' });
  await expect(result.getByRole('columnheader', { name: /revenue/ })).toBeVisible();
  await expect(page.getByText(/^4 rows in \d+ ms$/)).toBeVisible();
  assert.equal(await result.locator('tbody tr').count(), 4);
  // A statement that is not a query is refused with Burrow's reason.
  await page.getByLabel('SQL statement').fill('drop table daily_sales');
  await page.getByRole('button', { name: 'Run' }).click();
  await expect(page.getByText(/only queries \(SELECT, WITH, VALUES, EXPLAIN\) run here/)).toBeVisible();
  await page.getByLabel('SQL statement').fill('select region, count(*) as days\nfrom daily_sales\ngroup by region\norder by days desc');
  await page.getByRole('button', { name: 'Run' }).click();
  await expect(page.getByText(/^4 rows in \d+ ms$/)).toBeVisible();
  await shot(page, 'data-page');

  // The table page: columns with types, paging, sorting.
  await tables.getByRole('link', { name: 'daily_sales' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'daily_sales' })).toBeVisible();
  const columns = page.getByRole('list', { name: 'Columns' });
  await expect(columns.getByText('date')).toHaveCount(2); // the column, and its type
  await expect(page.getByText('Rows 1–50 of 120')).toBeVisible();
  const grid = page.getByRole('table', { name: 'Rows of daily_sales' });
  await expect(grid.locator('tbody tr').first().locator('td').first()).toHaveText('2026-01-01');
  await page.getByRole('button', { name: 'Next' }).click();
  await expect(page.getByText('Rows 51–100 of 120')).toBeVisible();
  await grid.getByRole('button', { name: /^revenue/ }).click();
  await expect(page.getByText('Rows 1–50 of 120')).toBeVisible();
  await grid.getByRole('button', { name: /^revenue/ }).click();
  await expect(grid.getByRole('columnheader', { name: /revenue/ })).toHaveAttribute('aria-sort', 'descending');
  const firstRevenue = Number(await grid.locator('tbody tr').first().locator('td').nth(4).textContent());
  const secondRevenue = Number(await grid.locator('tbody tr').nth(1).locator('td').nth(4).textContent());
  assert.ok(firstRevenue >= secondRevenue, `${firstRevenue} then ${secondRevenue}`);
  await shot(page, 'data-table-page');

  // Upload a CSV: the types found are shown, one is corrected, the upload shows progress.
  await page.getByRole('link', { name: 'Data' }).first().click();
  await page.getByRole('button', { name: 'Upload table' }).click();
  const csv = join(files, 'Store Targets.csv');
  writeFileSync(csv, 'region,target,code\nNorth,1000,7\nSouth,1200,8\nEast,900,9\nWest,1100,10\n');
  await page.getByLabel('Table file').setInputFiles(csv);
  await expect(page.getByLabel('Type of target')).toHaveValue('integer');
  await expect(page.getByLabel('Table name')).toHaveValue('store_targets');
  await page.getByLabel('Type of code').selectOption('text');
  await shot(page, 'data-upload-dialog');
  await page.getByRole('button', { name: 'Create table' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'store_targets' })).toBeVisible();
  await expect(page.getByRole('list', { name: 'Columns' }).getByText('text')).toHaveCount(2);
  const stored = await api(server, 'GET', `/api/v1/projects/${project}/tables/store_targets`, token);
  assert.deepEqual(
    stored.columns.map((c) => c.type),
    ['text', 'integer', 'text'],
  );

  // The Table dashboard template charts the sample with burrow.sql().
  await page.goto(`${server.base}/projects/${project}/apps/new?template=table-dashboard`);
  await page.getByRole('button', { name: /Create app/ }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Table dashboard' })).toBeVisible({ timeout: SLOW });
  await expect(page.getByTestId('version-1')).toContainText('Active', { timeout: SLOW });
  const [viewer] = await Promise.all([
    context.waitForEvent('page'),
    page.getByRole('link', { name: 'Open app' }).click(),
  ]);
  await expect(viewer.getByRole('heading', { name: 'Table dashboard' })).toBeVisible({ timeout: SLOW });
  await expect(viewer.getByText('daily_sales: 120 rows, 5 columns')).toBeVisible({ timeout: 60_000 });
  await expect(viewer.getByText('Total revenue')).toBeVisible();
  await expect(viewer.locator('[data-testid="stVegaLiteChart"], .vega-embed').first()).toBeVisible({ timeout: 60_000 });
  await shot(viewer, 'data-table-dashboard');
  await context.close();
});
