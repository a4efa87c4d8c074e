import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PlayerEvents, PlayerHandle, PlayerOptions } from './player/types';

// The element's own logic, with the player (WebRTC, sockets) replaced by a recording fake.
const made: { container: HTMLElement; options: PlayerOptions; player: FakePlayer }[] = [];

class FakePlayer {
  state = 'connecting';
  closed = false;
  overlay: boolean[] = [];
  listeners = new Map<string, ((e: unknown) => void)[]>();
  on<K extends keyof PlayerEvents>(type: K, fn: (e: PlayerEvents[K]) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn as (e: unknown) => void]);
    return () => {};
  }
  emit(type: keyof PlayerEvents, e: unknown) {
    for (const fn of this.listeners.get(type) ?? []) fn(e);
  }
  setOverlay(v: boolean) {
    this.overlay.push(v);
  }
  gamepads: boolean[] = [];
  setGamepads(v: boolean) {
    this.gamepads.push(v);
  }
  unmute = vi.fn();
  reconnect = vi.fn();
  close() {
    this.closed = true;
  }
}

vi.mock('./player/player', () => ({
  createPlayer: (container: HTMLElement, options: PlayerOptions) => {
    const player = new FakePlayer();
    made.push({ container, options, player });
    return player as unknown as PlayerHandle;
  },
}));

const { PlaycastPlayerElement, parseParams } = await import('./element');
const flush = () => new Promise((r) => setTimeout(r, 0));

describe('<playcast-player>', () => {
  beforeEach(() => {
    made.length = 0;
  });
  afterEach(() => {
    document.body.replaceChildren();
  });

  it('is defined once, with its player inside a shadow root', async () => {
    expect(customElements.get('playcast-player')).toBe(PlaycastPlayerElement);
    const el = document.createElement('playcast-player');
    el.setAttribute('session', 's1');
    el.setAttribute('token', 'tok');
    el.setAttribute('overlay', '');
    document.body.append(el);
    await flush();
    expect(made).toHaveLength(1);
    expect(el.shadowRoot?.contains(made[0].container)).toBe(true);
    // Nothing of the player's styles reaches the page.
    expect(document.head.querySelector('style')).toBeNull();
    const o = made[0].options;
    expect(o).toMatchObject({ session: 's1', overlay: true, render: 'video', signInFirst: true, keyboard: 'container' });
    expect(await o.token()).toBe('tok');
  });

  it('starts one stream for attributes set together, and a new one when the stream changes', async () => {
    const el = document.createElement('playcast-player');
    document.body.append(el);
    el.pipeline = 'test-pattern';
    el.params = 'width=640&height=360&fast=true&name=x';
    el.render = 'canvas';
    el.setAttribute('signed-in', '');
    await flush();
    expect(made).toHaveLength(1);
    expect(made[0].options).toMatchObject({
      pipeline: 'test-pattern',
      params: { width: 640, height: 360, fast: true, name: 'x' },
      render: 'canvas',
      signInFirst: false,
    });
    el.session = 'abc';
    await flush();
    expect(made).toHaveLength(2);
    expect(made[0].player.closed).toBe(true);
    expect(made[1].options.session).toBe('abc');
  });

  it('applies overlay and token to the running stream without a restart', async () => {
    const el = document.createElement('playcast-player');
    el.token = 'one';
    document.body.append(el);
    await flush();
    el.overlay = true;
    el.setOverlay(false);
    el.token = 'two';
    await flush();
    expect(made).toHaveLength(1);
    expect(made[0].player.overlay).toEqual([true, false]);
    expect(await made[0].options.token()).toBe('two');
  });

  it('starts without gamepads under no-gamepads, and switches them on the running stream', async () => {
    const el = document.createElement('playcast-player');
    el.token = 'one';
    el.setAttribute('no-gamepads', '');
    document.body.append(el);
    await flush();
    expect(made[0].options.gamepads).toBe(false);
    el.removeAttribute('no-gamepads');
    el.setAttribute('no-gamepads', '');
    await flush();
    expect(made).toHaveLength(1);
    expect(made[0].player.gamepads).toEqual([true, false]);
  });

  it('asks the token provider first, and explains a missing token', async () => {
    const el = document.createElement('playcast-player');
    document.body.append(el);
    await flush();
    await expect(made[0].options.token()).rejects.toThrow(/token attribute or the tokenProvider/);
    let n = 0;
    el.tokenProvider = async () => `fresh-${++n}`;
    el.token = 'stale';
    expect(await made[0].options.token()).toBe('fresh-1');
    expect(await made[0].options.token()).toBe('fresh-2');
  });

  it('keeps properties a page set before the element was defined', async () => {
    const el = document.createElement('playcast-late') as HTMLElement & Record<string, unknown>;
    el.tokenProvider = async () => 'early';
    el.session = 's-early';
    document.body.append(el);
    customElements.define('playcast-late', class extends PlaycastPlayerElement {});
    await flush();
    expect(el.getAttribute('session')).toBe('s-early');
    expect(made).toHaveLength(1);
    expect(made[0].options.session).toBe('s-early');
    expect(await made[0].options.token()).toBe('early');
  });

  it('turns the player events into DOM events that leave the shadow root', async () => {
    const el = document.createElement('playcast-player');
    el.token = 't';
    document.body.append(el);
    await flush();
    const seen: [string, unknown, boolean][] = [];
    for (const type of ['statechange', 'playererror', 'stats', 'ended']) {
      document.body.addEventListener(type, (e) => seen.push([type, (e as CustomEvent).detail, e.composed]));
    }
    const p = made[0].player;
    p.emit('state', 'live');
    p.emit('error', { code: 'capacity', message: 'full' });
    const stats = { fps: 60, framesDecoded: 10 };
    p.emit('stats', stats);
    p.emit('ended', { reason: 'closed' });
    expect(seen).toEqual([
      ['statechange', { state: 'live' }, true],
      ['playererror', { code: 'capacity', message: 'full' }, true],
      ['stats', stats, true],
      ['ended', { reason: 'closed' }, true],
    ]);
    expect(el.stats).toBe(stats);
  });

  it('closes its player when removed, and starts again when added back', async () => {
    const el = document.createElement('playcast-player');
    document.body.append(el);
    await flush();
    el.remove();
    expect(made[0].player.closed).toBe(true);
    expect(el.state).toBe('idle');
    document.body.append(el);
    await flush();
    expect(made).toHaveLength(2);
    el.close();
    expect(made[1].player.closed).toBe(true);
    el.reconnect();
    await flush();
    expect(made).toHaveLength(3);
  });

  it('types pipeline parameters as the page query does', () => {
    expect(parseParams(null)).toBeUndefined();
    expect(parseParams('bitrate=2000&pattern=ball&audio=false')).toEqual({ bitrate: 2000, pattern: 'ball', audio: false });
  });
});
