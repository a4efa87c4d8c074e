// The direct-play page (`/?session=…`, `/?pipeline=…&width=…`, `/?stamp=1…`, `/?photon=1…`):
// the bare stream page tests and benchmarks open. Its element ids (#video, #status,
// #overlay, #controls and the buttons) and globals (window.playcast, window.stampRecorder,
// window.photon) are a contract with them.
import { helloMessage } from './hello';
import { pageAuth } from './player/auth';
import { createPlayer } from './player/player';
import type { InputApi } from './player/input';
import type { PlayerHandle, RenderPath } from './player/types';
import { startPhotonProbe } from './player/measure/photon';
import { startStampRecorder } from './player/measure/stamp';

/** `window.playcast`: a read-only view for automated tests; the property names are a contract. */
export interface PlaycastGlobal {
  readonly state: string;
  readonly welcome: unknown;
  readonly stats: unknown;
  readonly reconnects: number;
  readonly lastError: unknown;
  readonly server: unknown;
  readonly input: InputApi;
  rawStats(): Promise<Record<string, unknown>[]>;
}

declare global {
  interface Window {
    playcast?: PlaycastGlobal;
  }
}


/** The player's options a direct-play query asks for. */
export function directOptions(query: URLSearchParams) {
  // The hello the old page sent: a session, or a pipeline with every other parameter.
  const hello = helloMessage(query);
  const render: RenderPath = query.get('render') === 'canvas' ? 'canvas' : 'video';
  return {
    session: hello.session_id,
    pipeline: hello.pipeline,
    params: hello.params,
    overlay: query.get('overlay') === '1',
    render,
  };
}

export function startDirectPlay(root: HTMLElement, query: URLSearchParams): PlayerHandle {
  const auth = pageAuth(query);
  root.style.position = 'fixed';
  root.style.inset = '0';
  const player = createPlayer(root, {
    ...directOptions(query),
    token: () => auth.token(),
    signIn: async () => {
      await auth.signIn();
    },
    signInFirst: true,
    overlayExtra: () => {
      const rec = window.stampRecorder;
      if (!rec) return [];
      const sum = rec.summary();
      return [['glass-to-glass', sum.count ? `p50 ${sum.p50} ms  p95 ${sum.p95} ms` : '–']];
    },
  });

  const el = player.elements;
  el.video.id = 'video';
  el.status.id = 'status';
  el.overlay.id = 'overlay';
  el.controls.id = 'controls';
  el.buttons.unmute.id = 'unmute';
  el.buttons.lock.id = 'lock';
  el.buttons.fullscreen.id = 'fullscreen';
  el.buttons.clipSend.id = 'clip-send';
  el.buttons.clipGet.id = 'clip-get';
  el.buttons.stats.id = 'stats-toggle';
  if (el.canvas) el.canvas.id = 'canvas';

  window.playcast = Object.freeze({
    get state() { return player.state; },
    get welcome() { return player.info.welcome; },
    get stats() { return player.info.stats; },
    get reconnects() { return player.info.reconnects; },
    get lastError() { return player.info.lastError; },
    get server() { return player.info.server; },
    input: player.input,
    rawStats: () => player.rawStats(),
  });

  // The recorders read the picture where it is drawn: the canvas on the canvas path.
  const picture = el.canvas ?? el.video;
  if (query.get('stamp') === '1') startStampRecorder(picture);
  if (query.get('photon') === '1') {
    const presses = Number(query.get('presses')) || Infinity;
    const input = player.input;
    startPhotonProbe(picture, (code, down) => input.ready && input.key(code, down), presses);
  }
  return player;
}
