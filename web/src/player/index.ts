// The player core: `createPlayer(container, options)` and the types hosts build on.
export { createPlayer } from './player';
export type * from './types';
export type { InputApi } from './input';
export type { PlayerElements } from './dom';
export type { DetailedStats } from './stats';
