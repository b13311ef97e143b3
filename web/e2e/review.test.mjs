// Review in a real browser: a reviewer makes a template from a .zip; a learner starts a
// workspace from it, edits and submits; the reviewer comments on line 3 and asks for
// changes; the learner is notified, sees the comment at line 3 in the IDE, fixes it and
// resubmits; the reviewer sees the diff from the first submission to the second and
// approves; the learner is notified. Markup in a comment or a file name stays text.

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

const START = "def add(a, b):\n    '''Adds two numbers.'''\n    return a - b\n\nprint(add(1, 2))\n";
const MARKUP_NAME = '<img src=x onerror=window.__xss=1>.txt';
const MARKUP_BODY = 'Should be a + b <img src=x onerror=window.__xss=1>';

test('a submission is reviewed, fixed and approved', { timeout: 300_000 }, async () => {
  const owner = await account(server, 'Olga', 'olga@example.com');
  await account(server, 'Rita', 'rita@example.com');
  await account(server, 'Ada', 'ada@example.com');
  const project = (await api(server, 'POST', '/api/v1/projects', owner, { name: 'Course' }, 201)).id;
  await api(server, 'POST', `/api/v1/projects/${project}/members`, owner, { email: 'rita@example.com', role: 'reviewer' }, 201);
  await api(server, 'POST', `/api/v1/projects/${project}/members`, owner, { email: 'ada@example.com', role: 'editor' }, 201);

  // The reviewer makes a template from a .zip.
  const rita = await signIn(await browser.newContext({ viewport: { width: 1400, height: 900 } }), server, 'rita@example.com');
  await rita.goto(`${server.base}/projects/${project}/workspaces`);
  await rita.getByLabel('Template name').fill('Week 1');
  await rita.getByLabel('Description (optional)').fill('Fix add()');
  await rita.getByLabel('Or from a .zip').setInputFiles({
    name: 'week1.zip',
    mimeType: 'application/zip',
    buffer: zip({ 'add.py': START, [MARKUP_NAME]: 'notes\n' }),
  });
  await rita.getByRole('button', { name: 'Make template' }).click();
  await expect(rita.getByRole('table', { name: 'Templates' }).getByText('Week 1')).toBeVisible();

  // The learner starts from it, edits, and submits.
  const ada = await signIn(await browser.newContext({ viewport: { width: 1400, height: 900 } }), server, 'ada@example.com');
  await ada.goto(`${server.base}/projects/${project}/workspaces`);
  await ada.getByLabel('New workspace').fill('week 1');
  await ada.getByLabel('Start from template').selectOption({ label: 'Week 1' });
  await ada.getByRole('button', { name: 'Create' }).click();
  await expect(ada.getByRole('heading', { name: 'week 1' })).toBeVisible();
  const editor = ada.locator('.cm-content');
  await ada.getByRole('button', { name: 'add.py', exact: true }).click();
  await expect(editor).toHaveText(/return a - b/);
  await editor.fill(START.replace('print(add(1, 2))', 'print(add(2, 3))'));
  await ada.keyboard.press('Control+s');
  await expect(ada.getByText(/Saved \(version \d+\)/)).toBeVisible();
  await ada.getByRole('button', { name: 'Submit', exact: true }).click();
  await ada.getByLabel('Message').fill('First try');
  await ada.getByRole('button', { name: 'Submit for review' }).click();
  await expect(ada.getByText('Submitted for review as #1.')).toBeVisible();

  // The reviewer finds it in the inbox, comments on line 3, and asks for changes.
  await rita.goto(`${server.base}/projects/${project}`);
  await rita.getByRole('link', { name: 'Reviews' }).click();
  const inbox = rita.getByRole('table', { name: 'Submissions' });
  await expect(inbox.getByRole('link', { name: 'week 1' })).toBeVisible();
  await expect(inbox.getByText('Ada')).toBeVisible();
  await shot(rita, 'review-inbox');
  await inbox.getByRole('link', { name: 'week 1' }).click();
  await expect(rita.getByText(/compared with the template Week 1/i)).toBeVisible();
  // A file named with markup is text.
  await expect(rita.getByText(MARKUP_NAME).first()).toBeVisible();
  await rita.getByRole('button', { name: 'Comment on line 3 of add.py' }).click();
  await rita.getByRole('textbox', { name: 'Comment', exact: true }).fill(MARKUP_BODY);
  await rita.getByRole('button', { name: 'Comment', exact: true }).click();
  const thread = rita.getByRole('group', { name: 'Comment thread on add.py line 3' });
  await expect(thread.getByText(MARKUP_BODY)).toBeVisible();
  await rita.getByLabel('Summary').fill('Look at line 3');
  await rita.getByRole('button', { name: 'Request changes' }).click();
  await expect(rita.getByText(/Changes requested/).first()).toBeVisible();
  await shot(rita, 'review-diff-with-comments');
  assert.equal(await rita.evaluate(() => window.__xss), undefined, 'markup in a comment or file name ran');

  // The learner is told, and sees the comment at line 3 in the IDE.
  await ada.reload();
  await expect(ada.getByRole('button', { name: /Notifications, 1 unread/ })).toBeVisible();
  const panel = ada.getByRole('region', { name: 'Review' });
  await expect(panel.getByText(MARKUP_BODY)).toBeVisible();
  await panel.getByRole('button', { name: 'Open add.py at line 3' }).click();
  await expect(ada.locator('.cm-comment-line[data-comment-line="3"]')).toBeVisible();
  const marker = await ada.locator('.cm-comment-line[data-comment-line="3"]').getAttribute('title');
  assert.match(marker ?? '', /Should be a \+ b/);
  await shot(ada, 'review-ide-panel');
  assert.equal(await ada.evaluate(() => window.__xss), undefined, 'markup in a comment ran in the IDE');

  // The learner fixes line 3 and resubmits.
  await editor.fill(START.replace('print(add(1, 2))', 'print(add(2, 3))').replace('a - b', 'a + b'));
  await ada.keyboard.press('Control+s');
  await expect(ada.getByText(/Saved \(version \d+\)/)).toBeVisible();
  await ada.getByRole('button', { name: 'Submit', exact: true }).click();
  await ada.getByLabel('Message').fill('Fixed line 3');
  await ada.getByRole('button', { name: 'Submit for review' }).click();
  await expect(ada.getByText('Submitted for review as #2.')).toBeVisible();

  // The reviewer sees the diff from the first to the second, and approves.
  await rita.goto(`${server.base}/projects/${project}/reviews`);
  await rita.getByRole('table', { name: 'Submissions' }).getByRole('link', { name: 'week 1' }).first().click();
  await expect(rita.getByText(/compared with submission #1/i)).toBeVisible();
  const changes = rita.getByRole('table', { name: 'Changes to add.py' });
  await expect(changes.getByText('return a - b')).toBeVisible();
  await expect(changes.getByText('return a + b')).toBeVisible();
  await rita.getByRole('button', { name: 'Side by side' }).click();
  await expect(rita.getByRole('table', { name: 'Changes to add.py, side by side' })).toBeVisible();
  await shot(rita, 'review-second-side-by-side');
  await rita.getByLabel('Summary').fill('Good');
  await rita.getByRole('button', { name: 'Approve' }).click();
  await expect(rita.getByText(/Approved by Rita/).first()).toBeVisible();

  // The learner is told, and the notification leads to the submission.
  await ada.reload();
  const bell = ada.getByRole('button', { name: /Notifications, \d+ unread/ });
  await expect(bell).toBeVisible();
  await bell.click();
  const list = ada.getByRole('dialog', { name: 'Notifications' });
  await expect(list.getByText(/Rita approved your submission week 1 \(#2\)/)).toBeVisible();
  await shot(ada, 'review-notifications');
  await list.getByText(/Rita approved your submission week 1 \(#2\)/).click();
  await expect(ada.getByText(/Approved by Rita/).first()).toBeVisible();
  assert.match(ada.url(), /\/submissions\//);
});
