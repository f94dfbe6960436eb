// The viewer page's logic, as AWS's WebRTC browser sample does it:
//   DescribeSignalingChannel (the ARN) -> GetSignalingChannelEndpoint (WSS and HTTPS, role
//   VIEWER) -> GetIceServerConfig on the HTTPS endpoint -> KVSWebRTC.SignalingClient ->
//   RTCPeerConnection with a receive-only video transceiver: offer, trickle ICE, answer.
// Served over https, the SignalingClient signs its wss:// URL with the SDK's own signer; only
// over plain http (a ws:// endpoint, which that signer refuses) does sigv4.js sign it.
//
// Form values may come from the query string (channel, region, endpoint, accessKeyId,
// secretAccessKey, sessionToken, clientId, relayOnly=1, autoconnect=1); credentials are
// removed from the address bar once read.
import { RequestSigner, signRequest } from './sigv4.js';

const FIELDS = ['channel', 'region', 'endpoint', 'accessKeyId', 'secretAccessKey',
  'sessionToken', 'clientId'];
const SECRETS = ['accessKeyId', 'secretAccessKey', 'sessionToken'];
const $ = (id) => document.getElementById(id);
const video = $('video');

/** The current connection: { signaling, pc, timer }. */
let session = null;

function log(...parts) {
  const text = parts.map((p) => (p instanceof Error ? p.message : String(p))).join(' ');
  const line = `${(performance.now() / 1000).toFixed(3)}s ${text}`;
  $('log').textContent += line + '\n';
  $('log').scrollTop = $('log').scrollHeight;
  console.log(line);
}

function setStatus(text) {
  $('status').textContent = text;
}

function randomClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return 'viewer-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Fills the form from defaults and the query string; returns whether to connect at once. */
function fillForm() {
  const query = new URLSearchParams(location.search);
  $('region').value = 'us-east-1';
  $('endpoint').value = location.origin;
  $('clientId').value = randomClientId();
  for (const f of FIELDS) if (query.get(f)) $(f).value = query.get(f);
  $('relayOnly').checked = query.get('relayOnly') === '1';
  if (SECRETS.some((f) => query.has(f))) {
    for (const f of SECRETS) query.delete(f);
    const rest = query.toString();
    history.replaceState(null, '', location.pathname + (rest ? '?' + rest : ''));
  }
  return query.get('autoconnect') === '1';
}

function readForm() {
  const v = Object.fromEntries(FIELDS.map((f) => [f, $(f).value.trim()]));
  const missing = FIELDS.filter((f) => f !== 'sessionToken' && !v[f]);
  if (missing.length) throw new Error(`missing: ${missing.join(', ')}`);
  if (v.clientId.startsWith('AWS_')) throw new Error('a client id must not start with AWS_');
  v.endpoint = v.endpoint.replace(/\/+$/, '');
  v.relayOnly = $('relayOnly').checked;
  v.credentials = {
    accessKeyId: v.accessKeyId,
    secretAccessKey: v.secretAccessKey,
    sessionToken: v.sessionToken || undefined,
  };
  return v;
}

/** A SigV4-signed restJson1 call (service kinesisvideo). */
async function kvsPost(config, endpoint, path, body) {
  const url = endpoint.replace(/\/+$/, '') + path;
  const payload = JSON.stringify(body);
  const headers = await signRequest({
    method: 'POST', url, headers: { 'content-type': 'application/json' }, body: payload,
    region: config.region, service: 'kinesisvideo', credentials: config.credentials,
  });
  const response = await fetch(url, { method: 'POST', headers, body: payload });
  const text = await response.text();
  if (!response.ok) {
    const type = response.headers.get('x-amzn-ErrorType') || '';
    throw new Error(`${path}: HTTP ${response.status} ${type} ${text}`);
  }
  return JSON.parse(text);
}

function isAws(endpoint) {
  return /\.amazonaws\.com(\.cn)?$/.test(new URL(endpoint).hostname);
}

