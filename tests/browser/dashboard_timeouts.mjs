// SPDX-License-Identifier: MIT
//
// The dashboard's Timeouts panel in the system Chromium, while
// tests/integration/test_dashboard.py drives traffic with second-scale
// timeouts. Settings from the environment:
//
//   DASH_URL, DASH_KEY   the server and its admin key
//   DASH_EXPECT          a file the test writes once traffic has stopped and the
//                        counters are final: {"relogins_idle", "relogins_absolute",
//                        "without_return", "gap_counts": [...]}, read from /metrics
//   DASH_SCREENSHOT      where to write a PNG of the panel
//   CHROMIUM             the browser (default /usr/bin/chromium)
//
// Prints "step: ..." lines (the test waits for "step: rates shown" before it
// stops the traffic); exits non-zero on the first failed step.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
const expectFile = env('DASH_EXPECT');
const shot = env('DASH_SCREENSHOT');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

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
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(30000);
  const problems = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  // A failed load is reported by its response (the browser's own /favicon.ico 404 is not the page's).
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) problems.push('console error: ' + m.text());
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') problems.push(`${r.status()} ${r.url()}`);
  });

  step('log in');
  await page.goto(url + '/dashboard');
  await page.fill('#key', key);
  await page.click('#login-form button[type=submit]');
  await page.locator('#timeouts').waitFor({ state: 'visible' });

  step('the idle-gap chart marks the configured idle timeout');
  await page.waitForFunction(() => document.getElementById('chart-gaps').dataset.idleTimeout === '2');
  check(/idle timeout 2s/.test(await page.locator('#chart-gaps .legend').textContent()),
    'the legend names the idle timeout');

  step('re-logins per hour and idle gaps show while the traffic runs');
  // A re-login every few seconds: the idle-timeout series reads hundreds per hour.
  await page.waitForFunction(() => {
    const v = document.querySelector('#chart-relogins .legend .value');
    return v && parseFloat(v.textContent) > 0;
  }, null, { timeout: 60000 });
  const perHour = parseFloat(await page.locator('#chart-relogins .legend .value').first().textContent());
  check(perHour >= 60 && perHour < 100000, `re-logins after idle timeout per hour: ${perHour}`);
  await page.waitForFunction(() => document.getElementById('chart-gaps').dataset.state === 'data');
  // Six readings of three series, and three re-logins counted.
  await page.waitForFunction(() => Number(document.querySelector('#chart-relogins canvas').dataset.points) >= 18
    && Number(document.getElementById('timeouts-totals').dataset.reloginsIdle) >= 3, null, { timeout: 60000 });
  step('rates shown ' + perHour);

  step('after the traffic, the panel shows exactly the server\'s counters');
  const t0 = Date.now();
  while (!existsSync(expectFile)) {
    check(Date.now() - t0 < 60000, 'the test wrote the expected counters');
    await page.waitForTimeout(100);
  }
  const want = JSON.parse(readFileSync(expectFile, 'utf8'));
  try {
    await page.waitForFunction((w) => {
      const el = document.getElementById('timeouts-totals');
      const c = document.querySelector('#chart-gaps canvas');
      return el.dataset.reloginsIdle === String(w.relogins_idle)
        && el.dataset.reloginsAbsolute === String(w.relogins_absolute)
        && el.dataset.withoutReturn === String(w.without_return)
        && c.dataset.counts === w.gap_counts.join(',');
    }, want, { timeout: 15000 });
  } catch (e) {
    const got = await page.evaluate(() => ({
      totals: { ...document.getElementById('timeouts-totals').dataset },
      counts: document.querySelector('#chart-gaps canvas').dataset.counts,
    }));
    throw new Error(`the panel shows ${JSON.stringify(got)}, the server ${JSON.stringify(want)}`);
  }
  const text = await page.locator('#timeouts-totals').textContent();
  check(text.includes(`${want.relogins_idle} re-login`), `the totals line says so: ${text}`);
  const inked = await page.evaluate(() => {
    const c = document.querySelector('#chart-gaps canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 80 && d[i + 2] > 180 && d[i + 3] > 0) n++; // blue bars
    return n;
  });
  check(inked > 200, `the gap chart has bars drawn (${inked} blue pixels)`);

  step('screenshot');
  await page.locator('#timeouts').screenshot({ path: shot });
  check(problems.length === 0, 'no errors in the page: ' + problems.join('; '));
  step('ok');
} catch (e) {
  failed = true;
  console.error('FAIL: ' + (e && e.stack ? e.stack : e));
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
