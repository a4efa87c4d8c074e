// Playcast browser client: signaling (docs/SIGNALING.md), WebRTC receive, stats overlay and
// automatic reconnect. Latency comes first: the <video> element renders the track directly
// and every receiver is asked to keep no extra jitter buffer.
import { startStampRecorder } from './stamp.js';
import { helloMessage } from './hello';
import { signIn, token } from './auth.js';
import { createInput } from './input.js';
import { startPhotonProbe } from './photon.js';

const PING_INTERVAL_MS = 5_000;
const PONG_TIMEOUT_MS = 15_000;
const PC_GRACE_MS = 5_000; // ICE often recovers from a short "disconnected" on its own
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const STABLE_MS = 10_000; // a session that stayed up this long earns a fresh backoff
const MAX_FRAME_BYTES = 64 * 1024;

const query = new URLSearchParams(location.search);
const video = document.getElementById('video');
const statusEl = document.getElementById('status');
const overlayEl = document.getElementById('overlay');
const unmuteBtn = document.getElementById('unmute');
const statsBtn = document.getElementById('stats-toggle');
const lockBtn = document.getElementById('lock');
const input = createInput({ video, onChange: () => render() });

// Read-only view for automated tests; the property names are a contract.
const pub = { state: 'idle', welcome: null, stats: null, reconnects: 0, lastError: null, server: null };
window.playcast = Object.freeze({
  get state() { return pub.state; },
  get welcome() { return pub.welcome; },
  get stats() { return pub.stats; },
  get reconnects() { return pub.reconnects; },
  get lastError() { return pub.lastError; },
  get server() { return pub.server; },
  input: input.api,
  rawStats,
});

let session = null; // the one live attempt: { ws, pc, streamId, ... }
let backoffMs = BACKOFF_MIN_MS;
let reconnectTimer = 0;
let reconnectAt = 0;
let endReason = '';

// --- signaling --------------------------------------------------------------------------

// Set when a node answers `moved`: the session's own node, where its media and input are.
let signalElsewhere = null;

