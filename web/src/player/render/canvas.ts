// The canvas render path: encoded frames taken off the RTCRtpReceiver
// (encoded transform), decoded with WebCodecs and drawn on a canvas the
// moment they are decoded, instead of the <video> element's playout.
//
// RTCRtpScriptTransform (decoding in a worker) where the browser has it;
// otherwise Chromium's `createEncodedStreams`, decoding on the page, which
// needs the RTCPeerConnection made with `canvasPeerConnectionConfig()`.
// Either way every frame goes on to the receiver unchanged (see worker.ts).

import { codecFromFmtp, codecFromSdp } from './codec';
import { FrameDecoder, hardwareDecodes, type DecodeStats } from './decoder';
import type { ToPage, WorkerOptions } from './messages';
import RenderWorker from './worker?worker&inline';

export interface CanvasRendererOptions {
  /** The remote description: names the codec until the stream's own SPS does. */
  sdp?: string;
}

export interface CanvasRenderStats extends DecodeStats {
  /** Pictures drawn on the canvas. */
  drawn: number;
  /** Display frames that showed a newly drawn picture (several drawn in one display frame show once). */
  presented: number;
  /** Which encoded-frame API feeds the decoder. */
  api: 'script-transform' | 'encoded-streams';
}

/** One display frame that shows a newly drawn picture. */
export interface PresentedFrame {
  /** The `requestAnimationFrame` time of the display frame that commits the canvas. */
  now: number;
  /**
   * When it reaches the screen: one display interval after `now`, as
   * `requestVideoFrameCallback` reports a <video> frame (its frame time plus
   * the interval), so the two paths are measured alike; but never before one
   * interval after the picture was drawn (a busy page runs the callback late,
   * with the frame time it was due at, and may have drawn after that time).
   */
  expectedDisplayTime: number;
  /** Pictures drawn so far: a jump of more than one means pictures drawn over before they were shown. */
  presentedFrames: number;
  width: number;
  height: number;
}

export type PresentedCallback = (frame: PresentedFrame) => void;

export interface CanvasRenderer {
  readonly canvas: HTMLCanvasElement;
  readonly stats: CanvasRenderStats;
  /** Called for each display frame that shows a new picture; returns the unsubscribe function. */
  onFrame(cb: PresentedCallback): () => void;
  stop(): void;
}

/** The debug handle the benchmarks read (decoded and presented counts of the canvas path). */
declare global {
  interface Window {
    playcastRender?: { path: 'canvas'; readonly stats: CanvasRenderStats };
  }
}

type EncodedStreamsReceiver = RTCRtpReceiver & {
  createEncodedStreams?(): { readable: ReadableStream<RTCEncodedVideoFrame>; writable: WritableStream<RTCEncodedVideoFrame> };
};

const scriptTransform = (): boolean => typeof RTCRtpScriptTransform === 'function';

/** Whether this browser can render on a canvas at all. */
export function canvasRenderSupported(): boolean {
  return (
    typeof VideoDecoder === 'function' &&
    typeof RTCRtpReceiver === 'function' &&
    (scriptTransform() || 'createEncodedStreams' in RTCRtpReceiver.prototype)
  );
}

/**
 * What the RTCPeerConnection needs for the canvas path: nothing where
 * RTCRtpScriptTransform exists; else `encodedInsertableStreams`, which makes
 * every receiver (audio too) wait for its encoded streams to be piped
 * (`pipeEncodedThrough` for the ones not rendered here).
 */
export function canvasPeerConnectionConfig(): Record<string, unknown> {
  return scriptTransform() ? {} : { encodedInsertableStreams: true };
}

/** Pass a receiver's frames through untouched (only under `encodedInsertableStreams`). */
export function pipeEncodedThrough(receiver: RTCRtpReceiver): void {
  if (scriptTransform()) return;
  const streams = (receiver as EncodedStreamsReceiver).createEncodedStreams?.();
  streams?.readable.pipeTo(streams.writable).catch(() => {});
}

// Presented-frame listeners by canvas, so a recorder attached to a canvas
// outlives the renderer of one connection (a reconnect makes a new one).
const listeners = new WeakMap<HTMLCanvasElement, Set<PresentedCallback>>();

/** Subscribe to the pictures shown on `canvas`, by whichever renderer draws it. */
export function onCanvasFrame(canvas: HTMLCanvasElement, cb: PresentedCallback): () => void {
  let set = listeners.get(canvas);
  if (!set) listeners.set(canvas, (set = new Set()));
  set.add(cb);
  return () => set.delete(cb);
}

const DEFAULT_INTERVAL_MS = 1000 / 60;

/**
 * Render `receiver`'s video on `canvas`. Call it from `ontrack`, before any
 * frame arrives. Throws when the browser lacks the APIs
 * (`canvasRenderSupported`), so the caller can use <video> instead.
 */
