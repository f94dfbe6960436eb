// Drives the official-SDK-only pages in web/sdk-pages/ in headless Chromium against a
// kvs-local over https, with Chromium trusting the kvs-local CA and nothing else:
//
//   node web/sdk-test.mjs viewer|master --cert CHAIN_PEM --key KEY_PEM --ca CA_PEM \
//     --endpoint https://127.0.0.1:PORT --channel NAME --access-key-id K \
//     --secret-access-key S [--region R] [--client-id ID] [--relay-only] [--timeout-ms N]
//
// It serves web/sdk-pages/ and the SDKs' browser builds (/aws-sdk.min.js,
// /kvs-webrtc.min.js from node_modules) over https on 127.0.0.1:0 with the given certificate
// (another origin than kvs-local, so the SDKs' requests are cross-origin, as on a user's site),
// and starts Chromium with --ignore-certificate-errors-spki-list set to the CA's SPKI hash: no
// ignoreHTTPSErrors, so only certificates issued by that CA are accepted.
//
// viewer: opens viewer.html, waits until its <video> has a size and its currentTime advanced
//   by more than 0.5 s, prints `PLAYING WxH` and exits 0; otherwise prints the page log and
//   exits 1. Default timeout 30 s.
// master: opens master.html (fake camera and microphone), prints `MASTER READY` once the page
//   is on the signaling channel, then `VIEWER CONNECTED <id>` and `VIEWER DISCONNECTED <id>`
//   as viewers come and go. It stops once every viewer that connected has disconnected, when
//   stdin (if a pipe) reaches its end, on SIGINT/SIGTERM, or at the timeout (default 60 s);
//   exits 0 if a viewer connected, 1 otherwise.
// Both modes print each local ICE candidate of the page as `LOCAL CANDIDATE <candidate>`; with
// --relay-only every one must be `typ relay` (else exit 1).
//
// stdout has only those lines (and, on failure, the page log); the page's console, failed
// requests, HTTP errors and WebSocket events go to stderr, prefixed with the elapsed time.
// Environment: CHROMIUM (default /usr/bin/chromium).
import { readFileSync, fstatSync } from 'node:fs';
import { createServer } from 'node:https';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium, spkiHash } from './chromium.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const PAGES = join(HERE, 'sdk-pages');
const SDKS = {
  '/aws-sdk.min.js': join(HERE, 'node_modules/aws-sdk/dist/aws-sdk.min.js'),
  '/kvs-webrtc.min.js':
    join(HERE, 'node_modules/amazon-kinesis-video-streams-webrtc/dist/kvs-webrtc.min.js'),
};
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };
const ADVANCE_S = 0.5;

const USAGE = 'usage: node sdk-test.mjs viewer|master --cert CHAIN_PEM --key KEY_PEM --ca CA_PEM ' +
  '--endpoint https://127.0.0.1:PORT --channel NAME --access-key-id K --secret-access-key S ' +
  '[--region R] [--client-id ID] [--relay-only] [--timeout-ms N]';

