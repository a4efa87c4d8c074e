// Path routes on the History API: the service answers every page path with
// the app, so `/play/<id>` can be opened, reloaded and shared.
import { AnchorHTMLAttributes, MouseEvent, useEffect, useState } from 'react';

export type Route =
  | { page: 'home' }
  | { page: 'play'; id: string }
  | { page: 'history' }
  | { page: 'settings' }
  | { page: 'admin' }
  | { page: 'not-found'; path: string };

export function parseRoute(path: string): Route {
  const p = path.replace(/\/+$/, '') || '/';
  if (p === '/' || p === '/library' || p === '/index.html') return { page: 'home' };
  if (p === '/history') return { page: 'history' };
  if (p === '/settings') return { page: 'settings' };
  if (p === '/admin') return { page: 'admin' };
  const play = /^\/play\/([^/]+)$/.exec(p);
  if (play) {
    try {
      return { page: 'play', id: decodeURIComponent(play[1]) };
    } catch {
      return { page: 'not-found', path };
    }
  }
  return { page: 'not-found', path };
}

const NAVIGATE = 'playcast:navigate';

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  window.dispatchEvent(new Event(NAVIGATE));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname));
    window.addEventListener('popstate', update);
    window.addEventListener(NAVIGATE, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(NAVIGATE, update);
    };
  }, []);
  return route;
}

/** An <a> that navigates in the page (a plain link for new tabs and modified clicks). */
export function Link({ to, onClick, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const click = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  const current = parseRoute(to).page === parseRoute(location.pathname).page && to === location.pathname;
  return <a href={to} onClick={click} aria-current={current ? 'page' : undefined} {...rest} />;
}
