// Short-lived API tokens kept fresh: a new one is fetched before the current
// one expires (a timer), and `token()` never hands out one about to expire.

export interface Minted {
  token: string;
  /** Expiry, in milliseconds since the epoch. */
  expiresAt: number;
}

/** The margin before expiry at which a token is replaced: 30 s, less for very short tokens. */
export function refreshMargin(lifetimeMs: number): number {
  return Math.min(30_000, Math.max(0, lifetimeMs) / 4);
}

/** A JWT's `exp` in milliseconds, or `fallback` when it cannot be read. */
export function jwtExpiry(token: string, fallback: number): number {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const exp = JSON.parse(atob(part)).exp;
    return typeof exp === 'number' ? exp * 1000 : fallback;
  } catch {
    return fallback;
  }
}

export class TokenKeeper {
  private current: Minted | null = null;
  private margin = 0;
  private inflight: Promise<string> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly mint: () => Promise<Minted>,
    private readonly onRefreshError: (e: unknown) => void = () => {},
  ) {}

  /** A token valid for at least the refresh margin. */
  token(): Promise<string> {
    const held = this.current;
    if (held && held.expiresAt - Date.now() > this.margin) return Promise.resolve(held.token);
    // Within the margin: a failed refresh still leaves a token that has not expired.
    return this.refresh().catch((e) => {
      if (held && held.expiresAt - Date.now() > 1_000) return held.token;
      throw e;
    });
  }

  /** Fetches a new token now (one fetch at a time) and schedules the next. */
  refresh(): Promise<string> {
    if (this.inflight) return this.inflight;
    this.inflight = this.mint()
      .then((m) => {
        this.current = m;
        this.margin = refreshMargin(m.expiresAt - Date.now());
        this.schedule();
        return m.token;
      })
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.current = null;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped || !this.current) return;
    const inMs = Math.max(1_000, this.current.expiresAt - Date.now() - this.margin);
    this.timer = setTimeout(() => {
      this.refresh().catch((e) => {
        this.onRefreshError(e);
        // Try again shortly; a token still valid keeps serving meanwhile.
        if (!this.stopped) this.timer = setTimeout(() => this.refresh().catch(this.onRefreshError), 5_000);
      });
    }, inMs);
  }
}
