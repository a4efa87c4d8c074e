// Input-to-photon latency against the latency probe game (`playcast-probe`), which changes
// the colour of its picture's top three quarters on every key press. The page presses a
// key, then watches every presented frame (source.ts: the <video> element's frame
// callbacks, or the canvas renderer's) for the colour to change; the latency is the
// frame's expected display time minus the press.
//
// Each press is also kept in wall-clock time (`sentAtMs`), so the probe's own log of
// when the key reached it gives the one-way browser-to-game latency; `sampleSentAtMs[i]`
// is the wall-clock time of the press that `samples[i]` measured (to tell a game's
// phases apart).

import { sourceOf, type FrameSource } from './source';
import { percentile } from './stamp';

const KEY_SPACE = 57;
const SIDE = 8; // the sampled square, in canvas pixels
const TIMEOUT_MS = 1000; // a press with no change in this long is lost
const GAP_MIN_MS = 120; // pause between a change and the next press, randomised so
const GAP_SPREAD_MS = 120; // presses do not lock to the capture or display phase

export interface PhotonSummary {
  count: number;
  lost: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface PhotonProbe {
  samples: number[];
  sentAtMs: number[];
  sampleSentAtMs: number[];
  lost: number;
  presses: number;
  done: boolean;
  /** Presses no more once the outstanding press (if any) is seen or lost; then `done`. */
  stop(): void;
  summary(): PhotonSummary;
}

declare global {
  interface Window {
    photon?: PhotonProbe;
  }
}

/** Sends one key event (evdev code); false when input is not ready. */
export type SendKey = (code: number, down: boolean) => boolean;

// Date.now() has whole milliseconds; the largest of many offsets taken at different
// sub-millisecond phases is the true offset to within the timer's resolution.
function wallClockOffset(): number {
  let best = -Infinity;
  const end = performance.now() + 30;
  while (performance.now() < end) best = Math.max(best, Date.now() - performance.now());
  return best;
}

export function startPhotonProbe(
  target: HTMLVideoElement | HTMLCanvasElement | FrameSource,
  sendKey: SendKey,
  presses = Infinity,
): PhotonProbe {
  const source = sourceOf(target);
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = SIDE;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('photon: no 2D context');
  const offset = wallClockOffset();
  let stopping = false;
  const probe: PhotonProbe = {
    samples: [],
    sentAtMs: [],
    sampleSentAtMs: [],
    lost: 0,
    presses: 0,
    done: false,
    stop() {
      stopping = true;
    },
    summary() {
      const sorted = probe.samples.slice().sort((a, b) => a - b);
      return {
        count: sorted.length,
        lost: probe.lost,
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        p99: percentile(sorted, 99),
      };
    },
  };
  window.photon = probe;

  let pressedAt: number | null = null; // performance time of the outstanding press
  let colourBefore: number | null = null;
  let lastColour: number | null = null;
  let nextPressAt = performance.now() + 3000; // let the encoder and receiver settle first

  const colourNow = () => {
    // The middle of the top half: inside the colour field, away from the scrolling band.
    const w = source.width();
    const h = source.height();
    ctx.drawImage(source.image, w / 2 - SIDE * 4, h / 4 - SIDE * 4, SIDE * 8, SIDE * 8, 0, 0, SIDE, SIDE);
    const d = ctx.getImageData(SIDE / 2, SIDE / 2, 1, 1).data;
    // Saturated probe colours: each channel is either high or low.
    return (d[0] > 128 ? 4 : 0) + (d[1] > 128 ? 2 : 0) + (d[2] > 128 ? 1 : 0);
  };

  const stopListening = source.onPresented(({ now, expectedDisplayTime }) => {
    if (probe.done) {
      stopListening?.();
      return;
    }
    if (!source.width()) return;
    lastColour = colourNow();
    if (pressedAt !== null && lastColour !== colourBefore) {
      probe.samples.push((expectedDisplayTime ?? now) - pressedAt);
      probe.sampleSentAtMs.push(offset + pressedAt);
      pressedAt = null;
      nextPressAt = performance.now() + GAP_MIN_MS + Math.random() * GAP_SPREAD_MS;
    }
  });
  if (!stopListening) console.warn('photon: this browser does not report presented frames; no samples');

  const timer = setInterval(() => {
    const t = performance.now();
    if (pressedAt !== null && t - pressedAt > TIMEOUT_MS) {
      probe.lost++;
      pressedAt = null;
      nextPressAt = t + GAP_MIN_MS;
    }
    if (pressedAt !== null || t < nextPressAt || lastColour === null) return;
    if (probe.presses >= presses || stopping) {
      probe.done = true;
      stopListening?.();
      clearInterval(timer);
      return;
    }
    colourBefore = lastColour;
    const at = performance.now();
    if (!sendKey(KEY_SPACE, true)) return;
    sendKey(KEY_SPACE, false);
    pressedAt = at;
    probe.presses++;
    probe.sentAtMs.push(offset + at);
  }, 1);
  return probe;
}
