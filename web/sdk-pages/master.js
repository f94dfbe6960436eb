// A WebRTC master written only against AWS's SDKs, the way AWS's own WebRTC test page
// (amazon-kinesis-video-streams-webrtc-sdk-js, examples/master.js) does it:
//   getUserMedia (camera 640x480 and microphone) -> AWS.KinesisVideo: DescribeSignalingChannel
//   -> GetSignalingChannelEndpoint (WSS, HTTPS; role MASTER) -> AWS.KinesisVideoSignalingChannels
//   on the HTTPS endpoint: GetIceServerConfig -> KVSWebRTC.SignalingClient (the SDK's own SigV4
//   signer) on the WSS endpoint -> one RTCPeerConnection per viewer client id on each SDP
//   offer: answer, trickle ICE.
// No kvs-rs code: the point is to behave exactly as users' pages do.
//
// Logs "MASTER READY" once the signaling connection is open, "VIEWER CONNECTED <clientId>"
// when a viewer's peer connection reaches 'connected' and "VIEWER DISCONNECTED <clientId>"
// when it is gone (failed, closed, or disconnected for 2 s).
//
// Query string: channel, region (us-east-1), endpoint, accessKeyId, secretAccessKey,
// sessionToken, relayOnly=1 (iceTransportPolicy 'relay').
'use strict';

