// Input protocol v1 (docs/INPUT.md): the byte layout of every message the player
// sends on the input data channels, and of the replies it reads back.

export const INPUT_VERSION = 1;
export const KIND = {
  key: 0x01,
  button: 0x02,
  moveAbs: 0x03,
  moveRel: 0x04,
  wheel: 0x05,
  padButton: 0x06,
  padAxis: 0x07,
  padConnect: 0x08,
  ping: 0x10,
  pause: 0x11,
  resume: 0x12,
  keyFrame: 0x13,
  clipboard: 0x14,
  releaseAll: 0x15,
  clipboardGet: 0x16,
  notice: 0x1f,
} as const;
export type ControlName = 'pause' | 'resume' | 'keyFrame' | 'releaseAll' | 'clipboardGet';

// KeyboardEvent.code (the physical key) to Linux input key codes.
const letters = (row: string, first: number): Record<string, number> =>
  Object.fromEntries([...row].map((c, i) => [`Key${c}`, first + i]));
export const KEY_CODES: Record<string, number> = {
  Escape: 1, Digit1: 2, Digit2: 3, Digit3: 4, Digit4: 5, Digit5: 6, Digit6: 7, Digit7: 8, Digit8: 9,
  Digit9: 10, Digit0: 11, Minus: 12, Equal: 13, Backspace: 14, Tab: 15,
  ...letters('QWERTYUIOP', 16), BracketLeft: 26, BracketRight: 27, Enter: 28, ControlLeft: 29,
  ...letters('ASDFGHJKL', 30), Semicolon: 39, Quote: 40, Backquote: 41, ShiftLeft: 42, Backslash: 43,
  ...letters('ZXCVBNM', 44), Comma: 51, Period: 52, Slash: 53, ShiftRight: 54, NumpadMultiply: 55,
  AltLeft: 56, Space: 57, CapsLock: 58, F1: 59, F2: 60, F3: 61, F4: 62, F5: 63, F6: 64, F7: 65,
  F8: 66, F9: 67, F10: 68, NumLock: 69, ScrollLock: 70, Numpad7: 71, Numpad8: 72, Numpad9: 73,
  NumpadSubtract: 74, Numpad4: 75, Numpad5: 76, Numpad6: 77, NumpadAdd: 78, Numpad1: 79, Numpad2: 80,
  Numpad3: 81, Numpad0: 82, NumpadDecimal: 83, IntlBackslash: 86, F11: 87, F12: 88, NumpadEnter: 96,
  ControlRight: 97, NumpadDivide: 98, PrintScreen: 99, AltRight: 100, Home: 102, ArrowUp: 103,
  PageUp: 104, ArrowLeft: 105, ArrowRight: 106, End: 107, ArrowDown: 108, PageDown: 109,
  Insert: 110, Delete: 111, Pause: 119, MetaLeft: 125, MetaRight: 126, ContextMenu: 127,
};
// MouseEvent.button to X button numbers.
export const BUTTONS = [1, 2, 3, 8, 9];

export function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Number.isFinite(x) ? x : 0));
}

function message(kind: number, size: number): { buf: ArrayBuffer; view: DataView } {
  const buf = new ArrayBuffer(2 + size);
  const view = new DataView(buf);
  view.setUint8(0, INPUT_VERSION);
  view.setUint8(1, kind);
  return { buf, view };
}

// A message of two i16 fields (relative motion, wheel).
function signedPair(kind: number, a: number, b: number): ArrayBuffer {
  const { buf, view } = message(kind, 4);
  view.setInt16(2, clamp(Math.round(a), -32767, 32767), true);
  view.setInt16(4, clamp(Math.round(b), -32767, 32767), true);
  return buf;
}

export function keyMessage(code: number, down: boolean): ArrayBuffer {
  const { buf, view } = message(KIND.key, 3);
  view.setUint16(2, code, true);
  view.setUint8(4, down ? 1 : 0);
  return buf;
}

export function buttonMessage(button: number, down: boolean): ArrayBuffer {
  const { buf, view } = message(KIND.button, 2);
  view.setUint8(2, button);
  view.setUint8(3, down ? 1 : 0);
  return buf;
}

