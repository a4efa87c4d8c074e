// <playcast-player>: the player as a custom element for other sites (docs/EMBED.md).
//
//   <playcast-player session="…" token="…" overlay></playcast-player>
//
// Attributes: session, pipeline, params (a query string of pipeline parameters), token,
// server (the service's origin when it is not the page's), overlay, render ("video" or
// "canvas"), signed-in (the token's sign-in is already recorded: skip POST /api/v1/login),
// no-controls, no-gamepads (connected gamepads are not sent to the game). Events
// (CustomEvent, bubbling out of the shadow root): statechange {state}, playererror
// {code, message}, stats (PlayerStats), ended {reason}.
import { helloMessage } from './hello';
import { createPlayer } from './player/player';
import type { PlayerError, PlayerHandle, PlayerOptions, PlayerState, PlayerStats, RenderPath } from './player/types';

export type { PlayerError, PlayerState, PlayerStats } from './player/types';

/** Attributes whose change starts a new stream (the others apply to the running one). */
const RESTARTING = ['session', 'pipeline', 'params', 'server', 'render', 'signed-in', 'no-controls'];

const PROPERTIES = ['session', 'pipeline', 'params', 'token', 'server', 'render', 'overlay'];

const HOST_CSS = `
:host { display: block; position: relative; width: 100%; aspect-ratio: 16 / 9; background: #000;
  contain: content; }
:host([hidden]) { display: none; }
.playcast-player { position: absolute; inset: 0; }
.playcast-player:focus-visible { outline: 2px solid #6cf; outline-offset: -2px; }
`;

/** Pipeline parameters from the `params` attribute (`width=1280&height=720`), typed as the page's query. */
export function parseParams(text: string | null): Record<string, string | number | boolean> | undefined {
  if (!text) return undefined;
  return helloMessage(new URLSearchParams(text)).params;
}

export class PlaycastPlayerElement extends HTMLElement {
  static observedAttributes = ['token', 'overlay', 'no-gamepads', ...RESTARTING];

  private provider: (() => Promise<string>) | null = null;
  private player: PlayerHandle | null = null;
  private container: HTMLDivElement;
  private pending = false;
  private lastStats: PlayerStats | null = null;

  constructor() {
    super();
    const shadow = this.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = HOST_CSS;
    this.container = document.createElement('div');
    shadow.append(style, this.container);
    // Properties a page set before this module defined the element shadow the accessors: move them over.
    for (const name of ['tokenProvider', ...PROPERTIES]) {
      if (Object.prototype.hasOwnProperty.call(this, name)) {
        const value = (this as Record<string, unknown>)[name];
        delete (this as Record<string, unknown>)[name];
        (this as Record<string, unknown>)[name] = value;
      }
    }
  }

  /** Called before every (re)connection for a currently valid token; wins over the `token` attribute. */
  get tokenProvider(): (() => Promise<string>) | null { return this.provider; }
  set tokenProvider(fn: (() => Promise<string>) | null) { this.provider = typeof fn === 'function' ? fn : null; }

  // --- attributes as properties ---------------------------------------------------------------
  get session(): string | null { return this.getAttribute('session'); }
  set session(v: string | null) { this.reflect('session', v); }
  get pipeline(): string | null { return this.getAttribute('pipeline'); }
  set pipeline(v: string | null) { this.reflect('pipeline', v); }
  get params(): string | null { return this.getAttribute('params'); }
  set params(v: string | null) { this.reflect('params', v); }
  get token(): string | null { return this.getAttribute('token'); }
  set token(v: string | null) { this.reflect('token', v); }
  get server(): string | null { return this.getAttribute('server'); }
  set server(v: string | null) { this.reflect('server', v); }
  get render(): RenderPath { return this.getAttribute('render') === 'canvas' ? 'canvas' : 'video'; }
  set render(v: RenderPath) { this.reflect('render', v); }
  get overlay(): boolean { return this.hasAttribute('overlay'); }
  set overlay(v: boolean) { this.toggleAttribute('overlay', v); }

