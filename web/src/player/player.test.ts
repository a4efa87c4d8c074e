import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPlayer } from './player';
import type { PlayerHandle, PlayerOptions } from './types';

// The player's lifecycle against a scripted server: fake WebSocket and RTCPeerConnection.
class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static all: FakeSocket[] = [];
  readyState = FakeSocket.CONNECTING;
  sent: any[] = [];
  closedWith: number | null = null;
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  constructor(public url: string) {
    FakeSocket.all.push(this);
  }
  send(text: string) {
    this.sent.push(JSON.parse(text));
  }
  close(code: number) {
    this.closedWith = code;
    this.readyState = FakeSocket.CLOSED;
  }
  // What the server does:
  async open() {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
    await flush();
  }
  async receive(msg: object) {
    this.onmessage?.({ data: JSON.stringify(msg) });
    await flush();
  }
  drop(code = 1006) {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code });
  }
  types() {
    return this.sent.map((m) => m.type);
  }
}

class FakePeer {
  static all: FakePeer[] = [];
  connectionState: RTCPeerConnectionState = 'new';
  localDescription: { sdp: string } | null = null;
  remoteDescription: { sdp: string } | null = null;
  ontrack: ((e: unknown) => void) | null = null;
  onicecandidate: ((e: unknown) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  candidates: unknown[] = [];
  closed = false;
  constructor(public config: RTCConfiguration) {
    FakePeer.all.push(this);
  }
  async setRemoteDescription(d: { sdp: string }) {
    this.remoteDescription = d;
  }
  getReceivers() {
    return [];
  }
  async createAnswer() {
    return { type: 'answer', sdp: 'v=0 answer' };
  }
  async setLocalDescription(d: { sdp: string }) {
    this.localDescription = d;
  }
  async addIceCandidate(c: unknown) {
    this.candidates.push(c);
  }
  async getStats() {
    return new Map();
  }
  addEventListener() {}
  removeEventListener() {}
  close() {
    this.closed = true;
  }
  connect(state: RTCPeerConnectionState) {
    this.connectionState = state;
    this.onconnectionstatechange?.();
  }
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

let player: PlayerHandle | null = null;
const states: string[] = [];
const ended: string[] = [];

function start(extra: Partial<PlayerOptions> = {}) {
  const container = document.createElement('div');
  document.body.append(container);
  player = createPlayer(container, { token: async () => 'tok', params: { width: 640 }, ...extra });
  player.on('state', (s) => states.push(s));
  player.on('ended', (e) => ended.push(e.reason));
  return player;
}

/** Takes the newest socket through auth, hello, welcome and offer to a live stream. */
async function goLive(ws: FakeSocket, streamId = 'st1') {
  await ws.open();
  await ws.receive({ type: 'authenticated', user_id: 'u', role: 'player' });
  await ws.receive({ type: 'welcome', stream_id: streamId, encoder: 'x264enc', ice_servers: [{ urls: 'stun:s', extra: 1 }] });
  await ws.receive({ type: 'offer', stream_id: streamId, sdp: 'v=0 offer' });
  FakePeer.all.at(-1)!.connect('connected');
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] });
  FakeSocket.all = [];
  FakePeer.all = [];
  states.length = 0;
  ended.length = 0;
  vi.stubGlobal('WebSocket', FakeSocket);
  vi.stubGlobal('RTCPeerConnection', FakePeer);
  vi.stubGlobal('MediaStream', class {});
  HTMLMediaElement.prototype.play = () => Promise.resolve();
  vi.spyOn(console, 'info').mockImplementation(() => {});
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  vi.spyOn(console, 'debug').mockImplementation(() => {});
});