const params = new URLSearchParams(location.search);
const formValues = {
  channelName: params.get('channel'),
  region: params.get('region') || 'us-east-1',
  endpoint: params.get('endpoint') || undefined,
  accessKeyId: params.get('accessKeyId'),
  secretAccessKey: params.get('secretAccessKey'),
  sessionToken: params.get('sessionToken') || undefined,
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

const master = {
  peerConnectionByClientId: {},
  localStream: null,
  signalingClient: null,
};

async function startMaster() {
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
  log('[MASTER] Channel ARN:', channelARN);

  // Get signaling channel endpoints
  const getSignalingChannelEndpointResponse = await kinesisVideoClient
    .getSignalingChannelEndpoint({
      ChannelARN: channelARN,
      SingleMasterChannelEndpointConfiguration: {
        Protocols: ['WSS', 'HTTPS'],
        Role: KVSWebRTC.Role.MASTER,
      },
    })
    .promise();
  const endpointsByProtocol = getSignalingChannelEndpointResponse.ResourceEndpointList.reduce(
    (endpoints, endpoint) => {
      endpoints[endpoint.Protocol] = endpoint.ResourceEndpoint;
      return endpoints;
    }, {});
  log('[MASTER] Endpoints:', endpointsByProtocol);

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
    .getIceServerConfig({ ChannelARN: channelARN })
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
  log('[MASTER] ICE servers:', iceServers.map((s) => [].concat(s.urls).join(' ')).join(', '));

  // Create Signaling Client: the SDK signs the wss:// URL itself.
  master.signalingClient = new KVSWebRTC.SignalingClient({
    channelARN,
    channelEndpoint: endpointsByProtocol.WSS,
    role: KVSWebRTC.Role.MASTER,
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
  log('[MASTER] iceTransportPolicy:', configuration.iceTransportPolicy);

  // Get a stream from the webcam and microphone and display it in the local view.
  master.localStream = await navigator.mediaDevices.getUserMedia({
    video: { width: 640, height: 480 },
    audio: true,
  });
  log('[MASTER] Local tracks:',
    master.localStream.getTracks().map((t) => `${t.kind} "${t.label}"`).join(', '));
  document.getElementById('local').srcObject = master.localStream;

  master.signalingClient.on('open', () => {
    log('[MASTER] Connected to signaling service');
    log('MASTER READY');
  });

  master.signalingClient.on('sdpOffer', async (offer, remoteClientId) => {
    log('[MASTER] Received SDP offer from client:', remoteClientId);

    // A viewer that offers again replaces its earlier peer connection.
    const previous = master.peerConnectionByClientId[remoteClientId];
    if (previous && previous.connectionState !== 'closed') previous.close();

    // Create a new peer connection using the offer from the given client
    const peerConnection = new RTCPeerConnection(configuration);
    master.peerConnectionByClientId[remoteClientId] = peerConnection;
    let connected = false;
    let gone = false;
    let disconnectTimer = null;
    const viewerGone = (why) => {
      if (connected && !gone) {
        gone = true;
        log(`VIEWER DISCONNECTED ${remoteClientId} (${why})`);
      }
    };

    // Send any ICE candidates to the other peer (trickle ICE)
    peerConnection.addEventListener('icecandidate', ({ candidate }) => {
      if (candidate) {
        log(`[MASTER] Local ICE candidate for ${remoteClientId}:`, candidate.candidate);
        master.signalingClient.sendIceCandidate(candidate, remoteClientId);
      } else {
        log(`[MASTER] All ICE candidates have been generated for ${remoteClientId}`);
      }
    });

    peerConnection.addEventListener('connectionstatechange', () => {
      const state = peerConnection.connectionState;
      log(`[MASTER] Connection state of ${remoteClientId}:`, state);
      clearTimeout(disconnectTimer);
      if (state === 'connected') {
        if (!connected) {
          connected = true;
          log(`VIEWER CONNECTED ${remoteClientId}`);
          logPath(peerConnection, remoteClientId);
        }
      } else if (state === 'failed' || state === 'closed') {
        viewerGone(state);
      } else if (state === 'disconnected') {
        disconnectTimer = setTimeout(() => {
          if (peerConnection.connectionState === 'disconnected') viewerGone('disconnected');
        }, 2000);
      }
    });

    peerConnection.addEventListener('track', (event) => {
      log(`[MASTER] Received remote ${event.track.kind} track from client:`, remoteClientId);
    });

    // Send the camera and microphone to the viewer
    master.localStream.getTracks()
      .forEach((track) => peerConnection.addTrack(track, master.localStream));

    try {
      await peerConnection.setRemoteDescription(offer);
      // Create an SDP answer to send back to the client
      log('[MASTER] Creating SDP answer for client:', remoteClientId);
      await peerConnection.setLocalDescription(await peerConnection.createAnswer());
      log('[MASTER] Sending SDP answer to client:', remoteClientId);
      master.signalingClient.sendSdpAnswer(peerConnection.localDescription, remoteClientId);
      log('[MASTER] Generating ICE candidates for client:', remoteClientId);
    } catch (e) {
      log(`[MASTER] Could not answer ${remoteClientId}:`, e);
    }
  });

  master.signalingClient.on('iceCandidate', async (candidate, remoteClientId) => {
    log(`[MASTER] Received ICE candidate from ${remoteClientId}:`,
      candidate.candidate || '(end of candidates)');
    const peerConnection = master.peerConnectionByClientId[remoteClientId];
    if (!peerConnection) {
      log('[MASTER] No peer connection for client', remoteClientId);
      return;
    }
    peerConnection.addIceCandidate(candidate)
      .catch((e) => log('[MASTER] Could not add the candidate:', e));
  });

  master.signalingClient.on('statusResponse', (status) => {
    log('[MASTER] Signaling service refused a message:', status);
  });

  master.signalingClient.on('close', () => {
    log('[MASTER] Disconnected from signaling channel');
  });

  master.signalingClient.on('error', (error) => {
    log('[MASTER] Signaling client error:', error);
  });

  log('[MASTER] Starting master connection');
  master.signalingClient.open();
}

/** Logs the candidate pair in use and, a second later, the codecs sent. */
async function logPath(peerConnection, remoteClientId) {
  const stats = await peerConnection.getStats();
  stats.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
      const local = stats.get(s.localCandidateId);
      const remote = stats.get(s.remoteCandidateId);
      log(`[MASTER] Path to ${remoteClientId}:`,
        `${local.candidateType} ${local.protocol} ${local.address}:${local.port}`, '->',
        `${remote.candidateType} ${remote.protocol} ${remote.address}:${remote.port}`);
    }
  });
  setTimeout(async () => {
    const later = await peerConnection.getStats();
    later.forEach((s) => {
      if (s.type === 'outbound-rtp') {
        const codec = later.get(s.codecId);
        log(`[MASTER] Sending ${s.kind} to ${remoteClientId}:`,
          codec ? `${codec.mimeType} ${codec.sdpFmtpLine || ''}` : '?',
          s.encoderImplementation ? `(${s.encoderImplementation})` : '');
      }
    });
  }, 2000);
}

startMaster().catch((e) => log('[MASTER] Encountered error starting:', e));
