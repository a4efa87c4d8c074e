// Player input over the stream's data channels (docs/INPUT.md): keyboard by physical key,
// mouse (absolute, or relative under pointer lock), wheel, touch as a pointer, gamepads
// through the Gamepad API, and a ping on the reliable channel for the input round trip.
// Motion and axes go on the unordered channel `input-fast`; everything else on `input`.
import {
  BUTTONS,
  KEY_CODES,
  buttonMessage,
  clipboardMessage,
  controlMessage,
  keyMessage,
  moveAbsMessage,
  moveRelMessage,
  padAxisMessage,
  padButtonMessage,
  padConnectMessage,
  parseReply,
  pingMessage,
  picturePosition,
  wheelMessage,
  wheelUnit,
  type ControlName,
} from './protocol';

const PING_EVERY_MS = 1000;
const PING_FORGET_MS = 10_000;
const MAX_PADS = 4;
const MAX_NOTICES = 20;

export interface InputNotice {
  code: number;
  text: string;
}

/** What `window.playcast.input` shows on the direct-play page; the names are a contract. */
export interface InputApi {
  readonly ready: boolean;
  readonly rttMs: number | null;
  readonly sent: number;
  readonly notices: InputNotice[];
  readonly clipboard: string | null;
  key(code: number, down: boolean): boolean;
  button(button: number, down: boolean): boolean;
  moveAbs(x: number, y: number): boolean;
  moveRel(dx: number, dy: number): boolean;
  wheel(dx: number, dy: number): boolean;
  padConnect(pad: number, connected: boolean): boolean;
  padButton(pad: number, button: number, value: number): boolean;
  padAxis(pad: number, axis: number, value: number): boolean;
  control(name: ControlName): boolean;
  setClipboard(text: string): boolean;
  requestClipboard(): boolean;
  releaseAll(): boolean;
  sendRaw(bytes: ArrayLike<number> | string, onFast?: boolean): boolean;
}

export interface InputOptions {
  /** Where pointer events land and what pointer lock locks: the picture's element. */
  surface: HTMLElement;
  /** The picture's own size (the surface letterboxes it); 0 while unknown. */
  pictureSize: () => [number, number];
  /** Where keys are listened for: the window on a page of its own, the player's element when embedded. */
  keyTarget: EventTarget;
  /** A key the host keeps for itself unless the pointer is locked (the overlay's F2). */
  hostKey?: string;
  onChange?: () => void;
  /** The game's clipboard text arrived (after `requestClipboard`). */
  onClipboard?: (text: string) => void;
  /** Send connected gamepads to the game (default true). */
  gamepads?: boolean;
}

export interface Input {
  api: InputApi;
  attach(pc: RTCPeerConnection): void;
  lockPointer(): void;
  /** Starts or stops sending gamepads; stopping unplugs them in the game. */
  setGamepads(on: boolean): void;
  dispose(): void;
}

interface PadState {
  buttons: number[];
  axes: number[];
}

