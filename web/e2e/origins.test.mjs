// An origin per app, in a real browser: a hostile app's script cannot read another
// app its viewer may also open, nor open its WebSocket, nor get its cookie; a normal
// app still takes file uploads and moves between pages.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from './expect.mjs';
import { zip } from './zip.mjs';
import { startServerAndBrowser, shot, api, account, built, signIn } from './harness.mjs';

const TEMPLATE = resolve(import.meta.dirname, '../../templates/csv_explorer/app.py');
const SLOW = 240_000;
const SECRET = 'LEDGER-SECRET-4711';

/** The hostile app: a component whose script tries everything against `target`. */
function hostile(target) {
  return `import json
import streamlit as st
import streamlit.components.v1 as components

st.title("Campaign")
components.html("""
<pre id="out">running</pre>
<script>
const target = ${JSON.stringify(target)};
const results = {};
async function attempt(name, fn) {
  try { results[name] = await fn(); } catch (e) { results[name] = 'blocked: ' + e.name; }
}
async function run() {
  // Control: the script runs and may read its own origin.
  await attempt('own', async () => 'read: ' + (await (await fetch('/')).text()).slice(0, 80));
  await attempt('fetch', async () => 'read: ' + (await (await fetch(target + '/', { credentials: 'include' })).text()));
  await attempt('status', async () => 'read: ' + (await (await fetch(target + '/_burrow/status', { credentials: 'include' })).text()));
  await attempt('frame', () => new Promise((done, fail) => {
    const frame = document.createElement('iframe');
    frame.src = target + '/';
    frame.onload = () => { try { done('read: ' + frame.contentDocument.body.innerText); } catch (e) { fail(e); } };
    document.body.appendChild(frame);
    setTimeout(() => fail(new Error('timeout')), 15000);
  }));
  await attempt('websocket', () => new Promise((done) => {
    const ws = new WebSocket(target.replace('http://', 'ws://') + '/_stcore/stream');
    ws.onopen = () => done('open');
    ws.onerror = () => done('refused');
    setTimeout(() => done('timeout'), 15000);
  }));
  results.cookie = document.cookie;
  document.getElementById('out').textContent = 'done ' + JSON.stringify(results);
}
run();
</script>
""", height=300)
`;
}

let server;
let browser;
let stop;

before(async () => {
  ({ server, browser, stop } = await startServerAndBrowser());
});

after(async () => {
  await stop?.();
});

/** Opens an app the way the dashboard's "Open app" does, in `page`; waits for Streamlit. */
async function openApp(page, id, heading) {
  await page.goto(`${server.base}/api/v1/apps/${id}/open`);
  await expect(page.getByRole('heading', { name: heading })).toBeVisible({ timeout: SLOW });
  assert.ok(page.url().startsWith(server.appOrigin(id)), page.url());
}