function signalUrl() {
  if (signalElsewhere) return signalElsewhere;
  // Never carry the `token` query parameter here: URLs end up in proxy and server logs.
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api/v1/signal`;
}

function send(s, msg) {
  if (s.ws.readyState !== WebSocket.OPEN) return;
  const text = JSON.stringify(msg);
  if (new TextEncoder().encode(text).byteLength > MAX_FRAME_BYTES) {
    console.error(`playcast: not sending oversized ${msg.type} message`);
    return;
  }
  s.ws.send(text);
}

function connect() {
  reconnectTimer = 0;
  const s = {
    ws: new WebSocket(signalUrl()),
    pc: null,
    streamId: null,
    streamGone: false, // the server already ended it, so no bye is owed
    remoteSet: false,
    pendingIce: [], // server candidates that arrived before the offer was applied
    liveSince: 0,
    lastPong: performance.now(),
    pingId: 0,
    pingTimer: 0,
    badTimer: 0,
    prev: null, // previous stats sample, for per-second rates
  };
  session = s;
  setState('connecting');

  s.ws.onopen = async () => {
    s.lastPong = performance.now();
    try {
      send(s, { type: 'auth', token: await token(query) });
    } catch (e) {
      return stop(`sign-in failed: ${e.message}`);
    }
    s.pingTimer = setInterval(() => send(s, { type: 'ping', id: ++s.pingId }), PING_INTERVAL_MS);
  };
  s.ws.onmessage = (event) => onMessage(s, event.data);
  s.ws.onclose = (event) => restart(s, `signaling closed (${event.code})`);
}

function onMessage(s, data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    console.warn('playcast: ignoring non-JSON frame from server');
    return;
  }
  switch (msg?.type) {
    case 'authenticated': return send(s, helloMessage(query));
    case 'welcome': return onWelcome(s, msg);
    case 'offer': return onOffer(s, msg);
    case 'ice': return onRemoteIce(s, msg);
    case 'pong': s.lastPong = performance.now(); return;
    case 'quality': pub.server = msg.quality; return;
    case 'bye':
      if (msg.stream_id !== s.streamId) return;
      s.streamGone = true;
      restart(s, `server ended the stream: ${msg.reason ?? ''}`);
      return;
    case 'error': return onServerError(s, msg);
    default:
      // Newer servers may add message types within v1; ignoring them is the contract.
      console.debug('playcast: ignoring message type', msg?.type);
  }
}

function onServerError(s, msg) {
  pub.lastError = msg;
  console.warn(`playcast: server error ${msg.code}: ${msg.message}`);
  if (msg.code === 'unauthorized' && !s.streamId) {
    // The sign-in is gone (revoked, or a server with fresh state): sign in again, then retry.
    signIn(query).then(() => restart(s, 'signed in again'), (e) => stop(`sign-in failed: ${e.message}`));
    return;
  }
  if (msg.code === 'moved' && !s.streamId && /^wss?:\/\//.test(msg.location ?? '')) {
    signalElsewhere = msg.location;
    pub.movedTo = msg.location;
    backoffMs = BACKOFF_MIN_MS;
    restart(s, `the session runs on another node: ${msg.location}`);
    return;
  }
  if (!s.streamId) {
    // Before welcome, an error can only be about our hello. Retrying an identical hello
    // that was rejected as invalid is pointless; anything else may be transient.
    if (['unsupported_version', 'bad_request', 'forbidden', 'unknown_session'].includes(msg.code)) {
      stop(`server rejected the request: ${msg.message ?? msg.code}`);
    } else {
      restart(s, `stream could not start (${msg.code})`);
    }
  } else if (msg.code === 'stream_failed' && msg.stream_id === s.streamId) {
    s.streamGone = true;
    restart(s, `stream failed: ${msg.message ?? ''}`);
  }
}

// --- WebRTC -------------------------------------------------------------------------------

function tuneReceiver(receiver) {
  // Trade smoothness for latency: ask for the smallest jitter buffer the browser allows.
  try {
    if ('jitterBufferTarget' in receiver) receiver.jitterBufferTarget = 0;
    receiver.playoutDelayHint = 0; // older Chromium name; a harmless expando elsewhere
  } catch (err) {
    console.debug('playcast: receiver tuning not supported', err);
  }
}

// Only the fields WebRTC knows; absent username/credential stay undefined ("not given").
const toIceServer = ({ urls, username, credential }) => ({ urls, username, credential });

function onWelcome(s, msg) {
  if (s.pc) {
    console.warn('playcast: ignoring second welcome');
    return;
  }
  pub.welcome = msg;
  s.streamId = msg.stream_id;
  const pc = new RTCPeerConnection({
    iceServers: (msg.ice_servers ?? []).map(toIceServer),
    bundlePolicy: 'max-bundle',
  });
  s.pc = pc;
  input.attach(pc);
  const stream = new MediaStream();

  pc.ontrack = (event) => {
    tuneReceiver(event.receiver);
    // Audio rides in the same stream so the one element plays it once unmuted.
    stream.addTrack(event.track);
    if (video.srcObject !== stream) video.srcObject = stream;
    video.play().catch(() => {}); // muted autoplay; a rejection just means "wait for a click"
  };
  pc.onicecandidate = (event) => {
    // Per-section end markers carry ""; the final null event below covers them all.
    if (event.candidate && !event.candidate.candidate) return;
    send(s, {
      type: 'ice',
      stream_id: s.streamId,
      candidate: event.candidate ? event.candidate.candidate : '',
      sdp_mline_index: event.candidate?.sdpMLineIndex ?? 0,
    });
  };
  pc.onconnectionstatechange = () => onPeerState(s);
}

async function onOffer(s, msg) {
  if (!s.pc || msg.stream_id !== s.streamId) {
    console.warn('playcast: offer for unknown stream ignored');
    return;
  }
  try {
    await s.pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
    s.pc.getReceivers().forEach(tuneReceiver);
    s.remoteSet = true;
    for (const candidate of s.pendingIce.splice(0)) addRemoteIce(s.pc, candidate);
    await s.pc.setLocalDescription(await s.pc.createAnswer());
    if (s !== session) return;
    send(s, { type: 'answer', stream_id: s.streamId, sdp: s.pc.localDescription.sdp });
  } catch (err) {
    if (s === session) restart(s, `negotiation failed: ${err.message ?? err}`);
  }
}

function onRemoteIce(s, msg) {
  if (!s.pc || msg.stream_id !== s.streamId) return;
  const candidate = { candidate: msg.candidate ?? '', sdpMLineIndex: msg.sdp_mline_index ?? 0 };
  if (s.remoteSet) addRemoteIce(s.pc, candidate);
  else s.pendingIce.push(candidate);
}

function addRemoteIce(pc, candidate) {
  pc.addIceCandidate(candidate).catch((err) => {
    // Some browsers reject the end-of-candidates form; that is not worth a warning.
    if (candidate.candidate) console.warn('playcast: bad remote candidate', err);
  });
}

function onPeerState(s) {
  if (s !== session) return;
  const state = s.pc.connectionState;
  if (state === 'connected') {
    clearTimeout(s.badTimer);
    s.badTimer = 0;
    if (!s.liveSince) s.liveSince = performance.now();
    setState('live');
  } else if ((state === 'failed' || state === 'disconnected') && !s.badTimer) {
    s.badTimer = setTimeout(
      () => restart(s, `peer connection ${s.pc.connectionState} for 5 s`),
      PC_GRACE_MS,
    );
  }
  render();
}

// --- lifecycle ----------------------------------------------------------------------------

function teardown(s, reason) {
  if (session === s) session = null;
  clearInterval(s.pingTimer);
  clearTimeout(s.badTimer);
  s.ws.onopen = s.ws.onmessage = s.ws.onclose = null;
  // bye is a courtesy (closing the socket ends the stream anyway) that gives the server a reason.
  if (s.streamId && !s.streamGone) send(s, { type: 'bye', stream_id: s.streamId, reason });
  s.ws.close(1000);
  if (s.pc) s.pc.close();
  // Figures of a closed connection must not pass for the next one's.
  pub.stats = null;
}

function restart(s, reason) {
  if (s !== session) return; // a late event from an attempt we already abandoned
  console.info('playcast: reconnecting:', reason);
  const stable = s.liveSince && performance.now() - s.liveSince >= STABLE_MS;
  teardown(s, reason);
  if (stable) backoffMs = BACKOFF_MIN_MS;
  const delay = backoffMs;
  backoffMs = Math.min(backoffMs * 2, BACKOFF_MAX_MS);
  pub.reconnects++;
  reconnectAt = performance.now() + delay;
  reconnectTimer = setTimeout(connect, delay);
  setState('reconnecting');
}

function stop(reason) {
  clearTimeout(reconnectTimer);
  reconnectTimer = 0;
  if (session) teardown(session, reason);
  endReason = reason;
  setState('ended');
}

function setState(state) {
  pub.state = state;
  render();
}

// --- stats ----------------------------------------------------------------------------------

async function rawStats() {
  const pc = session?.pc;
  if (!pc) return [];
  const wanted = new Set(['inbound-rtp', 'candidate-pair', 'local-candidate', 'remote-candidate']);
  const out = [];
  for (const r of (await pc.getStats()).values()) {
    if (!wanted.has(r.type)) continue;
    if (r.type === 'inbound-rtp' && !['video', 'audio'].includes(r.kind ?? r.mediaType)) continue;
    out.push({ ...r });
  }
  return out;
}

function selectedPair(report) {
  for (const r of report.values()) {
    if (r.type === 'transport' && r.selectedCandidatePairId) {
      return report.get(r.selectedCandidatePairId) ?? null;
    }
  }
  // Browsers without transport stats mark the pair itself.
  for (const r of report.values()) {
    if (r.type === 'candidate-pair' && (r.selected || (r.nominated && r.state === 'succeeded'))) {
      return r;
    }
  }
  return null;
}

const num = (x) => (typeof x === 'number' ? x : NaN);
const round = (x, digits) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);

// rVFC is the only API that observes actual presentation, so count frames with it.
let presentedTotal = 0;
const hasRvfc = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;
if (hasRvfc) {
  let last = null;
  const onFrame = (_now, metadata) => {
    // presentedFrames restarts with each new source; then count this frame alone.
    const pf = metadata.presentedFrames;
    presentedTotal += last !== null && pf > last ? pf - last : 1;
    last = pf;
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

function presentedCount() {
  if (hasRvfc) return presentedTotal;
  const q = video.getVideoPlaybackQuality?.();
  return q ? q.totalVideoFrames - q.droppedVideoFrames : NaN;
}

async function collectStats(s) {
  const report = await s.pc.getStats();
  if (s !== session) return;
  let v = null;
  let a = null;
  for (const r of report.values()) {
    if (r.type !== 'inbound-rtp') continue;
    const kind = r.kind ?? r.mediaType;
    if (kind === 'video') v = r;
    else if (kind === 'audio') a = r;
  }
  const pair = selectedPair(report);
  const local = pair && report.get(pair.localCandidateId);
  const remote = pair && report.get(pair.remoteCandidateId);
  const now = performance.now();
  const presented = presentedCount();
  const p = s.prev;
  const dt = p ? (now - p.at) / 1000 : NaN;
  const delta = (key) => (p?.v && v ? num(v[key]) - num(p.v[key]) : NaN);

  const frames = delta('framesDecoded');
  const emitted = delta('jitterBufferEmittedCount');
  const lost = num(v?.packetsLost);
  const received = num(v?.packetsReceived);
  pub.stats = {
    fps: round(frames / dt, 1),
    presentedFps: p ? round(Math.max(0, presented - p.presented) / dt, 1) : null,
    width: v?.frameWidth ?? null,
    height: v?.frameHeight ?? null,
    // Video only, so it compares directly with the encoder's configured bitrate.
    bitrateKbps: round((delta('bytesReceived') * 8) / dt / 1000, 0),
    rttMs: round(num(pair?.currentRoundTripTime) * 1000, 1),
    lossPct: lost + received > 0 ? round((Math.max(0, lost) / (lost + received)) * 100, 2) : null,
    jitterBufferMs: emitted > 0 ? round((delta('jitterBufferDelay') / emitted) * 1000, 1) : null,
    decodeMs: frames > 0 ? round((delta('totalDecodeTime') / frames) * 1000, 2) : null,
    framesDecoded: v?.framesDecoded ?? null,
    framesDropped: v?.framesDropped ?? null,
    audioPacketsReceived: a?.packetsReceived ?? null,
    encoder: pub.welcome?.encoder ?? null,
    candidatePair: pair
      ? {
          local: local?.candidateType ?? null,
          remote: remote?.candidateType ?? null,
          protocol: local?.protocol ?? null,
        }
      : null,
    connectionState: s.pc.connectionState,
  };
  s.prev = { at: now, v, presented };
}

// --- UI -----------------------------------------------------------------------------------

function statusText() {
  switch (pub.state) {
    case 'connecting': return 'connecting…';
    case 'reconnecting': {
      const secs = Math.max(0, Math.ceil((reconnectAt - performance.now()) / 1000));
      return `reconnecting in ${secs} s`;
    }
    case 'ended': return `ended: ${endReason}`;
    default: return pub.state;
  }
}

function formatBitrate(kbps) {
  if (kbps === null) return '–';
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbit/s` : `${kbps} kbit/s`;
}

