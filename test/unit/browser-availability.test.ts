import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { browserAvailability } from '../helpers/browser.js';

// README's `npm test` on a fresh machine without Chromium skips the browser tests with one message; CI sets
// REQUIRE_BROWSER=1, so there a missing browser fails them instead of skipping (issue 12, item 7).
describe('browser tests without Chromium', () => {
  const nowhere = () => false;

  it('skip with a message that says how to install it', () => {
    const found = browserAvailability({ CHROMIUM_PATH: '/nowhere/chromium' }, nowhere);
    assert.equal(found.skip, 'no Chromium at /nowhere/chromium: apt-get install chromium (or set CHROMIUM_PATH) to run the browser tests');
  });

  it('run (and so fail) when REQUIRE_BROWSER=1, as in CI', () => {
    assert.equal(browserAvailability({ CHROMIUM_PATH: '/nowhere/chromium', REQUIRE_BROWSER: '1' }, nowhere).skip, false);
  });

  it('run where Chromium is found', () => {
    assert.deepEqual(
      browserAvailability({}, (path) => path === '/usr/bin/chromium'),
      { executablePath: '/usr/bin/chromium', skip: false },
    );
  });
});
