// Face search: Rekognition collections with their faces, stream processors (status, start,
// stop), and the latest matches read from the processors' output Kinesis data streams, each
// with its matched frame (GetImages at the frame's producer time) and the face's box.
import {
  allPages, archivedMedia, attempt, clientOptions, describeError, el, formatTime, reload,
} from './app.js';

/** How far back the matches are read when the page opens. */
const LOOK_BACK_MS = 3600e3;
/** Matches shown, newest first. */
const SHOWN = 8;
/** GetRecords calls per shard when the page opens, and the poll period after. */
const CATCH_UP_CALLS = 50;
const POLL_MS = 2000;

export async function facesPage(main) {
  const rekognition = new AWS.Rekognition(clientOptions());
  const kinesis = new AWS.Kinesis(clientOptions());
  const collections = el('div', { id: 'collections' });
  const processors = el('tbody');
  const matches = el('div', { id: 'matches' }, el('p', { class: 'muted' }, 'Reading…'));
  main.append(el('h1', {}, 'Face search'),
    el('h2', {}, 'Collections'), collections,
    el('h2', {}, 'Stream processors'),
    el('table', { id: 'processors' },
      el('thead', {}, el('tr', {}, ...['Name', 'Status', 'Video stream', 'Data stream',
        'Collection', 'Threshold', ''].map((h) => el('th', {}, h)))),
      processors),
    el('h2', {}, 'Latest matches'), matches);

  const ids = await attempt('ListCollections',
    () => allPages(rekognition, 'listCollections', { MaxResults: 100 }, 'CollectionIds'));
  if (ids && !ids.length) collections.append(el('p', { class: 'muted' }, 'No collections.'));
  for (const id of ids || []) {
    const card = el('div', { class: 'card', dataset: { collection: id } }, el('strong', {}, id));
    collections.append(card);
    try {
      const [described, faces] = await Promise.all([
        rekognition.describeCollection({ CollectionId: id }).promise(),
        allPages(rekognition, 'listFaces', { CollectionId: id, MaxResults: 100 }, 'Faces'),
      ]);
      card.append(` · ${described.FaceCount} face${described.FaceCount === 1 ? '' : 's'}`,
        el('div', { class: 'faces' }, ...faces.map((f) => el('span', {
          title: `${f.FaceId} (confidence ${Math.round(f.Confidence)})`,
        }, f.ExternalImageId || f.FaceId))));
    } catch (e) {
      const { code, message } = describeError(e);
      card.append(` · ${code}: ${message}`);
    }
  }

  const names = await attempt('ListStreamProcessors',
    () => allPages(rekognition, 'listStreamProcessors', { MaxResults: 100 }, 'StreamProcessors'));
  if (names && !names.length) {
    processors.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No processors.')));
  }
  const dataStreams = new Set();
  for (const { Name } of names || []) {
    let p;
    try {
      p = await rekognition.describeStreamProcessor({ Name }).promise();
    } catch (e) {
      const { code, message } = describeError(e);
      processors.append(el('tr', {}, el('td', {}, Name), el('td', { colspan: 6 },
        `${code}: ${message}`)));
      continue;
    }
    const video = p.Input?.KinesisVideoStream?.Arn || '';
    const data = p.Output?.KinesisDataStream?.Arn || '';
    if (data) dataStreams.add(data.split('/')[1]);
    const running = p.Status === 'RUNNING' || p.Status === 'STARTING';
    processors.append(el('tr', { dataset: { processor: Name, status: p.Status } },
      el('td', {}, Name),
      el('td', { class: `status-${p.Status}` }, p.Status,
        p.StatusMessage ? el('div', { class: 'muted' }, p.StatusMessage) : ''),
      el('td', {}, video.split('/')[1] || video),
      el('td', {}, data.split('/')[1] || data),
      el('td', {}, p.Settings?.FaceSearch?.CollectionId || ''),
      el('td', { class: 'num' }, p.Settings?.FaceSearch?.FaceMatchThreshold ?? ''),
      el('td', {}, el('button', {
        type: 'button', class: running ? 'danger' : 'primary',
        dataset: { action: running ? 'stop' : 'start' },
        onclick: async () => {
          const done = await attempt(running ? 'StopStreamProcessor' : 'StartStreamProcessor',
            () => (running ? rekognition.stopStreamProcessor({ Name })
              : rekognition.startStreamProcessor({ Name })).promise());
          if (done) reload();
        },
      }, running ? 'Stop' : 'Start'))));
  }

  // Matches: every shard of every output stream, from LOOK_BACK_MS ago, then polled.
  let open = true;
  const found = [];
  const shown = new Set();
  const readers = [];
  for (const stream of dataStreams) {
    try {
      const shards = await allPages(kinesis, 'listShards', { StreamName: stream }, 'Shards');
      for (const shard of shards) {
        const it = await kinesis.getShardIterator({
          StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'AT_TIMESTAMP',
          Timestamp: new Date(Date.now() - LOOK_BACK_MS),
        }).promise();
        readers.push({ stream, iterator: it.ShardIterator });
      }
    } catch (e) {
      const { code, message } = describeError(e);
      matches.append(el('p', {}, `${stream}: ${code}: ${message}`));
    }
  }
  const read = async (reader, calls) => {
    for (let i = 0; i < calls && reader.iterator && open; i++) {
      const r = await kinesis.getRecords({ ShardIterator: reader.iterator, Limit: 1000 })
        .promise();
      reader.iterator = r.NextShardIterator;
      for (const record of r.Records) found.push(...matchesOf(record));
      if (!r.Records.length || r.MillisBehindLatest === 0) break;
    }
  };
  const render = () => {
    found.sort((a, b) => b.at - a.at);
    found.splice(SHOWN);
    const fresh = found.filter((m) => !shown.has(m.key));
    if (!fresh.length && shown.size) return;
    matches.replaceChildren();
    if (!found.length) {
      matches.append(el('p', { class: 'muted' },
        dataStreams.size ? 'No matches in the last hour.' : 'No processor writes matches.'));
    }
    shown.clear();
    for (const m of found) {
      shown.add(m.key);
      matches.append(matchCard(m));
    }
  };
  try {
    await Promise.all(readers.map((r) => read(r, CATCH_UP_CALLS)));
  } catch (e) {
    const { code, message } = describeError(e);
    matches.append(el('p', {}, `GetRecords: ${code}: ${message}`));
  }
  render();
  const timer = setInterval(async () => {
    try {
      await Promise.all(readers.map((r) => read(r, 5)));
      render();
    } catch (e) {
      console.log(`reading matches: ${describeError(e).code}`);
    }
  }, POLL_MS);
  return () => {
    open = false;
    clearInterval(timer);
  };
}

