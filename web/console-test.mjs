// Drives kvs-local's web console (served at /) in one headless Chromium session that visits
// every page, and prints what it found, one result per line:
//
//   node web/console-test.mjs --url https://127.0.0.1:PORT/ --http-url http://127.0.0.1:PORT/
//     --ca CA_PEM --access-key-id K --secret-access-key S --stream NAME --master-channel NAME
//     --viewer-channel NAME --face NAME --screenshots DIR --downloads DIR [--timeout-ms N]
//
// 1. Over http: sign in, the stream list shows --stream (`HTTP LIST n`).
// 2. Over https (Chromium trusts the CA's SPKI, nothing else): a wrong secret is refused with
//    its AWS error code (`SIGN-IN ERROR code: message`), the right one signs in; the list shows
//    --stream (`STREAMS a,b,...`); a stream created in the console appears and is deleted
//    (`CREATED AND DELETED name`).
// 3. The stream's page: the timeline's gaps (`GAPS n seconds,...`), the live player
//    (`PLAYING WxH`, its currentTime advanced by over a second), thumbnails (`THUMBNAILS n of
//    m`: n stills loaded of the m times along the timeline that have video),
//    "download clip" (`CLIP path bytes`, saved from the download event), the selection played
//    on demand (`ON-DEMAND PLAYING WxH`).
// 4. Channels: the list (`CHANNELS a,b`), --viewer-channel opened as viewer while a master
//    serves it (`VIEWER PLAYING WxH`), --master-channel opened as master with the fake camera
//    and microphone: prints `MASTER READY`, then `MASTER VIEWER CONNECTED` once a viewer is
//    connected, and waits for a line (or the end) on stdin before it goes on.
// 5. Face search: a match of --face with its frame (`MATCH name similarity`), the processors'
//    states (`PROCESSOR name status`).
// Screenshots of each page go to --screenshots (`SCREENSHOT file WxH colors=N`, N the number
// of distinct colours, counted in the page). Any failure prints `FAILED step: why` and the
// page's errors, and exits 1. Diagnostics go to stderr. Environment: CHROMIUM (default
// /usr/bin/chromium).
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium } from './chromium.mjs';

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    'http-url': { type: 'string' },
    ca: { type: 'string' },
    'access-key-id': { type: 'string' },
    'secret-access-key': { type: 'string' },
    stream: { type: 'string' },
    'master-channel': { type: 'string' },
    'viewer-channel': { type: 'string' },
    face: { type: 'string' },
    screenshots: { type: 'string' },
    downloads: { type: 'string' },
    'timeout-ms': { type: 'string', default: '20000' },
  },
});
const missing = ['url', 'http-url', 'ca', 'access-key-id', 'secret-access-key', 'stream',
  'master-channel', 'viewer-channel', 'face', 'screenshots', 'downloads']
  .filter((k) => !opt[k]);
if (missing.length) {
  console.error(`missing: ${missing.map((k) => '--' + k).join(', ')}`);
  process.exit(2);
}
const timeout = Number(opt['timeout-ms']);
mkdirSync(opt.screenshots, { recursive: true });
mkdirSync(opt.downloads, { recursive: true });

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(2)}s`;
const out = (line) => process.stdout.write(line + '\n');
const diag = (line) => process.stderr.write(`${elapsed()} ${line}\n`);


const browser = await launchChromium({ trustCa: opt.ca });
const context = await browser.newContext({ viewport: { width: 1280, height: 860 },
  acceptDownloads: true });
const page = await context.newPage();
page.on('console', (m) => diag(`[page${m.type() === 'log' ? '' : ' ' + m.type()}] ${m.text()}`));
page.on('pageerror', (e) => diag(`[page exception] ${e.message}`));
page.on('dialog', (d) => d.accept());
page.on('response', (r) => {
  if (r.status() >= 400) diag(`[response] HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
});

let step = 'start';
async function fail(why) {
  out(`FAILED ${step}: ${String(why).split('\n')[0]}`);
  const error = await page.locator('#error').textContent().catch(() => '');
  if (error) out(`page error banner: ${error}`);
  const log = await page.locator('#peer-log').textContent({ timeout: 500 }).catch(() => '');
  if (log) out(`--- peer log ---\n${log}`);
  await page.screenshot({ path: join(opt.screenshots, 'failure.png') }).catch(() => {});
  await browser.close().catch(() => {});
  process.exit(1);
}

/** Opens `hash` of the console and waits until the page has loaded its data. */
async function open(base, hash) {
  await page.goto(`${base}${hash}`, { timeout });
  await page.waitForSelector(`main[data-loaded="${hash}"]`, { timeout });
}

async function signIn(secret) {
  await page.fill('input[name=accessKeyId]', opt['access-key-id']);
  await page.fill('input[name=secretAccessKey]', secret);
  await page.click('#sign-in-form button[type=submit]');
}

const shots = [];
async function screenshot(name) {
  const path = join(opt.screenshots, name);
  await page.screenshot({ path });
  shots.push(path);
}

/** Waits until `video` plays: a size, and currentTime advanced by more than a second. */
async function playing(selector) {
  await page.waitForFunction((s) => document.querySelector(s)?.videoWidth > 0, selector,
    { timeout, polling: 100 });
  const first = await page.$eval(selector, (v) => v.currentTime);
  await page.waitForFunction(([s, t]) => document.querySelector(s).currentTime > t,
    [selector, first + 1], { timeout, polling: 100 });
  return page.$eval(selector, (v) => `${v.videoWidth}x${v.videoHeight}`);
}

