// A session's lifecycle as the launch progress view follows it: the session
// view from the API, then each transition from the events socket (applied
// only when newer than what is shown: the view and the socket may overlap).
import { ApiError, SessionEvent, SessionState, SessionView } from '../api';

export const STEPS: SessionState[] = ['idle', 'initializing', 'connecting', 'active'];

export interface Lifecycle {
  session: SessionView | null;
  state: SessionState | 'loading';
  version: number;
  reason: string | null;
  /** When each state was reached (from events), for the progress view. */
  reached: Partial<Record<SessionState, string>>;
  error: ApiError | null;
}

export type LifecycleAction =
  | { type: 'view'; view: SessionView }
  | { type: 'event'; event: SessionEvent }
  | { type: 'failed'; error: ApiError };

export const initialLifecycle: Lifecycle = {
  session: null,
  state: 'loading',
  version: 0,
  reason: null,
  reached: {},
  error: null,
};

export function lifecycleReducer(s: Lifecycle, a: LifecycleAction): Lifecycle {
  switch (a.type) {
    case 'view': {
      if (a.view.version < s.version) return s;
      const reached = { ...s.reached };
      // States before the current one were passed, even if their events were missed.
      const at = STEPS.indexOf(a.view.state);
      for (let i = 0; i <= at; i++) reached[STEPS[i]] ??= i === at ? a.view.updated_at : a.view.created_at;
      return {
        session: a.view,
        state: a.view.state,
        version: a.view.version,
        // A view in cleanup no longer carries the end's reason: keep the one seen.
        reason: a.view.reason ?? (finished(a.view.state) ? s.reason : null),
        reached,
        error: null,
      };
    }
    case 'event': {
      const e = a.event;
      if (s.session && e.session_id !== s.session.id) return s;
      if (e.version <= s.version) return s;
      // Cleanup follows an end or a failure: its reason stays.
      const reason = e.event.reason ?? (finished(e.to) ? s.reason : null);
      return {
        ...s,
        session: s.session ? { ...s.session, state: e.to, version: e.version, reason: reason ?? undefined, updated_at: e.at } : null,
        state: e.to,
        version: e.version,
        reason,
        reached: { ...s.reached, [e.to]: e.at },
      };
    }
    case 'failed':
      return { ...s, error: a.error };
  }
}

/** Whether the stream can be opened: the session waits for its player from `connecting` on. */
export function playable(state: Lifecycle['state']): boolean {
  return state === 'connecting' || state === 'active' || state === 'paused';
}

export function finished(state: Lifecycle['state']): boolean {
  return state === 'terminated' || state === 'error' || state === 'cleanup';
}

/** What happened and what to do, for a session that ended or failed. */
export function endMessage(state: Lifecycle['state'], reason: string | null): { what: string; todo: string } {
  if (state === 'error') {
    return {
      what: `The session failed: ${reason || 'no reason was given'}.`,
      todo: 'Launch the game again; if it fails the same way, tell the operator what it said.',
    };
  }
  switch (reason) {
    case 'user':
      return { what: 'The session was ended.', todo: 'Launch the game again from the library to play on.' };
    case 'idle_timeout':
      return { what: 'The session ended after a time without input.', todo: 'Launch the game again from the library.' };
    case 'max_duration':
      return { what: 'The session reached its longest allowed time.', todo: 'Launch the game again from the library.' };
    case 'connect_timeout':
      return {
        what: 'No player connected in time, so the session ended.',
        todo: 'Launch again and keep this page open until the picture shows; check that your network allows WebRTC.',
      };
    case 'game_exited':
      return { what: 'The game closed.', todo: 'Launch it again from the library.' };
    case 'player_left':
      return { what: 'The session ended after its player left.', todo: 'Launch the game again from the library.' };
    case 'shutdown':
      return { what: 'The service shut down.', todo: 'Wait a moment and launch the game again.' };
    default:
      return { what: `The session ended${reason ? ` (${reason})` : ''}.`, todo: 'Launch the game again from the library.' };
  }
}
