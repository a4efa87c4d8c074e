// The player: signaling (docs/SIGNALING.md), WebRTC receive, stats overlay and automatic
// reconnect, inside a container of the host's. Latency comes first: the picture is rendered
// straight from the track and every receiver is asked to keep no extra jitter buffer.
import { Backoff } from './backoff';
import { login } from './auth';
import { buildDom } from './dom';
import { createInput } from './input';
import { overlayText, statusText, type ServerQuality } from './overlay';
import {
  attachCanvasRenderer,
  canvasPeerConnectionConfig,
  canvasRenderSupported,
  pipeEncodedThrough,
  type CanvasRenderer,
} from './render/canvas';
import {
  encodeFrame,
  errorAction,
  helloFor,
  signalUrl,
  toIceServer,
  type ServerError,
  type Welcome,
} from './signaling';
import { computeStats, playerStats, presentedCounter, rawRecords, type DetailedStats, type StatsSample } from './stats';
import type { PlayerError, PlayerEvents, PlayerHandle, PlayerOptions, PlayerState } from './types';

const PING_INTERVAL_MS = 5_000;
const PONG_TIMEOUT_MS = 15_000;
const PC_GRACE_MS = 5_000; // ICE often recovers from a short "disconnected" on its own
const TICK_MS = 1_000;
const CLIPBOARD_WAIT_MS = 5_000;
const OVERLAY_KEY = 'F2';

/** One connection attempt: its socket, its peer connection and their timers. */
interface Attempt {
  ws: WebSocket;
  pc: RTCPeerConnection | null;
  streamId: string | null;
  streamGone: boolean; // the server already ended it, so no bye is owed
  remoteSet: boolean;
  pendingIce: RTCIceCandidateInit[]; // server candidates that arrived before the offer was applied
  liveSince: number;
  lastPong: number;
  pingId: number;
  pingTimer: ReturnType<typeof setInterval> | 0;
  badTimer: ReturnType<typeof setTimeout> | 0;
  prev: StatsSample | null; // previous stats sample, for per-second rates
  renderer: CanvasRenderer | null;
}

function tuneReceiver(receiver: RTCRtpReceiver) {
  // Trade smoothness for latency: ask for the smallest jitter buffer the browser allows.
  try {
    if ('jitterBufferTarget' in receiver) receiver.jitterBufferTarget = 0;
    (receiver as { playoutDelayHint?: number }).playoutDelayHint = 0; // older Chromium name; a harmless expando elsewhere
  } catch (err) {
    console.debug('playcast: receiver tuning not supported', err);
  }
}

