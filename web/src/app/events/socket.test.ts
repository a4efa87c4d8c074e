import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SessionEvent } from '../api';
import { EventsSocket } from './socket';

class FakeWs {
  static all: FakeWs[] = [];
  readonly OPEN = 1;
  readyState = 0;
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((m: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeWs.all.push(this);
  }
  send(text: string) {
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.readyState = 3;
    this.onclose?.();
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
}

const event = (seq: number): SessionEvent => ({
  type: 'event',
  seq,
  session_id: 's1',
  version: seq,
  from: 'idle',
  to: 'initializing',
  event: { event: 'start' },
  at: '',
});

beforeEach(() => {
  FakeWs.all = [];
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

const flush = () => vi.advanceTimersByTimeAsync(0);

describe('EventsSocket', () => {
  it('authenticates first, then resumes after the last event it saw when it reconnects', async () => {
    const socket = new EventsSocket({ token: async () => 'tok', url: 'ws://x/api/v1/events', WebSocketImpl: FakeWs as never });
    const seen: number[] = [];
    socket.onEvent((e) => seen.push(e.seq));
    const first = FakeWs.all[0];
    first.open();
    await flush();
    expect(first.sent).toEqual([{ type: 'auth', token: 'tok' }]);
    first.receive({ type: 'authenticated', user_id: 'alice', role: 'player' });
    expect(socket.status).toBe('open');
    first.receive(event(41));
    first.receive(event(42));
    first.receive(event(42));
    expect(seen).toEqual([41, 42]);

    first.close();
    expect(socket.status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(500);
    const second = FakeWs.all[1];
    second.open();
    await flush();
    expect(second.sent).toEqual([{ type: 'auth', token: 'tok', after: 42 }]);
    second.receive({ type: 'authenticated' });
    second.receive(event(43));
    expect(seen).toEqual([41, 42, 43]);
    socket.close();
    expect(socket.status).toBe('closed');
  });

  it('backs off while it cannot connect and stops for good when closed', async () => {
    const socket = new EventsSocket({ token: async () => 'tok', url: 'ws://x', WebSocketImpl: FakeWs as never });
    FakeWs.all[0].close();
    await vi.advanceTimersByTimeAsync(499);
    expect(FakeWs.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeWs.all).toHaveLength(2);
    FakeWs.all[1].close();
    await vi.advanceTimersByTimeAsync(999);
    expect(FakeWs.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeWs.all).toHaveLength(3);
    socket.close();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWs.all).toHaveLength(3);
  });
});
