// Headless Chromium for the tests and benchmarks in web/: the system browser (Debian's
// chromium, installed by scripts/install-deps), driven by playwright-core, which downloads
// nothing.
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

/**
 * The base64 SHA-256 of the public key of the PEM certificate at `path`: the form Chromium's
 * --ignore-certificate-errors-spki-list takes.
 */
export function spkiHash(path) {
  const spki = new X509Certificate(readFileSync(path)).publicKey
    .export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/**
 * Launches Chromium as every page here needs it. With `trustCa` (a PEM file) it accepts
 * certificates that chain to that CA, and verifies everything else as usual.
 */
export function launchChromium({ trustCa } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      // As root in a container there is no user namespace for the sandbox.
      '--no-sandbox',
      // A muted autoplay video needs no gesture anyway; this makes the tests not depend on it.
      '--autoplay-policy=no-user-gesture-required',
      // Real host addresses in the candidates rather than mDNS .local names, which a Rust
      // peer would have to resolve by multicast.
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      // A generated camera and microphone, and no permission prompt for them.
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      // Needs --user-data-dir, which playwright passes.
      ...(trustCa ? [`--ignore-certificate-errors-spki-list=${spkiHash(trustCa)}`] : []),
    ],
  });
}