function overlayText() {
  const st = pub.stats ?? {};
  // The server's side of the stream (signaling `quality`, every 2 s).
  const sv = pub.server ?? {};
  const show = (x, unit = '') => (x === null || x === undefined ? '–' : `${x}${unit}`);
  const pair = st.candidatePair;
  const lines = [
    ['state', statusText()],
    ['connection', show(session?.pc?.connectionState)],
    ['encoder', show(pub.welcome?.encoder)],
    ['resolution', st.width ? `${st.width}x${st.height}` : '–'],
    ['decoded fps', show(st.fps)],
    ['presented fps', show(st.presentedFps)],
    ['bitrate', formatBitrate(st.bitrateKbps ?? null)],
    ['rtt', show(st.rttMs, ' ms')],
    ['loss', show(st.lossPct, ' %')],
    ['jitter buffer', show(st.jitterBufferMs, ' ms')],
    ['decode', show(st.decodeMs, ' ms/frame')],
    ['dropped', show(st.framesDropped)],
    ['audio packets', show(st.audioPacketsReceived)],
    ['input rtt', show(input.api.rttMs, ' ms')],
    ['sent', formatBitrate(sv.sent_bps ? Math.round(sv.sent_bps / 1000) : null)],
    ['estimate', formatBitrate(sv.estimate_bps ? Math.round(sv.estimate_bps / 1000) : null)],
    ['ladder step', show(sv.ladder_step)],
    ['encoder fps', show(sv.fps === undefined || sv.fps === null ? null : sv.fps.toFixed(1))],
    ['encode', show(sv.encode_ms_mean === undefined || sv.encode_ms_mean === null ? null : sv.encode_ms_mean.toFixed(2), ' ms/frame')],
    ['candidates', pair ? `${pair.local} → ${pair.remote} (${pair.protocol})` : '–'],
    ['reconnects', String(pub.reconnects)],
  ];
  if (window.stampRecorder) {
    const sum = window.stampRecorder.summary();
    lines.push(['glass-to-glass', sum.count ? `p50 ${sum.p50} ms  p95 ${sum.p95} ms` : '–']);
  }
  if (pub.lastError) lines.push(['last error', `${pub.lastError.code}: ${pub.lastError.message}`]);
  return lines.map(([k, val]) => `${k.padEnd(15)}${val}`).join('\n');
}

