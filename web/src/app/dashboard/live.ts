// The dashboard's own subscription on the events WebSocket (GET
// /api/v1/events): authenticate, subscribe to the `dashboard` topic, hand
// every snapshot on; reconnect with backoff when the connection drops.
import type { Snapshot } from './types';

export type LiveStatus =
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'reconnecting'; retryInMs: number; why: string }
  /** Refused for good: not an admin, or signed out. */
  | { kind: 'refused'; code: string; message: string }
  | { kind: 'closed' };

export interface LiveOptions {
  token: () => Promise<string>;
  onSnapshot: (s: Snapshot) => void;
  onStatus: (s: LiveStatus) => void;
  url?: string;
  /** For tests: the WebSocket constructor. */
  WebSocketImpl?: typeof WebSocket;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

function eventsUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api/v1/events`;
}

/** Starts the subscription; the returned function ends it. */
export function subscribeDashboard(opts: LiveOptions): () => void {
  let ws: WebSocket | null = null;
  let closed = false;
  let retry = RETRY_MIN_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const again = (why: string) => {
    if (closed) return;
    const wait = retry;
    retry = Math.min(retry * 2, RETRY_MAX_MS);
    opts.onStatus({ kind: 'reconnecting', retryInMs: wait, why });
    timer = setTimeout(connect, wait);
  };

  function connect() {
    if (closed) return;
    opts.onStatus({ kind: 'connecting' });
    const Impl = opts.WebSocketImpl ?? WebSocket;
    const socket = new Impl(opts.url ?? eventsUrl());
    ws = socket;
    let refused = false;
    socket.onopen = async () => {
      try {
        const token = await opts.token();
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type: 'auth', token }));
      } catch (e) {
        refused = true;
        opts.onStatus({ kind: 'refused', code: 'unauthorized', message: `no token: ${(e as Error).message}` });
        socket.close();
      }
    };
    socket.onmessage = (ev: MessageEvent) => {
      let m: { type?: string; code?: string; message?: string };
      try {
        m = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (m.type === 'authenticated') {
        socket.send(JSON.stringify({ type: 'subscribe', topics: ['dashboard'] }));
      } else if (m.type === 'subscribed') {
        retry = RETRY_MIN_MS;
        opts.onStatus({ kind: 'live' });
      } else if (m.type === 'dashboard') {
        opts.onSnapshot(m as unknown as Snapshot);
      } else if (m.type === 'error' && (m.code === 'forbidden' || m.code === 'unauthorized')) {
        refused = true;
        opts.onStatus({ kind: 'refused', code: m.code, message: m.message ?? '' });
        socket.close();
      }
    };
    socket.onclose = () => {
      if (ws === socket) ws = null;
      if (!refused) again('the connection to the service dropped');
    };
  }

  connect();
  return () => {
    closed = true;
    clearTimeout(timer);
    ws?.close(1000, 'dashboard closed');
    ws = null;
    opts.onStatus({ kind: 'closed' });
  };
}
