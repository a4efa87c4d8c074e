// The player's public interface: what the app's play page, the direct-play
// page (`/?session=…`, `/?pipeline=…`) and <playcast-player> build on.

/** Where the stream is, as the player tells it. */
export type PlayerState = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'ended' | 'error';

/** How decoded pictures reach the screen. */
export type RenderPath = 'video' | 'canvas';

export interface PlayerOptions {
  /** The game session to join. Without it, `pipeline` and `params` make a stream of their own. */
  session?: string;
  pipeline?: string;
  params?: Record<string, string | number | boolean>;
  /** A currently valid API token; called before every (re)connection. */
  token: () => Promise<string>;
  /** Show the stats overlay from the start (F2 toggles it). */
  overlay?: boolean;
  render?: RenderPath;
}

export interface PlayerStats {
  bitrateKbps: number | null;
  fps: number | null;
  framesDecoded: number;
  rttMs: number | null;
  lossPercent: number | null;
  inputRttMs: number | null;
  width: number | null;
  height: number | null;
}

export interface PlayerError {
  /** The signaling error code (`docs/SIGNALING.md`) or a client-side one. */
  code: string;
  message: string;
}

export interface PlayerEvents {
  state: PlayerState;
  stats: PlayerStats;
  error: PlayerError;
  /** The stream ended for good (the session ended, or `close()`). */
  ended: { reason: string };
}

export interface PlayerHandle {
  readonly state: PlayerState;
  on<K extends keyof PlayerEvents>(type: K, listener: (event: PlayerEvents[K]) => void): () => void;
  setOverlay(visible: boolean): void;
  unmute(): void;
  lockPointer(): void;
  fullscreen(): Promise<void>;
  pasteToGame(text: string): void;
  copyFromGame(): Promise<string>;
  close(): void;
}
