// What the canvas renderer's page side and its worker tell each other.

import type { DecodeStats } from './decoder';

/** RTCRtpScriptTransform options. */
export interface WorkerOptions {
  /** The codec string the SDP names (the stream's SPS overrides it). */
  codec: string | null;
}

export type ToPage =
  | { type: 'frame'; frame: VideoFrame; decodeMs: number; stats: DecodeStats }
  | { type: 'stats'; stats: DecodeStats };
