// Workspaces in a real browser: make one, write hello.py in the editor, save with
// Ctrl+S, see a save from elsewhere refused and resolved, rename, and reload to find it kept.

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

async function fileText(project, workspace, token, path) {
  const res = await fetch(`${server.base}/api/v1/projects/${project}/workspaces/${workspace}/file?path=${encodeURIComponent(path)}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 200);
  return { text: await res.text(), etag: res.headers.get('etag') };
}

test('a workspace keeps the files written in its editor, and a stale save is caught', { timeout: 300_000 }, async () => {
  const token = await account(server, 'Ada', 'ada@example.com');
  const project = (await api(server, 'POST', '/api/v1/projects', token, { name: 'Lab' }, 201)).id;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await signIn(context, server, 'ada@example.com');
  await page.goto(`${server.base}/projects/${project}`);

  await page.getByRole('link', { name: 'Workspaces' }).click();
  await expect(page.getByRole('heading', { name: 'No workspaces yet' })).toBeVisible();
  await page.getByLabel('New workspace').fill('analysis');
  await page.getByRole('button', { name: 'Create' }).click();
  await expect(page.getByRole('heading', { name: 'analysis' })).toBeVisible();
  const workspace = page.url().split('/workspaces/')[1];

  // A new file, written in the editor and saved with Ctrl+S.
  await page.getByLabel("New file's path").fill('hello.py');
  await page.getByRole('button', { name: 'New file' }).click();
  await expect(page.getByRole('heading', { name: 'hello.py' })).toBeVisible();
  const editor = page.locator('.cm-content');
  await editor.fill("print('hello from Burrow')\n");
  await expect(page.getByText('Unsaved changes')).toBeVisible();
  await page.keyboard.press('Control+s');
  await expect(page.getByText('Saved (version 2)')).toBeVisible();
  assert.equal((await fileText(project, workspace, token, 'hello.py')).text, "print('hello from Burrow')\n");
  await shot(page, 'workspace-saved');

  // Someone saves the file elsewhere (another tab) while this page has unsaved text
  // (so the page, which reloads a clean file changed elsewhere, keeps it): this page's
  // save is refused, says so, and "Reload theirs" shows their text.
  await editor.fill("print('mine')\n");
  await expect(page.getByText('Unsaved changes')).toBeVisible();
  const res = await fetch(`${server.base}/api/v1/projects/${project}/workspaces/${workspace}/file?path=hello.py`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${token}`, 'If-Match': '"2"' },
    body: "print('from the other tab')\n",
  });
  assert.equal(res.status, 200);
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText(/was changed elsewhere since you opened it \(it is at version 3 now\)/)).toBeVisible();
  await shot(page, 'workspace-conflict');
  await page.getByRole('button', { name: 'Reload theirs' }).click();
  await expect(page.getByText('Saved (version 3)')).toBeVisible();
  await expect(editor).toHaveText("print('from the other tab')");

  // Rename it, reload the page: the file is there under its new name, as saved.
  page.once('dialog', (dialog) => void dialog.accept('src/hello.py'));
  await page.getByRole('button', { name: 'Rename hello.py' }).click();
  await expect(page.getByRole('button', { name: 'src/hello.py', exact: true })).toBeVisible();
  await page.reload();
  await page.getByRole('button', { name: 'src/hello.py', exact: true }).click();
  await expect(editor).toHaveText("print('from the other tab')");
  // It saves at the version its move gave it.
  await editor.fill("print('moved and saved')\n");
  await page.keyboard.press('Control+s');
  await expect(page.getByText('Saved (version 5)')).toBeVisible();
  assert.equal((await fileText(project, workspace, token, 'src/hello.py')).text, "print('moved and saved')\n");
  await shot(page, 'workspace-reloaded');

  // The workspace list shows it with its one file.
  await page.getByRole('link', { name: 'Workspaces' }).first().click();
  const row = page.getByRole('row', { name: /analysis/ });
  await expect(row).toBeVisible();
  await expect(row.getByRole('cell').nth(1)).toHaveText('1');
  await shot(page, 'workspaces-list');
  await context.close();
});
