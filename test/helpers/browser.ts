import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

// One way for the browser tests to find Chromium (Debian's package; never a downloaded browser). On a
// machine without it they skip with one clear message, so that README's `npm test` passes on a fresh
// clone; CI sets REQUIRE_BROWSER=1 (.ci/run installs Chromium), which turns a missing browser into a
// failure instead, so CI never skips them silently.

export interface BrowserAvailability {
  executablePath: string;
  /** The reason to skip, or false when the tests must run (Chromium found, or REQUIRE_BROWSER=1). */
  skip: string | false;
}

export function browserAvailability(
  env: NodeJS.ProcessEnv = process.env,
  exists: (path: string) => boolean = fs.existsSync,
): BrowserAvailability {
  const executablePath = env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (exists(executablePath) || env.REQUIRE_BROWSER === '1') return { executablePath, skip: false };
  return {
    executablePath,
    skip: `no Chromium at ${executablePath}: apt-get install chromium (or set CHROMIUM_PATH) to run the browser tests`,
  };
}

export const browserTests = browserAvailability();

/** Headless Chromium as the browser tests use it; a clear error when REQUIRE_BROWSER=1 and there is none. */
export function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(browserTests.executablePath)) {
    return Promise.reject(
      new Error(
        `REQUIRE_BROWSER=1 but there is no Chromium at ${browserTests.executablePath}: apt-get install chromium, or set CHROMIUM_PATH`,
      ),
    );
  }
  return chromium.launch({
    executablePath: browserTests.executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
