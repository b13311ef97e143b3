// Web-first assertions over playwright-core locators: each one retries until it
// holds or its timeout passes, then fails with what it last saw.

const DEFAULT_TIMEOUT = 15_000;

async function poll(describe, check, timeout) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last.pass) return;
    } catch (e) {
      last = { pass: false, seen: e.message.split('\n')[0] };
    }
    if (Date.now() > deadline) {
      throw new Error(`expected ${describe} within ${timeout} ms; last saw: ${last.seen}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

const text = async (locator) => (await locator.first().textContent({ timeout: 1000 })) ?? '';

function matchers(locator, negate) {
  const want = (pass) => (negate ? !pass : pass);
  const not = negate ? 'not ' : '';
  const what = `${locator}`;
  return {
    async toBeVisible({ timeout = DEFAULT_TIMEOUT } = {}) {
      await poll(`${what} ${not}to be visible`, async () => {
        const visible = await locator.first().isVisible();
        return { pass: want(visible), seen: visible ? 'visible' : 'hidden or absent' };
      }, timeout);
    },
    async toContainText(expected, { timeout = DEFAULT_TIMEOUT } = {}) {
      await poll(`${what} ${not}to contain ${JSON.stringify(expected)}`, async () => {
        const seen = await text(locator);
        return { pass: want(seen.includes(expected)), seen: JSON.stringify(seen) };
      }, timeout);
    },
    // A string is the whole text; a RegExp, as in Playwright, matches it.
    async toHaveText(expected, { timeout = DEFAULT_TIMEOUT } = {}) {
      const shown = expected instanceof RegExp ? String(expected) : JSON.stringify(expected);
      await poll(`${what} ${not}to have text ${shown}`, async () => {
        const seen = (await text(locator)).trim();
        const pass = expected instanceof RegExp ? expected.test(seen) : seen === expected;
        return { pass: want(pass), seen: JSON.stringify(seen) };
      }, timeout);
    },
    async toHaveValue(expected, { timeout = DEFAULT_TIMEOUT } = {}) {
      await poll(`${what} ${not}to have value ${JSON.stringify(expected)}`, async () => {
        const seen = await locator.first().inputValue({ timeout: 1000 });
        return { pass: want(seen === expected), seen: JSON.stringify(seen) };
      }, timeout);
    },
    async toHaveAttribute(name, expected, { timeout = DEFAULT_TIMEOUT } = {}) {
      await poll(`${what} ${not}to have ${name}=${JSON.stringify(expected)}`, async () => {
        const seen = await locator.first().getAttribute(name, { timeout: 1000 });
        return { pass: want(seen === expected), seen: JSON.stringify(seen) };
      }, timeout);
    },
    async toHaveCount(expected, { timeout = DEFAULT_TIMEOUT } = {}) {
      await poll(`${what} ${not}to have count ${expected}`, async () => {
        const seen = await locator.count();
        return { pass: want(seen === expected), seen: String(seen) };
      }, timeout);
    },
    async toBeEmpty({ timeout = DEFAULT_TIMEOUT } = {}) {
      await poll(`${what} ${not}to be empty`, async () => {
        const seen = await text(locator);
        return { pass: want(seen.trim() === ''), seen: JSON.stringify(seen.slice(0, 200)) };
      }, timeout);
    },
  };
}

/** `expect(locator).toBeVisible()`, `expect(locator).not.toContainText('x')`, and so on. */
export function expect(locator) {
  return { ...matchers(locator, false), not: matchers(locator, true) };
}
