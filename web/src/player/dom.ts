// The player's own elements inside its container, and their styles. Everything is
// scoped under `.playcast-player` so a host page's styles and the player's stay apart.

export interface PlayerElements {
  root: HTMLElement;
  video: HTMLVideoElement;
  /** The canvas render path's surface; null on the video path. */
  canvas: HTMLCanvasElement | null;
  status: HTMLElement;
  overlay: HTMLElement;
  controls: HTMLElement;
  buttons: {
    unmute: HTMLButtonElement;
    lock: HTMLButtonElement;
    fullscreen: HTMLButtonElement;
    clipSend: HTMLButtonElement;
    clipGet: HTMLButtonElement;
    stats: HTMLButtonElement;
  };
}

export const PLAYER_CSS = `
.playcast-player { position: relative; overflow: hidden; background: #000; color: #eee;
  font: 14px/1.4 system-ui, sans-serif; }
.playcast-player:fullscreen { width: 100%; height: 100%; }
/* Letterbox rather than crop: the whole game frame must stay visible. */
.playcast-player .pc-picture { position: absolute; inset: 0; width: 100%; height: 100%;
  object-fit: contain; background: #000; display: block; }
.playcast-player .pc-status { position: absolute; left: 50%; bottom: 1rem; transform: translateX(-50%);
  padding: 0.3rem 0.8rem; border-radius: 4px; background: rgba(0, 0, 0, 0.7); max-width: 90%; }
/* The overlay must never steal clicks or input from the game surface. */
.playcast-player .pc-overlay { position: absolute; top: 0.5rem; left: 0.5rem; margin: 0;
  padding: 0.5rem 0.75rem; border-radius: 4px; background: rgba(0, 0, 0, 0.65); color: #eee;
  font: 12px/1.35 ui-monospace, Menlo, Consolas, monospace; pointer-events: none; white-space: pre; }
.playcast-player .pc-controls { position: absolute; right: 0.5rem; bottom: 0.5rem; display: flex;
  flex-wrap: wrap; justify-content: flex-end; gap: 0.4rem; }
.playcast-player .pc-controls button { padding: 0.35rem 0.8rem; border: 1px solid rgba(255, 255, 255, 0.35);
  border-radius: 4px; background: rgba(0, 0, 0, 0.6); color: inherit; font: inherit; cursor: pointer;
  min-height: 2rem; }
.playcast-player .pc-controls button:hover,
.playcast-player .pc-controls button[aria-pressed="true"] { background: rgba(255, 255, 255, 0.2); }
.playcast-player .pc-controls button:focus-visible { outline: 2px solid #6cf; outline-offset: 2px; }
.playcast-player [hidden] { display: none !important; }
`;

function injectStyles(container: HTMLElement) {
  const root = container.getRootNode() as Document | ShadowRoot;
  const host = root instanceof ShadowRoot ? root : document.head;
  if (host.querySelector('style[data-playcast-player]')) return;
  const style = document.createElement('style');
  style.dataset.playcastPlayer = '';
  style.textContent = PLAYER_CSS;
  host.appendChild(style);
}

function button(label: string, title: string, cls: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = cls;
  b.textContent = label;
  if (title) b.title = title;
  return b;
}

export function buildDom(container: HTMLElement, opts: { canvas: boolean; controls: boolean }): PlayerElements {
  injectStyles(container);
  container.classList.add('playcast-player');
  // Starts muted: browsers only allow autoplay without sound.
  const video = document.createElement('video');
  video.className = 'pc-picture pc-video';
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true;
  video.setAttribute('playsinline', '');
  video.setAttribute('muted', '');
  let canvas: HTMLCanvasElement | null = null;
  if (opts.canvas) {
    canvas = document.createElement('canvas');
    canvas.className = 'pc-picture pc-canvas';
    // The video element then only plays the sound.
    video.hidden = true;
  }
  const status = document.createElement('div');
  status.className = 'pc-status';
  status.setAttribute('role', 'status');
  status.setAttribute('aria-live', 'polite');
  status.textContent = 'idle';
  const overlay = document.createElement('pre');
  overlay.className = 'pc-overlay';
  overlay.hidden = true;
  const controls = document.createElement('div');
  controls.className = 'pc-controls';
  controls.hidden = !opts.controls;
  const buttons = {
    unmute: button('Unmute', '', 'pc-unmute'),
    lock: button('Lock pointer', 'Relative mouse for games that turn the view', 'pc-lock'),
    fullscreen: button('Full screen', 'Play in full screen', 'pc-fullscreen'),
    clipSend: button('Paste to game', "Put this computer's clipboard text on the game's clipboard", 'pc-clip-send'),
    clipGet: button('Copy from game', "Copy the game's clipboard text to this computer", 'pc-clip-get'),
    stats: button('Stats', 'Toggle stats (F2)', 'pc-stats'),
  };
  buttons.stats.setAttribute('aria-pressed', 'false');
  controls.append(...Object.values(buttons));
  container.append(video, ...(canvas ? [canvas] : []), status, overlay, controls);
  return { root: container, video, canvas, status, overlay, controls, buttons };
}
