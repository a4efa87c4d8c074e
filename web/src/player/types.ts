// The player's public interface: what the app's play page, the direct-play
// page (`/?session=…`, `/?pipeline=…`) and <playcast-player> build on.

import type { PlayerElements } from './dom';
import type { InputApi } from './input';
import type { ServerQuality } from './overlay';
import type { CanvasRenderer } from './render/canvas';
import type { ServerError, Welcome } from './signaling';
import type { DetailedStats } from './stats';

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
  /** The service's origin (`https://play.example.com`); empty or absent: this page's. */
  server?: string;
  /**
   * Records the sign-in the signaling socket needs (`POST /api/v1/login`). Called when the
   * server answers `unauthorized` before a stream, and first when `signInFirst`. Default:
   * `POST /api/v1/login` with `token()`.
   */
  signIn?: () => Promise<void>;
  /** Sign in before the first connection (a token nobody has signed in with yet). */
  signInFirst?: boolean;
  /** Where keys are listened for: the whole window (default), or the player's container only. */
  keyboard?: 'window' | 'container';
  /** Show the player's own buttons (default true). */
  controls?: boolean;
  /** Rows the host adds at the end of the overlay. */
  overlayExtra?: () => [string, string][];
  /** Send connected gamepads to the game (default true; `setGamepads` changes it later). */
  gamepads?: boolean;
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

/** What the player knows about its stream; the direct-play page shows it as `window.playcast`. */
export interface PlayerInfo {
  readonly welcome: Welcome | null;
  readonly stats: DetailedStats | null;
  readonly reconnects: number;
  readonly lastError: ServerError | PlayerError | null;
  readonly server: ServerQuality | null;
  /** The node's signaling URL after a `moved` answer. */
  readonly movedTo: string | null;
  /** Why the stream ended, once it has. */
  readonly endReason: string;
}

export interface PlayerHandle {
  readonly state: PlayerState;
  readonly info: PlayerInfo;
  readonly input: InputApi;
  readonly elements: PlayerElements;
  /** The canvas renderer of the current stream (canvas render path only). */
  readonly renderer: CanvasRenderer | null;
  readonly overlayVisible: boolean;
  /** The receiver's raw statistics (inbound RTP, candidate pairs, candidates) as plain objects. */
  rawStats(): Promise<Record<string, unknown>[]>;
  /** Connect again now (after `ended`, or to skip a reconnect's wait). */
  reconnect(): void;
  on<K extends keyof PlayerEvents>(type: K, listener: (event: PlayerEvents[K]) => void): () => void;
  setOverlay(visible: boolean): void;
  unmute(): void;
  lockPointer(): void;
  /** Starts or stops sending gamepads; stopping unplugs them in the game. */
  setGamepads(on: boolean): void;
  fullscreen(): Promise<void>;
  pasteToGame(text: string): void;
  copyFromGame(): Promise<string>;
  close(): void;
}
