import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';

// Each test renders into a clean document.
afterEach(cleanup);
import { isDirectPlay } from './entry';
import { Link, navigate, parseRoute, useRoute } from './router';

describe('parseRoute', () => {
  it('knows the app pages', () => {
    expect(parseRoute('/')).toEqual({ page: 'home' });
    expect(parseRoute('/library/')).toEqual({ page: 'home' });
    expect(parseRoute('/history')).toEqual({ page: 'history' });
    expect(parseRoute('/settings')).toEqual({ page: 'settings' });
    expect(parseRoute('/admin')).toEqual({ page: 'admin' });
    expect(parseRoute('/play/5b0e6a1e-1')).toEqual({ page: 'play', id: '5b0e6a1e-1' });
    expect(parseRoute('/play/a%20b')).toEqual({ page: 'play', id: 'a b' });
  });

  it('says what it does not know', () => {
    expect(parseRoute('/play')).toEqual({ page: 'not-found', path: '/play' });
    expect(parseRoute('/play/a/b')).toEqual({ page: 'not-found', path: '/play/a/b' });
    expect(parseRoute('/play/%E0%A4%A')).toEqual({ page: 'not-found', path: '/play/%E0%A4%A' });
  });
});

function Where() {
  const r = useRoute();
  return (
    <div>
      <span data-testid="page">{r.page === 'play' ? `play ${r.id}` : r.page}</span>
      <Link to="/history">History</Link>
    </div>
  );
}

describe('useRoute', () => {
  afterEach(() => history.replaceState(null, '', '/'));

  it('follows navigate, links and the back button', async () => {
    history.replaceState(null, '', '/');
    render(<Where />);
    expect(screen.getByTestId('page').textContent).toBe('home');
    act(() => navigate('/play/s1'));
    expect(screen.getByTestId('page').textContent).toBe('play s1');
    expect(location.pathname).toBe('/play/s1');
    fireEvent.click(screen.getByText('History'));
    expect(screen.getByTestId('page').textContent).toBe('history');
    act(() => {
      history.replaceState(null, '', '/play/s1');
      window.dispatchEvent(new PopStateEvent('popstate'));
    });
    expect(screen.getByTestId('page').textContent).toBe('play s1');
  });

  it('leaves modified clicks to the browser', () => {
    history.replaceState(null, '', '/');
    render(<Where />);
    fireEvent.click(screen.getByText('History'), { ctrlKey: true });
    expect(location.pathname).toBe('/');
  });
});

describe('isDirectPlay', () => {
  const q = (s: string) => new URLSearchParams(s);
  it('sends stream and session URLs on `/` to the direct-play page', () => {
    expect(isDirectPlay('/', q('session=abc&user=p1&overlay=1'))).toBe(true);
    expect(isDirectPlay('/', q('width=1280&height=720&pattern=ball'))).toBe(true);
    expect(isDirectPlay('/', q('stamp=1&pipeline=test-pattern'))).toBe(true);
  });
  it('keeps the app for a bare `/`, sign-in parameters, Clerk redirects and other paths', () => {
    expect(isDirectPlay('/', q(''))).toBe(false);
    expect(isDirectPlay('/', q('user=alice&role=admin&token=x'))).toBe(false);
    expect(isDirectPlay('/', q('__clerk_status=verified'))).toBe(false);
    expect(isDirectPlay('/history', q('session=abc'))).toBe(false);
  });
});
