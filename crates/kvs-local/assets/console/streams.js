// Video streams: the list (status, retention, what arrived in the last hour, newest fragment),
// create and delete; per stream a fragment timeline over a chosen range with its gaps and
// thumbnails (ListFragments, GetImages), a live and an on-demand player (HLS sessions played
// with hls.js) and "download clip" (GetClip) for a range selected on the timeline.
import {
  allPages, archivedMedia, attempt, confirmed, describeError, el, formatBytes, formatTime,
  inParallel, kvs, reload, showError,
} from './app.js';

const RANGES = [
  ['Last minute', 60], ['Last 5 minutes', 300], ['Last 15 minutes', 900], ['Last hour', 3600],
  ['Last 6 hours', 21600], ['Last 24 hours', 86400],
];
/** A pause between fragments longer than this shows as a gap. */
const GAP_MS = 1000;
/** ListFragments pages read for one timeline or one row of the list (1000 fragments each). */
const MAX_PAGES = 10;
const THUMBNAILS = 6;

/** The fragments of `stream` in [start, end] on `clock`, sorted by their start. */
async function fragments(stream, clock, start, end) {
  const client = await archivedMedia(stream, 'LIST_FRAGMENTS');
  const out = [];
  let token;
  for (let page = 0; page < MAX_PAGES; page++) {
    const r = await client.listFragments({
      StreamName: stream,
      MaxResults: 1000,
      ...(token ? { NextToken: token } : {
        FragmentSelector: {
          FragmentSelectorType: clock,
          TimestampRange: { StartTimestamp: start, EndTimestamp: end },
        },
      }),
    }).promise();
    out.push(...r.Fragments);
    token = r.NextToken;
    if (!token) break;
  }
  const at = (f) => +(clock === 'SERVER_TIMESTAMP' ? f.ServerTimestamp : f.ProducerTimestamp);
  return out.map((f) => ({
    number: f.FragmentNumber,
    start: at(f),
    duration: f.FragmentLengthInMilliseconds,
    size: f.FragmentSizeInBytes,
  })).sort((a, b) => a.start - b.start);
}

// --- the list -----------------------------------------------------------------------------

export async function streamsPage(main) {
  const form = el('form', { class: 'card inline', id: 'create-stream' },
    el('strong', {}, 'New stream '),
    el('label', {}, 'Name ', el('input', { name: 'name', required: true, size: 24 })),
    el('label', {}, 'Retention (hours) ',
      el('input', { name: 'retention', type: 'number', min: 0, max: 87600, value: 24 })),
    el('button', { type: 'submit', class: 'primary' }, 'Create stream'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const created = await attempt('CreateStream', () => kvs().createStream({
      StreamName: data.get('name'),
      DataRetentionInHours: Number(data.get('retention')),
    }).promise());
    if (created) reload();
  });
  const body = el('tbody');
  main.append(el('h1', {}, 'Video streams'), form,
    el('table', { id: 'streams' },
      el('thead', {}, el('tr', {}, ...['Name', 'Status', 'Retention', 'Last hour',
        'Newest fragment', 'Created', ''].map((h) => el('th', {}, h)))),
      body));
  const streams = await attempt('ListStreams',
    () => allPages(kvs(), 'listStreams', { MaxResults: 100 }, 'StreamInfoList'));
  if (!streams) return undefined;
  if (!streams.length) {
    body.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No streams yet.')));
  }
  const cells = [];
  for (const s of streams) {
    const size = el('td', { class: 'num size muted' }, '…');
    const newest = el('td', { class: 'newest muted' }, '…');
    body.append(el('tr', { dataset: { stream: s.StreamName } },
      el('td', {}, el('a', { href: `#/streams/${encodeURIComponent(s.StreamName)}` },
        s.StreamName)),
      el('td', { class: `status-${s.Status}` }, s.Status),
      el('td', { class: 'num' }, `${s.DataRetentionInHours} h`),
      size, newest,
      el('td', {}, formatTime(s.CreationTime)),
      el('td', {}, el('button', {
        type: 'button', class: 'danger', dataset: { delete: s.StreamName },
        onclick: () => deleteStream(s),
      }, 'Delete'))));
    cells.push({ name: s.StreamName, size, newest });
  }
  // What each stream stored lately fills in after the table is on screen.
  let open = true;
  inParallel(cells, 6, async ({ name, size, newest }) => {
    if (!open) return;
    const end = new Date();
    try {
      const list = await fragments(name, 'SERVER_TIMESTAMP', new Date(end - 3600e3), end);
      const bytes = list.reduce((sum, f) => sum + f.size, 0);
      size.textContent = list.length ? `${formatBytes(bytes)} in ${list.length} fragments` : '—';
      const last = list[list.length - 1];
      newest.textContent = last ? formatTime(new Date(last.start)) : 'none in the last hour';
      newest.dataset.time = last ? new Date(last.start).toISOString() : '';
    } catch (e) {
      const { code, message } = describeError(e);
      size.textContent = '';
      newest.textContent = `${code}: ${message}`;
    }
    size.classList.remove('muted');
    newest.classList.remove('muted');
  });
  return () => { open = false; };
}

