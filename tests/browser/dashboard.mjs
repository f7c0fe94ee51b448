// SPDX-License-Identifier: MIT
//
// Drives the dashboard in the system Chromium, as an operator would. Started
// by tests/integration/test_dashboard.py, which owns the server and checks
// the outcome through the API afterwards. Settings come from the environment:
//
//   DASH_URL         the server's base URL (http://127.0.0.1:PORT)
//   DASH_KEY         the admin key
//   DASH_SID         a live session the test created: its row must appear and
//                    be revoked with its button
//   DASH_SEARCH_SUB  a subject with live sessions: searched, then "Revoke all"
//   DASH_SCREENSHOT  where to write the full-page PNG
//   CHROMIUM         the browser (default /usr/bin/chromium; never downloaded)
//
// Prints one line per step; exits non-zero on the first failed step.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const url = env('DASH_URL');
const key = env('DASH_KEY');
const sid = env('DASH_SID');
const searchSub = env('DASH_SEARCH_SUB');
const shot = env('DASH_SCREENSHOT');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 20000;

const step = (what) => console.log('step: ' + what);
function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

const profile = mkdtempSync(join(tmpdir(), 'curfew-chromium-'));
let context;
let failed = false;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
    offline: false,
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(TIMEOUT);

  // Anything the page logs as an error (a CSP violation, an exception) fails the run.
  const problems = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
  // Offline: the page may fetch from its own origin only.
  const foreign = [];
  page.on('request', (r) => { if (!r.url().startsWith(url + '/')) foreign.push(r.url()); });
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.accept(); });

  step('open /dashboard: the key prompt shows');
  await page.goto(url + '/dashboard');
  await page.locator('#login-form').waitFor({ state: 'visible' });
  check(await page.locator('#main').isHidden(), 'the dashboard stays hidden before a key is given');

  step('a wrong key is refused (401) and the prompt comes back with a message');
  await page.fill('#key', 'not-the-admin-key');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => /401/.test(document.getElementById('login-message').textContent));
  await page.locator('#login-form').waitFor({ state: 'visible' });
  check(await page.evaluate(() => sessionStorage.getItem('curfew.adminKey')) === null,
    'a refused key is dropped from sessionStorage');
  // The 401s above are expected; only later errors count.
  problems.length = 0;

  step('log in with the admin key');
  await page.fill('#key', key);
  await page.click('#login-form button[type=submit]');
  await page.locator('#main').waitFor({ state: 'visible' });
  check(await page.evaluate(() => sessionStorage.getItem('curfew.adminKey')) === key,
    'the key is kept in sessionStorage');
  check(await page.evaluate(() => localStorage.length) === 0, 'nothing is put in localStorage');
  check(!page.url().includes(key), 'the key is not in the URL');

  step('the session created by the test appears in the newest sessions');
  const row = page.locator(`#sessions tbody tr[data-session-id="${sid}"]`);
  await row.waitFor({ state: 'visible' });
  check(await row.getAttribute('data-state') === 'active', 'the row shows the session active');
  check(/\d+(m|s|h)/.test(await row.locator('td.countdown').first().textContent()),
    'the row shows the remaining idle time');

  step('the charts draw data after a few polls');
  await page.waitForFunction(() => Number(document.querySelector('#chart-checks canvas').dataset.points) >= 3
    && Number(document.querySelector('#chart-active canvas').dataset.points) >= 3
    && Number(document.querySelector('#chart-latency canvas').dataset.points) >= 2, null, { timeout: 30000 });
  const inked = await page.evaluate(() => {
    const c = document.querySelector('#chart-checks canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) n++;
    return n;
  });
  check(inked > 500, `the checks chart has pixels drawn (${inked})`);
  await page.waitForFunction(() => document.getElementById('chart-propagation').dataset.state === 'empty');
  check(/no data \(single node\)/.test(await page.locator('#chart-propagation .legend').textContent()),
    'the propagation chart says there is no data on a single node');

  step('search by subject lists that subject\'s sessions');
  await page.fill('#search-sub', searchSub);
  await page.click('#search-form button[type=submit]');
  const found = page.locator('#search-results tbody tr[data-session-id]');
  await found.first().waitFor({ state: 'visible' });
  const subs = await found.locator('td:first-child').allTextContents();
  check(subs.length >= 2 && subs.every((s) => s === searchSub), `search rows are all ${searchSub}: ${subs}`);
  check(await page.locator('#revoke-all').isEnabled(), 'Revoke all is enabled with live sessions');

  step('let the charts fill, then revoke the session with its button');
  await page.waitForFunction(() => Number(document.querySelector('#chart-active canvas').dataset.points) >= 12,
    null, { timeout: 60000 });
  await row.locator('button.revoke').click();
  await page.waitForFunction((id) => {
    const tr = document.querySelector(`#sessions tbody tr[data-session-id="${id}"]`);
    return tr === null || tr.dataset.state === 'ended';
  }, sid);
  check(await row.count() === 1, 'the revoked session is still listed among the newest');
  check(/revoked/.test(await row.textContent()), 'the row shows the session ended: revoked');
  check(dialogs.length === 1, 'Revoke asked for confirmation once');

  step('screenshot');
  await page.screenshot({ path: shot, fullPage: true });

  step('"Revoke all" ends every session of the searched subject');
  await page.click('#revoke-all');
  await page.waitForFunction(() => /Revoked all sessions/.test(document.getElementById('search-message').textContent));
  await page.waitForFunction(() => [...document.querySelectorAll('#search-results tbody tr[data-session-id]')]
    .every((tr) => tr.dataset.state === 'ended'));
  check(dialogs.length === 2, 'Revoke all asked for confirmation');

  check(problems.length === 0, 'no errors in the page: ' + problems.join('; '));
  check(foreign.length === 0, 'no request left the server\'s origin: ' + foreign.join(', '));
  step('ok');
} catch (e) {
  failed = true;
  console.error('FAIL: ' + (e && e.stack ? e.stack : e));
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
