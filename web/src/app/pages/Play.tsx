// Launch progress and play, in the same page: follows the session's lifecycle
// live from the events socket, opens the stream once the session waits for
// its player, and offers pause, resume, end and sharing. A reload (or another
// device opening `/play/<id>`) rejoins the running session.
import { FormEvent, useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { api, ApiError, SessionView } from '../api';
import { useAuth } from '../auth/AuthContext';
import { useSettings } from '../cache/settings';
import { useEventsStatus, useSessionEvents } from '../events/EventsContext';
import { endMessage, finished, initialLifecycle, lifecycleReducer, playable, STEPS } from '../play/lifecycle';
import { loadPlayer } from '../play/loadPlayer';
import { ProblemNote } from '../Problem';
import { Link, navigate } from '../router';
import { control, launch, setViewers } from '../sessions';
import type { PlayerError, PlayerHandle, PlayerState } from '../../player/types';

declare global {
  interface Window {
    /** The play page's player, for diagnostics and end-to-end tests. */
    playcastApp?: { readonly player: PlayerHandle | null; readonly sessionState: string };
  }
}

const STEP_TEXT: Record<string, string> = {
  idle: 'Session created',
  initializing: 'Reserving room and starting the game',
  connecting: 'Connecting the stream',
  active: 'Playing',
};

export function PlayPage({ id }: { id: string }) {
  const auth = useAuth();
  const { settings, loaded } = useSettings();
  const [lc, dispatch] = useReducer(lifecycleReducer, initialLifecycle);
  const events = useEventsStatus();

  const load = useCallback(() => {
    api<SessionView>(`sessions/${encodeURIComponent(id)}`, { token: auth.token }).then(
      (view) => dispatch({ type: 'view', view }),
      (e) => dispatch({ type: 'failed', error: e instanceof ApiError ? e : new ApiError(0, { detail: String(e) }) }),
    );
  }, [id, auth.token]);

  // Each (re)opened events socket starts from now: read the session again so
  // nothing that happened meanwhile is missed.
  useEffect(() => {
    if (events.status === 'open' || events.status === 'connecting') load();
  }, [events.status, load]);

  useSessionEvents(useCallback((e) => e.session_id === id && dispatch({ type: 'event', event: e }), [id]));

  const session = lc.session;
  const me = auth.me;
  const isOwner = !!session && session.owner === me?.user_id;
  const canControl = isOwner || me?.role === 'admin';

  // The player, while the session can stream.
  const surface = useRef<HTMLDivElement>(null);
  const [player, setPlayer] = useState<PlayerHandle | null>(null);
  const [pstate, setPState] = useState<PlayerState>('idle');
  const [perror, setPError] = useState<PlayerError | null>(null);
  const [overlay, setOverlayShown] = useState(settings.overlay);
  const streamable = playable(lc.state);

  useEffect(() => {
    if (!streamable || !loaded || !surface.current) return;
    const container = surface.current;
    let handle: PlayerHandle | null = null;
    let cancelled = false;
    setPError(null);
    loadPlayer().then(
      (m) => {
        if (cancelled) return;
        handle = m.createPlayer(container, {
          session: id,
          token: auth.token,
          overlay: settings.overlay,
          render: settings.render,
          keyboard: 'container',
          controls: false,
          gamepads: settings.gamepads,
        });
        const h = handle;
        h.on('state', (s) => setPState(s));
        h.on('error', (e) => setPError(e));
        setPState(h.state);
        setPlayer(h);
        window.playcastApp = {
          get player() {
            return h;
          },
          sessionState: '',
        };
        container.focus({ preventScroll: true });
        if (settings.lockPointer) h.lockPointer();
      },
      (e) => setPError({ code: 'player-unavailable', message: (e as Error).message }),
    );
    return () => {
      cancelled = true;
      handle?.close();
      setPlayer(null);
      setPState('idle');
      window.playcastApp = undefined;
    };
    // Settings other than the render path apply to a running player without a restart.
  }, [streamable, loaded, id, auth.token, settings.render]);

  useEffect(() => {
    player?.setGamepads(settings.gamepads);
  }, [player, settings.gamepads]);

  useEffect(() => {
    document.body.dataset.sessionState = lc.state;
    document.body.dataset.playerState = pstate;
    return () => {
      delete document.body.dataset.sessionState;
      delete document.body.dataset.playerState;
    };
  }, [lc.state, pstate]);

  const showProgress = !(lc.state === 'active' || lc.state === 'paused') || pstate !== 'live';

  return (
    <div className={showProgress ? 'play with-progress' : 'play'} data-session-state={lc.state} data-player-state={pstate}>
      <div
        className="surface"
        ref={surface}
        tabIndex={0}
        aria-label="Game picture: keys and pointer go to the game while it has focus"
        onPointerDown={() => surface.current?.focus({ preventScroll: true })}
      />
      {showProgress && (
        <Progress
          lc={lc}
          playerState={pstate}
          playerError={perror}
          socketNote={events.status === 'reconnecting' ? events.detail : ''}
          onRetry={load}
        />
      )}
      {!lc.error && (
        <Toolbar
          id={id}
          session={session}
          player={player}
          canControl={canControl}
          isOwner={isOwner}
          overlay={overlay}
          setOverlay={(v) => {
            setOverlayShown(v);
            player?.setOverlay(v);
          }}
          onChange={(view) => dispatch({ type: 'view', view })}
        />
      )}
    </div>
  );
}

function Progress({
  lc,
  playerState,
  playerError,
  socketNote,
  onRetry,
}: {
  lc: ReturnType<typeof lifecycleReducer>;
  playerState: PlayerState;
  playerError: PlayerError | null;
  socketNote: string;
  onRetry: () => void;
}) {
  const auth = useAuth();
  const { settings } = useSettings();
  const [relaunching, setRelaunching] = useState<Error | null>(null);
  if (lc.error) {
    return (
      <div className="progress panel" role="alert">
        <h1>Cannot open this session</h1>
        {/* Asking again cannot find a session that is not there, nor open one that is not shared. */}
        <ProblemNote error={lc.error} onRetry={gone(lc.error) ? undefined : onRetry} />
        <Link to="/" className="button">
          Back to the library
        </Link>
      </div>
    );
  }
  if (lc.state === 'loading') {
    return (
      <div className="progress panel" role="status">
        Loading the session…
      </div>
    );
  }
  if (finished(lc.state)) {
    const msg = endMessage(lc.state, lc.reason);
    const game = lc.session?.game;
    const again = async () => {
      if (!game) return;
      try {
        const s = await launch(auth.token, game, settings);
        navigate(`/play/${s.id}`, { replace: true });
      } catch (e) {
        setRelaunching(e as Error);
      }
    };
    return (
      <div className="progress panel" role="status" aria-live="polite">
        <h1>{lc.state === 'error' ? 'The session failed' : 'The session ended'}</h1>
        <p>{msg.what}</p>
        <p className="advice">{msg.todo}</p>
        {relaunching && <ProblemNote error={relaunching} />}
        <div className="actions">
          {game && lc.session?.owner === auth.me?.user_id && (
            <button type="button" className="primary" onClick={again}>
              Launch again
            </button>
          )}
          <Link to="/" className="button">
            Back to the library
          </Link>
          <Link to="/history" className="button">
            History
          </Link>
        </div>
      </div>
    );
  }
  const current = lc.state === 'paused' ? 'active' : lc.state;
  const at = STEPS.indexOf(current);
  return (
    <div className="progress panel" role="status" aria-live="polite">
      <h1>{lc.state === 'paused' ? 'Paused' : 'Starting your game'}</h1>
      <ol className="steps">
        {STEPS.map((s, i) => {
          const done = i < at || (s === 'active' && playerState === 'live');
          const now = i === at && !done;
          return (
            <li key={s} className={done ? 'done' : now ? 'now' : 'todo'} aria-current={now ? 'step' : undefined}>
              <span className="mark" aria-hidden="true">
                {done ? '✓' : now ? '…' : '○'}
              </span>
              {STEP_TEXT[s]}
              {s === 'connecting' && now && playerState !== 'idle' && <small> (stream {playerState})</small>}
            </li>
          );
        })}
      </ol>
      {lc.state === 'paused' && <p>The game is paused; resume it to play on.</p>}
      {playerError && (
        <div className="problem" role="alert">
          <strong>The stream reported a problem</strong>: {playerError.message} <code>{playerError.code}</code>
          <p className="advice">
            It reconnects on its own; if the picture does not come back, check your network or reload the page.
          </p>
        </div>
      )}
      {socketNote && <p className="note">Live updates are reconnecting ({socketNote}).</p>}
    </div>
  );
}

function Toolbar({
  id,
  session,
  player,
  canControl,
  isOwner,
  overlay,
  setOverlay,
  onChange,
}: {
  id: string;
  session: SessionView | null;
  player: PlayerHandle | null;
  canControl: boolean;
  isOwner: boolean;
  overlay: boolean;
  setOverlay: (v: boolean) => void;
  onChange: (v: SessionView) => void;
}) {
  const auth = useAuth();
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const [sharing, setSharing] = useState(false);
  // On a phone the toolbar keeps one row: the less used buttons wait behind "More".
  const [more, setMore] = useState(false);
  const act = async (action: 'pause' | 'resume' | 'end') => {
    if (action === 'end' && !window.confirm('End this session? The game closes for everyone watching.')) return;
    setBusy(true);
    setError(null);
    try {
      onChange(await control(auth.token, id, action));
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  const state = session?.state;
  const running = !!state && !finished(state);
  return (
    <div className={more ? 'toolbar more-open' : 'toolbar'} role="toolbar" aria-label="Play controls">
      <button type="button" onClick={() => player?.fullscreen()} disabled={!player}>
        Full screen
      </button>
      {isOwner && (
        <button type="button" className="extra" onClick={() => player?.lockPointer()} disabled={!player} title="Relative mouse for games that turn the view; Esc frees it">
          Lock pointer
        </button>
      )}
      <button type="button" className="extra" aria-pressed={overlay} onClick={() => setOverlay(!overlay)} title="Stats overlay (F2)">
        Stats
      </button>
      <button type="button" className="extra" onClick={() => player?.unmute()} disabled={!player}>
        Unmute
      </button>
      {isOwner && (
        <>
          <button type="button" className="extra" disabled={!player} onClick={() => navigator.clipboard?.readText().then((t) => player?.pasteToGame(t), (e) => setError(e))}>
            Paste to game
          </button>
          <button type="button" className="extra" disabled={!player} onClick={() => player?.copyFromGame().then((t) => navigator.clipboard?.writeText(t), (e) => setError(e))}>
            Copy from game
          </button>
        </>
      )}
      {canControl && running && (
        <>
          {state === 'paused' ? (
            <button type="button" disabled={busy} onClick={() => act('resume')}>
              Resume
            </button>
          ) : (
            <button type="button" disabled={busy || state !== 'active'} onClick={() => act('pause')}>
              Pause
            </button>
          )}
          <button type="button" className="share-toggle" aria-expanded={sharing} onClick={() => setSharing(!sharing)}>
            Share
          </button>
          <button type="button" className="danger" disabled={busy} onClick={() => act('end')}>
            End
          </button>
        </>
      )}
      <button type="button" className="more-toggle" aria-expanded={more} onClick={() => setMore(!more)}>
        {more ? 'Fewer' : 'More'}
      </button>
      {!canControl && session && <span className="note">Watching {session.owner}'s session</span>}
      {error && <ProblemNote error={error} />}
      {sharing && session && <Share session={session} onChange={onChange} />}
    </div>
  );
}

function Share({ session, onChange }: { session: SessionView; onChange: (v: SessionView) => void }) {
  const auth = useAuth();
  const [text, setText] = useState(session.viewers.join(', '));
  const [error, setError] = useState<Error | null>(null);
  const [saved, setSaved] = useState(false);
  const [copied, setCopied] = useState(false);
  const link = `${location.origin}/play/${encodeURIComponent(session.id)}`;
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    const viewers = text
      .split(/[\s,]+/)
      .map((v) => v.trim())
      .filter(Boolean);
    try {
      onChange(await setViewers(auth.token, session.id, viewers));
      setSaved(true);
    } catch (err) {
      setError(err as Error);
    }
  };
  const copy = () =>
    navigator.clipboard?.writeText(link).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  return (
    <form className="share" onSubmit={save} onKeyDown={(e) => e.stopPropagation()}>
      <label>
        Who may watch (user names, separated by commas)
        <input value={text} onChange={(e) => setText(e.target.value)} placeholder="alice, bob" />
      </label>
      <button type="submit">Save viewers</button>
      {saved && <span role="status">Saved: they can open the share link.</span>}
      {error && <ProblemNote error={error} />}
      <label>
        Link to share
        <input readOnly value={link} onFocus={(e) => e.currentTarget.select()} />
      </label>
      <button type="button" onClick={copy}>
        {copied ? 'Copied' : 'Copy link'}
      </button>
    </form>
  );
}

/** The session does not exist for this caller (404) or may not be opened (403). */
function gone(error: Error): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 403);
}
