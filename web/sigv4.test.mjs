// Tests of the viewer page's SigV4 signer (crates/kvs-local/assets/viewer/sigv4.js):
//   node --test web/sigv4.test.mjs
// Run by `cargo test -p kvs-webrtc --test browser`.
//
// The expected signatures are from the AWS SigV4 test suite (aws-signing-test-suite/v4 in the
// aws-sigv4 crate): credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1, service
// "service"; `header` is header-signature.txt, `query` query-signature.txt (expires 3600).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import { presignUrl, RequestSigner, signRequest } from '../crates/kvs-local/assets/viewer/sigv4.js';

const DATE = new Date('2015-08-30T12:36:00Z');
const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const SUITE = [
  {
    name: 'get-vanilla',
    method: 'GET',
    url: 'https://example.amazonaws.com/',
    header: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    query: 'e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d',
  },
  {
    name: 'get-vanilla-query-order-key-case',
    method: 'GET',
    url: 'https://example.amazonaws.com/?Param2=value2&Param1=value1',
    header: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
    query: '86012e2c9ad4d77369f5d81c11f75158aae4f895a085212cc6d3f923d300bed5',
  },
  {
    name: 'get-utf8',
    method: 'GET',
    url: 'https://example.amazonaws.com/ሴ',
    header: '8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85',
    query: '10eae3f14a260bd3911cc6d008d3c576d143b05b62f09782a7a4b37f52178e44',
  },
  {
    name: 'get-vanilla-utf8-query',
    method: 'GET',
    url: 'https://example.amazonaws.com/?ሴ=bar',
    header: '2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04',
    query: '0bdd809b1519ac4f0c1dc3540e2cc46bd0c7f778eda408b2ebf3b913d21ff600',
  },
  {
    name: 'get-vanilla-with-session-token',
    method: 'GET',
    url: 'https://example.amazonaws.com/',
    token: '6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267',
    header: '07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8',
    query: '7ff2b50b376cb4d151970630573d6291dc128cc5c2a12ffb237f73cc53f67b6c',
  },
  {
    name: 'post-vanilla-query',
    method: 'POST',
    url: 'https://example.amazonaws.com/?Param1=value1',
    header: '28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11',
  },
  {
    name: 'post-x-www-form-urlencoded',
    method: 'POST',
    url: 'https://example.amazonaws.com/',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      'Content-Length': '13',
      'X-Amz-Content-Sha256': '9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e',
    },
    body: 'Param1=value1',
    header: 'd3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b',
  },
];

const credentials = (c) => (c.token ? { ...CREDENTIALS, sessionToken: c.token } : CREDENTIALS);

for (const c of SUITE) {
  test(`header signature: ${c.name}`, async () => {
    const headers = await signRequest({
      method: c.method, url: c.url, headers: c.headers, body: c.body,
      region: 'us-east-1', service: 'service', credentials: credentials(c), date: DATE,
    });
    assert.equal(headers['x-amz-date'], '20150830T123600Z');
    assert.equal(headers.host, undefined, 'browsers set host themselves');
    assert.match(headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20150830\/us-east-1\/service\/aws4_request, /);
    assert.equal(headers.authorization.split('Signature=')[1], c.header);
    if (c.token) assert.equal(headers['x-amz-security-token'], c.token);
  });
  if (c.query && c.method === 'GET') {
    test(`query signature: ${c.name}`, async () => {
      const url = await presignUrl({
        url: c.url, region: 'us-east-1', service: 'service', credentials: credentials(c),
        date: DATE, expires: 3600,
      });
      const signed = new URL(url);
      assert.equal(signed.searchParams.get('X-Amz-Signature'), c.query);
      assert.ok(url.endsWith(`&X-Amz-Signature=${c.query}`), 'the signature comes last');
    });
  }
}

test('the signaling URL is signed exactly as the KVS WebRTC SDK signs it', async () => {
  const require = createRequire(import.meta.url);
  const { SigV4RequestSigner } = require('amazon-kinesis-video-streams-webrtc');
  const arn = 'arn:aws:kinesisvideo:us-west-2:123456789012:channel/door/1700000000000';
  const params = { 'X-Amz-ChannelARN': arn, 'X-Amz-ClientId': 'viewer-1' };
  const date = new Date('2024-05-01T10:20:30Z');
  for (const creds of [CREDENTIALS, { ...CREDENTIALS, sessionToken: 'token/with+specials=' }]) {
    const endpoint = 'wss://v-1234abcd.kinesisvideo.us-west-2.amazonaws.com';
    const theirs = await new SigV4RequestSigner('us-west-2', creds).getSignedURL(endpoint, params, date);
    const ours = await new RequestSigner('us-west-2', creds).getSignedURL(endpoint, params, date);
    // The same signature and parameters; the SDK sorts X-Amz-Signature in with the others.
    const sorted = (url) => [...new URL(url).searchParams].sort();
    assert.equal(ours.split('?')[0], theirs.split('?')[0]);
    assert.deepEqual(sorted(ours), sorted(theirs));
    assert.equal(new URL(ours).searchParams.get('X-Amz-Signature'),
      new URL(theirs).searchParams.get('X-Amz-Signature'));
  }
});

test('ws:// endpoints (kvs-local) are signed too, port included in host', async () => {
  const url = await new RequestSigner('us-east-1', CREDENTIALS).getSignedURL(
    'ws://127.0.0.1:4567', { 'X-Amz-ChannelARN': 'arn:aws:kinesisvideo:us-east-1:1:channel/a/1' });
  assert.match(url, /^ws:\/\/127\.0\.0\.1:4567\/\?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-ChannelARN=arn%3Aaws%3A/);
  assert.match(url, /&X-Amz-Signature=[0-9a-f]{64}$/);
});

test('missing credentials are refused before anything is sent', async () => {
  await assert.rejects(
    signRequest({ method: 'GET', url: 'http://127.0.0.1/', region: 'r', service: 's', credentials: {} }),
    /access key/);
});
