// Entry of `/`: a URL with a query other than user/role/token is direct play
// (the bare stream page the tests and benchmarks open); everything else is
// the React app. Direct play is in the entry itself (no extra round trip
// before the stream starts); the app loads lazily.
import { isDirectPlay } from './app/entry';
import { startDirectPlay } from './direct';

async function start() {
  const root = document.getElementById('root')!;
  const query = new URLSearchParams(location.search);
  if (isDirectPlay(location.pathname, query)) {
    document.documentElement.classList.add('direct-play');
    startDirectPlay(root, query);
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
