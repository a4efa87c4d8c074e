import { describe, expect, it } from 'vitest';
import { CELL, CELLS, STRIP_WIDTH, decodeStrip, latencyMs, percentile } from './stamp';

// The strip as the server draws it: cell 0 white, cell 1 black, then bits 31..0.
function strip(value: number, white = 235, black = 16): Uint8ClampedArray {
  const rgba = new Uint8ClampedArray(STRIP_WIDTH * CELL * 4);
  for (let c = 0; c < CELLS; c++) {
    const on = c === 0 || (c >= 2 && Math.floor(value / 2 ** (33 - c)) % 2 === 1);
    const level = on ? white : black;
    for (let y = 0; y < CELL; y++) {
      for (let x = c * CELL; x < (c + 1) * CELL; x++) {
        const i = (y * STRIP_WIDTH + x) * 4;
        rgba.set([level, level, level, 255], i);
      }
    }
  }
  return rgba;
}

describe('stamp strip', () => {
  it('reads back every bit, including the top one', () => {
    for (const v of [0, 1, 0x80000000, 0xdeadbeef, 2 ** 32 - 1]) expect(decodeStrip(strip(v))).toBe(v);
  });
  it('refuses a strip without contrast', () => {
    expect(decodeStrip(strip(12345, 100, 60))).toBeNull();
  });
  it('takes latency modulo 2^32 ticks of 100 µs', () => {
    const wall = 1_700_000_000_123.4;
    const stamp = Math.floor((wall - 42.5) * 10) % 2 ** 32;
    expect(latencyMs(stamp, wall)).toBeCloseTo(42.5, 1);
  });
  it('takes nearest-rank percentiles', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 99)).toBe(4);
    expect(percentile([], 50)).toBeNull();
  });
});
