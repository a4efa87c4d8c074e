// The player's settings, kept in IndexedDB: read once at start, saved on change.
import { createContext, ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { cache, DEFAULT_SETTINGS, Settings } from './db';

interface SettingsValue {
  settings: Settings;
  /** Whether the saved settings have been read (or found missing). */
  loaded: boolean;
  update(change: Partial<Settings>): void;
}

const SettingsContext = createContext<SettingsValue>({ settings: DEFAULT_SETTINGS, loaded: true, update: () => {} });

export function useSettings(): SettingsValue {
  return useContext(SettingsContext);
}

export function SettingsProvider({ children }: { children: ReactNode }) {
  const [settings, setSettings] = useState<Settings>(DEFAULT_SETTINGS);
  const [loaded, setLoaded] = useState(false);

  useEffect(() => {
    let live = true;
    cache
      .get('settings')
      .then((hit) => live && hit && setSettings({ ...DEFAULT_SETTINGS, ...hit.value }))
      .catch((e) => console.warn('playcast: settings not read', e))
      .finally(() => live && setLoaded(true));
    return () => {
      live = false;
    };
  }, []);

  const update = useCallback((change: Partial<Settings>) => {
    setSettings((old) => {
      const next = { ...old, ...change };
      cache.put('settings', next).catch((e) => console.warn('playcast: settings not saved', e));
      return next;
    });
  }, []);

  const value = useMemo(() => ({ settings, loaded, update }), [settings, loaded, update]);
  return <SettingsContext.Provider value={value}>{children}</SettingsContext.Provider>;
}

/** The bitrate a quality preference asks for at launch (`undefined`: the game's own). */
export function qualityBitrate(q: Settings['quality']): number | undefined {
  return { auto: undefined, low: 1_500_000, medium: 4_000_000, high: 10_000_000 }[q];
}