  /** Where the stream is; `idle` before the element is in a document. */
  get state(): PlayerState { return this.player?.state ?? 'idle'; }
  /** The latest figures (the last `stats` event's detail). */
  get stats(): PlayerStats | null { return this.lastStats; }
  /** The player inside, for what the element does not mirror (input, raw statistics). */
  get handle(): PlayerHandle | null { return this.player; }

  private reflect(name: string, v: string | null) {
    if (v === null || v === undefined) this.removeAttribute(name);
    else this.setAttribute(name, v);
  }

  connectedCallback() {
    this.schedule();
  }

  disconnectedCallback() {
    this.stop();
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null) {
    if (old === value) return;
    if (name === 'overlay') this.player?.setOverlay(value !== null);
    else if (name === 'no-gamepads') this.player?.setGamepads(value === null);
    else if (RESTARTING.includes(name) && this.player) {
      this.stop();
      this.schedule();
    }
    // `token` applies at the next (re)connection: the player asks for it then.
  }

  // --- the player's methods -------------------------------------------------------------------
  setOverlay(visible: boolean) { this.overlay = visible; }
  unmute() { this.player?.unmute(); }
  lockPointer() { this.player?.lockPointer(); }
  fullscreen(): Promise<void> { return this.player ? this.player.fullscreen() : Promise.resolve(); }
  pasteToGame(text: string) { this.player?.pasteToGame(text); }
  copyFromGame(): Promise<string> {
    return this.player ? this.player.copyFromGame() : Promise.reject(new Error('the player is not running'));
  }
  /** Connect again now (after `ended`, or to skip a reconnect's wait). */
  reconnect() {
    if (this.player) this.player.reconnect();
    else this.schedule();
  }
  /** Ends the stream; `reconnect()` or re-adding the element starts a new one. */
  close() { this.stop(); }

  // Attributes set one after another in the same task start one stream, not several.
  private schedule() {
    if (this.pending) return;
    this.pending = true;
    queueMicrotask(() => {
      this.pending = false;
      if (this.isConnected && !this.player) this.start();
    });
  }

  /** The player's options from the attributes (exported for tests through the element). */
  playerOptions(): PlayerOptions {
    return {
      session: this.session ?? undefined,
      pipeline: this.pipeline ?? undefined,
      params: parseParams(this.params),
      server: this.server ?? undefined,
      overlay: this.overlay,
      render: this.render,
      token: () => this.currentToken(),
      signInFirst: !this.hasAttribute('signed-in'),
      keyboard: 'container',
      controls: !this.hasAttribute('no-controls'),
      gamepads: !this.hasAttribute('no-gamepads'),
    };
  }

  private async currentToken(): Promise<string> {
    if (this.provider) return this.provider();
    const token = this.token;
    if (!token) throw new Error('no token: set the token attribute or the tokenProvider property');
    return token;
  }

  private start() {
    this.container.replaceChildren();
    this.container.className = '';
    const player = createPlayer(this.container, this.playerOptions());
    this.player = player;
    const fire = (type: string, detail: unknown) =>
      this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
    player.on('state', (state) => fire('statechange', { state }));
    player.on('error', (error: PlayerError) => fire('playererror', error));
    player.on('stats', (stats) => {
      this.lastStats = stats;
      fire('stats', stats);
    });
    player.on('ended', (e) => fire('ended', e));
  }

  private stop() {
    const player = this.player;
    this.player = null;
    this.pending = false;
    player?.close();
  }
}

export function definePlaycastPlayer(name = 'playcast-player') {
  if (!customElements.get(name)) customElements.define(name, PlaycastPlayerElement);
}

definePlaycastPlayer();

declare global {
  interface HTMLElementTagNameMap {
    'playcast-player': PlaycastPlayerElement;
  }
}
