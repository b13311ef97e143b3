// The end-to-end harness: a real `burrow serve` on free ports over a private data
// directory, and Debian's Chromium driven by playwright-core.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const root = resolve(import.meta.dirname, '../..');
export const BURROW = process.env.BURROW_BIN ?? join(root, 'target/debug/burrow');
export const PASSWORD = 'a long enough passphrase';
/** Screenshots go here: git-ignored, kept as test artifacts. */
export const SHOTS = process.env.BURROW_SCREENSHOTS ?? join(root, 'test-artifacts/web');

/**
 * Environments and the uv cache outlive a run, so a second run does not rebuild the base.
 * Data sources may be on loopback, where the tests' PostgreSQL listens.
 */
const envVars = {
  BURROW_ENVS__DIR: join(root, 'target/e2e/envs'),
  BURROW_ENVS__CACHE_DIR: join(root, 'target/tmp/uv-cache'),
  BURROW_DATA__ALLOW_LOOPBACK_SOURCES: 'true',
};

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A running `burrow serve`. `stop()` ends it with SIGTERM and removes its data. */
export async function startServer() {
  mkdirSync(envVars.BURROW_ENVS__DIR, { recursive: true });
  // The base environment is built once per machine, before the server needs it.
  const dir = mkdtempSync(join(tmpdir(), 'burrow-e2e-'));
  chmodSync(dir, 0o755);
  execFileSync(BURROW, ['runtime', 'build'], {
    env: { ...process.env, ...envVars, BURROW_DATA_DIR: dir, RUST_LOG: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const [port, appsPort] = [await freePort(), await freePort()];
  const child = spawn(BURROW, ['serve'], {
    env: {
      ...process.env,
      ...envVars,
      BURROW_DATA_DIR: dir,
      BURROW_LISTEN: `127.0.0.1:${port}`,
      BURROW_APPS_LISTEN: `127.0.0.1:${appsPort}`,
      RUST_LOG: process.env.TEST_LOG ?? 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((r) => child.on('exit', r));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`burrow serve exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('burrow serve did not become ready in 60 s');
    await sleep(100);
  }
  return {
    base,
    /** Every app has an origin of its own: the app's id is the host's first label. */
    appOrigin: (id) => `http://${id}.apps.localhost:${appsPort}`,
    /** Matches any app's origin. */
    appOriginPattern: new RegExp(`^http://[a-z0-9]{16}\\.apps\\.localhost:${appsPort}`),
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
      // App sandboxes outlive serve by design: the operator's command ends them, and
      // nothing of this run may be left.
      // The data folder stays if they cannot be stopped, for a person to look at.
      const env = { ...process.env, BURROW_DATA_DIR: dir, RUST_LOG: 'warn' };
      execFileSync(BURROW, ['sandbox', 'stop', '--all', '--grace', '1s'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      const listed = execFileSync(BURROW, ['sandbox', 'ps'], { env, encoding: 'utf8' }).trim().split('\n').slice(1);
      if (listed.length > 0) throw new Error(`sandboxes left after the run in ${dir}: ${listed.join('; ')}`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Debian's Chromium, headless. Playwright starts it with a fresh, empty
 * `--user-data-dir` of its own each time (it refuses one passed in `args`).
 */
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return browser;
}

/** Calls the API with a bearer token; returns the parsed body and checks the status. */
export async function api(server, method, path, token, body, status = 200) {
  const init = { method, headers: {} };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`${server.base}${path}`, init);
  const text = await response.text();
  if (response.status !== status) {
    throw new Error(`${method} ${path}: ${response.status}, expected ${status}: ${text}`);
  }
  return text ? JSON.parse(text) : null;
}

/** Registers an account through the API; returns its token. */
export async function account(server, name, email) {
  const body = await api(server, 'POST', '/api/v1/auth/register', null, { name, email, password: PASSWORD }, 201);
  return body.token;
}

/** Waits until an app's first version is built and active. */
export async function built(server, token, project, app) {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const detail = await api(server, 'GET', `/api/v1/projects/${project}/apps/${app}`, token);
    if (detail.active_version === 1) return detail;
    const failed = detail.versions?.find((v) => v.build?.status === 'failed');
    if (failed) throw new Error(`the build failed: ${JSON.stringify(failed.build)}`);
    if (Date.now() > deadline) throw new Error(`app ${app} was not built in time`);
    await sleep(500);
  }
}

/** Signs a browser context in on the platform with the session cookie, as the sign-in page does. */
export async function signIn(context, server, email) {
  const page = await context.newPage();
  await page.goto(`${server.base}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => !/\/login/.test(url.pathname));
  return page;
}

/** A server and a browser for one test file, and how to end both. */
export async function startServerAndBrowser() {
  const server = await startServer();
  let browser;
  try {
    browser = await launchBrowser();
  } catch (e) {
    await server.stop();
    throw e;
  }
  return {
    server,
    browser,
    async stop() {
      await browser.close();
      await server.stop();
    },
  };
}

/** Saves a full-page screenshot named `name.png` under SHOTS. */
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
