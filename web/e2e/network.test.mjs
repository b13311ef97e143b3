// An app's network in a real browser: the app's own requests go through Burrow's egress
// proxy, the policy changes from the app page without a restart, and the page says why a
// request was blocked.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { expect } from './expect.mjs';
import { startServerAndBrowser, shot, api, account, built, signIn } from './harness.mjs';

const SLOW = 240_000;

/** An app that asks for the cloud metadata endpoint and for loopback, and shows what it got. */
const FETCHER = `import urllib.request, urllib.error
import streamlit as st

st.title("Fetcher")
for url in ["http://169.254.169.254/latest/meta-data/", "http://127.1/"]:
    try:
        urllib.request.urlopen(url, timeout=10)
        st.text(f"reached {url}")
    except urllib.error.HTTPError as e:
        st.text(f"refused {url}: {e.code} {e.read().decode().strip()}")
    except Exception as e:
        st.text(f"error {url}: {e}")
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

test('an app reaches out only through the proxy, and its page says why a request was blocked', { timeout: 900_000 }, async () => {
  const owner = await account(server, 'Nina', 'nina@example.com');
  const project = (await api(server, 'POST', '/api/v1/projects', owner, { name: 'Integrations' }, 201)).id;
  const app = await api(server, 'POST', `/api/v1/projects/${project}/apps`, owner, { name: 'Fetcher', code: FETCHER }, 201);
  assert.deepEqual(app.network, { policy: 'none', domains: [] }, 'a new app has no network');
  await built(server, owner, project, app.id);

  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await signIn(context, server, 'nina@example.com');

  // With no network, the proxy refuses and says so.
  const viewer = await context.newPage();
  await viewer.goto(`${server.base}/api/v1/apps/${app.id}/open`);
  await expect(viewer.getByRole('heading', { name: 'Fetcher' })).toBeVisible({ timeout: SLOW });
  await expect(viewer.getByText(/refused http:\/\/169\.254\.169\.254\/latest\/meta-data\/: 403 burrow egress: blocked: 169\.254\.169\.254, the egress policy is none/)).toBeVisible({ timeout: 60_000 });

  // The owner opens the network to the public internet on the app page.
  await page.goto(`${server.base}/projects/${project}/apps/${app.id}`);
  await expect(page.getByRole('heading', { name: 'Network' })).toBeVisible();
  // A bad allowlist is refused with its reason, and nothing changes.
  await page.getByRole('radio', { name: /Allowlist/ }).check();
  await page.getByLabel('Allowed domains').fill('169.254.169.254');
  await page.getByRole('button', { name: 'Save network' }).click();
  await expect(page.getByText(/"169\.254\.169\.254" is an address: an allowlist names domains/)).toBeVisible();
  await page.getByRole('radio', { name: /Public internet/ }).check();
  await page.getByRole('button', { name: 'Save network' }).click();
  await expect(page.getByText('Network saved')).toBeVisible();
  const saved = await api(server, 'GET', `/api/v1/projects/${project}/apps/${app.id}`, owner);
  assert.deepEqual(saved.network, { policy: 'public', domains: [] });

  // The running app gets the new policy on its next request, without a restart: public
  // still never reaches the metadata endpoint or loopback, whatever the spelling.
  await viewer.reload();
  await expect(viewer.getByText('refused http://169.254.169.254/latest/meta-data/: 403 burrow egress: blocked: 169.254.169.254, cloud metadata endpoint')).toBeVisible({ timeout: SLOW });
  await expect(viewer.getByText('refused http://127.1/: 403 burrow egress: blocked: 127.1 (127.0.0.1), loopback range')).toBeVisible();
  await shot(viewer, 'network-app');

  // The app page lists the decisions, for every member.
  await page.reload();
  const list = page.getByRole('list', { name: 'Recent network requests' });
  await expect(list.getByText('blocked: 169.254.169.254, cloud metadata endpoint').first()).toBeVisible({ timeout: 30_000 });
  await expect(list.getByText('blocked: 127.1 (127.0.0.1), loopback range').first()).toBeVisible();
  await page.getByRole('heading', { name: 'Network' }).scrollIntoViewIfNeeded();
  await shot(page, 'network-decisions');
  await context.close();
});
