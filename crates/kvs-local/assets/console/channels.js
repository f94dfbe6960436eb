// Signaling channels: the list, create and delete, and a channel opened as a viewer (plays
// what the master sends) or as its master (sends this browser's camera and microphone to each
// viewer), on the official amazon-kinesis-video-streams-webrtc SDK the way AWS's WebRTC test
// page does it: DescribeSignalingChannel, GetSignalingChannelEndpoint (WSS, HTTPS),
// GetIceServerConfig, KVSWebRTC.SignalingClient.
import {
  allPages, attempt, clientOptions, confirmed, credentials, describeError, el, formatTime, kvs,
  reload,
} from './app.js';

export async function channelsPage(main) {
  const form = el('form', { class: 'card inline', id: 'create-channel' },
    el('strong', {}, 'New channel '),
    el('label', {}, 'Name ', el('input', { name: 'name', required: true, size: 24 })),
    el('label', {}, 'Message TTL (s) ',
      el('input', { name: 'ttl', type: 'number', min: 5, max: 120, value: 60 })),
    el('button', { type: 'submit', class: 'primary' }, 'Create channel'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const created = await attempt('CreateSignalingChannel', () => kvs().createSignalingChannel({
      ChannelName: data.get('name'),
      ChannelType: 'SINGLE_MASTER',
      SingleMasterConfiguration: { MessageTtlSeconds: Number(data.get('ttl')) },
    }).promise());
    if (created) reload();
  });
  const body = el('tbody');
  main.append(el('h1', {}, 'Signaling channels'), form,
    el('table', { id: 'channels' },
      el('thead', {}, el('tr', {}, ...['Name', 'Type', 'Status', 'Message TTL', 'Created', '']
        .map((h) => el('th', {}, h)))),
      body));
  const channels = await attempt('ListSignalingChannels',
    () => allPages(kvs(), 'listSignalingChannels', { MaxResults: 100 }, 'ChannelInfoList'));
  if (!channels) return;
  if (!channels.length) {
    body.append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No channels yet.')));
  }
  for (const c of channels) {
    const name = encodeURIComponent(c.ChannelName);
    body.append(el('tr', { dataset: { channel: c.ChannelName } },
      el('td', {}, c.ChannelName),
      el('td', {}, c.ChannelType),
      el('td', { class: `status-${c.ChannelStatus}` }, c.ChannelStatus),
      el('td', { class: 'num' },
        `${c.SingleMasterConfiguration?.MessageTtlSeconds ?? ''} s`),
      el('td', {}, formatTime(c.CreationTime)),
      el('td', {},
        el('a', { href: `#/channels/${name}/viewer`, class: 'viewer' }, 'Open as viewer'), ' · ',
        el('a', { href: `#/channels/${name}/master`, class: 'master' }, 'Open as master'), ' ',
        el('button', {
          type: 'button', class: 'danger', dataset: { delete: c.ChannelName },
          onclick: () => deleteChannel(c),
        }, 'Delete'))));
  }
}

async function deleteChannel(c) {
  if (!confirmed(`Delete signaling channel ${c.ChannelName}?`)) return;
  const deleted = await attempt('DeleteSignalingChannel',
    () => kvs().deleteSignalingChannel({ ChannelARN: c.ChannelARN }).promise());
  if (deleted) reload();
}

/** The channel's ARN, its endpoints for `role` and its ICE servers. */
async function connectInfo(channelName, role, clientId) {
  const channel = (await kvs().describeSignalingChannel({ ChannelName: channelName }).promise())
    .ChannelInfo;
  const endpoints = {};
  const r = await kvs().getSignalingChannelEndpoint({
    ChannelARN: channel.ChannelARN,
    SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: role },
  }).promise();
  for (const e of r.ResourceEndpointList) endpoints[e.Protocol] = e.ResourceEndpoint;
  const signaling = new AWS.KinesisVideoSignalingChannels(clientOptions(endpoints.HTTPS));
  const ice = await signaling.getIceServerConfig({
    ChannelARN: channel.ChannelARN, ...(clientId ? { ClientId: clientId } : {}),
  }).promise();
  // AWS's STUN server is left out: the page talks to this server only, whose TURN server
  // answers STUN too.
  const iceServers = (ice.IceServerList || []).map((s) => ({
    urls: s.Uris, username: s.Username, credential: s.Password,
  }));
  return { channel, endpoints, iceServers, clockOffset: kvs().config.systemClockOffset };
}