function render() {
  statusEl.textContent = statusText();
  statusEl.hidden = pub.state === 'live';
  if (!overlayEl.hidden) overlayEl.textContent = overlayText();
}

function setOverlay(visible) {
  overlayEl.hidden = !visible;
  statsBtn.setAttribute('aria-pressed', String(visible));
  render();
}

let ticking = false;
async function tick() {
  if (ticking) return; // a slow getStats must not pile up
  ticking = true;
  try {
    const s = session;
    if (s?.ws.readyState === WebSocket.OPEN && performance.now() - s.lastPong > PONG_TIMEOUT_MS) {
      restart(s, 'no pong for 15 s');
    } else if (s?.pc) {
      await collectStats(s);
    }
  } catch (err) {
    console.debug('playcast: stats failed', err);
  } finally {
    ticking = false;
    render();
  }
}

unmuteBtn.addEventListener('click', () => {
  video.muted = !video.muted;
  unmuteBtn.textContent = video.muted ? 'Unmute' : 'Mute';
  video.play().catch(() => {});
});
statsBtn.addEventListener('click', () => setOverlay(overlayEl.hidden));
lockBtn.addEventListener('click', () => input.lockPointer());
document.getElementById('clip-send').addEventListener('click', async () => {
  try {
    input.api.setClipboard(await navigator.clipboard.readText());
  } catch (err) {
    console.warn('playcast: cannot read this computer\'s clipboard', err);
  }
});
document.getElementById('clip-get').addEventListener('click', () => input.api.requestClipboard());
addEventListener('keydown', (event) => {
  if (event.key === 'F2') {
    event.preventDefault();
    setOverlay(overlayEl.hidden);
  }
});
// Free the server's encoder promptly when the tab goes away; resume if restored from bfcache.
addEventListener('pagehide', () => stop('page closed'));
addEventListener('pageshow', (event) => {
  if (event.persisted) {
    backoffMs = BACKOFF_MIN_MS;
    connect();
  }
});

video.muted = true; // autoplay is only allowed muted
setOverlay(query.get('overlay') === '1');
if (query.get('stamp') === '1') startStampRecorder(video);
if (query.get('photon') === '1') {
  const presses = Number(query.get('presses')) || Infinity;
  startPhotonProbe(video, (code, down) => input.api.ready && input.api.key(code, down), presses);
}
setInterval(tick, 1000);
signIn(query).then(connect, (e) => stop(`sign-in failed: ${e.message}`));