/** `x` and `y` are fractions of the picture, 0..1. */
export function moveAbsMessage(x: number, y: number): ArrayBuffer {
  const { buf, view } = message(KIND.moveAbs, 4);
  view.setUint16(2, clamp(Math.round(x * 65535), 0, 65535), true);
  view.setUint16(4, clamp(Math.round(y * 65535), 0, 65535), true);
  return buf;
}

export const moveRelMessage = (dx: number, dy: number): ArrayBuffer => signedPair(KIND.moveRel, dx, dy);
/** In 1/120 of a notch. */
export const wheelMessage = (dx: number, dy: number): ArrayBuffer => signedPair(KIND.wheel, dx, dy);

export function padConnectMessage(pad: number, connected: boolean): ArrayBuffer {
  const { buf, view } = message(KIND.padConnect, 2);
  view.setUint8(2, pad);
  view.setUint8(3, connected ? 1 : 0);
  return buf;
}

/** `value` 0..1. */
export function padButtonMessage(pad: number, button: number, value: number): ArrayBuffer {
  const { buf, view } = message(KIND.padButton, 3);
  view.setUint8(2, pad);
  view.setUint8(3, button);
  view.setUint8(4, clamp(Math.round(value * 255), 0, 255));
  return buf;
}

/** `value` -1..1. */
export function padAxisMessage(pad: number, axis: number, value: number): ArrayBuffer {
  const { buf, view } = message(KIND.padAxis, 4);
  view.setUint8(2, pad);
  view.setUint8(3, axis);
  view.setInt16(4, clamp(Math.round(value * 32767), -32767, 32767), true);
  return buf;
}

export function controlMessage(name: ControlName): ArrayBuffer {
  return message(KIND[name], 0).buf;
}

export function clipboardMessage(text: string): ArrayBuffer {
  const bytes = new TextEncoder().encode(text);
  const buf = new Uint8Array(2 + bytes.length);
  buf.set([INPUT_VERSION, KIND.clipboard]);
  buf.set(bytes, 2);
  return buf.buffer;
}

export function pingMessage(id: number): ArrayBuffer {
  const { buf, view } = message(KIND.ping, 4);
  view.setUint32(2, id, true);
  return buf;
}

/** What the server sends back on the reliable channel. */
export type Reply =
  | { kind: 'pong'; id: number }
  | { kind: 'notice'; code: number; text: string }
  | { kind: 'clipboard'; text: string };

export function parseReply(data: unknown): Reply | null {
  if (!(data instanceof ArrayBuffer) || data.byteLength < 2) return null;
  const view = new DataView(data);
  const kind = view.getUint8(1);
  if (kind === KIND.ping && data.byteLength === 6) return { kind: 'pong', id: view.getUint32(2, true) };
  if (kind === KIND.notice && data.byteLength >= 3) {
    return { kind: 'notice', code: view.getUint8(2), text: new TextDecoder().decode(new Uint8Array(data, 3)) };
  }
  if (kind === KIND.clipboard) return { kind: 'clipboard', text: new TextDecoder().decode(new Uint8Array(data, 2)) };
  return null;
}

/** Wheel deltas in 1/120 of a notch: Chromium scrolls 100 px or 3 lines a notch. */
export function wheelUnit(deltaMode: number): number {
  return deltaMode === 1 ? 40 : deltaMode === 2 ? 120 : 1.2;
}

/**
 * Where a point is over the picture itself, as fractions 0..1: the element
 * letterboxes (object-fit: contain) a `vw`x`vh` picture into `rect`.
 */
export function picturePosition(
  clientX: number,
  clientY: number,
  rect: { left: number; top: number; width: number; height: number },
  vw: number,
  vh: number,
): [number, number] {
  const pw = vw || rect.width;
  const ph = vh || rect.height;
  const scale = Math.min(rect.width / pw, rect.height / ph);
  const w = pw * scale;
  const h = ph * scale;
  const x = (clientX - rect.left - (rect.width - w) / 2) / w;
  const y = (clientY - rect.top - (rect.height - h) / 2) / h;
  return [clamp(x, 0, 1), clamp(y, 0, 1)];
}
