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

/** Environments and the uv cache outlive a run, so a second run does not rebuild the base. */
const envVars = {
  BURROW_ENVS__DIR: join(root, 'target/e2e/envs'),
  BURROW_ENVS__CACHE_DIR: join(root, 'target/tmp/uv-cache'),
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
    apps: `http://127.0.0.1:${appsPort}`,
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
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

/** Saves a full-page screenshot named `name.png` under SHOTS. */
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
