import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Dashboard } from './Dashboard';
import * as f from './format';
import type { Snapshot } from './types';

/** A WebSocket the test drives: it records what the page sends. */
class FakeSocket {
  static all: FakeSocket[] = [];
  readonly OPEN = 1;
  readyState = 0;
  sent: any[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(text: string) {
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.readyState = 3;
    this.onclose?.();
  }
  async open() {
    this.readyState = 1;
    await this.onopen?.();
  }
  receive(m: unknown) {
    this.onmessage?.({ data: JSON.stringify(m) });
  }
}

const usage = (cpu: number, mem: number, gpu: number[]) => ({ cpu_cores: cpu, memory_mb: mem, gpu_slots: gpu });

function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  return {
    type: 'dashboard',
    at: '2026-12-06T19:00:00Z',
    node: {
      id: 'node-a',
      sessions: 1,
      budget: { total: usage(16, 64000, [3]), used: usage(1, 256, [0]) },
      cache: { backend: 'memory', live_nodes: ['node-a'] },
      containment: { mechanism: 'cgroup', kill: 'cgroup-kill', enforced: ['memory', 'cpu'] },
      draining: false,
    },
    nodes: [
      {
        node: 'node-a',
        address: 'http://10.0.0.5:8080',
        sessions: 1,
        draining: false,
        runnable: { 'test-pattern': 'x264enc' },
        budget: { total: usage(16, 64000, [3]), used: usage(1, 256, [0]) },
        heartbeat_age_ms: 420,
      },
      {
        node: 'node-b',
        address: 'http://10.0.0.6:8080',
        sessions: 0,
        draining: true,
        runnable: {},
        budget: { total: usage(8, 32000, []), used: usage(0, 0, []) },
        heartbeat_age_ms: 900,
      },
    ],
    sessions: [
      {
        id: '5b0e6a1e-1111-2222-3333-444455556666',
        owner: 'alice',
        game: 'latency-probe',
        pipeline: 'linux-x11',
        node: 'node-a',
        state: 'active',
        version: 4,
        viewers: [],
        created_at: '2026-12-06T18:59:00Z',
        updated_at: '2026-12-06T18:59:02Z',
        quality: { sent_bps: 6_200_000, fps: 59.8, rtt_ms: 12.4, loss: 0.002, ladder_step: 2 },
        encoder: 'x264enc',
      },
      {
        id: '77777777-aaaa',
        owner: 'bob',
        game: 'xev',
        pipeline: 'linux-x11',
        node: 'node-a',
        state: 'cleanup',
        version: 7,
        viewers: [],
        created_at: '2026-12-06T18:50:00Z',
        updated_at: '2026-12-06T18:55:00Z',
        encoder: null,
      },
    ],
    pipelines: [
      {
        name: 'linux-x11',
        description: 'X11 capture',
        runnable: true,
        encoder: 'x264enc',
        loaded_at_unix: 1_765_000_000,
        path: 'linux-x11.toml',
        encoder_choice: 'encoder x264enc: nvh264enc not on this machine',
        notes: [],
        error: null,
      },
      {
        name: 'broken',
        description: null,
        runnable: false,
        encoder: null,
        loaded_at_unix: null,
        path: 'broken.toml',
        encoder_choice: null,
        notes: [],
        error: '/etc/playcast/pipelines/broken.toml:7: unknown element `nosuchsrc`',
      },
    ],
    unavailable: {},
    ...over,
  };
}

const token = vi.fn(async () => 'tok-1');

async function connected(): Promise<FakeSocket> {
  render(<Dashboard token={token} />);
  const ws = FakeSocket.all[0];
  await act(async () => {
    await ws.open();
  });
  expect(ws.sent[0]).toEqual({ type: 'auth', token: 'tok-1' });
  act(() => ws.receive({ type: 'authenticated', user_id: 'root', role: 'admin' }));
  expect(ws.sent[1]).toEqual({ type: 'subscribe', topics: ['dashboard'] });
  act(() => ws.receive({ type: 'subscribed', topics: ['dashboard'] }));
  return ws;
}

