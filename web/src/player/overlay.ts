// The stats overlay's and status line's text.
import type { DetailedStats } from './stats';
import type { PlayerState } from './types';

/** The server's side of the stream (signaling `quality`, every 2 s). */
export interface ServerQuality {
  sent_bps?: number | null;
  estimate_bps?: number | null;
  ladder_step?: number | null;
  fps?: number | null;
  encode_ms_mean?: number | null;
  [key: string]: unknown;
}

export interface OverlayInput {
  status: string;
  connectionState: string | null;
  encoder: string | null;
  stats: DetailedStats | null;
  inputRttMs: number | null;
  server: ServerQuality | null;
  reconnects: number;
  lastError?: { code: string; message: string } | null;
  /** Extra rows a host adds (the render path, for one). */
  extra?: [string, string][];
}

export function statusText(state: PlayerState, reconnectInMs: number, endReason: string): string {
  switch (state) {
    case 'connecting':
      return 'connecting…';
    case 'reconnecting':
      return `reconnecting in ${Math.max(0, Math.ceil(reconnectInMs / 1000))} s`;
    case 'ended':
      return `ended: ${endReason}`;
    case 'error':
      return `error: ${endReason}`;
    default:
      return state;
  }
}

export function formatBitrate(kbps: number | null | undefined): string {
  if (kbps === null || kbps === undefined) return '–';
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbit/s` : `${kbps} kbit/s`;
}

const show = (x: unknown, unit = ''): string => (x === null || x === undefined ? '–' : `${x}${unit}`);
const fixed = (x: number | null | undefined, digits: number): string | null =>
  x === null || x === undefined ? null : x.toFixed(digits);
const kbps = (bps: number | null | undefined): number | null => (bps ? Math.round(bps / 1000) : null);

export function overlayLines(o: OverlayInput): [string, string][] {
  const st: Partial<DetailedStats> = o.stats ?? {};
  const sv = o.server ?? {};
  const pair = st.candidatePair;
  const lines: [string, string][] = [
    ['state', o.status],
    ['connection', show(o.connectionState)],
    ['encoder', show(o.encoder)],
    ['resolution', st.width ? `${st.width}x${st.height}` : '–'],
    ['decoded fps', show(st.fps)],
    ['presented fps', show(st.presentedFps)],
    ['bitrate', formatBitrate(st.bitrateKbps ?? null)],
    ['rtt', show(st.rttMs, ' ms')],
    ['loss', show(st.lossPct, ' %')],
    ['jitter buffer', show(st.jitterBufferMs, ' ms')],
    ['decode', show(st.decodeMs, ' ms/frame')],
    ['dropped', show(st.framesDropped)],
    ['audio packets', show(st.audioPacketsReceived)],
    ['input rtt', show(o.inputRttMs, ' ms')],
    ['sent', formatBitrate(kbps(sv.sent_bps))],
    ['estimate', formatBitrate(kbps(sv.estimate_bps))],
    ['ladder step', show(sv.ladder_step)],
    ['encoder fps', show(fixed(sv.fps, 1))],
    ['encode', show(fixed(sv.encode_ms_mean, 2), ' ms/frame')],
    ['candidates', pair ? `${pair.local} → ${pair.remote} (${pair.protocol})` : '–'],
    ['reconnects', String(o.reconnects)],
  ];
  lines.push(...(o.extra ?? []));
  if (o.lastError) lines.push(['last error', `${o.lastError.code}: ${o.lastError.message}`]);
  return lines;
}

export function overlayText(o: OverlayInput): string {
  return overlayLines(o)
    .map(([k, val]) => `${k.padEnd(15)}${val}`)
    .join('\n');
}
