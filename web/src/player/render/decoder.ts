// WebCodecs decoding of the encoded frames an RTCRtpReceiver assembled:
// hardware preferred, software when the browser has no hardware decoder for
// the stream, the decode queue kept short (policy.ts). Runs in the
// renderer's worker, or on the page when frames come from
// `createEncodedStreams`.

import { codecFromSps, isAnnexBKeyFrame } from './codec';
import { DecodeGate } from './policy';

export type Acceleration = 'prefer-hardware' | 'no-preference';

/** Counters of one renderer, all since it started. */
export interface DecodeStats {
  /** Frames out of the decoder. */
  decoded: number;
  /** Frames not decoded: before a key frame, or the decoder was behind. */
  dropped: number;
  /** Decoder errors (each reconfigures it and waits for a key frame). */
  errors: number;
  /** Key frames asked of the sender. */
  keyRequests: number;
  /** Mean decode time (submission to output) over the last frames, ms. */
  decodeMs: number | null;
  /** The codec string the decoder runs with, and whether hardware was preferred. */
  codec: string | null;
  acceleration: Acceleration | null;
}

export interface DecoderHooks {
  /** A decoded picture; the receiver must close it. */
  frame(frame: VideoFrame, decodeMs: number): void;
  /** Ask the sender for a key frame (RTCP PLI/FIR); may do nothing where the API is missing. */
  requestKeyFrame(): void;
  /** Stats changed outside `frame` (a drop, an error). */
  stats?(stats: DecodeStats): void;
}

/** What the renderer knows of one encoded frame. */
export interface EncodedFrame {
  data: ArrayBuffer;
  /** `RTCEncodedVideoFrame.type`. */
  type: 'key' | 'delta' | 'empty';
  /** `getMetadata().mimeType`, where the browser gives it. */
  mimeType?: string;
}

const DECODE_MS_WINDOW = 0.1; // weight of the newest frame in the moving mean

export class FrameDecoder {
  readonly stats: DecodeStats = {
    decoded: 0,
    dropped: 0,
    errors: 0,
    keyRequests: 0,
    decodeMs: null,
    codec: null,
    acceleration: null,
  };
  private decoder: VideoDecoder | null = null;
  private readonly gate = new DecodeGate();
  private readonly submitted = new Map<number, number>();
  private sequence = 0;
  // Until `preferHardware` knows better, the browser picks (hardware where it has it).
  private acceleration: Acceleration = 'no-preference';
  private closed = false;

  /** `hint` is the SDP's codec string (codec.ts), used until a key frame's SPS names one. */
  constructor(
    private readonly hooks: DecoderHooks,
    private readonly hint: string | null,
  ) {}

  /** Ask for a hardware decoder from the next configure on (`hardwareDecodes` said one takes the stream). */
  preferHardware(): void {
    if (this.stats.errors === 0) this.acceleration = 'prefer-hardware';
  }

  push(f: EncodedFrame): void {
    if (this.closed || f.type === 'empty' || f.data.byteLength === 0) return;
    const bytes = new Uint8Array(f.data);
    const h264 = f.mimeType ? f.mimeType.toLowerCase() === 'video/h264' : (this.hint ?? 'avc1').startsWith('avc1');
    // For H.264 the bytes decide: a "key" frame without its parameter sets cannot start a decoder.
    const key = h264 ? isAnnexBKeyFrame(bytes) : f.type === 'key';
    if (key) this.configureFor(h264 ? codecFromSps(bytes) : null);
    const decoder = this.decoder;
    const now = performance.now();
    const verdict = this.gate.next({ key, queueSize: decoder?.decodeQueueSize ?? 0, now });
    if (verdict.requestKey) this.requestKey();
    if (!verdict.decode || !decoder || decoder.state !== 'configured') {
      this.stats.dropped++;
      this.hooks.stats?.(this.stats);
      return;
    }
    const timestamp = this.sequence++;
    this.submitted.set(timestamp, now);
    // The chunk copies the bytes, so the RTC frame can go on to the jitter buffer at once.
    decoder.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp, data: bytes }));
  }

  close(): void {
    this.closed = true;
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
    this.submitted.clear();
  }

  private requestKey(): void {
    this.stats.keyRequests++;
    this.hooks.requestKeyFrame();
  }

  /** A new decoder when there is none (first frame, after an error) or the codec changed. */
  private configureFor(spsCodec: string | null): void {
    const codec = spsCodec ?? this.stats.codec ?? this.hint;
    if (!codec) return;
    if (this.decoder && this.decoder.state === 'configured' && codec === this.stats.codec) return;
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.submitted.clear();
    const decoder = new VideoDecoder({
      output: (frame) => this.output(decoder, frame),
      error: (err) => this.failed(decoder, err),
    });
    // No description: the bytes are Annex B, parameter sets in band.
    decoder.configure({ codec, optimizeForLatency: true, hardwareAcceleration: this.acceleration });
    this.decoder = decoder;
    this.stats.codec = codec;
    this.stats.acceleration = this.acceleration;
    this.gate.reset();
  }

  private output(decoder: VideoDecoder, frame: VideoFrame): void {
    if (decoder !== this.decoder) {
      frame.close();
      return;
    }
    const at = this.submitted.get(frame.timestamp);
    this.submitted.delete(frame.timestamp);
    const ms = at === undefined ? 0 : performance.now() - at;
    const s = this.stats;
    s.decoded++;
    s.decodeMs = s.decodeMs === null ? ms : s.decodeMs + (ms - s.decodeMs) * DECODE_MS_WINDOW;
    this.hooks.frame(frame, ms);
  }

  private failed(decoder: VideoDecoder, err: DOMException): void {
    if (decoder !== this.decoder || this.closed) return;
    this.stats.errors++;
    // Hardware that cannot take this stream fails at configure or first decode: go on in software.
    if (this.acceleration === 'prefer-hardware' && (err.name === 'NotSupportedError' || this.stats.decoded === 0)) {
      this.acceleration = 'no-preference';
    }
    console.warn(`playcast: video decoder error (${err.name}: ${err.message}); waiting for a key frame`);
    this.decoder = null;
    this.gate.reset();
    this.gate.requested(performance.now());
    this.requestKey();
    this.hooks.stats?.(this.stats);
  }
}

/** Whether a hardware decoder takes `codec` here (false when the answer is unknown). */
export async function hardwareDecodes(codec: string | null): Promise<boolean> {
  if (!codec || typeof VideoDecoder === 'undefined') return false;
  try {
    const s = await VideoDecoder.isConfigSupported({ codec, hardwareAcceleration: 'prefer-hardware', optimizeForLatency: true });
    return s.supported === true;
  } catch {
    return false;
  }
}
