// When the canvas renderer decodes a frame and when it drops one. A delta
// frame is only worth decoding on top of everything before it: after a
// (re)configure, a decoder error or a backed-up decoder, every frame up to the next key frame is dropped, and a key frame
// is asked for (again each KEY_REQUEST_INTERVAL_MS while none comes).

/** More frames than this waiting in the decoder means it cannot keep up: showing them late is worse than skipping. */
export const MAX_DECODE_QUEUE = 2;
export const KEY_REQUEST_INTERVAL_MS = 1000;

export interface FrameFacts {
  /** The frame starts a decodable sequence (IDR with its parameter sets). */
  key: boolean;
  /** `VideoDecoder.decodeQueueSize` now. */
  queueSize: number;
  /** Milliseconds on any monotonic clock. */
  now: number;
}

export interface Verdict {
  decode: boolean;
  /** Ask the sender for a key frame now. */
  requestKey: boolean;
  /** Why a frame was dropped, for the stats. */
  reason?: 'waiting-for-key' | 'queue-full';
}

export class DecodeGate {
  private waiting = true;
  private lastRequest = -Infinity;

  /** Whether frames are being dropped until a key frame. */
  get waitingForKey(): boolean {
    return this.waiting;
  }

  /** A (re)configure or a decoder error: nothing decodes until a key frame. */
  reset(): void {
    this.waiting = true;
  }

  next(f: FrameFacts): Verdict {
    if (f.key) {
      this.waiting = false;
      return { decode: true, requestKey: false };
    }
    if (!this.waiting && f.queueSize <= MAX_DECODE_QUEUE) return { decode: true, requestKey: false };
    const entering = !this.waiting;
    const reason = entering ? 'queue-full' : 'waiting-for-key';
    this.waiting = true;
    const requestKey = entering || f.now - this.lastRequest >= KEY_REQUEST_INTERVAL_MS;
    if (requestKey) this.lastRequest = f.now;
    return { decode: false, requestKey, reason };
  }

  /** A key frame was asked for outside `next` (a decoder error). */
  requested(now: number): void {
    this.lastRequest = now;
  }
}
