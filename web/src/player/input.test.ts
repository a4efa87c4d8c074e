import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createInput } from './input';
import { padButtonMessage, padConnectMessage } from './protocol';

// Gamepads through the Gamepad API, against fake data channels and a scripted navigator.getGamepads.
class FakeChannel {
  binaryType = '';
  readyState = 'open';
  sent: ArrayBuffer[] = [];
  onmessage: unknown = null;
  onopen: unknown = null;
  constructor(public label: string) {}
  send(data: ArrayBuffer) {
    this.sent.push(data);
  }
}

const bytes = (b: ArrayBuffer) => Array.from(new Uint8Array(b));
const has = (ch: FakeChannel, message: ArrayBuffer) => ch.sent.some((m) => bytes(m).join() === bytes(message).join());

describe('gamepads', () => {
  let pads: unknown[];
  beforeEach(() => {
    vi.useFakeTimers();
    pads = [{ connected: true, buttons: [{ pressed: true, value: 1 }], axes: [0, 0] }];
    Object.defineProperty(navigator, 'getGamepads', { configurable: true, value: () => pads });
  });
  afterEach(() => {
    vi.useRealTimers();
    delete (navigator as unknown as Record<string, unknown>).getGamepads;
  });

  function setup(gamepads?: boolean, keyTarget = new EventTarget()) {
    const surface = document.createElement('div');
    const input = createInput({ surface, pictureSize: () => [0, 0], keyTarget, gamepads });
    const pc = new EventTarget();
    input.attach(pc as unknown as RTCPeerConnection);
    const reliable = new FakeChannel('input');
    const fast = new FakeChannel('input-fast');
    for (const channel of [reliable, fast]) pc.dispatchEvent(Object.assign(new Event('datachannel'), { channel }));
    return { input, reliable, keyTarget };
  }

  it('sends a connected pad and its pressed button by default', () => {
    const { input, reliable } = setup();
    vi.advanceTimersByTime(600);
    expect(has(reliable, padConnectMessage(0, true))).toBe(true);
    expect(has(reliable, padButtonMessage(0, 0, 1))).toBe(true);
    input.dispose();
  });

  it('sends nothing of a pad when gamepads are off', () => {
    const { input, reliable } = setup(false);
    vi.advanceTimersByTime(2000);
    expect(reliable.sent).toEqual([]);
    input.dispose();
  });

  it('unplugs the pads in the game when switched off, and plugs them back when switched on', () => {
    const { input, reliable } = setup(true);
    vi.advanceTimersByTime(600);
    expect(has(reliable, padConnectMessage(0, true))).toBe(true);

    input.setGamepads(false);
    expect(bytes(reliable.sent[reliable.sent.length - 1])).toEqual(bytes(padConnectMessage(0, false)));
    const count = reliable.sent.length;
    vi.advanceTimersByTime(2000);
    expect(reliable.sent.length).toBe(count);

    input.setGamepads(true);
    vi.advanceTimersByTime(600);
    expect(reliable.sent.slice(count).some((m) => bytes(m).join() === bytes(padConnectMessage(0, true)).join())).toBe(true);
    input.dispose();
  });

  it('stops listening once disposed', () => {
    const { input, reliable, keyTarget } = setup(false);
    keyTarget.dispatchEvent(new KeyboardEvent('keydown', { code: 'KeyA' }));
    expect(reliable.sent).toHaveLength(1);
    input.dispose();
    keyTarget.dispatchEvent(new KeyboardEvent('keyup', { code: 'KeyA' }));
    dispatchEvent(new Event('gamepadconnected'));
    vi.advanceTimersByTime(2000);
    expect(reliable.sent).toHaveLength(1);
  });
});