export function createPlayer(container: HTMLElement, options: PlayerOptions): PlayerHandle {
  const canvasPath = options.render === 'canvas' && canvasRenderSupported();
  if (options.render === 'canvas' && !canvasPath) {
    console.warn('playcast: this browser cannot render on a canvas (WebCodecs, encoded transforms); using <video>');
  }
  const el = buildDom(container, { canvas: canvasPath, controls: options.controls ?? true });
  const { video } = el;
  const surface = el.canvas ?? video;
  const keyTarget: EventTarget = options.keyboard === 'container' ? container : window;
  if (options.keyboard === 'container' && !container.hasAttribute('tabindex')) container.tabIndex = 0;

  const listeners = new Map<keyof PlayerEvents, Set<(e: never) => void>>();
  function emit<K extends keyof PlayerEvents>(type: K, event: PlayerEvents[K]) {
    for (const fn of listeners.get(type) ?? []) {
      try {
        (fn as (e: PlayerEvents[K]) => void)(event);
      } catch (err) {
        console.error(`playcast: a ${type} listener failed`, err);
      }
    }
  }

  const input = createInput({
    surface,
    pictureSize: () => (el.canvas ? [el.canvas.width, el.canvas.height] : [video.videoWidth, video.videoHeight]),
    keyTarget,
    hostKey: OVERLAY_KEY,
    gamepads: options.gamepads,
    onChange: () => render(),
    onClipboard: (text) => {
      for (const wait of clipboardWaits.splice(0)) wait(text);
    },
  });
  const clipboardWaits: ((text: string) => void)[] = [];
  const presented = presentedCounter(video);

  const pub = {
    state: 'idle' as PlayerState,
    welcome: null as Welcome | null,
    stats: null as DetailedStats | null,
    reconnects: 0,
    lastError: null as ServerError | PlayerError | null,
    server: null as ServerQuality | null,
    movedTo: null as string | null,
    endReason: '',
  };
  let attempt: Attempt | null = null; // the one live attempt
  const backoff = new Backoff();
  let reconnectTimer: ReturnType<typeof setTimeout> | 0 = 0;
  let reconnectAt = 0;
  let closed = false;
  // Set when a node answers `moved`: the session's own node, where its media and input are.
  let signalElsewhere: string | null = null;

  const signIn = options.signIn ?? (async () => login(await options.token(), options.server ?? ''));

  // --- signaling --------------------------------------------------------------------------

  function send(s: Attempt, msg: { type: string } & Record<string, unknown>) {
    if (s.ws.readyState !== WebSocket.OPEN) return;
    const text = encodeFrame(msg);
    if (text === null) {
      console.error(`playcast: not sending oversized ${msg.type} message`);
      return;
    }
    s.ws.send(text);
  }

  function connect() {
    reconnectTimer = 0;
    if (closed) return;
    const s: Attempt = {
      ws: new WebSocket(signalElsewhere ?? signalUrl(options.server, location)),
      pc: null,
      streamId: null,
      streamGone: false,
      remoteSet: false,
      pendingIce: [],
      liveSince: 0,
      lastPong: performance.now(),
      pingId: 0,
      pingTimer: 0,
      badTimer: 0,
      prev: null,
      renderer: null,
    };
    attempt = s;
    setState('connecting');

    s.ws.onopen = async () => {
      s.lastPong = performance.now();
      let token: string;
      try {
        token = await options.token();
      } catch (e) {
        return fail('sign_in_failed', `sign-in failed: ${(e as Error).message}`);
      }
      if (s !== attempt) return;
      send(s, { type: 'auth', token });
      s.pingTimer = setInterval(() => send(s, { type: 'ping', id: ++s.pingId }), PING_INTERVAL_MS);
    };
    s.ws.onmessage = (event) => onMessage(s, event.data);
    s.ws.onclose = (event) => restart(s, `signaling closed (${event.code})`);
  }

  function onMessage(s: Attempt, data: unknown) {
    let msg: any;
    try {
      msg = JSON.parse(String(data));
    } catch {
      console.warn('playcast: ignoring non-JSON frame from server');
      return;
    }
    switch (msg?.type) {
      case 'authenticated':
        return send(s, { ...helloFor(options) });
      case 'welcome':
        return onWelcome(s, msg);
      case 'offer':
        return void onOffer(s, msg);
      case 'ice':
        return onRemoteIce(s, msg);
      case 'pong':
        s.lastPong = performance.now();
        return;
      case 'quality':
        pub.server = msg.quality;
        return;
      case 'bye':
        if (msg.stream_id !== s.streamId) return;
        s.streamGone = true;
        restart(s, `server ended the stream: ${msg.reason ?? ''}`);
        return;
      case 'error':
        return onServerError(s, msg);
      default:
        // Newer servers may add message types within v1; ignoring them is the contract.
        console.debug('playcast: ignoring message type', msg?.type);
    }
  }

  function onServerError(s: Attempt, msg: ServerError) {
    pub.lastError = msg;
    console.warn(`playcast: server error ${msg.code}: ${msg.message}`);
    emit('error', { code: msg.code, message: msg.message });
    const what = errorAction(msg, s.streamId);
    switch (what.action) {
      case 'sign-in':
        signIn().then(
          () => restart(s, 'signed in again'),
          (e) => fail('sign_in_failed', `sign-in failed: ${e.message}`),
        );
        return;
      case 'move':
        signalElsewhere = what.location;
        pub.movedTo = what.location;
        backoff.reset();
        restart(s, `the session runs on another node: ${what.location}`);
        return;
      case 'stop':
        fail(msg.code, `server rejected the request: ${msg.message ?? msg.code}`);
        return;
      case 'retry':
        restart(s, `stream could not start (${msg.code})`);
        return;
      case 'stream-failed':
        s.streamGone = true;
        restart(s, `stream failed: ${msg.message ?? ''}`);
        return;
      case 'ignore':
        return;
    }
  }

  // --- WebRTC -------------------------------------------------------------------------------

  function onWelcome(s: Attempt, msg: Welcome) {
    if (s.pc) {
      console.warn('playcast: ignoring second welcome');
      return;
    }
    pub.welcome = msg;
    s.streamId = msg.stream_id;
    const pc = new RTCPeerConnection({
      iceServers: (msg.ice_servers ?? []).map(toIceServer),
      bundlePolicy: 'max-bundle',
      // The canvas path takes the encoded frames off the receiver (encoded transforms).
      ...(canvasPath ? canvasPeerConnectionConfig() : {}),
    });
    s.pc = pc;
    input.attach(pc);
    const stream = new MediaStream();

    pc.ontrack = (event) => {
      tuneReceiver(event.receiver);
      if (canvasPath && event.track.kind === 'video') {
        startCanvas(s, event.receiver);
        return;
      }
      if (canvasPath) pipeEncodedThrough(event.receiver);
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

  function startCanvas(s: Attempt, receiver: RTCRtpReceiver) {
    s.renderer?.stop();
    try {
      s.renderer = attachCanvasRenderer(receiver, el.canvas!, { sdp: s.pc?.remoteDescription?.sdp });
    } catch (err) {
      fail('canvas_unavailable', `the canvas render path failed: ${(err as Error).message ?? err}`);
    }
  }

  async function onOffer(s: Attempt, msg: { stream_id: string; sdp: string }) {
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
      if (s !== attempt) return;
      send(s, { type: 'answer', stream_id: s.streamId, sdp: s.pc.localDescription!.sdp });
    } catch (err) {
      if (s === attempt) restart(s, `negotiation failed: ${(err as Error).message ?? err}`);
    }
  }

  function onRemoteIce(s: Attempt, msg: { stream_id: string; candidate?: string; sdp_mline_index?: number }) {
    if (!s.pc || msg.stream_id !== s.streamId) return;
    const candidate = { candidate: msg.candidate ?? '', sdpMLineIndex: msg.sdp_mline_index ?? 0 };
    if (s.remoteSet) addRemoteIce(s.pc, candidate);
    else s.pendingIce.push(candidate);
  }

  function addRemoteIce(pc: RTCPeerConnection, candidate: RTCIceCandidateInit) {
    pc.addIceCandidate(candidate).catch((err) => {
      // Some browsers reject the end-of-candidates form; that is not worth a warning.
      if (candidate.candidate) console.warn('playcast: bad remote candidate', err);
    });
  }

  function onPeerState(s: Attempt) {
    if (s !== attempt || !s.pc) return;
    const state = s.pc.connectionState;
    if (state === 'connected') {
      clearTimeout(s.badTimer);
      s.badTimer = 0;
      if (!s.liveSince) s.liveSince = performance.now();
      setState('live');
    } else if ((state === 'failed' || state === 'disconnected') && !s.badTimer) {
      s.badTimer = setTimeout(() => restart(s, `peer connection ${s.pc?.connectionState} for 5 s`), PC_GRACE_MS);
    }
    render();
  }

  // --- lifecycle ----------------------------------------------------------------------------

  function teardown(s: Attempt, reason: string) {
    if (attempt === s) attempt = null;
    clearInterval(s.pingTimer);
    clearTimeout(s.badTimer);
    s.ws.onopen = s.ws.onmessage = s.ws.onclose = null;
    // bye is a courtesy (closing the socket ends the stream anyway) that gives the server a reason.
    if (s.streamId && !s.streamGone) send(s, { type: 'bye', stream_id: s.streamId, reason });
    s.ws.close(1000);
    s.renderer?.stop();
    s.pc?.close();
    // Figures of a closed connection must not pass for the next one's.
    pub.stats = null;
  }

  function restart(s: Attempt, reason: string) {
    if (s !== attempt) return; // a late event from an attempt already abandoned
    console.info('playcast: reconnecting:', reason);
    const upFor = s.liveSince ? performance.now() - s.liveSince : 0;
    teardown(s, reason);
    const delay = backoff.delay(upFor);
    pub.reconnects++;
    reconnectAt = performance.now() + delay;
    reconnectTimer = setTimeout(connect, delay);
    setState('reconnecting');
  }

  function stop(reason: string, state: 'ended' | 'error' = 'ended') {
    clearTimeout(reconnectTimer);
    reconnectTimer = 0;
    if (attempt) teardown(attempt, reason);
    const already = pub.state === 'ended' || pub.state === 'error';
    pub.endReason = reason;
    setState(state);
    if (!already) emit('ended', { reason });
  }

  function fail(code: string, reason: string) {
    if (!pub.lastError || pub.lastError.code !== code) {
      const error = { code, message: reason };
      pub.lastError = error;
      emit('error', error);
    }
    stop(reason, 'error');
  }

  function setState(state: PlayerState) {
    const changed = pub.state !== state;
    pub.state = state;
    render();
    if (changed) emit('state', state);
  }

  function start() {
    closed = false;
    clearTimeout(reconnectTimer);
    backoff.reset();
    if (attempt) teardown(attempt, 'reconnecting');
    pub.endReason = '';
    connect();
  }

  // --- stats ----------------------------------------------------------------------------------

  async function collectStats(s: Attempt) {
    const report = await s.pc!.getStats();
    if (s !== attempt || !s.pc) return;
    const { stats, sample } = computeStats(
      report,
      s.prev,
      performance.now(),
      // On the canvas path the renderer knows what reached the screen.
      s.renderer ? s.renderer.stats.presented : presented.count(),
      pub.welcome?.encoder ?? null,
      s.pc.connectionState,
    );
    pub.stats = stats;
    s.prev = sample;
    emit('stats', playerStats(stats, input.api.rttMs));
  }

  let ticking = false;
  async function tick() {
    if (ticking) return; // a slow getStats must not pile up
    ticking = true;
    try {
      const s = attempt;
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

  // --- UI -----------------------------------------------------------------------------------

  const currentStatus = () => statusText(pub.state, reconnectAt - performance.now(), pub.endReason);

  function render() {
    el.status.textContent = currentStatus();
    el.status.hidden = pub.state === 'live';
    if (el.overlay.hidden) return;
    el.overlay.textContent = overlayText({
      status: currentStatus(),
      connectionState: attempt?.pc?.connectionState ?? null,
      encoder: pub.welcome?.encoder ?? null,
      stats: pub.stats,
      inputRttMs: input.api.rttMs,
      server: pub.server,
      reconnects: pub.reconnects,
      lastError: pub.lastError,
      extra: [...renderRows(), ...(options.overlayExtra?.() ?? [])],
    });
  }

  function renderRows(): [string, string][] {
    if (!canvasPath) return [];
    const st = attempt?.renderer?.stats;
    if (!st) return [['render', 'canvas']];
    const decode = st.decodeMs === null ? '–' : `${st.decodeMs.toFixed(2)} ms/frame`;
    return [
      ['render', `canvas (${st.api}, ${st.acceleration ?? '–'})`],
      ['canvas decode', `${decode}, ${st.dropped} dropped`],
    ];
  }

  function setOverlay(visible: boolean) {
    el.overlay.hidden = !visible;
    el.buttons.stats.setAttribute('aria-pressed', String(visible));
    render();
  }

  function toggleMute() {
    video.muted = !video.muted;
    el.buttons.unmute.textContent = video.muted ? 'Unmute' : 'Mute';
    video.play().catch(() => {});
  }

  async function pasteFromLocal() {
    try {
      input.api.setClipboard(await navigator.clipboard.readText());
    } catch (err) {
      console.warn("playcast: cannot read this computer's clipboard", err);
    }
  }

  const onKey = (event: Event) => {
    if ((event as KeyboardEvent).key !== OVERLAY_KEY) return;
    event.preventDefault();
    setOverlay(el.overlay.hidden);
  };
  // Free the server's encoder promptly when the page goes away; resume if restored from bfcache.
  const onPageHide = () => stop('page closed');
  const onPageShow = (event: PageTransitionEvent) => {
    if (event.persisted && !closed) start();
  };
  const onUnmute = () => toggleMute();
  const onStats = () => setOverlay(el.overlay.hidden);
  const onLock = () => input.lockPointer();
  const onFullscreen = () => void handle.fullscreen().catch((err) => console.warn('playcast: no full screen', err));
  const onClipSend = () => void pasteFromLocal();
  const onClipGet = () => input.api.requestClipboard();

  // Every listener goes with one abort on close().
  const listening = new AbortController();
  const on = { signal: listening.signal };
  el.buttons.unmute.addEventListener('click', onUnmute, on);
  el.buttons.stats.addEventListener('click', onStats, on);
  el.buttons.lock.addEventListener('click', onLock, on);
  el.buttons.fullscreen.addEventListener('click', onFullscreen, on);
  el.buttons.clipSend.addEventListener('click', onClipSend, on);
  el.buttons.clipGet.addEventListener('click', onClipGet, on);
  keyTarget.addEventListener('keydown', onKey, on);
  addEventListener('pagehide', onPageHide, on);
  addEventListener('pageshow', onPageShow, on);

  video.muted = true; // autoplay is only allowed muted
  setOverlay(options.overlay ?? false);
  const tickTimer = setInterval(tick, TICK_MS);

  const handle: PlayerHandle = {
    get state() { return pub.state; },
    info: {
      get welcome() { return pub.welcome; },
      get stats() { return pub.stats; },
      get reconnects() { return pub.reconnects; },
      get lastError() { return pub.lastError; },
      get server() { return pub.server; },
      get movedTo() { return pub.movedTo; },
      get endReason() { return pub.endReason; },
    },
    input: input.api,
    elements: el,
    get renderer() { return attempt?.renderer ?? null; },
    get overlayVisible() { return !el.overlay.hidden; },
    async rawStats() {
      const pc = attempt?.pc;
      return pc ? rawRecords(await pc.getStats()) : [];
    },
    reconnect() {
      if (!closed) start();
    },
    on(type, listener) {
      let set = listeners.get(type);
      if (!set) listeners.set(type, (set = new Set()));
      set.add(listener as (e: never) => void);
      return () => set!.delete(listener as (e: never) => void);
    },
    setOverlay,
    unmute() {
      if (video.muted) toggleMute();
    },
    setGamepads(on) {
      input.setGamepads(on);
    },
    lockPointer() {
      input.lockPointer();
    },
    async fullscreen() {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await container.requestFullscreen();
    },
    pasteToGame(text) {
      input.api.setClipboard(text);
    },
    copyFromGame() {
      return new Promise<string>((resolve, reject) => {
        if (!input.api.requestClipboard()) {
          reject(new Error('input is not connected'));
          return;
        }
        const timer = setTimeout(() => {
          const i = clipboardWaits.indexOf(done);
          if (i >= 0) clipboardWaits.splice(i, 1);
          reject(new Error("the game's clipboard did not answer"));
        }, CLIPBOARD_WAIT_MS);
        const done = (text: string) => {
          clearTimeout(timer);
          resolve(text);
        };
        clipboardWaits.push(done);
      });
    },
    close() {
      if (closed) return;
      stop('closed');
      closed = true;
      clearInterval(tickTimer);
      presented.stop();
      input.dispose();
      listening.abort();
      video.srcObject = null;
    },
  };

  // Listeners a host adds right after createPlayer still see the first state change.
  queueMicrotask(() => {
    if (closed) return;
    if (!options.signInFirst) return connect();
    setState('connecting');
    signIn().then(
      () => !closed && connect(),
      (e) => fail('sign_in_failed', `sign-in failed: ${e.message}`),
    );
  });
  return handle;
}
