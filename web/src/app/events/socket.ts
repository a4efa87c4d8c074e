// The events WebSocket (GET /api/v1/events, docs/API.md): authenticates with
// its first message, resumes after the last `seq` it saw, and reconnects with
// backoff until closed. Listeners get each session transition once, in order.
import type { SessionEvent, TokenFn } from '../api';

export type SocketStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface EventsSocketOptions {
  token: TokenFn;
  url?: string;
  /** For tests: the WebSocket constructor. */
  WebSocketImpl?: typeof WebSocket;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const PING_MS = 15_000;

export class EventsSocket {
  private ws: WebSocket | null = null;
  private lastSeq: number | null = null;
  private backoff = BACKOFF_MIN_MS;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  private listeners = new Set<(e: SessionEvent) => void>();
  private statusListeners = new Set<(s: SocketStatus, detail: string) => void>();
  status: SocketStatus = 'connecting';
  lastError = '';

  constructor(private readonly opts: EventsSocketOptions) {
    this.connect();
  }

  onEvent(listener: (e: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onStatus(listener: (s: SocketStatus, detail: string) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.ws?.close(1000, 'signed out');
    this.ws = null;
    this.setStatus('closed', '');
  }

  private url(): string {
    if (this.opts.url) return this.opts.url;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/api/v1/events`;
  }

  private setStatus(s: SocketStatus, detail: string) {
    this.status = s;
    if (detail) this.lastError = detail;
    for (const l of this.statusListeners) l(s, detail);
  }

  private connect() {
    if (this.closed) return;
    const Impl = this.opts.WebSocketImpl ?? WebSocket;
    const ws = new Impl(this.url());
    this.ws = ws;
    let authed = false;
    ws.onopen = async () => {
      try {
        const token = await this.opts.token();
        const auth: Record<string, unknown> = { type: 'auth', token };
        if (this.lastSeq !== null) auth.after = this.lastSeq;
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(auth));
      } catch (e) {
        this.lastError = `no token: ${(e as Error).message}`;
        ws.close();
      }
    };
    ws.onmessage = (m) => {
      let msg: { type?: string; code?: string; message?: string; seq?: number };
      try {
        msg = JSON.parse(String(m.data));
      } catch {
        return;
      }
      if (msg.type === 'authenticated') {
        authed = true;
        this.backoff = BACKOFF_MIN_MS;
        this.setStatus('open', '');
        clearInterval(this.pingTimer);
        let id = 0;
        this.pingTimer = setInterval(() => {
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'ping', id: ++id }));
        }, PING_MS);
      } else if (msg.type === 'event' && typeof msg.seq === 'number') {
        // Resumed catch-ups never repeat, but a reconnect race could: keep each once.
        if (this.lastSeq !== null && msg.seq <= this.lastSeq) return;
        this.lastSeq = msg.seq;
        for (const l of this.listeners) l(msg as SessionEvent);
      } else if (msg.type === 'error') {
        this.lastError = `${msg.code}: ${msg.message}`;
      }
    };
    ws.onclose = () => {
      clearInterval(this.pingTimer);
      if (this.ws !== ws || this.closed) return;
      this.ws = null;
      this.setStatus('reconnecting', this.lastError || (authed ? 'connection lost' : 'could not connect'));
      this.retryTimer = setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    };
  }
}
