// SPDX-License-Identifier: MIT
//
// A page behind curfew's enforcing proxy, in the system Chromium: started by
// tests/integration/test_proxy_browser.py, which owns the servers and says
// what to do on stdin, one command a line:
//
//   open NAME TOKEN   set the access cookie to TOKEN, load PROXY_URL/page in a
//                     new tab and wait until its WebSocket echoed and its SSE
//                     stream ticked; prints "ready NAME"
//   wait NAME         wait until that tab saw its WebSocket close and the SSE
//                     `curfew` event; prints "result NAME {json}" (what the page
//                     recorded, and the milliseconds waited)
//   quit
//
// Settings: PROXY_URL (http://127.0.0.1:PORT), COOKIE (the access cookie's
// name), CHROMIUM (default /usr/bin/chromium; never downloaded).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const url = process.env.PROXY_URL;
const cookie = process.env.COOKIE;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 20000;

const profile = mkdtempSync(join(tmpdir(), 'curfew-proxy-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const pages = new Map();
const say = (line) => process.stdout.write(line + '\n');

async function open(name, token) {
  await context.addCookies([{ name: cookie, value: token, url }]);
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const r = await page.goto(url + '/page');
  if (r.status() !== 200) throw new Error(`${name}: /page answered ${r.status()}`);
  await page.waitForFunction(() => window.curfew.wsEcho && window.curfew.sseTick);
  pages.set(name, page);
  say('ready ' + name);
}

async function wait(name) {
  const page = pages.get(name);
  const t0 = Date.now();
  await page.waitForFunction(() => window.curfew.ws !== null && window.curfew.sse !== null);
  const got = await page.evaluate(() => window.curfew);
  got.waited_ms = Date.now() - t0;
  got.text = await page.locator('body').innerText();
  say('result ' + name + ' ' + JSON.stringify(got));
}

let code = 0;
try {
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, name, token] = line.trim().split(' ');
    if (cmd === 'open') await open(name, token);
    else if (cmd === 'wait') await wait(name);
    else if (cmd === 'quit') break;
    else throw new Error('unknown command ' + line);
  }
} catch (e) {
  say('error ' + e.message);
  code = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