let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      cert: { type: 'string' },
      key: { type: 'string' },
      ca: { type: 'string' },
      endpoint: { type: 'string' },
      channel: { type: 'string' },
      region: { type: 'string', default: 'us-east-1' },
      'access-key-id': { type: 'string' },
      'secret-access-key': { type: 'string' },
      'client-id': { type: 'string' },
      'relay-only': { type: 'boolean', default: false },
      'timeout-ms': { type: 'string' },
    },
  });
} catch (e) {
  console.error(`${e.message}\n${USAGE}`);
  process.exit(2);
}
const mode = args.positionals[0];
const opt = args.values;
const required = ['cert', 'key', 'ca', 'endpoint', 'channel', 'access-key-id', 'secret-access-key'];
const missing = required.filter((k) => !opt[k]);
if (!['viewer', 'master'].includes(mode) || args.positionals.length !== 1 || missing.length) {
  if (missing.length) console.error(`missing: ${missing.map((k) => '--' + k).join(', ')}`);
  console.error(USAGE);
  process.exit(2);
}
if (mode === 'master' && opt['client-id']) {
  console.error('--client-id is for viewer mode (a master has none)');
  process.exit(2);
}
const timeout = Number(opt['timeout-ms'] || (mode === 'viewer' ? 30000 : 60000));
const relayOnly = opt['relay-only'];

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(2)}s`;
/** A result line on stdout (pipes and files are written synchronously by Node on Linux). */
const out = (line) => process.stdout.write(line + '\n');
/** A diagnostic line on stderr. */
const diag = (line) => process.stderr.write(`${elapsed()} ${line}\n`);

// --- the pages' https server ---------------------------------------------------------------
const tls = { cert: readFileSync(opt.cert), key: readFileSync(opt.key) };
const caHash = spkiHash(opt.ca);

const server = createServer(tls, (req, res) => {
  const path = new URL(req.url, 'https://x').pathname;
  let file = SDKS[path];
  if (!file) {
    const rel = normalize(path === '/' ? `/${mode}.html` : path);
    if (!rel.startsWith('/') || rel.includes('..')) file = null;
    else file = join(PAGES, rel);
  }
  let body;
  try {
    body = file && readFileSync(file);
  } catch {
    body = null;
  }
  if (!body) {
    diag(`[test server] 404 ${req.method} ${req.url}`);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] || 'application/octet-stream',
    'cache-control': 'no-store',
  }).end(body);
});
server.on('tlsClientError', (e) => diag(`[test server] TLS error: ${e.message}`));
await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).on('error', reject));
const origin = `https://127.0.0.1:${server.address().port}`;

const query = new URLSearchParams({
  channel: opt.channel,
  region: opt.region,
  endpoint: opt.endpoint.replace(/\/+$/, ''),
  accessKeyId: opt['access-key-id'],
  secretAccessKey: opt['secret-access-key'],
});
if (opt['client-id']) query.set('clientId', opt['client-id']);
if (relayOnly) query.set('relayOnly', '1');
const url = `${origin}/${mode}.html?${query}`;
diag(`serving ${PAGES} at ${origin}; CA SPKI sha256 ${caHash}`);

// --- Chromium ------------------------------------------------------------------------------
const browser = await launchChromium({ trustCa: opt.ca });
const page = await browser.newPage();

const candidates = [];
let fatal = null;
let masterReady = false;
const connected = new Set();
const disconnected = new Set();
let onEvent = () => {};

