// Transform jobs in a real browser: write a script, try it on the sample, refuse a bad
// import, run a job into a new table, watch it succeed, and open the table it wrote.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { expect } from './expect.mjs';
import { startServerAndBrowser, shot, api, account, signIn } from './harness.mjs';

const SLOW = 240_000;

let server;
let browser;
let stop;

before(async () => {
  ({ server, browser, stop } = await startServerAndBrowser());
});

after(async () => {
  await stop?.();
});

test('a script is written, tried, and run as a job into a new table', { timeout: 900_000 }, async () => {
  const token = await account(server, 'Jo', 'jo@example.com');
  const project = (await api(server, 'POST', '/api/v1/projects', token, { name: 'Analytics' }, 201)).id;
  await api(server, 'POST', `/api/v1/projects/${project}/tables/sample`, token, {}, 201);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await signIn(context, server, 'jo@example.com');
  await page.goto(`${server.base}/projects/${project}`);

  // An empty Jobs page explains scripts and offers to write one.
  await page.getByRole('link', { name: 'Jobs' }).click();
  await expect(page.getByRole('heading', { name: 'No scripts yet' })).toBeVisible();
  await page.getByRole('link', { name: 'Write a script' }).click();
  await expect(page.getByRole('heading', { name: 'New script' })).toBeVisible();

  // Try it runs the starter script on the sample's first 100 rows, in a sandbox.
  await page.getByRole('button', { name: 'Try it' }).click();
  await expect(page.getByText(/^100 rows in, \d+ rows out\.$/)).toBeVisible({ timeout: SLOW });
  const after = page.getByRole('table', { name: 'Rows after' });
  await expect(after.getByRole('columnheader', { name: /revenue_per_unit/ })).toBeVisible();
  await shot(page, 'jobs-try-it');

  // A script that imports what scripts may not is refused, with the line marked.
  const editor = page.locator('.cm-content');
  await editor.fill('import requests\n\ndef transform(df):\n    return df\n');
  await page.getByLabel('Name').fill('big_days');
  await page.getByRole('button', { name: 'Save script' }).click();
  await expect(page.getByText(/job scripts may not import requests/)).toBeVisible();
  await shot(page, 'jobs-script-refused');
  assert.deepEqual(await api(server, 'GET', `/api/v1/projects/${project}/scripts`, token), []);

  await editor.fill(
    "import pandas as pd\n\ndef transform(df):\n    out = df[df['units'] > 60].copy()\n    out['double_units'] = out['units'] * 2\n    print(f'chunk: {len(df)} in, {len(out)} out')\n    return out\n",
  );
  await page.getByRole('button', { name: 'Save script' }).click();
  await expect(page.getByRole('heading', { name: 'big_days' })).toBeVisible();
  await expect(page.getByText(/^Version 1, saved/)).toBeVisible();

  // Run it from the Jobs page into a new table, and watch it succeed.
  await page.getByRole('link', { name: 'Jobs' }).first().click();
  const form = page.getByRole('form', { name: 'Run a job' });
  await form.getByLabel('Destination table').fill('big_days');
  await form.getByRole('button', { name: 'Run job' }).click();
  await page.waitForURL(/\/jobs\/job_/);
  await expect(page.getByTestId('job-status')).toHaveText('succeeded', { timeout: SLOW });
  await expect(page.getByTestId('job-log')).toContainText('chunk: 120 in,');
  await expect(page.getByTestId('rows-read')).toHaveText('120');
  // The sandbox's cgroup said how much memory it used.
  await expect(page.getByTestId('peak-memory')).toHaveText(/\d+(\.\d+)? MB/);
  await shot(page, 'jobs-job-succeeded');

  // The new table is in the explorer, with the job that wrote it.
  await page.getByRole('status').getByRole('link', { name: 'big_days' }).click();
  await expect(page.getByRole('heading', { name: 'big_days' })).toBeVisible();
  await expect(page.getByText(/from a job/)).toBeVisible();
  const jobs = page.getByRole('table', { name: 'Jobs that read or wrote this table' });
  await expect(jobs.getByText('succeeded')).toBeVisible();
  await shot(page, 'jobs-table-written');

  // The jobs list shows it with its rows and duration.
  await page.getByRole('link', { name: 'Jobs' }).first().click();
  const list = page.getByRole('table', { name: 'Jobs' });
  await expect(list.getByText('daily_sales → big_days')).toBeVisible();
  await shot(page, 'jobs-page');

  // Schedule it every morning: mode create is not offered, the schedule is listed with
  // its next run, and deleting it asks first.
  const scheduleForm = page.getByRole('form', { name: 'Run a job' });
  await scheduleForm.getByLabel('When').selectOption('schedule');
  await expect(scheduleForm.getByLabel('Mode')).toHaveValue('replace');
  await expect(scheduleForm.getByLabel('Mode').locator('option[value="create"]')).toHaveCount(0);
  await scheduleForm.getByLabel('Source table').selectOption('daily_sales');
  await scheduleForm.getByLabel('Destination table').fill('nightly_big_days');
  await scheduleForm.getByLabel('Cron (UTC)').fill('every morning');
  await scheduleForm.getByRole('button', { name: 'Schedule job' }).click();
  await expect(scheduleForm.getByText(/is not a cron expression/)).toBeVisible();
  await scheduleForm.getByLabel('Cron (UTC)').fill('0 6 * * *');
  await scheduleForm.getByRole('button', { name: 'Schedule job' }).click();
  await expect(scheduleForm.getByRole('status')).toContainText('Scheduled: big_days runs at 0 6 * * *');
  const schedules = page.getByRole('table', { name: 'Schedules' });
  await expect(schedules.getByText('daily_sales → nightly_big_days')).toBeVisible();
  await expect(schedules.getByText(/^in \d+ (hour|minute)s?$/)).toBeVisible();
  await shot(page, 'jobs-scheduled');
  page.once('dialog', (dialog) => void dialog.accept());
  await schedules.getByRole('button', { name: /Delete the schedule of big_days/ }).click();
  await expect(page.getByRole('table', { name: 'Schedules' })).toHaveCount(0);
  await context.close();
});
