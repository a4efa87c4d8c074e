// Where the latency recorders read pictures: the <video> element (frames
// presented per requestVideoFrameCallback) or the canvas the canvas renderer
// draws (frames presented per its own callback, ../render/canvas.ts).

import { onCanvasFrame } from '../render/canvas';

export interface Presented {
  /** The callback's time (performance timeline, ms). */
  now: number;
  /** When the picture reaches the screen, where the browser says. */
  expectedDisplayTime?: number;
  /** Frames presented for composition so far (restarts with a <video>'s new source). */
  presentedFrames: number;
}

export interface FrameSource {
  /** What `drawImage` reads the shown picture from. */
  readonly image: CanvasImageSource;
  /** The picture's size in source pixels (0 before the first picture). */
  width(): number;
  height(): number;
  /** Calls `cb` for each presented picture; returns the way to stop, or null when the browser cannot tell. */
  onPresented(cb: (p: Presented) => void): (() => void) | null;
}

export function videoSource(video: HTMLVideoElement): FrameSource {
  return {
    image: video,
    width: () => video.videoWidth,
    height: () => video.videoHeight,
    onPresented(cb) {
      if (!('requestVideoFrameCallback' in HTMLVideoElement.prototype)) return null;
      let handle = 0;
      const onFrame: VideoFrameRequestCallback = (now, metadata) => {
        // Re-arm first so a bad frame can never stop the listener.
        handle = video.requestVideoFrameCallback(onFrame);
        cb({ now, expectedDisplayTime: metadata.expectedDisplayTime, presentedFrames: metadata.presentedFrames });
      };
      handle = video.requestVideoFrameCallback(onFrame);
      return () => video.cancelVideoFrameCallback(handle);
    },
  };
}

export function canvasSource(canvas: HTMLCanvasElement): FrameSource {
  return {
    image: canvas,
    width: () => canvas.width,
    height: () => canvas.height,
    onPresented(cb) {
      return onCanvasFrame(canvas, cb);
    },
  };
}

/** The source for an element the page renders into. */
export function sourceOf(target: HTMLVideoElement | HTMLCanvasElement | FrameSource): FrameSource {
  if (typeof HTMLVideoElement !== 'undefined' && target instanceof HTMLVideoElement) return videoSource(target);
  if (typeof HTMLCanvasElement !== 'undefined' && target instanceof HTMLCanvasElement) return canvasSource(target);
  return target as FrameSource;
}