const streamHash = `#/streams/${encodeURIComponent(opt.stream)}`;
try {
  // 1. Plain http.
  step = 'http';
  const httpBase = opt['http-url'].replace(/\/?$/, '/');
  await page.goto(httpBase, { timeout });
  await signIn(opt['secret-access-key']);
  await page.waitForSelector('main[data-loaded="#/streams"]', { timeout });
  const httpRows = await page.locator('#streams tbody tr[data-stream]').count();
  await page.waitForSelector(`#streams tr[data-stream="${opt.stream}"]`, { timeout });
  out(`HTTP LIST ${httpRows}`);

  // 2. https: a refused key, then the right one.
  step = 'sign-in';
  const base = opt.url.replace(/\/?$/, '/');
  await page.goto(base, { timeout });
  await signIn('not-the-secret');
  await page.waitForSelector('#error[data-code]', { timeout });
  out(`SIGN-IN ERROR ${(await page.locator('#error').textContent()).trim()}`);
  await signIn(opt['secret-access-key']);
  await page.waitForSelector('main[data-loaded="#/streams"]', { timeout });

  step = 'streams';
  const row = `#streams tr[data-stream="${opt.stream}"]`;
  await page.waitForFunction((r) => document.querySelector(`${r} td.newest`)?.dataset.time, row,
    { timeout, polling: 100 });
  const names = await page.$$eval('#streams tr[data-stream]', (rs) => rs.map((r) =>
    r.dataset.stream));
  out(`STREAMS ${names.join(',')}`);
  await screenshot('streams.png');
  const made = 'made-in-console';
  await page.fill('#create-stream input[name=name]', made);
  await page.click('#create-stream button[type=submit]');
  await page.waitForSelector(`#streams tr[data-stream="${made}"]`, { timeout });
  await page.waitForSelector('main[data-loaded="#/streams"]', { timeout });
  await page.click(`button[data-delete="${made}"]`);
  await page.waitForSelector(`#streams tr[data-stream="${made}"]`, { state: 'detached', timeout });
  out(`CREATED AND DELETED ${made}`);

  // 3. One stream.
  step = 'timeline';
  await open(base, streamHash);
  await page.waitForSelector('#timeline-summary[data-fragments]', { timeout });
  const gaps = await page.$$eval('#gaps li', (ls) => ls.map((l) => l.dataset.seconds));
  out(`GAPS ${gaps.length} ${gaps.join(',')}`);
  step = 'live player';
  out(`PLAYING ${await playing('#player')}`);
  step = 'thumbnails';
  await page.waitForSelector('#thumbs[data-done]', { timeout });
  const wanted = await page.$eval('#thumbs', (t) => t.dataset.wanted);
  out(`THUMBNAILS ${await page.locator('#thumbs figure.loaded').count()} of ${wanted}`);
  await screenshot('stream.png');
  step = 'download clip';
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout }),
    page.click('#download-clip'),
  ]);
  const clip = join(opt.downloads, download.suggestedFilename());
  await download.saveAs(clip);
  out(`CLIP ${clip} ${statSync(clip).size}`);
  step = 'on-demand player';
  await page.click('#play-selection');
  const onDemand = await playing('#player');
  await page.waitForFunction(() => document.querySelector('#player-status').textContent
    .startsWith('Playing the selection'), null, { timeout, polling: 100 });
  out(`ON-DEMAND PLAYING ${onDemand}`);

  // 4. Channels.
  step = 'channels';
  await open(base, '#/channels');
  const channels = await page.$$eval('#channels tr[data-channel]', (rs) => rs.map((r) =>
    r.dataset.channel));
  out(`CHANNELS ${channels.join(',')}`);
  await screenshot('channels.png');
  step = 'viewer';
  await open(base, `#/channels/${encodeURIComponent(opt['viewer-channel'])}/viewer`);
  out(`VIEWER PLAYING ${await playing('#remote')}`);
  await screenshot('channel-viewer.png');
  step = 'master';
  await open(base, `#/channels/${encodeURIComponent(opt['master-channel'])}/master`);
  await page.waitForSelector('#peer-status[data-state=ready]', { timeout });
  out('MASTER READY');
  await page.waitForSelector('#viewers[data-count="1"]', { timeout: 30000 });
  out('MASTER VIEWER CONNECTED');
  await page.waitForTimeout(1000);
  await screenshot('channel-master.png');
  await new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.once('line', resolve);
    lines.once('close', resolve);
  });

  // 5. Face search.
  step = 'faces';
  await open(base, '#/faces');
  const match = `.match.with-frame[data-who="${opt.face}"]`;
  await page.waitForSelector(match, { timeout });
  const similarity = await page.$eval(match, (m) =>
    /similarity ([\d.]+)/.exec(m.textContent)?.[1]);
  out(`MATCH ${opt.face} ${similarity}`);
  for (const [name, status] of await page.$$eval('#processors tr[data-processor]',
    (rs) => rs.map((r) => [r.dataset.processor, r.dataset.status]))) {
    out(`PROCESSOR ${name} ${status}`);
  }
  await page.waitForTimeout(300);
  await screenshot('faces.png');

  // Non-blank: the distinct colours of each screenshot, counted in the page.
  step = 'screenshots';
  for (const path of shots) {
    const data = readFileSync(path).toString('base64');
    const { width, height, colors } = await page.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.width;
      canvas.height = img.height;
      const ctx = canvas.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const px = new Uint32Array(ctx.getImageData(0, 0, img.width, img.height).data.buffer);
      return { width: img.width, height: img.height, colors: new Set(px).size };
    }, data);
    out(`SCREENSHOT ${path} ${width}x${height} colors=${colors}`);
  }
} catch (e) {
  await fail(e.message);
}
diag('done');
await browser.close();
process.exit(0);
