import { describe, expect, it } from 'vitest';
import { Backoff, BACKOFF_MAX_MS, BACKOFF_MIN_MS, STABLE_MS } from './backoff';

describe('reconnect backoff', () => {
  it('doubles from the minimum up to the maximum', () => {
    const b = new Backoff();
    const delays = Array.from({ length: 8 }, () => b.delay());
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    expect(delays[0]).toBe(BACKOFF_MIN_MS);
    expect(Math.max(...delays)).toBe(BACKOFF_MAX_MS);
  });

  it('starts over after a connection that stayed up long enough', () => {
    const b = new Backoff();
    b.delay();
    b.delay();
    expect(b.delay(STABLE_MS - 1)).toBe(2000);
    expect(b.delay(STABLE_MS)).toBe(500);
    expect(b.delay()).toBe(1000);
  });

  it('starts over on reset (a move to another node)', () => {
    const b = new Backoff(100, 400, 1000);
    b.delay();
    b.delay();
    b.reset();
    expect(b.delay()).toBe(100);
  });
});
