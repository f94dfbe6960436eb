// A WebRTC viewer written only against AWS's SDKs, the way AWS's own WebRTC test page
// (amazon-kinesis-video-streams-webrtc-sdk-js, examples/viewer.js) does it:
//   AWS.KinesisVideo: DescribeSignalingChannel -> GetSignalingChannelEndpoint (WSS, HTTPS;
//   role VIEWER) -> AWS.KinesisVideoSignalingChannels on the HTTPS endpoint:
//   GetIceServerConfig -> KVSWebRTC.SignalingClient (the SDK's own SigV4 signer) on the WSS
//   endpoint -> RTCPeerConnection with receive-only video and audio transceivers: offer,
//   trickle ICE, answer, play into <video>.
// No kvs-rs code: the point is to behave exactly as users' pages do.
//
// Query string: channel, region (us-east-1), endpoint, accessKeyId, secretAccessKey,
// sessionToken, clientId (random), relayOnly=1 (iceTransportPolicy 'relay').
'use strict';

const params = new URLSearchParams(location.search);
const formValues = {
  channelName: params.get('channel'),
  region: params.get('region') || 'us-east-1',
  endpoint: params.get('endpoint') || undefined,
  accessKeyId: params.get('accessKeyId'),
  secretAccessKey: params.get('secretAccessKey'),
  sessionToken: params.get('sessionToken') || undefined,
  clientId: params.get('clientId') || 'viewer-' + Math.random().toString(36).slice(2, 10),
  forceTURN: params.get('relayOnly') === '1',
};

const started = performance.now();
function log(...parts) {
  const text = parts.map((p) => (typeof p === 'string' ? p : describe(p))).join(' ');
  console.log(text);
  const el = document.getElementById('log');
  el.textContent += `${((performance.now() - started) / 1000).toFixed(3)}s ${text}\n`;
}

/** An SDK or DOM error as one line: AWS SDK v2 errors carry code and statusCode. */
function describe(value) {
  if (value instanceof Error || (value && value.message)) {
    const extra = [value.code, value.statusCode && `HTTP ${value.statusCode}`]
      .filter(Boolean).join(', ');
    return `${value.name || 'Error'}: ${value.message}${extra ? ` (${extra})` : ''}`;
  }
  try {
    return JSON.stringify(value);
  } catch (e) {
    return String(value);
  }
}

const viewer = {};

