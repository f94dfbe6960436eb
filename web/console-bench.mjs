// Page-load benchmark of kvs-local's web console (served at /), in headless Chromium
// (docs/benchmarks.md, "Web console page load"; `make bench-console` sets up a kvs-local with
// 100 streams and runs it):
//
//   node web/console-bench.mjs --url http://127.0.0.1:PORT/ --access-key-id K
//     --secret-access-key S [--region us-east-1] [--streams N] [--channels N] [--loads N]
//     [--timeout-ms N]
//
// Signs in through the form once, then opens each page --loads times (default 2) as a new
// document: the first load with the browser's cache cleared (cold), the others with the
// console's files cached (warm). Times are from the navigation's start (the page's
// performance.timeOrigin) to the moment the page's DOM first shows, seen by a
// MutationObserver in the page (before the frame is painted):
//   - streams: "list" = the table has all its rows (--streams N, or at least one row);
//     "filled" = every row's last-hour columns (size, fragments, newest fragment) are filled;
//   - channels: "list" = the table has all its rows (--channels N, or at least one row).
// "API calls" counts the page's API requests (POSTs to kvs-local) until then. Prints a table on
// stdout; diagnostics go to stderr. Exits 1 when a page does not load within --timeout-ms or
// shows an error. Environment: CHROMIUM (default /usr/bin/chromium).
import { parseArgs } from 'node:util';
import { launchChromium } from './chromium.mjs';

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    'access-key-id': { type: 'string' },
    'secret-access-key': { type: 'string' },
    region: { type: 'string', default: 'us-east-1' },
    streams: { type: 'string', default: '0' },
    channels: { type: 'string', default: '0' },
    loads: { type: 'string', default: '2' },
    'timeout-ms': { type: 'string', default: '20000' },
  },
});
const missing = ['url', 'access-key-id', 'secret-access-key'].filter((k) => !opt[k]);
if (missing.length) {
  console.error(`missing: ${missing.map((k) => '--' + k).join(', ')}`);
  process.exit(2);
}
const timeout = Number(opt['timeout-ms']);
const loads = Math.max(1, Number(opt.loads));
const base = opt.url.replace(/\/?$/, '/');

const started = Date.now();
const diag = (line) => process.stderr.write(`${((Date.now() - started) / 1000).toFixed(2)}s ${line}\n`);

// In every document: a MutationObserver that notes (performance.now(), ms since the
// navigation started) when each page's milestones first hold.
function observe({ streams, channels }) {
  const marks = {};
  window.__bench = marks;
  const mark = (name) => {
    if (marks[name] === undefined) marks[name] = performance.now();
  };
  const check = () => {
    const error = document.getElementById('error');
    if (error && !error.hidden && !marks.error) marks.error = error.textContent;
    const streamRows = document.querySelectorAll('#streams tbody tr[data-stream]').length;
    if (streamRows >= Math.max(1, streams)) {
      mark('streamsList');
      marks.streamsRows ??= streamRows;
      if (!document.querySelector('#streams tbody td.size.muted, #streams tbody td.newest.muted')) {
        mark('streamsFilled');
      }
    }
    const channelRows = document.querySelectorAll('#channels tbody tr[data-channel]').length;
    if (channelRows >= Math.max(1, channels)) {
      mark('channelsList');
      marks.channelsRows ??= channelRows;
    }
  };
  new MutationObserver(check).observe(document, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
  document.addEventListener('DOMContentLoaded', () => mark('domContentLoaded'));
}

const browser = await launchChromium();
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
await context.addInitScript(observe, {
  streams: Number(opt.streams), channels: Number(opt.channels),
});
const page = await context.newPage();
const cdp = await context.newCDPSession(page);
page.on('console', (m) => diag(`[page${m.type() === 'log' ? '' : ' ' + m.type()}] ${m.text()}`));
page.on('pageerror', (e) => diag(`[page exception] ${e.message}`));
let apiCalls = 0;
page.on('request', (r) => {
  if (r.method() === 'POST') apiCalls++;
});

async function fail(why) {
  process.stdout.write(`FAILED: ${String(why).split('\n')[0]}\n`);
  await browser.close().catch(() => {});
  process.exit(1);
}

/** Opens `hash` as a new document and waits for `marks`; returns their times in ms. */
async function load(hash, marks, cold) {
  await page.goto('about:blank');
  if (cold) await cdp.send('Network.clearBrowserCache');
  apiCalls = 0;
  await page.goto(`${base}${hash}`, { timeout });
  const done = await page.waitForFunction((ms) => {
    const b = window.__bench;
    if (!b) return false;
    if (b.error) return b;
    return ms.every((m) => b[m] !== undefined) ? b : false;
  }, marks, { timeout, polling: 20 }).then((h) => h.jsonValue());
  if (done.error) throw new Error(`the page shows an error: ${done.error}`);
  return { ...done, requests: apiCalls };
}

const rows = [];
const ms = (t) => (t === undefined ? '-' : `${Math.round(t)} ms`);
try {
  // Sign in through the form, as a user does; the tab keeps the key for the loads below.
  await page.goto(base, { timeout });
  await page.fill('input[name=accessKeyId]', opt['access-key-id']);
  await page.fill('input[name=secretAccessKey]', opt['secret-access-key']);
  await page.fill('input[name=region]', opt.region);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('main[data-loaded="#/streams"]', { timeout });
  diag('signed in');

  for (let i = 0; i < loads; i++) {
    const r = await load('#/streams', ['streamsList', 'streamsFilled'], i === 0);
    const withFragments = await page.$$eval('#streams tbody td.size',
      (cells) => cells.filter((c) => /fragments/.test(c.textContent)).length);
    rows.push(['streams', i === 0 ? 'cold' : 'warm', r.streamsRows, withFragments,
      ms(r.domContentLoaded), ms(r.streamsList), ms(r.streamsFilled), r.requests]);
    diag(`streams load ${i + 1} done`);
  }
  for (let i = 0; i < loads; i++) {
    const r = await load('#/channels', ['channelsList'], i === 0);
    rows.push(['channels', i === 0 ? 'cold' : 'warm', r.channelsRows, '-',
      ms(r.domContentLoaded), ms(r.channelsList), '-', r.requests]);
    diag(`channels load ${i + 1} done`);
  }
} catch (e) {
  await fail(e.message);
}
await browser.close();

const head = ['page', 'load', 'rows', 'with fragments', 'DOMContentLoaded', 'list shown',
  'columns filled', 'API calls'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (cells) => cells.map((c, i) => (i < 2 ? String(c).padEnd(widths[i])
  : String(c).padStart(widths[i]))).join('  ').trimEnd();
process.stdout.write(`${line(head)}\n${rows.map(line).join('\n')}\n`);
process.exit(0);
