// Player input over the stream's data channels (docs/INPUT.md): keyboard by physical key,
// mouse (absolute, or relative under pointer lock), wheel, touch as a pointer, gamepads
// through the Gamepad API, and a ping on the reliable channel for the input round trip.
// Motion and axes go on the unordered channel `input-fast`; everything else on `input`.

const VERSION = 1;
const KIND = {
  key: 0x01, button: 0x02, moveAbs: 0x03, moveRel: 0x04, wheel: 0x05,
  padButton: 0x06, padAxis: 0x07, padConnect: 0x08,
  ping: 0x10, pause: 0x11, resume: 0x12, keyFrame: 0x13, clipboard: 0x14, releaseAll: 0x15,
  clipboardGet: 0x16, notice: 0x1f,
};
const PING_EVERY_MS = 1000;
const MAX_PADS = 4;

// KeyboardEvent.code (the physical key) to Linux input key codes.
const letters = (row, first) => Object.fromEntries([...row].map((c, i) => [`Key${c}`, first + i]));
export const KEY_CODES = {
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
const BUTTONS = [1, 2, 3, 8, 9];

function message(kind, size) {
  const buf = new ArrayBuffer(2 + size);
  const view = new DataView(buf);
  view.setUint8(0, VERSION);
  view.setUint8(1, kind);
  return { buf, view };
}

// A message of two i16 fields (relative motion, wheel).
function signedPair(kind, a, b) {
  const { buf, view } = message(kind, 4);
  view.setInt16(2, clamp(Math.round(a), -32767, 32767), true);
  view.setInt16(4, clamp(Math.round(b), -32767, 32767), true);
  return buf;
}

export function createInput({ video, onChange }) {
  const state = {
    fast: null, reliable: null, rttMs: null, sent: 0, notices: [], clipboard: null,
    pingId: 0, pings: new Map(), pads: [], pingTimer: 0, padTimer: 0, wheel: { x: 0, y: 0 },
  };
  const open = (ch) => ch && ch.readyState === 'open';
  const sendOn = (ch, buf) => {
    if (!open(ch)) return false;
    ch.send(buf);
    state.sent++;
    return true;
  };
  const reliable = (buf) => sendOn(state.reliable, buf);
  // Motion falls back to the reliable channel until the fast one is open.
  const fast = (buf) => sendOn(open(state.fast) ? state.fast : state.reliable, buf);

  const api = {
    get ready() { return open(state.reliable) && open(state.fast); },
    get rttMs() { return state.rttMs; },
    get sent() { return state.sent; },
    get notices() { return state.notices.slice(); },
    get clipboard() { return state.clipboard; },
    key(code, down) {
      const { buf, view } = message(KIND.key, 3);
      view.setUint16(2, code, true);
      view.setUint8(4, down ? 1 : 0);
      return reliable(buf);
    },
    button(button, down) {
      const { buf, view } = message(KIND.button, 2);
      view.setUint8(2, button);
      view.setUint8(3, down ? 1 : 0);
      return reliable(buf);
    },
    moveAbs(x, y) {
      const { buf, view } = message(KIND.moveAbs, 4);
      view.setUint16(2, clamp(Math.round(x * 65535), 0, 65535), true);
      view.setUint16(4, clamp(Math.round(y * 65535), 0, 65535), true);
      return fast(buf);
    },
    moveRel(dx, dy) {
      return fast(signedPair(KIND.moveRel, dx, dy));
    },
    wheel(dx, dy) {
      return reliable(signedPair(KIND.wheel, dx, dy));
    },
    padConnect(pad, connected) {
      const { buf, view } = message(KIND.padConnect, 2);
      view.setUint8(2, pad);
      view.setUint8(3, connected ? 1 : 0);
      return reliable(buf);
    },
    padButton(pad, button, value) {
      const { buf, view } = message(KIND.padButton, 3);
      view.setUint8(2, pad);
      view.setUint8(3, button);
      view.setUint8(4, clamp(Math.round(value * 255), 0, 255));
      return reliable(buf);
    },
    padAxis(pad, axis, value) {
      const { buf, view } = message(KIND.padAxis, 4);
      view.setUint8(2, pad);
      view.setUint8(3, axis);
      view.setInt16(4, clamp(Math.round(value * 32767), -32767, 32767), true);
      return fast(buf);
    },
    control(name) {
      return reliable(message(KIND[name], 0).buf);
    },
    setClipboard(text) {
      const bytes = new TextEncoder().encode(text);
      const buf = new Uint8Array(2 + bytes.length);
      buf.set([VERSION, KIND.clipboard]);
      buf.set(bytes, 2);
      return reliable(buf.buffer);
    },
    // Asks for the game's clipboard; the answer lands in `clipboard` (and the local clipboard).
    requestClipboard() {
      return reliable(message(KIND.clipboardGet, 0).buf);
    },
    releaseAll() {
      return reliable(message(KIND.releaseAll, 0).buf);
    },
    // Raw bytes (or a string, sent as a text message), for tests of the server's handling of bad input.
    sendRaw(bytes, onFast = false) {
      const data = typeof bytes === 'string' ? bytes : new Uint8Array(bytes).buffer;
      return sendOn(onFast ? state.fast : state.reliable, data);
    },
  };

  function ping() {
    const id = ++state.pingId >>> 0;
    const { buf, view } = message(KIND.ping, 4);
    view.setUint32(2, id, true);
    if (reliable(buf)) state.pings.set(id, performance.now());
    // Unanswered pings are forgotten after a while.
    for (const [k, t] of state.pings) if (performance.now() - t > 10_000) state.pings.delete(k);
  }

  function onReply(event) {
    if (!(event.data instanceof ArrayBuffer) || event.data.byteLength < 2) return;
    const view = new DataView(event.data);
    const kind = view.getUint8(1);
    if (kind === KIND.ping && event.data.byteLength === 6) {
      const sentAt = state.pings.get(view.getUint32(2, true));
      if (sentAt !== undefined) {
        state.rttMs = Math.round((performance.now() - sentAt) * 10) / 10;
        state.pings.delete(view.getUint32(2, true));
        onChange?.();
      }
    } else if (kind === KIND.notice && event.data.byteLength >= 3) {
      const text = new TextDecoder().decode(new Uint8Array(event.data, 3));
      state.notices.push({ code: view.getUint8(2), text });
      if (state.notices.length > 20) state.notices.shift();
      console.info('playcast: input notice:', text);
    } else if (kind === KIND.clipboard) {
      state.clipboard = new TextDecoder().decode(new Uint8Array(event.data, 2));
      navigator.clipboard?.writeText(state.clipboard).catch(() => {});
    }
  }

  // --- channels ---------------------------------------------------------------------------
  function onDataChannel(event) {
    const ch = event.channel;
    ch.binaryType = 'arraybuffer';
    if (ch.label === 'input-fast') state.fast = ch;
    else if (ch.label === 'input') {
      state.reliable = ch;
      ch.onmessage = onReply;
      ch.onopen = () => {
        clearInterval(state.pingTimer);
        state.pingTimer = setInterval(ping, PING_EVERY_MS);
        ping();
      };
    }
  }

  // --- keyboard and mouse -----------------------------------------------------------------
  const locked = () => document.pointerLockElement === video;
  const onKey = (event) => {
    const code = KEY_CODES[event.code];
    if (!code || !api.ready) return;
    if (event.code === 'F2' && !locked()) return; // the overlay's key, unless playing locked
    event.preventDefault();
    if (event.repeat) return; // the game's display repeats keys itself
    api.key(code, event.type === 'keydown');
  };

  // Where the pointer is over the picture itself (the element letterboxes it).
  function picturePosition(event) {
    const r = video.getBoundingClientRect();
    const vw = video.videoWidth || r.width;
    const vh = video.videoHeight || r.height;
    const scale = Math.min(r.width / vw, r.height / vh);
    const w = vw * scale;
    const h = vh * scale;
    const x = (event.clientX - r.left - (r.width - w) / 2) / w;
    const y = (event.clientY - r.top - (r.height - h) / 2) / h;
    return [clamp(x, 0, 1), clamp(y, 0, 1)];
  }

  const onPointerMove = (event) => {
    if (!api.ready) return;
    if (locked()) api.moveRel(event.movementX, event.movementY);
    else api.moveAbs(...picturePosition(event));
  };
  const onPointerButton = (event) => {
    const b = BUTTONS[event.button];
    if (!b || !api.ready) return;
    event.preventDefault();
    if (!locked()) api.moveAbs(...picturePosition(event));
    api.button(b, event.type === 'pointerdown');
  };
  const onWheel = (event) => {
    if (!api.ready) return;
    event.preventDefault();
    // In 1/120 of a notch: Chromium scrolls 100 px or 3 lines a notch.
    const unit = event.deltaMode === 1 ? 40 : event.deltaMode === 2 ? 120 : 1.2;
    api.wheel(event.deltaX * unit, event.deltaY * unit);
  };
  const onBlur = () => api.ready && api.releaseAll();

  // --- gamepads ----------------------------------------------------------------------------
  function pollPads() {
    if (!api.ready || !navigator.getGamepads) return;
    const pads = navigator.getGamepads();
    for (let i = 0; i < MAX_PADS; i++) {
      const pad = pads[i];
      const was = state.pads[i];
      if (!pad || !pad.connected) {
        if (was) api.padConnect(i, false);
        state.pads[i] = null;
        continue;
      }
      if (!was) api.padConnect(i, true);
      const now = {
        buttons: Array.from(pad.buttons, (b) => Math.round((b.pressed ? Math.max(b.value, 1) : b.value) * 255)),
        axes: Array.from(pad.axes, (a) => Math.round(a * 32767)),
      };
      now.buttons.forEach((v, b) => {
        if (b < 32 && v !== (was?.buttons[b] ?? 0)) api.padButton(i, b, v / 255);
      });
      now.axes.forEach((v, a) => {
        if (a < 8 && v !== (was?.axes[a] ?? 0)) api.padAxis(i, a, v / 32767);
      });
      state.pads[i] = now;
    }
  }

  addEventListener('keydown', onKey);
  addEventListener('keyup', onKey);
  addEventListener('blur', onBlur);
  document.addEventListener('visibilitychange', () => document.hidden && onBlur());
  video.addEventListener('pointermove', onPointerMove);
  video.addEventListener('pointerdown', onPointerButton);
  video.addEventListener('pointerup', onPointerButton);
  video.addEventListener('wheel', onWheel, { passive: false });
  video.addEventListener('contextmenu', (event) => event.preventDefault());
  video.style.touchAction = 'none'; // touch drives the pointer, not the page
  // Poll fast only while a pad is there: an idle page should not wake 125 times a second.
  const hasPad = () => Array.from(navigator.getGamepads?.() ?? []).some((p) => p && p.connected);
  const padCheck = () => {
    const want = hasPad() || state.pads.some(Boolean);
    if (want && !state.padTimer) state.padTimer = setInterval(pollPads, 8);
    if (!want && state.padTimer) {
      clearInterval(state.padTimer);
      state.padTimer = 0;
    }
  };
  addEventListener('gamepadconnected', padCheck);
  addEventListener('gamepaddisconnected', () => setTimeout(padCheck, 50));
  setInterval(padCheck, 500);

  return {
    api,
    attach(pc) {
      state.fast = state.reliable = null;
      state.pads = [];
      state.pings.clear();
      pc.addEventListener('datachannel', onDataChannel);
    },
    lockPointer() {
      video.requestPointerLock?.();
    },
  };
}

function clamp(x, lo, hi) {
  return Math.min(hi, Math.max(lo, Number.isFinite(x) ? x : 0));
}
