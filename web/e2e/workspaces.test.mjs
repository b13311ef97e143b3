// Workspaces in a real browser: make one, write hello.py in the editor, save with
// Ctrl+S, see a save from elsewhere refused and resolved, rename, and reload to find it
// kept; start one from a .zip, keep files open in tabs, and drag a file into a folder.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { expect } from './expect.mjs';
import { startServerAndBrowser, shot, api, account, signIn } from './harness.mjs';
import { zip } from './zip.mjs';

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
  // Name, Template (none: "—"), then Files.
  await expect(row.getByRole('cell').nth(1)).toHaveText('—');
  await expect(row.getByRole('cell').nth(2)).toHaveText('1');
  await shot(page, 'workspaces-list');

  // A .zip with a problem makes nothing, and the page lists why.
  await page.getByLabel('New workspace').fill('from a zip');
  await page.getByLabel('Start from a .zip (optional)').setInputFiles({
    name: 'bad.zip',
    mimeType: 'application/zip',
    buffer: zip({ 'ok.py': 'x = 1\n', 'pkg/__pycache__/m.pyc': 'x' }),
  });
  await page.getByRole('button', { name: 'Create' }).click();
  await expect(page.getByText('the archive has 1 problem(s); fix each and upload it again')).toBeVisible();
  await expect(page.getByText(/__pycache__/)).toBeVisible();
  await shot(page, 'workspaces-zip-refused');
  await expect(page.getByRole('row', { name: /from a zip/ })).toHaveCount(0);

  // A good one opens with its files, folders and all.
  await page.getByLabel('Start from a .zip (optional)').setInputFiles({
    name: 'start.zip',
    mimeType: 'application/zip',
    buffer: zip({ 'main.py': "print('main')\n", 'lib/util.py': 'def f():\n    return 1\n', 'lib/data/rows.csv': 'a,b\n1,2\n' }),
  });
  await page.getByRole('button', { name: 'Create' }).click();
  await expect(page.getByRole('heading', { name: 'from a zip' })).toBeVisible();
  await expect(page.getByRole('treeitem', { name: 'lib/', exact: true })).toBeVisible();
  await expect(page.getByRole('button', { name: 'lib/data/rows.csv', exact: true })).toBeVisible();

  // Two files in tabs: unsaved text stays in its tab while another is in front.
  await page.getByRole('button', { name: 'main.py', exact: true }).click();
  await expect(editor).toHaveText("print('main')");
  await editor.fill("print('edited, not saved')\n");
  await page.getByRole('button', { name: 'lib/util.py', exact: true }).click();
  await expect(editor).toHaveText(/def f\(\):/);
  const tabs = page.getByRole('tablist', { name: 'Open files' });
  await expect(tabs).toHaveText('main.py ●util.py');
  await tabs.getByRole('tab', { name: /main\.py/ }).click();
  await expect(editor).toHaveText("print('edited, not saved')");
  await expect(page.getByText('Unsaved changes')).toBeVisible();
  await page.keyboard.press('Control+s');
  await expect(page.getByText(/Saved \(version \d+\)/)).toBeVisible();
  await expect(tabs).toHaveText('main.pyutil.py');

  // Dragged onto the lib/ folder, main.py moves there; its tab follows.
  await page.getByRole('button', { name: 'main.py', exact: true }).dragTo(page.getByRole('treeitem', { name: 'lib/', exact: true }).locator('.workspace-tree-row').first());
  await expect(page.getByRole('button', { name: 'lib/main.py', exact: true })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'lib/main.py' })).toBeVisible();
  const zipWorkspace = page.url().split('/workspaces/')[1];
  assert.equal((await fileText(project, zipWorkspace, token, 'lib/main.py')).text, "print('edited, not saved')\n");
  // Dragged to the top of the tree, the data folder moves with what is in it.
  await page.getByRole('treeitem', { name: 'lib/data/', exact: true }).getByRole('button', { name: 'data/', exact: true }).dragTo(page.getByTestId('file-tree'), { targetPosition: { x: 20, y: 5 } });
  await expect(page.getByRole('button', { name: 'data/rows.csv', exact: true })).toBeVisible();
  await shot(page, 'workspace-tabs-and-tree');
  // Closing the tab in front brings the next one.
  await tabs.getByRole('button', { name: 'Close lib/main.py' }).click();
  await expect(tabs).toHaveText('util.py');
  await expect(editor).toHaveText(/def f\(\):/);
  await context.close();
});
