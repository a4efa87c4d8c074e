// Reconnect delays: doubling from `min` up to `max`, and back to `min` once a
// connection stayed up for `stableMs` (a long-lived session earns a fresh start).

export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 10_000;
export const STABLE_MS = 10_000;

export class Backoff {
  private next: number;

  constructor(
    private readonly min = BACKOFF_MIN_MS,
    private readonly max = BACKOFF_MAX_MS,
    private readonly stableMs = STABLE_MS,
  ) {
    this.next = min;
  }

  /** The delay before the next attempt; `upForMs` is how long the last one was live (0: never). */
  delay(upForMs = 0): number {
    if (upForMs >= this.stableMs) this.next = this.min;
    const delay = this.next;
    this.next = Math.min(this.next * 2, this.max);
    return delay;
  }

  reset(): void {
    this.next = this.min;
  }
}
