// The canvas renderer's worker (RTCRtpScriptTransform): every encoded frame
// the receiver assembled is decoded here and passed on unchanged, so the
// receiver's jitter buffer, its decoder (getStats' framesDecoded) and its
// RTCP feedback (NACK, key frame requests on loss) go on as without the
// transform. Decoded pictures go to the page as transferred VideoFrames.

import { FrameDecoder, hardwareDecodes, type DecodeStats } from './decoder';
import type { ToPage, WorkerOptions } from './messages';

interface ScriptTransformer {
  readonly readable: ReadableStream<RTCEncodedVideoFrame>;
  readonly writable: WritableStream<RTCEncodedVideoFrame>;
  readonly options: WorkerOptions;
  sendKeyFrameRequest?(): Promise<void>;
}

const scope = self as unknown as {
  onrtctransform: ((event: { transformer: ScriptTransformer }) => void) | null;
  onmessage: ((event: MessageEvent<'stop'>) => void) | null;
  postMessage(message: ToPage, transfer?: Transferable[]): void;
  close(): void;
};

let decoder: FrameDecoder | null = null;

scope.onmessage = ({ data }) => {
  if (data === 'stop') {
    decoder?.close();
    decoder = null;
  }
};

scope.onrtctransform = ({ transformer }) => {
  const copy = (s: DecodeStats): DecodeStats => ({ ...s });
  decoder?.close();
  decoder = new FrameDecoder(
    {
      frame(frame, decodeMs) {
        scope.postMessage({ type: 'frame', frame, decodeMs, stats: copy(d.stats) }, [frame]);
      },
      requestKeyFrame() {
        // Chromium may reject when no RTP has arrived yet; the next drop asks again.
        transformer.sendKeyFrameRequest?.().catch(() => {});
      },
      stats(s) {
        scope.postMessage({ type: 'stats', stats: copy(s) });
      },
    },
    transformer.options.codec,
  );
  const d = decoder;
  // Known long before the first key frame arrives (ICE and DTLS come first).
  hardwareDecodes(transformer.options.codec).then((hw) => hw && d.preferHardware());
  const writer = transformer.writable.getWriter();
  const reader = transformer.readable.getReader();
  (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (decoder === d) {
        let mimeType: string | undefined;
        try {
          mimeType = (value.getMetadata() as { mimeType?: string }).mimeType;
        } catch {
          // metadata is optional here
        }
        d.push({ data: value.data, type: value.type, mimeType });
      }
      await writer.write(value);
    }
  })()
    .catch((err) => console.warn('playcast: encoded frame transform ended', err))
    // The receiver is gone (its connection closed): so is the worker's job.
    .finally(() => {
      d.close();
      scope.close();
    });
};
