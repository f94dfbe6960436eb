// The kvs-local web console: a single page (hash routes) that calls this server's AWS APIs
// with the AWS SDK for JavaScript v2, endpoint = the page's own origin, SigV4 signed in the
// page with the credentials typed into the sign-in form (kept in sessionStorage only).
//
// Routes: #/streams, #/streams/NAME, #/channels, #/channels/NAME/viewer,
// #/channels/NAME/master, #/faces. Each page function renders into <main> and returns a
// clean-up function (players, peer connections, timers), called before the next page.
import { streamsPage, streamPage } from './streams.js';
import { channelsPage, channelPeerPage } from './channels.js';
import { facesPage } from './faces.js';

const CREDENTIALS_KEY = 'kvs-console-credentials';

/** The credentials of this tab, or null before sign-in. */
export function credentials() {
  try {
    return JSON.parse(sessionStorage.getItem(CREDENTIALS_KEY) || 'null');
  } catch {
    return null;
  }
}

/** Options every SDK client gets: this origin (or `endpoint`), the tab's credentials. */
export function clientOptions(endpoint) {
  const c = credentials();
  return {
    region: c.region,
    endpoint: endpoint || location.origin,
    accessKeyId: c.accessKeyId,
    secretAccessKey: c.secretAccessKey,
    correctClockSkew: true,
    maxRetries: 1,
  };
}

let kinesisVideo = null;
/** The Kinesis Video control-plane client. */
export function kvs() {
  if (!kinesisVideo) kinesisVideo = new AWS.KinesisVideo(clientOptions());
  return kinesisVideo;
}

const dataClients = new Map();
/**
 * A KinesisVideoArchivedMedia client on the data endpoint of `stream` for `apiName`, as AWS's
 * clients do it (GetDataEndpoint first); kvs-local answers with this same origin.
 */
export function archivedMedia(stream, apiName) {
  const key = `${stream}\n${apiName}`;
  if (!dataClients.has(key)) {
    const made = kvs().getDataEndpoint({ StreamName: stream, APIName: apiName }).promise()
      .then((r) => new AWS.KinesisVideoArchivedMedia(clientOptions(r.DataEndpoint)));
    made.catch(() => dataClients.delete(key));
    dataClients.set(key, made);
  }
  return dataClients.get(key);
}

/** An SDK error as AWS's error code and message. */
export function describeError(e) {
  const code = e && (e.code || e.name) || 'Error';
  const message = e && e.message || String(e);
  return { code, message };
}

/** Shows an API error in the page's banner (code, message). */
export function showError(e, what) {
  const { code, message } = describeError(e);
  const box = document.getElementById('error');
  box.replaceChildren(
    el('span', { class: 'code' }, code), `: ${message}`,
    what ? el('span', { class: 'muted' }, ` (${what})`) : '');
  box.dataset.code = code;
  box.hidden = false;
  console.log(`console error: ${code}: ${message}${what ? ` (${what})` : ''}`);
}

export function clearError() {
  const box = document.getElementById('error');
  box.hidden = true;
  box.replaceChildren();
  delete box.dataset.code;
}

/** Runs `work`, showing what it throws; returns its result or undefined. */
export async function attempt(what, work) {
  try {
    return await work();
  } catch (e) {
    showError(e, what);
    return undefined;
  }
}

/** A DOM element: `el('td', { class: 'num' }, 'text', child)`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.flat().filter((c) => c !== undefined && c !== null));
  return node;
}

/** Every item of a paged list call: `pages(kvs(), 'listStreams', {}, 'StreamInfoList')`. */
export async function allPages(client, op, params, field, tokenField = 'NextToken') {
  const items = [];
  let token;
  do {
    const r = await client[op]({ ...params, ...(token ? { [tokenField]: token } : {}) })
      .promise();
    items.push(...(r[field] || []));
    token = r[tokenField];
  } while (token);
  return items;
}

/** `items` through `work`, at most `limit` at a time. */
export async function inParallel(items, limit, work) {
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const item = items[next++];
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

export function formatTime(date) {
  if (!date) return '';
  const d = date instanceof Date ? date : new Date(date);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

/** Asks before something that cannot be undone. */
export function confirmed(question) {
  return window.confirm(question);
}

// --- sign-in and routing ------------------------------------------------------------------
const main = document.getElementById('main');
let cleanup = () => {};

function signIn() {
  document.getElementById('nav').hidden = true;
  document.getElementById('who').replaceChildren();
  const form = document.getElementById('sign-in').content.cloneNode(true);
  main.replaceChildren(form);
  document.getElementById('sign-in-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target));
    sessionStorage.setItem(CREDENTIALS_KEY, JSON.stringify(data));
    kinesisVideo = null;
    dataClients.clear();
    // Check the key at once: a wrong one is refused with its AWS error code.
    const ok = await attempt('checking the credentials', () =>
      kvs().listStreams({ MaxResults: 1 }).promise());
    if (!ok) {
      sessionStorage.removeItem(CREDENTIALS_KEY);
      kinesisVideo = null;
      return;
    }
    clearError();
    route();
  });
}

let generation = 0;

async function route() {
  const mine = ++generation;
  cleanup();
  cleanup = () => {};
  clearError();
  delete main.dataset.loaded;
  const creds = credentials();
  if (!creds) {
    signIn();
    return;
  }
  document.getElementById('nav').hidden = false;
  document.getElementById('who').replaceChildren(
    `${creds.accessKeyId} · ${creds.region}`,
    el('button', { type: 'button', id: 'sign-out', onclick: () => {
      sessionStorage.removeItem(CREDENTIALS_KEY);
      kinesisVideo = null;
      dataClients.clear();
      route();
    } }, 'Sign out'));
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const section = parts[0] || 'streams';
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('current', a.dataset.section === section);
  }
  main.replaceChildren();
  main.dataset.page = section;
  let page;
  if (section === 'streams' && parts[1]) page = streamPage(main, parts[1]);
  else if (section === 'streams') page = streamsPage(main);
  else if (section === 'channels' && parts[1]) page = channelPeerPage(main, parts[1], parts[2]);
  else if (section === 'channels') page = channelsPage(main);
  else if (section === 'faces') page = facesPage(main);
  else {
    main.append(el('p', {}, `No page ${location.hash}.`));
    return;
  }
  const done = await page;
  if (mine !== generation) {
    // Another page was opened meanwhile: this one's players and timers go at once.
    if (typeof done === 'function') done();
    return;
  }
  if (typeof done === 'function') cleanup = done;
  main.dataset.loaded = location.hash || '#/streams';
}

/** Re-renders the current page (after a create or delete). */
export function reload() {
  route();
}

window.addEventListener('hashchange', route);
route();
