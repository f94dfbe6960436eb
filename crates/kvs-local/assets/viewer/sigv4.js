// AWS Signature Version 4 on WebCrypto (HMAC-SHA256, SHA-256), for the viewer page.
//
// - signRequest: header signing of an HTTP request (the KVS control plane and
//   GetIceServerConfig calls the page makes with fetch).
// - presignUrl / RequestSigner: query signing of the signaling WebSocket URL, as the KVS
//   WebRTC SDK does it (only `host` signed, the session token inside the canonical request,
//   the payload hash of the empty string). The SDK's own signer refuses anything but wss://;
//   RequestSigner signs ws:// too, which is what a local kvs-local serves.
//
// An ES module with no dependencies; it runs in browsers and in Node 20+ (its tests,
// web/sigv4.test.mjs, check it against the AWS SigV4 test suite and the SDK's signer).

const ALGORITHM = 'AWS4-HMAC-SHA256';
const encoder = new TextEncoder();

function toBytes(data) {
  return typeof data === 'string' ? encoder.encode(data) : data;
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256Hex(data) {
  return hex(await crypto.subtle.digest('SHA-256', toBytes(data)));
}

async function hmac(key, message) {
  const k = await crypto.subtle.importKey(
    'raw', toBytes(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', k, encoder.encode(message));
}

/** RFC 3986 encoding: only A-Z a-z 0-9 - _ . ~ stay as they are. */
export function uriEncode(value) {
  return encodeURIComponent(value).replace(
    /[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** 20150830T123600Z */
function amzDate(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** Each path segment decoded once and encoded once, as non-S3 services expect. */
function canonicalPath(pathname) {
  return pathname.split('/').map((s) => uriEncode(decodeURIComponent(s))).join('/') || '/';
}

/** Name=value pairs encoded, then sorted by name and value. */
function canonicalQuery(pairs) {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function queryPairs(url) {
  if (!url.search) return [];
  // Split by hand: URLSearchParams would read '+' as a space, SigV4 does not.
  return url.search.slice(1).split('&').filter(Boolean).map((pair) => {
    const i = pair.indexOf('=');
    const [k, v] = i < 0 ? [pair, ''] : [pair.slice(0, i), pair.slice(i + 1)];
    return [decodeURIComponent(k), decodeURIComponent(v)];
  });
}

async function signature(secretAccessKey, scope, stringToSign) {
  const [day, region, service] = scope;
  let key = await hmac('AWS4' + secretAccessKey, day);
  key = await hmac(key, region);
  key = await hmac(key, service);
  key = await hmac(key, 'aws4_request');
  return hex(await hmac(key, stringToSign));
}

async function stringToSign(time, scope, canonicalRequest) {
  return [ALGORITHM, time, scope.join('/'), await sha256Hex(canonicalRequest)].join('\n');
}

function checkCredentials(credentials) {
  if (!credentials || !credentials.accessKeyId || !credentials.secretAccessKey) {
    throw new Error('an access key id and a secret access key are needed to sign requests');
  }
}

/**
 * Signs an HTTP request in the Authorization header. Returns the headers to send (the given
 * ones plus x-amz-date, x-amz-security-token when there is a session token, and
 * authorization); `host` is signed but left out, as browsers set it themselves.
 *
 * @param {object} request
 * @param {string} request.method
 * @param {string} request.url absolute URL
 * @param {Object<string,string>} [request.headers]
 * @param {string|Uint8Array} [request.body]
 * @param {string} request.region
 * @param {string} request.service e.g. 'kinesisvideo'
 * @param {{accessKeyId:string, secretAccessKey:string, sessionToken?:string}} request.credentials
 * @param {Date} [request.date]
 */
export async function signRequest({
  method, url, headers = {}, body = '', region, service, credentials, date = new Date(),
}) {
  checkCredentials(credentials);
  const u = new URL(url);
  const time = amzDate(date);
  const scope = [time.slice(0, 8), region, service, 'aws4_request'];
  const signed = {};
  for (const [name, value] of Object.entries(headers)) signed[name.toLowerCase()] = String(value);
  signed.host = u.host;
  signed['x-amz-date'] = time;
  if (credentials.sessionToken) signed['x-amz-security-token'] = credentials.sessionToken;

  const names = Object.keys(signed).sort();
  const canonicalHeaders = names
    .map((n) => `${n}:${signed[n].trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    method.toUpperCase(),
    canonicalPath(u.pathname),
    canonicalQuery(queryPairs(u)),
    canonicalHeaders,
    signedHeaders,
    await sha256Hex(body),
  ].join('\n');
  const sig = await signature(
    credentials.secretAccessKey, scope.slice(0, 3),
    await stringToSign(time, scope, canonicalRequest));

  const out = { ...signed };
  delete out.host;
  out.authorization = `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope.join('/')}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${sig}`;
  return out;
}

/**
 * Presigns a GET of `url` (http, https, ws or wss) in its query string, valid for `expires`
 * seconds; the query parameters already in `url` are kept and signed.
 */
export async function presignUrl({
  url, region, service, credentials, date = new Date(), expires = 299,
}) {
  checkCredentials(credentials);
  const u = new URL(url);
  const time = amzDate(date);
  const scope = [time.slice(0, 8), region, service, 'aws4_request'];
  const pairs = queryPairs(u);
  pairs.push(
    ['X-Amz-Algorithm', ALGORITHM],
    ['X-Amz-Credential', `${credentials.accessKeyId}/${scope.join('/')}`],
    ['X-Amz-Date', time],
    ['X-Amz-Expires', String(expires)],
    ['X-Amz-SignedHeaders', 'host'],
  );
  if (credentials.sessionToken) pairs.push(['X-Amz-Security-Token', credentials.sessionToken]);
  const query = canonicalQuery(pairs);
  const canonicalRequest = [
    'GET',
    canonicalPath(u.pathname),
    query,
    `host:${u.host}\n`,
    'host',
    await sha256Hex(''),
  ].join('\n');
  const sig = await signature(
    credentials.secretAccessKey, scope.slice(0, 3),
    await stringToSign(time, scope, canonicalRequest));
  return `${u.protocol}//${u.host}${u.pathname}?${query}&X-Amz-Signature=${sig}`;
}

/**
 * The `requestSigner` the KVS WebRTC SDK's SignalingClient accepts: signs the connect URL as
 * the SDK's own SigV4RequestSigner does, for ws:// endpoints as well as wss://.
 */
export class RequestSigner {
  constructor(region, credentials, service = 'kinesisvideo') {
    this.region = region;
    this.credentials = credentials;
    this.service = service;
  }

  async getSignedURL(endpoint, queryParams, date = new Date()) {
    const u = new URL(endpoint);
    if (u.search) throw new Error(`endpoint ${endpoint} must not have a query string`);
    const query = Object.entries(queryParams).map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`);
    return presignUrl({
      url: `${endpoint}?${query.join('&')}`,
      region: this.region,
      service: this.service,
      credentials: this.credentials,
      date,
    });
  }
}