async function startViewer() {
  log('[VIEWER] Client id is:', formValues.clientId);
  const missing = ['channelName', 'accessKeyId', 'secretAccessKey']
    .filter((k) => !formValues[k]);
  if (missing.length) throw new Error(`missing query parameters: ${missing.join(', ')}`);

  // Create KVS client
  const kinesisVideoClient = new AWS.KinesisVideo({
    region: formValues.region,
    accessKeyId: formValues.accessKeyId,
    secretAccessKey: formValues.secretAccessKey,
    sessionToken: formValues.sessionToken,
    endpoint: formValues.endpoint,
    correctClockSkew: true,
  });

  // Get signaling channel ARN
  const describeSignalingChannelResponse = await kinesisVideoClient
    .describeSignalingChannel({ ChannelName: formValues.channelName })
    .promise();
  const channelARN = describeSignalingChannelResponse.ChannelInfo.ChannelARN;
  log('[VIEWER] Channel ARN:', channelARN);

  // Get signaling channel endpoints
  const getSignalingChannelEndpointResponse = await kinesisVideoClient
    .getSignalingChannelEndpoint({
      ChannelARN: channelARN,
      SingleMasterChannelEndpointConfiguration: {
        Protocols: ['WSS', 'HTTPS'],
        Role: KVSWebRTC.Role.VIEWER,
      },
    })
    .promise();
  const endpointsByProtocol = getSignalingChannelEndpointResponse.ResourceEndpointList.reduce(
    (endpoints, endpoint) => {
      endpoints[endpoint.Protocol] = endpoint.ResourceEndpoint;
      return endpoints;
    }, {});
  log('[VIEWER] Endpoints:', endpointsByProtocol);

  const kinesisVideoSignalingChannelsClient = new AWS.KinesisVideoSignalingChannels({
    region: formValues.region,
    accessKeyId: formValues.accessKeyId,
    secretAccessKey: formValues.secretAccessKey,
    sessionToken: formValues.sessionToken,
    endpoint: endpointsByProtocol.HTTPS,
    correctClockSkew: true,
  });

  // Get ICE server configuration
  const getIceServerConfigResponse = await kinesisVideoSignalingChannelsClient
    .getIceServerConfig({ ChannelARN: channelARN, ClientId: formValues.clientId })
    .promise();
  const iceServers = [];
  // As AWS's page: its STUN server unless TURN only, then the channel's TURN servers.
  // Against a custom endpoint (kvs-local) AWS's STUN server is left out: the page must not
  // reach AWS, and kvs-local's TURN server answers STUN too.
  if (!formValues.forceTURN && !formValues.endpoint) {
    iceServers.push({ urls: `stun:stun.kinesisvideo.${formValues.region}.amazonaws.com:443` });
  }
  (getIceServerConfigResponse.IceServerList || []).forEach((iceServer) =>
    iceServers.push({
      urls: iceServer.Uris,
      username: iceServer.Username,
      credential: iceServer.Password,
    }));
  log('[VIEWER] ICE servers:', iceServers.map((s) => [].concat(s.urls).join(' ')).join(', '));

  // Create Signaling Client: the SDK signs the wss:// URL itself.
  viewer.signalingClient = new KVSWebRTC.SignalingClient({
    channelARN,
    channelEndpoint: endpointsByProtocol.WSS,
    clientId: formValues.clientId,
    role: KVSWebRTC.Role.VIEWER,
    region: formValues.region,
    credentials: {
      accessKeyId: formValues.accessKeyId,
      secretAccessKey: formValues.secretAccessKey,
      sessionToken: formValues.sessionToken,
    },
    systemClockOffset: kinesisVideoClient.config.systemClockOffset,
  });

  const configuration = {
    iceServers,
    iceTransportPolicy: formValues.forceTURN ? 'relay' : 'all',
  };
  log('[VIEWER] iceTransportPolicy:', configuration.iceTransportPolicy);
  const peerConnection = new RTCPeerConnection(configuration);
  viewer.peerConnection = peerConnection;

  viewer.signalingClient.on('open', async () => {
    log('[VIEWER] Connected to signaling service');
    try {
      peerConnection.addTransceiver('video', { direction: 'recvonly' });
      peerConnection.addTransceiver('audio', { direction: 'recvonly' });
      log('[VIEWER] Creating SDP offer');
      await peerConnection.setLocalDescription(await peerConnection.createOffer());
      log('[VIEWER] Sending SDP offer');
      viewer.signalingClient.sendSdpOffer(peerConnection.localDescription);
      log('[VIEWER] Generating ICE candidates');
    } catch (e) {
      log('[VIEWER] Could not make the offer:', e);
    }
  });

  viewer.signalingClient.on('sdpAnswer', async (answer) => {
    log('[VIEWER] Received SDP answer');
    try {
      await peerConnection.setRemoteDescription(answer);
    } catch (e) {
      log('[VIEWER] Could not apply the answer:', e);
    }
  });

  viewer.signalingClient.on('iceCandidate', (candidate) => {
    log('[VIEWER] Received ICE candidate:', candidate.candidate || '(end of candidates)');
    peerConnection.addIceCandidate(candidate)
      .catch((e) => log('[VIEWER] Could not add the candidate:', e));
  });

  viewer.signalingClient.on('statusResponse', (status) => {
    log('[VIEWER] Signaling service refused a message:', status);
  });

  viewer.signalingClient.on('close', () => {
    log('[VIEWER] Disconnected from signaling channel');
  });

  viewer.signalingClient.on('error', (error) => {
    log('[VIEWER] Signaling client error:', error);
  });

  // Send any ICE candidates to the other peer (trickle ICE)
  peerConnection.addEventListener('icecandidate', ({ candidate }) => {
    if (candidate) {
      log('[VIEWER] Local ICE candidate:', candidate.candidate);
      viewer.signalingClient.sendIceCandidate(candidate);
    } else {
      log('[VIEWER] All ICE candidates have been generated');
    }
  });

  peerConnection.addEventListener('connectionstatechange', () => {
    log('[VIEWER] Connection state:', peerConnection.connectionState);
    if (peerConnection.connectionState === 'connected') logPath(peerConnection);
  });

  // As remote tracks are received, add them to the remote view
  const remoteView = document.getElementById('remote');
  peerConnection.addEventListener('track', (event) => {
    log('[VIEWER] Received remote track:', event.track.kind);
    if (!viewer.remoteStream) {
      viewer.remoteStream = event.streams[0] || new MediaStream();
      remoteView.srcObject = viewer.remoteStream;
    }
    if (!viewer.remoteStream.getTrackById(event.track.id)) {
      viewer.remoteStream.addTrack(event.track);
    }
  });
  remoteView.addEventListener('loadeddata', () => {
    log(`[VIEWER] First frame: ${remoteView.videoWidth}x${remoteView.videoHeight}`);
  });

  log('[VIEWER] Starting viewer connection');
  viewer.signalingClient.open();
}

/** Logs the candidate pair in use and the codecs received. */
async function logPath(peerConnection) {
  const stats = await peerConnection.getStats();
  stats.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
      const local = stats.get(s.localCandidateId);
      const remote = stats.get(s.remoteCandidateId);
      log('[VIEWER] Path:',
        `${local.candidateType} ${local.protocol} ${local.address}:${local.port}`, '->',
        `${remote.candidateType} ${remote.protocol} ${remote.address}:${remote.port}`);
    }
  });
  setTimeout(async () => {
    const later = await peerConnection.getStats();
    later.forEach((s) => {
      if (s.type === 'inbound-rtp') {
        const codec = later.get(s.codecId);
        log(`[VIEWER] Receiving ${s.kind}:`,
          codec ? `${codec.mimeType} ${codec.sdpFmtpLine || ''}` : '?');
      }
    });
  }, 1000);
}

startViewer().catch((e) => log('[VIEWER] Encountered error starting:', e));
