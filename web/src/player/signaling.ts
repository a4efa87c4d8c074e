// Signaling messages (docs/SIGNALING.md) as the player builds and reads them.
import type { Hello } from '../hello';

/** The server refuses frames above this size; larger messages are not sent at all. */
export const MAX_FRAME_BYTES = 64 * 1024;

// Server errors before `welcome` that retrying an identical hello cannot fix.
const FINAL_BEFORE_WELCOME = ['unsupported_version', 'bad_request', 'forbidden', 'unknown_session'];

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface Welcome {
  type: 'welcome';
  stream_id: string;
  encoder?: string;
  ice_servers?: IceServer[];
  [key: string]: unknown;
}

export interface ServerError {
  type: 'error';
  code: string;
  message: string;
  stream_id?: string;
  location?: string;
}

/** The signaling URL of a service at `server` (its origin; empty: this page's). */
export function signalUrl(server: string | undefined, here: { protocol: string; host: string }): string {
  if (server) {
    const url = new URL('/api/v1/signal', server);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.toString();
  }
  // Never carry a token in this URL: URLs end up in proxy and server logs.
  const scheme = here.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${here.host}/api/v1/signal`;
}

export function helloFor(opts: {
  session?: string;
  pipeline?: string;
  params?: Record<string, string | number | boolean>;
}): Hello {
  if (opts.session) return { type: 'hello', version: 1, session_id: opts.session };
  const msg: Hello = { type: 'hello', version: 1 };
  if (opts.pipeline) msg.pipeline = opts.pipeline;
  if (opts.params && Object.keys(opts.params).length) msg.params = { ...opts.params };
  return msg;
}

// Only the fields WebRTC knows; absent username/credential stay undefined ("not given").
export const toIceServer = ({ urls, username, credential }: IceServer): RTCIceServer => ({ urls, username, credential });

/** The JSON text of `msg`, or null when it is too large to send. */
export function encodeFrame(msg: object): string | null {
  const text = JSON.stringify(msg);
  return new TextEncoder().encode(text).byteLength > MAX_FRAME_BYTES ? null : text;
}

export type ErrorAction =
  | { action: 'sign-in' }
  | { action: 'move'; location: string }
  | { action: 'stop' }
  | { action: 'retry' }
  | { action: 'stream-failed' }
  | { action: 'ignore' };

/** What a server error means for the attempt that got it. */
export function errorAction(msg: ServerError, streamId: string | null): ErrorAction {
  if (!streamId) {
    // The sign-in is gone (revoked, or a server with fresh state): sign in again, then retry.
    if (msg.code === 'unauthorized') return { action: 'sign-in' };
    if (msg.code === 'moved' && /^wss?:\/\//.test(msg.location ?? '')) return { action: 'move', location: msg.location! };
    // Before welcome, an error can only be about our hello. Retrying an identical hello
    // that was rejected as invalid is pointless; anything else may be transient.
    return FINAL_BEFORE_WELCOME.includes(msg.code) ? { action: 'stop' } : { action: 'retry' };
  }
  if (msg.code === 'stream_failed' && msg.stream_id === streamId) return { action: 'stream-failed' };
  return { action: 'ignore' };
}
