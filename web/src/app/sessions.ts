// Session calls shared by the pages.
import { api, Game, RUNNING, SessionView, TokenFn } from './api';
import { qualityBitrate } from './cache/settings';
import type { Settings } from './cache/db';

export function listSessions(token: TokenFn): Promise<SessionView[]> {
  return api<SessionView[]>('sessions', { token });
}

export function listGames(token: TokenFn): Promise<Game[]> {
  return api<Game[]>('games', { token });
}

export function launch(token: TokenFn, game: string, settings: Settings): Promise<SessionView> {
  const bitrate = qualityBitrate(settings.quality);
  const body: { game: string; params?: Record<string, number> } = { game };
  if (bitrate) body.params = { bitrate };
  return api<SessionView>('sessions', { method: 'POST', token, body });
}

export function control(token: TokenFn, id: string, action: 'pause' | 'resume' | 'end'): Promise<SessionView> {
  return api<SessionView>(`sessions/${encodeURIComponent(id)}/${action}`, { method: 'POST', token });
}

export function setViewers(token: TokenFn, id: string, viewers: string[]): Promise<SessionView> {
  return api<SessionView>(`sessions/${encodeURIComponent(id)}/viewers`, { method: 'PUT', token, body: { viewers } });
}

export function isRunning(s: SessionView): boolean {
  return RUNNING.includes(s.state);
}

export function gameTitle(games: Game[] | null, id: string): string {
  if (!id) return 'Stream';
  return games?.find((g) => g.id === id)?.title ?? id;
}

export function duration(s: SessionView): string {
  const secs =
    s.stats?.duration_secs ?? (Date.parse(s.stats?.ended ?? s.updated_at) - Date.parse(s.created_at)) / 1000;
  if (!Number.isFinite(secs) || secs < 0) return '';
  const m = Math.floor(secs / 60);
  const sec = Math.round(secs % 60);
  return m ? `${m} min ${sec} s` : `${sec} s`;
}