function row(table: string, text: string): HTMLElement {
  const region = screen.getByRole('region', { name: table });
  const found = within(region)
    .getAllByRole('row')
    .find((r) => r.textContent?.includes(text));
  if (!found) throw new Error(`no row with ${text} in ${table}`);
  return found;
}

beforeEach(() => {
  FakeSocket.all = [];
  vi.stubGlobal('WebSocket', FakeSocket);
  token.mockClear();
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('Dashboard', () => {
  it('subscribes on its own events socket and renders each snapshot', async () => {
    const ws = await connected();
    expect(ws.url).toMatch(/\/api\/v1\/events$/);
    expect(screen.getByRole('status').textContent).toContain('Live');
    act(() => ws.receive(snapshot()));

    // This node.
    expect(screen.getByText('node-a', { selector: 'dd' })).toBeTruthy();
    expect(screen.getByText('1 / 16 cores', { selector: 'dd' })).toBeTruthy();
    // The fleet: load, draining and heartbeat age.
    const b = row('2 nodes with a live heartbeat', 'node-b');
    expect(b.textContent).toContain('yes');
    expect(b.textContent).toContain('0.9 s');
    expect(within(b).getByRole('button').textContent).toBe('Undo drain');
    expect(row('2 nodes with a live heartbeat', 'node-a').textContent).toContain('test-pattern (x264enc)');
    // Sessions with their live figures.
    const s = row('Running sessions first, then the latest ended ones', 'alice');
    for (const text of ['5b0e6a1e', 'active', 'latency-probe', 'x264enc', '6.2 Mbit/s', '60', '12 ms', '0.20 %', '2']) {
      expect(s.textContent).toContain(text);
    }
    expect(within(s).getByRole('button', { name: /Pause session 5b0e6a1e of alice/ })).toBeTruthy();
    const ended = row('Running sessions first, then the latest ended ones', 'bob');
    expect(within(ended).queryAllByRole('button')).toHaveLength(0);
    // Pipelines: runnable, the encoder and why, the last reload error with file:line.
    const broken = row('Pipeline files and what this node chose for each', 'broken');
    expect(broken.textContent).toContain('broken.toml:7: unknown element');
    expect(row('Pipeline files and what this node chose for each', 'linux-x11').textContent).toContain(
      'nvh264enc not on this machine',
    );

    // The next snapshot replaces the figures.
    const next = snapshot();
    next.sessions[0].quality = { sent_bps: 1_500_000, fps: 30, rtt_ms: 40, loss: 0.05, ladder_step: 4 };
    act(() => ws.receive(next));
    const updated = row('Running sessions first, then the latest ended ones', 'alice');
    expect(updated.textContent).toContain('1.5 Mbit/s');
    expect(updated.textContent).toContain('5.0 %');
  });

  it('ends a session after confirmation, through the session route', async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify({ state: 'terminated' }), { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    const ws = await connected();
    act(() => ws.receive(snapshot()));
    const end = screen.getByRole('button', { name: 'End session 5b0e6a1e of alice' });
    end.focus();
    fireEvent.click(end);
    const dialog = screen.getByRole('alertdialog', { name: 'End session' });
    expect(dialog.textContent).toContain('alice');
    // Focus moves to Cancel: a stray Enter does not end anything.
    expect(document.activeElement?.textContent).toBe('Cancel');
    expect(fetch).not.toHaveBeenCalled();
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'End session' }));
    });
    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/sessions/5b0e6a1e-1111-2222-3333-444455556666/end');
    expect(init.method).toBe('POST');
    expect((init.headers as Record<string, string>).authorization).toBe('Bearer tok-1');
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(screen.getByText(/End session: session 5b0e6a1e of alice/).textContent).toContain('done');
    // Focus returns to where it was.
    expect(document.activeElement).toBe(end);
  });

  it('pauses a session and drains a node; a refusal says what happened and what to do', async () => {
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(new Response('{}', { status: 200 }))
      .mockResolvedValueOnce(
        new Response(
          JSON.stringify({
            type: 'https://playcast.dev/problems/node-unreachable',
            title: 'Service Unavailable',
            status: 503,
            detail: 'node `node-a`: connection refused',
          }),
          { status: 503, headers: { 'content-type': 'application/problem+json' } },
        ),
      );
    vi.stubGlobal('fetch', fetch);
    const ws = await connected();
    act(() => ws.receive(snapshot()));

    fireEvent.click(screen.getByRole('button', { name: 'Pause session 5b0e6a1e of alice' }));
    await act(async () => {
      fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Pause session' }));
    });
    expect(fetch.mock.calls[0][0]).toBe('/api/v1/sessions/5b0e6a1e-1111-2222-3333-444455556666/pause');

    fireEvent.click(screen.getByRole('button', { name: 'Drain node node-a' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Drain node' });
    // Escape cancels without a call.
    fireEvent.keyDown(dialog, { key: 'Escape' });
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(fetch).toHaveBeenCalledTimes(1);

    fireEvent.click(screen.getByRole('button', { name: 'Drain this node' }));
    await act(async () => {
      fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Drain node' }));
    });
    expect(fetch.mock.calls[1][0]).toBe('/api/v1/nodes/node-a/drain');
    expect((fetch.mock.calls[1][1] as RequestInit).method).toBe('POST');
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toContain('connection refused');
    expect(alert.textContent).toContain('try again in a few seconds');
  });

  it("undoes a draining node's drain with DELETE, after a confirmation", async () => {
    const fetch = vi.fn().mockResolvedValue(new Response('{}', { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    const ws = await connected();
    act(() => ws.receive(snapshot()));

    // node-b drains: its row offers the undo, not a second drain.
    expect(screen.queryByRole('button', { name: 'Drain node node-b' })).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Let node node-b take sessions again' }));
    await act(async () => {
      fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Take sessions' }));
    });
    expect(fetch.mock.calls[0][0]).toBe('/api/v1/nodes/node-b/drain');
    expect((fetch.mock.calls[0][1] as RequestInit).method).toBe('DELETE');
    expect(screen.getByText(/Node node-b takes sessions again/)).toBeTruthy();
  });

  it('tells a non-admin why, and reconnects after a dropped connection', async () => {
    vi.useFakeTimers();
    const ws = await connected();
    act(() => ws.receive(snapshot()));
    act(() => ws.close());
    expect(screen.getByRole('status').textContent).toMatch(/Reconnecting in 1 s/);
    // The last snapshot stays on screen meanwhile.
    expect(screen.getByText('node-b')).toBeTruthy();
    await act(async () => {
      vi.advanceTimersByTime(600);
    });
    expect(FakeSocket.all).toHaveLength(2);
    const again = FakeSocket.all[1];
    await act(async () => {
      await again.open();
    });
    act(() => again.receive({ type: 'authenticated', user_id: 'p', role: 'player' }));
    act(() => again.receive({ type: 'error', code: 'forbidden', message: 'the `dashboard` topic is for admins' }));
    expect(screen.getByRole('alert').textContent).toContain('does not have the admin role');
    await act(async () => {
      vi.advanceTimersByTime(20_000);
    });
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('shows a part the service could not read', async () => {
    const ws = await connected();
    act(() => ws.receive(snapshot({ nodes: [], unavailable: { nodes: 'the cache cannot be read: refused' } })));
    expect(screen.getByRole('alert').textContent).toContain('nodes cannot be shown now: the cache cannot be read');
    expect(screen.getByText('No node has a live heartbeat.')).toBeTruthy();
  });
});

describe('figures', () => {
  it('are written with their units, and unknown ones as a dash', () => {
    expect(f.bitrate(6_200_000)).toBe('6.2 Mbit/s');
    expect(f.bitrate(800_000)).toBe('800 kbit/s');
    expect(f.bitrate(null)).toBe('–');
    expect(f.loss(0)).toBe('0.0 %');
    expect(f.loss(0.002)).toBe('0.20 %');
    expect(f.ms(12.4)).toBe('12 ms');
    expect(f.fps(7.25)).toBe('7.3');
    expect(f.age(90_000)).toBe('2 min');
    expect(f.gpus(usage(0, 0, [1, 0]), usage(0, 0, [3, 3]))).toBe('1/3, 0/3');
    expect(f.gpus(usage(0, 0, []), usage(0, 0, []))).toBe('none declared');
    expect(f.memory(usage(0, 768, []), usage(0, 64000, []))).toBe('768 MiB / 62.5 GiB');
  });
});