export function createInput(opts: InputOptions): Input {
  const { surface } = opts;
  const state = {
    fast: null as RTCDataChannel | null,
    reliable: null as RTCDataChannel | null,
    rttMs: null as number | null,
    sent: 0,
    notices: [] as InputNotice[],
    clipboard: null as string | null,
    pingId: 0,
    pings: new Map<number, number>(),
    pads: [] as (PadState | null)[],
    pingTimer: 0 as ReturnType<typeof setInterval> | 0,
    padTimer: 0 as ReturnType<typeof setInterval> | 0,
    padsOn: opts.gamepads ?? true,
  };
  const open = (ch: RTCDataChannel | null): ch is RTCDataChannel => !!ch && ch.readyState === 'open';
  const sendOn = (ch: RTCDataChannel | null, data: ArrayBuffer | string): boolean => {
    if (!open(ch)) return false;
    ch.send(data as ArrayBuffer);
    state.sent++;
    return true;
  };
  const reliable = (buf: ArrayBuffer) => sendOn(state.reliable, buf);
  // Motion falls back to the reliable channel until the fast one is open.
  const fast = (buf: ArrayBuffer) => sendOn(open(state.fast) ? state.fast : state.reliable, buf);

  const api: InputApi = {
    get ready() { return open(state.reliable) && open(state.fast); },
    get rttMs() { return state.rttMs; },
    get sent() { return state.sent; },
    get notices() { return state.notices.slice(); },
    get clipboard() { return state.clipboard; },
    key: (code, down) => reliable(keyMessage(code, down)),
    button: (button, down) => reliable(buttonMessage(button, down)),
    moveAbs: (x, y) => fast(moveAbsMessage(x, y)),
    moveRel: (dx, dy) => fast(moveRelMessage(dx, dy)),
    wheel: (dx, dy) => reliable(wheelMessage(dx, dy)),
    padConnect: (pad, connected) => reliable(padConnectMessage(pad, connected)),
    padButton: (pad, button, value) => reliable(padButtonMessage(pad, button, value)),
    padAxis: (pad, axis, value) => fast(padAxisMessage(pad, axis, value)),
    control: (name) => reliable(controlMessage(name)),
    setClipboard: (text) => reliable(clipboardMessage(text)),
    // Asks for the game's clipboard; the answer lands in `clipboard` (and the local clipboard).
    requestClipboard: () => reliable(controlMessage('clipboardGet')),
    releaseAll: () => reliable(controlMessage('releaseAll')),
    // Raw bytes (or a string, sent as a text message), for tests of the server's handling of bad input.
    sendRaw(bytes, onFast = false) {
      const data = typeof bytes === 'string' ? bytes : new Uint8Array(Array.from(bytes)).buffer;
      return sendOn(onFast ? state.fast : state.reliable, data);
    },
  };

  function ping() {
    const id = ++state.pingId >>> 0;
    if (reliable(pingMessage(id))) state.pings.set(id, performance.now());
    // Unanswered pings are forgotten after a while.
    for (const [k, t] of state.pings) if (performance.now() - t > PING_FORGET_MS) state.pings.delete(k);
  }

  function onReply(event: MessageEvent) {
    const reply = parseReply(event.data);
    if (!reply) return;
    if (reply.kind === 'pong') {
      const sentAt = state.pings.get(reply.id);
      if (sentAt === undefined) return;
      state.rttMs = Math.round((performance.now() - sentAt) * 10) / 10;
      state.pings.delete(reply.id);
      opts.onChange?.();
    } else if (reply.kind === 'notice') {
      state.notices.push({ code: reply.code, text: reply.text });
      if (state.notices.length > MAX_NOTICES) state.notices.shift();
      console.info('playcast: input notice:', reply.text);
    } else {
      state.clipboard = reply.text;
      navigator.clipboard?.writeText(reply.text).catch(() => {});
      opts.onClipboard?.(reply.text);
    }
  }

  // --- channels ---------------------------------------------------------------------------
  function onDataChannel(event: RTCDataChannelEvent) {
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
  const locked = () => {
    const root = surface.getRootNode() as Document | ShadowRoot;
    return (root.pointerLockElement ?? document.pointerLockElement) === surface;
  };
  const onKey = (e: Event) => {
    const event = e as KeyboardEvent;
    const code = KEY_CODES[event.code];
    if (!code || !api.ready) return;
    if (event.code === opts.hostKey && !locked()) return; // the host's key, unless playing locked
    event.preventDefault();
    if (event.repeat) return; // the game's display repeats keys itself
    api.key(code, event.type === 'keydown');
  };

  const position = (event: PointerEvent) => {
    const [vw, vh] = opts.pictureSize();
    return picturePosition(event.clientX, event.clientY, surface.getBoundingClientRect(), vw, vh);
  };
  const onPointerMove = (event: PointerEvent) => {
    if (!api.ready) return;
    if (locked()) api.moveRel(event.movementX, event.movementY);
    else api.moveAbs(...position(event));
  };
  const onPointerButton = (event: PointerEvent) => {
    const b = BUTTONS[event.button];
    if (!b || !api.ready) return;
    event.preventDefault();
    if (!locked()) api.moveAbs(...position(event));
    api.button(b, event.type === 'pointerdown');
  };
  const onWheel = (event: WheelEvent) => {
    if (!api.ready) return;
    event.preventDefault();
    const unit = wheelUnit(event.deltaMode);
    api.wheel(event.deltaX * unit, event.deltaY * unit);
  };
  const onBlur = () => {
    if (api.ready) api.releaseAll();
  };
  const onVisibility = () => {
    if (document.hidden) onBlur();
  };
  const onContextMenu = (event: Event) => event.preventDefault();

  // --- gamepads ----------------------------------------------------------------------------
  function pollPads() {
    if (!api.ready || !state.padsOn || !navigator.getGamepads) return;
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
      const now: PadState = {
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

  // Poll fast only while a pad is there: an idle page should not wake 125 times a second.
  const hasPad = () => Array.from(navigator.getGamepads?.() ?? []).some((p) => p && p.connected);
  const padCheck = () => {
    const want = state.padsOn && (hasPad() || state.pads.some(Boolean));
    if (want && !state.padTimer) state.padTimer = setInterval(pollPads, 8);
    if (!want && state.padTimer) {
      clearInterval(state.padTimer);
      state.padTimer = 0;
    }
  };
  const onPadGone = () => setTimeout(padCheck, 50);

  // Every listener goes with one abort on dispose(), as the player's own do.
  const listening = new AbortController();
  const on = { signal: listening.signal };
  opts.keyTarget.addEventListener('keydown', onKey, on);
  opts.keyTarget.addEventListener('keyup', onKey, on);
  addEventListener('blur', onBlur, on);
  document.addEventListener('visibilitychange', onVisibility, on);
  surface.addEventListener('pointermove', onPointerMove, on);
  surface.addEventListener('pointerdown', onPointerButton, on);
  surface.addEventListener('pointerup', onPointerButton, on);
  surface.addEventListener('wheel', onWheel, { ...on, passive: false });
  surface.addEventListener('contextmenu', onContextMenu, on);
  surface.style.touchAction = 'none'; // touch drives the pointer, not the page
  addEventListener('gamepadconnected', padCheck, on);
  addEventListener('gamepaddisconnected', onPadGone, on);
  const padCheckTimer = setInterval(padCheck, 500);

  let attached: RTCPeerConnection | null = null;
  return {
    api,
    attach(pc) {
      attached?.removeEventListener('datachannel', onDataChannel);
      attached = pc;
      state.fast = state.reliable = null;
      state.pads = [];
      state.pings.clear();
      pc.addEventListener('datachannel', onDataChannel);
    },
    lockPointer() {
      surface.requestPointerLock?.();
    },
    setGamepads(on) {
      if (on === state.padsOn) return;
      state.padsOn = on;
      if (!on) {
        // The game sees each pad it had go away, so no button stays held.
        state.pads.forEach((pad, i) => pad && api.padConnect(i, false));
        state.pads = [];
      }
      padCheck();
    },
    dispose() {
      attached?.removeEventListener('datachannel', onDataChannel);
      clearInterval(state.pingTimer);
      clearInterval(state.padTimer);
      clearInterval(padCheckTimer);
      listening.abort();
    },
  };
}
