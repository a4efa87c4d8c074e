// Data from the API with the cache in front: what was cached shows at once
// (marked as cached), the API's answer replaces it and is cached in turn.
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api';
import { Cache, cache as defaultCache, CacheEntries, CacheKey } from './db';

export interface CachedResource<T> {
  data: T | null;
  /** Set while `data` comes from the cache (offline, or the API has not answered yet). */
  cachedAt: number | null;
  loading: boolean;
  error: ApiError | null;
  reload(): void;
}

export function useCached<K extends CacheKey>(
  key: K,
  scope: string,
  fetcher: () => Promise<CacheEntries[K]>,
  store: Cache = defaultCache,
): CachedResource<CacheEntries[K]> {
  const [data, setData] = useState<CacheEntries[K] | null>(null);
  const [cachedAt, setCachedAt] = useState<number | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<ApiError | null>(null);
  const [round, setRound] = useState(0);
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;

  useEffect(() => {
    let live = true;
    let fresh = false;
    setLoading(true);
    store
      .get(key, scope)
      .then((hit) => {
        if (live && hit && !fresh) {
          setData(hit.value);
          setCachedAt(hit.savedAt);
        }
      })
      .catch((e) => console.warn('playcast: cache read failed', e));
    fetcherRef.current().then(
      (value) => {
        if (!live) return;
        fresh = true;
        setData(value);
        setCachedAt(null);
        setError(null);
        setLoading(false);
        store.put(key, value, scope).catch((e) => console.warn('playcast: cache write failed', e));
      },
      (e) => {
        if (!live) return;
        setError(e instanceof ApiError ? e : new ApiError(0, { detail: String(e) }));
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [key, scope, round, store]);

  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { data, cachedAt, loading, error, reload };
}
