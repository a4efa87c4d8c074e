import { describe, expect, it } from 'vitest';
import { annexBUnits, codecFromFmtp, codecFromSdp, codecFromSps, isAnnexBKeyFrame, nalTypes } from './codec';

const SPS = [0x67, 0x64, 0x00, 0x28, 0xac, 0xd9];
const PPS = [0x68, 0xeb, 0xe3, 0xcb];
const IDR = [0x65, 0x88, 0x84, 0x00, 0x33];
const SLICE = [0x41, 0x9a, 0x02, 0x04];
const SEI = [0x06, 0x05, 0x01];
const au = (...units: number[][]) =>
  new Uint8Array(units.flatMap((u, i) => [...(i === 0 ? [0, 0, 0, 1] : [0, 0, 1]), ...u]));

describe('codecFromFmtp', () => {
  it('takes the H.264 profile-level-id', () => {
    expect(codecFromFmtp('video/H264', 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f')).toBe(
      'avc1.42e01f',
    );
    expect(codecFromFmtp('video/h264', 'profile-level-id=640C34; packetization-mode=1')).toBe('avc1.640c34');
  });
  it('falls back to Baseline level 1.0 without profile-level-id (RFC 6184)', () => {
    expect(codecFromFmtp('video/H264', 'packetization-mode=1')).toBe('avc1.42000a');
    expect(codecFromFmtp('video/H264')).toBe('avc1.42000a');
  });
  it('refuses a malformed profile-level-id', () => {
    expect(codecFromFmtp('video/H264', 'profile-level-id=42e0')).toBeNull();
    expect(codecFromFmtp('video/H264', 'profile-level-id=zz001f')).toBeNull();
  });
  it('names the other video codecs and refuses the rest', () => {
    expect(codecFromFmtp('video/VP8')).toBe('vp8');
    expect(codecFromFmtp('video/VP9', 'profile-id=2')).toBe('vp09.02.10.08');
    expect(codecFromFmtp('video/AV1')).toBe('av01.0.08M.08');
    expect(codecFromFmtp('video/rtx', 'apt=96')).toBeNull();
    expect(codecFromFmtp('audio/opus', 'minptime=10')).toBeNull();
  });
});

describe('codecFromSdp', () => {
  const sdp = [
    'v=0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'a=rtpmap:111 opus/48000/2',
    'a=fmtp:111 minptime=10',
    'm=video 9 UDP/TLS/RTP/SAVPF 97 96',
    'a=rtpmap:96 H264/90000',
    'a=fmtp:96 packetization-mode=1;profile-level-id=42e01f',
    'a=rtpmap:97 H264/90000',
    'a=fmtp:97 packetization-mode=1;profile-level-id=640028',
    '',
  ].join('\r\n');
  it('takes the first video payload type in the m= line', () => {
    expect(codecFromSdp(sdp)).toBe('avc1.640028');
  });
  it('takes the payload type asked for', () => {
    expect(codecFromSdp(sdp, 96)).toBe('avc1.42e01f');
    expect(codecFromSdp(sdp, 111)).toBeNull();
  });
  it('is null without video', () => {
    expect(codecFromSdp('v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n')).toBeNull();
  });
});

describe('Annex B', () => {
  it('splits units at three- and four-byte start codes', () => {
    const data = au(SPS, PPS, IDR);
    expect(nalTypes(data)).toEqual([7, 8, 5]);
    const [first] = annexBUnits(data);
    expect(first).toEqual({ start: 4, end: 4 + SPS.length });
  });
  it('drops the leading zero of a following four-byte start code', () => {
    const data = new Uint8Array([0, 0, 1, ...SEI, 0, 0, 0, 1, ...SLICE]);
    const units = annexBUnits(data);
    expect(units[0]).toEqual({ start: 3, end: 3 + SEI.length });
    expect(nalTypes(data)).toEqual([6, 1]);
  });
  it('knows a key frame by its IDR slice after SPS and PPS', () => {
    expect(isAnnexBKeyFrame(au(SPS, PPS, IDR))).toBe(true);
    expect(isAnnexBKeyFrame(au(SEI, SPS, PPS, IDR, IDR))).toBe(true);
  });
  it('refuses delta frames and IDRs without their parameter sets', () => {
    expect(isAnnexBKeyFrame(au(SLICE))).toBe(false);
    expect(isAnnexBKeyFrame(au(IDR))).toBe(false);
    expect(isAnnexBKeyFrame(au(PPS, IDR))).toBe(false);
    expect(isAnnexBKeyFrame(au(IDR, SPS, PPS))).toBe(false);
    expect(isAnnexBKeyFrame(new Uint8Array())).toBe(false);
  });
  it('reads the codec string from the SPS', () => {
    expect(codecFromSps(au(SPS, PPS, IDR))).toBe('avc1.640028');
    expect(codecFromSps(au(SLICE))).toBeNull();
  });
});