async function connect() {
  disconnect();
  const config = readForm();
  const current = { signaling: null, pc: null, timer: null };
  session = current;
  $('connect').disabled = true;
  $('disconnect').disabled = false;

  setStatus('finding the channel');
  const described = await kvsPost(config, config.endpoint, '/describeSignalingChannel',
    { ChannelName: config.channel });
  const channelARN = described.ChannelInfo.ChannelARN;
  log('channel', channelARN);

  const found = await kvsPost(config, config.endpoint, '/getSignalingChannelEndpoint', {
    ChannelARN: channelARN,
    SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: 'VIEWER' },
  });
  const endpoints = Object.fromEntries(
    found.ResourceEndpointList.map((e) => [e.Protocol, e.ResourceEndpoint]));
  log('endpoints', JSON.stringify(endpoints));

  const ice = await kvsPost(config, endpoints.HTTPS, '/v1/get-ice-server-config',
    { ChannelARN: channelARN, ClientId: config.clientId });
  const iceServers = [];
  if (isAws(config.endpoint) && !config.relayOnly) {
    iceServers.push({ urls: `stun:stun.kinesisvideo.${config.region}.amazonaws.com:443` });
  }
  for (const s of ice.IceServerList || []) {
    iceServers.push({ urls: s.Uris, username: s.Username, credential: s.Password });
  }
  log('ICE servers', iceServers.map((s) => [].concat(s.urls).join(' ')).join(', ') || 'none');
  if (session !== current) return;

  const pc = new RTCPeerConnection({
    iceServers, iceTransportPolicy: config.relayOnly ? 'relay' : 'all',
  });
  current.pc = pc;
  const options = {
    channelARN,
    channelEndpoint: endpoints.WSS,
    clientId: config.clientId,
    role: KVSWebRTC.Role.VIEWER,
    region: config.region,
    credentials: config.credentials,
    systemClockOffset: 0,
  };
  // Over https the SDK signs the wss:// URL itself, exactly as users' pages do. Over plain
  // http, kvs-local returns a ws:// endpoint, which the SDK's signer refuses: sign it here.
  if (location.protocol !== 'https:' && !endpoints.WSS.startsWith('wss://')) {
    options.requestSigner = new RequestSigner(config.region, config.credentials);
  }
  log('signaling', endpoints.WSS,
    options.requestSigner ? '(URL signed by sigv4.js)' : '(URL signed by the SDK)');
  const signaling = new KVSWebRTC.SignalingClient(options);
  current.signaling = signaling;

  signaling.on('open', async () => {
    log('signaling connected as', config.clientId);
    setStatus('offering');
    try {
      pc.addTransceiver('video', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      signaling.sendSdpOffer(pc.localDescription);
      log('offer sent');
    } catch (e) {
      fail(e);
    }
  });
  signaling.on('sdpAnswer', async (answer) => {
    log('answer received');
    try {
      await pc.setRemoteDescription(answer);
    } catch (e) {
      fail(e);
    }
  });
  signaling.on('iceCandidate', (candidate) => {
    log('remote candidate', candidate.candidate);
    pc.addIceCandidate(candidate).catch((e) => log('candidate refused:', e));
  });
  signaling.on('statusResponse', (s) => log('signaling refused a message:', JSON.stringify(s)));
  signaling.on('close', () => log('signaling closed'));
  signaling.on('error', (e) => log('signaling error:', e && e.message ? e.message : 'see console'));

  pc.addEventListener('icecandidate', ({ candidate }) => {
    if (candidate) {
      log('local candidate', candidate.candidate);
      signaling.sendIceCandidate(candidate);
    }
  });
  pc.addEventListener('connectionstatechange', () => {
    log('connection', pc.connectionState);
    setStatus(pc.connectionState);
    if (pc.connectionState === 'connected') reportPath(pc);
  });
  pc.addEventListener('track', (event) => {
    log('track', event.track.kind);
    video.srcObject = event.streams[0] || new MediaStream([event.track]);
  });
  current.timer = setInterval(() => showStats(pc), 1000);

  setStatus('connecting to signaling');
  signaling.open();
}

function fail(error) {
  log('error:', error);
  $('connect').disabled = false;
  setStatus('failed: ' + (error && error.message ? error.message : error));
}

/** Logs the candidate pair in use (host, srflx or relay on each side). */
async function reportPath(pc) {
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
      const local = stats.get(s.localCandidateId);
      const remote = stats.get(s.remoteCandidateId);
      log('path', `${local.candidateType} ${local.address}:${local.port}`, '->',
        `${remote.candidateType} ${remote.address}:${remote.port}`);
    }
  });
}

/** Shows what is being received; logs the codec once it is known. */
async function showStats(pc) {
  if (pc.connectionState !== 'connected') return;
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      const codec = stats.get(s.codecId);
      if (codec && !pc.codecLogged) {
        pc.codecLogged = true;
        log('codec', codec.mimeType, codec.sdpFmtpLine || '');
      }
      setStatus(`playing ${video.videoWidth}x${video.videoHeight}, ` +
        `${s.framesPerSecond || 0} fps, ${s.framesDecoded || 0} frames, ` +
        `${Math.round((s.bytesReceived || 0) / 1024)} KiB`);
    }
  });
}

function disconnect() {
  const current = session;
  session = null;
  if (current) {
    clearInterval(current.timer);
    if (current.signaling) current.signaling.close();
    if (current.pc) current.pc.close();
    log('disconnected');
  }
  video.srcObject = null;
  $('connect').disabled = false;
  $('disconnect').disabled = true;
  setStatus('idle');
}

video.addEventListener('loadeddata', () => {
  log(`first frame: ${video.videoWidth}x${video.videoHeight}`);
});

$('form').addEventListener('submit', (event) => {
  event.preventDefault();
  connect().catch(fail);
});
$('disconnect').addEventListener('click', disconnect);

const autoconnect = fillForm();
if (typeof KVSWebRTC === 'undefined') {
  fail(new Error('kvs-webrtc.min.js did not load (run scripts/install-deps)'));
} else if (autoconnect) {
  connect().catch(fail);
}