/** SignalingClient options; over plain http the ws:// URL is signed by the viewer's sigv4.js,
 * as the SDK's own signer signs wss:// only. */
async function signalingOptions(info, role, clientId) {
  const c = credentials();
  const creds = { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey };
  const options = {
    channelARN: info.channel.ChannelARN,
    channelEndpoint: info.endpoints.WSS,
    role,
    region: c.region,
    credentials: creds,
    systemClockOffset: info.clockOffset,
    ...(clientId ? { clientId } : {}),
  };
  if (!info.endpoints.WSS.startsWith('wss://')) {
    const { RequestSigner } = await import('/viewer/sigv4.js');
    options.requestSigner = new RequestSigner(c.region, creds);
  }
  return options;
}

export async function channelPeerPage(main, channelName, role) {
  const isMaster = role === 'master';
  const video = el('video', {
    id: isMaster ? 'local' : 'remote', autoplay: true, playsinline: true, muted: true,
    controls: !isMaster,
  });
  video.muted = true;
  const status = el('p', { id: 'peer-status' }, 'Connecting…');
  const viewers = el('p', { id: 'viewers', class: 'muted' });
  const log = el('pre', { class: 'log', id: 'peer-log' });
  const started = performance.now();
  const say = (text) => {
    log.textContent += `${((performance.now() - started) / 1000).toFixed(2)}s ${text}\n`;
    console.log(`[${role}] ${text}`);
  };
  main.append(el('p', {}, el('a', { href: '#/channels' }, '← Signaling channels')),
    el('h1', {}, `${channelName}: ${isMaster ? 'master' : 'viewer'}`),
    el('p', { class: 'muted' }, isMaster
      ? 'Sends this browser\'s camera and microphone to every viewer that connects.'
      : 'Plays what the channel\'s master sends.'),
    el('div', { class: 'row' }, el('section', { class: 'card' }, video, status, viewers),
      el('section', { class: 'card' }, el('h2', {}, 'Log'), log)));
  const peers = new Map();
  let signalingClient = null;
  let localStream = null;
  const close = () => {
    if (signalingClient) signalingClient.close();
    for (const pc of peers.values()) pc.close();
    if (localStream) for (const t of localStream.getTracks()) t.stop();
  };
  const fail = (what, e) => {
    const { code, message } = describeError(e);
    status.textContent = `${code}: ${message}`;
    status.style.color = 'var(--bad)';
    say(`${what} failed: ${code}: ${message}`);
  };
  try {
    const clientId = isMaster ? undefined : `console-${Math.random().toString(36).slice(2, 10)}`;
    const kvsRole = isMaster ? KVSWebRTC.Role.MASTER : KVSWebRTC.Role.VIEWER;
    const info = await connectInfo(channelName, kvsRole, clientId);
    say(`channel ${info.channel.ChannelARN}; endpoints ${JSON.stringify(info.endpoints)}`);
    say(`ICE servers: ${info.iceServers.map((s) => [].concat(s.urls).join(' ')).join(', ')}`);
    signalingClient = new KVSWebRTC.SignalingClient(
      await signalingOptions(info, kvsRole, clientId));
    const configuration = { iceServers: info.iceServers, iceTransportPolicy: 'all' };
    if (isMaster) {
      localStream = await navigator.mediaDevices.getUserMedia({
        video: { width: 640, height: 480 }, audio: true,
      });
      video.srcObject = localStream;
      say(`local tracks: ${localStream.getTracks().map((t) => `${t.kind} "${t.label}"`)
        .join(', ')}`);
      runMaster(signalingClient, configuration, localStream, peers, say, status, viewers);
    } else {
      runViewer(signalingClient, configuration, video, peers, say, status);
    }
    signalingClient.on('statusResponse', (s) => say(`signaling refused a message: ${
      JSON.stringify(s)}`));
    signalingClient.on('close', () => say('signaling connection closed'));
    signalingClient.on('error', (e) => fail('signaling', e));
    signalingClient.open();
  } catch (e) {
    fail('opening the channel', e);
  }
  return close;
}

