// Opens the kvs-local viewer page in headless Chromium and checks that its <video> plays:
//   node web/browser-test.mjs 'http://127.0.0.1:PORT/viewer/?channel=..&autoconnect=1&...'
// Exits 0 once the video has a size and its currentTime has advanced by more than
// ADVANCE_S; otherwise exits 1 and prints the page's log. Run by
// `cargo test -p kvs-webrtc --test browser` while a Rust master streams.
//
// Environment: CHROMIUM (default /usr/bin/chromium, Debian's `chromium`), VIEWER_TIMEOUT_MS
// (default 20000), VIEWER_SCREENSHOT (a PNG path to save the page to at the end), VIEWER_CA (a
// CA certificate PEM, e.g. kvs-local's tls/ca.pem, that Chromium trusts for an https page).
import { launchChromium } from './chromium.mjs';

const url = process.argv[2];
if (!url) {
  console.error('usage: node browser-test.mjs VIEWER_URL');
  process.exit(2);
}
const ADVANCE_S = 0.5;
const timeout = Number(process.env.VIEWER_TIMEOUT_MS || 20000);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(2)}s`;

// Trust exactly that CA: Chromium accepts certificate chains that contain its public key.
const browser = await launchChromium({ trustCa: process.env.VIEWER_CA });
let ok = false;
const page = await browser.newPage();
try {
  page.on('console', (m) => console.log(`[page] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  await page.goto(url, { timeout });
  const left = () => Math.max(1000, timeout - (Date.now() - started));

  await page.waitForFunction(() => document.querySelector('video').videoWidth > 0, null,
    { timeout: left(), polling: 100 });
  const first = await page.evaluate(() => {
    const v = document.querySelector('video');
    return { width: v.videoWidth, height: v.videoHeight, time: v.currentTime };
  });
  console.log(`${elapsed()} video ${first.width}x${first.height} at currentTime ${first.time}`);

  await page.waitForFunction((t) => document.querySelector('video').currentTime > t, 
    first.time + ADVANCE_S, { timeout: left(), polling: 100 });
  const later = await page.evaluate(() => {
    const v = document.querySelector('video');
    return { time: v.currentTime, paused: v.paused, status: document.getElementById('status').textContent };
  });
  console.log(`${elapsed()} currentTime ${first.time} -> ${later.time}, paused ${later.paused}; ${later.status}`);
  ok = true;
  console.log(`PLAYING ${first.width}x${first.height}`);
} catch (e) {
  console.log(`${elapsed()} FAILED: ${e.message.split('\n')[0]}`);
  const state = await page.evaluate(() => {
    const v = document.querySelector('video');
    return {
      status: document.getElementById('status')?.textContent,
      log: document.getElementById('log')?.textContent,
      video: v && { width: v.videoWidth, time: v.currentTime, readyState: v.readyState, paused: v.paused },
    };
  }).catch((err) => ({ error: err.message }));
  console.log('status:', state.status, 'video:', JSON.stringify(state.video));
  console.log('--- page log ---\n' + (state.log || state.error || '(none)'));
} finally {
  if (process.env.VIEWER_SCREENSHOT) {
    await page.screenshot({ path: process.env.VIEWER_SCREENSHOT, fullPage: true }).catch(() => {});
  }
  await browser.close();
}
process.exit(ok ? 0 : 1);
