// Entry of `/`: a URL with a query other than user/role/token is direct play
// (the bare stream page the tests and benchmarks open); everything else is
// the React app. Direct play is in the entry itself (no extra round trip
// before the stream starts); the app loads lazily.
import { isDirectPlay } from './app/entry';

type DirectModule = { startDirectPlay(root: HTMLElement, query: URLSearchParams): void | Promise<void> };
const direct = import.meta.glob<DirectModule>('./direct.ts', { eager: true });
const legacy = import.meta.glob('./app.js');

// The old page's elements, for the legacy client while direct.ts is not there.
const LEGACY_DOM = `
  <video id="video" autoplay playsinline muted></video>
  <div id="status" role="status" aria-live="polite">idle</div>
  <pre id="overlay" hidden></pre>
  <div id="controls">
    <button id="unmute" type="button">Unmute</button>
    <button id="lock" type="button" title="Relative mouse for games that turn the view">Lock pointer</button>
    <button id="clip-send" type="button" title="Put this computer's clipboard text on the game's clipboard">Paste to game</button>
    <button id="clip-get" type="button" title="Copy the game's clipboard text to this computer">Copy from game</button>
    <button id="stats-toggle" type="button" aria-pressed="false" title="Toggle stats (F2)">Stats</button>
  </div>`;

async function start() {
  const root = document.getElementById('root')!;
  const query = new URLSearchParams(location.search);
  if (isDirectPlay(location.pathname, query)) {
    document.documentElement.classList.add('direct-play');
    const page = direct['./direct.ts'];
    if (page) {
      await page.startDirectPlay(root, query);
    } else {
      root.innerHTML = LEGACY_DOM;
      await legacy['./app.js']?.();
    }
    return;
  }
  const [{ createRoot }, { default: App }] = await Promise.all([import('react-dom/client'), import('./app/App')]);
  createRoot(root).render(<App />);
}

start().catch((e) => {
  console.error('playcast: the page failed to start', e);
  const root = document.getElementById('root');
  if (root) {
    root.innerHTML = '';
    const p = document.createElement('p');
    p.className = 'boot-error';
    p.setAttribute('role', 'alert');
    p.textContent = `The page failed to start (${(e as Error).message}). Reload to try again.`;
    root.append(p);
  }
});
