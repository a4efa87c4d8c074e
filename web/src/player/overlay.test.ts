import { describe, expect, it } from 'vitest';
import { formatBitrate, overlayLines, overlayText, statusText } from './overlay';
import { computeStats, playerStats, rawRecords, selectedPair } from './stats';

const report = (records: Record<string, any>[]) => new Map(records.map((r) => [r.id, r]));

const sample = (framesDecoded: number, bytesReceived: number, extra: Record<string, unknown> = {}) =>
  report([
    {
      id: 'v',
      type: 'inbound-rtp',
      kind: 'video',
      framesDecoded,
      bytesReceived,
      frameWidth: 1280,
      frameHeight: 720,
      packetsLost: 1,
      packetsReceived: 99,
      jitterBufferDelay: framesDecoded * 0.004,
      jitterBufferEmittedCount: framesDecoded,
      totalDecodeTime: framesDecoded * 0.002,
      framesDropped: 0,
      ...extra,
    },
    { id: 'a', type: 'inbound-rtp', kind: 'audio', packetsReceived: 50 },
    { id: 't', type: 'transport', selectedCandidatePairId: 'p' },
    { id: 'p', type: 'candidate-pair', localCandidateId: 'l', remoteCandidateId: 'r', currentRoundTripTime: 0.0123 },
    { id: 'l', type: 'local-candidate', candidateType: 'host', protocol: 'udp' },
    { id: 'r', type: 'remote-candidate', candidateType: 'srflx' },
    { id: 'c', type: 'codec' },
  ]);

describe('stats', () => {
  it('computes per-second rates against the previous sample', () => {
    const first = computeStats(sample(0, 0), null, 1000, 0, 'x264enc', 'connected');
    expect(first.stats.fps).toBeNull();
    expect(first.stats.bitrateKbps).toBeNull();
    expect(first.stats.rttMs).toBe(12.3);
    const { stats } = computeStats(sample(60, 1_000_000), first.sample, 2000, 59, 'x264enc', 'connected');
    expect(stats).toMatchObject({
      fps: 60,
      presentedFps: 59,
      width: 1280,
      height: 720,
      bitrateKbps: 8000,
      lossPct: 1,
      jitterBufferMs: 4,
      decodeMs: 2,
      framesDecoded: 60,
      audioPacketsReceived: 50,
      encoder: 'x264enc',
      candidatePair: { local: 'host', remote: 'srflx', protocol: 'udp' },
    });
    expect(playerStats(stats, 3.5)).toEqual({
      bitrateKbps: 8000,
      fps: 60,
      framesDecoded: 60,
      rttMs: 12.3,
      lossPercent: 1,
      inputRttMs: 3.5,
      width: 1280,
      height: 720,
    });
  });

  it('finds the selected pair without transport stats', () => {
    const r = report([{ id: 'p', type: 'candidate-pair', nominated: true, state: 'succeeded' }]);
    expect(selectedPair(r)?.id).toBe('p');
    expect(selectedPair(report([{ id: 'p', type: 'candidate-pair', state: 'waiting' }]))).toBeNull();
  });

  it('hands out the raw records tests read, as plain copies', () => {
    const records = rawRecords(sample(1, 2));
    expect(records.map((r) => r.id)).toEqual(['v', 'a', 'p', 'l', 'r']);
  });
});

describe('overlay', () => {
  it('formats bitrates', () => {
    expect(formatBitrate(null)).toBe('–');
    expect(formatBitrate(999)).toBe('999 kbit/s');
    expect(formatBitrate(2500)).toBe('2.5 Mbit/s');
  });

  it('says where the stream is', () => {
    expect(statusText('connecting', 0, '')).toBe('connecting…');
    expect(statusText('reconnecting', 1200, '')).toBe('reconnecting in 2 s');
    expect(statusText('reconnecting', -5, '')).toBe('reconnecting in 0 s');
    expect(statusText('ended', 0, 'page closed')).toBe('ended: page closed');
    expect(statusText('live', 0, '')).toBe('live');
  });

  it('lists every figure, with a dash for the unknown ones', () => {
    const lines = overlayLines({
      status: 'live',
      connectionState: 'connected',
      encoder: 'x264enc',
      stats: null,
      inputRttMs: 2.5,
      server: { sent_bps: 4_200_000, estimate_bps: 800_000, ladder_step: 1, fps: 59.94, encode_ms_mean: 1.234 },
      reconnects: 2,
      lastError: { code: 'capacity', message: 'full' },
      extra: [['glass-to-glass', 'p50 40 ms  p95 60 ms']],
    });
    const map = new Map(lines);
    expect(map.get('resolution')).toBe('–');
    expect(map.get('input rtt')).toBe('2.5 ms');
    expect(map.get('sent')).toBe('4.2 Mbit/s');
    expect(map.get('estimate')).toBe('800 kbit/s');
    expect(map.get('encoder fps')).toBe('59.9');
    expect(map.get('encode')).toBe('1.23 ms/frame');
    expect(map.get('reconnects')).toBe('2');
    expect(lines.at(-2)).toEqual(['glass-to-glass', 'p50 40 ms  p95 60 ms']);
    expect(lines.at(-1)).toEqual(['last error', 'capacity: full']);
    const text = overlayText({ status: 'live', connectionState: null, encoder: null, stats: null, inputRttMs: null, server: null, reconnects: 0 });
    expect(text.split('\n')[0]).toBe('state          live');
    expect(text).toContain('input rtt      –');
  });
});
