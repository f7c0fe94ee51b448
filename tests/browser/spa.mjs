// SPDX-License-Identifier: MIT
//
// Single-page apps on other origins, in the system Chromium: started by
// tests/integration/test_spa_browser.py, which owns the servers. Each
// argument is a page URL; the page runs its fetch() calls by itself and sets
// window.done when finished. For each page, one line "result {json}" with
// what the page recorded (window.spa). Host names of the form *.test resolve
// to 127.0.0.1 inside Chromium only (--host-resolver-rules), so the pages
// live on origins of their own without touching /etc/hosts.
//
// Settings: CHROMIUM (default /usr/bin/chromium; never downloaded).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 20000;
const say = (line) => process.stdout.write(line + '\n');

const profile = mkdtempSync(join(tmpdir(), 'curfew-spa-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--host-resolver-rules=MAP *.test 127.0.0.1'],
});
let code = 0;
try {
  for (const url of process.argv.slice(2)) {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    const console = [];
    page.on('console', (m) => console.push(m.text()));
    const r = await page.goto(url);
    if (r.status() !== 200) throw new Error(`${url} answered ${r.status()}`);
    await page.waitForFunction(() => window.done === true);
    const got = await page.evaluate(() => window.spa);
    got.console = console;
    say('result ' + JSON.stringify(got));
    await page.close();
  }
} catch (e) {
  say('error ' + e.message);
  code = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