function runMaster(signalingClient, configuration, localStream, peers, say, status, viewers) {
  const connected = new Set();
  const showViewers = () => {
    viewers.textContent = `${connected.size} viewer${connected.size === 1 ? '' : 's'} connected`;
    viewers.dataset.count = connected.size;
  };
  showViewers();
  signalingClient.on('open', () => {
    status.textContent = 'Master on the channel';
    status.dataset.state = 'ready';
    say('MASTER READY');
  });
  signalingClient.on('sdpOffer', async (offer, remoteClientId) => {
    say(`offer from ${remoteClientId}`);
    peers.get(remoteClientId)?.close();
    const pc = new RTCPeerConnection(configuration);
    peers.set(remoteClientId, pc);
    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (candidate) signalingClient.sendIceCandidate(candidate, remoteClientId);
    });
    pc.addEventListener('connectionstatechange', () => {
      say(`${remoteClientId}: ${pc.connectionState}`);
      if (pc.connectionState === 'connected') connected.add(remoteClientId);
      if (['failed', 'closed', 'disconnected'].includes(pc.connectionState)) {
        connected.delete(remoteClientId);
      }
      showViewers();
    });
    for (const track of localStream.getTracks()) pc.addTrack(track, localStream);
    try {
      await pc.setRemoteDescription(offer);
      await pc.setLocalDescription(await pc.createAnswer());
      signalingClient.sendSdpAnswer(pc.localDescription, remoteClientId);
    } catch (e) {
      const { code, message } = describeError(e);
      say(`could not answer ${remoteClientId}: ${code}: ${message}`);
    }
  });
  signalingClient.on('iceCandidate', (candidate, remoteClientId) => {
    peers.get(remoteClientId)?.addIceCandidate(candidate)
      .catch((e) => say(`could not add a candidate: ${e.message}`));
  });
}

function runViewer(signalingClient, configuration, video, peers, say, status) {
  const pc = new RTCPeerConnection(configuration);
  peers.set('master', pc);
  let remote = null;
  signalingClient.on('open', async () => {
    say('on the channel; sending an offer');
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    signalingClient.sendSdpOffer(pc.localDescription);
  });
  signalingClient.on('sdpAnswer', (answer) => {
    say('answer from the master');
    pc.setRemoteDescription(answer).catch((e) => say(`could not apply the answer: ${e.message}`));
  });
  signalingClient.on('iceCandidate', (candidate) => {
    pc.addIceCandidate(candidate).catch((e) => say(`could not add a candidate: ${e.message}`));
  });
  pc.addEventListener('icecandidate', ({ candidate }) => {
    if (candidate) signalingClient.sendIceCandidate(candidate);
  });
  pc.addEventListener('connectionstatechange', () => {
    say(`connection ${pc.connectionState}`);
    status.textContent = `Connection ${pc.connectionState}`;
  });
  pc.addEventListener('track', (event) => {
    say(`remote ${event.track.kind} track`);
    if (!remote) {
      remote = event.streams[0] || new MediaStream();
      video.srcObject = remote;
    }
    if (!remote.getTrackById(event.track.id)) remote.addTrack(event.track);
  });
  video.addEventListener('playing', () => {
    status.textContent = `Playing ${video.videoWidth}x${video.videoHeight}`;
    status.dataset.state = 'playing';
  });
}
