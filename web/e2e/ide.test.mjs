// The workspace IDE in a real browser over a real sandbox: write hello.py, save, Run and
// see its output; pip install an allowed package and be refused another; reload and
// find the same shell with its scrollback; a file made in the terminal, or uploaded from
// the page, shows in the tree and the sandbox; stop and start keep everything, installed
// packages too; Rebuild packages installs requirements.txt afresh.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { expect } from './expect.mjs';
import { startServerAndBrowser, shot, api, account, signIn } from './harness.mjs';

let server;
let browser;
let stop;

before(async () => {
  ({ server, browser, stop } = await startServerAndBrowser());
});

after(async () => {
  await stop?.();
});

/** What terminal `n` shows now. */
async function screen(page, n = 1) {
  return page.locator(`[data-testid="terminal-${n}"] .xterm-rows`).innerText();
}

async function until(page, what, done, timeout = 60_000, n = 1) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const text = await screen(page, n);
    if (done(text)) return text;
    if (Date.now() > deadline) throw new Error(`waiting for ${what}; the terminal shows:\n${text}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Types a command into the terminal in front. */
async function type(page, command) {
  await page.locator('[data-testid="terminal-1"] .xterm').click();
  await page.keyboard.type(command);
  await page.keyboard.press('Enter');
}

test('a workspace runs code in a terminal that outlives the page', { timeout: 600_000 }, async () => {
  // The first account is the instance's admin, who allows tabulate.
  const token = await account(server, 'Grace', 'grace@example.com');
  await api(server, 'POST', '/api/v1/packages', token, { name: 'tabulate' }, 201);
  const project = (await api(server, 'POST', '/api/v1/projects', token, { name: 'Lab' }, 201)).id;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await signIn(context, server, 'grace@example.com');
  await page.goto(`${server.base}/projects/${project}/workspaces`);
  await page.getByLabel('New workspace').fill('ide');
  await page.getByRole('button', { name: 'Create' }).click();
  await expect(page.getByRole('heading', { name: 'ide' })).toBeVisible();

  // Opening it starts it; the terminal is a shell in the workspace's folder.
  await expect(page.getByTestId('workspace-status')).toHaveText('running', { timeout: 120_000 });
  await until(page, 'a prompt', (t) => t.includes('~/work $'));

  // hello.py, written in the editor, saved and run.
  await page.getByLabel("New file's path").fill('hello.py');
  await page.getByRole('button', { name: 'New file' }).click();
  await page.locator('.cm-content').fill("import sys\nprint('hello from', sys.argv[0])\n");
  await page.getByRole('button', { name: 'Run' }).click();
  await until(page, 'the output of Run', (t) => t.includes('hello from hello.py'));
  await expect(page.getByTestId('save-state')).toHaveText(/Saved/);
  await shot(page, 'ide-run');

  // pip: an allowed package installs and imports; another is refused with why.
  await type(page, 'pip install tabulate && python -c "import tabulate; print(tabulate.tabulate([[1, 2]], tablefmt=\'plain\'))"');
  await until(page, 'tabulate installed', (t) => t.includes('Successfully installed tabulate') && /\n1\s+2/.test(t), 180_000);
  await type(page, 'pip install cowsay');
  await until(page, 'cowsay refused', (t) => t.replace(/\n/g, '').includes("cowsay is not on this instance's package allowlist"), 120_000);
  await shot(page, 'ide-pip');

  // A file made in the terminal appears in the tree.
  await type(page, 'echo $$ > shell.txt; echo made in the terminal > made.txt');
  await expect(page.getByRole('button', { name: 'made.txt' })).toBeVisible({ timeout: 20_000 });

  // A file uploaded from the page is in the tree and in the sandbox.
  await page.getByLabel('Upload files').setInputFiles({ name: 'data.csv', mimeType: 'text/csv', buffer: Buffer.from('a,b\n1,2\n') });
  await expect(page.getByRole('button', { name: 'data.csv' })).toBeVisible();
  await type(page, 'tail -1 data.csv');
  await until(page, 'the uploaded file in the sandbox', (t) => /tail -1 data\.csv\n1,2\n/.test(t));

  // Reloaded: the same shell, its scrollback replayed (and not answered again).
  const before = await screen(page);
  assert.ok(before.includes('made in the terminal > made.txt'), before);
  await page.reload();
  await until(page, 'the scrollback', (t) => t.includes('made in the terminal > made.txt') && /tail -1 data\.csv\n1,2\n/.test(t));
  await type(page, 'echo "same shell: $(cat shell.txt) $$"');
  const after = await until(page, 'the shell pid', (t) => /same shell: (\d+) (\d+)/.test(t));
  const [, was, now] = after.match(/same shell: (\d+) (\d+)/);
  assert.equal(now, was, 'the reloaded page reattached to the same shell');
  await shot(page, 'ide-reloaded');

  // Stopped and started: the files are kept.
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByTestId('workspace-status')).toHaveText('stopped', { timeout: 30_000 });
  await expect(page.getByTestId('workspace-stopped')).toBeVisible();
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByTestId('workspace-status')).toHaveText('running', { timeout: 60_000 });
  await until(page, 'a new prompt', (t) => t.includes('~/work $'));
  await type(page, 'cat made.txt hello.py');
  await until(page, 'the kept files', (t) => t.includes('made in the terminal') && t.includes("print('hello from'"));
  // So is what pip installed.
  await type(page, 'python -c "import tabulate; print(\'kept:\', tabulate.__name__)"');
  await until(page, 'tabulate kept', (t) => t.includes('kept: tabulate'));
  await shot(page, 'ide-restarted');

  // Rebuild packages: what is installed goes, and requirements.txt's packages come.
  await page.getByLabel("New file's path").fill('requirements.txt');
  await page.getByRole('button', { name: 'New file' }).click();
  await page.locator('.cm-content').fill('tabulate\n');
  await page.keyboard.press('Control+s');
  await expect(page.getByTestId('save-state')).toHaveText(/Saved/);
  page.once('dialog', (dialog) => void dialog.accept());
  await page.getByRole('button', { name: 'Rebuild packages' }).click();
  // In a terminal of its own: terminal 2.
  await until(page, 'requirements.txt installed', (t) => /rm -rf ~\/packages && pip install -r requirements\.txt[\s\S]*Successfully installed tabulate/.test(t), 180_000, 2);
  await shot(page, 'ide-rebuilt');
  await context.close();
});
