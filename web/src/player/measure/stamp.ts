// Glass-to-glass latency measurement. The server burns the capture time into a strip of
// black/white cells at the top-left of every raw frame; we read it back at the moment the
// browser presents the frame and compare it with the wall clock.
//
// Strip layout (source pixels): 34 cells of 16x16 starting at (0,0). Cell 0 is white and
// cell 1 black, so every frame carries its own threshold (encoders shift levels). Cells
// 2..33 are bits 31..0 of the capture time in 100 µs units since the Unix epoch, mod 2^32.
//
// The picture is read from the <video> element or from the canvas the canvas renderer
// draws (source.ts), whichever path the page renders with.

import { sourceOf, type FrameSource } from './source';

export const CELL = 16;
export const CELLS = 34;
export const STRIP_WIDTH = CELL * CELLS; // 544
const TICKS_PER_MS = 10; // stamp unit is 100 µs
const TWO_32 = 2 ** 32;
// White must beat black by this many luma levels, otherwise the frame is not a stamped
// frame (or is too damaged) and any "decoded" value would be noise.
const MIN_CONTRAST = 64;
const MIN_LATENCY_MS = -1000;
const MAX_LATENCY_MS = 10000;

export interface StampSummary {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  min: number | null;
  max: number | null;
  presentedFps: number;
}

export interface StampRecorder {
  samples: number[];
  /** Wall-clock display time (ms since the epoch) of each sample, to tell a run's phases apart. */
  sampleAtMs: number[];
  presented: number;
  undecodable: number;
  missed: number;
  repeated: number;
  reset(): void;
  summary(): StampSummary;
}

declare global {
  interface Window {
    stampRecorder?: StampRecorder;
  }
}

type Pixels = ArrayLike<number>;

/** The 32-bit stamp from RGBA pixels of the strip, or null if calibration fails. */
export function decodeStrip(rgba: Pixels, width = STRIP_WIDTH): number | null {
  const luma = new Array<number>(CELLS);
  for (let c = 0; c < CELLS; c++) {
    // Only the centre 4x4 pixels: cell edges are smeared by chroma subsampling and the codec.
    let sum = 0;
    for (let y = 6; y < 10; y++) {
      for (let x = c * CELL + 6; x < c * CELL + 10; x++) {
        const i = (y * width + x) * 4;
        sum += 0.2126 * rgba[i] + 0.7152 * rgba[i + 1] + 0.0722 * rgba[i + 2];
      }
    }
    luma[c] = sum / 16;
  }
  const white = luma[0];
  const black = luma[1];
  if (white - black < MIN_CONTRAST) return null;
  const threshold = (white + black) / 2;
  let value = 0;
  // Multiplication rather than << keeps the value unsigned.
  for (let c = 2; c < CELLS; c++) value = value * 2 + (luma[c] > threshold ? 1 : 0);
  return value;
}

/**
 * Latency in ms between a stamp and a wall-clock time (ms since the epoch). Both sides wrap
 * at 2^32 ticks (~5 days), so the difference is taken mod 2^32 and read as signed.
 */
export function latencyMs(stamp: number, wallClockMs: number): number {
  const nowTicks = Math.floor(wallClockMs * TICKS_PER_MS) % TWO_32;
  return ((nowTicks - stamp) | 0) / TICKS_PER_MS;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

type Context2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

function stripContext(): Context2D {
  const canvas: HTMLCanvasElement | OffscreenCanvas =
    typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(STRIP_WIDTH, CELL) : document.createElement('canvas');
  canvas.width = STRIP_WIDTH;
  canvas.height = CELL;
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as Context2D | null;
  if (!ctx) throw new Error('stamp: no 2D context');
  return ctx;
}

/**
 * Starts recording on the element the page renders into and exposes the recorder as
 * window.stampRecorder. One recorder per page: a second call returns the existing one.
 */
export function startStampRecorder(target: HTMLVideoElement | HTMLCanvasElement | FrameSource): StampRecorder {
  if (window.stampRecorder) return window.stampRecorder;
  const source = sourceOf(target);

  const ctx = stripContext();
  let since = performance.now();
  let lastPresentedFrames: number | null = null;
  // The stamp of the previous presented frame, kept across resets: a frame with the same
  // stamp shows a picture already shown (a still game's screen captured again), so only its
  // first presentation is a glass-to-glass sample.
  let lastStamp: number | null = null;

  const rec: StampRecorder = {
    samples: [],
    sampleAtMs: [],
    presented: 0,
    undecodable: 0,
    missed: 0,
    repeated: 0,
    reset() {
      rec.samples.length = 0;
      rec.sampleAtMs.length = 0;
      rec.presented = 0;
      rec.undecodable = 0;
      rec.missed = 0;
      rec.repeated = 0;
      since = performance.now();
      lastPresentedFrames = null;
    },
    summary() {
      const sorted = rec.samples.slice().sort((a, b) => a - b);
      const seconds = (performance.now() - since) / 1000;
      return {
        count: sorted.length,
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        p99: percentile(sorted, 99),
        min: sorted.length ? sorted[0] : null,
        max: sorted.length ? sorted[sorted.length - 1] : null,
        presentedFps: seconds > 0 ? rec.presented / seconds : 0,
      };
    },
  };
  window.stampRecorder = rec;

  const listening = source.onPresented(({ now, expectedDisplayTime, presentedFrames: pf }) => {
    rec.presented++;

    // presentedFrames restarts when the element gets a new source; only count forward gaps.
    if (lastPresentedFrames !== null && pf > lastPresentedFrames + 1) {
      rec.missed += pf - lastPresentedFrames - 1;
    }
    lastPresentedFrames = pf;

    if (source.width() < STRIP_WIDTH || source.height() < CELL) {
      rec.undecodable++;
      return;
    }
    // The strip is in source pixels; drawImage's source rect is in the picture's natural size.
    ctx.drawImage(source.image, 0, 0, STRIP_WIDTH, CELL, 0, 0, STRIP_WIDTH, CELL);
    const stamp = decodeStrip(ctx.getImageData(0, 0, STRIP_WIDTH, CELL).data);
    if (stamp !== null && stamp === lastStamp) {
      rec.repeated++;
      return;
    }
    if (stamp !== null) lastStamp = stamp;
    // expectedDisplayTime is when the frame reaches the screen, which is what "glass" means.
    // performance.timeOrigin can sit tens of ms away from the system clock (it is
    // fixed once per process), while the server stamps with the system clock, so
    // anchor the performance timeline to Date.now() at this very moment instead.
    const wallOffset = Date.now() - performance.now();
    const shownAt = wallOffset + (expectedDisplayTime ?? now);
    const ms = stamp === null ? NaN : latencyMs(stamp, shownAt);
    if (!(ms >= MIN_LATENCY_MS && ms <= MAX_LATENCY_MS)) {
      rec.undecodable++;
      return;
    }
    rec.samples.push(ms);
    rec.sampleAtMs.push(shownAt);
  });
  if (!listening) console.warn('stamp: this browser does not report presented frames; no latency samples');
  return rec;
}
