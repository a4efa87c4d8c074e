// The player core (web/src/player), loaded when a stream starts so the
// library opens without it.
import type { PlayerHandle, PlayerOptions } from '../../player/types';

export interface PlayerModule {
  createPlayer(container: HTMLElement, options: PlayerOptions): PlayerHandle;
}

const found = import.meta.glob<PlayerModule>(['../../player/index.ts', '../../player/player.ts']);

export async function loadPlayer(): Promise<PlayerModule> {
  const load = found['../../player/index.ts'] ?? found['../../player/player.ts'];
  if (!load) throw new Error('this build has no player');
  return load();
}
