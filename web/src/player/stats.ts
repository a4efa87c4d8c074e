// Receiver statistics: one sample a second from getStats, turned into per-second
// rates against the previous sample.
import type { PlayerStats } from './types';

/** The figures `window.playcast.stats` shows on the direct-play page; the names are a contract. */
export interface DetailedStats {
  fps: number | null;
  presentedFps: number | null;
  width: number | null;
  height: number | null;
  /** Video only, so it compares directly with the encoder's configured bitrate. */
  bitrateKbps: number | null;
  rttMs: number | null;
  lossPct: number | null;
  jitterBufferMs: number | null;
  decodeMs: number | null;
  framesDecoded: number | null;
  framesDropped: number | null;
  audioPacketsReceived: number | null;
  encoder: string | null;
  candidatePair: { local: string | null; remote: string | null; protocol: string | null } | null;
  connectionState: RTCPeerConnectionState;
}

// getStats records are loosely typed across browsers; read them as plain records.
type Rec = Record<string, any>;
export type Report = Map<string, Rec> | RTCStatsReport;

export interface StatsSample {
  at: number;
  v: Rec | null;
  presented: number;
}

const num = (x: unknown): number => (typeof x === 'number' ? x : NaN);
export const round = (x: number, digits: number): number | null =>
  Number.isFinite(x) ? Number(x.toFixed(digits)) : null;

const kindOf = (r: Rec): string | undefined => r.kind ?? r.mediaType;

export function selectedPair(report: Report): Rec | null {
  for (const r of report.values() as Iterable<Rec>) {
    if (r.type === 'transport' && r.selectedCandidatePairId) {
      return (report.get(r.selectedCandidatePairId) as Rec | undefined) ?? null;
    }
  }
  // Browsers without transport stats mark the pair itself.
  for (const r of report.values() as Iterable<Rec>) {
    if (r.type === 'candidate-pair' && (r.selected || (r.nominated && r.state === 'succeeded'))) return r;
  }
  return null;
}

/** The records tests and benchmarks read (`window.playcast.rawStats()`), as plain objects. */
export function rawRecords(report: Report): Rec[] {
  const wanted = new Set(['inbound-rtp', 'candidate-pair', 'local-candidate', 'remote-candidate']);
  const out: Rec[] = [];
  for (const r of report.values() as Iterable<Rec>) {
    if (!wanted.has(r.type)) continue;
    if (r.type === 'inbound-rtp' && !['video', 'audio'].includes(kindOf(r) ?? '')) continue;
    out.push({ ...r });
  }
  return out;
}

/** The figures of `report`, with rates against `prev` (null for the first sample). */
export function computeStats(
  report: Report,
  prev: StatsSample | null,
  now: number,
  presented: number,
  encoder: string | null,
  connectionState: RTCPeerConnectionState,
): { stats: DetailedStats; sample: StatsSample } {
  let v: Rec | null = null;
  let a: Rec | null = null;
  for (const r of report.values() as Iterable<Rec>) {
    if (r.type !== 'inbound-rtp') continue;
    const kind = kindOf(r);
    if (kind === 'video') v = r;
    else if (kind === 'audio') a = r;
  }
  const pair = selectedPair(report);
  const local = pair && (report.get(pair.localCandidateId) as Rec | undefined);
  const remote = pair && (report.get(pair.remoteCandidateId) as Rec | undefined);
  const p = prev;
  const dt = p ? (now - p.at) / 1000 : NaN;
  const delta = (key: string) => (p?.v && v ? num(v[key]) - num(p.v[key]) : NaN);

  const frames = delta('framesDecoded');
  const emitted = delta('jitterBufferEmittedCount');
  const lost = num(v?.packetsLost);
  const received = num(v?.packetsReceived);
  const stats: DetailedStats = {
    fps: round(frames / dt, 1),
    presentedFps: p ? round(Math.max(0, presented - p.presented) / dt, 1) : null,
    width: v?.frameWidth ?? null,
    height: v?.frameHeight ?? null,
    bitrateKbps: round((delta('bytesReceived') * 8) / dt / 1000, 0),
    rttMs: round(num(pair?.currentRoundTripTime) * 1000, 1),
    lossPct: lost + received > 0 ? round((Math.max(0, lost) / (lost + received)) * 100, 2) : null,
    jitterBufferMs: emitted > 0 ? round((delta('jitterBufferDelay') / emitted) * 1000, 1) : null,
    decodeMs: frames > 0 ? round((delta('totalDecodeTime') / frames) * 1000, 2) : null,
    framesDecoded: v?.framesDecoded ?? null,
    framesDropped: v?.framesDropped ?? null,
    audioPacketsReceived: a?.packetsReceived ?? null,
    encoder,
    candidatePair: pair
      ? { local: local?.candidateType ?? null, remote: remote?.candidateType ?? null, protocol: local?.protocol ?? null }
      : null,
    connectionState,
  };
  return { stats, sample: { at: now, v, presented } };
}

/** The public event's figures (`PlayerEvents.stats`). */
export function playerStats(st: DetailedStats, inputRttMs: number | null): PlayerStats {
  return {
    bitrateKbps: st.bitrateKbps,
    fps: st.fps,
    framesDecoded: st.framesDecoded ?? 0,
    rttMs: st.rttMs,
    lossPercent: st.lossPct,
    inputRttMs,
    width: st.width,
    height: st.height,
  };
}

/**
 * Frames actually presented. rVFC is the only API that observes presentation, so count
 * frames with it; without it, the playback quality's count is the best there is.
 */
export function presentedCounter(video: HTMLVideoElement): { count(): number; stop(): void } {
  let total = 0;
  let stopped = false;
  const hasRvfc = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;
  if (hasRvfc) {
    let last: number | null = null;
    const onFrame = (_now: number, metadata: VideoFrameCallbackMetadata) => {
      if (stopped) return;
      // presentedFrames restarts with each new source; then count this frame alone.
      const pf = metadata.presentedFrames;
      total += last !== null && pf > last ? pf - last : 1;
      last = pf;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  return {
    count() {
      if (hasRvfc) return total;
      const q = video.getVideoPlaybackQuality?.();
      return q ? q.totalVideoFrames - q.droppedVideoFrames : NaN;
    },
    stop() {
      stopped = true;
    },
  };
}
