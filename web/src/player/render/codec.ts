// What the canvas renderer must know about the encoded stream: the codec
// string WebCodecs wants, and which H.264 access units a decoder can start
// from. Pure functions, shared by the renderer's worker and its tests.

/** RFC 6184: without profile-level-id, the Baseline profile at level 1.0 is implied. */
const H264_DEFAULT_PROFILE_LEVEL_ID = '42000a';

/**
 * The WebCodecs codec string for a negotiated codec: its MIME type
 * (`video/H264`) and SDP format parameters (`a=fmtp` after the payload type,
 * e.g. `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f`).
 * Null for a codec the renderer does not decode.
 */
export function codecFromFmtp(mimeType: string, fmtp = ''): string | null {
  const params = new Map<string, string>();
  for (const part of fmtp.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  switch (mimeType.toLowerCase()) {
    case 'video/h264': {
      const id = params.get('profile-level-id') ?? H264_DEFAULT_PROFILE_LEVEL_ID;
      return /^[0-9a-f]{6}$/i.test(id) ? `avc1.${id.toLowerCase()}` : null;
    }
    case 'video/vp8':
      return 'vp8';
    case 'video/vp9': {
      const profile = Number(params.get('profile-id') ?? 0);
      return Number.isInteger(profile) && profile >= 0 && profile <= 3 ? `vp09.0${profile}.10.08` : null;
    }
    case 'video/av1':
      return 'av01.0.08M.08';
    default:
      return null;
  }
}

/** The codec string in an SDP for a payload type (the first video codec when `payloadType` is absent). */
export function codecFromSdp(sdp: string, payloadType?: number): string | null {
  const rtpmap = new Map<number, string>();
  const fmtp = new Map<number, string>();
  let video = false;
  let order: number[] = [];
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      video = line.startsWith('m=video');
      if (video && order.length === 0) order = line.split(' ').slice(3).map(Number);
      continue;
    }
    if (!video) continue;
    let m = /^a=rtpmap:(\d+) ([^/]+)\//.exec(line);
    if (m) rtpmap.set(Number(m[1]), `video/${m[2]}`);
    m = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (m) fmtp.set(Number(m[1]), m[2]);
  }
  const candidates = payloadType === undefined ? order : [payloadType];
  for (const pt of candidates) {
    const mime = rtpmap.get(pt);
    const codec = mime ? codecFromFmtp(mime, fmtp.get(pt)) : null;
    if (codec) return codec;
  }
  return null;
}

/** H.264 NAL unit types that matter here (ITU-T H.264 table 7-1). */
export const NAL_SLICE = 1;
export const NAL_IDR = 5;
export const NAL_SPS = 7;
export const NAL_PPS = 8;

/**
 * The NAL units of an Annex B byte stream (start codes 00 00 01 or
 * 00 00 00 01), as offsets of their first byte (the NAL header) and ends.
 */
export function annexBUnits(data: Uint8Array): { start: number; end: number }[] {
  const starts: number[] = [];
  for (let i = 0; i + 2 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      starts.push(i + 3);
      i += 2;
    }
  }
  return starts.map((start, k) => {
    let end = k + 1 < starts.length ? starts[k + 1] - 3 : data.length;
    // A four-byte start code's leading zero (and trailing_zero_8bits) belongs to no unit.
    while (end > start && data[end - 1] === 0 && k + 1 < starts.length) end--;
    return { start, end };
  });
}

/** The NAL unit types of an Annex B access unit, in order. */
export function nalTypes(data: Uint8Array): number[] {
  return annexBUnits(data)
    .filter((u) => u.end > u.start)
    .map((u) => data[u.start] & 0x1f);
}

/**
 * Whether an access unit can start decoding: it holds an IDR slice and the
 * SPS and PPS before it (Chromium's depacketiser inserts them from earlier
 * packets when the sender sent them apart).
 */
export function isAnnexBKeyFrame(data: Uint8Array): boolean {
  const types = nalTypes(data);
  const idr = types.indexOf(NAL_IDR);
  if (idr < 0) return false;
  const before = types.slice(0, idr);
  return before.includes(NAL_SPS) && before.includes(NAL_PPS);
}

/**
 * The codec string an access unit's SPS names (`avc1.` + profile_idc,
 * constraint flags and level_idc), or null without an SPS: the stream's own
 * word beats the SDP's, which may name a lower level than the encoder uses.
 */
export function codecFromSps(data: Uint8Array): string | null {
  for (const u of annexBUnits(data)) {
    if (u.end - u.start >= 4 && (data[u.start] & 0x1f) === NAL_SPS) {
      const hex = (b: number) => b.toString(16).padStart(2, '0');
      return `avc1.${hex(data[u.start + 1])}${hex(data[u.start + 2])}${hex(data[u.start + 3])}`;
    }
  }
  return null;
}
