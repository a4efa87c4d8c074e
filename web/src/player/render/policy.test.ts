import { describe, expect, it } from 'vitest';
import { DecodeGate, KEY_REQUEST_INTERVAL_MS, MAX_DECODE_QUEUE } from './policy';

const delta = (now: number, queueSize = 0) => ({ key: false, queueSize, now });
const key = (now: number, queueSize = 0) => ({ key: true, queueSize, now });

describe('DecodeGate', () => {
  it('drops deltas until the first key frame and asks for one', () => {
    const g = new DecodeGate();
    expect(g.next(delta(0))).toEqual({ decode: false, requestKey: true, reason: 'waiting-for-key' });
    expect(g.next(delta(10)).requestKey).toBe(false);
    expect(g.next(key(20)).decode).toBe(true);
    expect(g.next(delta(30))).toEqual({ decode: true, requestKey: false });
  });

  it('asks again while no key frame comes', () => {
    const g = new DecodeGate();
    g.next(delta(0));
    expect(g.next(delta(KEY_REQUEST_INTERVAL_MS - 1)).requestKey).toBe(false);
    expect(g.next(delta(KEY_REQUEST_INTERVAL_MS)).requestKey).toBe(true);
    expect(g.next(delta(KEY_REQUEST_INTERVAL_MS + 1)).requestKey).toBe(false);
  });

  it('skips to the next key frame when the decoder falls behind', () => {
    const g = new DecodeGate();
    g.next(key(0));
    expect(g.next(delta(1, MAX_DECODE_QUEUE)).decode).toBe(true);
    expect(g.next(delta(2, MAX_DECODE_QUEUE + 1))).toEqual({ decode: false, requestKey: true, reason: 'queue-full' });
    // Once behind, even an empty queue waits: the frames in between are gone.
    expect(g.next(delta(3, 0)).decode).toBe(false);
    expect(g.waitingForKey).toBe(true);
    expect(g.next(key(4, 0)).decode).toBe(true);
    expect(g.waitingForKey).toBe(false);
  });

  it('waits for a key frame after a reset (reconfigure or decoder error)', () => {
    const g = new DecodeGate();
    g.next(key(0));
    g.reset();
    g.requested(5);
    expect(g.next(delta(6))).toEqual({ decode: false, requestKey: false, reason: 'waiting-for-key' });
    expect(g.next(key(7)).decode).toBe(true);
  });
});
