// The dashboard end to end: real `burrow serve`, real runc and Streamlit, real Chromium.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from './expect.mjs';
import { zip } from './zip.mjs';
import { startServerAndBrowser, shot, PASSWORD } from './harness.mjs';

const TEMPLATE = resolve(import.meta.dirname, '../../templates/csv_explorer/app.py');
/** A build, a start or a Streamlit render can take a while on two cores. */
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

async function register(context, name, email) {
  const page = await context.newPage();
  await page.goto(`${server.base}/`);
  // Signed out, every page leads to sign-in.
  await page.waitForURL(/\/login/);
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL((url) => !/\/(login|register)/.test(url.pathname));
  return page;
}

test('a team builds, opens, versions and stops an app from the dashboard', { timeout: 900_000 }, async (t) => {
  // Each step builds on the one before, so after a failure the rest are reported as not run.
  let broken = false;
  const step = (name, fn) =>
    t.test(name, { skip: broken && 'an earlier step failed' }, async () => {
      try {
        await fn();
      } catch (e) {
        broken = true;
        throw e;
      }
    });
  const owner = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  let page;
  let appUrl;

  await step('sign-in page, then register', async () => {
    const probe = await owner.newPage();
    await probe.goto(`${server.base}/projects/nothing/apps/nothing`);
    await probe.waitForURL(/\/login\?next=/);
    await expect(probe.getByRole('button', { name: 'Sign in' })).toBeVisible();
    await shot(probe, '01-sign-in');
    await probe.close();
    page = await register(owner, 'Olive Owner', 'olive@example.com');
  });

  await step('create a project', async () => {
    await page.getByRole('button', { name: 'Create project' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'New project' });
    await dialog.getByLabel('Project name').fill('Analytics');
    await dialog.getByRole('button', { name: 'Create project' }).click();
    await page.waitForURL(/\/projects\/[a-z0-9_]+$/);
    await expect(page.getByRole('button', { name: /^Project: Analytics/ })).toBeVisible();
    await shot(page, '02-apps-empty');
  });

  await step('pasted code with a problem is refused inline, and nothing is lost', async () => {
    await page.getByRole('link', { name: 'New app' }).first().click();
    await page.waitForURL(/\/apps\/new$/);
    await page.getByRole('tab', { name: 'Paste code' }).click();
    const editor = page.locator('.cm-content');
    await editor.fill('import streamlit as st\nimport subprocess\n\nst.title("Shell")\n');
    await page.getByLabel('Name').fill('Shell');
    await page.getByRole('button', { name: 'Create app' }).click();
    const finding = page.getByTestId('finding').filter({ hasText: 'subprocess' });
    await expect(finding).toContainText('app.py:2');
    await expect(editor).toContainText('import subprocess');
    assert.match(page.url(), /\/apps\/new$/);
    await shot(page, '03-new-app-refused');
    await page.getByRole('link', { name: 'Apps' }).first().click();
    await expect(page.getByText('No apps yet')).toBeVisible();
  });

  await step('create an app from the CSV Explorer template and wait for its build', async () => {
    await page.getByRole('link', { name: 'New app' }).first().click();
    await page.waitForURL(/\/apps\/new$/);
    await page.getByRole('tab', { name: 'Template' }).click();
    await page.getByRole('button', { name: /CSV Explorer/ }).click();
    await page.getByLabel('Name').fill('CSV Explorer');
    await page.getByLabel('Description').fill('Look at a CSV');
    await shot(page, '04-new-app-template');
    await page.getByRole('button', { name: 'Create app' }).click();
    await page.waitForURL(/\/projects\/[a-z0-9_]+\/apps\/[a-z0-9]{16}$/);
    appUrl = page.url();
    await expect(page.getByRole('heading', { level: 1, name: 'CSV Explorer' })).toBeVisible();
    await expect(page.getByTestId('version-1')).toContainText('Active', { timeout: SLOW });
    await expect(page.getByTestId('build-log')).not.toBeEmpty();
    await shot(page, '05-app-built');
  });

  await step('open it: the loading page, then Streamlit renders through the proxy', async () => {
    // The app is stopped, so the first page its viewer gets is the cold-start page.
    const documents = [];
    owner.on('response', async (response) => {
      if (response.request().resourceType() === 'document' && server.appOriginPattern.test(response.url())) {
        documents.push(await response.text().catch(() => ''));
      }
    });
    const [viewer] = await Promise.all([
      owner.waitForEvent('page'),
      page.getByRole('link', { name: 'Open app' }).click(),
    ]);
    // The heading is drawn by Streamlit's front end from messages on its WebSocket.
    await expect(viewer.getByRole('heading', { name: 'CSV Explorer' })).toBeVisible({ timeout: SLOW });
    assert.match(viewer.url(), server.appOriginPattern, 'the app is served from an origin of its own');
    assert.ok(
      documents.some((html) => html.includes('Waking up the hedgehogs')),
      `the cold-start page came first; documents seen: ${documents.length}`,
    );
    await expect(viewer.getByText('Rows (120 of 120)')).toBeVisible({ timeout: 60_000 });
    await expect(viewer.locator('[data-testid="stDataFrame"]')).toBeVisible({ timeout: 60_000 });
    await viewer.waitForTimeout(1500); // let the charts finish drawing before the picture
    await shot(viewer, '06-app-running');
    await viewer.close();
    await expect(page.getByTestId('app-status')).toHaveText('running', { timeout: 30_000 });
  });

  await step('upload a new version, then roll back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'burrow-e2e-bundle-'));
    const file = join(dir, 'app.py');
    writeFileSync(file, readFileSync(TEMPLATE, 'utf8').replace('st.title("CSV Explorer")', 'st.title("CSV Explorer, second")'));
    await page.getByRole('button', { name: 'Upload new version' }).click();
    await page.getByLabel('Bundle file').setInputFiles(file);
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    rmSync(dir, { recursive: true, force: true });
    await expect(page.getByTestId('version-2')).toContainText('Active', { timeout: SLOW });
    await expect(page.getByTestId('version-1')).not.toContainText('Active');
    await shot(page, '07-versions');
    await page.getByRole('button', { name: 'Activate version 1' }).click();
    await expect(page.getByTestId('version-1')).toContainText('Active', { timeout: 30_000 });
    await expect(page.getByTestId('version-2')).not.toContainText('Active');
  });

  await step('stop the app', async () => {
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await expect(page.getByTestId('app-status')).toHaveText('stopped', { timeout: 60_000 });
    // Deep links survive a reload.
    await page.reload();
    await expect(page.getByRole('heading', { level: 1, name: 'CSV Explorer' })).toBeVisible();
    await shot(page, '08-app-stopped');
  });

  await step('the delete dialog works from the keyboard, and Escape keeps the app', async () => {
    const remove = page.getByRole('button', { name: 'Delete app' });
    await remove.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await expect(dialog).toBeVisible();
    assert.ok(await dialog.evaluate((d) => d.contains(document.activeElement)), 'focus moves into the dialog');
    await page.keyboard.press('Escape');
    await expect(dialog).toHaveCount(0);
    assert.ok(await remove.evaluate((b) => b === document.activeElement), 'focus returns to "Delete app"');
    await expect(page.getByRole('heading', { level: 1, name: 'CSV Explorer' })).toBeVisible();
  });

  await step('an uploaded zip that crashes at start shows its error', async () => {
    // A module named like Streamlit, first on the path, makes the server exit at once.
    const dir = mkdtempSync(join(tmpdir(), 'burrow-e2e-bundle-'));
    const file = join(dir, 'crashy.zip');
    writeFileSync(file, zip({ 'app.py': "print('never runs')\n", 'streamlit.py': 'raise SystemExit(3)\n' }));
    await page.getByRole('link', { name: 'Apps' }).first().click();
    await page.getByRole('link', { name: 'New app' }).first().click();
    await page.getByRole('tab', { name: 'Upload' }).click();
    await page.getByLabel('Bundle file').setInputFiles(file);
    await page.getByLabel('Name').fill('Crashy');
    await page.getByRole('button', { name: 'Create app' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Crashy' })).toBeVisible();
    rmSync(dir, { recursive: true, force: true });
    await expect(page.getByTestId('version-1')).toContainText('Active', { timeout: SLOW });
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    // Three restarts, after 1, 2 and 4 seconds, then it stays in error.
    await expect(page.getByTestId('app-status')).toHaveText('error', { timeout: SLOW });
    await expect(page.getByText(/exit code 3/).first()).toBeVisible();
    await shot(page, '09-app-error');
    await page.getByRole('link', { name: 'Apps' }).first().click();
    await expect(page.getByRole('link', { name: /Crashy/ })).toBeVisible();
    await expect(page.getByRole('link', { name: /CSV Explorer/ })).toBeVisible();
    await shot(page, '10-apps-list');
  });

  await step('a stranger gets "not found"', async () => {
    const stranger = await browser.newContext();
    const theirs = await register(stranger, 'Sam Stranger', 'sam@example.com');
    await theirs.goto(appUrl);
    await expect(theirs.getByRole('heading', { name: /not found/i })).toBeVisible();
    await expect(theirs.getByRole('button', { name: 'Stop' })).toHaveCount(0);
    await shot(theirs, '11-stranger-not-found');
    // Signed in, the sign-in page forwards to `next`, but never off this origin.
    await theirs.goto(`${server.base}/login?next=%2F..%2F%2Fevil.example%2F`);
    await expect(theirs.getByRole('button', { name: /^Project:/ })).toBeVisible();
    assert.equal(new URL(theirs.url()).origin, server.base);
    await stranger.close();
  });

  await step('a viewer sees no edit controls', async () => {
    // Vera prefers dark: the picture shows the dark theme.
    const viewerContext = await browser.newContext({ colorScheme: 'dark', viewport: { width: 1280, height: 860 } });
    const theirs = await register(viewerContext, 'Vera Viewer', 'vera@example.com');
    // The owner adds Vera as a viewer from the project settings.
    await page.getByRole('link', { name: 'Settings' }).first().click();
    await page.getByLabel('Email').fill('vera@example.com');
    await page.getByLabel('Role', { exact: true }).selectOption('viewer');
    await page.getByRole('button', { name: 'Add member' }).click();
    await expect(page.getByLabel('Role for vera@example.com')).toHaveValue('viewer');
    await shot(page, '12-project-settings');

    await theirs.goto(appUrl);
    await expect(theirs.getByRole('heading', { level: 1, name: 'CSV Explorer' })).toBeVisible();
    await expect(theirs.getByRole('link', { name: 'Open app' })).toBeVisible();
    for (const name of ['Start', 'Stop', 'Restart', 'Upload new version', 'Delete app', 'Save settings']) {
      await expect(theirs.getByRole('button', { name, exact: true })).toHaveCount(0);
    }
    await expect(theirs.getByRole('button', { name: /^Activate version/ })).toHaveCount(0);
    await shot(theirs, '13-viewer-app');
    await viewerContext.close();
  });

  await step('admin: the package allowlist', async () => {
    await page.goto(`${server.base}/admin`);
    await page.getByLabel('Package name').fill('tabulate');
    await page.getByRole('button', { name: 'Add package' }).click();
    await expect(page.getByRole('button', { name: 'Remove tabulate' })).toBeVisible();
    await shot(page, '14-admin');
  });

  await owner.close();
});
