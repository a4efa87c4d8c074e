import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FrameDecoder } from './decoder';
import { MAX_DECODE_QUEUE } from './policy';

// A stand-in for WebCodecs: records configure/decode, outputs on demand.
class FakeDecoder {
  static all: FakeDecoder[] = [];
  state: 'unconfigured' | 'configured' | 'closed' = 'unconfigured';
  decodeQueueSize = 0;
  config: VideoDecoderConfig | null = null;
  chunks: { type: string; timestamp: number }[] = [];
  constructor(readonly init: VideoDecoderInit) {
    FakeDecoder.all.push(this);
  }
  configure(config: VideoDecoderConfig) {
    this.config = config;
    this.state = 'configured';
  }
  decode(chunk: { type: string; timestamp: number }) {
    this.chunks.push(chunk);
  }
  close() {
    this.state = 'closed';
  }
  emit(timestamp: number) {
    const frame = { timestamp, close: vi.fn() } as unknown as VideoFrame;
    this.init.output(frame);
    return frame;
  }
}

const keyFrame = () =>
  new Uint8Array([0, 0, 0, 1, 0x67, 0x4d, 0x00, 0x1f, 0, 0, 1, 0x68, 0xee, 0, 0, 1, 0x65, 0x88]).buffer;
const deltaFrame = () => new Uint8Array([0, 0, 0, 1, 0x41, 0x9a]).buffer;
const h264 = (data: ArrayBuffer, type: 'key' | 'delta' = 'delta') => ({ data, type, mimeType: 'video/H264' });

describe('FrameDecoder', () => {
  beforeEach(() => {
    FakeDecoder.all = [];
    vi.stubGlobal('VideoDecoder', FakeDecoder);
    vi.stubGlobal(
      'EncodedVideoChunk',
      class {
        type: string;
        timestamp: number;
        constructor(init: EncodedVideoChunkInit) {
          this.type = init.type;
          this.timestamp = init.timestamp;
        }
      },
    );
  });
  afterEach(() => vi.unstubAllGlobals());

  const make = () => {
    const frames: VideoFrame[] = [];
    const requestKeyFrame = vi.fn();
    const d = new FrameDecoder({ frame: (f) => frames.push(f), requestKeyFrame }, 'avc1.42e01f');
    return { d, frames, requestKeyFrame };
  };

  it('configures from the key frame\'s SPS, for low latency, and decodes from there', () => {
    const { d, frames, requestKeyFrame } = make();
    d.push(h264(deltaFrame()));
    expect(FakeDecoder.all).toHaveLength(0);
    expect(requestKeyFrame).toHaveBeenCalledTimes(1);
    d.push(h264(keyFrame(), 'key'));
    d.push(h264(deltaFrame()));
    const dec = FakeDecoder.all[0];
    expect(dec.config).toEqual({ codec: 'avc1.4d001f', optimizeForLatency: true, hardwareAcceleration: 'no-preference' });
    expect(dec.chunks.map((c) => c.type)).toEqual(['key', 'delta']);
    dec.emit(dec.chunks[0].timestamp);
    expect(frames).toHaveLength(1);
    expect(d.stats).toMatchObject({ decoded: 1, dropped: 1, codec: 'avc1.4d001f' });
  });

  it('prefers hardware once told a hardware decoder takes the stream', () => {
    const { d } = make();
    d.preferHardware();
    d.push(h264(keyFrame(), 'key'));
    expect(FakeDecoder.all[0].config?.hardwareAcceleration).toBe('prefer-hardware');
  });

  it('does not take a "key" type without parameter sets as a key frame', () => {
    const { d } = make();
    d.push(h264(new Uint8Array([0, 0, 1, 0x65, 0x88]).buffer, 'key'));
    expect(FakeDecoder.all).toHaveLength(0);
    expect(d.stats.dropped).toBe(1);
  });

  it('drops to the next key frame when the decode queue grows', () => {
    const { d, requestKeyFrame } = make();
    d.push(h264(keyFrame(), 'key'));
    const dec = FakeDecoder.all[0];
    dec.decodeQueueSize = MAX_DECODE_QUEUE + 1;
    d.push(h264(deltaFrame()));
    dec.decodeQueueSize = 0;
    d.push(h264(deltaFrame()));
    expect(dec.chunks).toHaveLength(1);
    expect(requestKeyFrame).toHaveBeenCalledTimes(1);
    d.push(h264(keyFrame(), 'key'));
    d.push(h264(deltaFrame()));
    expect(dec.chunks.map((c) => c.type)).toEqual(['key', 'key', 'delta']);
    expect(d.stats.dropped).toBe(2);
  });

  it('after a decoder error, falls back from hardware, asks for a key frame and starts a new decoder', () => {
    const { d, requestKeyFrame } = make();
    d.preferHardware();
    d.push(h264(keyFrame(), 'key'));
    FakeDecoder.all[0].init.error(new DOMException('no hardware', 'NotSupportedError'));
    expect(requestKeyFrame).toHaveBeenCalledTimes(1);
    d.push(h264(deltaFrame()));
    expect(FakeDecoder.all).toHaveLength(1);
    d.push(h264(keyFrame(), 'key'));
    expect(FakeDecoder.all).toHaveLength(2);
    expect(FakeDecoder.all[1].config?.hardwareAcceleration).toBe('no-preference');
    expect(d.stats.errors).toBe(1);
  });

  it('closes pictures a replaced decoder still outputs', () => {
    const { d, frames } = make();
    d.push(h264(keyFrame(), 'key'));
    const first = FakeDecoder.all[0];
    first.init.error(new DOMException('broken', 'EncodingError'));
    d.push(h264(keyFrame(), 'key'));
    const late = first.emit(0);
    expect(late.close).toHaveBeenCalled();
    expect(frames).toHaveLength(0);
  });
});