async function deleteStream(s) {
  if (!confirmed(`Delete stream ${s.StreamName} and all its media?`)) return;
  const deleted = await attempt('DeleteStream',
    () => kvs().deleteStream({ StreamARN: s.StreamARN }).promise());
  if (deleted) reload();
}

// --- one stream ---------------------------------------------------------------------------

export async function streamPage(main, name) {
  main.append(el('p', {}, el('a', { href: '#/streams' }, '← Video streams')));
  const described = await attempt('DescribeStream',
    () => kvs().describeStream({ StreamName: name }).promise());
  if (!described) return undefined;
  const info = described.StreamInfo;
  const dl = el('p', { class: 'muted' },
    `${info.StreamARN} · `, el('span', { class: `status-${info.Status}` }, info.Status),
    ` · retention ${info.DataRetentionInHours} h · ${info.MediaType || 'no media type'}`,
    ` · created ${formatTime(info.CreationTime)}`);

  // Players.
  const video = el('video', { id: 'player', muted: true, playsinline: true, controls: true });
  video.muted = true;
  const playerStatus = el('p', { id: 'player-status', class: 'muted' }, '');
  const liveButton = el('button', { type: 'button', id: 'play-live' }, 'Live');
  const rangeButton = el('button', { type: 'button', id: 'play-selection' },
    'Play selection');
  let hls = null;
  const setStatus = (text, bad) => {
    playerStatus.textContent = text;
    playerStatus.classList.toggle('muted', !bad);
    playerStatus.style.color = bad ? 'var(--bad)' : '';
  };
  const stopPlayer = () => {
    if (hls) hls.destroy();
    hls = null;
    video.removeAttribute('src');
    video.load();
  };
  let playing = '';
  video.addEventListener('playing', () => {
    setStatus(`Playing ${playing} (${video.videoWidth}x${video.videoHeight})`);
  });
  async function play(mode) {
    stopPlayer();
    playing = mode === 'LIVE' ? 'live' : 'the selection';
    setStatus('Asking for an HLS session…');
    const params = {
      StreamName: name, PlaybackMode: mode, ContainerFormat: 'FRAGMENTED_MP4', Expires: 3600,
    };
    if (mode === 'ON_DEMAND') {
      params.HLSFragmentSelector = {
        FragmentSelectorType: clock.value,
        TimestampRange: { StartTimestamp: new Date(selection.from),
          EndTimestamp: new Date(selection.to) },
      };
    }
    let url;
    try {
      const client = await archivedMedia(name, 'GET_HLS_STREAMING_SESSION_URL');
      url = (await client.getHLSStreamingSessionURL(params).promise()).HLSStreamingSessionURL;
    } catch (e) {
      const { code, message } = describeError(e);
      setStatus(`${code}: ${message}`, true);
      return;
    }
    setStatus(`Loading ${playing}…`);
    if (window.Hls && Hls.isSupported()) {
      hls = new Hls({ liveSyncDurationCount: 2 });
      hls.on(Hls.Events.ERROR, (_, data) => {
        if (data.fatal) setStatus(`HLS error: ${data.type} ${data.details}`, true);
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else {
      // Safari plays HLS itself.
      video.src = url;
    }
    video.play().catch(() => {});
  }
  liveButton.addEventListener('click', () => play('LIVE'));
  rangeButton.addEventListener('click', () => play('ON_DEMAND'));

  // Timeline.
  const range = el('select', { id: 'range' },
    ...RANGES.map(([label, s]) => el('option', { value: s, selected: s === 300 }, label)));
  const clock = el('select', { id: 'clock' },
    el('option', { value: 'SERVER_TIMESTAMP' }, 'server time'),
    el('option', { value: 'PRODUCER_TIMESTAMP' }, 'producer time'));
  const refresh = el('button', { type: 'button', id: 'refresh' }, 'Refresh');
  const timeline = el('div', { class: 'timeline', id: 'timeline' });
  const axis = el('div', { class: 'axis' });
  const thumbs = el('div', { class: 'thumbs', id: 'thumbs' });
  const summary = el('p', { id: 'timeline-summary', class: 'muted' });
  const gapList = el('ul', { class: 'gaps', id: 'gaps' });
  const selected = el('span', { id: 'selection' });
  const clipButton = el('button', { type: 'button', id: 'download-clip', class: 'primary' },
    'Download clip');
  const clipStatus = el('span', { id: 'clip-status', class: 'muted' });
  let selection = { from: 0, to: 0 };
  let view = { start: 0, end: 1 };
  const selectionBox = el('div', { class: 'selection' });

  const showSelection = () => {
    const span = view.end - view.start;
    selectionBox.style.left = `${((selection.from - view.start) / span) * 100}%`;
    selectionBox.style.width = `${((selection.to - selection.from) / span) * 100}%`;
    selected.textContent = selection.to > selection.from
      ? `Selected ${formatTime(new Date(selection.from))} to ${formatTime(new Date(selection.to))}` +
        ` (${((selection.to - selection.from) / 1000).toFixed(1)} s)`
      : 'Nothing selected: drag on the timeline';
    clipButton.disabled = rangeButton.disabled = !(selection.to > selection.from);
  };
  // Drag on the timeline to select a range.
  const timeAt = (event) => {
    const box = timeline.getBoundingClientRect();
    const x = Math.min(Math.max(event.clientX - box.left, 0), box.width);
    return view.start + (x / box.width) * (view.end - view.start);
  };
  let dragFrom = null;
  timeline.addEventListener('mousedown', (event) => {
    dragFrom = timeAt(event);
    selection = { from: dragFrom, to: dragFrom };
    showSelection();
  });
  window.addEventListener('mousemove', onDrag);
  window.addEventListener('mouseup', onDrop);
  function onDrag(event) {
    if (dragFrom === null) return;
    const t = timeAt(event);
    selection = { from: Math.min(dragFrom, t), to: Math.max(dragFrom, t) };
    showSelection();
  }
  function onDrop() {
    dragFrom = null;
  }

  async function loadTimeline() {
    const end = Date.now();
    const from = end - Number(range.value) * 1000;
    timeline.replaceChildren();
    thumbs.replaceChildren();
    delete thumbs.dataset.done;
    gapList.replaceChildren();
    summary.textContent = 'Loading fragments…';
    let list;
    try {
      list = await fragments(name, clock.value, new Date(from), new Date(end));
    } catch (e) {
      showError(e, 'ListFragments');
      summary.textContent = '';
      return;
    }
    // Zoom in on the video when it covers only the end of the range.
    const first = list.length ? list[0].start : from;
    view = { start: Math.max(from, first - 0.05 * (end - first)), end };
    const span = view.end - view.start;
    const pos = (t) => `${((t - view.start) / span) * 100}%`;
    axis.replaceChildren(el('span', {}, formatTime(new Date(view.start))),
      el('span', {}, formatTime(new Date(view.end))));
    const gaps = [];
    for (let i = 1; i < list.length; i++) {
      const before = list[i - 1].start + list[i - 1].duration;
      if (list[i].start - before > GAP_MS) gaps.push({ from: before, to: list[i].start });
    }
    for (const f of list) {
      timeline.append(el('div', {
        class: 'frag', title: `${f.number}\n${formatTime(new Date(f.start))}, ` +
          `${f.duration} ms, ${formatBytes(f.size)}`,
        style: `left: ${pos(f.start)}; width: ${(f.duration / span) * 100}%`,
      }));
    }
    for (const g of gaps) {
      const seconds = ((g.to - g.from) / 1000).toFixed(1);
      timeline.append(el('div', {
        class: 'gap', title: `no video for ${seconds} s`,
        dataset: { from: new Date(g.from).toISOString(), to: new Date(g.to).toISOString() },
        style: `left: ${pos(g.from)}; width: ${((g.to - g.from) / span) * 100}%`,
      }));
      gapList.append(el('li', { dataset: { seconds } },
        `No video from ${formatTime(new Date(g.from))} to ${formatTime(new Date(g.to))} ` +
        `(${seconds} s)`));
    }
    timeline.append(selectionBox);
    const bytes = list.reduce((sum, f) => sum + f.size, 0);
    summary.dataset.fragments = list.length;
    summary.dataset.gaps = gaps.length;
    summary.textContent = list.length
      ? `${list.length} fragments, ${formatBytes(bytes)}, ${gaps.length} ` +
        `gap${gaps.length === 1 ? '' : 's'} longer than ${GAP_MS / 1000} s`
      : 'No fragments in this range.';
    selection = list.length
      ? { from: list[0].start, to: list[list.length - 1].start + list[list.length - 1].duration }
      : { from: 0, to: 0 };
    showSelection();
    loadThumbnails(list);
  }

  /**
   * Stills from GetImages at evenly spaced times along the timeline, each under its place;
   * a time with no fragment says so.
   */
  function loadThumbnails(list) {
    if (!list.length) return;
    const span = view.end - view.start;
    const wanted = [];
    for (let i = 0; i < THUMBNAILS; i++) {
      const t = view.start + ((i + 0.5) * span) / THUMBNAILS;
      const img = el('img', { alt: formatTime(new Date(t)) });
      const figure = el('figure', {}, img, el('figcaption', {}, formatTime(new Date(t)).slice(11)));
      thumbs.append(figure);
      const f = list.find((x) => x.start <= t && t < x.start + x.duration);
      if (f) wanted.push({ t, img, figure });
      else figure.append(el('div', { class: 'muted' }, 'no video'));
    }
    const selector = clock.value;
    thumbs.dataset.wanted = wanted.length;
    inParallel(wanted, 2, async ({ t, img, figure }) => {
      try {
        const client = await archivedMedia(name, 'GET_IMAGES');
        const r = await client.getImages({
          StreamName: name, ImageSelectorType: selector,
          StartTimestamp: new Date(t), EndTimestamp: new Date(t + 400),
          SamplingInterval: 200, Format: 'JPEG', FormatConfig: { JPEGQuality: '70' },
          WidthPixels: 160, MaxResults: 1,
        }).promise();
        const image = (r.Images || []).find((i) => i.ImageContent);
        if (image) {
          img.src = `data:image/jpeg;base64,${image.ImageContent}`;
          figure.classList.add('loaded');
        } else {
          figure.append(el('div', { class: 'muted' }, (r.Images || [])[0]?.Error || 'no image'));
        }
      } catch (e) {
        const { code, message } = describeError(e);
        figure.append(el('div', {}, `${code}: ${message}`));
      }
    }).then(() => { thumbs.dataset.done = wanted.length; });
  }

  async function downloadClip() {
    clipButton.disabled = true;
    clipStatus.textContent = 'Asking for the clip…';
    try {
      const client = await archivedMedia(name, 'GET_CLIP');
      const r = await client.getClip({
        StreamName: name,
        ClipFragmentSelector: {
          FragmentSelectorType: clock.value,
          TimestampRange: { StartTimestamp: new Date(selection.from),
            EndTimestamp: new Date(selection.to) },
        },
      }).promise();
      const blob = new Blob([r.Payload], { type: r.ContentType || 'video/mp4' });
      const stamp = new Date(selection.from).toISOString().replace(/[:.]/g, '-');
      const a = el('a', { href: URL.createObjectURL(blob), download: `${name}-${stamp}.mp4` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60000);
      clipStatus.textContent = `Saved ${formatBytes(blob.size)}`;
    } catch (e) {
      const { code, message } = describeError(e);
      clipStatus.textContent = `${code}: ${message}`;
      showError(e, 'GetClip');
    }
    clipButton.disabled = false;
  }
  clipButton.addEventListener('click', downloadClip);
  refresh.addEventListener('click', loadTimeline);
  range.addEventListener('change', loadTimeline);
  clock.addEventListener('change', loadTimeline);

  main.append(el('h1', {}, name), dl,
    el('div', { class: 'row' },
      el('section', { class: 'card' }, el('h2', {}, 'Player'), video, playerStatus,
        el('p', {}, liveButton, ' ', rangeButton)),
      el('section', { class: 'card' }, el('h2', {}, 'Fragments'),
        el('p', {}, range, ' ', clock, ' ', refresh),
        timeline, axis, thumbs, summary, gapList,
        el('p', {}, selected, ' ', clipButton, ' ', clipStatus))));
  await loadTimeline();
  play('LIVE');
  return () => {
    stopPlayer();
    window.removeEventListener('mousemove', onDrag);
    window.removeEventListener('mouseup', onDrop);
  };
}
