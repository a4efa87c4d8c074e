import 'fake-indexeddb/auto';
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';

// Each test renders into a clean document.
afterEach(cleanup);
import { ApiError, Game } from '../api';
import { Cache, DEFAULT_SETTINGS } from './db';
import { useCached } from './useCached';

const games: Game[] = [{ id: 'probe', title: 'Latency probe', pipeline: 'linux-x11', available: true }];

function fresh() {
  return new Cache(`test-${Math.random()}`);
}

describe('Cache', () => {
  it('answers null for what was never saved', async () => {
    expect(await fresh().get('library', 'alice')).toBeNull();
  });

  it('keeps each value with the time it was saved, per scope', async () => {
    const c = fresh();
    await c.put('library', games, 'alice', 1234);
    await c.put('settings', { ...DEFAULT_SETTINGS, overlay: true });
    expect(await c.get('library', 'alice')).toEqual({ value: games, savedAt: 1234 });
    expect(await c.get('library', 'bob')).toBeNull();
    expect((await c.get('settings'))?.value.overlay).toBe(true);
  });

  it('replaces a value and forgets everything on clear', async () => {
    const c = fresh();
    await c.put('history', [], 'alice', 1);
    await c.put('history', [], 'alice', 2);
    expect((await c.get('history', 'alice'))?.savedAt).toBe(2);
    await c.clear();
    expect(await c.get('history', 'alice')).toBeNull();
  });
});

function Library({ store, fetcher }: { store: Cache; fetcher: () => Promise<Game[]> }) {
  const r = useCached('library', 'alice', fetcher, store);
  return (
    <div>
      <span data-testid="titles">{r.data?.map((g) => g.title).join(',') ?? 'none'}</span>
      <span data-testid="cached">{r.cachedAt === null ? 'fresh' : `cached ${r.cachedAt}`}</span>
      <span data-testid="error">{r.error?.kind ?? ''}</span>
    </div>
  );
}

describe('useCached', () => {
  it('shows the cached value, marked, while the API is slow, then the answer', async () => {
    const store = fresh();
    await store.put('library', [{ ...games[0], title: 'Old title' }], 'alice', 42);
    let answer: (g: Game[]) => void = () => {};
    const slow = () => new Promise<Game[]>((resolve) => (answer = resolve));
    render(<Library store={store} fetcher={slow} />);
    await waitFor(() => expect(screen.getByTestId('titles').textContent).toBe('Old title'));
    expect(screen.getByTestId('cached').textContent).toBe('cached 42');
    await act(async () => answer(games));
    expect(screen.getByTestId('titles').textContent).toBe('Latency probe');
    expect(screen.getByTestId('cached').textContent).toBe('fresh');
    // The answer is cached for next time.
    await waitFor(async () => expect((await store.get('library', 'alice'))?.value).toEqual(games));
  });

  it('keeps showing the cached value, with the error, while offline', async () => {
    const store = fresh();
    await store.put('library', games, 'alice', 7);
    const offline = () => Promise.reject(new ApiError(0, { detail: 'failed to fetch' }));
    render(<Library store={store} fetcher={offline} />);
    await waitFor(() => expect(screen.getByTestId('error').textContent).toBe('network'));
    await waitFor(() => expect(screen.getByTestId('titles').textContent).toBe('Latency probe'));
    expect(screen.getByTestId('cached').textContent).toBe('cached 7');
  });
});
