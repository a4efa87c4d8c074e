// A small typed wrapper over IndexedDB: one object store of entries, each a
// value with the time it was saved, so the app can open at once on what it
// saw last and say how old it is.

export interface Settings {
  /** Show the stats overlay when a stream starts (F2 toggles it). */
  overlay: boolean;
  /** Lock the pointer when play starts (for games that turn the view). */
  lockPointer: boolean;
  /** Send gamepads to the game. */
  gamepads: boolean;
  /** How decoded pictures reach the screen. */
  render: 'video' | 'canvas';
  /** Preferred quality: the bitrate asked for at launch, or `auto` (the game's). */
  quality: 'auto' | 'low' | 'medium' | 'high';
}

export const DEFAULT_SETTINGS: Settings = {
  overlay: false,
  lockPointer: false,
  gamepads: true,
  render: 'video',
  quality: 'auto',
};

/** What each key holds; per-user entries carry the user id in the key. */
export interface CacheEntries {
  library: import('../api').Game[];
  history: import('../api').SessionView[];
  settings: Settings;
}

export type CacheKey = keyof CacheEntries;

export interface Cached<T> {
  value: T;
  /** When it was saved, milliseconds since the epoch. */
  savedAt: number;
}

const DB_NAME = 'playcast';
const STORE = 'cache';
const VERSION = 1;

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export class Cache {
  private db: Promise<IDBDatabase> | null = null;

  constructor(private readonly name = DB_NAME) {}

  private open(): Promise<IDBDatabase> {
    if (!this.db) {
      this.db = new Promise((resolve, reject) => {
        if (typeof indexedDB === 'undefined') return reject(new Error('IndexedDB is not available'));
        const req = indexedDB.open(this.name, VERSION);
        req.onupgradeneeded = () => {
          if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
        };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
        req.onblocked = () => reject(new Error('IndexedDB upgrade blocked by another tab'));
      });
      // A failed open is retried next time rather than remembered.
      this.db.catch(() => (this.db = null));
    }
    return this.db;
  }

  async get<K extends CacheKey>(key: K, scope = ''): Promise<Cached<CacheEntries[K]> | null> {
    const db = await this.open();
    const tx = db.transaction(STORE, 'readonly');
    const found = await request(tx.objectStore(STORE).get(fullKey(key, scope)));
    return (found as Cached<CacheEntries[K]> | undefined) ?? null;
  }

  async put<K extends CacheKey>(key: K, value: CacheEntries[K], scope = '', savedAt = Date.now()): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).put({ value, savedAt } satisfies Cached<CacheEntries[K]>, fullKey(key, scope));
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  /** Forgets everything (sign-out of a shared device could call it). */
  async clear(): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, 'readwrite');
    await request(tx.objectStore(STORE).clear());
  }

  close(): void {
    this.db?.then((db) => db.close()).catch(() => {});
    this.db = null;
  }
}

function fullKey(key: string, scope: string): string {
  return scope ? `${key}:${scope}` : key;
}

export const cache = new Cache();