page.on('console', (m) => {
  const text = m.text();
  diag(`[page${m.type() === 'log' ? '' : ' ' + m.type()}] ${text}`);
  let match;
  if ((match = /Local ICE candidate[^:]*: (candidate:.*)$/.exec(text))) {
    candidates.push(match[1]);
    out(`LOCAL CANDIDATE ${match[1]}`);
  } else if (text === 'MASTER READY') {
    if (!masterReady) out('MASTER READY');
    masterReady = true;
  } else if ((match = /^VIEWER CONNECTED (\S+)/.exec(text))) {
    connected.add(match[1]);
    out(`VIEWER CONNECTED ${match[1]}`);
  } else if ((match = /^VIEWER DISCONNECTED (\S+)/.exec(text))) {
    disconnected.add(match[1]);
    out(`VIEWER DISCONNECTED ${match[1]}`);
  } else if (/Encountered error starting/.test(text)) {
    fatal = text;
  }
  onEvent();
});
page.on('pageerror', (e) => diag(`[page exception] ${e.message}`));
page.on('requestfailed', (r) => {
  diag(`[request failed] ${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
});
page.on('response', async (r) => {
  if (r.status() < 400) return;
  const body = await r.text().catch(() => '');
  diag(`[response] HTTP ${r.status()} ${r.request().method()} ${r.url()} ` +
    `${JSON.stringify(r.headers())} ${body.slice(0, 1000)}`);
});
page.on('websocket', (ws) => {
  const where = ws.url().split('?')[0];
  diag(`[websocket] open ${where}`);
  ws.on('socketerror', (e) => diag(`[websocket] error ${where}: ${e}`));
  ws.on('close', () => diag(`[websocket] closed ${where}`));
});

/** Prints the page's own log (its <pre id=log>) to stdout. */
async function printPageLog() {
  const state = await page.evaluate(() => {
    const v = document.querySelector('video');
    return {
      log: document.getElementById('log')?.textContent,
      video: v && { width: v.videoWidth, height: v.videoHeight, time: v.currentTime,
        readyState: v.readyState, paused: v.paused },
    };
  }).catch((err) => ({ log: `(no page log: ${err.message})` }));
  out(`video: ${JSON.stringify(state.video)}`);
  out('--- page log ---\n' + (state.log || '(empty)'));
}

/** With --relay-only, every local candidate must be a relay one. */
function checkRelay() {
  if (!relayOnly) return true;
  const other = candidates.filter((c) => !/ typ relay( |$)/.test(c));
  if (other.length || !candidates.length) {
    out(`NOT RELAY ONLY: ${candidates.length} local candidates, ${other.length} not typ relay`);
    return false;
  }
  out(`RELAY ONLY: ${candidates.length} local candidates, all typ relay`);
  return true;
}

let ok = false;
async function finish(code) {
  await browser.close().catch(() => {});
  server.close();
  process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    diag(`${sig}: stopping`);
    finish(mode === 'master' && connected.size > 0 && checkRelay() ? 0 : 1);
  });
}

try {
  await page.goto(url, { timeout });
} catch (e) {
  out(`${elapsed()} FAILED to open ${origin}/${mode}.html: ${e.message.split('\n')[0]}`);
  await finish(1);
}

if (mode === 'viewer') {
  const left = () => Math.max(1000, timeout - (Date.now() - started));
  const failFast = new Promise((_, reject) => {
    onEvent = () => fatal && reject(new Error(fatal));
    onEvent();
  });
  try {
    await Promise.race([failFast, page.waitForFunction(
      () => document.querySelector('video').videoWidth > 0, null,
      { timeout: left(), polling: 100 })]);
    const first = await page.evaluate(() => {
      const v = document.querySelector('video');
      return { width: v.videoWidth, height: v.videoHeight, time: v.currentTime };
    });
    diag(`video ${first.width}x${first.height} at currentTime ${first.time}`);
    await page.waitForFunction((t) => document.querySelector('video').currentTime > t,
      first.time + ADVANCE_S, { timeout: left(), polling: 100 });
    const later = await page.evaluate(() => document.querySelector('video').currentTime);
    diag(`currentTime ${first.time} -> ${later}`);
    out(`PLAYING ${first.width}x${first.height}`);
    // Audio: what the page's connection received (the inbound audio RTP stream's packets).
    const audio = await page.evaluate(async () => {
      const stats = await viewer.peerConnection.getStats();
      let packets = 0;
      let codec = '';
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') {
          packets += s.packetsReceived || 0;
          codec = stats.get(s.codecId)?.mimeType || codec;
        }
      });
      return { packets, codec };
    });
    out(`AUDIO ${audio.codec || 'none'} packets=${audio.packets}`);
    ok = checkRelay();
  } catch (e) {
    out(`${elapsed()} FAILED: ${e.message.split('\n')[0]}`);
  }
  if (!ok) await printPageLog();
  await finish(ok ? 0 : 1);
} else {
  // Master: wait for a reason to stop.
  const reason = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(`timeout after ${timeout} ms`), timeout);
    onEvent = () => {
      if (fatal) resolve(`page failed: ${fatal}`);
      else if (connected.size && [...connected].every((id) => disconnected.has(id))) {
        resolve('every viewer that connected has disconnected');
      }
    };
    onEvent();
    let isPipe = false;
    try {
      const st = fstatSync(0);
      isPipe = st.isFIFO() || st.isSocket();
    } catch {
      // no stdin at all
    }
    if (isPipe) {
      process.stdin.on('end', () => resolve('stdin closed'));
      process.stdin.on('error', () => resolve('stdin closed'));
      process.stdin.resume();
    }
    process.on('exit', () => clearTimeout(timer));
  });
  diag(`stopping: ${reason}`);
  ok = masterReady && connected.size > 0 && checkRelay();
  if (!ok) {
    const what = masterReady ? 'no viewer connected' : 'the master never got ready';
    out(`${elapsed()} FAILED: ${what} (${reason})`);
    await printPageLog();
  }
  await finish(ok ? 0 : 1);
}
