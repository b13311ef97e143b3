// An app's secrets in a real browser: set on the app page, shown by the app through
// st.secrets, replaced without a restart by hand, never shown back, deleted after a question.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { expect } from './expect.mjs';
import { startServerAndBrowser, shot, api, account, built, signIn } from './harness.mjs';

const SLOW = 240_000;

const GREETER = `import streamlit as st

st.title(st.secrets.get("GREETING", "no greeting"))
`;

let server;
let browser;
let stop;

before(async () => {
  ({ server, browser, stop } = await startServerAndBrowser());
});

after(async () => {
  await stop?.();
});

test('secrets are set on the app page, read by the app, and never shown back', { timeout: 900_000 }, async () => {
  const owner = await account(server, 'Sam', 'sam@example.com');
  const project = (await api(server, 'POST', '/api/v1/projects', owner, { name: 'Keys' }, 201)).id;
  const app = await api(server, 'POST', `/api/v1/projects/${project}/apps`, owner, { name: 'Greeter', code: GREETER }, 201);
  await built(server, owner, project, app.id);

  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await signIn(context, server, 'sam@example.com');
  await page.goto(`${server.base}/projects/${project}/apps/${app.id}`);
  const section = page.getByTestId('secrets-section');
  await expect(section.getByText('No secrets yet.')).toBeVisible();

  // A bad name is refused with its reason; nothing is stored.
  await section.getByLabel('Name').fill('1bad');
  await section.getByLabel('Value').fill('x');
  await section.getByRole('button', { name: 'Add secret' }).click();
  await expect(section.getByText(/not a digit first/)).toBeVisible();
  assert.deepEqual(await api(server, 'GET', `/api/v1/projects/${project}/apps/${app.id}/secrets`, owner), []);

  await section.getByLabel('Name').fill('GREETING');
  await section.getByLabel('Value').fill('Hello from a secret');
  await section.getByRole('button', { name: 'Add secret' }).click();
  await expect(page.getByText('GREETING added')).toBeVisible();
  await expect(section.getByRole('list', { name: 'Secrets' }).getByText('GREETING')).toBeVisible();
  assert.ok(!(await page.evaluate(() => document.body.innerText)).includes('Hello from a secret'), 'the value is not shown back');
  await shot(page, 'secrets');

  // The app reads it.
  const viewer = await context.newPage();
  await viewer.goto(`${server.base}/api/v1/apps/${app.id}/open`);
  await expect(viewer.getByRole('heading', { name: 'Hello from a secret' })).toBeVisible({ timeout: SLOW });

  // A new value: the running app switches to it by itself.
  await section.getByRole('button', { name: 'Replace GREETING' }).click();
  await section.getByLabel('New value of GREETING').fill('Hello again');
  await section.getByRole('button', { name: 'Save new value' }).click();
  await expect(page.getByText('GREETING replaced')).toBeVisible();
  let switched = false;
  for (let i = 0; i < 60 && !switched; i++) {
    await viewer.reload();
    switched = await viewer
      .getByRole('heading', { name: 'Hello again' })
      .waitFor({ timeout: 5_000 })
      .then(() => true, () => false);
  }
  assert.ok(switched, 'the app shows the new value');
  await shot(viewer, 'secrets-app');

  // Deleting asks first.
  await section.getByRole('button', { name: 'Delete GREETING' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(section.getByText('No secrets yet.')).toBeVisible();
  await context.close();
});
