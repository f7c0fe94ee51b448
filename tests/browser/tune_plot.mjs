// SPDX-License-Identifier: MIT
//
// Looks at `curfew tune --plot`'s SVG in the system Chromium, as a reader
// would: the axes say what they measure and in which unit, the baseline and
// the recommendation are marked and named, every point lies inside the plot
// and no label runs off the picture. Started by tests/integration/test_tune.py.
//
//   TUNE_SVG         the SVG file to look at
//   TUNE_POINTS      how many points (combinations + baseline) it must show
//   TUNE_SCREENSHOT  where to write the PNG
//   CHROMIUM         the browser (default /usr/bin/chromium; never downloaded)
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const svg = readFileSync(env('TUNE_SVG'), 'utf8');
const points = Number(env('TUNE_POINTS'));
const shot = env('TUNE_SCREENSHOT');
const check = (cond, what) => { if (!cond) throw new Error('check failed: ' + what); };

const profile = mkdtempSync(join(tmpdir(), 'curfew-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true, args: ['--no-sandbox'], viewport: { width: 900, height: 600 },
  });
  const page = await context.newPage();
  await page.setContent(`<!doctype html><body style="margin:0">${svg}</body>`);
  const info = await page.evaluate(() => {
    const root = document.querySelector('svg').getBoundingClientRect();
    const texts = [...document.querySelectorAll('text')].map((t) => {
      const b = t.getBoundingClientRect();
      return { s: t.textContent, l: b.left, r: b.right, t: b.top, b: b.bottom };
    });
    const dots = [...document.querySelectorAll('circle')].map((c) => {
      const b = c.getBoundingClientRect();
      return { x: (b.left + b.right) / 2, y: (b.top + b.bottom) / 2, tip: c.textContent };
    });
    return { w: root.width, h: root.height, texts, dots };
  });
  const all = info.texts.map((t) => t.s).join(' | ');
  console.log('texts: ' + all);
  check(/exposure .*\(minutes\)/.test(all), 'x axis names exposure in minutes');
  check(/re-logins per 1,000 active user-hours/.test(all), 'y axis names re-logins per 1,000 user-hours');
  check(/baseline/.test(all) && /recommended/.test(all), 'baseline and recommendation named');
  const plotted = info.dots.filter((d) => d.tip);
  check(plotted.length === points, `${points} points plotted, got ${plotted.length}`);
  for (const d of plotted) check(d.x >= 90 && d.x <= 640 && d.y >= 60 && d.y <= 530, 'point inside the plot: ' + d.tip);
  for (const t of info.texts) check(t.l >= 0 && t.r <= info.w + 1 && t.t >= 0 && t.b <= info.h + 1, 'text inside the picture: ' + t.s);
  await page.screenshot({ path: shot });
  console.log('step: ok');
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
