import { describe, expect, it } from 'vitest';
import { MAX_FRAME_BYTES, encodeFrame, errorAction, helloFor, signalUrl, toIceServer } from './signaling';

const err = (code: string, extra: Record<string, string> = {}) => ({ type: 'error' as const, code, message: code, ...extra });

describe('signaling', () => {
  it('connects to this page or the given service, never with a token in the URL', () => {
    expect(signalUrl(undefined, { protocol: 'http:', host: 'a:8080' })).toBe('ws://a:8080/api/v1/signal');
    expect(signalUrl('', { protocol: 'https:', host: 'a' })).toBe('wss://a/api/v1/signal');
    expect(signalUrl('https://play.example.com', { protocol: 'http:', host: 'x' })).toBe(
      'wss://play.example.com/api/v1/signal',
    );
    expect(signalUrl('http://10.0.0.1:8080/', { protocol: 'https:', host: 'x' })).toBe('ws://10.0.0.1:8080/api/v1/signal');
  });

  it('says hello to a session, or to a pipeline with its parameters', () => {
    expect(helloFor({ session: 's1', pipeline: 'p', params: { a: 1 } })).toEqual({ type: 'hello', version: 1, session_id: 's1' });
    expect(helloFor({ pipeline: 'p', params: { width: 640, fast: true } })).toEqual({
      type: 'hello',
      version: 1,
      pipeline: 'p',
      params: { width: 640, fast: true },
    });
    expect(helloFor({ params: {} })).toEqual({ type: 'hello', version: 1 });
  });

  it('keeps only the ICE server fields WebRTC knows', () => {
    expect(toIceServer({ urls: 'turn:x', username: 'u', credential: 'c', extra: 1 } as never)).toEqual({
      urls: 'turn:x',
      username: 'u',
      credential: 'c',
    });
  });

  it('refuses frames over the server limit', () => {
    expect(encodeFrame({ type: 'ping', id: 1 })).toBe('{"type":"ping","id":1}');
    expect(encodeFrame({ type: 'answer', sdp: 'x'.repeat(MAX_FRAME_BYTES) })).toBeNull();
  });

  it('decides what a server error means before and after welcome', () => {
    expect(errorAction(err('unauthorized'), null)).toEqual({ action: 'sign-in' });
    expect(errorAction(err('moved', { location: 'ws://node-b:8080/api/v1/signal' }), null)).toEqual({
      action: 'move',
      location: 'ws://node-b:8080/api/v1/signal',
    });
    expect(errorAction(err('moved', { location: 'http://evil' }), null)).toEqual({ action: 'retry' });
    for (const code of ['unsupported_version', 'bad_request', 'forbidden', 'unknown_session']) {
      expect(errorAction(err(code), null)).toEqual({ action: 'stop' });
    }
    expect(errorAction(err('capacity'), null)).toEqual({ action: 'retry' });
    expect(errorAction(err('stream_failed', { stream_id: 's' }), 's')).toEqual({ action: 'stream-failed' });
    expect(errorAction(err('stream_failed', { stream_id: 'old' }), 's')).toEqual({ action: 'ignore' });
    expect(errorAction(err('unauthorized'), 's')).toEqual({ action: 'ignore' });
  });
});
