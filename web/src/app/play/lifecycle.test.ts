import { describe, expect, it } from 'vitest';
import type { SessionEvent, SessionView } from '../api';
import { ApiError } from '../api';
import { endMessage, finished, initialLifecycle, Lifecycle, lifecycleReducer, playable } from './lifecycle';

const view = (over: Partial<SessionView> = {}): SessionView => ({
  id: 's1',
  owner: 'alice',
  game: 'probe',
  pipeline: 'linux-x11',
  state: 'connecting',
  version: 3,
  viewers: [],
  created_at: '2026-12-06T10:00:00Z',
  updated_at: '2026-12-06T10:00:01Z',
  ...over,
});

const ev = (version: number, from: string, to: SessionEvent['to'], event: SessionEvent['event'], id = 's1'): SessionEvent => ({
  type: 'event',
  seq: 100 + version,
  session_id: id,
  version,
  from,
  to,
  event,
  at: `2026-12-06T10:00:0${version}Z`,
});

const run = (actions: Parameters<typeof lifecycleReducer>[1][], from: Lifecycle = initialLifecycle) =>
  actions.reduce(lifecycleReducer, from);

describe('lifecycleReducer', () => {
  it('follows a launch from idle to active through the events', () => {
    const s = run([
      { type: 'view', view: view({ state: 'idle', version: 1 }) },
      { type: 'event', event: ev(2, 'idle', 'initializing', { event: 'start' }) },
      { type: 'event', event: ev(3, 'initializing', 'connecting', { event: 'launched' }) },
    ]);
    expect(s.state).toBe('connecting');
    expect(playable(s.state)).toBe(true);
    expect(Object.keys(s.reached)).toEqual(['idle', 'initializing', 'connecting']);
    const live = lifecycleReducer(s, { type: 'event', event: ev(4, 'connecting', 'active', { event: 'connected' }) });
    expect(live.state).toBe('active');
    expect(live.session?.state).toBe('active');
    expect(live.version).toBe(4);
  });

  it('marks the states before the one a view shows as passed (a reload mid-launch)', () => {
    const s = run([{ type: 'view', view: view({ state: 'connecting', version: 3 }) }]);
    expect(s.reached.idle).toBeDefined();
    expect(s.reached.initializing).toBeDefined();
    expect(s.reached.connecting).toBe('2026-12-06T10:00:01Z');
    expect(s.reached.active).toBeUndefined();
  });

  it('ignores events it already has, older views, and other sessions', () => {
    const s = run([
      { type: 'view', view: view({ state: 'active', version: 4 }) },
      { type: 'event', event: ev(3, 'initializing', 'connecting', { event: 'launched' }) },
      { type: 'view', view: view({ state: 'connecting', version: 3 }) },
      { type: 'event', event: ev(9, 'active', 'terminated', { event: 'end', reason: 'user' }, 'other') },
    ]);
    expect(s.state).toBe('active');
    expect(s.version).toBe(4);
  });

  it('keeps the reason of an end or a failure', () => {
    const ended = run([
      { type: 'view', view: view({ state: 'active', version: 4 }) },
      { type: 'event', event: ev(5, 'active', 'terminated', { event: 'end', reason: 'idle_timeout' }) },
      { type: 'event', event: ev(6, 'terminated', 'cleanup', { event: 'cleaned_up' }) },
    ]);
    expect(ended.state).toBe('cleanup');
    expect(ended.reason).toBe('idle_timeout');
    expect(finished(ended.state)).toBe(true);
    const failed = run([
      { type: 'view', view: view({ state: 'initializing', version: 2 }) },
      { type: 'event', event: ev(3, 'initializing', 'error', { event: 'fail', reason: 'game exited with 1' }) },
    ]);
    expect(failed.state).toBe('error');
    expect(endMessage(failed.state, failed.reason).what).toContain('game exited with 1');
    expect(endMessage('terminated', 'connect_timeout').todo).toMatch(/WebRTC/);
  });

  it('records a failure to read the session', () => {
    const s = lifecycleReducer(initialLifecycle, {
      type: 'failed',
      error: new ApiError(404, { type: 'https://playcast.dev/problems/no-such-session', title: 'Not Found' }),
    });
    expect(s.error?.kind).toBe('no-such-session');
    expect(s.error?.advice).toMatch(/library/);
  });
});
