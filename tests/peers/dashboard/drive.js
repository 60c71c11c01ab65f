// Drives Eddy's dashboard in Debian's headless chromium with playwright-core
// (found through NODE_PATH, the peers cache) and prints what it saw as one
// JSON object on stdout; the integration test judges it.
//   node drive.js check URL TOPIC FIELD1 FIELD2 GROUP SCREENSHOT
//       loads the page, lists topics, follows TOPIC's partition 0 live,
//       charts FIELD1 against FIELD2, reads the groups section and the
//       mirror section (once it lists TOPIC), saves a full-page screenshot
//   node drive.js load URL N
//       N loads of the page in a fresh context each: load times in ms
//   node drive.js hold URL TOPIC N SECONDS
//       N pages tailing TOPIC for SECONDS (for memory measurements)
// Every console error, page error, failed request and HTTP error answer is
// collected in "errors". CHROMIUM overrides /usr/bin/chromium.
'use strict';
const { chromium } = require('playwright-core');

const TIMEOUT = 30000;

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

function watch(page, errors) {
  page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
  page.on('pageerror', (e) => errors.push('page error: ' + e.message));
  page.on('requestfailed', (r) => {
    // an EventSource closed by the page itself at the end is not a failure
    if (!r.url().includes('/tail')) errors.push('request failed: ' + r.url() + ' ' + (r.failure() || {}).errorText);
  });
  page.on('response', (r) => { if (r.status() >= 400) errors.push('HTTP ' + r.status() + ': ' + r.url()); });
}

async function check(url, topic, field1, field2, group, shot) {
  const browser = await launch();
  const out = { errors: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.setDefaultTimeout(TIMEOUT);
    watch(page, out.errors);
    await page.goto(url, { waitUntil: 'load' });
    out.title = await page.title();
    // topics: the table lists the topic
    await page.waitForFunction((t) => [...document.querySelectorAll('#topics-table td:first-child')]
      .some((td) => td.textContent === t), topic);
    out.topics = await page.$$eval('#topics-table tbody tr', (rows) => rows.map((r) => r.cells[0].textContent));
    out.version = await page.textContent('#version');
    out.overview = await page.$$eval('#ov-cards .card', (cs) => cs.map((c) => c.innerText.replace(/\n/g, ' ')));
    out.clients = await page.$$eval('#clients-cards .card', (cs) => cs.map((c) => c.innerText.replace(/\n/g, ' ')));
    await page.waitForFunction(() => document.querySelectorAll('#mqtt-clients tbody tr').length > 0);
    out.mqtt_clients = await page.$$eval('#mqtt-clients tbody tr', (rows) =>
      rows.map((r) => [...r.cells].map((c) => c.textContent)));
    // live tail: choose the topic, wait for the stream, then for records
    // with offsets the page did not have when it opened the stream
    await page.selectOption('#tail-topic', topic);
    await page.waitForFunction(() => document.getElementById('tail-state').textContent === 'live');
    const first = await page.$$eval('#tail-list .rec .meta', (ms) =>
      Math.max(-1, ...ms.map((m) => Number(m.textContent.split(' ')[0].slice(1)))));
    out.tail_first_max = first;
    await page.waitForFunction((f) => [...document.querySelectorAll('#tail-list .rec .meta')]
      .filter((m) => Number(m.textContent.split(' ')[0].slice(1)) > f).length >= 5, first);
    out.tail_meta = await page.$$eval('#tail-list .rec .meta', (ms) => ms.slice(0, 3).map((m) => m.textContent));
    out.tail_value = await page.textContent('#tail-list .rec pre');
    out.tail_rows = await page.$$eval('#tail-list .rec', (rs) => rs.length);
    // chart: pick the two fields; uPlot draws on a canvas
    await page.waitForFunction((f) => [...document.querySelectorAll('#chart-field option')].some((o) => o.value === f), field1);
    await page.selectOption('#chart-field', field1);
    await page.selectOption('#chart-field2', field2);
    await page.waitForSelector('#chart-plot canvas');
    await page.waitForTimeout(1500); // a live point or two more
    out.chart = await page.evaluate(() => {
      const c = window.eddyChart, cv = document.querySelector('#chart-plot canvas');
      const px = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
      let ink = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) ink++;
      return { series: c.plot.series.slice(1).map((s) => s.label), points: c.plot.data[0].length,
        x0: c.plot.data[0][0], y: c.plot.data[1].slice(-3), y2: c.plot.data[2].slice(-3),
        canvas: [cv.width, cv.height], ink };
    });
    // groups and mirror
    await page.waitForFunction((g) => [...document.querySelectorAll('#groups-table td:first-child')]
      .some((td) => td.textContent === g), group);
    out.groups = await page.$$eval('#groups-table tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
    await page.waitForFunction((t) => [...document.querySelectorAll('#mirror-table td:first-child')]
      .some((td) => td.textContent === t), topic);
    out.mirror = await page.textContent('#mirror-summary');
    out.mirror_rows = await page.$$eval('#mirror-table tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
    out.warnings = await page.$$eval('#warnings-list li', (ls) => ls.map((l) => l.textContent));
    await page.screenshot({ path: shot, fullPage: true });
    await page.close();
  } finally {
    await browser.close();
  }
  return out;
}

async function load(url, n) {
  const browser = await launch();
  const out = { errors: [], load_ms: [] };
  try {
    for (let i = 0; i < n; i++) {
      const ctx = await browser.newContext(); // empty cache each time
      const page = await ctx.newPage();
      watch(page, out.errors);
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForFunction(() => Number(document.body.dataset.refreshed) >= 1);
      out.load_ms.push(await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        return Math.round(nav.loadEventEnd - nav.startTime);
      }));
      await ctx.close();
    }
  } finally {
    await browser.close();
  }
  return out;
}

async function hold(url, topic, n, seconds) {
  const browser = await launch();
  const out = { errors: [], live: [] };
  try {
    const pages = [];
    for (let i = 0; i < n; i++) {
      const page = await browser.newPage();
      watch(page, out.errors);
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForFunction((t) => [...document.querySelectorAll('#tail-topic option')].some((o) => o.value === t), topic);
      await page.selectOption('#tail-topic', topic);
      pages.push(page);
    }
    console.error('open: ' + n);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    for (const p of pages) out.live.push(await p.textContent('#tail-state'));
  } finally {
    await browser.close();
  }
  return out;
}

(async () => {
  const [cmd, ...a] = process.argv.slice(2);
  let out;
  if (cmd === 'check') out = await check(...a);
  else if (cmd === 'load') out = await load(a[0], Number(a[1]));
  else if (cmd === 'hold') out = await hold(a[0], a[1], Number(a[2]), Number(a[3]));
  else throw new Error('usage: drive.js check|load|hold ...');
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
