// The player core (web/src/player), loaded when a stream starts so the
// library opens without waiting for it.
import type { PlayerHandle, PlayerOptions } from '../../player/types';

export interface PlayerModule {
  createPlayer(container: HTMLElement, options: PlayerOptions): PlayerHandle;
}

export function loadPlayer(): Promise<PlayerModule> {
  return import('../../player');
}