/** The face matches of one Rekognition output record. */
function matchesOf(record) {
  let body;
  try {
    body = JSON.parse(new TextDecoder().decode(record.Data));
  } catch {
    return [];
  }
  const video = body.InputInformation?.KinesisVideo || {};
  const out = [];
  for (const face of body.FaceSearchResponse || []) {
    for (const [i, m] of (face.MatchedFaces || []).entries()) {
      const at = (video.ProducerTimestamp + (video.FrameOffsetInSeconds || 0)) * 1000;
      out.push({
        key: `${record.SequenceNumber}/${i}`,
        at,
        streamArn: video.StreamArn,
        fragment: video.FragmentNumber,
        box: face.DetectedFace?.BoundingBox,
        similarity: m.Similarity,
        externalImageId: m.Face?.ExternalImageId || '',
        faceId: m.Face?.FaceId,
      });
    }
  }
  return out;
}

function matchCard(m) {
  const stream = (m.streamArn || '').split('/')[1] || '';
  const img = el('img', { alt: `frame at ${formatTime(new Date(m.at))}` });
  const frame = el('div', { class: 'frame' }, img);
  if (m.box) {
    frame.append(el('div', { class: 'box', style: `left: ${m.box.Left * 100}%; ` +
      `top: ${m.box.Top * 100}%; width: ${m.box.Width * 100}%; height: ${m.box.Height * 100}%` }));
  }
  const note = el('div', { class: 'muted' });
  const card = el('div', { class: 'card match', dataset: { who: m.externalImageId } }, frame,
    el('div', {},
      el('strong', {}, m.externalImageId || m.faceId), ` · similarity ${m.similarity.toFixed(1)}`,
      el('div', {}, `${stream} at ${formatTime(new Date(m.at))}`),
      el('div', { class: 'muted' }, `fragment ${m.fragment}`), note));
  // The matched frame: the first still GetImages has at its producer time.
  archivedMedia(stream, 'GET_IMAGES').then((client) => client.getImages({
    StreamName: stream, ImageSelectorType: 'PRODUCER_TIMESTAMP',
    StartTimestamp: new Date(m.at), EndTimestamp: new Date(m.at + 400),
    SamplingInterval: 200, Format: 'JPEG', FormatConfig: { JPEGQuality: '80' }, MaxResults: 2,
  }).promise()).then((r) => {
    const image = (r.Images || []).find((i) => i.ImageContent);
    if (image) {
      img.src = `data:image/jpeg;base64,${image.ImageContent}`;
      card.classList.add('with-frame');
    } else {
      note.textContent = `no frame: ${(r.Images || [])[0]?.Error || 'no image'}`;
    }
  }).catch((e) => {
    const { code, message } = describeError(e);
    note.textContent = `${code}: ${message}`;
  });
  return card;
}