test('an app on its own origin cannot read, frame or talk to another app', { timeout: 900_000 }, async () => {
  const olga = await account(server, 'Olga', 'olga@example.com');
  await account(server, 'Vera', 'vera@example.com');
  const finance = (await api(server, 'POST', '/api/v1/projects', olga, { name: 'Finance' }, 201)).id;
  const marketing = (await api(server, 'POST', '/api/v1/projects', olga, { name: 'Marketing' }, 201)).id;
  for (const project of [finance, marketing]) {
    await api(server, 'POST', `/api/v1/projects/${project}/members`, olga, { email: 'vera@example.com', role: 'viewer' }, 201);
  }
  const ledger = await api(server, 'POST', `/api/v1/projects/${finance}/apps`, olga, {
    name: 'Ledger',
    code: `import streamlit as st\nst.title("Ledger")\nst.write("${SECRET}")\n`,
  }, 201);
  const campaign = await api(server, 'POST', `/api/v1/projects/${marketing}/apps`, olga, {
    name: 'Campaign',
    code: hostile(server.appOrigin(ledger.id)),
  }, 201);
  await built(server, olga, finance, ledger.id);
  await built(server, olga, marketing, campaign.id);
  assert.equal(ledger.url, `${server.appOrigin(ledger.id)}/`);

  // Vera, a viewer of both, opens the ledger first, so her browser holds its cookie.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await signIn(context, server, 'vera@example.com');
  await openApp(page, ledger.id, 'Ledger');
  await expect(page.getByText(SECRET)).toBeVisible({ timeout: 60_000 });
  const cookies = await context.cookies();
  const ledgerCookie = cookies.find((c) => c.domain === `${ledger.id}.apps.localhost`);
  assert.ok(ledgerCookie, `a cookie on the ledger's host: ${JSON.stringify(cookies.map((c) => c.domain))}`);
  assert.equal(ledgerCookie.httpOnly, true);

  // Then the campaign, whose script attacks the ledger.
  const attacker = await context.newPage();
  await openApp(attacker, campaign.id, 'Campaign');
  let report = '';
  const deadline = Date.now() + 120_000;
  while (!report.startsWith('done') && Date.now() < deadline) {
    for (const frame of attacker.frames()) {
      const out = await frame.locator('#out').textContent({ timeout: 500 }).catch(() => null);
      if (out) report = out;
    }
    await attacker.waitForTimeout(500);
  }
  await shot(attacker, 'origins-hostile-app');
  assert.ok(report.startsWith('done'), `the hostile script finished: ${report}`);
  const results = JSON.parse(report.slice('done '.length));
  assert.match(results.own, /^read: /, 'the script ran and reads its own origin');
  for (const name of ['fetch', 'status', 'frame']) {
    assert.match(results[name], /^blocked/, `${name}: ${results[name]}`);
  }
  assert.equal(results.websocket, 'refused');
  assert.ok(!results.cookie.includes('burrow_view'), `cookies the script sees: ${results.cookie}`);
  assert.ok(!report.includes(SECRET), 'the secret never reached the hostile app');
  // Its own view cookie is on its own host, not the ledger's.
  const campaignCookie = (await context.cookies()).find((c) => c.domain === `${campaign.id}.apps.localhost`);
  assert.ok(campaignCookie && campaignCookie.value !== ledgerCookie.value);
  await context.close();
});

test('a normal app takes a file upload and moves between its pages', { timeout: 900_000 }, async () => {
  const owner = await account(server, 'Nora', 'nora@example.com');
  const project = (await api(server, 'POST', '/api/v1/projects', owner, { name: 'Reports' }, 201)).id;
  const dir = mkdtempSync(join(tmpdir(), 'burrow-e2e-origins-'));
  const bundle = join(dir, 'reports.zip');
  writeFileSync(bundle, zip({
    'app.py': readFileSync(TEMPLATE, 'utf8'),
    'pages/2_Notes.py': 'import streamlit as st\nst.title("Notes page")\nst.write("on a page of its own")\n',
  }));
  const form = new FormData();
  form.append('name', 'Reports');
  form.append('file', new Blob([readFileSync(bundle)]), 'reports.zip');
  const app = await api(server, 'POST', `/api/v1/projects/${project}/apps`, owner, form, 201);
  await built(server, owner, project, app.id);

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await signIn(context, server, 'nora@example.com');
  await openApp(page, app.id, 'CSV Explorer');
  await expect(page.getByText('Rows (120 of 120)')).toBeVisible({ timeout: 60_000 });

  // An upload goes through the proxy to Streamlit's upload endpoint.
  const csv = join(dir, 'tiny.csv');
  writeFileSync(csv, 'date,region,sales\n2026-01-01,North,10\n2026-01-02,South,20\n2026-01-03,North,30\n');
  await page.locator('[data-testid="stFileUploader"] input[type="file"]').setInputFiles(csv);
  await expect(page.getByText('Rows (3 of 3)')).toBeVisible({ timeout: 60_000 });
  await shot(page, 'origins-upload');

  // The second page, from the sidebar, and again by its own address.
  await page.getByRole('link', { name: /Notes/ }).first().click();
  await expect(page.getByRole('heading', { name: 'Notes page' })).toBeVisible({ timeout: 60_000 });
  assert.equal(new URL(page.url()).pathname, '/Notes');
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Notes page' })).toBeVisible({ timeout: 60_000 });
  await shot(page, 'origins-multipage');
  await context.close();
  rmSync(dir, { recursive: true, force: true });
});