afterEach(() => {
  player?.close();
  player = null;
  document.body.replaceChildren();
  vi.useRealTimers();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('the player', () => {
  it('authenticates, says hello, answers the offer and goes live', async () => {
    const p = start();
    await flush();
    const ws = FakeSocket.all[0];
    expect(ws.url).toBe(`ws://${location.host}/api/v1/signal`);
    await goLive(ws);
    expect(ws.sent.slice(0, 3)).toEqual([
      { type: 'auth', token: 'tok' },
      { type: 'hello', version: 1, params: { width: 640 } },
      { type: 'answer', stream_id: 'st1', sdp: 'v=0 answer' },
    ]);
    const pc = FakePeer.all[0];
    expect(pc.config).toEqual({ iceServers: [{ urls: 'stun:s', username: undefined, credential: undefined }], bundlePolicy: 'max-bundle' });
    expect(p.state).toBe('live');
    expect(states).toEqual(['connecting', 'live']);
    expect(p.info.welcome?.encoder).toBe('x264enc');
    expect(p.elements.status.hidden).toBe(true);
  });

  it('holds server candidates until the offer is applied, and sends its own with the stream id', async () => {
    start();
    await flush();
    const ws = FakeSocket.all[0];
    await ws.open();
    await ws.receive({ type: 'authenticated' });
    await ws.receive({ type: 'welcome', stream_id: 's' });
    await ws.receive({ type: 'ice', stream_id: 's', candidate: 'candidate:1', sdp_mline_index: 0 });
    const pc = FakePeer.all[0];
    expect(pc.candidates).toEqual([]);
    await ws.receive({ type: 'offer', stream_id: 's', sdp: 'o' });
    expect(pc.candidates).toEqual([{ candidate: 'candidate:1', sdpMLineIndex: 0 }]);
    pc.onicecandidate?.({ candidate: { candidate: 'candidate:2', sdpMLineIndex: 0 } });
    pc.onicecandidate?.({ candidate: { candidate: '', sdpMLineIndex: 0 } }); // per-section end: skipped
    pc.onicecandidate?.({ candidate: null });
    expect(ws.sent.filter((m) => m.type === 'ice')).toEqual([
      { type: 'ice', stream_id: 's', candidate: 'candidate:2', sdp_mline_index: 0 },
      { type: 'ice', stream_id: 's', candidate: '', sdp_mline_index: 0 },
    ]);
  });

  it('reconnects with a doubling backoff, and a fresh one after a stable stream', async () => {
    const p = start();
    await flush();
    FakeSocket.all[0].drop();
    expect(p.state).toBe('reconnecting');
    expect(p.elements.status.textContent).toBe('reconnecting in 1 s');
    await vi.advanceTimersByTimeAsync(499);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.all[1].drop();
    await vi.advanceTimersByTimeAsync(999);
    expect(FakeSocket.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(3);
    // Live for 10 s: the next wait starts over at 0.5 s.
    await goLive(FakeSocket.all[2]);
    await vi.advanceTimersByTimeAsync(10_000);
    FakeSocket.all[2].drop();
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeSocket.all).toHaveLength(4);
    expect(p.info.reconnects).toBe(3);
  });

  it('says bye with a reason when it leaves a live stream, and stops on close', async () => {
    const p = start();
    await flush();
    const ws = FakeSocket.all[0];
    await goLive(ws);
    p.close();
    expect(ws.sent.at(-1)).toEqual({ type: 'bye', stream_id: 'st1', reason: 'closed' });
    expect(ws.closedWith).toBe(1000);
    expect(FakePeer.all[0].closed).toBe(true);
    expect(p.state).toBe('ended');
    expect(ended).toEqual(['closed']);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('owes no bye for a stream the server ended, and reconnects', async () => {
    const p = start();
    await flush();
    const ws = FakeSocket.all[0];
    await goLive(ws);
    await ws.receive({ type: 'bye', stream_id: 'st1', reason: 'the game exited' });
    expect(ws.types()).not.toContain('bye');
    expect(p.state).toBe('reconnecting');
  });

  it('follows a moved answer to the session node', async () => {
    const p = start();
    await flush();
    const ws = FakeSocket.all[0];
    await ws.open();
    await ws.receive({ type: 'error', code: 'moved', message: 'elsewhere', location: 'ws://node-b:8080/api/v1/signal' });
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeSocket.all[1].url).toBe('ws://node-b:8080/api/v1/signal');
    expect(p.info.movedTo).toBe('ws://node-b:8080/api/v1/signal');
  });

  it('signs in again when the server no longer knows the sign-in', async () => {
    const signIn = vi.fn(async () => {});
    start({ signIn });
    await flush();
    const ws = FakeSocket.all[0];
    await ws.open();
    await ws.receive({ type: 'error', code: 'unauthorized', message: 'sign in first' });
    expect(signIn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('stops for good when the hello is refused, with the reason', async () => {
    const p = start({ session: 'gone' });
    const errors: string[] = [];
    p.on('error', (e) => errors.push(e.code));
    await flush();
    const ws = FakeSocket.all[0];
    await ws.open();
    await ws.receive({ type: 'authenticated' });
    expect(ws.sent.at(-1)).toEqual({ type: 'hello', version: 1, session_id: 'gone' });
    await ws.receive({ type: 'error', code: 'unknown_session', message: 'no such session' });
    expect(p.state).toBe('error');
    expect(errors).toEqual(['unknown_session']);
    expect(ended).toEqual(['server rejected the request: no such session']);
    expect(p.elements.status.textContent).toBe('error: server rejected the request: no such session');
    await vi.advanceTimersByTimeAsync(20_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('restarts after a peer connection stays failed for 5 s, not before', async () => {
    const p = start();
    await flush();
    await goLive(FakeSocket.all[0]);
    FakePeer.all[0].connect('disconnected');
    await vi.advanceTimersByTimeAsync(4_000);
    FakePeer.all[0].connect('connected');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(p.state).toBe('live');
    FakePeer.all[0].connect('failed');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(p.state).toBe('reconnecting');
  });

  it('pings every 5 s and reconnects after 15 s without a pong', async () => {
    const p = start();
    await flush();
    const ws = FakeSocket.all[0];
    await ws.open();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(ws.sent.filter((m) => m.type === 'ping')).toEqual([{ type: 'ping', id: 1 }]);
    await ws.receive({ type: 'pong', id: 1 });
    await vi.advanceTimersByTimeAsync(14_900);
    expect(p.info.reconnects).toBe(0);
    await vi.advanceTimersByTimeAsync(1_200); // the next second's check
    expect(p.state).toBe('reconnecting');
  });

  it('signs in first when asked, and fails cleanly when it cannot', async () => {
    const p = start({ signInFirst: true, signIn: async () => Promise.reject(new Error('no such user')) });
    await flush();
    expect(FakeSocket.all).toHaveLength(0);
    expect(states).toEqual(['connecting', 'error']);
    expect(p.state).toBe('error');
    expect(p.info.lastError).toEqual({ code: 'sign_in_failed', message: 'sign-in failed: no such user' });
  });

  it('toggles the overlay with F2 and its button', async () => {
    const p = start();
    expect(p.overlayVisible).toBe(false);
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'F2', code: 'F2' }));
    expect(p.overlayVisible).toBe(true);
    expect(p.elements.overlay.textContent).toContain('reconnects');
    p.elements.buttons.stats.click();
    expect(p.overlayVisible).toBe(false);
    expect(p.elements.buttons.stats.getAttribute('aria-pressed')).toBe('false');
  });
});