export function attachCanvasRenderer(
  receiver: RTCRtpReceiver,
  canvas: HTMLCanvasElement,
  opts: CanvasRendererOptions = {},
): CanvasRenderer {
  if (!canvasRenderSupported()) throw new Error('canvas rendering needs WebCodecs and encoded transforms');
  const codec = negotiatedCodec(receiver, opts.sdp);
  const ctx = canvas.getContext('2d', { alpha: false });
  if (!ctx) throw new Error('no 2D context for the canvas');

  const stats: CanvasRenderStats = {
    decoded: 0,
    dropped: 0,
    errors: 0,
    keyRequests: 0,
    decodeMs: null,
    codec,
    acceleration: null,
    drawn: 0,
    presented: 0,
    api: scriptTransform() ? 'script-transform' : 'encoded-streams',
  };
  let stopped = false;
  let rafPending = false;
  let lastRaf: number | null = null;
  let lastDraw = 0;
  const intervals: number[] = [];

  const onRaf = (now: number) => {
    rafPending = false;
    if (stopped) return;
    // The display interval: the shortest recent gap between frames (a gap
    // without a new picture spans several intervals).
    if (lastRaf !== null && now - lastRaf > 2) {
      intervals.push(now - lastRaf);
      if (intervals.length > 32) intervals.shift();
    }
    lastRaf = now;
    const interval = intervals.length >= 4 ? Math.min(...intervals) : DEFAULT_INTERVAL_MS;
    stats.presented++;
    const frame: PresentedFrame = {
      now,
      expectedDisplayTime: Math.max(now, lastDraw) + interval,
      presentedFrames: stats.drawn,
      width: canvas.width,
      height: canvas.height,
    };
    for (const cb of [...(listeners.get(canvas) ?? [])]) {
      try {
        cb(frame);
      } catch (err) {
        console.warn('playcast: frame listener failed', err);
      }
    }
  };

  const draw = (frame: VideoFrame) => {
    try {
      if (stopped) return;
      if (canvas.width !== frame.displayWidth || canvas.height !== frame.displayHeight) {
        canvas.width = frame.displayWidth;
        canvas.height = frame.displayHeight;
      }
      ctx.drawImage(frame, 0, 0);
      lastDraw = performance.now();
      stats.drawn++;
      if (!rafPending) {
        rafPending = true;
        requestAnimationFrame(onRaf);
      }
    } finally {
      frame.close();
    }
  };
  const takeStats = (s: DecodeStats) => Object.assign(stats, s, { codec: s.codec ?? stats.codec });

  let stopSource: () => void;
  if (scriptTransform()) {
    const worker = new RenderWorker();
    worker.onmessage = ({ data }: MessageEvent<ToPage>) => {
      takeStats(data.stats);
      if (data.type === 'frame') draw(data.frame);
    };
    const options: WorkerOptions = { codec };
    receiver.transform = new RTCRtpScriptTransform(worker, options);
    // The worker keeps passing frames on after a stop: the receiver may outlive the renderer.
    stopSource = () => worker.postMessage('stop');
  } else {
    const streams = (receiver as EncodedStreamsReceiver).createEncodedStreams!();
    const decoder = new FrameDecoder(
      { frame: (f) => draw(f), requestKeyFrame: () => {}, stats: takeStats },
      codec,
    );
    hardwareDecodes(codec).then((hw) => hw && decoder.preferHardware());
    const pass = new TransformStream<RTCEncodedVideoFrame, RTCEncodedVideoFrame>({
      transform(frame, controller) {
        if (!stopped) {
          const meta = frame.getMetadata() as { mimeType?: string };
          decoder.push({ data: frame.data, type: frame.type, mimeType: meta.mimeType });
          takeStats(decoder.stats);
        }
        controller.enqueue(frame);
      },
    });
    streams.readable.pipeThrough(pass).pipeTo(streams.writable).catch(() => {});
    stopSource = () => decoder.close();
  }

  const handle: CanvasRenderer = {
    canvas,
    stats,
    onFrame: (cb) => onCanvasFrame(canvas, cb),
    stop() {
      if (stopped) return;
      stopped = true;
      stopSource();
      if (window.playcastRender?.stats === stats) delete window.playcastRender;
    },
  };
  window.playcastRender = { path: 'canvas', stats };
  return handle;
}

/** The codec string the negotiation names for the receiver, where known yet. */
function negotiatedCodec(receiver: RTCRtpReceiver, sdp?: string): string | null {
  try {
    for (const c of receiver.getParameters().codecs ?? []) {
      const codec = codecFromFmtp(c.mimeType, c.sdpFmtpLine);
      if (codec) return codec;
    }
  } catch {
    // not negotiated yet
  }
  return sdp ? codecFromSdp(sdp) : null;
}
