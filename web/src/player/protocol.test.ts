import { describe, expect, it } from 'vitest';
import {
  KEY_CODES,
  clipboardMessage,
  controlMessage,
  keyMessage,
  moveAbsMessage,
  moveRelMessage,
  padAxisMessage,
  padButtonMessage,
  padConnectMessage,
  parseReply,
  picturePosition,
  pingMessage,
  wheelMessage,
  wheelUnit,
} from './protocol';

const bytes = (buf: ArrayBuffer) => Array.from(new Uint8Array(buf));

describe('input messages (docs/INPUT.md)', () => {
  it('encodes a key by its Linux code, little-endian, with the version first', () => {
    expect(KEY_CODES.Space).toBe(57);
    expect(KEY_CODES.KeyA).toBe(30);
    expect(KEY_CODES.KeyM).toBe(50);
    expect(bytes(keyMessage(KEY_CODES.Space, true))).toEqual([1, 0x01, 57, 0, 1]);
    expect(bytes(keyMessage(KEY_CODES.MetaRight, false))).toEqual([1, 0x01, 126, 0, 0]);
  });

  it('scales absolute motion to 0..65535 and clamps it', () => {
    expect(bytes(moveAbsMessage(0, 1))).toEqual([1, 0x03, 0, 0, 0xff, 0xff]);
    expect(bytes(moveAbsMessage(-3, 7))).toEqual([1, 0x03, 0, 0, 0xff, 0xff]);
    expect(bytes(moveAbsMessage(0.5, NaN))).toEqual([1, 0x03, 0x00, 0x80, 0, 0]);
  });

  it('sends relative motion and wheel as signed 16-bit pairs, clamped', () => {
    expect(bytes(moveRelMessage(-1, 2))).toEqual([1, 0x04, 0xff, 0xff, 2, 0]);
    expect(bytes(moveRelMessage(1e6, -1e6))).toEqual([1, 0x04, 0xff, 0x7f, 0x01, 0x80]);
    expect(bytes(wheelMessage(0, -120))).toEqual([1, 0x05, 0, 0, 0x88, 0xff]);
  });

  it('encodes gamepads: connect, button value 0..255, axis -32767..32767', () => {
    expect(bytes(padConnectMessage(2, true))).toEqual([1, 0x08, 2, 1]);
    expect(bytes(padButtonMessage(0, 3, 0.5))).toEqual([1, 0x06, 0, 3, 128]);
    expect(bytes(padAxisMessage(1, 0, -1))).toEqual([1, 0x07, 1, 0, 0x01, 0x80]);
    expect(bytes(padAxisMessage(1, 0, 2))).toEqual([1, 0x07, 1, 0, 0xff, 0x7f]);
  });

  it('encodes controls, pings and clipboard text as UTF-8', () => {
    expect(bytes(controlMessage('releaseAll'))).toEqual([1, 0x15]);
    expect(bytes(controlMessage('clipboardGet'))).toEqual([1, 0x16]);
    expect(bytes(pingMessage(0x01020304))).toEqual([1, 0x10, 4, 3, 2, 1]);
    expect(bytes(clipboardMessage('é'))).toEqual([1, 0x14, 0xc3, 0xa9]);
  });

  it('reads pongs, notices and clipboard answers, and nothing else', () => {
    expect(parseReply(pingMessage(7))).toEqual({ kind: 'pong', id: 7 });
    const notice = new Uint8Array([1, 0x1f, 3, ...new TextEncoder().encode('too fast')]).buffer;
    expect(parseReply(notice)).toEqual({ kind: 'notice', code: 3, text: 'too fast' });
    expect(parseReply(clipboardMessage('hi'))).toEqual({ kind: 'clipboard', text: 'hi' });
    expect(parseReply(new Uint8Array([1]).buffer)).toBeNull();
    expect(parseReply('text')).toBeNull();
    expect(parseReply(keyMessage(1, true))).toBeNull();
  });

  it('measures the wheel in 1/120 of a notch', () => {
    expect(100 * wheelUnit(0)).toBe(120); // pixels: Chromium scrolls 100 px a notch
    expect(3 * wheelUnit(1)).toBe(120); // lines
    expect(wheelUnit(2)).toBe(120); // pages
  });

  it('maps a point to the letterboxed picture', () => {
    const rect = { left: 0, top: 0, width: 200, height: 100 };
    // A square picture in a 2:1 box: 50 px bars left and right.
    expect(picturePosition(50, 0, rect, 10, 10)).toEqual([0, 0]);
    expect(picturePosition(100, 50, rect, 10, 10)).toEqual([0.5, 0.5]);
    expect(picturePosition(10, 100, rect, 10, 10)).toEqual([0, 1]); // in the bar: clamped
    // Size unknown yet: the element's own box.
    expect(picturePosition(150, 25, rect, 0, 0)).toEqual([0.75, 0.25]);
  });
});
